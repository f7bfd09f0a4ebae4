"""Issue 13: sampling verification (SPEC §6, seed 002) — rows of a kind's latest batch, read again
from its archived original by the import's own staging and set beside what the warehouse stores
(cdp_pipeline.source_sample). Real imports into a fresh CDP_HOME; the warehouse is corrupted
through a real DuckDB connection."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import duckdb
import pytest

from cdp_pipeline.customer_import import CUSTOMERS
from cdp_pipeline.settings import CdpPaths, TmallImportSettings
from cdp_pipeline.source_sample import COLUMNS, source_sample
from cdp_pipeline.tmall_import import TMALL, import_tmall_export
from cdp_pipeline.warehouse import connect_read_only
from samples.tmall import random_orders, write_tmall_pair

HEADER = ["姓名", "手机号码", "邮箱", "性别", "省份", "城市", "生日", "积分", "客户标签", "微信openid"]


def customer_row(n: int) -> list[str]:
    return [
        f"客户{n}",
        f"138 0013 {8000 + n}",
        f"User{n}@Example.com ",
        "男" if n % 2 else "女",
        "广东",
        "广州",
        f"1990/01/{1 + n % 28:02d}",
        f"{n * 10}.0",
        f"a{n % 3}|B",
        f"oAbC{n}",
    ]


def sample(paths: CdpPaths, kind=CUSTOMERS, size: int = 10, seed: int | None = 7):
    with connect_read_only(paths.warehouse) as con:
        return source_sample(con, paths, kind, size=size, seed=seed)


def mismatches(frame) -> list[tuple]:
    """(key, field, stored, source) of every row whose stored value is not its source (NULL: None)."""
    differ = frame[frame["stored"].fillna("\0") != frame["source"].fillna("\0")].astype(object)
    differ = differ.where(differ.notna(), None)
    return sorted(zip(differ["key"], differ["field"], differ["stored"], differ["source"], strict=True))


def write_warehouse(paths: CdpPaths, sql: str, params=None) -> None:
    con = duckdb.connect(str(paths.warehouse))
    try:
        con.execute(sql, params or [])
    finally:
        con.close()


def test_clean_warehouse_every_sampled_field_equals_its_source(make_csv, run_import, paths, query) -> None:
    """Issue 13 item: sampling verification — on a warehouse the imports left as they were, every
    sampled row's stored value equals its archived source after the import's normalisation
    (mobile digits, lower-case email, ISO birthday, integer points, tags with the batch's --tag,
    the batch's group and campaign); at most `size` rows per field, the same rows for a seed."""
    summary = run_import(
        make_csv([HEADER, *[customer_row(n) for n in range(1, 31)]]), tags=["Vip"], group="g1", campaign="spring"
    )
    frame = sample(paths)
    assert list(frame.columns) == list(COLUMNS)
    assert set(frame["batch_id"]) == {summary["batch_id"]}
    assert frame["row_number"].nunique() == 10
    assert frame.groupby("field").size().max() <= 10
    assert {
        "name",
        "mobile",
        "email",
        "gender",
        "birthday",
        "points",
        "tags",
        "group",
        "campaign",
        "identity:wechat_openid",
    } <= set(frame["field"])
    assert mismatches(frame) == []
    assert frame["source"].notna().all()
    # the row numbers are the batch's own (data rows from 2), each naming the customer it made
    outcomes = dict(
        query("SELECT row_number, customer_id FROM import_row_outcomes WHERE batch_id = ?", [summary["batch_id"]])
    )
    assert all(outcomes[r] == k for r, k in zip(frame["row_number"], frame["key"], strict=True))
    row = frame[frame["row_number"] == frame["row_number"].min()].set_index("field")["source"]
    n = int(row["name"].removeprefix("客户"))
    assert row["mobile"] == f"1380013{8000 + n}" and row["email"] == f"user{n}@example.com"
    assert row["birthday"] == f"1990-01-{1 + n % 28:02d}" and row["points"] == str(n * 10)
    assert row["tags"] == f"a{n % 3}|b|vip"
    assert sample(paths).equals(frame)
    assert set(sample(paths, seed=8)["row_number"]) != set(frame["row_number"])
    assert sample(paths, size=40)["row_number"].nunique() == 30


def test_corrupted_customers_show_stored_unlike_source(make_csv, run_import, paths) -> None:
    """Issue 13 item: sampling verification — a warehouse changed behind the import's back (name
    and mobile of the sampled customers overwritten) shows those fields stored != source, and only
    those."""
    run_import(make_csv([HEADER, *[customer_row(n) for n in range(1, 31)]]))
    keys = sorted(set(sample(paths)["key"]))
    write_warehouse(
        paths, "UPDATE customers SET name = 'x', mobile = '19900000000' WHERE list_contains(?, customer_id)", [keys[:3]]
    )
    found = mismatches(sample(paths))
    assert {(k, f) for k, f, _, _ in found} == {(k, f) for k in keys[:3] for f in ("mobile", "name")}
    assert {(f, stored) for _, f, stored, _ in found} == {("name", "x"), ("mobile", "19900000000")}
    write_warehouse(paths, "DELETE FROM customer_identities WHERE customer_id = ?", [keys[3]])
    frame = sample(paths)
    assert (keys[3], "identity:wechat_openid", None, f"oAbC{int(keys[3][1:])}") in mismatches(frame)
    assert None in list(frame.loc[frame["field"] == "identity:wechat_openid", "stored"])  # NULL is None, not NaN


def test_update_batch_compares_only_what_it_could_write(make_csv, run_import, paths) -> None:
    """Issue 13 item: sampling verification — for matched customers only the cells the row filled
    are compared (an empty cell never erases), and the initial source fields only under
    --source-policy all: a stored value the batch rightly kept is no mismatch."""
    run_import(
        make_csv([["手机号码", "姓名", "初始来源"], ["13800138001", "甲", "门店"], ["13800138002", "乙", "门店"]])
    )
    second = run_import(
        make_csv([["手机号码", "姓名", "初始来源"], ["13800138001", "", "官网"], ["13800138002", "丙", ""]]),
        initial_source="活动",
    )
    frame = sample(paths)
    assert set(frame["batch_id"]) == {second["batch_id"]}
    assert sorted(zip(frame["key"], frame["field"], frame["stored"], strict=True)) == [
        ("C0000000001", "mobile", "13800138001"),
        ("C0000000002", "mobile", "13800138002"),
        ("C0000000002", "name", "丙"),
    ]
    third = run_import(
        make_csv([["手机号码", "初始来源"], ["13800138001", "官网"], ["13800138002", ""]]),
        initial_source="活动",
        source_policy="all",
        campaign="c",
    )
    frame = sample(paths)
    assert set(frame["batch_id"]) == {third["batch_id"]}
    assert mismatches(frame) == []
    assert sorted(zip(frame["key"], frame["field"], frame["source"], strict=True)) == [
        ("C0000000001", "campaign", "c"),
        ("C0000000001", "initial_source", "官网"),
        ("C0000000001", "mobile", "13800138001"),
        ("C0000000002", "campaign", "c"),
        ("C0000000002", "initial_source", "活动"),
        ("C0000000002", "mobile", "13800138002"),
    ]


def test_xlsx_with_declared_identity_and_custom_attribute_is_compared(
    write_config, make_xlsx, run_import, paths
) -> None:
    """Issue 13 item: sampling verification — an XLSX file is read again from its workbook, and a
    team's declared identity type (stored upper-cased) and custom attribute (cdp.yaml) are
    compared too; a custom attribute changed in the warehouse shows stored != source."""
    write_config(
        "identity_types:\n  taobao_nick: {aliases: [淘宝昵称]}\n"
        "custom_attributes:\n  vip_level: {aliases: [会员等级]}\n"
    )
    rows = [
        ["手机号码", "生日", "淘宝昵称", "会员等级"],
        *[[f"1390013900{n}", "1990-05-06", f"tb_{n}", f"V{n}"] for n in range(5)],
    ]
    run_import(make_xlsx(rows))
    frame = sample(paths)
    assert mismatches(frame) == []
    sources = set(zip(frame["field"], frame["source"], strict=True))
    assert {("identity:taobao_nick", "TB_3"), ("attribute:vip_level", "V3"), ("birthday", "1990-05-06")} <= sources
    write_warehouse(paths, "UPDATE customer_attributes SET value = 'V9' WHERE customer_id = 'C0000000002'")
    assert mismatches(sample(paths)) == [("C0000000002", "attribute:vip_level", "V9", "V1")]


def test_customers_a_later_batch_changed_are_left_out(make_csv, run_import, paths) -> None:
    """Issue 13 item: sampling verification — a customer changed after the sampled batch (by a
    later batch, or anything else that moved its updated_at) may rightly differ from the
    batch's source and is not sampled: the first batch is sampled once the second's archive is
    gone, and the customer the second batch renamed is not in it."""
    first = run_import(make_csv([["手机号码", "姓名"], *[[f"1380013800{n}", f"甲{n}"] for n in range(4)]]))
    second = run_import(make_csv([["手机号码", "姓名"], ["13800138001", "乙"], ["13900139000", "丁"]]))
    assert set(sample(paths)["batch_id"]) == {second["batch_id"]}
    shutil.rmtree(paths.archive / second["batch_id"])
    frame = sample(paths)
    assert set(frame["batch_id"]) == {first["batch_id"]}
    assert sorted(set(frame["key"])) == ["C0000000001", "C0000000003", "C0000000004"]
    assert mismatches(frame) == []
    write_warehouse(
        paths,
        "UPDATE customers SET name = 'x', updated_at = updated_at + INTERVAL 1 DAY WHERE customer_id = 'C0000000003'",
    )
    assert sorted(set(sample(paths)["key"])) == ["C0000000001", "C0000000004"]


def test_no_batch_to_sample_gives_an_empty_frame(make_csv, run_import, paths) -> None:
    """Issue 13 item: sampling verification — with no committed batch of the kind that imported a
    row and kept its archive (no warehouse yet, only a batch whose rows all failed, an archive
    gone), the sample is an empty frame with the same columns."""
    for frame in (sample(paths), sample(paths, kind=TMALL)):
        assert list(frame.columns) == list(COLUMNS) and frame.empty
    failed = run_import(make_csv([["手机号码", "邮箱"], ["12", "not-an-email"]]))
    assert failed["failed"] == 1 and failed["created"] == 0
    assert sample(paths).empty
    ok = run_import(make_csv([["手机号码"], ["13800138000"]]))
    assert not sample(paths).empty
    assert sample(paths, kind=TMALL).empty
    shutil.rmtree(paths.archive / ok["batch_id"])
    frame = sample(paths)
    assert list(frame.columns) == list(COLUMNS) and frame.empty


def test_gb18030_file_is_sampled_in_the_encoding_the_import_found(make_csv, run_import, paths) -> None:
    """Issue 13 item: sampling verification — a GB18030 file (encoding left to detection) is read
    again as GB18030, the encoding its batch recorded: Chinese names compare equal, not as mojibake."""
    rows = [HEADER, *[customer_row(n) for n in range(1, 6)]]
    summary = run_import(make_csv(rows, encoding="gb18030"))
    assert summary["encoding"] == "gb18030"
    frame = sample(paths)
    names = frame[frame["field"] == "name"]
    assert len(names) == 5 and all(name.startswith("客户") for name in names["source"])
    assert mismatches(frame) == []


def file_state(path: Path) -> tuple:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_sampling_never_writes_the_warehouse(make_csv, run_import, paths) -> None:
    """Issue 13 item: sampling verification — the sample reads the warehouse and writes nothing
    to it (its bytes and mtime stay, no WAL appears) nor leaves anything in CDP_HOME/work, on a
    read-only connection; a read-only file
    connection, which cannot hold the staging database, is refused with what to use instead."""
    run_import(make_csv([HEADER, *[customer_row(n) for n in range(1, 11)]], encoding="gb18030"))
    before = file_state(paths.warehouse)
    assert not sample(paths).empty
    assert file_state(paths.warehouse) == before
    assert list(paths.work.iterdir()) == []  # the transcoded copy and the sample's folder are gone
    assert not paths.warehouse.with_name(paths.warehouse.name + ".wal").exists()
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        with pytest.raises(RuntimeError, match="connect_read_only"):
            source_sample(con, paths, CUSTOMERS)
    finally:
        con.close()
    assert file_state(paths.warehouse) == before


# --- Tmall exports ---------------------------------------------------------------------------


def tmall_import(paths: CdpPaths, folder: Path, orders, stamp: str) -> dict:
    pair = write_tmall_pair(folder, orders, stamp=stamp, encoding="gbk")
    return import_tmall_export(pair[0], pair[1], TmallImportSettings(), paths)


def test_tmall_orders_sampled_against_their_export(paths, tmp_path) -> None:
    """Issue 13 item: sampling verification — a Tmall batch's sampled orders equal their GBK order
    report after cleaning (status, amounts without trailing zeros, times, receiver, address parts,
    export time); an order overwritten in the warehouse shows stored != source."""
    orders = random_orders(12, seed=3, statuses=["交易成功", "交易关闭", "卖家部分发货"])
    summary = tmall_import(paths, tmp_path / "e1", orders, "201709010000")
    frame = sample(paths, kind=TMALL, size=5)
    assert set(frame["batch_id"]) == {summary["batch_id"]}
    assert frame["key"].nunique() == 5 and frame.groupby("field").size().max() == 5
    assert mismatches(frame) == []
    assert set(sample(paths, kind=TMALL, size=20)["key"]).isdisjoint(
        o.order_id for o in orders if o.status == "交易关闭"
    )
    by_id = {o.order_id: o for o in orders}
    row = frame[frame["key"] == frame["key"].iloc[0]].set_index("field")["source"]
    order = by_id[frame["key"].iloc[0]]
    assert row["status"] == order.status and row["receiver_name"] == order.receiver_name
    assert row["total_amount"] == f"{order.total_amount.normalize():f}"
    assert row["ordered_at"] == order.ordered_at.isoformat(sep=" ")
    assert row["export_at"] == "2017-09-01 00:00:00"
    key = frame["key"].iloc[0]
    write_warehouse(paths, "UPDATE orders SET status = 'x', paid_amount = paid_amount + 1 WHERE order_id = ?", [key])
    assert {(k, f) for k, f, _, _ in mismatches(sample(paths, kind=TMALL, size=5))} == {
        (key, "paid_amount"),
        (key, "status"),
    }


def test_tmall_orders_a_later_export_outranks_are_left_out(paths, tmp_path) -> None:
    """Issue 13 item: sampling verification — an order whose stored state comes from a later
    export (a newer export imported before this older one: backfills) may rightly differ from the
    sampled batch's file and is not sampled; the batch's other orders are, and equal their file."""
    orders = random_orders(6, seed=5, statuses=["卖家已发货，等待买家确认"])
    newer = [dataclasses.replace(orders[0], status="交易成功")]
    tmall_import(paths, tmp_path / "e2", newer, "201710010000")
    older = tmall_import(paths, tmp_path / "e1", orders, "201709010000")
    assert (older["created"], older["updated"], older["failed"]) == (5, 1, 0)
    with connect_read_only(paths.warehouse) as con:
        stored = con.execute("SELECT status FROM orders WHERE order_id = ?", [orders[0].order_id]).fetchone()
    assert stored == ("交易成功",)
    frame = sample(paths, kind=TMALL, size=20)
    assert set(frame["batch_id"]) == {older["batch_id"]}
    assert set(frame["key"]) == {o.order_id for o in orders[1:]}
    assert mismatches(frame) == []
