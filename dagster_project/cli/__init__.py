"""``cdp``: the command line. Imports run the same Dagster assets in-process, on the same
instance as the UI, so every CLI import is a run you can open in ``dagster dev``.

Heavy modules are imported inside the commands, so ``cdp --help`` starts quickly.

Exit codes: 0 done (a warning may be on stderr); 2 the input was refused (a rejected file, an
``--out`` path, a query, an unknown batch: fix the input); 3 the machine or CDP_HOME is at fault
(disk full, a file-size limit, a damaged or read-only warehouse, Dagster's storage unwritable,
no warehouse yet: fix the environment, then run the same command again); 1 an unexpected error
(a traceback: a bug to report). Every refusal and fault is one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import errno
import io
import json
import logging
import os
import shutil
import stat
import sys
import threading
import uuid
from pathlib import Path

from cdp_pipeline.settings import CustomerImportSettings, S, TmallImportSettings, setting_fields, settings_from_values

EXIT_REJECTED = 2
EXIT_ENVIRONMENT = 3
PROGRESS_MIN_BYTES = 8 << 20
SQL_DEFAULT_LIMIT = 100
SQL_CELL_WIDTH = 60


class Refused(Exception):
    """A command-line input refused before anything is done (exit 2): an ``--out`` path, a query.
    Masked: a query may quote a mobile or an email."""

    def __init__(self, message: str) -> None:
        from cdp_pipeline.masking import mask_text

        super().__init__(mask_text(message))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp", description="Customer data import pipeline (Dagster + DuckDB).")
    commands = parser.add_subparsers(dest="command", required=True)

    importing = commands.add_parser("import", help="import a file")
    kinds = importing.add_subparsers(dest="kind", required=True)
    customers = kinds.add_parser("customers", help="import a customer file (CSV or XLSX)")
    customers.add_argument("file", type=Path)
    add_setting_flags(customers, CustomerImportSettings)
    customers.add_argument("--dry-run", action="store_true", help="check the whole file and write nothing")
    customers.add_argument("--force", action="store_true", help="import again even if these bytes were imported")
    customers.add_argument("--json", action="store_true", help="print one JSON object")

    tmall = kinds.add_parser("tmall", help="import a Tmall export: the order report and its item report")
    tmall.add_argument("--orders", type=Path, required=True, help="ExportOrderList*.csv")
    tmall.add_argument("--items", type=Path, required=True, help="ExportOrderDetailList*.csv")
    _add_tmall_options(tmall)

    backfill = commands.add_parser("backfill", help="import history in bulk")
    backfill_kinds = backfill.add_subparsers(dest="kind", required=True)
    tmall_backfill = backfill_kinds.add_parser("tmall", help="every export pair in a folder, oldest first")
    tmall_backfill.add_argument("folder", type=Path)
    _add_tmall_options(tmall_backfill)

    overview = commands.add_parser("overview", help="value, activity and spending-power distributions")
    overview.add_argument("--json", action="store_true")

    batches = commands.add_parser("batches", help="import history")
    batches.add_argument("--limit", type=int, default=50)
    batches.add_argument("--json", action="store_true")

    failures = commands.add_parser("failures", help="the failed rows of a batch")
    failures.add_argument("batch_id")
    failures.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write to FILE.csv (UTF-8 with BOM) or FILE.xlsx, outside CDP_HOME; - for standard output",
    )
    failures.add_argument("--overwrite", action="store_true", help="replace FILE if it exists (a regular file only)")

    sql = commands.add_parser("sql", help="run a read-only query on the warehouse and print the result")
    sql.add_argument("query", help='one SELECT (or SHOW, DESCRIBE, EXPLAIN, PRAGMA), e.g. "SHOW TABLES"')
    sql.add_argument("--json", action="store_true", help="print the rows as JSON records")
    sql.add_argument(
        "--limit",
        type=_row_limit,
        default=SQL_DEFAULT_LIMIT,
        metavar="N",
        help=f"print at most N rows (default {SQL_DEFAULT_LIMIT}; 0 prints all)",
    )
    sql.add_argument(
        "--unmasked", action="store_true", help="print mobiles, emails and openids as stored (default: masked)"
    )
    return parser


def _row_limit(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (all rows) or more")
    return value


def add_setting_flags(parser: argparse.ArgumentParser, model: type) -> None:
    """One flag per field of the settings ``model``: its name, default, choices and help are the model's."""
    for setting in setting_fields(model):
        if setting.shape == "tags":
            parser.add_argument(
                setting.flag,
                action="append",
                default=list(setting.default),
                dest=setting.name,
                metavar=setting.metavar,
                help=setting.help,
            )
        elif setting.shape == "choice":
            parser.add_argument(
                setting.flag,
                choices=list(setting.choices),
                default=setting.default,
                dest=setting.name,
                metavar=setting.metavar,
                help=setting.help,
            )
        else:
            parser.add_argument(
                setting.flag, default=setting.default, dest=setting.name, metavar=setting.metavar, help=setting.help
            )


def settings_from_args(model: type[S], args: argparse.Namespace) -> S:
    """The settings object of ``model`` from the flags ``add_setting_flags`` added."""
    return settings_from_values(model, {setting.name: getattr(args, setting.name) for setting in setting_fields(model)})


def _add_tmall_options(parser: argparse.ArgumentParser) -> None:
    add_setting_flags(parser, TmallImportSettings)
    parser.add_argument("--force", action="store_true", help="import again even if this pair was imported")
    parser.add_argument("--json", action="store_true", help="print JSON")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cdp_pipeline.errors import EnvironmentFault, FileRejected, environment_faults
    from cdp_pipeline.masking import masked_errors
    from cdp_pipeline.owner_only import owner_only_umask
    from cdp_pipeline.settings import cdp_home

    try:
        # an error that quotes cells leaves the CLI with them masked; one of the machine as one
        # line; everything cdp creates (Dagster's storage too) is owner-only
        with masked_errors(), environment_faults(f"a file in {cdp_home()}"), owner_only_umask():
            try:
                return _command(args)
            except Refused as refused:  # masked already: handled before masked_errors sees it
                print(f"cdp: refused: {refused}", file=sys.stderr)
                return EXIT_REJECTED
    except FileRejected as rejected:
        print(f"cdp: rejected {rejected}", file=sys.stderr)
        return EXIT_REJECTED
    except EnvironmentFault as fault:
        nothing = "; nothing was imported, run it again once fixed" if args.command == "import" else ""
        print(f"cdp: error: {fault}{nothing}", file=sys.stderr)
        return EXIT_ENVIRONMENT


def _command(args: argparse.Namespace) -> int:
    if args.command == "import" and args.kind == "tmall":
        return import_tmall(args)
    if args.command == "backfill":
        return backfill_tmall(args)
    if args.command == "import":
        return import_customers(args)
    if args.command == "batches":
        return show_batches(args)
    if args.command == "overview":
        return show_overview(args)
    if args.command == "sql":
        return run_sql_query(args)
    return export_failures(args)


def run() -> None:
    """The ``cdp`` command: ``main``, then leave without tearing down the interpreter.

    Tearing down Dagster, pandas and pyarrow at exit (finalising thousands of modules and
    objects) takes 1-1.5 s, more than a one-row import's own work. Everything ``cdp`` writes is
    committed and closed before ``main`` returns, so it flushes its streams and logs and exits.
    An exception still leaves the ordinary way, with its traceback.
    """
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (`cdp batches | head`): not an error of cdp. Exit as a tool killed by
        # SIGPIPE does, with nothing more written to the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 128 + 13
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


def import_customers(args: argparse.Namespace) -> int:
    from cdp_pipeline.customer_import import CUSTOMERS, plan_customer_import
    from cdp_pipeline.errors import FileRejected, not_a_file_reason
    from cdp_pipeline.settings import CdpPaths

    paths = CdpPaths.from_env().ensure()
    path = args.file
    if not path.is_file():
        raise FileRejected(path, not_a_file_reason(path))
    settings = settings_from_args(CustomerImportSettings, args)
    if args.dry_run:
        report = plan_customer_import(path, settings, paths)
        _print(report, args.json, _describe_dry_run)
        return 0
    summary = run_import(CUSTOMERS, [path.resolve()], settings, args.force, show_progress=not args.json)
    _print(summary, args.json, _describe_import)
    return 0


def import_tmall(args: argparse.Namespace) -> int:
    from cdp_pipeline.errors import FileRejected, not_a_file_reason
    from cdp_pipeline.tmall_import import TMALL

    for path in (args.orders, args.items):
        if not path.is_file():
            raise FileRejected(path, not_a_file_reason(path))
    settings = settings_from_args(TMALL.settings, args)
    summary = run_import(
        TMALL, [args.orders.resolve(), args.items.resolve()], settings, args.force, show_progress=not args.json
    )
    _print(_tmall_report(summary), args.json, _describe_tmall)
    return 0


def unsearched_subfolders(entries: list[Path]) -> str:
    """A backfill reads one folder: the subfolders it passes over (exports sorted by year), named
    so that "no export pairs found" is not taken for an empty history."""
    from cdp_pipeline.masking import mask_text

    names = [p.name for p in entries if p.is_dir() and not p.name.startswith(".")]
    return f"subfolders are not searched: {mask_text(', '.join(names))}" if names else ""


def backfill_tmall(args: argparse.Namespace) -> int:
    """Every export pair in FOLDER, oldest export first; a refused pair is reported and skipped."""
    from tqdm import tqdm

    from cdp_pipeline.errors import FileRejected
    from cdp_pipeline.tmall_import import TMALL, export_timestamp, pair_exports

    if args.folder.is_file():
        raise FileRejected(args.folder, "a file, not a folder: give the folder holding the export pairs")
    if not args.folder.is_dir():
        raise FileRejected(args.folder, "no such folder")
    entries = sorted(args.folder.iterdir())
    pairs, alone = pair_exports([p for p in entries if p.is_file()])
    unsearched = unsearched_subfolders(entries)
    pairs.sort(key=lambda pair: (export_timestamp(pair[0].name) or datetime.datetime.min, pair[0].name))
    settings = settings_from_args(TmallImportSettings, args)
    reports, rejected = [], []
    for orders, items in tqdm(pairs, unit="export", file=sys.stderr, disable=args.json or not sys.stderr.isatty()):
        try:
            reports.append(_tmall_report(run_import(TMALL, [orders.resolve(), items.resolve()], settings, args.force)))
        except FileRejected as error:
            rejected.append({"file": str(error.path), "reason": error.reason})
    result = {"exports": reports, "rejected": rejected, "alone": [str(p) for p in alone]}
    if args.json:
        print(json.dumps(result, ensure_ascii=False, default=str))
    else:
        if reports:
            print("\n".join(_describe_tmall(r) for r in reports))
        if unsearched:
            print(unsearched if reports else f"no export pairs found ({unsearched})")
        elif not reports:
            print("no export pairs found")
        for item in rejected:
            print(f"rejected {item['file']}: {item['reason']}")
        for path in alone:
            print(f"no partner for {path}")
    return 0 if not rejected else EXIT_REJECTED


TMALL_KEYS = (
    "batch_id",
    "status",
    "orders_scanned",
    "orders_imported",
    "orders_failed",
    "items_imported",
    "customers_created",
    "customers_matched",
    "failure_file",
)


def _tmall_report(summary: dict) -> dict:
    """Issue 4's JSON keys first, then the rest of the batch's figures."""
    return {**{k: summary.get(k) for k in TMALL_KEYS}, **summary}


def _describe_tmall(s: dict) -> str:
    lines = [
        f"{s.get('file_name', '')} + {s.get('items_file_name', '')}: {s['status']} (batch {s['batch_id']})",
        f"  orders: scanned {s['orders_scanned']}, imported {s['orders_imported']}, failed {s['orders_failed']}; "
        f"items imported {s['items_imported']}; customers created {s['customers_created']}, "
        f"matched {s['customers_matched']}",
    ]
    if s.get("failure_file"):
        lines.append(f"  failure file: {s['failure_file']}")
    return "\n".join(lines)


def run_import(kind, files: list[Path], settings, force: bool = False, show_progress: bool = False) -> dict:
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


def run_partition(kind, key: str, run_config: dict, tags: dict, show_progress: bool = False) -> dict:
    """Register the partition, run the job for it in-process and return the batch summary that
    its write step put in the materialization metadata.

    Runs left unfinished by a killed process are marked failed first and their pool slot freed,
    so they do not hold up this run (``recover_dead_runs``). The same bytes imported by several
    processes at once: the run holds the partition's import lock (the ``import_lock`` resource), so
    one imports and the others wait, then report already_imported."""
    from cdp_pipeline.locks import import_lock
    from cdp_pipeline.settings import CdpPaths
    from cdp_pipeline.warehouse import connect
    from dagster_project.instance import local_instance, recover_dead_runs

    paths = CdpPaths.from_env().ensure()
    if not paths.warehouse.exists():  # a new CDP_HOME: a valid, empty warehouse from the first import on
        with connect(paths.warehouse):
            pass
    instance = local_instance(paths)
    recover_dead_runs(instance, paths)
    from dagster_project.definitions import defs
    from dagster_project.defs.imports.definitions import IMPORTS

    job_name, partitions = kind.job_name, IMPORTS[kind.name].partitions.name
    with import_lock(paths, kind.name, key):  # two processes adding one key: IntegrityError
        if not instance.has_dynamic_partition(partitions, key):
            instance.add_dynamic_partitions(partitions, [key])
    run_config = {**run_config, "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    run_id = str(uuid.uuid4())
    job = defs.resolve_job_def(job_name)
    progress = _progress(instance, run_id, len(job.nodes)) if show_progress else None
    started = datetime.datetime.now()
    try:
        with _dagster_stderr() as dagster_lines:
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
        failure = storage or _run_failure(result)
        summary = _committed_anyway(paths, kind, key, started, failure, dagster_lines, storage is not None)
        if summary is None:
            raise failure
        return summary
    _replay(dagster_lines)
    for event in result.get_asset_materialization_events():
        summary = event.materialization.metadata.get("summary")
        if summary is not None:
            return summary.value
    raise RuntimeError(f"run {run_id} finished without a batch summary")


def _run_failure(result) -> Exception:
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
def _dagster_stderr():
    """Hold what Dagster writes straight to stderr during a run (it reports each event it could
    not store on a line of its own), so a storage failure reaches the user as one line."""
    held = io.StringIO()
    with contextlib.redirect_stderr(held):
        yield held


def _replay(held: io.StringIO, drop_storage_failures: bool = False) -> None:
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
    paths,
    kind,
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
    _replay(dagster_lines, drop_storage_failures=summary is not None)
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


def _batch_committed_since(paths, kind, key: str, started: datetime.datetime) -> dict | None:
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
    # (_dagster_stderr), and a bar drawn there would only appear, all at once, after the run.
    terminal = sys.stderr

    def follow() -> None:
        with tqdm(total=steps, unit="step", file=terminal, leave=False) as bar:
            while not done.wait(0.5):
                finished = len(instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS))
                bar.update(finished - bar.n)

    threading.Thread(target=follow, daemon=True).start()
    return done


def _print(report: dict, as_json: bool, describe) -> None:
    if as_json:
        print(json.dumps(report, ensure_ascii=False, default=str))
    else:
        print(describe(report))


def _describe_import(s: dict) -> str:
    lines = [
        f"{s.get('file_name', '')}: {s['status']} (batch {s['batch_id']})",
        f"  scanned {s['scanned']} = created {s['created']} + updated {s['updated']} "
        f"+ failed {s['failed']} + skipped {s['skipped']}"
        + (f" (unchanged {s['unchanged']})" if s.get("unchanged") is not None else ""),
    ]
    if s.get("failure_file"):
        lines.append(f"  failure file: {s['failure_file']}")
    if s.get("refused_columns"):
        lines.append(f"  refused columns (not importable): {', '.join(s['refused_columns'])}")
    if s.get("unknown_columns"):
        lines.append(f"  unknown columns (ignored): {', '.join(s['unknown_columns'])}")
    return "\n".join(lines)


def _describe_dry_run(r: dict) -> str:
    lines = [
        f"{r['file_name']}: dry run, nothing written",
        f"  scanned {r['scanned']} = empty {r['empty']} + duplicate {r['duplicate']} + invalid {r['invalid']} "
        f"+ expected {r['expected']} (create {r['would_create']}, update {r['would_update']})",
    ]
    lines += [f"  {code}: {count}" for code, count in r["reasons"].items()]
    if r["refused_columns"]:
        lines.append(f"  refused columns: {', '.join(r['refused_columns'])}")
    if r["unknown_columns"]:
        lines.append(f"  unknown columns: {', '.join(r['unknown_columns'])}")
    import pandas as pd

    lines.append(pd.DataFrame(r["preview"]).fillna("").to_string(index=False))
    return "\n".join(lines)


def show_batches(args: argparse.Namespace) -> int:
    from cdp_pipeline.settings import CdpPaths
    from cdp_pipeline.warehouse import connect_read_only

    # read-only: history needs no write access, and reading it never creates a warehouse
    with connect_read_only(CdpPaths.from_env().warehouse) as con:
        frame = con.execute(
            "SELECT batch_id, kind, file_name, status, scanned, created, updated, failed, skipped, "
            "finished_at FROM import_batches ORDER BY started_at DESC LIMIT $n",
            {"n": args.limit},
        ).df()
    if args.json:
        print(frame.to_json(orient="records", force_ascii=False, date_format="iso"))
    else:
        print(frame.to_string(index=False) if len(frame) else "no imports yet")
    return 0


def show_overview(args: argparse.Namespace) -> int:
    from cdp_pipeline.profiles import customer_overview
    from cdp_pipeline.settings import CdpPaths
    from cdp_pipeline.warehouse import connect_read_only

    with connect_read_only(CdpPaths.from_env().warehouse) as con:
        frame = customer_overview(con)
    if args.json:
        print(frame.to_json(orient="records", force_ascii=False))
    else:
        for dimension, part in frame.groupby("dimension", sort=False):
            print(
                f"{dimension}: " + ", ".join(f"{b} {n}" for b, n in zip(part["bucket"], part["customers"], strict=True))
            )
    return 0


def export_failures(args: argparse.Namespace) -> int:
    from cdp_pipeline.errors import FileRejected
    from cdp_pipeline.settings import CdpPaths
    from cdp_pipeline.warehouse import connect_read_only

    paths = CdpPaths.from_env().ensure()
    to_stdout = args.out is None or str(args.out) == "-"
    target = None if to_stdout else export_target(args.out, args.overwrite, paths)
    with connect_read_only(paths.warehouse) as con:
        row = con.execute(
            "SELECT CAST(headers AS VARCHAR) FROM import_batches WHERE batch_id = $b", {"b": args.batch_id}
        ).fetchone()
        if row is None:
            raise FileRejected(args.batch_id, "no such batch (see `cdp batches`)")
        headers = json.loads(row[0] or "[]")
        if target is None:
            _failures_to_stdout(con, args.batch_id, headers, paths)
        else:
            _failures_to_file(con, args.batch_id, headers, target, args.out, args.overwrite)
    if target is not None:
        print(args.out)
    return 0


def _failures_to_stdout(con, batch_id: str, headers: list[str], paths) -> None:
    """The same bytes as the failure file (formula cells escaped), without its BOM."""
    from cdp_pipeline.failure_files import write_failure_csv

    scratch = paths.work / f".failures-{uuid.uuid4().hex}.csv"
    try:
        write_failure_csv(con, batch_id, headers, scratch)
        with scratch.open(encoding="utf-8-sig", newline="") as text:
            shutil.copyfileobj(text, sys.stdout)
    finally:
        scratch.unlink(missing_ok=True)


# Write errors that are the machine's (exit 3), not the --out path's (exit 2).
_WRITE_FAULTS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def _failures_to_file(con, batch_id: str, headers: list[str], target: Path, shown: Path, overwrite: bool) -> None:
    from cdp_pipeline.failure_files import write_failure_csv, write_failure_xlsx

    write = write_failure_xlsx if target.suffix.lower() == ".xlsx" else write_failure_csv
    try:
        write(con, batch_id, headers, target, overwrite=overwrite)
    except FileExistsError:  # created by someone else since it was checked
        raise Refused(f"--out {shown}: exists; add --overwrite to replace it") from None
    except OSError as error:
        if error.errno in _WRITE_FAULTS:
            raise
        raise Refused(f"--out {shown}: cannot write there ({error.strerror})") from None


# Device and process files (/dev/stdout, /proc/self/fd/1): never an export's target, whatever
# they point at today (standard output redirected to a file is a regular file behind /dev/stdout).
SYSTEM_FOLDERS = (Path("/dev"), Path("/proc"))


def _link_chain(path: Path, hops: int = 40) -> list[Path]:
    """``path`` (absolute) and every name its links lead through, in order: a link to a link to
    /dev/stdout passes /dev even where the last hop is a regular file (a redirected stdout)."""
    chain = [Path(os.path.abspath(path))]
    while chain[-1].is_symlink() and len(chain) <= hops:
        chain.append(Path(os.path.abspath(chain[-1].parent / os.readlink(chain[-1]))))
    return chain


def export_target(out: Path, overwrite: bool, paths) -> Path:
    """Where ``cdp failures --out OUT`` may write, with every link resolved; Refused otherwise.

    Never inside CDP_HOME or the Dagster home, however the path gets there (.., a link to it, a
    link inside it): that is the product's state (warehouse, WAL, archive, failure files,
    cdp.yaml), and the batch's failure file is already there. Only a regular file, and an
    existing one only with ``overwrite``; never a folder, a device, a pipe or a socket, nor a
    link to one (``/dev/stdout`` is one: ``--out -`` writes to standard output)."""
    resolved = out.resolve()
    chain = [*_link_chain(out), resolved]
    for state in {paths.home.resolve(), paths.dagster_home.resolve()}:
        if any(hop.is_relative_to(state) for hop in chain):
            raise Refused(
                f"--out {out}: inside {state}, the product's own state (warehouse, archive, failure files); "
                "write the export outside it"
            )
    if any(hop.is_relative_to(system) for hop in chain for system in SYSTEM_FOLDERS):
        raise Refused(
            f"--out {out}: a device or process file, not a file to export to; use --out - for standard output"
        )
    try:
        found = os.stat(out)  # follows links, as writing would
    except FileNotFoundError:
        if os.path.lexists(out):
            raise Refused(f"--out {out}: a link to nothing ({resolved}); name the file itself") from None
        return resolved
    except OSError as error:
        raise Refused(f"--out {out}: {error.strerror}") from None
    if stat.S_ISDIR(found.st_mode):
        raise Refused(f"--out {out}: a folder; name a file in it, e.g. {out / 'failures.csv'}")
    if not stat.S_ISREG(found.st_mode):
        raise Refused(f"--out {out}: not a regular file (a device, pipe or socket); use --out - for standard output")
    if not overwrite:
        raise Refused(f"--out {out}: exists; add --overwrite to replace it")
    return resolved


def run_sql_query(args: argparse.Namespace) -> int:
    """``cdp sql QUERY``: one read-only statement, its first ``--limit`` rows printed masked."""
    import duckdb

    from cdp_pipeline.errors import EnvironmentFault, environment_fault, first_line
    from cdp_pipeline.settings import CdpPaths
    from cdp_pipeline.warehouse import connect_query_only

    warehouse = CdpPaths.from_env().warehouse
    if not warehouse.exists():
        raise EnvironmentFault(
            str(warehouse), "no warehouse yet: nothing has been imported (cdp import customers FILE)"
        )
    with connect_query_only(warehouse) as con:
        _check_read_only(con, args.query)
        try:
            names, columns, total = _first_rows(con, args.query, args.limit)
        except duckdb.Error as error:
            if environment_fault(error):
                raise
            raise Refused(f"query failed: {first_line(error)}") from None
    names = _unique_names(names)
    if not args.unmasked:
        names, columns = [mask_value(n) for n in names], [[mask_value(v) for v in c] for c in columns]
    shown = len(columns[0]) if columns else 0
    _print_rows(names, columns, args.json)
    if total > shown:
        print(f"cdp: {shown} of {total} rows shown (--limit {args.limit}); --limit 0 prints all", file=sys.stderr)
    return 0


# What cdp sql runs: statements that read. Everything else is refused before it runs (and the
# read-only connection would refuse a write anyway).
READ_STATEMENTS = frozenset({"SELECT", "EXPLAIN", "PRAGMA"})


def _check_read_only(con, query: str) -> None:
    import duckdb

    from cdp_pipeline.errors import first_line

    try:
        statements = con.extract_statements(query)
    except duckdb.Error as error:
        raise Refused(f"query failed: {first_line(error)}") from None
    if len(statements) != 1:
        raise Refused(f"cdp sql runs one statement at a time; this query has {len(statements)}")
    kind = statements[0].type.name
    if kind not in READ_STATEMENTS:
        raise Refused(
            f"cdp sql only reads the warehouse: {kind} statements are refused (it is opened read-only; "
            "imports are the way data gets in)"
        )


def _first_rows(con, query: str, limit: int) -> tuple[list[str], list[list], int]:
    """Column names, the first ``limit`` rows column by column (all with 0), and how many rows
    the result has: counted batch by batch, never held, so a big result costs no memory."""
    import pyarrow as pa

    reader = con.sql(query).to_arrow_reader(10_000)
    kept, total = [], 0
    for batch in reader:
        if not limit or total < limit:
            kept.append(batch if not limit else batch.slice(0, limit - total))
        total += batch.num_rows
    table = pa.Table.from_batches(kept, schema=reader.schema)
    return table.column_names, [column.to_pylist() for column in table.columns], total


def _unique_names(names: list[str]) -> list[str]:
    """Result column names, a repeated one numbered (``a``, ``a_2``) so JSON records keep every column."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique


def mask_value(value):
    """A result cell with every mobile, email and openid in it masked, inside lists and structs
    too; a number that is a mobile (a BIGINT column) becomes its masked text."""
    from cdp_pipeline.masking import mask_text

    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        masked = mask_text(str(value))
        return value if masked == str(value) else masked
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    if isinstance(value, dict):
        return {mask_value(k): mask_value(v) for k, v in value.items()}
    return value


def _json_value(value):
    import decimal

    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _print_rows(names: list[str], columns: list[list], as_json: bool) -> None:
    rows = list(zip(*columns, strict=True)) if columns else []
    if as_json:
        print(json.dumps([dict(zip(names, row, strict=True)) for row in rows], ensure_ascii=False, default=_json_value))
        return
    if not rows:
        print(f"no rows (columns: {', '.join(names)})")
        return
    import pandas as pd

    frame = pd.DataFrame(rows, columns=names, dtype=object).fillna("NULL")
    print(frame.to_string(index=False, max_colwidth=SQL_CELL_WIDTH))


if __name__ == "__main__":
    sys.exit(main())
