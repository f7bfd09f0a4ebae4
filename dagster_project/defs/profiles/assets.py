"""The overview of the customer base's purchase profiles, brought up to date after every import.

Every import run materializes ``customer_profiles`` (its write transaction rebuilds the profiles
of the batch's customers); the overview's eager automation condition requests it once that
materialization lands and no import that writes the profiles is still in progress, so a burst of
imports is followed by one overview; and only once the blocking checks of the customers table
passed on it (defs/warehouse/checks.py): a base whose customer IDs are not unique is not summarised.
``defs/shared/automation.py`` evaluates the condition from the first start."""

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
    # customers too: the profiles summarise its customers, and its blocking checks must pass first
    deps=["customer_profiles", "customers"],
    kinds={"duckdb", "matplotlib"},
    owners=OWNERS,
    automation_condition=dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed(),
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
