"""The import's DuckDB connections hold at most MEMORY_LIMIT in memory and spill beyond it."""

from __future__ import annotations

from pathlib import Path

import duckdb

from cdp_pipeline.engine import open_scratch
from cdp_pipeline.settings import CdpPaths
from cdp_pipeline.warehouse import MEMORY_LIMIT, connect


def _limit(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_warehouse_and_scratch_connections_bound_duckdb_memory(tmp_path: Path) -> None:
    """Issue 12 item: DuckDB's default limit is 80% of RAM, so a 10M-row import grew to 6.5 GiB;
    the writing connection (with the scratch file attached) and the scratch connection of the
    staging and validation steps each hold at most MEMORY_LIMIT and spill the rest."""
    with duckdb.connect() as reference:
        reference.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        expected = _limit(reference)
        assert expected != _limit(duckdb.connect())  # not DuckDB's default
    paths = CdpPaths(tmp_path / "cdp").ensure()
    with connect(paths.warehouse) as con:
        assert _limit(con) == expected
    with open_scratch(paths, "customers", "k", fresh=True) as con:
        assert _limit(con) == expected
