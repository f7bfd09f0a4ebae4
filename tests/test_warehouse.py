"""The warehouse connection: the schema and macros are applied when their SQL text changed; the
SQL files in ``sql/`` keep the rules every statement follows."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from cdp_pipeline.settings import SQL_DIR
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


NOT_IN_SUBQUERY = re.compile(r"\bNOT\s+IN\s*\(\s*(SELECT|FROM|WITH)\b|\bNOT\s*\(\s*[\w.]+\s+IN\s*\(\s*SELECT\b", re.I)


def test_no_sql_file_writes_an_anti_join_as_not_in_a_subquery() -> None:
    """Issue 14 item 1: ``x NOT IN (SELECT k ...)`` is unknown for every x as soon as one k is NULL,
    so two Tmall rows without an order number made every order of the file a duplicate. Every
    anti-join of both imports is written NOT EXISTS, where a NULL key simply matches nothing."""
    offenders = []
    for path in sorted(SQL_DIR.glob("*.sql")):
        code = re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))
        offenders += [f"{path.name}: {m.group(0)}" for m in NOT_IN_SUBQUERY.finditer(code)]
    assert offenders == []
