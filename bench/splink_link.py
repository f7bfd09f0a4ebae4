"""Splink's deterministic linking of the import file's rows to the customer base, with the keys our
matching step uses (exact customer ID, mobile, email, WeChat openid), on the values our cleaning
produced. Runs in ``bench/.venv-splink`` (Splink's pins are its own):

    bench/.venv-splink/bin/python bench/splink_link.py BASE.parquet FILE.parquet

Prints one JSON object; ``link_seconds`` times ``linker.inference.deterministic_link()`` only,
after both tables are loaded into Splink's DuckDB connection.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version

import duckdb
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

KEYS = ("customer_id", "mobile", "email", "openid")


def main(base: str, file: str) -> dict:
    con = duckdb.connect()
    began = time.perf_counter()
    con.execute("CREATE TABLE base_customers AS SELECT * FROM read_parquet($p)", {"p": base})
    con.execute("CREATE TABLE file_rows AS SELECT * FROM read_parquet($p)", {"p": file})
    load_seconds = time.perf_counter() - began
    db_api = DuckDBAPI(connection=con)
    settings = SettingsCreator(
        link_type="link_only",
        blocking_rules_to_generate_predictions=[block_on(key) for key in KEYS],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    began = time.perf_counter()
    tables = [
        db_api.register("file_rows", dataset_display_name="file_rows"),
        db_api.register("base_customers", dataset_display_name="base_customers"),
    ]
    linker = Linker(tables, settings, log_level=None)
    setup_seconds = time.perf_counter() - began
    began = time.perf_counter()
    pairs = linker.inference.deterministic_link()
    link_seconds = time.perf_counter() - began
    counted = con.execute(
        f"SELECT count(*), count(DISTINCT unique_id_l), count(DISTINCT unique_id_r) FROM {pairs.physical_name}"
    ).fetchone()
    return {
        "splink_version": version("splink"),
        "duckdb_version": duckdb.__version__,
        "rules": [f"exact {key}" for key in KEYS],
        "base_rows": con.execute("SELECT count(*) FROM base_customers").fetchone()[0],
        "file_rows": con.execute("SELECT count(*) FROM file_rows").fetchone()[0],
        "load_seconds": load_seconds,
        "setup_seconds": setup_seconds,
        "link_seconds": link_seconds,
        "pairs": counted[0],
        "distinct_left": counted[1],
        "distinct_right": counted[2],
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
