"""Tmall exports and profiles through real Dagster machinery: partitioned materialization, a
backfill over partitions in shuffled order, the pairing sensor, and the profile assets."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb

from cdp_pipeline.batches import content_sha256
from cdp_pipeline.settings import CdpPaths, TmallImportSettings
from cdp_pipeline.tmall_import import TMALL
from samples.tmall import CLOSED, SUCCESS, WAITING_PAYMENT, random_orders, write_tmall_pair


def export_key(orders: Path, items: Path) -> str:
    return TMALL.partition_key([orders, items], content_sha256([orders, items]))


def rows(paths: CdpPaths, sql: str) -> list[tuple]:
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def monthly_exports(folder: Path) -> list[tuple[Path, Path]]:
    """Three monthly exports of overlapping orders whose statuses move on: order 0 is unpaid in
    January and done in February; order 5 is done in January and February, refunded in March."""
    base = random_orders(30, seed=7, statuses=[SUCCESS])
    months = {
        "201701010000": [replace(base[0], status=WAITING_PAYMENT), *base[1:20]],
        "201702010000": base[:25],
        "201703010000": [replace(base[5], status=CLOSED), *base[6:30]],
    }
    return [write_tmall_pair(folder / stamp, orders, stamp=stamp) for stamp, orders in months.items()]


def run_export(defs: dg.Definitions, orders: Path, items: Path) -> dg.ExecuteInProcessResult:
    from dagster_project.defs.imports.definitions import IMPORTS

    instance = dg.DagsterInstance.get()
    key = export_key(orders, items)
    instance.add_dynamic_partitions("tmall_exports", [key])
    return defs.resolve_job_def("tmall_import").execute_in_process(
        partition_key=key,
        instance=instance,
        run_config=IMPORTS["tmall"].run_config([str(orders), str(items)], TmallImportSettings(tags=("tmall",))),
    )


def test_tmall_partition_materializes_orders_with_summary_metadata(cdp: CdpPaths, defs, tmp_path: Path) -> None:
    orders, items = write_tmall_pair(tmp_path / "in", random_orders(12, seed=3, statuses=[SUCCESS]))
    result = run_export(defs, orders, items)
    assert result.success
    materialized = {
        m.asset_key.to_user_string(): m for m in result.asset_materializations_for_node("tmall_import_batches")
    }
    summary = materialized["tmall_import_batches"].metadata["summary"].value
    assert (summary["orders_scanned"], summary["orders_imported"], summary["orders_failed"]) == (12, 12, 0)
    assert materialized["orders"].metadata["dagster/row_count"].value == 12
    assert rows(cdp, "SELECT count(*) FROM orders") == [(12,)]
    assert rows(cdp, "SELECT count(*) FROM customer_events WHERE event_type = 'purchase'") == [(12,)]


def test_backfill_over_partitions_in_any_order_ends_like_date_order(tmp_path: Path, monkeypatch) -> None:
    """Issue 4: importing months in any order gives the same result as in date order."""
    from dagster_project.definitions import defs
    from dagster_project.instance import ensure_dagster_home

    pairs = monthly_exports(tmp_path / "exports")
    finals = []
    for name, order in (("dated", pairs), ("shuffled", random.Random(5).sample(pairs, 3)), ("reversed", pairs[::-1])):
        home = tmp_path / name
        monkeypatch.setenv("CDP_HOME", str(home))
        monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
        paths = CdpPaths(home).ensure()
        ensure_dagster_home(paths)
        for orders, items in order:
            assert run_export(defs, orders, items).success
        finals.append(
            (
                rows(paths, "SELECT order_id, status, paid_amount, receiver_mobile FROM orders ORDER BY order_id"),
                rows(
                    paths,
                    "SELECT c.mobile, p.order_count, p.order_amount FROM customer_profiles p "
                    "JOIN customers c USING (customer_id) ORDER BY c.mobile",
                ),
                rows(paths, "SELECT count(*) FROM customer_events WHERE event_type = 'purchase'"),
            )
        )
    assert finals[0] == finals[1] == finals[2]
    statuses = dict((order_id, status) for order_id, status, _, _ in finals[0][0])
    assert len(statuses) == 30
    assert list(statuses.values()).count(CLOSED) == 1


def test_tmall_sensor_pairs_reports_and_waits_for_a_lone_file(cdp: CdpPaths, defs) -> None:
    from dagster_project.defs.imports.definitions import IMPORTS

    tmall_inbox_sensor = IMPORTS["tmall"].sensor

    from dagster_project.defs.shared.resources import WarehouseResource

    inbox = cdp.inbox("tmall")
    orders, items = write_tmall_pair(inbox, random_orders(5, seed=1, statuses=[SUCCESS]), stamp="201801010000")
    lone, _ = write_tmall_pair(cdp.home / "elsewhere", random_orders(3, seed=2), stamp="201802010000")
    (inbox / lone.name).write_bytes(lone.read_bytes())

    def tick(cursor=None):
        return tmall_inbox_sensor(
            dg.build_sensor_context(
                instance=dg.DagsterInstance.get(),
                cursor=cursor,
                definitions=defs,
                resources={"warehouse": WarehouseResource(cdp_home=str(cdp.home))},
            )
        )

    first = tick()
    assert first.run_requests == []
    second = tick(first.cursor)
    assert len(second.run_requests) == 1
    request = second.run_requests[0]
    assert request.partition_key == export_key(orders, items)
    assert request.run_config["ops"]["tmall_export"]["config"]["items_path"] == str(items)
    assert second.dynamic_partitions_requests[0].partition_keys == [request.partition_key]


def test_profile_assets_materialize_table_overview_and_chart(cdp: CdpPaths, defs, tmp_path: Path) -> None:
    orders, items = write_tmall_pair(tmp_path / "in", random_orders(20, seed=4, statuses=[SUCCESS, CLOSED]))
    assert run_export(defs, orders, items).success
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.get(), asset_selection=[dg.AssetKey("customer_overview")]
    )
    assert result.success
    overview = {
        m.asset_key.to_user_string(): m
        for m in result.get_asset_materialization_events()
        and [e.materialization for e in result.get_asset_materialization_events()]
    }
    metadata = overview["customer_overview"].metadata
    assert "spending_power" in metadata["distributions"].value
    assert metadata["chart"].value.startswith("![customer overview](data:image/png;base64,")
    assert Path(metadata["chart_file"].value).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    customers = rows(cdp, "SELECT count(*) FROM customers")[0][0]
    assert metadata["customers"].value == customers
    assert rows(cdp, "SELECT count(*) FROM customer_profiles") == [(customers,)]
    automation = defs.resolve_assets_def("customer_overview").automation_conditions_by_key
    assert automation[dg.AssetKey("customer_overview")] == (
        dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
    )


def test_tmall_sensor_requests_the_good_pair_beside_a_bad_sidecar(cdp: CdpPaths, defs) -> None:
    """Issue 14 item 12: an order report whose sidecar names a path (``items: ../x``) waits,
    with its reason in the tick; the good pair beside it is requested, and once imported its
    sidecar is archived beside it. Before, the tick raised and no pair was imported."""
    from dagster_project.defs.imports.definitions import IMPORTS

    tmall_inbox_sensor = IMPORTS["tmall"].sensor

    from dagster_project.defs.shared.resources import WarehouseResource

    inbox = cdp.inbox("tmall")
    orders, items = write_tmall_pair(inbox, random_orders(5, seed=1, statuses=[SUCCESS]), stamp="201801010000")
    (inbox / f"{orders.name}.yaml").write_text(f"items: {items.name}\ntags: [tm]\n", encoding="utf-8")
    bad, _ = write_tmall_pair(inbox, random_orders(3, seed=2, statuses=[SUCCESS]), stamp="201802010000")
    (inbox / f"{bad.name}.yaml").write_text("items: ../../secret.csv\n", encoding="utf-8")

    def tick(cursor=None):
        return tmall_inbox_sensor(
            dg.build_sensor_context(
                instance=dg.DagsterInstance.get(),
                cursor=cursor,
                definitions=defs,
                resources={"warehouse": WarehouseResource(cdp_home=str(cdp.home))},
            )
        )

    second = tick(tick().cursor)
    (request,) = second.run_requests
    assert request.partition_key == export_key(orders, items)
    assert request.run_config["ops"]["tmall_staging_rows"]["config"]["tags"] == ["tm"]
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("tmall_exports", [request.partition_key])
    result = defs.resolve_job_def("tmall_import").execute_in_process(
        partition_key=request.partition_key, run_config=request.run_config, instance=instance
    )
    assert result.success
    (batch,) = cdp.archive.iterdir()
    assert sorted(p.name for p in batch.iterdir()) == sorted([orders.name, items.name, f"{orders.name}.yaml"])
    third = tick(second.cursor)
    assert third.run_requests == []
    reason = f"{bad.name} is not imported: {bad.name}.yaml: items must be the plain name of a file"
    assert reason in third.skip_reason.skip_message
