"""Tmall (天猫) order-export file pairs shaped like real seller back-office exports.

A pair is an order report ``ExportOrderList<YYYYMMDDHHMM>.csv`` (one row per order) and an item report
``ExportOrderDetailList<YYYYMMDDHHMM>.csv`` (one row per order line) with the same stamp. The header lists
come from ``data_contracts/tmall_templates.yaml``; the quirks reproduced are the real exports' ones
(``../shared/tmall_templates.md``):

- GBK/GB18030 text (or UTF-8 on request), CRLF line endings, every field double-quoted;
- order-report headers ``收货地址 ``, ``联系电话 ``, ``订单付款时间 ``, ``宝贝标题 ``, ``宝贝种类 ``, ``物流单号 ``
  carry a trailing space;
- ids as ``="351566893917062563"`` (empty id-like cells as ``=""``), mobiles as ``'13912345678`` (masked ones as
  ``139****5678``), empty cells as ``null`` / ``'null`` (``null_style``);
- money ``12.50`` / ``0.00`` and ``0元`` for 买家服务费; times ``2017-07-08 00:42:32`` or, with ``excel_dates``,
  ``2016/5/23 22:02``; addresses ``广东省 广州市 越秀区 中山路1号(510030)``;
- the 2016 item report ends every data line (not the header) with a trailing comma.

Everything is deterministic: ``random_orders`` draws from ``random.Random(seed)`` and the writer derives its
decorative values (tracking numbers, carriers, payment numbers…) from the order id.

Example::

    from samples.tmall import random_orders, write_tmall_pair
    orders_csv, items_csv = write_tmall_pair(tmp_path, random_orders(20, seed=1), order_template="2019")
"""

from __future__ import annotations

import bisect
import datetime
import functools
import itertools
import random
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from cdp_pipeline.resources import contract_text

# Statuses exactly as exported (the commas are full-width, U+FF0C).
WAITING_PAYMENT = "等待买家付款"
PAID = "买家已付款，等待卖家发货"
SHIPPED = "卖家已发货，等待买家确认"
PARTLY_SHIPPED = "卖家部分发货"
SUCCESS = "交易成功"
CLOSED = "交易关闭"
STATUSES: tuple[str, ...] = (WAITING_PAYMENT, PAID, SHIPPED, PARTLY_SHIPPED, SUCCESS, CLOSED)
_STATUS_WEIGHTS = (6, 8, 12, 2, 60, 12)  # default mix in random_orders
_SHIPPED_STATUSES = frozenset({SHIPPED, PARTLY_SHIPPED, SUCCESS})

# Order-report header names written with a trailing space, as real exports do.
TRAILING_SPACE_HEADERS = frozenset({"收货地址", "联系电话", "订单付款时间", "宝贝标题", "宝贝种类", "物流单号"})
ENCODINGS = {"gb18030": "gb18030", "gbk": "gbk", "utf-8": "utf-8", "utf8": "utf-8"}
NULL_STYLES = ("null", "'null", "")
_STAMP = re.compile(r"\d{12}")
_CENT = Decimal("0.01")
_ZERO = Decimal("0.00")

_CARRIERS = ("中通快递", "圆通速递", "韵达快递", "申通快递", "顺丰速运", "百世快递", "邮政EMS")
_CLOSE_REASONS = ("买家不想买了", "未及时付款", "其他原因", "买家信息填写错误，重新拍", "卖家缺货")
_COLOURS = ("黑色", "白色", "红色", "藏青色", "浅灰色", "卡其色")
_SIZES = ("S", "M", "L", "XL", "XXL", "均码")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
_PLACES = (  # province, city, district, postcode
    ("广东省", "广州市", "越秀区", "510030"),
    ("广东省", "深圳市", "南山区", "518052"),
    ("浙江省", "杭州市", "西湖区", "310012"),
    ("上海", "上海市", "浦东新区", "200120"),
    ("北京", "北京市", "朝阳区", "100020"),
    ("四川省", "成都市", "武侯区", "610041"),
    ("江苏省", "南京市", "鼓楼区", "210008"),
    ("湖北省", "武汉市", "江汉区", "430015"),
    ("山东省", "青岛市", "市南区", "266001"),
    ("福建省", "厦门市", "思明区", "361001"),
)
_STREETS = ("中山路", "人民路", "解放路", "建设路", "和平路", "文化路", "新华路", "长江路", "天河路", "学院路")
_MOBILE_PREFIXES = ("130", "135", "136", "137", "138", "139", "150", "152", "158", "159", "186", "187", "188", "199")
_PRODUCTS = (  # title, price, merchant code (商家编码)
    ("夏季新款纯棉T恤 男士圆领短袖", "59.00", "TX-1001"),
    ("修身牛仔裤 弹力小脚裤", "129.00", "NZ-2003"),
    ("加厚羽绒服 白鸭绒 连帽外套", "499.00", "YR-3100"),
    ("真丝印花连衣裙 2017春夏新品", "368.00", "LY-4207"),
    ("运动休闲鞋 透气网面跑步鞋", "219.50", "XZ-5012"),
    ("羊毛围巾 秋冬保暖 格纹", "89.90", "WJ-6001"),
    ("帆布双肩包 学生书包", "75.00", "BB-7020"),
    ("棉麻衬衫 长袖 宽松", "109.00", "CS-8105"),
    ("速干运动短裤", "39.90", "DK-9003"),
    ("保温杯 304不锈钢 500ml", "68.00", "BW-1200"),
    ("纯棉袜子 5双装", "19.90", "WZ-1301"),
    ("针织开衫 毛衣外套", "159.00", "ZZ-1402"),
)


@dataclass
class Item:
    """One order line: a product bought in some quantity."""

    title: str
    price: Decimal
    quantity: int
    sku_code: str


@dataclass
class Order:
    """One Tmall order as the pipeline should understand it after cleaning."""

    order_id: str  # digits only
    buyer_nick: str
    status: str
    ordered_at: datetime.datetime
    paid_at: datetime.datetime | None
    total_amount: Decimal
    paid_amount: Decimal
    receiver_name: str
    address: str
    mobile: str | None  # as it should appear after cleaning: "13912345678", "139****5678" or None (missing)
    shop_name: str = "cdp旗舰店"
    items: list[Item] = field(default_factory=list)


@functools.cache
def load_templates() -> dict[str, dict[str, list[str]]]:
    """The template header lists: ``{"orders": {variant: [...]}, "items": {variant: [...]}}`` (trimmed names)."""
    data = yaml.safe_load(contract_text("tmall_templates.yaml"))
    return {
        kind: {str(variant): [str(name) for name in names] for variant, names in data[kind].items()}
        for kind in ("orders", "items")
    }


def order_columns(template: str) -> list[str]:
    """The trimmed header of order-report variant ``template`` (2016a, 2016, 2017, 2018a, 2018, 2019, 2020, 2020b,
    2021)."""
    return list(_template("orders", template))


def item_columns(template: str) -> list[str]:
    """The trimmed header of item-report variant ``template`` (2016, 2020, 2021, 2024)."""
    return list(_template("items", template))


def _template(kind: str, name: str) -> list[str]:
    variants = load_templates()[kind]
    if str(name) not in variants:
        raise ValueError(f"unknown {kind} template {name!r}; choose one of {', '.join(variants)}")
    return variants[str(name)]


# ---------------------------------------------------------------------------------------------------------------------
# Cell formatting


def _line(cells: Sequence[str], trailing_comma: bool = False) -> str:
    """One CSV line, every field quoted (quotes doubled), CRLF-terminated; fast for long files."""
    joined = "\x00".join(cells)  # NUL never occurs in the cells: join, escape quotes once, then split fields
    if '"' in joined:
        joined = joined.replace('"', '""')
    return '"' + joined.replace("\x00", '","') + ('",' if trailing_comma else '"') + "\r\n"


def _money(value: Decimal) -> str:
    return f"{Decimal(value):.2f}"


def _excel_time(moment: datetime.datetime) -> str:
    return f"{moment.year}/{moment.month}/{moment.day} {moment.hour}:{moment.minute:02d}"


def _iso_time(moment: datetime.datetime) -> str:
    return moment.isoformat(" ", "seconds")


def _id(digits: str) -> str:
    return f'="{digits}"'


def _mobile_cell(mobile: str | None, null: str) -> str:
    if mobile is None or not mobile.strip():
        return null
    return mobile if "*" in mobile else "'" + mobile  # masked numbers come without the apostrophe


def _allocate(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` over lines in proportion to ``weights``, cent-exact (the last line takes the rest)."""
    if not weights:
        return []
    whole = sum(weights, _ZERO)
    shares = [
        ((total * weight / whole) if whole else (total / len(weights))).quantize(_CENT) for weight in weights[:-1]
    ]
    return [*shares, total - sum(shares, _ZERO)]


# ---------------------------------------------------------------------------------------------------------------------
# Writing


def _order_values(order: Order, fmt_time, null: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Cells of the order report by (trimmed) column name, plus facts shared with the item report."""
    key = int(order.order_id)
    goods_lines = [(item.price * item.quantity).quantize(_CENT) for item in order.items]
    goods = sum(goods_lines, _ZERO) if order.items else Decimal(order.total_amount)
    postage = max(Decimal(order.total_amount) - goods, _ZERO)
    shipped = order.status in _SHIPPED_STATUSES
    paid_or_ordered = order.paid_at or order.ordered_at
    payment_no = f"{order.paid_at:%Y%m%d}2100100{key % 10**13:013d}" if order.paid_at else ""
    shipped_at = fmt_time(paid_or_ordered + datetime.timedelta(hours=1 + key % 47)) if shipped else ""
    tracking = f"No:77{key * 7919 % 10**11:011d}" if shipped else ""
    carrier = _CARRIERS[key % len(_CARRIERS)] if shipped else ""
    paid_time = fmt_time(order.paid_at) if order.paid_at else ""
    ordered_time = fmt_time(order.ordered_at)
    received_at = (
        fmt_time(paid_or_ordered + datetime.timedelta(days=3 + key % 8, minutes=key % 600))
        if order.status == SUCCESS
        else ""
    )
    paid = _money(order.paid_amount)
    nick_hash = zlib.crc32(order.buyer_nick.encode("utf-8"))
    values = {
        "订单编号": _id(order.order_id),
        "买家会员名": order.buyer_nick,
        "买家支付宝账号": f"{order.buyer_nick[:2]}***{nick_hash % 1000:03d}@163.com",
        "买家会员昵称": order.buyer_nick,
        "支付单号": _id(payment_no),
        "支付详情": f"支付宝:{paid}" if order.paid_at else "",
        "买家应付货款": _money(goods),
        "买家应付邮费": _money(postage),
        "买家支付积分": "0",
        "总金额": _money(order.total_amount),
        "返点积分": str(int(goods)) if order.status == SUCCESS else "0",
        "买家实际支付金额": paid,
        "买家实际支付积分": "0",
        "订单状态": order.status,
        "买家留言": null,
        "收货人姓名": order.receiver_name,
        "收货地址": order.address,
        "运送方式": "快递",
        "联系电话": null,
        "联系手机": _mobile_cell(order.mobile, null),
        "订单创建时间": ordered_time,
        "订单付款时间": paid_time,
        "宝贝标题": "，".join(item.title for item in order.items),
        "宝贝种类": str(len(order.items)),
        "物流单号": tracking,
        "物流公司": carrier,
        "订单备注": null,
        "宝贝总数量": str(sum(item.quantity for item in order.items)),
        "店铺Id": str(100_000_000 + zlib.crc32(order.shop_name.encode("utf-8")) % 900_000_000),
        "店铺名称": order.shop_name,
        "订单关闭原因": _CLOSE_REASONS[key % len(_CLOSE_REASONS)] if order.status == CLOSED else "订单未关闭",
        "卖家服务费": "0.00",
        "买家服务费": "0元",
        "是否手机订单": "是" if key % 5 else "否",
        "特权订金订单id": _id(""),
        "是否上传合同照片": "否",
        "是否上传小票": "否",
        "是否代付": "否",
        "天猫卡券抵扣": "0.00",
        "集分宝抵扣": "0.00",
        "是否是O2O交易": "否",
        "退款金额": "0.00",
        "确认收货时间": received_at,
        "打款商家金额": f"{paid}元" if order.status == SUCCESS else "0.00元",
        "含应开票给个人的个人红包": "0.00",
        "是否信用购": "否",
        "主订单编号": _id(order.order_id),
        "满返红包金额": "0.00",
        "返现金额": "0.00",
        "延迟发货自动赔付金额": "0.00",
        "预售订单": "否",
        "发货时间": shipped_at,
    }
    shared = {
        "goods_lines": goods_lines,
        "paid_lines": _allocate(Decimal(order.paid_amount), goods_lines),
        "payment_no": payment_no,
        "ordered_time": ordered_time,
        "paid_time": paid_time,
        "shipped_at": shipped_at,
        "tracking": tracking,
        "carrier": carrier,
    }
    return values, shared


def _item_values(order: Order, line: int, item: Item, shared: dict[str, Any], null: str) -> dict[str, str]:
    """Cells of one item-report row by column name (``line`` counts from 1)."""
    sku_hash = zlib.crc32(item.sku_code.encode("utf-8"))
    payable = _money(shared["goods_lines"][line - 1])
    actual = _money(shared["paid_lines"][line - 1])
    return {
        "订单编号": _id(order.order_id),
        "子订单编号": _id(f"{order.order_id}{line:02d}"),
        "主订单编号": _id(order.order_id),
        "标题": item.title,
        "商品标题": item.title,
        "价格": _money(item.price),
        "商品价格": _money(item.price),
        "购买数量": str(item.quantity),
        "外部系统编号": null,
        "商品属性": f"颜色分类：{_COLOURS[sku_hash % len(_COLOURS)]};尺码：{_SIZES[sku_hash // 7 % len(_SIZES)]}",
        "备注": null,
        "订单状态": order.status,
        "商家编码": item.sku_code,
        "支付单号": _id(shared["payment_no"]),
        "买家应付货款": payable,
        "买家实际支付金额": actual,
        "买家实付金额": actual,
        "退款状态": "没有申请退款",
        "退款金额": "0.00",
        "订单创建时间": shared["ordered_time"],
        "订单付款时间": shared["paid_time"],
        "商品id": str(520_000_000_000 + sku_hash % 10**11),
        "商品ID": str(520_000_000_000 + sku_hash % 10**11),
        "发货时间": shared["shipped_at"],
        "物流单号": shared["tracking"],
        "物流公司": shared["carrier"],
        "是否赔付": "否",
        "是否主动赔付": "否",
    }


def write_tmall_pair(
    folder: Path,
    orders: Iterable[Order],
    stamp: str = "201709010000",
    order_template: str = "2016",
    item_template: str = "2016",
    encoding: str = "gb18030",
    excel_dates: bool = False,
    null_style: str = "null",
) -> tuple[Path, Path]:
    """Write ExportOrderList<stamp>.csv and ExportOrderDetailList<stamp>.csv; returns (orders_path, items_path).

    ``stamp`` is ``YYYYMMDDHHMM``; ``order_template`` / ``item_template`` name a variant of
    ``data_contracts/tmall_templates.yaml``; ``encoding`` is ``gb18030`` (default), ``gbk`` or ``utf-8``;
    ``excel_dates`` writes times as Excel re-saves them (``2016/5/23 22:02``); ``null_style`` is the text of empty
    nullable cells (买家留言, 订单备注, 联系电话, a missing 联系手机, 外部系统编号, 备注): ``null``, ``'null`` or
    ``""``.
    Rows are written one at a time, so ``orders`` may be a generator.
    """
    if not _STAMP.fullmatch(stamp):
        raise ValueError(f"stamp must be YYYYMMDDHHMM (12 digits), got {stamp!r}")
    codec = ENCODINGS.get(encoding.lower().replace("_", "-"))
    if codec is None:
        raise ValueError(f"unsupported encoding {encoding!r}; choose gb18030, gbk or utf-8")
    if null_style not in NULL_STYLES:
        raise ValueError(f"null_style must be one of {NULL_STYLES}, got {null_style!r}")
    order_cols = _template("orders", order_template)
    item_cols = _template("items", item_template)
    trailing_comma = str(item_template) == "2016"
    fmt_time = _excel_time if excel_dates else _iso_time

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    orders_path = folder / f"ExportOrderList{stamp}.csv"
    items_path = folder / f"ExportOrderDetailList{stamp}.csv"
    buffering = 1 << 20
    with (
        orders_path.open("w", encoding=codec, newline="", buffering=buffering) as order_out,
        items_path.open("w", encoding=codec, newline="", buffering=buffering) as item_out,
    ):
        order_out.write(_line([name + " " if name in TRAILING_SPACE_HEADERS else name for name in order_cols]))
        item_out.write(_line(item_cols))
        for order in orders:
            values, shared = _order_values(order, fmt_time, null_style)
            order_out.write(_line([values.get(name, "") for name in order_cols]))
            for line, item in enumerate(order.items, start=1):
                cells = _item_values(order, line, item, shared, null_style)
                item_out.write(_line([cells.get(name, "") for name in item_cols], trailing_comma))
    return orders_path, items_path


# ---------------------------------------------------------------------------------------------------------------------
# Random orders


def _address(rng: random.Random) -> str:
    province, city, district, postcode = rng.choice(_PLACES)
    street = f"{rng.choice(_STREETS)}{rng.randint(1, 999)}号"
    if rng.random() < 0.6:
        street += f"{rng.randint(1, 30)}栋{rng.randint(1, 30)}{rng.randint(1, 9):02d}室"
    return f"{province} {city} {district} {street}({postcode})"


def _weighted(rng: random.Random, values: Sequence[Any], cumulative: Sequence[int]) -> Any:
    """``rng.choices(values, cum_weights=cumulative)[0]``, faster (this runs several times per order)."""
    return values[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


def _order_id(rng: random.Random, taken: set[str]) -> str:
    while True:
        digits = _weighted(rng, (16, 17, 18, 19), (1, 3, 9, 10))
        candidate = str(rng.randrange(10 ** (digits - 1), 10**digits))
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def random_orders(
    n: int,
    seed: int = 0,
    start: datetime.datetime = datetime.datetime(2017, 1, 1),
    customers: int | None = None,
    masked_share: float = 0.0,
    missing_mobile_share: float = 0.0,
    statuses: Sequence[str] | None = None,
) -> list[Order]:
    """n realistic orders (1–3 items each), buyers drawn from `customers` distinct people (default n//2).

    Deterministic for a seed.

    Orders are in creation order over the year after ``start``. Each customer has one nick (``tb`` + 8 digits), name,
    mobile and address. ``masked_share`` of the orders carry the mobile masked (``139****5678``) and
    ``missing_mobile_share`` carry none; ``statuses`` (default: a realistic mix of ``STATUSES``) are drawn uniformly.
    Unpaid orders (等待买家付款, most 交易关闭) have ``paid_at=None`` and ``paid_amount=0.00``.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(seed)
    people = max(1, customers if customers is not None else n // 2)
    nicks = rng.sample(range(10_000_000, 100_000_000), people)
    numbers = rng.sample(range(100_000_000), people)
    pool = [
        (
            f"tb{nick}",
            rng.choice(_SURNAMES) + rng.choice(_GIVEN) + (rng.choice(_GIVEN) if rng.random() < 0.7 else ""),
            f"{rng.choice(_MOBILE_PREFIXES)}{number:08d}",
            _address(rng),
        )
        for nick, number in zip(nicks, numbers, strict=True)
    ]
    span = 365 * 86_400
    offsets = sorted(rng.randrange(span) for _ in range(n))
    status_cumulative = list(itertools.accumulate(_STATUS_WEIGHTS))
    products = [(title, Decimal(price), sku) for title, price, sku in _PRODUCTS]
    postages = [Decimal("6.00"), Decimal("8.00"), Decimal("10.00")]
    taken: set[str] = set()
    orders: list[Order] = []
    for offset in offsets:
        nick, name, mobile, address = rng.choice(pool)
        status = rng.choice(statuses) if statuses else _weighted(rng, STATUSES, status_cumulative)
        ordered_at = start + datetime.timedelta(seconds=offset)
        paid = status != WAITING_PAYMENT and not (status == CLOSED and rng.random() < 0.7)
        paid_at = ordered_at + datetime.timedelta(seconds=rng.randint(5, 1800)) if paid else None
        items = [
            Item(title=title, price=price, quantity=_weighted(rng, (1, 2, 3), (80, 95, 100)), sku_code=sku)
            for title, price, sku in rng.sample(products, _weighted(rng, (1, 2, 3), (70, 92, 100)))
        ]
        goods = sum((item.price * item.quantity for item in items), _ZERO)
        postage = rng.choice(postages) if goods < 99 and rng.random() < 0.5 else _ZERO
        total = (goods + postage).quantize(_CENT)
        draw = rng.random()
        if draw < missing_mobile_share:
            shown_mobile = None
        elif draw < missing_mobile_share + masked_share:
            shown_mobile = f"{mobile[:3]}****{mobile[-4:]}"
        else:
            shown_mobile = mobile
        orders.append(
            Order(
                order_id=_order_id(rng, taken),
                buyer_nick=nick,
                status=status,
                ordered_at=ordered_at,
                paid_at=paid_at,
                total_amount=total,
                paid_amount=total if paid else _ZERO,
                receiver_name=name,
                address=address,
                mobile=shown_mobile,
                items=items,
            )
        )
    return orders


def write_random_pair(folder: Path, n: int, seed: int = 0, **kwargs: Any) -> tuple[Path, Path]:
    """Shortcut for demo and benchmark: random_orders + write_tmall_pair.

    Keyword arguments go to ``random_orders`` (start, customers, masked_share, missing_mobile_share, statuses) or
    to ``write_tmall_pair`` (stamp, order_template, item_template, encoding, excel_dates, null_style). Rows are
    streamed to disk one at a time, so n=500_000 never holds the CSV text in memory.
    """
    generator_keys = {"start", "customers", "masked_share", "missing_mobile_share", "statuses"}
    writer_keys = {"stamp", "order_template", "item_template", "encoding", "excel_dates", "null_style"}
    unknown = set(kwargs) - generator_keys - writer_keys
    if unknown:
        raise TypeError(f"write_random_pair() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    orders = random_orders(n, seed=seed, **{k: v for k, v in kwargs.items() if k in generator_keys})
    return write_tmall_pair(folder, orders, **{k: v for k, v in kwargs.items() if k in writer_keys})
