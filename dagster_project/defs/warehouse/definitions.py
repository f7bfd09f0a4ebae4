"""The warehouse tables as assets: each declared once, described by its comment in sql/schema.sql,
and materialized by the import runs that write it (their write step reports the table's row
count, columns and a masked preview). Not partitioned: each table is one growing whole, so the UI
shows its current state; the partitions are the files, on each kind's import assets."""

import dagster as dg

from cdp_pipeline.engine import ImportKind
from cdp_pipeline.kinds import KINDS
from cdp_pipeline.warehouse import table_descriptions
from dagster_project.defs.shared.imports import OWNERS

# Tables outside the customer base itself, by what they hold.
TABLE_GROUPS = {
    "orders": ("orders", "order_items", "tmall_order_history", "tmall_item_history"),
    "import_records": ("import_batches", "import_failures", "import_row_outcomes"),
}


def table_specs(kinds: tuple[ImportKind, ...]) -> list[dg.AssetSpec]:
    """One asset per table the kinds write, downstream of the validated rows of each kind writing it."""
    descriptions = table_descriptions()
    group_of = {table: group for group, tables in TABLE_GROUPS.items() for table in tables}
    tables = dict.fromkeys(table for kind in kinds for table in kind.tables)
    return [
        dg.AssetSpec(
            table,
            description=descriptions[table],
            deps=[kind.names.validated_asset for kind in kinds if table in kind.tables],
            kinds={"duckdb", "table"},
            owners=OWNERS,
            group_name=group_of.get(table, "customer_base"),
            metadata={"dagster/table_name": f"warehouse.main.{table}"},
        )
        for table in tables
    ]


defs = dg.Definitions(assets=table_specs(KINDS))
