"""The customer import through real Dagster machinery: Definitions, partitioned
materialization on an on-disk instance, the inbox sensor, and the warehouse pool."""

from __future__ import annotations

import json
import os
import time

import dagster as dg
import duckdb

from cdp_pipeline.batches import file_partition_key, file_sha256
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
        "customer_import_batches",
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
    from dagster_project.defs.imports.definitions import IMPORTS

    source = cdp.home / "user_2024-05-01.csv"
    source.write_text(CUSTOMERS, encoding="utf-8")
    key = file_partition_key(source.name, file_sha256(source))
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("customer_files", [key])
    result = defs.resolve_job_def("customer_import").execute_in_process(
        partition_key=key,
        instance=instance,
        run_config=IMPORTS["customers"].run_config([str(source)], CustomerImportSettings(tags=("vip",), group="g")),
    )
    assert result.success
    materialized = {
        m.asset_key.to_user_string(): m for m in result.asset_materializations_for_node("customer_import_batches")
    }
    summary = materialized["customer_import_batches"].metadata["summary"].value
    assert (summary["scanned"], summary["created"], summary["skipped"], summary["failed"]) == (3, 2, 1, 0)
    preview = materialized["customer_import_batches"].metadata["preview"].value
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
    from dagster_project.defs.imports.definitions import IMPORTS

    customer_inbox_sensor = IMPORTS["customers"].sensor

    inbox = cdp.inbox("customers")
    first = inbox / "user_2024-05-01.csv"
    first.write_text(CUSTOMERS, encoding="utf-8")
    (inbox / "user_2024-05-01.csv.yaml").write_text("tags: [from-sidecar]\ngroup: sidecar group\n", encoding="utf-8")

    tick1 = customer_inbox_sensor(sensor_context(cdp, defs))
    assert tick1.run_requests == []  # seen once: not yet known to be fully written

    tick2 = customer_inbox_sensor(sensor_context(cdp, defs, tick1.cursor))
    sha = file_sha256(first)
    # the run key: the bytes' hash and the drop (name, size, mtime) — the same drop is requested once
    [run_key] = [r.run_key for r in tick2.run_requests]
    assert run_key.startswith(f"customers-{sha}-") and len(run_key) == len(f"customers-{sha}-") + 12
    request = tick2.run_requests[0]
    assert request.partition_key == file_partition_key(first.name, sha)
    assert tick2.dynamic_partitions_requests[0].partition_keys == [file_partition_key(first.name, sha)]
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
    from dagster_project.defs.imports.definitions import IMPORTS

    customer_inbox_sensor = IMPORTS["customers"].sensor

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
    """Only the step that writes the warehouse is in its pool (issue 11 item 2: files stage and
    validate outside it); the pool has one slot."""
    instance = dg.DagsterInstance.get()
    assert instance.event_log_storage.supports_global_concurrency_limits
    assets = [a for a in defs.resolve_all_asset_specs() if a.group_name == "customer_import"]
    assert assets
    for job_name in ("customer_import", "tmall_import"):
        pools = {node.name: node.definition.pool for node in defs.resolve_job_def(job_name).nodes}
        assert {name for name, pool in pools.items() if pool == "warehouse"} == {f"{job_name}_batches"}
        assert set(pools.values()) == {"warehouse", None}
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


def alias_bomb() -> str:
    """Nine levels of nine aliases to the level below: under 300 bytes, 9**9 leaves once walked."""
    levels = ["&a [" + ",".join("x" * 9) + "]"]
    levels += [f"&{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    return "tags: [" + ", ".join(levels) + "]\n"


def test_sensor_tick_requests_the_good_file_beside_bad_sidecars_and_links(cdp: CdpPaths, defs, tmp_path) -> None:
    """Issue 14 item 12: a malformed sidecar, an alias bomb and links sit beside a good file:
    the tick returns at once and requests the good file's run; the others wait with their reason
    (the skip reason of a tick with nothing to run). Before, the tick raised, or never returned,
    and a linked file outside the inbox was imported."""
    from dagster_project.defs.imports.definitions import IMPORTS

    customer_inbox_sensor = IMPORTS["customers"].sensor

    inbox = cdp.inbox("customers")
    (inbox / "good.csv").write_text(CUSTOMERS, encoding="utf-8")
    (inbox / "good.csv.yaml").write_text("tags: [from-sidecar]\n", encoding="utf-8")
    (inbox / "bad.csv").write_text("手机号码\n13500135000\n", encoding="utf-8")
    (inbox / "bad.csv.yaml").write_text("tagz: [typo]\n", encoding="utf-8")
    (inbox / "bomb.csv").write_text("手机号码\n13400134000\n", encoding="utf-8")
    (inbox / "bomb.csv.yaml").write_text(alias_bomb(), encoding="utf-8")
    outside = tmp_path / "outside.csv"
    outside.write_text("手机号码\n13300133000\n", encoding="utf-8")
    (inbox / "linked.csv").symlink_to(outside)
    secret = tmp_path / "secret.txt"
    secret.write_text("password: hunter2\n", encoding="utf-8")
    (inbox / "secret.csv").write_text("手机号码\n13200132000\n", encoding="utf-8")
    (inbox / "secret.csv.yaml").symlink_to(secret)

    started = time.monotonic()
    tick1 = customer_inbox_sensor(sensor_context(cdp, defs))
    tick2 = customer_inbox_sensor(sensor_context(cdp, defs, tick1.cursor))
    assert time.monotonic() - started < 5
    assert [r.tags["cdp/file_name"] for r in tick2.run_requests] == ["good.csv"]
    config = tick2.run_requests[0].run_config["ops"]["customer_staging_rows"]["config"]
    assert config["tags"] == ["from-sidecar"]
    reasons = {name: look[4] for name, look in json.loads(tick2.cursor).items() if len(look) > 4 and look[4]}
    assert set(reasons) == {"bad.csv", "bomb.csv", "secret.csv"}
    assert reasons["bad.csv"].startswith("bad.csv.yaml: has an unknown setting 'tagz'")
    assert reasons["bomb.csv"].startswith("bomb.csv.yaml: uses a YAML anchor")
    assert "hunter2" not in tick2.cursor

    # the good file imported and gone, the others still wait; the tick says which and why
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("customer_files", tick2.dynamic_partitions_requests[0].partition_keys)
    request = tick2.run_requests[0]
    result = defs.resolve_job_def("customer_import").execute_in_process(
        partition_key=request.partition_key, run_config=request.run_config, instance=instance, tags=request.tags
    )
    assert result.success
    tick3 = customer_inbox_sensor(sensor_context(cdp, defs, tick2.cursor))
    assert tick3.run_requests == []
    message = tick3.skip_reason.skip_message
    for words in (
        "bad.csv is not imported: bad.csv.yaml: has an unknown setting 'tagz'",
        "bomb.csv is not imported: bomb.csv.yaml: uses a YAML anchor",
        "linked.csv is not imported: it is a symbolic link",
        "secret.csv is not imported: secret.csv.yaml: is a symbolic link",
    ):
        assert words in message
    assert "hunter2" not in message
    assert warehouse_rows(cdp, "SELECT file_name FROM import_batches") == [("good.csv",)]
    assert outside.exists() and not list(cdp.archive.glob("*/outside.csv"))


def test_sidecar_leaves_the_inbox_with_its_file(cdp: CdpPaths, defs) -> None:
    """Issue 14 item 12: an imported file's sidecar is archived beside it; the sidecar of bytes
    already imported leaves the inbox with them. Before, sidecars stayed in the inbox forever
    (and would apply to the next file dropped under that name)."""
    from dagster_project.defs.imports.definitions import IMPORTS

    customer_inbox_sensor = IMPORTS["customers"].sensor

    inbox = cdp.inbox("customers")
    (inbox / "a.csv").write_text(CUSTOMERS, encoding="utf-8")
    (inbox / "a.csv.yaml").write_text("tags: [first]\n", encoding="utf-8")
    instance = dg.DagsterInstance.get()
    job = defs.resolve_job_def("customer_import")

    def import_what_the_sensor_sees() -> list[dg.ExecuteInProcessResult]:
        tick = customer_inbox_sensor(sensor_context(cdp, defs))
        tick = customer_inbox_sensor(sensor_context(cdp, defs, tick.cursor))
        for partitions in tick.dynamic_partitions_requests:
            instance.add_dynamic_partitions("customer_files", partitions.partition_keys)
        return [
            job.execute_in_process(partition_key=r.partition_key, run_config=r.run_config, instance=instance)
            for r in tick.run_requests
        ]

    assert [r.success for r in import_what_the_sensor_sees()] == [True]
    assert list(inbox.iterdir()) == []
    (batch,) = cdp.archive.iterdir()
    assert sorted(p.name for p in batch.iterdir()) == ["a.csv", "a.csv.yaml"]
    assert (batch / "a.csv.yaml").read_text(encoding="utf-8") == "tags: [first]\n"

    (inbox / "again.csv").write_text(CUSTOMERS, encoding="utf-8")
    (inbox / "again.csv.json").write_text('{"tags": ["second"]}', encoding="utf-8")
    assert [r.success for r in import_what_the_sensor_sees()] == [True]
    assert list(inbox.iterdir()) == []
    assert [p.name for p in cdp.archive.iterdir()] == [batch.name]
    assert warehouse_rows(cdp, "SELECT count(*) FROM import_batches") == [(1,)]
