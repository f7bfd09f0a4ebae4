# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export CDP_HOME ?= $(CURDIR)/.cdp
export DAGSTER_HOME ?= $(CDP_HOME)/dagster
# DAGSTER_HOME with the project's instance config (pools, no telemetry), as `cdp` makes it.
DAGSTER_HOME_READY = $(BIN)/python -c "from dagster_project.instance import ensure_dagster_home; from cdp_pipeline.settings import CdpPaths; ensure_dagster_home(CdpPaths.from_env().ensure())"

.PHONY: setup demo test lint ui clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/python scripts/make_demo_files.py $(CDP_HOME)/demo
	$(BIN)/cdp import customers $(CDP_HOME)/demo/user_2024-05-01.csv --tag demo --group "Demo import"
	$(BIN)/cdp import customers $(CDP_HOME)/demo/user_2024-05-02_gb18030.csv --tag demo
	$(BIN)/cdp import customers $(CDP_HOME)/demo/user_2024-05-03.xlsx --tag demo --mode fast
	$(BIN)/cdp import tmall --orders $(CDP_HOME)/demo/tmall/ExportOrderList201709010000.csv \
		--items $(CDP_HOME)/demo/tmall/ExportOrderDetailList201709010000.csv --tag tmall --group "Tmall buyers"
	$(BIN)/cdp batches
	$(BIN)/cdp overview
	$(BIN)/cdp check
	$(BIN)/cdp sql "SELECT customer_id, name, mobile, city, created_at FROM customers ORDER BY customer_id LIMIT 5"
	@echo
	@echo "Open the Dagster UI on the same state:  make ui   (then http://127.0.0.1:3000)"

lint: setup
	$(BIN)/ruff check .
	$(DAGSTER_HOME_READY)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg check defs
	$(BIN)/sqlfluff lint sql

test: setup lint
	$(BIN)/pytest

ui: setup
	$(DAGSTER_HOME_READY)
	$(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf $(CDP_HOME)

.PHONY: bench bench-smoke

bench: setup
	$(BIN)/python bench/run.py

bench-smoke: setup
	$(BIN)/python bench/run.py --smoke
