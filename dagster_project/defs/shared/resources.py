"""The warehouse resource: where CDP_HOME is, and connections to its DuckDB file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from cdp_pipeline.catalogue import Catalogue
from cdp_pipeline.settings import CdpPaths
from cdp_pipeline.warehouse import connect

# Every asset that opens the warehouse runs in this pool; dagster.yaml limits it to 1 slot, so
# runs launched together (sensor ticks, CLI imports, backfills) write one after another.
WAREHOUSE_POOL = "warehouse"


class WarehouseResource(dg.ConfigurableResource):
    """CDP_HOME: the DuckDB warehouse, the inboxes, archive and failure files."""

    cdp_home: str

    @property
    def paths(self) -> CdpPaths:
        return CdpPaths(Path(self.cdp_home).resolve()).ensure()

    def catalogue(self) -> Catalogue:
        return Catalogue.load(self.paths.config_file)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.paths.warehouse) as con:
            yield con
