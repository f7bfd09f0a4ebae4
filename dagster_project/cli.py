"""``cdp``: the command line. Imports run the same Dagster assets in-process, on the same
instance as the UI, so every CLI import is a run you can open in ``dagster dev``.

Heavy modules are imported inside the commands, so ``cdp --help`` starts quickly.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import shutil
import sys
import threading
import uuid
from pathlib import Path

EXIT_REJECTED = 2
PROGRESS_MIN_BYTES = 8 << 20


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp", description="Customer data import pipeline (Dagster + DuckDB).")
    commands = parser.add_subparsers(dest="command", required=True)

    importing = commands.add_parser("import", help="import a file")
    kinds = importing.add_subparsers(dest="kind", required=True)
    customers = kinds.add_parser("customers", help="import a customer file (CSV or XLSX)")
    customers.add_argument("file", type=Path)
    customers.add_argument(
        "--tag",
        action="append",
        default=[],
        dest="tags",
        metavar="NAME",
        help="tag every imported customer (repeatable; created as a static tag if missing)",
    )
    customers.add_argument("--group", help="add every imported customer to this static group (created if missing)")
    customers.add_argument("--initial-source")
    customers.add_argument("--initial-source-content")
    customers.add_argument("--campaign")
    customers.add_argument(
        "--source-policy",
        choices=["new-only", "all"],
        default="new-only",
        help="initial source fields for new customers only, or for existing ones too",
    )
    customers.add_argument(
        "--mode", choices=["normal", "fast"], default="normal", help="normal records timeline events; fast records none"
    )
    customers.add_argument("--encoding", choices=["auto", "utf-8", "gb18030", "big5"], default="auto")
    customers.add_argument("--sheet", help="XLSX sheet to read (default: the first non-empty one)")
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
    failures.add_argument("--out", type=Path, help="write to FILE.csv (UTF-8 with BOM) or FILE.xlsx")
    return parser


def _add_tmall_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        dest="tags",
        metavar="NAME",
        help="tag the customers of imported orders (repeatable)",
    )
    parser.add_argument("--group", help="add the customers of imported orders to this static group")
    parser.add_argument("--encoding", choices=["auto", "utf-8", "gb18030", "big5"], default="auto")
    parser.add_argument("--force", action="store_true", help="import again even if this pair was imported")
    parser.add_argument("--json", action="store_true", help="print JSON")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cdp_pipeline.errors import FileRejected
    from cdp_pipeline.masking import masked_errors

    try:
        with masked_errors():  # an error that quotes cells leaves the CLI with them masked
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
            return export_failures(args)
    except FileRejected as rejected:
        print(f"cdp: rejected {rejected}", file=sys.stderr)
        return EXIT_REJECTED


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


def _settings(args: argparse.Namespace):
    from cdp_pipeline.settings import CustomerImportSettings

    return CustomerImportSettings(
        tags=tuple(args.tags),
        group=args.group,
        initial_source=args.initial_source,
        initial_source_content=args.initial_source_content,
        campaign=args.campaign,
        source_policy=args.source_policy,
        mode=args.mode,
        encoding=args.encoding,
        sheet=args.sheet,
    )


def import_customers(args: argparse.Namespace) -> int:
    from cdp_pipeline.catalogue import Catalogue
    from cdp_pipeline.customer_import import plan_customer_import
    from cdp_pipeline.errors import FileRejected, not_a_file_reason
    from cdp_pipeline.settings import CdpPaths

    paths = CdpPaths.from_env().ensure()
    path = args.file
    if not path.is_file():
        raise FileRejected(path, not_a_file_reason(path))
    if args.dry_run:
        report = plan_customer_import(path, _settings(args), paths, Catalogue.load(paths.config_file))
        _print(report, args.json, _describe_dry_run)
        return 0
    summary = run_customer_import(path.resolve(), _settings(args), args.force, show_progress=not args.json)
    _print(summary, args.json, _describe_import)
    return 0


def _tmall_settings(args: argparse.Namespace):
    from cdp_pipeline.settings import TmallImportSettings

    return TmallImportSettings(tags=tuple(args.tags), group=args.group, encoding=args.encoding)


def import_tmall(args: argparse.Namespace) -> int:
    from cdp_pipeline.errors import FileRejected, not_a_file_reason

    for path in (args.orders, args.items):
        if not path.is_file():
            raise FileRejected(path, not_a_file_reason(path))
    summary = run_tmall_import(
        args.orders.resolve(), args.items.resolve(), _tmall_settings(args), args.force, show_progress=not args.json
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
    from cdp_pipeline.tmall_import import export_timestamp, pair_exports

    if args.folder.is_file():
        raise FileRejected(args.folder, "a file, not a folder: give the folder holding the export pairs")
    if not args.folder.is_dir():
        raise FileRejected(args.folder, "no such folder")
    entries = sorted(args.folder.iterdir())
    pairs, alone = pair_exports([p for p in entries if p.is_file()])
    unsearched = unsearched_subfolders(entries)
    pairs.sort(key=lambda pair: (export_timestamp(pair[0].name) or datetime.datetime.min, pair[0].name))
    reports, rejected = [], []
    for orders, items in tqdm(pairs, unit="export", file=sys.stderr, disable=args.json or not sys.stderr.isatty()):
        try:
            reports.append(
                _tmall_report(run_tmall_import(orders.resolve(), items.resolve(), _tmall_settings(args), args.force))
            )
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


def run_customer_import(path: Path, settings, force: bool = False, show_progress: bool = False) -> dict:
    """One file through the customer_import job, in this process, on the shared instance."""
    from cdp_pipeline.batches import file_sha256, partition_key_for
    from dagster_project.defs.customers.assets import customer_import_run_config
    from dagster_project.defs.customers.partitions import customer_files

    return run_partition(
        "customer_import",
        customer_files.name,
        partition_key_for(file_sha256(path)),
        customer_import_run_config(str(path), settings, force=force),
        {"cdp/file_name": path.name, "cdp/kind": "customers"},
        show_progress=show_progress and _is_long(path),
    )


def run_tmall_import(orders: Path, items: Path, settings, force: bool = False, show_progress: bool = False) -> dict:
    """One Tmall export through the tmall_import job, in this process, on the shared instance."""
    from cdp_pipeline.tmall_import import export_key
    from dagster_project.defs.tmall.assets import tmall_import_run_config
    from dagster_project.defs.tmall.partitions import tmall_exports

    return run_partition(
        "tmall_import",
        tmall_exports.name,
        export_key(orders, items),
        tmall_import_run_config(str(orders), str(items), settings, force=force),
        {"cdp/file_name": orders.name, "cdp/items_file_name": items.name, "cdp/kind": "tmall"},
        show_progress=show_progress and _is_long(orders),
    )


def run_partition(
    job_name: str, partitions: str, key: str, run_config: dict, tags: dict, show_progress: bool = False
) -> dict:
    """Register the partition, run the job for it in-process and return the batch summary that
    its write step put in the materialization metadata.

    Runs left unfinished by a killed process are marked failed first and their pool slot freed,
    so they do not hold up this run (``recover_dead_runs``). The same bytes imported by several
    processes at once: the run holds the partition's import lock (the warehouse resource), so
    one imports and the others wait, then report already_imported."""
    from cdp_pipeline.locks import import_lock
    from cdp_pipeline.settings import CdpPaths
    from dagster_project.instance import STAGING_KINDS, local_instance, recover_dead_runs

    paths = CdpPaths.from_env().ensure()
    instance = local_instance(paths)
    recover_dead_runs(instance, paths.warehouse)
    from dagster_project.definitions import defs

    with import_lock(paths, STAGING_KINDS[job_name], key):  # two processes adding one key: IntegrityError
        if not instance.has_dynamic_partition(partitions, key):
            instance.add_dynamic_partitions(partitions, [key])
    run_config = {**run_config, "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    run_id = str(uuid.uuid4())
    job = defs.resolve_job_def(job_name)
    progress = _progress(instance, run_id, len(job.nodes)) if show_progress else None
    try:
        result = job.execute_in_process(
            run_config=run_config,
            instance=instance,
            partition_key=key,
            raise_on_error=False,
            run_id=run_id,
            tags={**tags, "cdp/launched_by": "cli"},
        )
    finally:
        if progress:
            progress.set()
    if not result.success:
        raise _run_failure(result)
    for event in result.get_asset_materialization_events():
        summary = event.materialization.metadata.get("summary")
        if summary is not None:
            return summary.value
    raise RuntimeError(f"run {run_id} finished without a batch summary")


def _run_failure(result) -> Exception:
    """A step failure as the exception to report: FileRejected (file and reason) for a refused file."""
    from cdp_pipeline.errors import FileRejected

    for event in result.all_events:
        if not event.is_step_failure:
            continue
        error = event.step_failure_data.error
        while error is not None:
            if error.cls_name == "FileRejected":
                file_name, _, reason = error.message.strip().split(": ", 1)[-1].partition(": ")
                return FileRejected(Path(file_name), reason)
            error = error.cause
        return RuntimeError(event.step_failure_data.error.to_string())
    return RuntimeError(f"run {result.run_id} failed")


def _is_long(path: Path) -> bool:
    return sys.stderr.isatty() and path.stat().st_size >= PROGRESS_MIN_BYTES


def _progress(instance, run_id: str, steps: int) -> threading.Event:
    """A progress bar over the run's steps, read from the instance's event log."""
    from dagster import DagsterEventType
    from tqdm import tqdm

    done = threading.Event()

    def follow() -> None:
        with tqdm(total=steps, unit="step", file=sys.stderr, leave=False) as bar:
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
    from cdp_pipeline.warehouse import connect

    with connect(CdpPaths.from_env().ensure().warehouse) as con:
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
    from cdp_pipeline.warehouse import connect

    with connect(CdpPaths.from_env().ensure().warehouse) as con:
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
    from cdp_pipeline.failure_files import write_failure_csv, write_failure_xlsx
    from cdp_pipeline.settings import CdpPaths
    from cdp_pipeline.warehouse import connect

    paths = CdpPaths.from_env().ensure()
    with connect(paths.warehouse) as con:
        row = con.execute(
            "SELECT CAST(headers AS VARCHAR) FROM import_batches WHERE batch_id = $b", {"b": args.batch_id}
        ).fetchone()
        if row is None:
            raise FileRejected(args.batch_id, "no such batch (see `cdp batches`)")
        headers = json.loads(row[0] or "[]")
        if args.out is None:
            # the same bytes as the failure file (formula cells escaped), without its BOM
            scratch = paths.work / f".failures-{uuid.uuid4().hex}.csv"
            try:
                write_failure_csv(con, args.batch_id, headers, scratch)
                with scratch.open(encoding="utf-8-sig", newline="") as text:
                    shutil.copyfileobj(text, sys.stdout)
            finally:
                scratch.unlink(missing_ok=True)
        elif args.out.suffix.lower() == ".xlsx":
            write_failure_xlsx(con, args.batch_id, headers, args.out)
        else:
            write_failure_csv(con, args.batch_id, headers, args.out)
    if args.out is not None:
        print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
