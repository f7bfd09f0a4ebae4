"""The customer import through real Dagster machinery: Definitions, partitioned
materialization on an on-disk instance, the inbox sensor, and the warehouse pool."""

from __future__ import annotations

import json
import os
import time

import dagster as dg
import duckdb

from cdp_pipeline.batches import file_sha256, partition_key_for
from cdp_pipeline.settings import CdpPaths, CustomerImportSettings

CUSTOMERS = "客户ID,姓名,手机号码,邮箱,微信openid\n,张三,13800138000,zs@example.com,oA1\n,李四,13900139000,,\n,,,,\n"


def sensor_context(paths: CdpPaths, defs: dg.Definitions, cursor: str | None = None):
    from dagster_project.defs.shared.resources import WarehouseResource

    return dg.build_sensor_context(
        instance=dg.DagsterInstance.get(),
        cursor=cursor,
        definitions=defs,
        resources={"warehouse": WarehouseResource(cdp_home=str(paths.home))},
    )


def warehouse_rows(paths: CdpPaths, sql: str) -> list[tuple]:
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_definitions_load_with_customer_assets_job_and_sensor(defs: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("customer_import")
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "customer_file",
        "customer_staging_rows",
        "validated_customer_rows",
        "matched_customer_rows",
        "customers",
        "customer_identities",
        "tags",
        "customer_tags",
        "groups",
        "group_members",
        "customer_events",
        "import_batches",
        "import_failures",
        "import_row_outcomes",
    } <= keys
    assert job.executor_def.name == "in_process"
    assert defs.resolve_sensor_def("customer_inbox_sensor").job_name == "customer_import"


def test_materialize_a_partition_imports_the_file_and_records_metadata(cdp: CdpPaths, defs) -> None:
    from dagster_project.defs.customers.assets import customer_import_run_config

    source = cdp.home / "user_2024-05-01.csv"
    source.write_text(CUSTOMERS, encoding="utf-8")
    key = partition_key_for(file_sha256(source))
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("customer_files", [key])
    result = defs.resolve_job_def("customer_import").execute_in_process(
        partition_key=key,
        instance=instance,
        run_config=customer_import_run_config(str(source), CustomerImportSettings(tags=("vip",), group="g")),
    )
    assert result.success
    materialized = {m.asset_key.to_user_string(): m for m in result.asset_materializations_for_node("customer_base")}
    summary = materialized["matched_customer_rows"].metadata["summary"].value
    assert (summary["scanned"], summary["created"], summary["skipped"], summary["failed"]) == (3, 2, 1, 0)
    preview = materialized["matched_customer_rows"].metadata["preview"].value
    assert "138****8000" in preview and "13800138000" not in preview
    assert warehouse_rows(cdp, "SELECT count(*) FROM customers") == [(2,)]
    assert warehouse_rows(cdp, "SELECT name FROM groups") == [("g",)]
    runs = instance.get_runs()
    assert runs and runs[0].tags["dagster/partition"] == key
    # the staging schema of the file is gone once the batch is written
    assert warehouse_rows(cdp, "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'stg_%'") == [
        (0,)
    ]


def test_sensor_waits_for_stable_files_then_requests_one_run_per_hash(cdp: CdpPaths, defs) -> None:
    from dagster_project.defs.customers.sensors import customer_inbox_sensor

    inbox = cdp.inbox("customers")
    first = inbox / "user_2024-05-01.csv"
    first.write_text(CUSTOMERS, encoding="utf-8")
    (inbox / "user_2024-05-01.csv.yaml").write_text("tags: [from-sidecar]\ngroup: sidecar group\n", encoding="utf-8")

    tick1 = customer_inbox_sensor(sensor_context(cdp, defs))
    assert tick1.run_requests == []  # seen once: not yet known to be fully written

    tick2 = customer_inbox_sensor(sensor_context(cdp, defs, tick1.cursor))
    sha = file_sha256(first)
    assert [r.run_key for r in tick2.run_requests] == [f"customers-{sha}"]
    request = tick2.run_requests[0]
    assert request.partition_key == partition_key_for(sha)
    assert tick2.dynamic_partitions_requests[0].partition_keys == [partition_key_for(sha)]
    config = request.run_config["ops"]["customer_staging_rows"]["config"]
    assert config["tags"] == ["from-sidecar"] and config["group"] == "sidecar group"
    assert request.run_config["ops"]["customer_file"]["config"]["move_source"] is True

    # a file still growing between ticks is not requested
    growing = inbox / "user_2024-05-02.csv"
    growing.write_text(CUSTOMERS, encoding="utf-8")
    tick3 = customer_inbox_sensor(sensor_context(cdp, defs, tick2.cursor))
    with growing.open("a", encoding="utf-8") as handle:
        handle.write(",王五,13700137000,,\n")
    os.utime(growing, ns=(time.time_ns(), time.time_ns() + 10**9))
    tick4 = customer_inbox_sensor(sensor_context(cdp, defs, tick3.cursor))
    assert growing.name not in {r.tags["cdp/file_name"] for r in tick4.run_requests}
    assert json.loads(tick4.cursor)[first.name][2] == sha  # the hash is remembered, not recomputed


def test_sensor_runs_import_files_and_empty_the_inbox(cdp: CdpPaths, defs) -> None:
    """Several files dropped together all import, one run each, on the shared instance."""
    from dagster_project.defs.customers.sensors import customer_inbox_sensor

    inbox = cdp.inbox("customers")
    (inbox / "a.csv").write_text(CUSTOMERS, encoding="utf-8")
    (inbox / "b.csv").write_text("手机号码,姓名\n13500135000,周九\n13400134000,吴十\n", encoding="utf-8")
    instance = dg.DagsterInstance.get()
    tick1 = customer_inbox_sensor(sensor_context(cdp, defs))
    tick2 = customer_inbox_sensor(sensor_context(cdp, defs, tick1.cursor))
    assert len(tick2.run_requests) == 2
    instance.add_dynamic_partitions("customer_files", tick2.dynamic_partitions_requests[0].partition_keys)
    job = defs.resolve_job_def("customer_import")
    for request in tick2.run_requests:
        result = job.execute_in_process(
            partition_key=request.partition_key, run_config=request.run_config, instance=instance, tags=request.tags
        )
        assert result.success
    assert warehouse_rows(cdp, "SELECT count(*), sum(scanned) FROM import_batches") == [(2, 5)]
    assert sorted(p.name for p in inbox.iterdir()) == []
    assert len(list(cdp.archive.glob("*/*.csv"))) == 2


def test_warehouse_pool_is_limited_to_one_slot(cdp: CdpPaths, defs) -> None:
    instance = dg.DagsterInstance.get()
    assert instance.event_log_storage.supports_global_concurrency_limits
    assets = [a for a in defs.resolve_all_asset_specs() if a.group_name == "customers"]
    assert assets
    job = defs.resolve_job_def("customer_import")
    assert {node.definition.pool for node in job.nodes} == {"warehouse"}
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
