"""Seeded benchmark data: a customer base in the warehouse, customer files (CSV UTF-8 and GB18030,
XLSX), a Tmall export pair, an inbox of small files and ten files dropped together.

Everything is deterministic for a seed: random choices come from DuckDB's ``hash(seed, row, salt)``,
never from ``random()``. Files are written to a temporary name and renamed, so an interrupted run
never leaves a half-written file that a later run would reuse.

The customer file mixes, per 100 rows (matching types need a base customer at the same index,
so rows past the base's size fall back to new customers):

- 12 matches by customer ID (``C0000000042``, some lower-cased), 12 by WeChat openid, 12 by
  mobile and 12 by email (upper-cased, padded) — each row on its own base customer;
- 47 new customers (mobile in one of the accepted spellings, email, openid on 40%), of which
  1 is written twice with a different spelling of the same mobile: 2% in-file duplicates;
- 3 invalid rows (a 10-digit mobile or an email without ``@``);
- 1 empty row (every cell empty).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import os
import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import duckdb

HEADERS = ["客户ID", "姓名", "手机号码", "邮箱", "性别", "省份", "城市", "生日", "积分", "客户标签", "微信openid"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国玉兰志红"
PLACES = [
    ("广东", "广州"),
    ("广东省", "深圳市"),
    ("浙江", "杭州"),
    ("上海", "上海"),
    ("北京市", "北京"),
    ("四川", "成都"),
    ("江苏", "南京市"),
    ("湖北", "武汉"),
    ("山东省", "青岛"),
    ("福建", "厦门"),
]
GENDERS = ["男", "女", "M", "F", "", "female", "先生", "女士"]
TAGS = ["", "", "", "VIP", "新客;活跃", "VIP，老客", "复购"]
EMAIL_DOMAINS = ["qq.com", "163.com", "126.com", "gmail.com", "example.cn"]
BASE_MOBILE = 13_000_000_000  # base customer i has mobile 13000000000 + i
NEW_MOBILE = 15_000_000_000  # new customer on row j has mobile 15000000000 + j
DUPLICATE_SHARE = 0.01  # copies of new rows: the copy and its original both fail, so 2% of rows
# Buckets of hash % 100 → row kind (matching kinds only while the row index is inside the base).
KINDS = [("id", 12), ("openid", 12), ("mobile", 12), ("email", 12), ("invalid", 3), ("empty", 1), ("new", 48)]


# DuckDB's hash(a, b, c) combines the hashes of its arguments linearly: hash(s, j, 'x') and
# hash(s, j, 'y') differ by a constant in their low bits, so choices with different salts would be
# correlated. Hashing the combined hash again mixes them.
HASH_MACRO = "CREATE OR REPLACE TEMP MACRO bench_hash(seed, j, salt) AS hash(hash(seed, j, salt))"


def _list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(values: list[str], salt: str) -> str:
    """A seeded choice from a list literal, per row ``j``."""
    return f"{_list(values)}[1 + (bench_hash($seed, j, '{salt}') % {len(values)})::INTEGER]"


def _kind_case() -> str:
    parts, start = [], 0
    for name, share in KINDS:
        parts.append(f"WHEN bucket < {start + share} THEN '{name}'")
        start += share
    return "CASE " + " ".join(parts) + " END"


def base_openid(index: str) -> str:
    return f"'o' || left(md5('base-' || {index}), 27)"


def _mobile_spelling(mobile: str, salt: str) -> str:
    """One of the spellings the import accepts (SPEC §2), chosen per row."""
    m = f"({mobile})"
    return f"""CASE bench_hash($seed, j, '{salt}') % 9
        WHEN 0 THEN {m}
        WHEN 1 THEN '+86 ' || {m}[1:3] || ' ' || {m}[4:7] || ' ' || {m}[8:11]
        WHEN 2 THEN '0086' || {m}
        WHEN 3 THEN '86' || {m}
        WHEN 4 THEN '0' || {m}
        WHEN 5 THEN {m}[1:3] || '-' || {m}[4:7] || '-' || {m}[8:11]
        WHEN 6 THEN translate({m}, '0123456789', '０１２３４５６７８９')
        WHEN 7 THEN '''' || {m}
        ELSE {m} || '.0' END"""


def _rows_sql() -> str:
    """Every main row (``$rows`` minus the duplicates) as the file's text cells, with its kind."""
    base_id = "'C' || lpad((j + 1)::VARCHAR, 10, '0')"
    base_mobile = f"({BASE_MOBILE} + j)::VARCHAR"
    new_mobile = f"({NEW_MOBILE} + j)::VARCHAR"
    name = (
        f"{_list(list(SURNAMES))}[1 + (bench_hash($seed, j, 's') % {len(SURNAMES)})::INTEGER]"
        f" || {_list(list(GIVEN))}[1 + (bench_hash($seed, j, 'g') % {len(GIVEN)})::INTEGER]"
        f" || CASE WHEN bench_hash($seed, j, 'g3') % 10 < 7 THEN "
        f"{_list(list(GIVEN))}[1 + (bench_hash($seed, j, 'g2') % {len(GIVEN)})::INTEGER] ELSE '' END"
    )
    birthday = """CASE bench_hash($seed, j, 'bf') % 5
        WHEN 0 THEN strftime(d, '%Y-%m-%d') WHEN 1 THEN strftime(d, '%Y/%-m/%-d')
        WHEN 2 THEN strftime(d, '%Y年%-m月%-d日') WHEN 3 THEN strftime(d, '%Y%m%d') ELSE '' END"""
    return f"""
    WITH numbered AS (
        SELECT range AS j, bench_hash($seed, range, 'kind') % 100 AS bucket,
               DATE '1960-01-01' + (bench_hash($seed, range, 'bd') % 16000)::INTEGER AS d,
               {_pick([str(i) for i in range(len(PLACES))], "place")}::INTEGER AS place
        FROM range($main)
    ),
    kinded AS (
        SELECT *, CASE WHEN k IN ('id', 'openid', 'mobile', 'email') AND j >= $base THEN 'new' ELSE k END AS kind
        FROM (SELECT *, {_kind_case()} AS k FROM numbered)
    )
    SELECT j, kind,
        CASE WHEN kind = 'id' THEN
            CASE WHEN bench_hash($seed, j, 'idcase') % 4 = 0 THEN lower({base_id}) ELSE {base_id} END
        ELSE '' END AS customer_id,
        {name} AS name,
        CASE kind
            WHEN 'id' THEN CASE WHEN bench_hash($seed, j, 'idm') % 2 = 0 THEN {_mobile_spelling(base_mobile, "sp")}
                                ELSE '' END
            WHEN 'mobile' THEN {_mobile_spelling(base_mobile, "sp")}
            WHEN 'new' THEN CASE WHEN bench_hash($seed, j, 'nm') % 100 < 85 THEN {_mobile_spelling(new_mobile, "sp")}
                                 ELSE '' END
            WHEN 'invalid' THEN CASE WHEN bench_hash($seed, j, 'inv') % 2 = 0 THEN left({new_mobile}, 10)
                                     ELSE {new_mobile} END
            ELSE '' END AS mobile,
        CASE kind
            WHEN 'mobile' THEN CASE WHEN bench_hash($seed, j, 'me') % 2 = 0 THEN 'u' || j || '@example.com' ELSE '' END
            WHEN 'email' THEN CASE bench_hash($seed, j, 'ecase') % 3
                                  WHEN 0 THEN 'u' || j || '@example.com'
                                  WHEN 1 THEN 'U' || j || '@Example.COM'
                                  ELSE ' u' || j || '@example.com ' END
            WHEN 'new' THEN CASE WHEN bench_hash($seed, j, 'nm') % 100 >= 85 OR bench_hash($seed, j, 'ne') % 10 < 6
                                 THEN 'n' || j || '@' || {_pick(EMAIL_DOMAINS, "dom")} ELSE '' END
            WHEN 'invalid' THEN CASE WHEN bench_hash($seed, j, 'inv') % 2 = 1 THEN 'n' || j || '.example.com'
                                     ELSE '' END
            ELSE '' END AS email,
        {_pick(GENDERS, "gender")} AS gender,
        {_list([p for p, _ in PLACES])}[place + 1] AS province,
        {_list([c for _, c in PLACES])}[place + 1] AS city,
        {birthday} AS birthday,
        CASE WHEN bench_hash($seed, j, 'pt') % 4 = 0 THEN ''
             ELSE (bench_hash($seed, j, 'pts') % 20000)::VARCHAR END AS points,
        {_pick(TAGS, "tags")} AS tags,
        CASE kind
            WHEN 'openid' THEN {base_openid("j")}
            WHEN 'new' THEN CASE WHEN bench_hash($seed, j, 'no') % 10 < 4
                                 THEN 'o' || left(md5('new-' || $seed || '-' || j), 27) ELSE '' END
            ELSE '' END AS openid
    FROM kinded
    """


def _customer_file_sql(rows: int, base: int, seed: int) -> list[str]:
    """The statements that build the temp table ``bench_file`` (the file's rows, ``j`` is the row key)."""
    duplicates = int(rows * DUPLICATE_SHARE) if rows >= 100 else 0
    main = rows - duplicates
    cells = ", ".join(f"CASE WHEN kind = 'empty' THEN '' ELSE {c} END AS {c}" for c in _columns())
    sql = f"""
    CREATE OR REPLACE TEMP TABLE bench_rows AS {_rows_sql()};
    CREATE OR REPLACE TEMP TABLE bench_file AS
    SELECT j, {cells} FROM bench_rows
    UNION ALL
    -- In-file duplicates: a copy of a new customer's row, another spelling of the same mobile
    -- (or the same email where it has no mobile), a different name.
    SELECT $main + row_number() OVER (ORDER BY j) - 1 AS j, '' AS customer_id, '张三' AS name,
           CASE WHEN mobile = '' THEN '' ELSE ({NEW_MOBILE} + j)::VARCHAR END AS mobile,
           email, gender, province, city, birthday, points, tags, openid
    FROM (SELECT * FROM bench_rows WHERE kind = 'new' ORDER BY j LIMIT $duplicates);
    """
    values = {"$main": main, "$base": base, "$duplicates": duplicates, "$seed": seed}
    for name, value in values.items():
        sql = sql.replace(name, str(int(value)))
    return [HASH_MACRO, *(statement for statement in sql.split(";\n") if statement.strip())]


def customer_csv(path: Path, rows: int, base: int, seed: int = 1) -> Path:
    """A customer file of ``rows`` rows against a base of ``base`` customers (see the module doc)."""

    def build(target: Path) -> None:
        con = _scratch()
        try:
            for statement in _customer_file_sql(rows, base, seed):
                con.execute(statement)
            header = ", ".join(f"nullif({c}, '') AS {quote(h)}" for c, h in zip(_columns(), HEADERS, strict=True))
            con.execute(
                f"COPY (SELECT {header} FROM bench_file ORDER BY bench_hash($seed, j, 'order')) "
                f"TO '{_sql_path(target)}' (FORMAT csv, HEADER true)",
                {"seed": seed},
            )
        finally:
            con.close()

    return _cached(path, build)


def customer_rows(rows: int, base: int, seed: int = 1, batch: int = 50_000):
    """The same rows as ``customer_csv``, as tuples in file order (for the XLSX writer)."""
    con = _scratch()
    try:
        for statement in _customer_file_sql(rows, base, seed):
            con.execute(statement)
        cursor = con.execute(
            f"SELECT {', '.join(_columns())} FROM bench_file ORDER BY bench_hash($seed, j, 'order')", {"seed": seed}
        )
        while chunk := cursor.fetchmany(batch):
            yield from chunk
    finally:
        con.close()


def _scratch() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con


def _columns() -> list[str]:
    return ["customer_id", "name", "mobile", "email", "gender", "province", "city", "birthday", "points", "tags",
            "openid"]  # fmt: skip


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def one_row_csv(path: Path) -> Path:
    """One new customer, not in any base."""

    def build(target: Path) -> None:
        with target.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADERS)
            writer.writerow(["", "单行测", "+86 199 0000 0001", "single@example.cn", "女", "广东", "广州",
                             "1990-05-01", "10", "VIP", ""])  # fmt: skip

    return _cached(path, build)


def transcode(source: Path, path: Path, encoding: str = "gb18030") -> Path:
    """``source`` (UTF-8) re-encoded in a streaming pass."""

    def build(target: Path) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")()
        with source.open("rb") as src, target.open("wb") as out:
            while chunk := src.read(4 << 20):
                out.write(decoder.decode(chunk).encode(encoding))
            out.write(decoder.decode(b"", final=True).encode(encoding))

    return _cached(path, build)


def customer_xlsx(path: Path, rows: int, base: int, seed: int = 3) -> Path:
    """The customer mix as Excel saves it: plain mobiles as numbers, ISO birthdays as date cells."""
    import xlsxwriter

    def build(target: Path) -> None:
        book = xlsxwriter.Workbook(
            str(target),
            {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
             "strings_to_urls": False},
        )  # fmt: skip
        sheet = book.add_worksheet("客户")
        date_format = book.add_format({"num_format": "yyyy-mm-dd"})
        sheet.write_row(0, 0, HEADERS)
        for index, row in enumerate(customer_rows(rows, base, seed), start=1):
            cells = list(row)
            for position, value in enumerate(cells):
                if position == 2 and value.isdigit() and len(value) == 11:
                    sheet.write_number(index, position, int(value))
                elif position == 7 and len(value) == 10 and value[4] == "-":
                    sheet.write_datetime(index, position, dt.datetime.fromisoformat(value), date_format)
                elif position == 8 and value.isdigit():
                    sheet.write_number(index, position, int(value))
                elif value:
                    sheet.write_string(index, position, value)
        book.close()

    return _cached(path, build)


def tmall_pair(folder: Path, orders: int, items: int, seed: int = 2017) -> tuple[Path, Path]:
    """A Tmall export pair of ``orders`` orders and ``items`` item lines (GB18030, 2016 templates).

    ``samples.tmall.random_orders`` draws 1–3 lines per order (about 1.4); orders are topped up
    with more products, their amounts recomputed, until the item report has ``items`` lines.
    """
    from samples.tmall import _PRODUCTS, Item, random_orders, write_tmall_pair

    stamp = "201709010000"
    orders_path = folder / f"ExportOrderList{stamp}.csv"
    items_path = folder / f"ExportOrderDetailList{stamp}.csv"
    if orders_path.exists() and items_path.exists():
        return orders_path, items_path
    rng = random.Random(seed)
    generated = random_orders(orders, seed=seed, masked_share=0.05, missing_mobile_share=0.02)
    missing = items - sum(len(o.items) for o in generated)
    products = [(title, Decimal(price), sku) for title, price, sku in _PRODUCTS]

    def topped_up():
        nonlocal missing
        for order in generated:
            if missing > 0 and len(order.items) < len(products):
                have = {item.sku_code for item in order.items}
                extra = [p for p in products if p[2] not in have][: min(missing, rng.choice((1, 1, 2)))]
                postage = order.total_amount - sum((i.price * i.quantity for i in order.items), Decimal("0"))
                added = [Item(title=t, price=p, quantity=1, sku_code=s) for t, p, s in extra]
                total = sum((i.price * i.quantity for i in [*order.items, *added]), Decimal("0")) + postage
                paid = order.paid_amount != 0
                order = dataclasses.replace(
                    order, items=[*order.items, *added], total_amount=total, paid_amount=total if paid else Decimal(0)
                )
                missing -= len(added)
            yield order

    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    written = write_tmall_pair(tmp, topped_up(), stamp=stamp)
    folder.mkdir(parents=True, exist_ok=True)
    for file in written:
        file.replace(folder / file.name)
    tmp.rmdir()
    return orders_path, items_path


def inbox_files(folder: Path, count: int, rows: int = 5) -> list[Path]:
    """``count`` small customer files (distinct content) for the sensor tick."""
    marker = folder / ".complete"
    if marker.exists():
        return sorted(p for p in folder.iterdir() if p.suffix == ".csv")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        path = folder / f"user_2024-06-{1 + n % 28:02d}_{n:04d}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADERS)
            for r in range(rows):
                k = n * rows + r
                writer.writerow(["", f"收件{k}", str(17_000_000_000 + k), f"inbox{k}@example.cn", "", "", "", "",
                                 "", "", ""])  # fmt: skip
        paths.append(path)
    marker.touch()
    return paths


def drop_files(folder: Path, count: int, rows: int, base: int, seed: int = 1) -> list[Path]:
    """``count`` customer files of ``rows`` rows each (``customer_csv`` with seeds ``seed + 10 + n``),
    all matching into the same base: the files dropped together into the inbox."""
    return [
        customer_csv(folder / f"customers_{rows}_b{base}_s{seed + 10 + n}.csv", rows, base, seed + 10 + n)
        for n in range(count)
    ]


def build_base(warehouse: Path, customers: int, seed: int = 1) -> Path:
    """The warehouse with ``customers`` customers, each with a mobile, an email and a WeChat openid.

    Written with SQL straight into the contract tables (an import of 1M rows would take longer
    and is what the benchmark measures).
    """

    def build(target: Path) -> None:
        from cdp_pipeline.warehouse import connect

        with connect(target) as con:
            con.execute("SET enable_progress_bar = false")
            con.execute(HASH_MACRO)
            con.execute(
                f"""
                INSERT INTO customers
                SELECT 'C' || lpad((range + 1)::VARCHAR, 10, '0'),
                       {_list(list(SURNAMES))}[1 + (bench_hash($seed, range, 's') % {len(SURNAMES)})::INTEGER]
                         || {_list(list(GIVEN))}[1 + (bench_hash($seed, range, 'g') % {len(GIVEN)})::INTEGER],
                       ({BASE_MOBILE} + range)::VARCHAR, 'u' || range || '@example.com',
                       ['male', 'female', NULL][1 + (bench_hash($seed, range, 'gd') % 3)::INTEGER],
                       '广东省', '广州市', DATE '1970-01-01' + (bench_hash($seed, range, 'bd') % 12000)::INTEGER,
                       (bench_hash($seed, range, 'pt') % 5000)::BIGINT, NULL, 'benchmark base', NULL, NULL,
                       TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-01', 'bench-base'
                FROM range($n)
                """,
                {"n": customers, "seed": seed},
            )
            con.execute(
                f"""
                INSERT INTO customer_identities
                SELECT 'C' || lpad((range + 1)::VARCHAR, 10, '0'), 'wechat_openid', {base_openid("range")},
                       'bench-base'
                FROM range($n)
                """,
                {"n": customers},
            )
            con.execute("CHECKPOINT")

    return _cached(warehouse, build)


def _cached(path: Path, build: Callable[[Path], None]) -> Path:
    """Build ``path`` once: to a temporary name, then renamed."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        build(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    return path
