"""The commands that read the warehouse: ``cdp batches``, ``cdp overview``, ``cdp failures``
(a batch's failed rows, to standard output or a file outside CDP_HOME) and ``cdp sql`` (one
read-only query). They never create or change a warehouse."""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import stat
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from dagster_project.cli.exit_codes import Refused
from dagster_project.cli.rendering import mask_value, print_rows, unique_names

if TYPE_CHECKING:
    from cdp_pipeline.settings import CdpPaths


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


def _failures_to_stdout(con, batch_id: str, headers: list[str], paths: CdpPaths) -> None:
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


def export_target(out: Path, overwrite: bool, paths: CdpPaths) -> Path:
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
    names = unique_names(names)
    if not args.unmasked:
        names, columns = [mask_value(n) for n in names], [[mask_value(v) for v in c] for c in columns]
    shown = len(columns[0]) if columns else 0
    print_rows(names, columns, args.json)
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
