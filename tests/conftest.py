"""Fixtures for the customer-import rule tests: a fresh CDP_HOME per test, file writers,
an import runner, a dry-run runner and read-only warehouse queries."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from pathlib import Path

import duckdb
import pytest

from cdp_pipeline.customer_import import import_customer_file, plan_customer_import
from cdp_pipeline.settings import CdpPaths, CustomerImportSettings
from cdp_pipeline.warehouse import connect, connect_read_only, macros_sql


def write_csv(path: Path, rows, encoding: str = "utf-8") -> Path:
    """Write ``rows`` (lists of cells, or one string per line) as CSV text in ``encoding``."""
    if isinstance(rows, str):
        text = rows
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for row in rows:
            if isinstance(row, str):
                buffer.write(row + "\n")
            else:
                writer.writerow(row)
        text = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def write_xlsx(path: Path, rows) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


@pytest.fixture
def paths(tmp_path: Path) -> CdpPaths:
    return CdpPaths(tmp_path / "cdp").ensure()


@pytest.fixture
def make_csv(tmp_path: Path):
    """``make_csv(rows, name=None, encoding="utf-8")`` → a CSV file in tmp_path."""
    counter = itertools.count(1)

    def make(rows, name: str | None = None, encoding: str = "utf-8") -> Path:
        return write_csv(tmp_path / "files" / (name or f"customers_{next(counter)}.csv"), rows, encoding)

    return make


@pytest.fixture
def make_xlsx(tmp_path: Path):
    counter = itertools.count(1)

    def make(rows, name: str | None = None) -> Path:
        target = tmp_path / "files" / (name or f"customers_{next(counter)}.xlsx")
        target.parent.mkdir(parents=True, exist_ok=True)
        return write_xlsx(target, rows)

    return make


@pytest.fixture
def run_import(paths: CdpPaths):
    """``run_import(path, force=False, **settings)`` → the import summary."""

    def run(path: Path, force: bool = False, **settings) -> dict:
        if "tags" in settings:
            settings["tags"] = tuple(settings["tags"])
        return import_customer_file(path, CustomerImportSettings(**settings), paths, force=force)

    return run


@pytest.fixture
def dry_run(paths: CdpPaths):
    def run(path: Path, **settings) -> dict:
        return plan_customer_import(path, CustomerImportSettings(**settings), paths)

    return run


@pytest.fixture
def query(paths: CdpPaths):
    """``query(sql, params=None)`` → all rows, on a read-only connection closed at once."""

    def run(sql: str, params=None) -> list[tuple]:
        if not paths.warehouse.exists():  # nothing was ever written: an empty warehouse
            with connect_read_only(paths.warehouse) as empty:
                return empty.execute(sql, params or []).fetchall()
        con = duckdb.connect(str(paths.warehouse), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    return run


@pytest.fixture
def seed(paths: CdpPaths):
    """Insert customers (dicts of columns) and identities straight into the warehouse."""

    def run(customers=(), identities=()) -> None:
        now = dt.datetime(2024, 1, 1, 0, 0, 0)
        with connect(paths.warehouse) as con:
            for customer in customers:
                row = {"created_at": now, "updated_at": now, **customer}
                columns = ", ".join(row)
                marks = ", ".join("?" for _ in row)
                con.execute(f"INSERT INTO customers ({columns}) VALUES ({marks})", list(row.values()))
            for customer_id, identity_type, value in identities:
                con.execute(
                    "INSERT INTO customer_identities (customer_id, identity_type, identity_value) VALUES (?, ?, ?)",
                    [customer_id, identity_type, value],
                )

    return run


@pytest.fixture
def write_config(paths: CdpPaths):
    def run(text: str) -> Path:
        paths.config_file.write_text(text, encoding="utf-8")
        return paths.config_file

    return run


@pytest.fixture(scope="module")
def macros():
    """An in-memory DuckDB with the cleaning macros: ``macros("normalize_mobile", value)``."""
    con = duckdb.connect()
    con.execute(macros_sql())

    def call(name: str, value):
        return con.execute(f"SELECT {name}(?::VARCHAR)", [value]).fetchone()[0]

    yield call
    con.close()


@pytest.fixture
def outcomes(query):
    """``outcomes(batch_id)`` → {row_number: (outcome, customer_id, matched_by)}."""

    def run(batch_id: str) -> dict[int, tuple]:
        rows = query(
            "SELECT row_number, outcome, customer_id, matched_by FROM import_row_outcomes WHERE batch_id = ? "
            "ORDER BY row_number",
            [batch_id],
        )
        return {r[0]: r[1:] for r in rows}

    return run


@pytest.fixture
def failures(query):
    """``failures(batch_id)`` → {row_number: (reason_code, reason_codes)}."""

    def run(batch_id: str) -> dict[int, tuple]:
        rows = query(
            "SELECT row_number, reason_code, reason_codes FROM import_failures WHERE batch_id = ? ORDER BY row_number",
            [batch_id],
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    return run


@pytest.fixture
def cdp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CdpPaths:
    """A CDP_HOME with its own Dagster instance (DAGSTER_HOME inside it), for Dagster tests."""
    monkeypatch.setenv("CDP_HOME", str(tmp_path / "cdp"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "cdp" / "dagster"))
    paths = CdpPaths(tmp_path / "cdp").ensure()
    from dagster_project.instance import ensure_dagster_home

    ensure_dagster_home(paths)
    return paths


@pytest.fixture
def defs(cdp: CdpPaths):
    from dagster_project.definitions import defs as definitions

    return definitions
