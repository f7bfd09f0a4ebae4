"""The sensor that evaluates every asset's automation condition, running from the first start.

Dagster adds a ``default_automation_condition_sensor`` for assets no automation sensor targets,
but that one starts stopped until someone turns it on in the UI; this one is declared running,
so ``customer_overview`` follows the imports in a new deployment as the run-status sensor it
replaces did."""

import dagster as dg

automation_condition_sensor = dg.AutomationConditionSensorDefinition(
    "automation_condition_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
