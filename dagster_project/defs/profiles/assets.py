"""The overview of the customer base's purchase profiles, refreshed whenever an import has
materialized customer_profiles (declarative automation)."""

import base64

import dagster as dg

from cdp_pipeline.profiles import customer_overview as overview_of
from cdp_pipeline.profiles import overview_chart
from dagster_project.defs.shared.imports import OWNERS
from dagster_project.defs.shared.resources import WAREHOUSE_POOL, WarehouseResource

GROUP = "profiles"


@dg.asset(
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    deps=["customer_profiles"],
    kinds={"duckdb", "matplotlib"},
    owners=OWNERS,
    automation_condition=dg.AutomationCondition.eager(),
)
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


defs = dg.Definitions(assets=[customer_overview])
