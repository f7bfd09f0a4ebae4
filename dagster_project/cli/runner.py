"""The import commands (``cdp import``, ``cdp backfill``) and how they run: each import is a run
of its kind's Dagster job in this process, on the same instance as the UI, so every CLI import is
a run you can open in ``dagster dev``. A run whose batch committed before Dagster's own storage
failed is reported as imported, with a warning; a long file shows its steps' progress."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import io
import sys
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster_project.cli.exit_codes import EXIT_REJECTED
from dagster_project.cli.parser import settings_from_args
from dagster_project.cli.rendering import (
    describe_backfill,
    describe_dry_run,
    describe_import,
    describe_tmall,
    print_report,
    tmall_report,
    unsearched_subfolders,
)

if TYPE_CHECKING:
    from cdp_pipeline.engine import ImportKind
    from cdp_pipeline.settings import CdpPaths

PROGRESS_MIN_BYTES = 8 << 20


def import_customers(args: argparse.Namespace) -> int:
    from cdp_pipeline.customer_import import CUSTOMERS, plan_customer_import
    from cdp_pipeline.settings import CdpPaths

    paths = CdpPaths.from_env().ensure()
    (path,) = given_files(CUSTOMERS, args)
    settings = settings_from_args(CUSTOMERS.settings, args)
    if args.dry_run:
        print_report(plan_customer_import(path, settings, paths), args.json, describe_dry_run)
        return 0
    summary = run_import(CUSTOMERS, [path.resolve()], settings, args.force, show_progress=not args.json)
    print_report(summary, args.json, describe_import)
    return 0


def import_tmall(args: argparse.Namespace) -> int:
    from cdp_pipeline.tmall_import import TMALL

    files = given_files(TMALL, args)
    settings = settings_from_args(TMALL.settings, args)
    summary = run_import(TMALL, [f.resolve() for f in files], settings, args.force, show_progress=not args.json)
    print_report(tmall_report(summary), args.json, describe_tmall)
    return 0


def given_files(kind: ImportKind, args: argparse.Namespace) -> list[Path]:
    """The files given for the kind's inputs (the arguments named after them: ``file``;
    ``orders`` and ``items``), in its order; FileRejected for one that is not a file."""
    from cdp_pipeline.engine import checked_files

    return checked_files([getattr(args, name) for name in kind.inputs])


def backfill_tmall(args: argparse.Namespace) -> int:
    """Every export pair in FOLDER, oldest export first; a refused pair is reported and skipped."""
    from tqdm import tqdm

    from cdp_pipeline.errors import FileRejected
    from cdp_pipeline.tmall_import import TMALL, export_timestamp

    if args.folder.is_file():
        raise FileRejected(args.folder, "a file, not a folder: give the folder holding the export pairs")
    if not args.folder.is_dir():
        raise FileRejected(args.folder, "no such folder")
    entries = sorted(args.folder.iterdir())
    pairs, alone = TMALL.pair_files([p for p in entries if p.is_file()])
    unsearched = unsearched_subfolders(entries)
    pairs.sort(key=lambda pair: (export_timestamp(pair[0].name) or datetime.datetime.min, pair[0].name))
    settings = settings_from_args(TMALL.settings, args)
    reports, rejected = [], []
    for orders, items in tqdm(pairs, unit="export", file=sys.stderr, disable=args.json or not sys.stderr.isatty()):
        try:
            reports.append(tmall_report(run_import(TMALL, [orders.resolve(), items.resolve()], settings, args.force)))
        except FileRejected as error:
            rejected.append({"file": str(error.path), "reason": error.reason})
    result = {"exports": reports, "rejected": rejected, "alone": [str(p) for p in alone]}
    print_report(result, args.json, functools.partial(describe_backfill, unsearched=unsearched))
    return 0 if not rejected else EXIT_REJECTED


def run_import(
    kind: ImportKind, files: list[Path], settings: Any, force: bool = False, show_progress: bool = False
) -> dict:
    """One import (a file, a pair) through its kind's job, in this process, on the shared instance."""
    from cdp_pipeline.batches import content_sha256
    from dagster_project.defs.imports.definitions import IMPORTS

    built = IMPORTS[kind.name]
    return run_partition(
        kind,
        kind.partition_key(files, content_sha256(files)),
        built.run_config([str(f) for f in files], settings, force=force),
        built.run_tags(files),
        show_progress=show_progress and _is_long(files[0]),
    )


def run_partition(kind: ImportKind, key: str, run_config: dict, tags: dict, show_progress: bool = False) -> dict:
    """Register the partition, run the job for it in-process and return the batch summary that
    its write step put in the materialization metadata.

    Runs left unfinished by a killed process are marked failed first and their pool slot freed,
    so they do not hold up this run (``recover_dead_runs``). The same bytes imported by several
    processes at once: the run holds the partition's import lock (the ``import_lock`` resource), so
    one imports and the others wait, then report already_imported."""
    from cdp_pipeline.locks import import_lock
    from cdp_pipeline.settings import CdpPaths
    from cdp_pipeline.warehouse import connect
    from dagster_project.instance import local_instance, recover_dead_runs, storage_held_open

    paths = CdpPaths.from_env().ensure()
    if not paths.warehouse.exists():  # a new CDP_HOME: a valid, empty warehouse from the first import on
        with connect(paths.warehouse):
            pass
    instance = local_instance(paths)
    recover_dead_runs(instance, paths)
    from dagster_project.loading import run_defs

    job_name, partitions = kind.names.job, kind.names.partitions
    with import_lock(paths, kind.name, key):  # two processes adding one key: IntegrityError
        if not instance.has_dynamic_partition(partitions, key):
            instance.add_dynamic_partitions(partitions, [key])
    run_config = {**run_config, "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    run_id = str(uuid.uuid4())
    job = run_defs().resolve_job_def(job_name)
    progress = _progress(instance, run_id, len(job.nodes)) if show_progress else None
    started = datetime.datetime.now()
    try:
        with dagster_stderr() as dagster_lines, storage_held_open(instance, run_id):
            result = job.execute_in_process(
                run_config=run_config,
                instance=instance,
                partition_key=key,
                raise_on_error=False,
                run_id=run_id,
                tags={**tags, "cdp/launched_by": "cli"},
            )
    except Exception as error:  # Dagster's own storage failed: did the batch commit before?
        summary = _committed_anyway(paths, kind, key, started, error, dagster_lines)
        if summary is None:
            raise
        return summary
    finally:
        if progress:
            progress.set()
    if not result.success:
        storage = _storage_failure(result)
        failure = storage or run_failure(result)
        summary = _committed_anyway(paths, kind, key, started, failure, dagster_lines, storage is not None)
        if summary is None:
            raise failure
        return summary
    replay_dagster_lines(dagster_lines)
    for event in result.get_asset_materialization_events():
        summary = event.materialization.metadata.get("summary")
        if summary is not None:
            return summary.value
    raise RuntimeError(f"run {run_id} finished without a batch summary")


def run_failure(result) -> Exception:
    """A step failure as the exception to report: FileRejected (file and reason) for a refused
    file, EnvironmentFault (what and cause) for a fault of the machine or CDP_HOME."""
    from cdp_pipeline.errors import EnvironmentFault, FileRejected

    for event in result.all_events:
        if not event.is_step_failure:
            continue
        error = event.step_failure_data.error
        while error is not None:
            if error.cls_name in ("FileRejected", "EnvironmentFault"):
                subject, _, reason = error.message.strip().split(": ", 1)[-1].partition(": ")
                if error.cls_name == "FileRejected":
                    return FileRejected(Path(subject), reason)
                return EnvironmentFault(subject, reason)
            error = error.cause
        return RuntimeError(event.step_failure_data.error.to_string())
    return RuntimeError(f"run {result.run_id} failed")


# How Dagster reports, on stderr, an event it could not store; and the modules whose errors are
# its storage failing (SQLite, SQLAlchemy, PostgreSQL).
DAGSTER_STORAGE_FAILURE = "Exception while writing logger call to event log"
STORAGE_ERROR_MODULES = ("sqlite3.", "sqlalchemy.", "psycopg2.")


@contextlib.contextmanager
def dagster_stderr():
    """Hold what Dagster writes straight to stderr during a run (it reports each event it could
    not store on a line of its own), so a storage failure reaches the user as one line."""
    held = io.StringIO()
    with contextlib.redirect_stderr(held):
        yield held


def replay_dagster_lines(held: io.StringIO, drop_storage_failures: bool = False) -> None:
    lines = held.getvalue().splitlines(keepends=True)
    sys.stderr.writelines(
        line for line in lines if not (drop_storage_failures and line.startswith(DAGSTER_STORAGE_FAILURE))
    )


def _storage_failure(result) -> Exception | None:
    """The EnvironmentFault of Dagster's storage when a step failed because the storage did
    (SQLite, SQLAlchemy or PostgreSQL raising inside the step, e.g. storing the write step's
    materialization); None for any other failure."""
    from cdp_pipeline.errors import storage_fault

    for event in result.all_events:
        error = event.step_failure_data.error if event.is_step_failure else None
        while error is not None:
            if error.message.startswith(STORAGE_ERROR_MODULES):
                return storage_fault(error.message)
            error = error.cause
    return None


def _committed_anyway(
    paths: CdpPaths,
    kind: ImportKind,
    key: str,
    started: datetime.datetime,
    error: Exception,
    dagster_lines: io.StringIO,
    storage_failed: bool = True,
) -> dict | None:
    """The summary of the batch this run committed before Dagster's storage failed with
    ``error`` (Dagster could not record the rest of the run), with a warning on stderr; None
    when no batch committed (``error`` stands). The import succeeded: the warehouse says so,
    whatever the run's record says. Only a storage failure is looked into: any other failed
    step stands as it is."""
    from cdp_pipeline.errors import environment_fault, first_line

    summary = _batch_committed_since(paths, kind, key, started) if storage_failed else None
    replay_dagster_lines(dagster_lines, drop_storage_failures=summary is not None)
    if summary is None:
        return None
    fault = environment_fault(error)
    cause = str(fault) if fault else first_line(error)
    print(
        f"cdp: warning: imported (batch {summary['batch_id']}), but Dagster could not record the run after "
        f"the commit: {cause}; the UI may show the run as failed or unfinished",
        file=sys.stderr,
    )
    return summary


def _batch_committed_since(paths: CdpPaths, kind: ImportKind, key: str, started: datetime.datetime) -> dict | None:
    """The batch of partition ``key`` that began after ``started``, if it committed (a batch id
    ends with the first 8 digits of the content hash its partition key ends with)."""
    import duckdb

    from cdp_pipeline.batches import batch_summary, key_hash
    from cdp_pipeline.warehouse import connect_read_only

    try:
        with connect_read_only(paths.warehouse, lock_wait=60.0) as con:
            row = con.execute(
                "SELECT batch_id FROM import_batches WHERE kind = $kind AND batch_id LIKE $suffix "
                "AND started_at >= $started ORDER BY started_at DESC LIMIT 1",
                {"kind": kind.name, "suffix": f"%-{(key_hash(key) or '')[:8]}", "started": started},
            ).fetchone()
            return batch_summary(con, row[0]) if row else None
    except duckdb.Error:  # the warehouse is what failed: the original error says why
        return None


def _is_long(path: Path) -> bool:
    return sys.stderr.isatty() and path.stat().st_size >= PROGRESS_MIN_BYTES


def _progress(instance, run_id: str, steps: int) -> threading.Event:
    """A progress bar over the run's steps, read from the instance's event log."""
    from dagster import DagsterEventType
    from tqdm import tqdm

    done = threading.Event()
    # The terminal's stderr, taken now: during the run sys.stderr holds Dagster's lines
    # (dagster_stderr), and a bar drawn there would only appear, all at once, after the run.
    terminal = sys.stderr

    def follow() -> None:
        with tqdm(total=steps, unit="step", file=terminal, leave=False) as bar:
            while not done.wait(0.5):
                finished = len(instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS))
                bar.update(finished - bar.n)

    threading.Thread(target=follow, daemon=True).start()
    return done
