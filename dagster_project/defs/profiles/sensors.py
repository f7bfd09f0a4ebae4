"""After every successful import run, refresh the profiles and the overview."""

import dagster as dg

from dagster_project.defs.customers.assets import customer_import_job
from dagster_project.defs.profiles.assets import customer_profiles_job
from dagster_project.defs.tmall.assets import tmall_import_job


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[customer_import_job, tmall_import_job],
    request_job=customer_profiles_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def profiles_after_import(context: dg.RunStatusSensorContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=f"profiles-after-{context.dagster_run.run_id}")
