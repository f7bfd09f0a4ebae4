"""The warehouse connection: the schema and macros are applied when their SQL text changed."""

from __future__ import annotations

from pathlib import Path

import duckdb

from cdp_pipeline.warehouse import connect, sql_fingerprint


def _macro_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = $n", {"n": name})
    return found.fetchone()[0] > 0


def test_a_new_warehouse_gets_schema_macros_and_their_fingerprint(tmp_path: Path) -> None:
    with connect(tmp_path / "w.duckdb") as con:
        assert con.execute("SELECT fingerprint FROM cdp_sql_version").fetchall() == [(sql_fingerprint(),)]
        assert _macro_exists(con, "normalize_mobile")
        assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == 0


def test_changed_sql_text_is_applied_again_and_unchanged_text_is_not(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        con.execute("DROP MACRO normalize_mobile")
    with connect(path) as con:  # same fingerprint: nothing re-applied (the ~0.1 s this saves)
        assert not _macro_exists(con, "normalize_mobile")
        con.execute("UPDATE cdp_sql_version SET fingerprint = 'an older sql/ text'")
    with connect(path) as con:
        assert _macro_exists(con, "normalize_mobile")
        assert con.execute("SELECT fingerprint FROM cdp_sql_version").fetchall() == [(sql_fingerprint(),)]


def test_a_warehouse_from_before_the_version_table_is_brought_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        con.execute("DROP TABLE cdp_sql_version; DROP MACRO normalize_mobile")
    with connect(path) as con:
        assert _macro_exists(con, "normalize_mobile")
        assert con.execute("SELECT count(*) FROM cdp_sql_version").fetchone()[0] == 1
