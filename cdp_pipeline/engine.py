"""The import engine: one runner for every kind of import an ``ImportKind`` declares.

An import runs in four steps, the same for every kind:

1. ``stage_import``: the files are read into the partition's own scratch DuckDB file
   (``$CDP_HOME/work/<kind>-<key>.staging/staging.duckdb``) by the kind's ``stage`` function;
   the warehouse is not opened, so any number of files stage at once, in any process.
2. ``validate_import``: the kind's pandera contract judges the staged rows, in the scratch file.
3. and 4. ``write_import``: on the warehouse's one writing connection, with the scratch file
   attached, the kind's matching SQL gives every row its outcome (it must see the base the
   write changes, so it runs under the same lock) and one transaction writes the batch.

``import_files`` runs the four in one process (tests, benchmarks, anything outside Dagster);
``plan_import`` runs 1–3 on an in-memory scratch space without writing anything (dry runs).
A step that fails leaves the scratch file as it was, so a run can be re-executed from any
step; a file rejected whole leaves no scratch; a committed batch removes its scratch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from cdp_pipeline.batch_writes import WritePlan, finish_already_imported, plan_tables, write_batch
from cdp_pipeline.batches import (
    STAGING,
    ImportContext,
    content_sha256,
    create_reason_codes,
    file_partition_key,
    previous_import,
    run_contract,
)
from cdp_pipeline.errors import FileRejected, not_a_file_reason
from cdp_pipeline.faults import fault_point
from cdp_pipeline.locks import import_lock
from cdp_pipeline.masking import preview_rows
from cdp_pipeline.owner_only import make_owner_folder, owner_only_umask
from cdp_pipeline.settings import CdpPaths, setting_fields, settings_from_values
from cdp_pipeline.warehouse import (
    connect,
    connect_read_only,
    limit_memory,
    prepare_connection,
    quiet,
    quote_ident,
    render_sql,
    transaction,
    try_connect_query_only,
)

SCRATCH_FILE = "staging.duckdb"


@dataclass(frozen=True)
class Staged:
    """What a kind's ``stage`` function learnt of its files."""

    headers: list[str]
    encoding: str
    refused: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KindNames:
    """How Dagster names a kind's things, from three words: whose rows (``customer``), what one
    import is (a ``file``) and what its rows are (``rows``, ``orders``)."""

    noun: str
    unit: str
    rows: str

    @property
    def partitions(self) -> str:
        return f"{self.noun}_{self.unit}s"

    @property
    def source_asset(self) -> str:
        return f"{self.noun}_{self.unit}"

    @property
    def staging_asset(self) -> str:
        return f"{self.noun}_staging_rows"

    @property
    def validated_asset(self) -> str:
        return f"validated_{self.noun}_{self.rows}"

    @property
    def batches(self) -> str:
        """The asset (and the view of import_batches) holding the kind's batches, one per partition."""
        return f"{self.noun}_import_batches"

    @property
    def job(self) -> str:
        return f"{self.noun}_import"

    @property
    def sensor(self) -> str:
        return f"{self.noun}_inbox_sensor"


@dataclass(frozen=True)
class ImportKind:
    """One kind of import, declared once: everything the engine, the CLI and Dagster need.

    ``name`` is the batch kind and the inbox folder; ``names`` name what Dagster shows of it.
    ``inputs`` names its files, main file first (the one whose rows import_failures records).
    ``stage`` reads them into ``{staging}`` tables (it may raise FileRejected). The contract
    judges ``contract_rows``; ``match_steps`` give every row of ``outcomes`` its outcome;
    ``write_plan`` names the write steps and their parameters for a staged batch, and
    ``tables`` are the warehouse tables those steps (and the steps every batch shares) write.
    ``pair_files`` groups files into imports by name (a backfill folder, the archive);
    ``group_ready`` groups an inbox's ready files with their sidecar's settings
    (``read_sidecar``), saying which wait for a partner and which are held.
    """

    name: str
    names: KindNames
    title: str
    inputs: tuple[str, ...]
    settings: type
    stage: Callable[[duckdb.DuckDBPyConnection, Sequence[Path], Any, CdpPaths], Staged]
    contract_rows: str
    contract: Callable[[pd.DataFrame], pd.DataFrame]
    match_steps: tuple[str, ...]
    counts: str
    outcomes: str
    file_rows: str
    write_plan: Callable[[ImportContext, dict[str, int]], WritePlan]
    tables: tuple[str, ...]
    pair_files: Callable[[list[Path]], tuple[list[tuple[Path, ...]], list[Path]]]
    read_sidecar: Callable[[Path], Any]
    group_ready: Callable[[list], tuple[list[tuple[tuple, Any]], list[Path], list]]
    summary: Callable[[dict], dict] = dict
    preview: str | None = None
    sql_folders: tuple[Path, ...] = ()

    def render(self, step: str, **parts: str) -> str:
        return render_sql(step, folders=self.sql_folders, **parts)

    def partition_key(self, files: Sequence[Path], sha256: str) -> str:
        return file_partition_key(Path(files[0]).name, sha256)


def scratch_folder(paths: CdpPaths, kind: str, key: str) -> Path:
    """One folder per partition straight under work/ (none nested: removing it leaves work/ as
    it was, and no parent folder is shared by two partitions staging at once)."""
    return paths.work / f"{kind}-{key}.staging"


def staged_scratch(paths: CdpPaths, kind: str, key: str) -> Path:
    """The scratch database a later step opens: there only once the partition was staged."""
    path = scratch_folder(paths, kind, key) / SCRATCH_FILE
    if not path.is_file():
        raise FileRejected(key, "this partition has not been staged (run its staging step first)")
    return path


def remove_scratch(paths: CdpPaths, kind: str, key: str) -> None:
    shutil.rmtree(scratch_folder(paths, kind, key), ignore_errors=True)


# A failed run keeps its scratch so it can be re-executed from the failed step; one nobody has
# re-executed for this long is removed by the next batch's write.
SCRATCH_KEPT_SECONDS = 7 * 24 * 3600


def remove_stale_scratch(paths: CdpPaths, now: float | None = None) -> list[Path]:
    """Remove the scratch folders not touched for ``SCRATCH_KEPT_SECONDS`` (failed runs' left)."""
    limit = (now or time.time()) - SCRATCH_KEPT_SECONDS
    stale = [folder for folder in paths.work.glob("*.staging") if folder.stat().st_mtime < limit]
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return stale


@contextmanager
def open_scratch(paths: CdpPaths, kind: str, key: str, fresh: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """The partition's scratch database (a new one with ``fresh``), owner-only like the warehouse."""
    folder = scratch_folder(paths, kind, key)
    if fresh:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        staged_scratch(paths, kind, key)
    make_owner_folder(folder)
    with owner_only_umask():
        con = limit_memory(quiet(duckdb.connect(str(folder / SCRATCH_FILE))))
    try:
        yield con
    finally:
        con.close()


def save_context(con: duckdb.DuckDBPyConnection, context: ImportContext) -> None:
    con.execute(
        f"CREATE OR REPLACE TABLE {STAGING}.import_context AS SELECT CAST($c AS JSON) AS context",
        {"c": json.dumps(dataclasses.asdict(context), ensure_ascii=False, default=str)},
    )


def load_context(con: duckdb.DuckDBPyConnection) -> ImportContext:
    row = con.execute(f"SELECT CAST(context AS VARCHAR) FROM {STAGING}.import_context").fetchone()
    return ImportContext(**json.loads(row[0]))


def checked_files(files: Sequence[Path]) -> list[Path]:
    files = [Path(f) for f in files]
    for path in files:
        if not path.is_file():
            raise FileRejected(path, not_a_file_reason(path))
    return files


def new_context(
    kind: ImportKind, files: list[Path], sha256: str, settings: Any, force: bool, move_source: bool
) -> ImportContext:
    started = dt.datetime.now()
    return ImportContext(
        kind=kind.name,
        # the batch id keeps the layout of failure and archive names: a time and 8 hex digits
        batch_id=f"{started:%Y%m%d%H%M%S%f}-{sha256[:8]}",
        key=kind.partition_key(files, sha256),
        source=str(files[0]),
        other_sources=[str(p) for p in files[1:]],
        file_name=files[0].name,
        file_sha256=sha256,
        started_at=started.isoformat(sep=" "),
        settings=dataclasses.asdict(settings),
        headers=[],
        move_source=move_source,
        force=force,
    )


def stage_into(con: duckdb.DuckDBPyConnection, kind: ImportKind, context: ImportContext, paths: CdpPaths) -> None:
    """Step 1's work on any connection with the macros and an empty ``staging`` database."""
    staged = kind.stage(con, context.sources, settings_from_values(kind.settings, context.settings), paths)
    with transaction(con):  # one commit for the table and its rows, not one per reason code
        create_reason_codes(con, STAGING, kind.name, other_file_roles=kind.inputs[1:])
    context.headers, context.encoding = staged.headers, staged.encoding
    context.refused, context.unknown, context.extra = list(staged.refused), list(staged.unknown), dict(staged.extra)


def stage_import(
    kind: ImportKind,
    files: Sequence[Path],
    settings: Any,
    paths: CdpPaths,
    force: bool = False,
    move_source: bool = False,
    sha256: str | None = None,
) -> ImportContext:
    """Step 1: stage the files into the partition's fresh scratch database. Bytes a committed
    batch already imported are not read again when the warehouse can be looked at without
    waiting (the write step checks again, under the warehouse's lock). A file rejected whole
    raises FileRejected and leaves no scratch."""
    files = checked_files(files)
    context = new_context(kind, files, sha256 or content_sha256(files), settings, force, move_source)
    if not force:
        context.previous = peek_previous_import(paths, kind.name, context.file_sha256)
    with open_scratch(paths, kind.name, context.key, fresh=True) as con:
        if context.previous:
            context.status = "already_imported"
        else:
            try:
                # the 44 macros in one commit, not one each (each synced the scratch's WAL); the
                # kind's bulk statements are not in it: one transaction around them made a 1M-row
                # staging 0.9 s slower and wrote 35 MB more
                with transaction(con):
                    prepare_connection(con, create_schema=False)
                stage_into(con, kind, context, paths)
            except BaseException:
                con.close()
                remove_scratch(paths, kind.name, context.key)
                raise
        save_context(con, context)
    fault_point("after_staging")
    return context


def peek_previous_import(paths: CdpPaths, kind: str, sha256: str) -> str | None:
    """The committed batch of these bytes, if the warehouse can be read right now (not while
    another process writes it: staging never waits for the warehouse)."""
    with try_connect_query_only(paths.warehouse) as con:
        return previous_import(con, kind, sha256) if con is not None else None


def contract_failures_of(con: duckdb.DuckDBPyConnection, kind: ImportKind, context: ImportContext) -> dict[str, int]:
    target = f"{STAGING}.contract_failures"
    if context.status != "staged":
        con.execute(f"CREATE OR REPLACE TABLE {target} (row_number BIGINT, reason_code VARCHAR)")
        return {}
    return run_contract(con, kind.render(kind.contract_rows, staging=STAGING), kind.contract, target)


def validate_import(kind: ImportKind, key: str, paths: CdpPaths) -> dict[str, int]:
    """Step 2: the kind's pandera contract over the staged rows, in Arrow batches."""
    with open_scratch(paths, kind.name, key) as con, transaction(con):
        failures = contract_failures_of(con, kind, load_context(con))
    fault_point("after_validation")
    return failures


def match_rows(con: duckdb.DuckDBPyConnection, kind: ImportKind) -> dict[str, int]:
    """Step 3: every row gets its outcome (the kind's matching SQL), then the kind's figures."""
    for step in kind.match_steps:
        con.execute(kind.render(step, staging=STAGING))
    fault_point("after_matching")
    return outcome_counts(con, kind)


def outcome_counts(con: duckdb.DuckDBPyConnection, kind: ImportKind) -> dict[str, int]:
    cursor = con.execute(kind.render(kind.counts, staging=STAGING))
    return dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))


def failure_reasons(con: duckdb.DuckDBPyConnection, kind: ImportKind) -> dict[str, int]:
    return dict(con.execute(render_sql("failure_reasons", outcomes=f"{STAGING}.{kind.outcomes}")).fetchall())


def preview_rows_of(con: duckdb.DuckDBPyConnection, kind: ImportKind) -> list[dict]:
    """The first outcomes, as the kind's preview SQL shows them (masked there, cut here)."""
    if kind.preview is None:
        return []
    frame = con.execute(kind.render(kind.preview, staging=STAGING)).df()
    return preview_rows(json.loads(frame.to_json(orient="records", force_ascii=False)))


@dataclass
class WriteResult:
    """What the write step did: the batch's summary, and for a new batch the outcome figures,
    the failures by reason and a preview, read before the commit."""

    summary: dict
    counts: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    preview: list[dict] = field(default_factory=list)
    tables: tuple[str, ...] = ()
    observed: Any = None


@contextmanager
def rejected_drops_scratch(paths: CdpPaths, kind: str, key: str) -> Iterator[None]:
    """A batch its write rejects cannot be written as staged (its file changed): its scratch goes."""
    try:
        yield
    except FileRejected:
        remove_scratch(paths, kind, key)
        raise


@contextmanager
def attached_scratch(con: duckdb.DuckDBPyConnection, paths: CdpPaths, kind: str, key: str) -> Iterator[None]:
    con.execute("ATTACH $path AS staging", {"path": str(staged_scratch(paths, kind, key))})
    try:
        yield
    finally:
        con.execute("DETACH staging")


def write_import(
    kind: ImportKind,
    key: str,
    paths: CdpPaths,
    observe: Callable[[duckdb.DuckDBPyConnection, WriteResult], Any] | None = None,
) -> WriteResult:
    """Steps 3 and 4 on the warehouse's writing connection: match, then one transaction writes
    the batch; the scratch database goes once the batch is committed (or found imported).
    ``observe(con, result)`` looks at the warehouse as the batch left it, before any other
    writer can change it (its result is ``observed``); ``result.tables`` are the tables the
    batch wrote (none when its bytes were imported before)."""
    with connect(paths.warehouse) as con, rejected_drops_scratch(paths, kind.name, key):
        with attached_scratch(con, paths, kind.name, key):
            context = load_context(con)
            previous = None if context.force else previous_import(con, kind.name, context.file_sha256)
            if previous or context.status == "already_imported":
                context.previous = context.previous or previous
                result = WriteResult(kind.summary(finish_already_imported(con, context)))
            else:
                counts = match_rows(con, kind)
                con.execute(
                    f"CREATE VIEW IF NOT EXISTS {quote_ident(kind.names.batches)} AS "
                    f"SELECT * FROM import_batches WHERE kind = '{kind.name}'"
                )
                result = WriteResult(
                    summary={},
                    counts=counts,
                    reasons=failure_reasons(con, kind),
                    preview=preview_rows_of(con, kind),
                )
                plan = kind.write_plan(context, counts)
                written = plan_tables(plan, kind.sql_folders)
                result.tables = tuple(table for table in kind.tables if table in written)
                summary = write_batch(
                    con,
                    context,
                    paths,
                    plan,
                    outcomes=f"{STAGING}.{kind.outcomes}",
                    file_rows=f"{STAGING}.{kind.file_rows}",
                    sql_folders=kind.sql_folders,
                )
                result.summary = kind.summary(summary)
        if observe is not None:
            result.observed = observe(con, result)
    remove_scratch(paths, kind.name, key)
    remove_stale_scratch(paths)
    return result


def import_files(
    kind: ImportKind, files: Sequence[Path], settings: Any, paths: CdpPaths, force: bool = False
) -> dict:
    """All four steps in one process, without Dagster, under the lock every import of these
    bytes holds (the Dagster runs too: see cdp_pipeline.locks)."""
    files = [Path(f) for f in files]
    sha256 = content_sha256(files) if all(f.is_file() for f in files) else None
    held = import_lock(paths, kind.name, kind.partition_key(files, sha256)) if sha256 else nullcontext()
    with held:
        context = stage_import(kind, files, settings, paths, force=force, sha256=sha256)
        validate_import(kind, context.key, paths)
        return write_import(kind, context.key, paths).summary


@dataclass
class Plan:
    """A dry run's findings: the staged context, the outcome figures, failures by reason, a preview."""

    context: ImportContext
    counts: dict[str, int]
    reasons: dict[str, int]
    preview: list[dict]


def plan_import(kind: ImportKind, files: Sequence[Path], settings: Any, paths: CdpPaths) -> Plan:
    """Steps 1–3 on an in-memory scratch space beside a read-only warehouse: nothing is written."""
    files = checked_files(files)
    context = new_context(kind, files, content_sha256(files), settings, force=True, move_source=False)
    # A large dry run spills: under CDP_HOME/work, never where the command was started, and goes.
    spill = paths.work / f"dry-run-{os.getpid()}-{time.monotonic_ns()}.tmp"
    try:
        with connect_read_only(paths.warehouse, spill=spill) as con:
            con.execute("ATTACH ':memory:' AS staging")
            stage_into(con, kind, context, paths)
            contract_failures_of(con, kind, context)
            counts = match_rows(con, kind)
            return Plan(context, counts, failure_reasons(con, kind), preview_rows_of(con, kind))
    finally:
        shutil.rmtree(spill, ignore_errors=True)


class _StandInExtra(dict):
    """What staging learns of the files (``ImportContext.extra``), for a write plan built without
    files: a plan's steps do not depend on those values, so one text stands in for any (a
    timestamp's text, since a plan may parse one: Tmall's ``export_at``)."""

    def __missing__(self, key: str) -> str:
        return "2000-01-01 00:00:00"


def possible_write_plans(kind: ImportKind) -> list[WritePlan]:
    """The kind's write plans over every combination of its settings' choices (for the tests and
    the README's diagram): a plan's steps follow from the settings alone, so a stand-in context
    is enough. The first is the plan of the default settings."""
    choices = {f.name: f.choices for f in setting_fields(kind.settings) if f.shape == "choice"}
    default = dataclasses.asdict(kind.settings())
    plans = []
    for combination in [(), *itertools.product(*choices.values())]:
        settings = {**default, **dict(zip(choices, combination, strict=False))}
        context = ImportContext(
            kind=kind.name,
            batch_id="",
            key="",
            source="",
            file_name="",
            file_sha256="",
            started_at="",
            settings=settings,
            headers=[],
            extra=_StandInExtra(),
        )
        plans.append(kind.write_plan(context, {}))
    return plans
