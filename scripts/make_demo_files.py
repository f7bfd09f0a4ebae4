"""Write the demo's sample customer files into a folder (deterministic, seeded: the same bytes on
every run, so a second ``make demo`` finds every file ``already_imported``).

- user_2024-05-01.csv: UTF-8, 200 customers with a few bad, duplicate and empty rows;
- user_2024-05-02_gb18030.csv: GB18030, updates for 50 of them plus 30 new customers;
- user_2024-05-03.xlsx: numeric mobile cells and date cells, as Excel saves them;
- tmall/ExportOrderList201709010000.csv + ExportOrderDetailList201709010000.csv: a Tmall export
  of 300 orders shaped like a real one (GBK, quoted, ="..." ids, masked mobiles, refunds).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import sys
from pathlib import Path

import xlsxwriter

# samples/ is not installed (no production code): it is imported from this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from samples.tmall import write_random_pair  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
PLACES = [
    ("广东", "广州"),
    ("广东", "深圳"),
    ("浙江", "杭州"),
    ("上海", "上海"),
    ("北京", "北京"),
    ("四川", "成都"),
    ("江苏", "南京"),
    ("湖北", "武汉"),
]
MOBILE_STYLES = ["{m}", "+86 {a} {b} {c}", "{a}-{b}-{c}", "0086{m}", "'{m}"]
# The workbook's creation time (docProps/core.xml); xlsxwriter dates its ZIP entries 1980-01-01, so
# with this fixed the XLSX is byte for byte the same on every run (openpyxl wrote the time of the run).
WORKBOOK_CREATED = dt.datetime(2024, 5, 3, 9, 0, 0)
HEADER = ["姓名", "手机号码", "邮箱", "性别", "省份", "城市", "生日", "积分", "客户标签", "微信openid", "创建时间"]


def mobile(rng: random.Random, n: int) -> str:
    m = f"13{rng.randint(0, 9)}{n:08d}"
    return rng.choice(MOBILE_STYLES).format(m=m, a=m[:3], b=m[3:7], c=m[7:])


def person(rng: random.Random, n: int) -> list[str]:
    province, city = rng.choice(PLACES)
    birthday = dt.date(1970, 1, 1) + dt.timedelta(days=rng.randint(0, 12000))
    return [
        rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
        mobile(rng, n),
        f"user{n}@example.com" if rng.random() < 0.7 else "",
        rng.choice(["男", "女", "M", "F", ""]),
        province,
        city,
        rng.choice(
            [
                birthday.isoformat(),
                f"{birthday.year}/{birthday.month}/{birthday.day}",
                f"{birthday.year}年{birthday.month}月{birthday.day}日",
            ]
        ),
        str(rng.randint(0, 5000)),
        rng.choice(["", "VIP", "新客;活跃", "VIP，老客"]),
        f"oWx{n:06d}Ab" if rng.random() < 0.4 else "",
        "2024-01-01",
    ]


def write_workbook(path: Path, header: list[str], rows: list[list]) -> None:
    """An XLSX as Excel saves one: numbers as numbers, dates as date cells; the same bytes every run."""
    book = xlsxwriter.Workbook(str(path), {"in_memory": True})
    book.set_properties({"created": WORKBOOK_CREATED})
    date_cell = book.add_format({"num_format": "yyyy-mm-dd h:mm:ss"})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, header)
    for index, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if isinstance(value, dt.datetime):
                sheet.write_datetime(index, column, value, date_cell)
            else:
                sheet.write(index, column, value)
    book.close()


def main(folder: Path) -> None:
    rng = random.Random(20240501)
    folder.mkdir(parents=True, exist_ok=True)
    first = [person(rng, n) for n in range(1, 201)]
    first[10][1] = "12345"  # invalid mobile
    first[20][2] = "not-an-email"  # invalid email
    first[30][1] = first[31][1]  # in-file duplicate pair
    first.insert(40, [""] * len(HEADER))  # empty row
    with (folder / "user_2024-05-01.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *first])

    updates = [
        [row[0], row[1], "", "", "", "", "", str(rng.randint(5000, 9000)), "复购", "", ""]
        for row in first[100:150]
        if row[0]
    ]
    newcomers = [person(rng, n) for n in range(1001, 1031)]
    with (folder / "user_2024-05-02_gb18030.csv").open("w", encoding="gb18030", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *updates, *newcomers])

    excel_rows = [
        [
            rng.choice(SURNAMES) + rng.choice(GIVEN),
            int(f"139{n:08d}"),
            f"x{n}@example.cn",
            dt.datetime(1990, 1, 1) + dt.timedelta(days=n),
            rng.randint(0, 100),
        ]
        for n in range(2001, 2051)
    ]
    write_workbook(folder / "user_2024-05-03.xlsx", ["姓名", "手机", "邮箱", "生日", "积分"], excel_rows)
    write_random_pair(
        folder / "tmall", 300, seed=2017, masked_share=0.05, missing_mobile_share=0.02, stamp="201709010000"
    )
    print(f"demo files written to {folder}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ".cdp/demo"))
