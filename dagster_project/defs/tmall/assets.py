"""Tmall export assets: export files → staging rows → validated orders → matched orders → orders,
order items and order history (and the customers, events and batch records they touch).

Partitioned per export, so a backfill of years of exports is a Dagster backfill over these
partitions; the latest export of an order wins by export date, whatever order they run in.
"""

from pathlib import Path

import dagster as dg

from cdp_pipeline import tmall_import as ti
from cdp_pipeline.batches import load_context
from cdp_pipeline.errors import FileRejected
from cdp_pipeline.inbox import locate_export
from cdp_pipeline.settings import TmallImportSettings
from cdp_pipeline.warehouse import table_row_counts
from dagster_project.defs.shared.config import import_run_config_class, settings_run_config
from dagster_project.defs.shared.metadata import markdown_table, table_results
from dagster_project.defs.shared.resources import WAREHOUSE_POOL, ImportLockResource, WarehouseResource
from dagster_project.defs.tmall.partitions import tmall_exports

GROUP = "tmall"
ORDER_TABLES = ("orders", "order_items", "tmall_order_history", "tmall_item_history")


class TmallExportConfig(dg.Config):
    """Where the pair is; without paths the partition's pair is looked up in inbox and archive."""

    orders_path: str | None = None
    items_path: str | None = None
    move_source: bool = False


TmallImportConfig = import_run_config_class(
    TmallImportSettings, "TmallImportConfig", "The import settings of a Tmall export (the CLI's flags)."
)


def tmall_import_run_config(
    orders: str, items: str, settings: TmallImportSettings, force: bool = False, move_source: bool = False
) -> dict:
    """Run config for one export's import run (CLI, backfill and sensor build the same one)."""
    return {
        "ops": {
            "tmall_export_files": {"config": {"orders_path": orders, "items_path": items, "move_source": move_source}},
            "tmall_staging_rows": {"config": settings_run_config(settings, force)},
        }
    }


@dg.asset(partitions_def=tmall_exports, group_name=GROUP, pool=WAREHOUSE_POOL)
def tmall_export_files(
    context: dg.AssetExecutionContext,
    config: TmallExportConfig,
    warehouse: WarehouseResource,
    import_lock: ImportLockResource,
) -> dg.Output[dict]:
    """The order report and item report of one export, located and checked against the partition key."""
    key = context.partition_key
    if config.orders_path and config.items_path:
        orders, items = Path(config.orders_path), Path(config.items_path)
    else:
        found = locate_export(warehouse.paths, key)
        if found is None:
            raise FileRejected(key, "the export of this partition is neither in the inbox nor in the archive")
        orders, items = found
    for path in (orders, items) if config.move_source else ():
        if path.is_symlink():  # put there since the sensor looked
            raise FileRejected(path, "is a symbolic link; the inbox imports only files dropped into it")
    if ti.export_key(orders, items) != key:
        raise FileRejected(orders, f"the pair's content changed since it was registered as partition {key}")
    return dg.Output(
        {"orders": str(orders), "items": str(items), "move_source": config.move_source},
        metadata={"orders_file": orders.name, "items_file": items.name},
    )


@dg.asset(partitions_def=tmall_exports, group_name=GROUP, pool=WAREHOUSE_POOL)
def tmall_staging_rows(
    context: dg.AssetExecutionContext,
    config: TmallImportConfig,
    warehouse: WarehouseResource,
    import_lock: ImportLockResource,
    tmall_export_files: dict,
) -> dg.MaterializeResult:
    """Both reports in DuckDB, headers checked against the known Tmall templates, cells cleaned."""
    with warehouse.connect() as con:
        staged = ti.stage_tmall_export(
            con,
            Path(tmall_export_files["orders"]),
            Path(tmall_export_files["items"]),
            config.settings(),
            warehouse.paths,
            force=config.force,
            move_source=tmall_export_files["move_source"],
        )
    return dg.MaterializeResult(
        metadata={
            "batch_id": staged.batch_id,
            "status": staged.status,
            "encoding": staged.encoding,
            "order_template": staged.extra.get("order_template", "-"),
            "item_template": staged.extra.get("item_template", "-"),
            "export_at": staged.extra.get("export_at", "-"),
        }
    )


@dg.asset(partitions_def=tmall_exports, group_name=GROUP, pool=WAREHOUSE_POOL, deps=[tmall_staging_rows])
def validated_tmall_orders(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, import_lock: ImportLockResource
) -> dg.MaterializeResult:
    """Every order row's verdict under the pandera contract (data_contracts/tmall_orders.py)."""
    with warehouse.connect() as con:
        failures = ti.validate_tmall_orders(con, load_context(con, ti.KIND, context.partition_key))
    return dg.MaterializeResult(metadata={"invalid_orders_by_reason": dg.MetadataValue.json(failures)})


@dg.multi_asset(
    partitions_def=tmall_exports,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    specs=[
        dg.AssetSpec(
            "matched_tmall_orders",
            deps=[validated_tmall_orders],
            description="Each order's outcome: statuses, duplicates, buyer ↔ customer by mobile.",
        ),
        *(dg.AssetSpec(table, deps=["matched_tmall_orders"]) for table in ORDER_TABLES),
    ],
)
def tmall_order_base(context: dg.AssetExecutionContext, warehouse: WarehouseResource, import_lock: ImportLockResource):
    """Match and write in one step, for the same reason as customer_base."""
    with warehouse.connect() as con:
        staged = load_context(con, ti.KIND, context.partition_key)
        counts = ti.match_tmall_orders(con, staged)
        reasons = ti.failure_reasons(con, staged) if counts else {}
        summary = ti.write_tmall_orders(con, staged, warehouse.paths)
        row_counts = table_row_counts(con, ORDER_TABLES)
    context.log.info(f"{staged.file_name}: {summary['status']} batch {summary['batch_id']}")
    yield dg.MaterializeResult(
        asset_key="matched_tmall_orders",
        metadata={
            **counts,
            "failure_reasons": dg.MetadataValue.json(reasons),
            "summary": dg.MetadataValue.json(summary),
            "reasons": markdown_table([{"reason_code": k, "orders": v} for k, v in reasons.items()]),
        },
    )
    yield from table_results(ORDER_TABLES, summary, row_counts)


tmall_import_job = dg.define_asset_job(
    "tmall_import",
    selection=dg.AssetSelection.groups(GROUP),
    executor_def=dg.in_process_executor,
    description="Import one Tmall export (a partition of tmall_exports): orders, items, buyers.",
)
