"""Tmall order-export import rules at the domain level (no Dagster): file shape and templates,
statuses, buyers ↔ customers, masked mobiles, upserts and purchase events, tags and groups,
failure files and archives, re-imports, backfills in any order, and order items; and issue 14's
real exports (blank order numbers, order words, newer layouts, reports saved as XLSX), also
through the real `cdp` command.

Every export is built from small hand-made ``samples.tmall.Order`` lists, written by
``write_tmall_pair`` the way real seller back-office exports look (GBK, every field quoted,
``="..."`` ids, apostrophe mobiles, trailing-space headers, ``null`` cells)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cdp_pipeline.errors import FileRejected
from cdp_pipeline.settings import CdpPaths, TmallImportSettings
from cdp_pipeline.tmall_import import import_tmall_export
from samples.tmall import (
    CLOSED,
    PAID,
    PARTLY_SHIPPED,
    SHIPPED,
    SUCCESS,
    WAITING_PAYMENT,
    Item,
    Order,
    item_columns,
    order_columns,
    write_tmall_pair,
)

T0 = dt.datetime(2017, 7, 8, 0, 42, 32)
GUANGZHOU = "广东省 广州市 越秀区 中山路1号(510030)"
HANGZHOU = "浙江省 杭州市 西湖区 文化路12号3栋201室(310012)"
SHANGHAI = "上海 上海市 浦东新区 人民路8号(200120)"
TSHIRT = ("夏季新款纯棉T恤 男士圆领短袖", "59.00", "TX-1001")
JEANS = ("修身牛仔裤 弹力小脚裤", "129.00", "NZ-2003")
SOCKS = ("纯棉袜子 5双装", "19.90", "WZ-1301")

# 16- to 19-digit order ids, as Tmall issues them (a float would lose the last digits).
ID16 = "1234567890123456"
ID17 = "35156689391706256"
ID18 = "351566893917062563"
ID19 = "3515668939170625631"
ID17B = "35156689391706299"


def item(product: tuple[str, str, str], quantity: int = 1) -> Item:
    title, price, sku = product
    return Item(title=title, price=Decimal(price), quantity=quantity, sku_code=sku)


def make_order(
    order_id: str,
    mobile: str | None = "13912345678",
    *,
    status: str = SUCCESS,
    name: str = "王伟",
    address: str = GUANGZHOU,
    ordered_at: dt.datetime = T0,
    total: str | None = None,
    paid: str | None = None,
    items: list[Item] | None = None,
    nick: str = "tb12345678",
) -> Order:
    """An order whose total is its goods (unless given) and which is paid in full unless unpaid."""
    items = [item(TSHIRT)] if items is None else items
    goods = sum((i.price * i.quantity for i in items), Decimal("0.00"))
    total_amount = Decimal(total) if total is not None else goods
    unpaid = status == WAITING_PAYMENT
    paid_amount = Decimal("0.00") if unpaid else Decimal(paid) if paid is not None else total_amount
    return Order(
        order_id=order_id,
        buyer_nick=nick,
        status=status,
        ordered_at=ordered_at,
        paid_at=None if unpaid else ordered_at + dt.timedelta(seconds=33),
        total_amount=total_amount,
        paid_amount=paid_amount,
        receiver_name=name,
        address=address,
        mobile=mobile,
        items=items,
    )


def patch_cells(path: Path, changes: dict[int, dict[str, str]], encoding: str = "gbk") -> Path:
    """Rewrite some cells of a written report (``changes``: record number, header = 1 → {column: text}),
    keeping the export's style: every field quoted, CRLF, the same encoding, trailing commas kept."""
    text = path.read_bytes().decode(encoding)
    lines = list(csv.reader(io.StringIO(text, newline="")))
    header = [h.strip() for h in lines[0]]
    for record, cells in changes.items():
        for column, value in cells.items():
            lines[record - 1][header.index(column)] = value
    out = []
    for number, cells in enumerate(lines, start=1):
        trailing = number > 1 and len(cells) == len(header) + 1 and cells[-1] == ""
        body = cells[:-1] if trailing else cells
        out.append('"' + '","'.join(c.replace('"', '""') for c in body) + ('",' if trailing else '"') + "\r\n")
    path.write_bytes("".join(out).encode(encoding))
    return path


def run_tmall(paths: CdpPaths, pair: tuple[Path, Path], force: bool = False, tags=("t",), group="g") -> dict:
    return import_tmall_export(pair[0], pair[1], TmallImportSettings(tags=tuple(tags), group=group), paths, force=force)


def read_rows(paths: CdpPaths, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture
def export(tmp_path: Path):
    """``export(orders, stamp=..., **write_tmall_pair options)`` → (order report, item report), GBK by default."""
    counter = itertools.count(1)

    def write(orders: list[Order], stamp: str = "201709010000", **options) -> tuple[Path, Path]:
        options = {"encoding": "gbk", **options}
        return write_tmall_pair(tmp_path / "exports" / str(next(counter)), orders, stamp=stamp, **options)

    return write


@pytest.fixture
def tmall(paths: CdpPaths):
    """``tmall(pair, force=False, tags=("t",), group="g")`` → the import summary."""

    def run(pair: tuple[Path, Path], force: bool = False, **settings) -> dict:
        return run_tmall(paths, pair, force=force, **settings)

    return run


def failure_codes(query, batch_id: str, role: str | None = None) -> dict[int, str]:
    rows = query(
        "SELECT row_number, reason_code FROM import_failures WHERE batch_id = ? AND file_role IS NOT DISTINCT FROM ? "
        "ORDER BY row_number",
        [batch_id, role],
    )
    return dict(rows)


def order_customers(query) -> dict[str, str]:
    return dict(query("SELECT order_id, customer_id FROM orders ORDER BY order_id"))


def counts(summary: dict) -> tuple[int, int, int, int, int]:
    """(orders_scanned, orders_imported, orders_failed, customers_created, customers_matched)."""
    keys = ("orders_scanned", "orders_imported", "orders_failed", "customers_created", "customers_matched")
    return tuple(summary[k] for k in keys)


# --- 1. the shape of a real export ----------------------------------------------------------


@pytest.mark.parametrize(
    ("excel_dates", "null_style"), [(False, "null"), (True, "'null")], ids=["iso-dates-null", "excel-dates-'null"]
)
def test_rule_real_export_shape_imports_exact_values(export, tmall, query, excel_dates, null_style) -> None:
    gift_at = dt.datetime(2016, 5, 23, 22, 2, 41)
    orders = [
        make_order(ID19, "13912345678", items=[item(TSHIRT, 2), item(SOCKS)], total="143.90", nick="tb11112222"),
        make_order(
            ID16,
            "13800138000",
            status=PAID,
            name="李娜",
            address=SHANGHAI,
            ordered_at=gift_at,
            items=[Item("赠品 帆布袋", Decimal("0.00"), 1, "ZP-0001")],
            nick="tb33334444",
        ),
        make_order(ID18, None, name="张敏"),
    ]
    orders_path, items_path = export(orders, excel_dates=excel_dates, null_style=null_style)
    # the gift order's money as some exports write it: 0元
    patch_cells(orders_path, {3: {"总金额": "0元", "买家实际支付金额": "0元"}})
    raw = orders_path.read_bytes()
    assert raw.decode("gbk").startswith('"订单编号","买家会员名"')
    assert f'"=""{ID19}"""'.encode() in raw and b'"\'13912345678"' in raw and '"收货地址 "'.encode("gbk") in raw
    assert items_path.read_bytes().decode("gbk").splitlines()[1].endswith('"TX-1001",')
    assert (b'"\'null"' if null_style == "'null" else b'"null"') in raw
    assert (b"2016/5/23 22:02" if excel_dates else b"2016-05-23 22:02:41") in raw

    summary = tmall((orders_path, items_path))

    def at(moment: dt.datetime) -> dt.datetime:
        return moment.replace(second=0) if excel_dates else moment

    assert summary["status"] == "succeeded"
    assert counts(summary) == (3, 2, 1, 2, 0)
    assert summary["items_imported"] == 3
    assert summary["order_template"] == "2016" and summary["item_template"] == "2016"
    assert query(
        "SELECT order_id, status, ordered_at, paid_at, total_amount, paid_amount, receiver_name, receiver_mobile, "
        "province, city, address, buyer_nick, shop_name FROM orders ORDER BY ordered_at"
    ) == [
        (
            ID16,
            PAID,
            at(gift_at),
            at(gift_at + dt.timedelta(seconds=33)),
            Decimal("0.00"),
            Decimal("0.00"),
            "李娜",
            "13800138000",
            "上海市",
            "上海市",
            SHANGHAI,
            "tb33334444",
            "cdp旗舰店",
        ),
        (
            ID19,
            SUCCESS,
            at(T0),
            at(T0 + dt.timedelta(seconds=33)),
            Decimal("143.90"),
            Decimal("143.90"),
            "王伟",
            "13912345678",
            "广东省",
            "广州市",
            GUANGZHOU,
            "tb11112222",
            "cdp旗舰店",
        ),
    ]
    assert all(isinstance(o, str) and o.isdigit() for (o,) in query("SELECT order_id FROM orders"))
    assert query(
        "SELECT order_id, line_number, title, price, quantity, sku_code, external_code FROM order_items ORDER BY 1, 2"
    ) == [
        (ID16, 1, "赠品 帆布袋", Decimal("0.00"), 1, "ZP-0001", None),
        (ID19, 1, TSHIRT[0], Decimal("59.00"), 2, "TX-1001", None),
        (ID19, 2, SOCKS[0], Decimal("19.90"), 1, "WZ-1301", None),
    ]
    assert failure_codes(query, summary["batch_id"]) == {4: "missing_mobile"}


# --- 2. template variants ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order_template", "item_template"),
    # (2016, 2016), (2019, 2020) and (2021, 2021) are imported by other tests
    [("2016a", "2016"), ("2017", "2020"), ("2018a", "2024"), ("2018", "2021")],
)
def test_rule_template_variants_import(export, tmall, query, order_template, item_template) -> None:
    orders = [
        make_order(ID19, "13912345678", items=[item(TSHIRT), item(JEANS, 2)]),
        make_order(
            ID17,
            "13800138000",
            status=SHIPPED,
            name="李娜",
            address=HANGZHOU,
            ordered_at=T0 + dt.timedelta(days=1),
            items=[item(SOCKS, 3)],
            total="65.70",
        ),
    ]
    summary = tmall(export(orders, order_template=order_template, item_template=item_template))
    assert (summary["order_template"], summary["item_template"]) == (order_template, item_template)
    assert counts(summary) == (2, 2, 0, 2, 0)
    assert summary["items_imported"] == 3
    assert query(
        "SELECT order_id, status, ordered_at, total_amount, paid_amount, receiver_mobile, province, city "
        "FROM orders ORDER BY ordered_at"
    ) == [
        (ID19, SUCCESS, T0, Decimal("317.00"), Decimal("317.00"), "13912345678", "广东省", "广州市"),
        (
            ID17,
            SHIPPED,
            T0 + dt.timedelta(days=1),
            Decimal("65.70"),
            Decimal("65.70"),
            "13800138000",
            "浙江省",
            "杭州市",
        ),
    ]
    sub = (lambda order_id, line: None) if item_template == "2016" else (lambda order_id, line: f"{order_id}{line:02d}")
    assert query(
        "SELECT order_id, line_number, sub_order_id, title, price, quantity, sku_code FROM order_items ORDER BY 1, 2"
    ) == [
        (ID17, 1, sub(ID17, 1), SOCKS[0], Decimal("19.90"), 3, "WZ-1301"),
        (ID19, 1, sub(ID19, 1), TSHIRT[0], Decimal("59.00"), 1, "TX-1001"),
        (ID19, 2, sub(ID19, 2), JEANS[0], Decimal("129.00"), 2, "NZ-2003"),
    ]


# --- 3. unknown header sets -------------------------------------------------------------------


def _edit_header(path: Path, edit) -> None:
    text = path.read_bytes().decode("gbk")
    header, rest = text.split("\r\n", 1)
    path.write_bytes((edit(header) + "\r\n" + rest).encode("gbk"))


@pytest.mark.parametrize(
    ("case", "missing", "extra", "rejected_role"),
    [
        ("drop 店铺Id", ["店铺Id"], [], "orders"),
        ("rename 联系手机", ["联系手机"], ["手机号码"], "orders"),
        (
            "item report as the order report",
            ["买家会员名", "收货人姓名", "联系手机"],
            ["标题", "价格", "商家编码"],
            "orders",
        ),
        ("rename 商家编码 in the item report", ["商家编码"], ["货号"], "items"),
    ],
)
def test_rule_unknown_header_set_rejects_the_file(export, paths, query, case, missing, extra, rejected_role) -> None:
    orders_path, items_path = export([make_order(ID19)])
    if case == "drop 店铺Id":
        _edit_header(orders_path, lambda h: h.replace('"店铺Id",', ""))
    elif case == "rename 联系手机":
        _edit_header(orders_path, lambda h: h.replace('"联系手机"', '"手机号码"'))
    elif case == "item report as the order report":
        orders_path = items_path
    else:
        _edit_header(items_path, lambda h: h.replace('"商家编码"', '"货号"'))

    with pytest.raises(FileRejected) as rejected:
        run_tmall(paths, (orders_path, items_path))

    assert rejected.value.path == (items_path if rejected_role == "items" else orders_path)
    reason = rejected.value.reason
    missing_part, extra_part = reason.split("missing: ", 1)[1].split("; extra: ", 1)
    for name in missing:
        assert name in missing_part, reason
    for name in extra:
        assert name in extra_part, reason
    if not extra:
        assert extra_part.startswith("-"), reason
    for table in (
        "import_batches",
        "orders",
        "order_items",
        "customers",
        "customer_events",
        "import_failures",
        "tmall_order_history",
    ):
        assert query(f"SELECT count(*) FROM {table}") == [(0,)], table
    assert query("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'stg_%'") == []
    assert not paths.archive.exists() or not any(paths.archive.iterdir())


# --- 4. statuses --------------------------------------------------------------------------------


def test_rule_accepted_statuses_import(export, tmall, query) -> None:
    statuses = [SUCCESS, PAID, SHIPPED, PARTLY_SHIPPED]
    assert PAID == "买家已付款，等待卖家发货" and SHIPPED == "卖家已发货，等待买家确认"  # full-width commas
    orders = [
        make_order(f"35156689391706250{n}", ordered_at=T0 + dt.timedelta(hours=n), status=s)
        for n, s in enumerate(statuses)
    ]
    summary = tmall(export(orders))
    assert counts(summary) == (4, 4, 0, 1, 0)
    assert query("SELECT order_id, status FROM orders ORDER BY order_id") == [(o.order_id, o.status) for o in orders]


def test_rule_status_not_accepted_fails_the_order(export, tmall, query) -> None:
    orders = [
        make_order(ID19, status=SUCCESS),
        make_order(ID18, status=WAITING_PAYMENT),
        make_order(ID17, status=CLOSED, paid="0.00"),
    ]
    summary = tmall(export(orders))
    assert counts(summary) == (3, 1, 2, 1, 0)
    assert query("SELECT order_id FROM orders") == [(ID19,)]
    assert failure_codes(query, summary["batch_id"]) == {3: "status_not_accepted", 4: "status_not_accepted"}


def test_rule_later_export_status_updates_a_known_order(export, tmall, query) -> None:
    tmall(export([make_order(ID19, status=SUCCESS, paid="59.00")], stamp="201707010000"))
    later = tmall(export([make_order(ID19, status=CLOSED, paid="59.00")], stamp="201708010000"))
    assert later["status"] == "succeeded"
    assert (later["created"], later["updated"], later["failed"]) == (0, 1, 0)
    assert failure_codes(query, later["batch_id"]) == {}
    assert query("SELECT order_id, status FROM orders") == [(ID19, CLOSED)]
    assert query("SELECT order_count, order_amount FROM customer_profiles") == [(0, Decimal("0.00"))]


def test_rule_customer_profiles_count_accepted_statuses_only(export, tmall, query) -> None:
    day = dt.timedelta(days=1)
    first = dt.datetime(2017, 1, 5, 10, 0, 0)
    orders = [
        make_order(ID19, status=SUCCESS, ordered_at=first, items=[item(JEANS)], total="100.00"),
        make_order(ID18, status=SHIPPED, ordered_at=first + 27 * day, items=[item(SOCKS)], total="50.50"),
        make_order(ID17, status=PAID, ordered_at=first + 55 * day, items=[item(SOCKS)], total="30.00"),
        make_order(ID16, status=WAITING_PAYMENT, ordered_at=first + 56 * day, items=[item(SOCKS)]),
        make_order(ID17B, status=PARTLY_SHIPPED, ordered_at=first + 3 * day, total="80.00", paid="70.00"),
    ]
    tmall(export(orders, stamp="201703100000"))
    assert query("SELECT order_count, order_amount, first_purchase_at, last_purchase_at FROM customer_profiles") == [
        (4, Decimal("250.50"), first, first + 55 * day)
    ]

    refund = make_order(ID17, status=CLOSED, ordered_at=first + 55 * day, items=[item(SOCKS)], total="30.00")
    tmall(export([refund], stamp="201704010000"))
    assert query("SELECT order_count, order_amount, first_purchase_at, last_purchase_at FROM customer_profiles") == [
        (3, Decimal("220.50"), first, first + 27 * day)
    ]


# --- 5. failed orders and the customer counts ---------------------------------------------------------


def test_rule_failed_order_neither_creates_nor_matches_a_customer(export, tmall, query, seed) -> None:
    seed(
        customers=[
            {"customer_id": "C0000000001", "name": "李娜", "mobile": "13700000001"},
            {"customer_id": "C0000000002", "name": "赵敏", "mobile": "13700000002"},
        ]
    )
    orders = [
        make_order(ID19, "13700000001", name="李娜"),  # matches C1
        make_order(ID18, "13700000001", name="李娜"),  # C1 again: counted once
        make_order(ID17, "13600000003", name="张伟"),  # a new customer
        make_order(ID16, "13600000004", name="刘洋", status=CLOSED),  # fails: no customer for this mobile
        make_order(ID17B, "13700000002", name="赵敏", status=WAITING_PAYMENT),  # fails: C2 not matched
    ]
    summary = tmall(export(orders))
    assert counts(summary) == (5, 3, 2, 1, 1)
    assert query("SELECT customer_id, mobile FROM customers ORDER BY 1") == [
        ("C0000000001", "13700000001"),
        ("C0000000002", "13700000002"),
        ("C0000000003", "13600000003"),
    ]
    assert query(
        "SELECT row_number, outcome, customer_id FROM import_row_outcomes WHERE batch_id = ? ORDER BY 1",
        [summary["batch_id"]],
    ) == [
        (2, "created", "C0000000001"),
        (3, "created", "C0000000001"),
        (4, "created", "C0000000003"),
        (5, "failed", None),
        (6, "failed", None),
    ]
    assert query("SELECT DISTINCT customer_id FROM customer_events ORDER BY 1") == [("C0000000001",), ("C0000000003",)]


# --- 6. buyers ↔ customers by receiver mobile ---------------------------------------------------------


def test_rule_buyer_matched_or_created_by_receiver_mobile(export, tmall, query, seed) -> None:
    seed(customers=[{"customer_id": "C0000000007", "name": "老客户", "mobile": "13912345678", "province": "北京市"}])
    orders = [
        make_order(ID19, "13912345678", name="王伟"),
        make_order(ID18, "13800138000", name="李娜", address=GUANGZHOU, ordered_at=T0 + dt.timedelta(hours=1)),
        make_order(ID17, "13800138000", name="李娜娜", address=HANGZHOU, ordered_at=T0 + dt.timedelta(hours=2)),
        make_order(ID16, "15000000001", name="张敏", address=SHANGHAI, ordered_at=T0 + dt.timedelta(hours=3)),
        make_order(ID17B, "13912345678", name="王伟", ordered_at=T0 + dt.timedelta(hours=4)),  # written as +86 below
    ]
    orders_path, items_path = export(orders)
    assert b'"\'13800138000"' in orders_path.read_bytes()
    patch_cells(orders_path, {6: {"联系手机": "'+86 139-1234-5678"}})
    summary = tmall((orders_path, items_path))
    assert counts(summary) == (5, 5, 0, 2, 1)
    batch = summary["batch_id"]
    assert query("SELECT customer_id, name, mobile, province, city, created_batch_id FROM customers ORDER BY 1") == [
        ("C0000000007", "老客户", "13912345678", "北京市", None, None),  # an existing customer is matched, not changed
        ("C0000000008", "李娜", "13800138000", "广东省", "广州市", batch),  # from the mobile's first order
        ("C0000000009", "张敏", "15000000001", "上海市", "上海市", batch),
    ]
    assert order_customers(query) == {
        ID19: "C0000000007",
        ID18: "C0000000008",
        ID17: "C0000000008",
        ID16: "C0000000009",
        ID17B: "C0000000007",
    }
    assert query("SELECT receiver_mobile FROM orders WHERE order_id IN (?, ?) ORDER BY 1", [ID18, ID17B]) == [
        ("13800138000",),
        ("13912345678",),
    ]


# --- 7. masked mobiles ----------------------------------------------------------------------------------


def test_rule_masked_mobile_matches_the_one_customer_with_those_digits_and_name(export, tmall, query, seed) -> None:
    seed(
        customers=[
            {"customer_id": "C0000000001", "name": "王伟", "mobile": "13912345678"},
            {"customer_id": "C0000000002", "name": "王伟", "mobile": "13912340000"},  # other last digits
            {"customer_id": "C0000000003", "name": "李娜", "mobile": "13999995678"},  # other name
            {"customer_id": "C0000000004", "name": "王伟", "mobile": "13812345678"},  # other first digits
        ]
    )
    orders_path, items_path = export([make_order(ID19, "139****5678", name="王伟")])
    assert b'"139****5678"' in orders_path.read_bytes()
    summary = tmall((orders_path, items_path))
    assert counts(summary) == (1, 1, 0, 0, 1)
    assert order_customers(query) == {ID19: "C0000000001"}
    assert query("SELECT matched_by FROM import_row_outcomes") == [("masked_mobile",)]
    assert query("SELECT receiver_mobile FROM orders") == [("139****5678",)]


@pytest.mark.parametrize("masked_first", [True, False], ids=["masked-row-first", "unmasked-row-first"])
def test_rule_masked_mobile_matches_a_customer_created_from_the_same_file(export, tmall, query, masked_first) -> None:
    masked = make_order(ID19, "138****5678", name="赵敏")
    unmasked = make_order(ID18, "13812345678", name="赵敏", ordered_at=T0 + dt.timedelta(days=1))
    summary = tmall(export([masked, unmasked] if masked_first else [unmasked, masked]))
    assert counts(summary) == (2, 2, 0, 1, 0)
    assert query("SELECT customer_id, name, mobile FROM customers") == [("C0000000001", "赵敏", "13812345678")]
    assert order_customers(query) == {ID19: "C0000000001", ID18: "C0000000001"}


def test_rule_masked_mobile_with_two_fitting_customers_fails(export, tmall, query, seed) -> None:
    seed(
        customers=[
            {"customer_id": "C0000000001", "name": "王伟", "mobile": "13911115678"},
            {"customer_id": "C0000000002", "name": "王伟", "mobile": "13922225678"},
        ]
    )
    orders = [
        make_order(ID19, "139****5678", name="王伟"),  # two customers fit
        make_order(ID18, "13633331234", name="李娜"),  # creates 李娜 ...
        make_order(ID17, "136****1234", name="李娜娜"),  # ... but the name must be exact
        make_order(ID16, "137****0000", name="王伟"),  # nobody fits
    ]
    summary = tmall(export(orders))
    assert counts(summary) == (4, 1, 3, 1, 0)
    assert failure_codes(query, summary["batch_id"]) == {
        2: "masked_mobile_unmatched",
        4: "masked_mobile_unmatched",
        5: "masked_mobile_unmatched",
    }
    assert query("SELECT order_id FROM orders") == [(ID18,)]


def test_rule_no_usable_mobile_fails_missing_mobile(export, tmall, query) -> None:
    orders = [
        make_order(ID19, None),  # null
        make_order(ID18, "1391234"),  # too short
        make_order(ID17, "13912345678"),
        make_order(ID16, "13800138000"),  # its cell emptied below
    ]
    orders_path, items_path = export(orders)
    patch_cells(orders_path, {5: {"联系手机": ""}})
    summary = tmall((orders_path, items_path))
    assert counts(summary) == (4, 1, 3, 1, 0)
    assert failure_codes(query, summary["batch_id"]) == {2: "missing_mobile", 3: "missing_mobile", 5: "missing_mobile"}


# --- 8. upsert by order id and purchase events ----------------------------------------------------------------


def test_rule_orders_upsert_by_order_id_without_a_second_purchase_event(export, tmall, query) -> None:
    first = tmall(
        export(
            [
                make_order(ID19, status=PAID, items=[item(TSHIRT), item(JEANS)]),
                make_order(ID18, ordered_at=T0 + dt.timedelta(hours=1)),
            ],
            stamp="201707010000",
        )
    )
    assert (first["created"], first["updated"]) == (2, 0)
    later = tmall(
        export(
            [
                make_order(ID19, status=SUCCESS, items=[item(TSHIRT), item(JEANS)], paid="150.00"),
            ],
            stamp="201708010000",
        )
    )
    assert (later["created"], later["updated"], later["failed"]) == (0, 1, 0)
    assert counts(later) == (1, 1, 0, 0, 1)  # the updated order's customer existed: it is matched
    assert query("SELECT count(*), count(DISTINCT order_id) FROM orders") == [(2, 2)]
    assert query(
        "SELECT status, total_amount, paid_amount, batch_id, first_batch_id FROM orders WHERE order_id = ?", [ID19]
    ) == [(SUCCESS, Decimal("188.00"), Decimal("150.00"), later["batch_id"], first["batch_id"])]
    assert query(
        "SELECT detail->>'order_id', count(*) FROM customer_events WHERE event_type = 'purchase' GROUP BY 1 ORDER BY 1"
    ) == [(ID18, 1), (ID19, 1)]
    assert query("SELECT count(*) FROM order_items WHERE order_id = ?", [ID19]) == [(2,)]


def test_rule_every_imported_order_adds_one_purchase_event_at_its_order_time(export, tmall, query) -> None:
    orders = [
        make_order(ID19, ordered_at=T0),
        make_order(ID18, "13800138000", ordered_at=T0 + dt.timedelta(days=3, seconds=7)),
        make_order(ID17, ordered_at=T0 + dt.timedelta(days=9), status=CLOSED),  # failed: no event
    ]
    summary = tmall(export(orders))
    events = query(
        "SELECT e.detail->>'order_id', e.customer_id, e.occurred_at, e.batch_id, o.customer_id, o.ordered_at "
        "FROM customer_events e LEFT JOIN orders o ON o.order_id = e.detail->>'order_id' "
        "WHERE e.event_type = 'purchase' ORDER BY 1"
    )
    assert events == [
        (
            ID18,
            events[0][1],
            T0 + dt.timedelta(days=3, seconds=7),
            summary["batch_id"],
            events[0][1],
            T0 + dt.timedelta(days=3, seconds=7),
        ),
        (ID19, events[1][1], T0, summary["batch_id"], events[1][1], T0),
    ]


# --- 9. --tag and --group ------------------------------------------------------------------------------------


def test_rule_tag_and_group_apply_to_customers_of_imported_orders_only(export, tmall, query, seed) -> None:
    seed(
        customers=[
            {"customer_id": "C0000000001", "name": "李娜", "mobile": "13700000001"},  # imported order
            {"customer_id": "C0000000002", "name": "赵敏", "mobile": "13700000002"},  # failed order only
            {"customer_id": "C0000000003", "name": "刘洋", "mobile": "13700000003"},  # not in the export
        ]
    )
    orders = [
        make_order(ID19, "13700000001", name="李娜"),
        make_order(ID18, "13700000002", name="赵敏", status=WAITING_PAYMENT),
        make_order(ID17, "13600000009", name="张伟"),  # new: C0000000004
        make_order(ID16, "13600000010", name="王芳", status=CLOSED),  # failed, never created
    ]
    tmall(export(orders), tags=("双11", "天猫"), group="天猫买家")
    assert query("SELECT t.name, ct.customer_id FROM customer_tags ct JOIN tags t USING (tag_id) ORDER BY 1, 2") == [
        ("双11", "C0000000001"),
        ("双11", "C0000000004"),
        ("天猫", "C0000000001"),
        ("天猫", "C0000000004"),
    ]
    assert query("SELECT g.name, m.customer_id FROM group_members m JOIN groups g USING (group_id) ORDER BY 1, 2") == [
        ("天猫买家", "C0000000001"),
        ("天猫买家", "C0000000004"),
    ]


# --- 10. failure file and archives -----------------------------------------------------------------------------


def test_rule_failure_file_has_the_order_report_headers_and_row_number_reason_code_reason(
    export, tmall, query, paths
) -> None:
    orders = [
        make_order(ID19),
        make_order(ID18, status=WAITING_PAYMENT),
        make_order(ID17, "13800138000"),
        make_order(ID16, None),
    ]
    orders_path, items_path = export(orders, order_template="2019", item_template="2020")
    # a message with a line break: row numbers count records, not lines
    patch_cells(orders_path, {2: {"买家留言": "请尽快发货\r\n谢谢"}})
    summary = tmall((orders_path, items_path))
    assert counts(summary) == (4, 2, 2, 2, 0)
    assert query(
        "SELECT row_number, reason_code, reason_codes, file_role FROM import_failures WHERE batch_id = ? ORDER BY 1",
        [summary["batch_id"]],
    ) == [(3, "status_not_accepted", ["status_not_accepted"], None), (5, "missing_mobile", ["missing_mobile"], None)]

    failure_file = Path(summary["failure_file"])
    assert failure_file.suffix == ".csv" and failure_file.parent == paths.failures
    content = failure_file.read_bytes()
    assert content.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(content[len(codecs.BOM_UTF8) :].decode("utf-8"), newline="")))
    assert rows[0] == [*order_columns("2019"), "row_number", "reason_code", "reason"]
    header = rows[0]
    body = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    assert [(r["row_number"], r["reason_code"]) for r in body] == [
        ("3", "status_not_accepted"),
        ("5", "missing_mobile"),
    ]
    assert ID18 in body[0]["订单编号"] and ID16 in body[1]["订单编号"]
    assert body[0]["订单状态"] == WAITING_PAYMENT
    assert body[0]["reason"].startswith("订单状态不支持导入")
    assert body[1]["reason"].startswith("联系手机缺失或无效")


def test_rule_archives_both_originals_under_the_batch_folder(export, tmall, paths) -> None:
    orders_path, items_path = export([make_order(ID19)])
    summary = tmall((orders_path, items_path))
    folder = paths.archive / summary["batch_id"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([orders_path.name, items_path.name])
    assert (folder / orders_path.name).read_bytes() == orders_path.read_bytes()
    assert (folder / items_path.name).read_bytes() == items_path.read_bytes()


# --- 11. the same pair again ------------------------------------------------------------------------------------

SNAPSHOT_TABLES = (
    "orders",
    "order_items",
    "customers",
    "customer_events",
    "import_failures",
    "import_batches",
    "customer_tags",
    "group_members",
    "tmall_order_history",
    "import_row_outcomes",
)


def snapshot(query) -> dict[str, list[str]]:
    return {t: sorted(map(repr, query(f"SELECT * FROM {t}"))) for t in SNAPSHOT_TABLES}


def test_rule_same_pair_again_is_already_imported_and_force_reimports(export, tmall, query) -> None:
    pair = export([make_order(ID19), make_order(ID18, status=CLOSED), make_order(ID17, "13800138000")])
    first = tmall(pair)
    before = snapshot(query)

    again = tmall(pair)
    assert again["status"] == "already_imported"
    assert again["batch_id"] == first["batch_id"]
    assert snapshot(query) == before

    forced = tmall(pair, force=True)
    assert forced["status"] == "succeeded" and forced["batch_id"] != first["batch_id"]
    assert (forced["created"], forced["updated"], forced["failed"]) == (0, 2, 1)
    assert query("SELECT count(*) FROM import_batches") == [(2,)]
    assert query("SELECT count(*) FROM orders") == [(2,)]
    assert query("SELECT count(*) FROM customers") == [(2,)]
    assert query("SELECT count(*) FROM customer_events WHERE event_type = 'purchase'") == [(2,)]
    assert query("SELECT count(*) FROM order_items") == [(2,)]


# --- 12. backfills in any order --------------------------------------------------------------------------------

P1, P2, P3 = ("13900000001", "王伟"), ("13900000002", "李娜"), ("13900000003", "张敏")
X, Y, Z, W, V = ID19, ID18, ID17, ID16, ID17B


def monthly_exports(export) -> list[tuple[Path, Path]]:
    """Three monthly exports of overlapping orders:
    X (P1) 交易成功 in months 1-2, 交易关闭 (refunded) in month 3; Y (P2) 等待买家付款 in month 1, 交易成功 in month 2;
    Z (P3) paid → shipped → success; W (P1) only in month 2; V (P2) only in month 3."""

    def o(order_id, person, status, day, **kw):
        return make_order(
            order_id, person[0], name=person[1], status=status, ordered_at=dt.datetime(2017, 1, day, 12, 0, 0), **kw
        )

    month1 = [
        o(X, P1, SUCCESS, 3, items=[item(JEANS)]),
        o(Y, P2, WAITING_PAYMENT, 4, items=[item(TSHIRT)]),
        o(Z, P3, PAID, 5, items=[item(SOCKS, 2)]),
    ]
    month2 = [
        o(X, P1, SUCCESS, 3, items=[item(JEANS)]),
        o(Y, P2, SUCCESS, 4, items=[item(TSHIRT)]),
        o(Z, P3, SHIPPED, 5, items=[item(SOCKS, 2)]),
        o(W, P1, SUCCESS, 20, items=[item(SOCKS)], total="25.90"),
    ]
    month3 = [
        o(X, P1, CLOSED, 3, items=[item(JEANS)]),
        o(Z, P3, SUCCESS, 5, items=[item(SOCKS, 2)]),
        o(V, P2, SUCCESS, 28, items=[item(TSHIRT)], paid="50.00"),
    ]
    return [
        export(month1, stamp="201702010000"),
        export(month2, stamp="201703010000"),
        export(month3, stamp="201704010000"),
    ]


def final_state(paths: CdpPaths) -> dict[str, list[tuple]]:
    return {
        "orders": read_rows(
            paths,
            "SELECT o.order_id, o.status, o.paid_amount, c.mobile FROM orders o JOIN customers c USING (customer_id) "
            "ORDER BY 1",
        ),
        "profiles": read_rows(
            paths,
            "SELECT c.mobile, p.order_count, p.order_amount, p.first_purchase_at, p.last_purchase_at "
            "FROM customer_profiles p JOIN customers c USING (customer_id) ORDER BY 1",
        ),
        "purchases": read_rows(
            paths,
            "SELECT detail->>'order_id', count(*) FROM customer_events WHERE event_type = 'purchase' GROUP BY 1 "
            "ORDER BY 1",
        ),
    }


def import_in_order(tmp_path: Path, name: str, pairs, order: list[int]) -> CdpPaths:
    home = CdpPaths(tmp_path / name).ensure()
    for index in order:
        assert run_tmall(home, pairs[index])["status"] == "succeeded"
    return home


def test_rule_backfill_in_any_order_ends_in_the_same_orders_and_profiles(export, tmp_path) -> None:
    pairs = monthly_exports(export)
    in_date_order = final_state(import_in_order(tmp_path, "dated", pairs, [0, 1, 2]))
    jan = dt.datetime(2017, 1, 1, 12, 0, 0)
    assert in_date_order == {
        "orders": [
            (W, SUCCESS, Decimal("25.90"), P1[0]),
            (Z, SUCCESS, Decimal("39.80"), P3[0]),
            (Y, SUCCESS, Decimal("59.00"), P2[0]),
            (X, CLOSED, Decimal("129.00"), P1[0]),
            (V, SUCCESS, Decimal("50.00"), P2[0]),
        ],
        "profiles": [
            (P1[0], 1, Decimal("25.90"), jan.replace(day=20), jan.replace(day=20)),
            (P2[0], 2, Decimal("109.00"), jan.replace(day=4), jan.replace(day=28)),
            (P3[0], 1, Decimal("39.80"), jan.replace(day=5), jan.replace(day=5)),
        ],
        "purchases": [(W, 1), (Z, 1), (Y, 1), (X, 1), (V, 1)],
    }
    for name, order in (("reversed", [2, 1, 0]), ("shuffled", [1, 2, 0])):
        assert final_state(import_in_order(tmp_path, name, pairs, order)) == in_date_order, name


def test_overlapping_exports_in_any_order_and_forced_again_leave_one_row_per_order_id(export, tmp_path) -> None:
    """Issue 12 item: orders holds no PRIMARY KEY (its index cost most of a large Tmall write): the
    import keeps order_id unique. Overlapping monthly exports, in date order, reversed, and with
    each pair forced in again, leave one orders row per order id."""
    pairs = monthly_exports(export)
    for name, order in (("dated", [0, 1, 2]), ("reversed", [2, 1, 0])):
        home = import_in_order(tmp_path, name, pairs, order)
        for pair in pairs:
            assert run_tmall(home, pair, force=True)["status"] == "succeeded"
        assert read_rows(home, "SELECT count(*), count(DISTINCT order_id) FROM orders") == [(5, 5)], name
        assert read_rows(home, "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'orders' "
                         "AND constraint_type = 'PRIMARY KEY'") == [(0,)]  # fmt: skip


def test_rule_backfill_in_any_order_ends_in_the_same_order_items(export, tmp_path) -> None:
    sold = make_order(X, P1[0], name=P1[1], items=[item(JEANS), item(SOCKS, 2)])
    refunded = make_order(X, P1[0], name=P1[1], status=CLOSED, items=[item(JEANS), item(SOCKS, 2)])
    pairs = [export([sold], stamp="201702010000"), export([refunded], stamp="201703010000")]
    sql = "SELECT order_id, status, line_number, title, price, quantity, sku_code FROM order_items ORDER BY 1, 3"
    in_date_order = read_rows(import_in_order(tmp_path, "dated", pairs, [0, 1]), sql)
    assert in_date_order == [
        (X, CLOSED, 1, JEANS[0], Decimal("129.00"), 1, "NZ-2003"),
        (X, CLOSED, 2, SOCKS[0], Decimal("19.90"), 2, "WZ-1301"),
    ]
    assert read_rows(import_in_order(tmp_path, "reversed", pairs, [1, 0]), sql) == in_date_order


# --- 13. order items ---------------------------------------------------------------------------------------------


def test_rule_items_of_imported_orders_are_imported_with_exact_values(export, tmall, query) -> None:
    orders = [
        make_order(ID19, items=[item(TSHIRT, 2), item(JEANS), item(SOCKS, 3)]),
        make_order(ID18, "13800138000", items=[item(("羊毛围巾 秋冬保暖 格纹", "89.90", "WJ-6001"))]),
    ]
    summary = tmall(export(orders, item_template="2021", order_template="2021"))
    assert summary["items_imported"] == 4
    assert query(
        "SELECT order_id, line_number, title, price, quantity, sku_code, batch_id FROM order_items ORDER BY 1, 2"
    ) == [
        (ID18, 1, "羊毛围巾 秋冬保暖 格纹", Decimal("89.90"), 1, "WJ-6001", summary["batch_id"]),
        (ID19, 1, TSHIRT[0], Decimal("59.00"), 2, "TX-1001", summary["batch_id"]),
        (ID19, 2, JEANS[0], Decimal("129.00"), 1, "NZ-2003", summary["batch_id"]),
        (ID19, 3, SOCKS[0], Decimal("19.90"), 3, "WZ-1301", summary["batch_id"]),
    ]


def test_rule_items_of_failed_orders_are_not_imported(export, tmall, query) -> None:
    orders = [
        make_order(ID19, items=[item(TSHIRT)]),
        make_order(ID18, status=WAITING_PAYMENT, items=[item(JEANS), item(SOCKS)]),
        make_order(ID17, None, items=[item(SOCKS)]),
    ]
    summary = tmall(export(orders))
    assert summary["items_imported"] == 1
    assert query("SELECT order_id, title FROM order_items") == [(ID19, TSHIRT[0])]
    assert failure_codes(query, summary["batch_id"], "items") == {}


def test_rule_item_without_order_fails_item_without_order(export, tmall, query, tmp_path) -> None:
    with_orphan = export([make_order(ID19, items=[item(TSHIRT)]), make_order(ID18, items=[item(JEANS), item(SOCKS)])])
    only_first = export([make_order(ID19, items=[item(TSHIRT)])])
    summary = tmall((only_first[0], with_orphan[1]))  # the item report lists ID18's two lines, the order report not
    assert counts(summary) == (1, 1, 0, 1, 0)
    assert summary["items_imported"] == 1
    assert query(
        "SELECT row_number, reason_code, reason_codes, file_role FROM import_failures WHERE batch_id = ? ORDER BY 1",
        [summary["batch_id"]],
    ) == [
        (3, "item_without_order", ["item_without_order"], "items"),
        (4, "item_without_order", ["item_without_order"], "items"),
    ]
    assert query("SELECT order_id FROM order_items") == [(ID19,)]
    assert summary["failure_file"] is None
    items_failures = Path(summary["items_failure_file"])
    rows = list(csv.reader(io.StringIO(items_failures.read_bytes().decode("utf-8-sig"), newline="")))
    assert rows[0] == [*item_columns("2016"), "row_number", "reason_code", "reason"]
    assert [(r[-3], r[-2]) for r in rows[1:]] == [("3", "item_without_order"), ("4", "item_without_order")]


def test_rule_customer_profiles_kept_per_batch_equal_a_full_recomputation(
    export, tmall, query, make_csv, run_import, paths
) -> None:
    """Imports recompute only their own customers' profiles; the result must be every customer's."""
    from cdp_pipeline.warehouse import connect, run_sql

    run_import(make_csv([["手机号码", "姓名", "积分"], ["13912345678", "王伟", "10"], ["13700000009", "周杰", "5"]]))
    tmall(
        export([make_order(ID19, status=SUCCESS), make_order(ID18, "13800000001", name="陈静")], stamp="201707010000")
    )
    tmall(export([make_order(ID19, status=CLOSED)], stamp="201708010000"))
    run_import(make_csv([["手机号码", "积分"], ["13800000001", "42"], ["13600000003", "1"]]))
    profiles = "SELECT * FROM customer_profiles ORDER BY customer_id"
    kept = query(profiles)
    assert len(kept) == query("SELECT count(*) FROM customers")[0][0] == 4
    with connect(paths.warehouse) as con:  # every customer's profile, recomputed from scratch
        run_sql(con, "customer_profiles", profile_scope="customers")
    assert query(profiles) == kept


def test_rule_tmall_row_of_empty_cells_and_null_markers_is_skipped_not_failed(export, tmall, query) -> None:
    """A record whose every cell is empty, null or 'null is skipped; one with any cell filled is judged."""
    orders_path, items_path = export([make_order(ID19)])
    for path, filled in ((orders_path, None), (items_path, None), (orders_path, "王伟")):
        width = len(path.read_text(encoding="gbk").splitlines()[0].split(","))
        cells = ['""', '"null"', '"\'null"', '"NaN"'] * width
        if filled:
            cells[1] = f'"{filled}"'
        with path.open("a", encoding="gbk") as report:
            report.write(",".join(cells[:width]) + "\n")
    summary = tmall((orders_path, items_path))
    assert (summary["scanned"], summary["skipped"]) == (3, 1)
    assert (summary["orders_imported"], summary["orders_failed"]) == (1, 1)
    assert set(failure_codes(query, summary["batch_id"])) == {4}  # row 3 (all empty) skipped, row 4 judged
    assert failure_codes(query, summary["batch_id"], "items") == {}


# Cells that tmall_text's shortcuts settle (ids, apostrophe phones, null markers) and cells that
# look alike but must take the full unwrapping; each must clean as the full unwrapping does.
TMALL_CELLS = [
    '="3515668939170625631"',
    "'13800138000",
    "null",
    "NULL",
    "NaN",
    "nan",
    "",
    "王伟",
    "12.50",
    '=""',
    '="null"',
    "'null",
    "''13800138000",
    '="35156 68939"',
    '="351566a"',
    '= "3515"',
    '="3515" ',
    " 3515",
    "'1380013800\u3000",
    "'",
    "=",
    '="',
    "\ufeff'13800138000",
    "nulls",
    " null ",
    "'+8613800138000",
    '="\uff11\uff12"',
    "'\u0661\u0662",
]
# Addresses split by single spaces (split_part's shortcut) and every other shape (the regular
# expressions): the province and city must be those of the regular expressions.
TMALL_ADDRESSES = [
    GUANGZHOU,
    HANGZHOU,
    SHANGHAI,
    "广东 广州 越秀区",
    "广东省 广州市",
    "广东省",
    "广东省 ",
    "广东省  广州市 越秀区",
    "广东省\u3000广州市 越秀区",
    " 广东省 广州市",
    "\ufeff广东省 广州市",
    "广东省\ufeff 广州市",
    "广东省 广州市\ufeff 越秀区",
    "广东省\t广州市",
    "广东省 510030 越秀区",
    "内蒙古自治区 阿拉善盟 某地",
    "广西壮族自治区 南宁市 青秀区",
    "火星 广州市",
    "广东省 广州市\xa0越秀区",
    "广东省 广州市\n越秀区",
    "北京市 北京市 朝阳区",
    "",
    " ",
    "\ufeff",
]


def test_rule_tmall_cleaning_shortcuts_match_the_full_cleaning() -> None:
    """The shortcuts of tmall_text and of the address split give what the general path gives."""
    from cdp_pipeline.warehouse import macros_sql

    con = duckdb.connect()
    con.execute(macros_sql())
    full = "list_filter([tmall_unwrapped(v)], lambda t: lower(t) NOT IN ('', 'null', 'nan'))[1]"
    rows = con.execute(f"SELECT v, tmall_text(v), {full} FROM unnest($v::VARCHAR[]) t(v)", {"v": TMALL_CELLS})
    cleaned = rows.fetchall()
    assert [(v, fast) for v, fast, _ in cleaned] == [(v, slow) for v, _, slow in cleaned]
    assert [fast for _, fast, _ in cleaned][:7] == ["3515668939170625631", "13800138000", None, None, None, None, None]
    general = (
        "address_part_province(address_first(v)), CASE WHEN address_part_province(address_first(v)) IS NOT NULL "
        "THEN address_part_city(address_second(v)) END"
    )
    rows = con.execute(
        f"SELECT v, address_province(v), address_city(v), {general} FROM unnest($v::VARCHAR[]) t(v)",
        {"v": TMALL_ADDRESSES},
    )
    regions = rows.fetchall()
    assert [(v, p, c) for v, p, c, _, _ in regions] == [(v, p, c) for v, _, _, p, c in regions]
    assert regions[0][1:3] == ("广东省", "广州市") and regions[3][1:3] == ("广东省", "广州市")


# --- 14. issue 14: real exports (blank order numbers, order words, newer layouts, XLSX) -------------------------

BLANK_ORDER_IDS = ["", '=""', "null", " "]


@pytest.mark.parametrize("blank", BLANK_ORDER_IDS, ids=["empty", "empty-id-formula", "null", "space"])
@pytest.mark.parametrize("blanks", [1, 2])
def test_issue14_blank_order_number_fails_only_its_own_row(export, tmall, query, blank, blanks) -> None:
    """Issue 14 item 1: a row whose 订单编号 is empty fails alone as missing_order_id; one such row
    crashed the import (NOT NULL constraint on tmall_order_history.order_id), two made every order
    of the file fail duplicate_in_file (a NOT IN over a set holding NULL)."""
    valid = [make_order(ID19), make_order(ID18, "13800138000"), make_order(ID17, "13700137000")]
    blanked = [make_order(ID16, "13600136000"), make_order(ID17B, "13500135000")][:blanks]
    orders_path, items_path = export([*valid, *blanked])
    patch_cells(orders_path, {record: {"订单编号": blank} for record in range(5, 5 + blanks)})

    summary = tmall((orders_path, items_path))

    assert summary["status"] == "succeeded"
    assert counts(summary) == (3 + blanks, 3, blanks, 3, 0)
    assert summary["orders_imported"] + summary["orders_failed"] == summary["orders_scanned"]
    assert query("SELECT order_id FROM orders ORDER BY order_id") == sorted((o.order_id,) for o in valid)
    assert failure_codes(query, summary["batch_id"]) == dict.fromkeys(range(5, 5 + blanks), "missing_order_id")
    assert query("SELECT count(*) FROM tmall_order_history WHERE order_id IS NULL OR order_id = ''") == [(0,)]
    # the blanked orders' item lines now name orders the order report does not list
    assert set(failure_codes(query, summary["batch_id"], "items").values()) == {"item_without_order"}


def test_issue14_blank_order_numbers_beside_a_real_duplicate(export, tmall, query) -> None:
    """Issue 14 item 1: rows sharing an order number fail duplicate_in_file, blank rows fail
    missing_order_id, and every other order imports: a NULL key never takes part in duplicates."""
    orders = [
        make_order(ID19),
        make_order(ID18, "13800138000"),
        make_order(ID17, "13700137000"),
        make_order(ID16, "13600136000"),
        make_order(ID17B, "13500135000"),
        make_order("35156689391706211", "13400134000"),
    ]
    orders_path, items_path = export(orders)
    patch_cells(orders_path, {3: {"订单编号": f'="{ID19}"'}, 5: {"订单编号": ""}, 6: {"订单编号": "null"}})

    summary = tmall((orders_path, items_path))

    assert counts(summary) == (6, 2, 4, 2, 0)
    assert failure_codes(query, summary["batch_id"]) == {
        2: "duplicate_in_file",
        3: "duplicate_in_file",
        5: "missing_order_id",
        6: "missing_order_id",
    }
    assert query("SELECT order_id FROM orders ORDER BY order_id") == sorted([(ID17,), ("35156689391706211",)])


@pytest.mark.parametrize("item_template", ["2016", "2020", "2024"])
def test_issue14_item_row_without_order_number_fails_missing_order_id(export, tmall, query, item_template) -> None:
    """Issue 14 item 1: an item-report row with an empty order number fails as missing_order_id (in
    the item report's failures, with its own words), not as an item of an unknown order; the other
    lines of the report import."""
    orders = [make_order(ID19, items=[item(TSHIRT), item(JEANS)]), make_order(ID18, "13800138000")]
    orders_path, items_path = export(orders, order_template="2019", item_template=item_template)
    key = "订单编号" if item_template == "2016" else "主订单编号"
    patch_cells(items_path, {3: {key: ""}})

    summary = tmall((orders_path, items_path))

    assert counts(summary) == (2, 2, 0, 2, 0)
    assert summary["items_imported"] == 2
    [(row, code, reason, role)] = query(
        "SELECT row_number, reason_code, reason, file_role FROM import_failures WHERE batch_id = ? ORDER BY 1",
        [summary["batch_id"]],
    )
    assert (row, code, role) == (3, "missing_order_id", "items")
    assert reason.startswith("宝贝报表中的订单编号缺失"), reason
    assert query("SELECT order_id, title FROM order_items ORDER BY 1, line_number") == [
        (ID18, TSHIRT[0]),
        (ID19, TSHIRT[0]),
    ]


CUSTOMER_WORDS = ("客户ID", "邮箱", "身份", "customer ID", "email", "identit")


def tmall_reason_codes() -> set[str]:
    """Every reason code the Tmall import can give: its contract's checks and the codes its SQL writes."""
    from cdp_pipeline.batches import reason_catalogue
    from cdp_pipeline.resources import sql_files
    from data_contracts.tmall_orders import tmall_order_contract

    catalogue = {entry["code"] for entry in reason_catalogue()}
    checks = [c.name for c in tmall_order_contract.checks]
    checks += [c.name for column in tmall_order_contract.columns.values() for c in column.checks]
    written = {
        code
        for stem, path in sql_files().items()
        if stem.startswith("tmall_")
        for code in re.findall(r"'([a-z_]+)'", path.read_text(encoding="utf-8"))
        if code in catalogue
    }
    return {*checks, *written}


def test_issue14_every_tmall_reason_speaks_of_orders() -> None:
    """Issue 14 item 2: no reason an order or item row can get speaks of the customer file's keys
    (客户ID, 手机号码/邮箱 matching, identities); the codes stay the shared ones."""
    from cdp_pipeline.batches import reason_catalogue, reason_text

    codes = tmall_reason_codes()
    assert {"duplicate_in_file", "missing_order_id", "item_without_order", "ambiguous_match"} <= codes
    for entry in reason_catalogue():
        if entry["code"] in codes:
            for role in (None, "items"):
                text = reason_text(entry, "tmall", role)
                assert not any(word in text for word in CUSTOMER_WORDS), (entry["code"], role, text)
                assert re.search(r"[\u4e00-\u9fff].* \(.+\)$", text), (entry["code"], text)  # Chinese, then (English)


def test_issue14_duplicated_order_number_fails_with_order_words(export, tmall, query) -> None:
    """Issue 14 item 2: two rows with one order number both fail duplicate_in_file (the code stays),
    told in order words — in import_failures and in the failure file — while a customer file's
    duplicate keeps its sentence about 客户ID/手机号码/邮箱."""
    orders = [make_order(ID19), make_order(ID18, "13800138000"), make_order(ID17, "13700137000")]
    orders_path, items_path = export(orders)
    patch_cells(orders_path, {3: {"订单编号": f'="{ID19}"'}})

    summary = tmall((orders_path, items_path))

    assert counts(summary) == (3, 1, 2, 1, 0)
    reasons = query(
        "SELECT row_number, reason_code, reason FROM import_failures WHERE batch_id = ? AND file_role IS NULL "
        "ORDER BY 1",
        [summary["batch_id"]],
    )
    assert [(r, c) for r, c, _ in reasons] == [(2, "duplicate_in_file"), (3, "duplicate_in_file")]
    assert {reason for _, _, reason in reasons} == {
        "订单报表中有多行相同的订单编号，请合并处理后重新导入 "
        "(the order id appears on more than one row of the order report)"
    }
    rows = list(csv.DictReader(io.StringIO(Path(summary["failure_file"]).read_text(encoding="utf-8-sig"))))
    assert [row["reason"] for row in rows] == [reasons[0][2]] * 2
    assert query("SELECT DISTINCT reason FROM import_failures WHERE reason LIKE '%客户ID%'") == []


def test_issue14_ambiguous_buyer_and_bad_order_time_fail_with_order_words(export, tmall, query, seed) -> None:
    """Issue 14 item 2: a receiver mobile owned by two customers and an unreadable order time get
    order words too (a customer file is told about identities and birthdays)."""
    seed(
        [
            {"customer_id": "C0000000001", "mobile": "13800138000"},
            {"customer_id": "C0000000002", "mobile": "13800138000"},
        ]
    )
    orders_path, items_path = export([make_order(ID19, "13800138000"), make_order(ID18, "13700137000")])
    patch_cells(orders_path, {3: {"订单创建时间": "昨天"}})

    summary = tmall((orders_path, items_path))

    assert counts(summary) == (2, 0, 2, 0, 0)
    assert query(
        "SELECT row_number, reason_code, reason FROM import_failures WHERE batch_id = ? ORDER BY 1",
        [summary["batch_id"]],
    ) == [
        (2, "ambiguous_match", "联系手机属于多个客户，无法确定买家 (the receiver mobile belongs to several customers)"),
        (3, "invalid_date", "订单创建时间无法识别 (invalid order time; use 2017-07-08 00:42:32 or 2017/7/8 0:42)"),
    ]


def test_issue14_customer_file_keeps_its_own_duplicate_sentence(make_csv, run_import, query) -> None:
    """Issue 14 item 2: the per-file words are the Tmall import's; a customer file's duplicate keeps
    the spec's sentence (SPEC §2)."""
    summary = run_import(make_csv([["手机号码"], ["13800138000"], ["13800138000"]]))
    assert query(
        "SELECT DISTINCT reason_code, reason FROM import_failures WHERE batch_id = ?", [summary["batch_id"]]
    ) == [("duplicate_in_file", "检测客户ID、手机号码、邮箱、身份后,发现文件中有相同的客户,请合并处理后重新导入")]


def two_orders() -> list[Order]:
    return [
        make_order(ID19, "13912345678", items=[item(TSHIRT), item(JEANS, 2)]),
        make_order(
            ID17,
            "13800138000",
            status=SHIPPED,
            name="李娜",
            address=HANGZHOU,
            ordered_at=T0 + dt.timedelta(days=1),
            items=[item(SOCKS, 3)],
            total="65.70",
        ),
    ]


@pytest.mark.parametrize(("order_template", "item_template"), [("2020", "2020"), ("2020b", "2024"), ("2020", "2016")])
def test_issue14_2020_order_report_with_67_columns_imports(export, tmall, query, order_template, item_template) -> None:
    """Issue 14 item 3: the 2019–2020 layout with 满返红包金额, 直播返现状态, 返现金额, 新零售成交门店昵称,
    新零售成交门店id and 新零售成交经销商id (67 columns) was refused as an unknown template."""
    orders_path, items_path = export(two_orders(), order_template=order_template, item_template=item_template)
    header = next(csv.reader(io.StringIO(orders_path.read_bytes().decode("gbk"))))
    assert len(header) == 67 and "满返红包金额" in header and "新零售成交经销商id" in header

    summary = tmall((orders_path, items_path))

    assert (summary["order_template"], summary["item_template"]) == (order_template, item_template)
    assert counts(summary) == (2, 2, 0, 2, 0)
    assert summary["items_imported"] == 3
    assert query(
        "SELECT order_id, status, ordered_at, total_amount, paid_amount, receiver_mobile, province, city, buyer_nick "
        "FROM orders ORDER BY ordered_at"
    ) == [
        (ID19, SUCCESS, T0, Decimal("317.00"), Decimal("317.00"), "13912345678", "广东省", "广州市", "tb12345678"),
        (
            ID17,
            SHIPPED,
            T0 + dt.timedelta(days=1),
            Decimal("65.70"),
            Decimal("65.70"),
            "13800138000",
            "浙江省",
            "杭州市",
            "tb12345678",
        ),
    ]


def test_issue14_every_template_feeds_every_field() -> None:
    """Issue 14 item 3: each known layout (older and newer) gives every field the import reads a
    column, so a layout that renames a column cannot import with the field silently empty; the
    2016 item report alone has no sub-order number."""
    from cdp_pipeline.tmall_import import tmall_templates

    templates = tmall_templates()
    for kind, layouts, fields in (
        ("orders", templates.orders, templates.order_fields),
        ("items", templates.items, templates.item_fields),
    ):
        for name, columns in layouts.items():
            unfed = {field for field, aliases in fields.items() if not set(aliases) & set(columns)}
            assert unfed == ({"sub_order_id"} if (kind, name) == ("items", "2016") else set()), (kind, name)
            assert len(columns) == len(set(columns)), (kind, name)
    assert len(templates.orders["2020"]) == len(templates.orders["2020b"]) == 67


# What Excel does to a Tmall CSV opened and saved as .xlsx: ="..." is a formula whose result is its
# text (the saved cell holds the plain id as text); a number becomes a number of 15 significant
# digits; a time a date-time; the rest — apostrophe phones ('139...: a CSV cell is not typed, so
# the apostrophe stays), null, 0元, No:77... — text; an empty cell no cell.
EXCEL_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
EXCEL_TIMES = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d")


def excel_value(cell: str, ids_as_numbers: bool = False):
    if cell.startswith('="') and cell.endswith('"'):
        cell = cell[2:-1]
        if not (ids_as_numbers and cell):
            return cell or None
    if cell == "":
        return None
    if EXCEL_NUMBER.fullmatch(cell):
        return float(f"{float(cell):.15g}")
    for time_format in EXCEL_TIMES:
        try:
            return dt.datetime.strptime(cell, time_format)
        except ValueError:
            pass
    return cell


def save_as_xlsx(path: Path, phones_as_numbers: bool = False, numeric_ids: dict[int, str] | None = None) -> Path:
    """The report ``path`` as Excel saves it: ``phones_as_numbers`` for a sheet whose 联系手机 cells
    were retyped as numbers; ``numeric_ids`` {record: column} for id cells converted to numbers."""
    from openpyxl import Workbook

    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("gbk"), newline="")))
    header = [h.strip() for h in rows[0]]
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(rows[0])
    for record, cells in enumerate(rows[1:], start=2):
        numeric = (numeric_ids or {}).get(record)
        values = [excel_value(c, ids_as_numbers=numeric == name) for c, name in zip(cells, [*header, ""], strict=False)]
        if phones_as_numbers and "联系手机" in header:
            phone = values[header.index("联系手机")]
            if isinstance(phone, str) and phone.startswith("'"):
                values[header.index("联系手机")] = float(phone[1:])
        sheet.append(values)
    target = path.with_suffix(".xlsx")
    workbook.save(target)
    return target


def imported_state(paths: CdpPaths, batch_id: str) -> dict[str, list[tuple]]:
    return {
        "orders": read_rows(
            paths,
            "SELECT order_id, customer_id, status, ordered_at, paid_at, total_amount, paid_amount, receiver_name, "
            "receiver_mobile, province, city, address, buyer_nick, shop_name, export_at FROM orders ORDER BY 1",
        ),
        "items": read_rows(
            paths,
            "SELECT order_id, line_number, sub_order_id, title, price, quantity, sku_code, external_code, properties, "
            "status FROM order_items ORDER BY 1, 2",
        ),
        "customers": read_rows(paths, "SELECT customer_id, name, mobile, province, city FROM customers ORDER BY 1"),
        "failures": read_rows(
            paths,
            "SELECT file_role, row_number, reason_code FROM import_failures WHERE batch_id = ? ORDER BY 1, 2",
            [batch_id],
        ),
    }


XLSX_CASES = [
    ("2016", "2016", False, False),
    ("2020", "2024", True, False),
    ("2021", "2021", False, True),
]


@pytest.mark.parametrize(("order_template", "item_template", "excel_dates", "phones_as_numbers"), XLSX_CASES)
def test_issue14_report_saved_as_xlsx_in_excel_imports_like_its_csv(
    export, tmp_path, order_template, item_template, excel_dates, phones_as_numbers
) -> None:
    """Issue 14 item 3: an order report and an item report opened in Excel and saved as .xlsx
    import exactly as their CSV files: the same orders, items, customers and failures."""
    orders = [
        *two_orders(),
        make_order(ID18, "139****5678", name="王伟", status=PAID, ordered_at=T0 + dt.timedelta(hours=5)),
        make_order(ID16, None, name="张敏", items=[Item("赠品 帆布袋", Decimal("0.00"), 1, "ZP-0001")]),
        make_order(ID17B, "13700137000", status=WAITING_PAYMENT),
    ]
    csv_pair = export(orders, order_template=order_template, item_template=item_template, excel_dates=excel_dates)
    patch_cells(csv_pair[0], {5: {"总金额": "0元", "买家实际支付金额": "0元"}})
    xlsx_pair = (save_as_xlsx(csv_pair[0], phones_as_numbers), save_as_xlsx(csv_pair[1]))

    from_csv, from_xlsx = CdpPaths(tmp_path / "csv").ensure(), CdpPaths(tmp_path / "xlsx").ensure()
    csv_summary, xlsx_summary = run_tmall(from_csv, csv_pair), run_tmall(from_xlsx, xlsx_pair)

    assert xlsx_summary["status"] == "succeeded"
    assert (xlsx_summary["order_template"], xlsx_summary["item_template"]) == (order_template, item_template)
    assert counts(xlsx_summary) == counts(csv_summary) == (5, 3, 2, 2, 0)
    assert xlsx_summary["items_imported"] == csv_summary["items_imported"] == 4
    assert imported_state(from_xlsx, xlsx_summary["batch_id"]) == imported_state(from_csv, csv_summary["batch_id"])


def test_issue14_xlsx_order_id_stored_as_a_number_fails_rather_than_import_a_wrong_id(export, tmall, query) -> None:
    """Issue 14 item 3: an id cell Excel turned into a number has lost its last digits (15
    significant digits): the order fails missing_order_id instead of importing under a wrong id,
    and an item line whose order number is such a number fails in the item report."""
    orders_path, items_path = export(two_orders(), order_template="2020", item_template="2024")
    xlsx_orders = save_as_xlsx(orders_path, numeric_ids={3: "订单编号"})  # ID17's row
    xlsx_items = save_as_xlsx(items_path, numeric_ids={2: "主订单编号"})  # ID19's first line

    summary = tmall((xlsx_orders, xlsx_items))

    assert counts(summary) == (2, 1, 1, 1, 0)
    assert summary["orders_imported"] + summary["orders_failed"] == summary["orders_scanned"]
    assert query("SELECT order_id FROM orders") == [(ID19,)]
    assert not query("SELECT order_id FROM orders WHERE order_id LIKE '351566893917062%' AND order_id <> ?", [ID19])
    assert failure_codes(query, summary["batch_id"]) == {3: "missing_order_id"}
    # ID19's first line (its order number a number) and ID17's line (the order report lost that number)
    assert failure_codes(query, summary["batch_id"], "items") == {2: "missing_order_id", 4: "item_without_order"}
    assert query("SELECT order_id, title FROM order_items") == [(ID19, JEANS[0])]


# --- the real `cdp` command ------------------------------------------------------------------------------------

CDP = str(Path(sys.executable).with_name("cdp"))


def cdp_import_tmall(home: Path, orders_path: Path, items_path: Path) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"} | {"CDP_HOME": str(home)}
    command = [CDP, "import", "tmall", "--orders", str(orders_path), "--items", str(items_path), "--json"]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)


def test_issue14_cli_blank_order_numbers_fail_alone(export, tmp_path) -> None:
    """Issue 14 item 1, from the command line: an order report with two blank 订单编号 rows exits 0,
    imports every other order and reports the blank rows as missing_order_id (it crashed, or
    failed every order as a duplicate)."""
    orders_path, items_path = export(
        [make_order(ID19), make_order(ID18, "13800138000"), make_order(ID17, "13700137000"), make_order(ID16)]
    )
    patch_cells(orders_path, {3: {"订单编号": ""}, 5: {"订单编号": '=""'}})

    result = cdp_import_tmall(tmp_path / "cdp", orders_path, items_path)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert (report["orders_scanned"], report["orders_imported"], report["orders_failed"]) == (4, 2, 2)
    assert report["orders_imported"] + report["orders_failed"] == report["orders_scanned"]
    rows = list(csv.DictReader(io.StringIO(Path(report["failure_file"]).read_text(encoding="utf-8-sig"))))
    assert [(r["row_number"], r["reason_code"]) for r in rows] == [("3", "missing_order_id"), ("5", "missing_order_id")]
    assert all(r["reason"].startswith("订单编号缺失") for r in rows)


def test_issue14_cli_imports_the_67_column_layout_and_its_xlsx(export, tmp_path) -> None:
    """Issue 14 item 3, from the command line: the 67-column order report (refused before with
    exit 2, "headers match no known Tmall order report template") imports, and so does the pair
    saved as .xlsx in Excel."""
    home = tmp_path / "cdp"
    orders_path, items_path = export(two_orders(), order_template="2020", item_template="2020")
    result = cdp_import_tmall(home, orders_path, items_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["status"], report["order_template"], report["orders_imported"]) == ("succeeded", "2020", 2)

    orders_path, items_path = export(two_orders(), stamp="201710010000", order_template="2020b", item_template="2024")
    result = cdp_import_tmall(home, save_as_xlsx(orders_path), save_as_xlsx(items_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["status"], report["order_template"], report["item_template"]) == ("succeeded", "2020b", "2024")
    assert (report["orders_scanned"], report["orders_imported"], report["orders_failed"]) == (2, 2, 0)
    assert report["items_imported"] == 3


def test_rule_tmall_batches_do_not_count_unchanged(export, tmall, query) -> None:
    """Issue 14 item 15: `unchanged` is NULL for a Tmall batch, a re-import of the same export
    too: every known order is written again with this export's state, time and history row, so
    none "changed nothing" (orders_imported and the order history say what happened)."""
    pair = export([make_order(ID19, status=SUCCESS, paid="59.00")])
    first = tmall(pair)
    again = tmall(pair, force=True)
    assert (again["updated"], first["unchanged"], again["unchanged"]) == (1, None, None)
    assert query("SELECT kind, updated, unchanged FROM import_batches ORDER BY started_at") == [
        ("tmall", 0, None),
        ("tmall", 1, None),
    ]
