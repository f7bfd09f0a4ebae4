"""A Tmall order export (order report + item report) imported into orders, order items,
customers and their purchase timeline — the same four steps as a customer file:

1. ``stage_tmall_export``: both files staged, their headers checked against the known
   templates, cells cleaned (``sql/tmall_order_rows.sql``, ``sql/tmall_item_rows.sql``);
2. ``validate_tmall_orders``: the pandera contract of an order row;
3. ``match_tmall_orders``: duplicates, statuses, buyers ↔ customers by mobile;
4. ``write_tmall_orders``: one transaction for customers, orders, items, events and the batch.

An export is keyed by the hash of both files, so the same pair is one partition and is never
imported twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import yaml

from cdp_pipeline.batch_writes import finish_already_imported, write_batch
from cdp_pipeline.batches import (
    ImportContext,
    begin_import,
    create_reason_codes,
    file_sha256,
    partition_key_for,
    run_contract,
    save_context,
)
from cdp_pipeline.catalogue import header_key
from cdp_pipeline.errors import FileRejected, not_a_file_reason
from cdp_pipeline.faults import fault_point
from cdp_pipeline.locks import import_lock
from cdp_pipeline.readers import cell_parts, stage_file
from cdp_pipeline.resources import contract_text
from cdp_pipeline.settings import CdpPaths, TmallImportSettings
from cdp_pipeline.warehouse import connect, render_sql, run_sql
from data_contracts.tmall_orders import ORDER_ID, contract_failures

KIND = "tmall"
ORDER_REPORT = re.compile(r"^ExportOrderList(?P<suffix>.*)\.(csv|xlsx)$", re.IGNORECASE)
ITEM_REPORT = re.compile(r"^ExportOrderDetailList(?P<suffix>.*)\.(csv|xlsx)$", re.IGNORECASE)


@dataclass(frozen=True)
class TmallTemplates:
    orders: dict[str, list[str]]
    items: dict[str, list[str]]
    order_fields: dict[str, list[str]]
    item_fields: dict[str, list[str]]

    @property
    def known_headers(self) -> frozenset[str]:
        names = [n for template in (*self.orders.values(), *self.items.values()) for n in template]
        return frozenset(header_key(n) for n in names)


@cache
def tmall_templates() -> TmallTemplates:
    data = yaml.safe_load(contract_text("tmall_templates.yaml"))
    return TmallTemplates(data["orders"], data["items"], data["order_fields"], data["item_fields"])


def match_template(headers: list[str], templates: dict[str, list[str]], report: str, path: Path) -> str:
    """The template whose header row this is, exactly (names trimmed); otherwise the file is refused
    with what is missing and extra against the closest template (an edited export is not accepted)."""
    names = [h.strip() for h in headers]
    while names and not names[-1]:
        names.pop()
    for name, columns in templates.items():
        if names == columns:
            return name
    closest, columns = min(templates.items(), key=lambda t: (len(set(t[1]) ^ set(names)), abs(len(t[1]) - len(names))))
    missing = [c for c in columns if c not in names]
    extra = [c for c in names if c not in columns]
    detail = f"missing: {', '.join(missing) or '-'}; extra: {', '.join(extra) or '-'}"
    if not missing and not extra:
        detail = "the columns are out of order"
    return _reject(
        path, f"headers match no known Tmall {report} template (closest: {closest}, {len(columns)} columns; {detail})"
    )


def _reject(path: Path, reason: str):
    raise FileRejected(path, reason)


def export_timestamp(file_name: str) -> dt.datetime | None:
    """``ExportOrderList201709010000.csv`` was exported at 2017-09-01 00:00."""
    found = re.search(r"(\d{12,14})", file_name)
    if not found:
        return None
    digits = found.group(1)
    try:
        return dt.datetime.strptime(digits, "%Y%m%d%H%M%S" if len(digits) == 14 else "%Y%m%d%H%M")
    except ValueError:
        return None


def pair_sha256(orders_sha: str, items_sha: str) -> str:
    return hashlib.sha256(f"{orders_sha}:{items_sha}".encode()).hexdigest()


def export_key(orders: Path, items: Path) -> str:
    """The partition key of an export: the hash of both files."""
    return partition_key_for(pair_sha256(file_sha256(orders), file_sha256(items)))


def _projection(headers: list[str], fields: dict[str, list[str]]) -> str:
    positions = {h.strip(): i for i, h in enumerate(headers)}

    def cell(aliases: list[str]) -> str:
        found = next((positions[a] for a in aliases if a in positions), None)
        return f"c{found}" if found is not None else "NULL::VARCHAR"

    return ", ".join(f"{cell(aliases)} AS {name}" for name, aliases in fields.items())


def stage_tmall_export(
    con: duckdb.DuckDBPyConnection,
    orders: Path,
    items: Path,
    settings: TmallImportSettings,
    paths: CdpPaths,
    force: bool = False,
    move_source: bool = False,
) -> ImportContext:
    """Step 1: stage both reports. A refused pair raises FileRejected and leaves nothing."""
    orders, items = Path(orders), Path(items)
    for path in (orders, items):
        if not path.is_file():
            raise FileRejected(path, not_a_file_reason(path))
    sha256 = pair_sha256(file_sha256(orders), file_sha256(items))
    context = begin_import(con, KIND, [orders, items], sha256, dataclasses.asdict(settings), force, move_source)
    if context.status == "already_imported":
        return context
    staging = context.staging
    templates = tmall_templates()
    try:
        staged = {}
        for role, path, known in (("order", orders, templates.orders), ("item", items, templates.items)):
            staged[role] = stage_file(
                con, path, f"{staging}.{role}_file_rows", paths.work, templates.known_headers, settings.encoding
            )
            staged[role + "_template"] = match_template(staged[role].headers, known, f"{role} report", path)
        for role, fields in (("order", templates.order_fields), ("item", templates.item_fields)):
            run_sql(
                con,
                f"tmall_{role}_rows",
                staging=staging,
                field_cells=_projection(staged[role].headers, fields),
                **cell_parts(staged[role].width),
            )
        rows = con.execute(
            f"SELECT count(*) FILTER (WHERE NOT is_empty), max(ordered_at) FROM {staging}.tmall_order_rows"
        ).fetchone()
        if rows[0] == 0:
            raise FileRejected(orders, "no data rows: the order report has a header but no orders")
        create_reason_codes(con, staging, KIND, other_file_roles=("items",))
    except BaseException:
        con.execute(f"DROP SCHEMA IF EXISTS {staging} CASCADE")
        raise
    export_at = export_timestamp(orders.name) or rows[1] or dt.datetime.fromisoformat(context.started_at)
    context.headers = staged["order"].headers
    context.encoding = staged["order"].encoding
    context.extra = {
        "items_file_name": items.name,
        "item_headers": staged["item"].headers,
        "order_template": staged["order_template"],
        "item_template": staged["item_template"],
        "export_at": export_at.isoformat(sep=" "),
    }
    save_context(con, context)
    fault_point("after_staging")
    return context


def validate_tmall_orders(con: duckdb.DuckDBPyConnection, context: ImportContext) -> dict[str, int]:
    """Step 2: the pandera contract over the order rows, in Arrow batches."""
    target = f"{context.staging}.contract_failures"
    if context.status != "staged":
        con.execute(f"CREATE OR REPLACE TABLE {target} (row_number BIGINT, reason_code VARCHAR)")
        return {}
    failures = run_contract(
        con, render_sql("tmall_orders_for_contract", staging=context.staging), contract_failures, target
    )
    fault_point("after_validation")
    return failures


def match_tmall_orders(con: duckdb.DuckDBPyConnection, context: ImportContext) -> dict[str, int]:
    """Step 3: every order row gets its outcome and its customer."""
    if context.status != "staged":
        return {}
    for step in ("tmall_order_duplicates", "tmall_order_candidates", "tmall_new_customers", "tmall_order_outcomes"):
        run_sql(con, step, staging=context.staging)
    fault_point("after_matching")
    return order_counts(con, context)


def order_counts(con: duckdb.DuckDBPyConnection, context: ImportContext) -> dict[str, int]:
    cursor = con.execute(render_sql("tmall_order_counts", staging=context.staging))
    return dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))


def failure_reasons(con: duckdb.DuckDBPyConnection, context: ImportContext) -> dict[str, int]:
    return dict(
        con.execute(
            f"SELECT reason_code, count(*) FROM {context.staging}.tmall_order_outcomes WHERE outcome = 'failed' "
            "GROUP BY ALL ORDER BY 2 DESC, 1"
        ).fetchall()
    )


def write_tmall_orders(con: duckdb.DuckDBPyConnection, context: ImportContext, paths: CdpPaths) -> dict:
    """Step 4: one transaction writes customers, orders, items, events and the batch record."""
    if context.status == "already_imported":
        return tmall_summary(finish_already_imported(con, context))
    counts = order_counts(con, context)
    summary = write_batch(
        con,
        context,
        paths,
        [
            # Updates and deletes first: after large inserts in the same transaction they are
            # slow in DuckDB. The latest states and items are taken before this export's states
            # join the history, so they need not read back the rows just written.
            "tmall_latest_orders",
            "tmall_orders_updated",
            "tmall_events_refreshed",
            "order_items_removed",
            "tmall_customers_created",
            "orders_upserted",
            "order_items_added",
            "tmall_order_history",
            "tmall_item_history",
            "tmall_events",
            "tmall_batch_customers",
            "tmall_item_failures",
        ],
        outcomes=f"{context.staging}.tmall_order_outcomes",
        file_rows=f"{context.staging}.order_file_rows",
        params={"export_at": dt.datetime.fromisoformat(context.extra["export_at"]), "order_id_pattern": ORDER_ID},
        tag_events=True,
        details={
            **counts,
            "items_file_name": context.extra["items_file_name"],
            "order_template": context.extra["order_template"],
            "item_template": context.extra["item_template"],
            "export_at": context.extra["export_at"],
        },
        other_failure_headers={"items": context.extra["item_headers"]},
    )
    con.execute("DROP TABLE IF EXISTS temp.tmall_latest_orders")
    return tmall_summary(summary)


def tmall_summary(summary: dict) -> dict:
    """The CLI's Tmall JSON keys (issue 4) beside the batch's own figures."""
    return {
        **summary,
        "orders_scanned": summary["scanned"] - summary["skipped"],
        "orders_imported": summary["created"] + summary["updated"],
        "orders_failed": summary["failed"],
    }


def import_tmall_export(
    orders: Path, items: Path, settings: TmallImportSettings, paths: CdpPaths, force: bool = False
) -> dict:
    """All four steps in one process, without Dagster."""
    # the lock every import of these bytes holds (the Dagster runs too): see cdp_pipeline.locks
    both = Path(orders).is_file() and Path(items).is_file()
    held = import_lock(paths, KIND, export_key(Path(orders), Path(items))) if both else nullcontext()
    with held, connect(paths.warehouse) as con:
        context = stage_tmall_export(con, orders, items, settings, paths, force=force)
        validate_tmall_orders(con, context)
        match_tmall_orders(con, context)
        return write_tmall_orders(con, context, paths)


def pair_exports(files: list[Path]) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Order and item reports paired by name (same suffix): the pairs, and the files still alone.

    One report of each kind with a suffix pair whatever their formats (an order report saved as
    XLSX beside its item CSV). With more (a report kept both as CSV and as XLSX), only same-format
    reports pair and the others are alone: every file is either imported or reported, never
    silently passed over."""
    by_suffix: dict[str, tuple[list[Path], list[Path]]] = {}
    for file in files:
        for side, pattern in enumerate((ORDER_REPORT, ITEM_REPORT)):
            if found := pattern.match(file.name):
                by_suffix.setdefault(found.group("suffix"), ([], []))[side].append(file)
    pairs: list[tuple[Path, Path]] = []
    alone: list[Path] = []
    for suffix in sorted(by_suffix):
        orders, items = by_suffix[suffix]
        if len(orders) == 1 and len(items) == 1:
            pairs.append((orders[0], items[0]))
            continue
        for extension in sorted({f.suffix.lower() for f in orders + items}):
            same_orders = [f for f in orders if f.suffix.lower() == extension]
            same_items = [f for f in items if f.suffix.lower() == extension]
            if len(same_orders) == 1 and len(same_items) == 1:
                pairs.append((same_orders[0], same_items[0]))
            else:
                alone.extend(same_orders + same_items)
    return pairs, sorted(alone)
