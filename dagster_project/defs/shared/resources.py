"""The warehouse resource: where CDP_HOME is, and connections to its DuckDB file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import dagster as dg
import duckdb

from cdp_pipeline.catalogue import Catalogue
from cdp_pipeline.masking import masked_errors
from cdp_pipeline.settings import CdpPaths
from cdp_pipeline.warehouse import connect

# Every asset that opens the warehouse runs in this pool; dagster.yaml limits it to 1 slot, so
# runs launched together (sensor ticks, CLI imports, backfills) write one after another.
WAREHOUSE_POOL = "warehouse"


class WarehouseResource(dg.ConfigurableResource):
    """CDP_HOME: the DuckDB warehouse, the inboxes, archive and failure files."""

    cdp_home: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """In a run, record the process executing it: a later `cdp` that finds the run unfinished
        and this process gone marks it failed and frees its pool slot (``recover_dead_runs``)."""
        if context.instance is not None and context.dagster_run is not None:
            from dagster_project.instance import record_run_process

            record_run_process(context.instance, context.dagster_run)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[WarehouseResource]:
        """The resource for one run; an import run holds its partition's import lock throughout.

        The lock is taken before the first step and let go after the last, so the runs of the same
        bytes, however launched (sensor, CLI, UI, backfill), import one after another, and those
        after the first find its batch and report already_imported. Resources are set up before
        any step claims a pool slot, so a run waiting here holds no slot."""
        self.setup_for_execution(context)
        with self._import_lock_of(context):
            yield self

    def _import_lock_of(self, context: dg.InitResourceContext):
        from dagster_project.instance import STAGING_KINDS

        run = context.dagster_run
        key = run.tags.get("dagster/partition") if run is not None else None
        if run is None or run.job_name not in STAGING_KINDS or not key:
            return nullcontext()
        from cdp_pipeline.locks import import_lock

        def waiting() -> None:
            if context.log is not None:
                context.log.info(f"waiting for another import of the same bytes (partition {key}) to finish")

        return import_lock(self.paths, STAGING_KINDS[run.job_name], key, waiting)

    @property
    def paths(self) -> CdpPaths:
        return CdpPaths(Path(self.cdp_home).resolve()).ensure()

    def catalogue(self) -> Catalogue:
        return Catalogue.load(self.paths.config_file)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The warehouse; an error inside reaches the run's event log with personal data masked."""
        with masked_errors(), connect(self.paths.warehouse) as con:
            yield con
