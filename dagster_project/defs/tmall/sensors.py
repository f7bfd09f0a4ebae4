"""Watch ``inbox/tmall/``: each fully written order/item report pair becomes a partition and a run."""

import json

import dagster as dg

from cdp_pipeline.batches import partition_key_for
from cdp_pipeline.inbox import scan_inbox, tmall_pairs
from cdp_pipeline.sidecars import tmall_sidecar
from cdp_pipeline.tmall_import import pair_sha256
from dagster_project.defs.shared.resources import WarehouseResource
from dagster_project.defs.tmall.assets import tmall_import_job, tmall_import_run_config
from dagster_project.defs.tmall.partitions import tmall_exports
from dagster_project.instance import recover_dead_runs


@dg.sensor(job=tmall_import_job, minimum_interval_seconds=10, default_status=dg.DefaultSensorStatus.RUNNING)
def tmall_inbox_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    """Pairs whose two files held still since the last tick are imported, keyed by both hashes;
    a report whose partner has not arrived waits, and so does a file whose sidecar cannot be
    used; the tick says why."""
    # a killed run would hold the warehouse pool slot forever
    recover_dead_runs(context.instance, warehouse.paths.warehouse)
    previous = json.loads(context.cursor) if context.cursor else {}
    scan = scan_inbox(warehouse.paths.inbox("tmall"), previous, tmall_sidecar)
    pairs, alone, held_pairs = tmall_pairs(scan.ready)
    scan.held += held_pairs
    requests, keys = [], []
    for orders, items, settings in pairs:
        sha = pair_sha256(orders.sha256, items.sha256)
        key = partition_key_for(sha)
        keys.append(key)
        requests.append(
            dg.RunRequest(
                run_key=f"tmall-{sha}",
                partition_key=key,
                run_config=tmall_import_run_config(str(orders.path), str(items.path), settings, move_source=True),
                tags={"cdp/file_name": orders.path.name, "cdp/items_file_name": items.path.name, "cdp/kind": "tmall"},
            )
        )
    known = set(context.instance.get_dynamic_partitions(tmall_exports.name)) if keys else set()
    new_keys = sorted(set(keys) - known)
    waiting = f"waiting for the partner of: {', '.join(p.name for p in alone)}" if alone else None
    if waiting:
        context.log.info(waiting)
    for held in scan.held:
        context.log.warning(str(held))
    skipped = "; ".join(filter(None, [waiting, scan.message()])) or None
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[tmall_exports.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps(scan.cursor, ensure_ascii=False),
        skip_reason=skipped if not requests else None,
    )
