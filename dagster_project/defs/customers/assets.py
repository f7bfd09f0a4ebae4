"""Customer import assets: file → staging rows → validated rows → matched rows → customer base.

Each asset is one step of ``cdp_pipeline.customer_import``; state between steps lives in the
file's staging schema in the warehouse, so a failed run can be re-executed from any step.
"""

from pathlib import Path

import dagster as dg

from cdp_pipeline import customer_import as ci
from cdp_pipeline.batches import file_sha256, load_context, partition_key_for
from cdp_pipeline.errors import FileRejected
from cdp_pipeline.inbox import locate_file
from cdp_pipeline.settings import CustomerImportSettings
from cdp_pipeline.warehouse import table_row_counts
from dagster_project.defs.customers.partitions import customer_files
from dagster_project.defs.shared.config import import_run_config_class, settings_run_config
from dagster_project.defs.shared.metadata import column_names, markdown_table, table_results
from dagster_project.defs.shared.resources import WAREHOUSE_POOL, ImportLockResource, WarehouseResource

GROUP = "customers"
BASE_TABLES = (
    "customers",
    "customer_identities",
    "customer_attributes",
    "tags",
    "customer_tags",
    "groups",
    "group_members",
    "customer_events",
    "import_failures",
    "import_row_outcomes",
    "import_batches",
)


class CustomerFileConfig(dg.Config):
    """Where the file is; without a path the partition's file is looked up in inbox and archive."""

    source_path: str | None = None
    move_source: bool = False


CustomerImportConfig = import_run_config_class(
    CustomerImportSettings, "CustomerImportConfig", "The import settings of SPEC §2 (the CLI's flags)."
)


def customer_import_run_config(
    source_path: str, settings: CustomerImportSettings, force: bool = False, move_source: bool = False
) -> dict:
    """Run config for one file's import run (CLI and sensor build the same one)."""
    return {
        "ops": {
            "customer_file": {"config": {"source_path": source_path, "move_source": move_source}},
            "customer_staging_rows": {"config": settings_run_config(settings, force)},
        }
    }


@dg.asset(partitions_def=customer_files, group_name=GROUP, pool=WAREHOUSE_POOL)
def customer_file(
    context: dg.AssetExecutionContext,
    config: CustomerFileConfig,
    warehouse: WarehouseResource,
    import_lock: ImportLockResource,
) -> dg.Output[dict]:
    """The dropped file itself: located, hashed and checked against its partition key."""
    key = context.partition_key
    path = Path(config.source_path) if config.source_path else locate_file(warehouse.paths, "customers", key)
    if path is None or not path.is_file():
        raise FileRejected(path or key, "the file of this partition is neither in the inbox nor in the archive")
    if config.move_source and path.is_symlink():  # put there since the sensor looked
        raise FileRejected(path, "is a symbolic link; the inbox imports only files dropped into it")
    sha256 = file_sha256(path)
    if partition_key_for(sha256) != key:
        raise FileRejected(path, f"its content changed since it was registered as partition {key}")
    return dg.Output(
        {"path": str(path), "sha256": sha256, "move_source": config.move_source},
        metadata={"file_name": path.name, "bytes": path.stat().st_size, "sha256": sha256},
    )


@dg.asset(partitions_def=customer_files, group_name=GROUP, pool=WAREHOUSE_POOL)
def customer_staging_rows(
    context: dg.AssetExecutionContext,
    config: CustomerImportConfig,
    warehouse: WarehouseResource,
    import_lock: ImportLockResource,
    customer_file: dict,
) -> dg.MaterializeResult:
    """The file's records as text cells in DuckDB, cleaned into customer fields."""
    with warehouse.connect() as con:
        staged = ci.stage_customer_file(
            con,
            Path(customer_file["path"]),
            config.settings(),
            warehouse.paths,
            warehouse.catalogue(),
            force=config.force,
            sha256=customer_file["sha256"],
            move_source=customer_file["move_source"],
        )
        rows = (
            0
            if staged.status != "staged"
            else con.execute(f"SELECT count(*) FROM {staged.staging}.customer_rows").fetchone()[0]
        )
    return dg.MaterializeResult(
        metadata={
            "batch_id": staged.batch_id,
            "status": staged.status,
            "rows": rows,
            "encoding": staged.encoding,
            "refused_columns": column_names(staged.refused),
            "unknown_columns": column_names(staged.unknown),
        }
    )


@dg.asset(partitions_def=customer_files, group_name=GROUP, pool=WAREHOUSE_POOL, deps=[customer_staging_rows])
def validated_customer_rows(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, import_lock: ImportLockResource
) -> dg.MaterializeResult:
    """Every row's verdict under the pandera contract (data_contracts/customer_rows.py)."""
    with warehouse.connect() as con:
        staged = load_context(con, ci.KIND, context.partition_key)
        failures = ci.validate_customer_rows(con, staged)
    return dg.MaterializeResult(
        metadata={"invalid_rows_by_reason": dg.MetadataValue.json(failures), "invalid_rows": sum(failures.values())}
    )


@dg.multi_asset(
    partitions_def=customer_files,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    specs=[
        dg.AssetSpec(
            "matched_customer_rows",
            deps=[validated_customer_rows],
            description="Each row's outcome: duplicates in the file, then priority matching.",
        ),
        *(dg.AssetSpec(table, deps=["matched_customer_rows"]) for table in BASE_TABLES),
    ],
)
def customer_base(context: dg.AssetExecutionContext, warehouse: WarehouseResource, import_lock: ImportLockResource):
    """Match and write in one step: matching must see the same base that the transaction writes."""
    with warehouse.connect() as con:
        staged = load_context(con, ci.KIND, context.partition_key)
        counts = ci.match_customer_rows(con, staged)
        reasons = ci.failure_reasons(con, staged) if counts else {}
        preview = ci.preview(con, staged) if counts else []
        summary = ci.write_customer_base(con, staged, warehouse.paths)
        row_counts = table_row_counts(con, BASE_TABLES)
    context.log.info(f"{staged.file_name}: {summary['status']} batch {summary['batch_id']}")
    yield dg.MaterializeResult(
        asset_key="matched_customer_rows",
        metadata={
            **counts,
            "preview": markdown_table(preview),
            "failure_reasons": dg.MetadataValue.json(reasons),
            "summary": dg.MetadataValue.json(summary),
        },
    )
    yield from table_results(BASE_TABLES, summary, row_counts)


customer_import_job = dg.define_asset_job(
    "customer_import",
    selection=dg.AssetSelection.groups(GROUP),
    executor_def=dg.in_process_executor,
    description="Import one customer file (a partition of customer_files) into the customer base.",
)
