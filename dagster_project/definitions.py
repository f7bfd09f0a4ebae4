"""The one Definitions object of cdp-pipeline (``dagster dev -w workspace.yaml`` loads it): every
area's definitions, with the resources bound once."""

import os

import dagster as dg

from cdp_pipeline.settings import cdp_home
from dagster_project.defs.imports.definitions import defs as import_defs
from dagster_project.defs.profiles.assets import defs as profile_defs
from dagster_project.defs.shared.resources import IMPORT_LOCK, ImportLockResource, WarehouseResource
from dagster_project.defs.warehouse.definitions import defs as warehouse_defs

# CDP_HOME defaults to ./.cdp; the resource reads it from the environment like any deployment.
os.environ.setdefault("CDP_HOME", str(cdp_home()))

defs = dg.Definitions.merge(
    import_defs,
    warehouse_defs,
    profile_defs,
    dg.Definitions(
        resources={
            "warehouse": WarehouseResource(cdp_home=dg.EnvVar("CDP_HOME")),
            IMPORT_LOCK: ImportLockResource(cdp_home=dg.EnvVar("CDP_HOME")),
        }
    ),
)
