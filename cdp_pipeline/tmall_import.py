"""The Tmall export import kind (SPEC §3): an order report and its item report, their headers
checked against the known templates (data_contracts/tmall_templates.yaml), order rows judged by
the contract in data_contracts/tmall_orders.py, buyers matched to customers by mobile, and
orders, items, customers and their purchase timeline written. ``TMALL`` declares it for the
engine (cdp_pipeline.engine). An export is keyed by the hash of both files, so the same pair is
one partition and is never imported twice.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import yaml

from cdp_pipeline.batch_writes import SHARED_TABLES, WritePlan
from cdp_pipeline.batches import STAGING, ImportContext
from cdp_pipeline.catalogue import header_key
from cdp_pipeline.engine import ImportKind, KindNames, Staged, import_files
from cdp_pipeline.errors import FileRejected
from cdp_pipeline.inbox import HeldFile, ReadyFile
from cdp_pipeline.readers import cell_parts, stage_file
from cdp_pipeline.resources import contract_text
from cdp_pipeline.settings import CdpPaths, TmallImportSettings
from cdp_pipeline.sidecars import TmallSidecar, sidecars_beside, tmall_sidecar
from cdp_pipeline.warehouse import run_sql
from data_contracts.tmall_orders import ORDER_ID, contract_failures

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


def _projection(headers: list[str], fields: dict[str, list[str]]) -> str:
    positions = {h.strip(): i for i, h in enumerate(headers)}

    def cell(aliases: list[str]) -> str:
        found = next((positions[a] for a in aliases if a in positions), None)
        return f"c{found}" if found is not None else "NULL::VARCHAR"

    return ", ".join(f"{cell(aliases)} AS {name}" for name, aliases in fields.items())


def stage_tmall_export(
    con: duckdb.DuckDBPyConnection, files: Sequence[Path], settings: TmallImportSettings, paths: CdpPaths
) -> Staged:
    """Both reports staged, their headers matched to a template, their cells cleaned."""
    orders, items = files
    templates = tmall_templates()
    staged = {}
    for role, path, known in (("order", orders, templates.orders), ("item", items, templates.items)):
        staged[role] = stage_file(
            con, path, f"{STAGING}.{role}_file_rows", paths.work, templates.known_headers, settings.encoding
        )
        staged[role + "_template"] = match_template(staged[role].headers, known, f"{role} report", path)
    for role, fields in (("order", templates.order_fields), ("item", templates.item_fields)):
        run_sql(
            con,
            f"tmall_{role}_rows",
            staging=STAGING,
            field_cells=_projection(staged[role].headers, fields),
            **cell_parts(staged[role].width),
        )
    rows = con.execute(
        f"SELECT count(*) FILTER (WHERE NOT is_empty), max(ordered_at) FROM {STAGING}.tmall_order_rows"
    ).fetchone()
    if rows[0] == 0:
        raise FileRejected(orders, "no data rows: the order report has a header but no orders")
    export_at = export_timestamp(orders.name) or rows[1] or dt.datetime.now()
    return Staged(
        staged["order"].headers,
        staged["order"].encoding,
        extra={
            "items_file_name": items.name,
            "item_headers": staged["item"].headers,
            "order_template": staged["order_template"],
            "item_template": staged["item_template"],
            "export_at": export_at.isoformat(sep=" "),
        },
    )


def tmall_write_plan(context: ImportContext, counts: dict[str, int]) -> WritePlan:
    extra = context.extra
    return WritePlan(
        steps=[
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
        params={"export_at": dt.datetime.fromisoformat(extra["export_at"]), "order_id_pattern": ORDER_ID},
        details={
            **counts,
            "items_file_name": extra["items_file_name"],
            "order_template": extra["order_template"],
            "item_template": extra["item_template"],
            "export_at": extra["export_at"],
        },
        other_failure_headers={"items": extra["item_headers"]},
    )


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
    return import_files(TMALL, [orders, items], settings, paths, force=force)


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


def tmall_pairs(
    ready: list[ReadyFile],
) -> tuple[list[tuple[tuple[ReadyFile, ReadyFile], TmallImportSettings]], list[Path], list[HeldFile]]:
    """Ready Tmall files paired by the order report's sidecar (``items: <item report file name>``)
    or else by name (same suffix); the files still waiting for their partner; the pairs held.

    A report whose sidecar names its item report waits for that one, never pairs by name. The
    settings of a pair are its order report's sidecar's: a sidecar beside the item report holds
    the pair rather than be silently ignored."""
    by_path = {f.path: f for f in ready}
    sidecar_of = {f.path: f.settings if isinstance(f.settings, TmallSidecar) else TmallSidecar() for f in ready}
    found: list[tuple[ReadyFile, ReadyFile]] = []
    alone: list[Path] = []
    used: set[Path] = set()
    for f in ready:
        if sidecar_of[f.path].items is None:
            continue
        partner = f.path.with_name(sidecar_of[f.path].items)
        if partner in by_path and partner != f.path:
            found.append((f, by_path[partner]))
            used |= {f.path, partner}
        else:
            alone.append(f.path)
            used.add(f.path)
    pairs, unpaired = pair_exports([p for p in by_path if p not in used])
    found += [(by_path[o], by_path[i]) for o, i in pairs]
    paired, held = [], []
    for orders, items in found:
        beside_items = sidecars_beside(items.path)
        if beside_items:
            reason = (
                f"{beside_items[0].name}: a pair's settings go in its order report's sidecar "
                f"({orders.path.name}.yaml), not beside the item report"
            )
            held += [HeldFile(orders.path, reason), HeldFile(items.path, reason)]
        else:
            paired.append(((orders, items), sidecar_of[orders.path].settings))
    return paired, sorted(alone + unpaired), held



TMALL = ImportKind(
    name="tmall",
    names=KindNames("tmall", "export", "orders"),
    title="Tmall export (order report + item report)",
    inputs=("orders", "items"),
    settings=TmallImportSettings,
    stage=stage_tmall_export,
    contract_rows="tmall_orders_for_contract",
    contract=contract_failures,
    match_steps=(
        "tmall_order_duplicates",
        "tmall_order_candidates",
        "tmall_new_customers",
        "tmall_order_decisions",
        "tmall_order_failures",
        "row_reasons",
        "tmall_order_outcomes",
    ),
    counts="tmall_order_counts",
    outcomes="tmall_order_outcomes",
    file_rows="order_file_rows",
    write_plan=tmall_write_plan,
    tables=(
        "customers",
        "orders",
        "order_items",
        "tmall_order_history",
        "tmall_item_history",
        *SHARED_TABLES,
    ),
    pair_files=pair_exports,
    read_sidecar=tmall_sidecar,
    group_ready=tmall_pairs,
    summary=tmall_summary,
)
