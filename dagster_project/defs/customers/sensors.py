"""Watch ``inbox/customers/``: each fully written file becomes a partition and an import run."""

import json

import dagster as dg

from cdp_pipeline.inbox import scan_inbox
from cdp_pipeline.sidecars import customer_sidecar
from dagster_project.defs.customers.assets import customer_import_job, customer_import_run_config
from dagster_project.defs.customers.partitions import customer_files
from dagster_project.defs.shared.resources import WarehouseResource
from dagster_project.instance import recover_dead_runs


@dg.sensor(job=customer_import_job, minimum_interval_seconds=10, default_status=dg.DefaultSensorStatus.RUNNING)
def customer_inbox_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    """Files whose size and mtime (and their sidecar's) held still since the last tick are
    imported, keyed by content hash, with the settings of their sidecar.

    The run key carries the hash, so the same bytes are never imported twice (Dagster skips a
    run key it has seen); a failed run is re-executed from the UI with the same config. A file
    whose sidecar cannot be used (or that is a link) waits in the inbox, and the tick says why.
    """
    # a killed run would hold the warehouse pool slot forever
    recover_dead_runs(context.instance, warehouse.paths.warehouse)
    previous = json.loads(context.cursor) if context.cursor else {}
    scan = scan_inbox(warehouse.paths.inbox("customers"), previous, customer_sidecar)
    for held in scan.held:
        context.log.warning(str(held))
    # one query for the known partitions, not one per file (a full inbox holds thousands)
    known = set(context.instance.get_dynamic_partitions(customer_files.name)) if scan.ready else set()
    new_keys = sorted({f.key for f in scan.ready} - known)
    requests = [
        dg.RunRequest(
            run_key=f"customers-{f.sha256}",
            partition_key=f.key,
            run_config=customer_import_run_config(str(f.path), f.settings, move_source=True),
            tags={"cdp/file_name": f.path.name, "cdp/kind": "customers"},
        )
        for f in scan.ready
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[customer_files.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps(scan.cursor, ensure_ascii=False),
        skip_reason=scan.message() if not requests else None,
    )
