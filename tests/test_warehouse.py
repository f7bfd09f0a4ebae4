"""The warehouse connection: the schema and macros are applied when their SQL text changed; the
SQL files in ``sql/`` keep the rules every statement follows."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from cdp_pipeline.resources import sql_files
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
    for path in sql_files().values():
        code = re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))
        offenders += [f"{path.name}: {m.group(0)}" for m in NOT_IN_SUBQUERY.finditer(code)]
    assert offenders == []


def old_warehouse(path: Path) -> None:
    """A warehouse as the code before `import_batches.unchanged` left it: the table without the
    column, one batch in it, and the fingerprint of other SQL text."""
    with connect(path) as con:
        con.execute("ALTER TABLE import_batches DROP COLUMN unchanged")
        con.execute(
            "INSERT INTO import_batches (batch_id, kind, file_name, file_sha256, status, scanned, skipped, created, "
            "updated, failed) VALUES ('20240101000000000000-00000000', 'customers', 'old.csv', 'x', 'succeeded', "
            "1, 0, 0, 1, 0)"
        )
        con.execute("UPDATE cdp_sql_version SET fingerprint = 'the sql/ text before unchanged'")


def test_an_old_warehouse_gains_the_unchanged_column_and_keeps_its_batches(tmp_path: Path) -> None:
    """Issue 14 item 15: a warehouse from before `unchanged` gets the column (NULL for its old
    batches) the first time the new code opens it for writing; nothing else changes."""
    from cdp_pipeline.batches import batch_summary

    path = tmp_path / "w.duckdb"
    old_warehouse(path)
    with duckdb.connect(str(path)) as con:
        assert "unchanged" not in [c[0] for c in con.execute("DESCRIBE import_batches").fetchall()]
    with connect(path) as con:
        columns = [c[0] for c in con.execute("DESCRIBE import_batches").fetchall()]
        assert columns[-1] == "unchanged"
        summary = batch_summary(con, "20240101000000000000-00000000")
        assert (summary["updated"], summary["unchanged"], summary["file_name"]) == (1, None, "old.csv")
    with connect(path) as con:  # applied once: the column stays, the batch too
        assert con.execute("SELECT count(*), count(unchanged) FROM import_batches").fetchone() == (1, 0)
