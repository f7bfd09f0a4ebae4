"""The write step every import ends with: one DuckDB transaction per batch.

A kind-specific list of SQL steps writes its tables (customers, orders, ...); then the steps
all imports share — tags and the static group for the batch's customers, tag events, the
failure rows, the row outcomes, the refreshed purchase profiles — and last the batch record.
Failure and archive files are written to temporary names and renamed before the commit, so a
crash leaves either no batch or a complete one; only a committed batch counts as imported.
The files a crashed batch left behind are deleted by the next batch's write
(``remove_uncommitted_files``); ``fault_point`` marks where the crash tests kill an import.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cdp_pipeline.batches import ImportContext, batch_summary, content_sha256
from cdp_pipeline.errors import FileRejected
from cdp_pipeline.failure_files import write_failure_csv
from cdp_pipeline.faults import fault_point
from cdp_pipeline.owner_only import copy_owner_only
from cdp_pipeline.readers import cell_list
from cdp_pipeline.settings import CdpPaths
from cdp_pipeline.sidecars import sidecars_beside
from cdp_pipeline.warehouse import render_sql, step_writes

SHARED_STEPS = (
    "customer_tag_assignments",
    "tags_created",
    "customer_tags_added",
    "customer_tags",
    "groups_created",
    "group_members",
)
CHANGED_SINCE_STAGED = (
    "changed since it was staged (replaced by a newer file of the same name?): not imported now; "
    "the file as it is now is imported as new bytes"
)
# The tables the shared steps write, for every kind.
SHARED_TABLES = (
    "tags",
    "customer_tags",
    "groups",
    "group_members",
    "customer_events",
    "import_failures",
    "import_row_outcomes",
    "customer_profiles",
    "import_batches",
)
# Where a batch's write steps keep what they build for the steps after them: DuckDB lets one
# transaction write one attached database besides its temp database.
BATCH_TABLES = "temp.main"
BATCH_FILE = re.compile(r"^(\d{20}-[0-9a-f]{8})(\..*)?$")


@dataclass(frozen=True)
class WritePlan:
    """A kind's write steps for one batch, before the steps every batch shares, and what they need.

    ``unchanged_count`` names the SQL file counting the batch's matched rows that changed
    nothing; it runs after every write (it reads what they added), and without one the batch's
    ``unchanged`` is NULL. ``other_failure_headers`` holds the headers of the batch's other files
    whose rows can fail too (a Tmall item report), by file role."""

    steps: list[str]
    params: dict = field(default_factory=dict)
    tag_events: bool = True
    business_date: str | None = None
    details: dict = field(default_factory=dict)
    other_failure_headers: dict[str, list[str]] = field(default_factory=dict)
    unchanged_count: str | None = None


def write_batch(
    con: duckdb.DuckDBPyConnection,
    context: ImportContext,
    paths: CdpPaths,
    plan: WritePlan,
    outcomes: str,
    file_rows: str,
    sql_folders: tuple[Path, ...] = (),
) -> dict:
    """Run the plan's steps and the shared steps in one transaction and record the batch; the
    tables a step builds for the steps after it live in the transaction's temp database."""
    staging = context.staging
    params, details, other_failure_headers = plan.params, plan.details, plan.other_failure_headers
    remove_uncommitted_files(con, paths)
    now = dt.datetime.now()
    failure_file = paths.failures / f"{context.batch_id}.csv"
    archive_folder = paths.archive / context.batch_id
    params = {
        **params,
        "batch_id": context.batch_id,
        "now": now,
        "tags": list(context.settings.get("tags") or []),
        # Cleaned as every name from a file is, so a group named with a direction override or a
        # zero-width space is not another group than the one a reader sees (issue 14 item 9).
        "group": con.execute("SELECT clean_text($g)", {"g": context.settings.get("group")}).fetchone()[0],
    }
    tables = {
        "staging": staging,
        "batch": BATCH_TABLES,
        "outcomes": outcomes,
        "file_rows": file_rows,
        "raw_cells": cell_list(len(context.headers)),
        "profile_scope": f"{BATCH_TABLES}.profile_customers",
        # {<role>_raw_cells}: the original cells of another file of the batch (e.g. the items report)
        **{f"{role}_raw_cells": cell_list(len(headers)) for role, headers in (other_failure_headers or {}).items()},
    }
    all_steps = [*plan.steps, *shared_steps(plan.tag_events)]
    con.execute("BEGIN TRANSACTION")
    try:
        for step in all_steps:
            sql = render_sql(step, folders=sql_folders, **tables)
            con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
        unchanged = None
        if plan.unchanged_count:
            sql = render_sql(plan.unchanged_count, folders=sql_folders, **tables)
            unchanged = con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}).fetchone()[0]
        failed = dict(
            con.execute(
                "SELECT file_role, count(*) FROM import_failures WHERE batch_id = $b GROUP BY ALL",
                {"b": context.batch_id},
            ).fetchall()
        )
        if failed.get(None):
            write_failure_csv(con, context.batch_id, context.headers, failure_file)
        details = dict(details or {})
        for role, headers in (other_failure_headers or {}).items():
            if failed.get(role):
                target = failure_file.with_name(f"{context.batch_id}.{role}.csv")
                details[f"{role}_failure_file"] = str(write_failure_csv(con, context.batch_id, headers, target, role))
        fault_point("before_archiving")
        looks, archived = {}, []
        for source in context.sources:
            looks[source] = file_look(source)
            archived.append(copy_owner_only(source, archive_folder / source.name))
            # a file taken from an inbox keeps its sidecar beside it in the archive
            for sidecar in sidecars_beside(source) if context.move_source else []:
                copy_owner_only(sidecar, archive_folder / sidecar.name)
        if content_sha256(archived) != context.file_sha256:
            # staging read other bytes: the file was replaced (the next export under its name)
            raise FileRejected(context.sources[0], CHANGED_SINCE_STAGED)
        record = {
            "kind": context.kind,
            "batch_id": context.batch_id,
            "file_name": context.file_name,
            "file_sha256": context.file_sha256,
            "started_at": context.started_at,
            "now": now,
            "encoding": context.encoding,
            "headers": json.dumps(context.headers, ensure_ascii=False),
            "settings": json.dumps(context.settings, ensure_ascii=False),
            "refused": json.dumps(context.refused, ensure_ascii=False),
            "unknown": json.dumps(context.unknown, ensure_ascii=False),
            "failure_file": str(failure_file) if failed.get(None) else None,
            "archive_file": str(archive_folder / context.file_name),
            "business_date": plan.business_date,
            "details": json.dumps(details, ensure_ascii=False, default=str),
            "unchanged": unchanged,
        }
        con.execute(render_sql("import_batches", **tables), record)
        fault_point("before_commit")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    fault_point("after_commit")
    summary = batch_summary(con, context.batch_id)
    release_sources(context, all(look == file_look(source) for source, look in looks.items()))
    return summary


def shared_steps(tag_events: bool) -> list[str]:
    """The steps every batch runs after its kind's, in order (the batch record, import_batches.sql,
    comes last of all)."""
    return [
        *SHARED_STEPS,
        *(["tag_added_events"] if tag_events else []),
        "import_failures",
        "import_row_outcomes",
        "profile_customers",
        "customer_profiles",
    ]


def plan_tables(plan: WritePlan, sql_folders: tuple[Path, ...] = ()) -> set[str]:
    """The warehouse tables a batch with this plan writes, as its steps' SQL says."""
    steps = [*plan.steps, *shared_steps(plan.tag_events), "import_batches"]
    return set().union(*(step_writes(step, sql_folders) for step in steps))


def remove_uncommitted_files(con: duckdb.DuckDBPyConnection, paths: CdpPaths) -> list[Path]:
    """Delete what a killed import left beside the warehouse: temporary files, and failure files
    and archive folders of batches that never committed. Safe while ``con`` writes the
    warehouse: only the process holding DuckDB's write lock writes these files."""
    committed = {row[0] for row in con.execute("SELECT batch_id FROM import_batches").fetchall()}
    removed = []
    for path in [*paths.failures.glob("*"), *paths.archive.glob("*"), *paths.archive.glob("*/.*")]:
        found = BATCH_FILE.match(path.name)
        if (path.name.startswith(".") and path.name.endswith(".tmp")) or (found and found[1] not in committed):
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def finish_already_imported(con: duckdb.DuckDBPyConnection, context: ImportContext) -> dict:
    """The same bytes were imported before: report that batch, change nothing."""
    present = all(source.is_file() for source in context.sources)
    release_sources(context, present and content_sha256(context.sources) == context.file_sha256)
    return {**batch_summary(con, context.previous), "status": "already_imported"}


def release_sources(context: ImportContext, unchanged: bool) -> None:
    """Files taken from an inbox leave it once imported (their copies are in the archive), and
    their sidecars with them: first, so a sidecar is never left to apply to the next file of
    that name. Already imported bytes leave too, with their sidecar, not archived again. A file
    that is no longer the one imported (replaced meanwhile) stays, its sidecar with it: the next
    look at the inbox finds it new."""
    if context.move_source and unchanged:
        for source in context.sources:
            for sidecar in sidecars_beside(source):
                sidecar.unlink(missing_ok=True)
            Path(source).unlink(missing_ok=True)


def file_look(path: Path) -> tuple[int, int, int] | None:
    """What tells one file from its replacement under the same name: inode, size, mtime."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns
