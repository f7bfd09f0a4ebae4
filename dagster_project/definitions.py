"""The one Definitions object of cdp-pipeline (``dagster dev -w workspace.yaml`` loads it)."""

from __future__ import annotations

import os

import dagster as dg

from cdp_pipeline.settings import cdp_home
from dagster_project.defs.customers import assets as customer_assets
from dagster_project.defs.customers.sensors import customer_inbox_sensor
from dagster_project.defs.shared.resources import WarehouseResource

# CDP_HOME defaults to ./.cdp; the resource reads it from the environment like any deployment.
os.environ.setdefault("CDP_HOME", str(cdp_home()))

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([customer_assets]),
    jobs=[customer_assets.customer_import_job],
    sensors=[customer_inbox_sensor],
    resources={"warehouse": WarehouseResource(cdp_home=dg.EnvVar("CDP_HOME"))},
)
