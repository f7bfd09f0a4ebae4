"""The one Definitions object of cdp-pipeline (``dagster dev -w workspace.yaml`` loads it)."""

import os

import dagster as dg

from cdp_pipeline.settings import cdp_home
from dagster_project.defs.customers import assets as customer_assets
from dagster_project.defs.customers.sensors import customer_inbox_sensor
from dagster_project.defs.profiles import assets as profile_assets
from dagster_project.defs.profiles.sensors import profiles_after_import
from dagster_project.defs.shared.resources import IMPORT_LOCK, ImportLockResource, WarehouseResource
from dagster_project.defs.tmall import assets as tmall_assets
from dagster_project.defs.tmall.sensors import tmall_inbox_sensor

# CDP_HOME defaults to ./.cdp; the resource reads it from the environment like any deployment.
os.environ.setdefault("CDP_HOME", str(cdp_home()))

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([customer_assets, tmall_assets, profile_assets]),
    jobs=[customer_assets.customer_import_job, tmall_assets.tmall_import_job, profile_assets.customer_profiles_job],
    sensors=[customer_inbox_sensor, tmall_inbox_sensor, profiles_after_import],
    resources={
        "warehouse": WarehouseResource(cdp_home=dg.EnvVar("CDP_HOME")),
        IMPORT_LOCK: ImportLockResource(cdp_home=dg.EnvVar("CDP_HOME")),
    },
)
