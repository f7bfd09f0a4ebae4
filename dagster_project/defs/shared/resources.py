"""The warehouse resource: where CDP_HOME is, and connections to its DuckDB file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import dagster as dg
import duckdb

from cdp_pipeline.catalogue import Catalogue
from cdp_pipeline.errors import environment_faults, masked_errors
from cdp_pipeline.settings import CdpPaths
from cdp_pipeline.warehouse import connect

# Every asset that opens the warehouse runs in this pool; dagster.yaml limits it to 1 slot, so
# runs launched together (sensor ticks, CLI imports, backfills) write one after another.
WAREHOUSE_POOL = "warehouse"
IMPORT_LOCK = "import_lock"


class WarehouseResource(dg.ConfigurableResource):
    """CDP_HOME: the DuckDB warehouse, the inboxes, archive and failure files."""

    cdp_home: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """In a run, record the process executing it: a later `cdp` that finds the run unfinished
        and this process gone marks it failed and frees its pool slot (``recover_dead_runs``)."""
        if context.instance is not None and context.dagster_run is not None:
            from dagster_project.instance import record_run_process

            record_run_process(context.instance, context.dagster_run)

    @property
    def paths(self) -> CdpPaths:
        return CdpPaths(Path(self.cdp_home).resolve()).ensure()

    def catalogue(self) -> Catalogue:
        return Catalogue.load(self.paths.config_file)

    @contextmanager
    def faults(self) -> Iterator[None]:
        """An error inside reaches the run's event log with personal data masked, and one of the
        machine or CDP_HOME (disk full, a damaged or read-only warehouse or scratch file) as an
        EnvironmentFault, never as a fault of the file being imported."""
        with masked_errors(), environment_faults(f"a file in {self.paths.home}"):
            yield

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The warehouse, its errors as ``faults`` tells them."""
        with self.faults(), connect(self.paths.warehouse) as con:
            yield con


class ImportLockResource(dg.ConfigurableResource):
    """An import run holds its partition's import lock (``cdp_pipeline.locks``) from before its
    first step to after its last, so the runs of the same bytes, however launched (sensor, CLI,
    UI, backfill), import one after another, and those after the first find its batch and report
    already_imported. Every import asset requires it, so a re-executed subset of steps takes the
    lock too. Resources are set up before any step claims a pool slot: a waiting run holds none.

    A resource of its own, not part of ``WarehouseResource``: a resource that holds something
    across the run is a context manager, and the inbox sensors use the warehouse resource
    outside of one."""

    cdp_home: str

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[ImportLockResource]:
        with self._lock_of(context):
            yield self

    def _lock_of(self, context: dg.InitResourceContext):
        from cdp_pipeline.kinds import kind_of_job
        from cdp_pipeline.locks import import_lock

        run = context.dagster_run
        key = run.tags.get("dagster/partition") if run is not None else None
        kind = kind_of_job(run.job_name) if run is not None else None
        if kind is None or not key:
            return nullcontext()

        def waiting() -> None:
            if context.log is not None:
                context.log.info(f"waiting for another import of the same bytes (partition {key}) to finish")

        paths = CdpPaths(Path(self.cdp_home).resolve()).ensure()
        return import_lock(paths, kind.name, key, waiting)


# The resources every area's assets and sensors require, bound once for the whole code location.
defs = dg.Definitions(
    resources={
        "warehouse": WarehouseResource(cdp_home=dg.EnvVar("CDP_HOME")),
        IMPORT_LOCK: ImportLockResource(cdp_home=dg.EnvVar("CDP_HOME")),
    }
)
