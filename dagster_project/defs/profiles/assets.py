"""The customer base's purchase profiles and their overview, refreshed after every import."""

import base64

import dagster as dg

from cdp_pipeline.profiles import customer_overview as overview_of
from cdp_pipeline.profiles import overview_chart, refresh_customer_profiles
from dagster_project.defs.shared.resources import WAREHOUSE_POOL, WarehouseResource

GROUP = "profiles"


@dg.asset(group_name=GROUP, pool=WAREHOUSE_POOL, deps=["customers", "orders"])
def customer_profiles(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """customer_id, points, order_count, order_amount, first and last purchase (accepted orders only)."""
    with warehouse.connect() as con:
        rows = refresh_customer_profiles(con)
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})


@dg.asset(group_name=GROUP, pool=WAREHOUSE_POOL, deps=[customer_profiles])
def customer_overview(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Value, activity and spending-power distributions, as a table and a chart in the UI."""
    with warehouse.connect() as con:
        overview = overview_of(con)
    chart = overview_chart(overview, warehouse.paths.home / "reports" / "customer_overview.png")
    image = base64.b64encode(chart.read_bytes()).decode()
    return dg.MaterializeResult(
        metadata={
            "distributions": dg.MetadataValue.md(overview.to_markdown(index=False)),
            "chart": dg.MetadataValue.md(f"![customer overview](data:image/png;base64,{image})"),
            "chart_file": dg.MetadataValue.path(str(chart)),
            "customers": int(overview.loc[overview["dimension"] == "value", "customers"].sum()),
        }
    )


customer_profiles_job = dg.define_asset_job(
    "customer_profiles_refresh",
    selection=dg.AssetSelection.groups(GROUP),
    executor_def=dg.in_process_executor,
    description="Refresh the purchase profiles and the overview charts.",
)
