"""Real member exports and import templates: the header names they use and the required/optional
markers they add (issue 14 item 4). Every file is built here; the header spellings come from the
public templates listed in data_contracts/field_catalogue.yaml."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from cdp_pipeline.catalogue import Catalogue, header_key
from cdp_pipeline.errors import FileRejected
from cdp_pipeline.settings import CdpPaths, TmallImportSettings
from cdp_pipeline.tmall_import import import_tmall_export
from samples.tmall import SUCCESS, Item, Order, write_tmall_pair

CDP = str(Path(sys.executable).with_name("cdp"))

# The CRM member-import template of biaobro/DataAnalysis_2024 (HengDa): the required columns are
# marked （必填）, and 电话 holds the member's mobile.
HENGDA_HEADER = ["姓名（必填）", "电话（必填）", "会员所属省份ID（必填）", "性别", "邮箱", "生日", "积分余额"]
HENGDA_ROWS = [
    ["张三", "13800138000", "440000", "男", "", "1990-01-02", "120"],
    ["李四", "13900139000", "110000", "女", "", "", ""],
    ["王五", "12345", "310000", "", "", "", ""],  # not a mobile: fails invalid_mobile
    ["赵六", "", "330000", "", "", "", ""],  # no key at all: fails missing_key
]


def cdp(home: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CDP_HOME": str(home)}
    environment.pop("DAGSTER_HOME", None)
    return subprocess.run([CDP, *args], capture_output=True, text=True, env=environment, timeout=300)


def stored_customers(query) -> list[tuple]:
    return query("SELECT name, mobile, gender, birthday::VARCHAR, points FROM customers ORDER BY mobile")


# --- header_key ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "plain"),
    [
        ("姓名（必填）", "姓名"),
        ("电话（必填）", "电话"),
        ("手机号(必填)", "手机号"),
        ("手机号码( 必填)", "手机号码"),
        ("*手机号", "手机号"),
        ("＊手机号", "手机号"),
        ("手机号*", "手机号"),
        ("* 手机号 *", "手机号"),
        ("邮箱(选填)", "邮箱"),
        ("邮箱（非必填）", "邮箱"),
        ("手机号（手机号和邮箱不能同时为空）", "手机号"),
        ("自定义编号（可空）", "自定义编号"),
        ("性别(可选)", "性别"),
        ("生日【选填】", "生日"),
        ("Email (optional)", "email"),
        ("Mobile [Required]", "mobile"),
        ("*手机号(必填)", "手机号"),
        ("ＭＯＢＩＬＥ", "mobile"),
        ("手机\u200b号码", "手机号码"),
    ],
)
def test_header_key_strips_required_and_optional_markers(header: str, plain: str) -> None:
    """Issue 14 item 4: the markers import templates add are not part of the name."""
    assert header_key(header) == header_key(plain) == plain.lower()


@pytest.mark.parametrize("header", ["金额(元)", "手机号(备用)", "客户昵称（姓名）", "手机号码(11位)"])
def test_header_key_keeps_brackets_that_are_no_marker(header: str) -> None:
    """Issue 14 item 4: only a note saying required/optional goes; other brackets stay, so such a
    column is not guessed to be its field."""
    assert header_key(header) != header_key(header.split("(")[0].split("（")[0])
    assert header_key(header) not in Catalogue.load().aliases


def test_header_key_is_linear_on_a_huge_header_cell() -> None:
    """Issue 14 item 4: a hostile header of brackets and marker words costs linear time."""
    import time

    for header in ["(" + "必填" * 100_000, "(" * 200_000, "*" * 200_000 + "a", "(a" * 100_000 + ")"]:
        started = time.perf_counter()
        header_key(header)
        assert time.perf_counter() - started < 2, header[:10]


# --- customer imports ----------------------------------------------------------------------------


def test_annotated_template_imports_the_rows_with_a_valid_mobile(make_csv, run_import, query, failures) -> None:
    """Issue 14 item 4: a member-import template with （必填） on its required columns imported
    nothing before (every row failed missing_key: 电话（必填） was an unknown column)."""
    summary = run_import(make_csv([HENGDA_HEADER, *HENGDA_ROWS]))
    assert (summary["scanned"], summary["created"], summary["failed"]) == (4, 2, 2)
    assert stored_customers(query) == [
        ("张三", "13800138000", "male", "1990-01-02", 120),
        ("李四", "13900139000", "female", None, None),
    ]
    assert {code for code, _ in failures(summary["batch_id"]).values()} == {"invalid_mobile", "missing_key"}
    # Reported as the file wrote it, marker and all; the failure file keeps the header row as it was.
    assert summary["unknown_columns"] == ["会员所属省份ID（必填）"]
    header = Path(summary["failure_file"]).read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.split(",") == [*HENGDA_HEADER, "row_number", "reason_code", "reason"]


@pytest.mark.parametrize(
    "mobile_header",
    ["手机号(必填)", "*手机号", "＊手机号", "手机号码（必填）", "手机号*", "【必填】手机号", "会员手机号"],
)
def test_every_marker_spelling_finds_the_mobile(mobile_header, make_csv, run_import, query) -> None:
    """Issue 14 item 4: each marker spelling of real templates maps the column."""
    summary = run_import(make_csv([["姓名(必填)", mobile_header, "邮箱(选填)"], ["张三", "13800138000", ""]]))
    assert (summary["created"], summary["unknown_columns"]) == (1, [])
    assert query("SELECT name, mobile FROM customers") == [("张三", "13800138000")]


def test_member_export_names_map_to_their_fields(make_csv, make_xlsx, run_import, query) -> None:
    """Issue 14 item 4: the names member exports use (会员姓名, 会员手机号, 电子邮箱, 出生日期, ...);
    会员等级 is no field: it stays an unknown column until the team declares it."""
    header = [
        "会员姓名",
        "会员手机号",
        "电子邮箱",
        "出生日期",
        "会员性别",
        "会员积分",
        "所在省份",
        "所在城市",
        "会员等级",
    ]
    row = ["张三", "13800138000", "ZS@Example.com", "1990/1/2", "男", "1,200", "广东", "广州", "金卡"]
    for path in (make_csv([header, row]), make_xlsx([header, row])):
        summary = run_import(path, force=True)
        assert summary["unknown_columns"] == ["会员等级"]
    assert query("SELECT name, mobile, email, birthday::VARCHAR, gender, points, province, city FROM customers") == [
        ("张三", "13800138000", "zs@example.com", "1990-01-02", "male", 1200, "广东省", "广州市")
    ]


def test_telephone_is_the_mobile_only_without_a_mobile_column(make_csv, run_import, query) -> None:
    """Issue 14 item 4, decision: 电话 / 联系电话 map to mobile in a file without a mobile column
    (member lists fill them with mobiles); beside 手机 they may be a landline and are ignored."""
    alone = run_import(make_csv([["姓名", "联系电话"], ["张三", "13800138000"]]))
    assert (alone["created"], alone["unknown_columns"]) == (1, [])
    beside = run_import(make_csv([["姓名", "手机", "电话(选填)"], ["李四", "13900139000", "010-62345678"]]))
    assert (beside["created"], beside["unknown_columns"]) == (1, ["电话(选填)"])
    assert query("SELECT name, mobile FROM customers ORDER BY name") == [
        ("张三", "13800138000"),
        ("李四", "13900139000"),
    ]


def test_two_telephone_columns_without_a_mobile_column_are_refused(make_csv, run_import) -> None:
    """Issue 14 item 4: 电话 and 联系电话 in one file, no mobile column: which is the mobile is not
    guessed; the file is refused as for any two columns of one field."""
    path = make_csv([["姓名", "电话", "联系电话（必填）"], ["张三", "13800138000", "13900139000"]])
    with pytest.raises(FileRejected) as rejected:
        run_import(path)
    assert "'电话' and '联系电话（必填）' (column 3) both map to mobile" in rejected.value.reason


def test_declared_alias_wins_over_a_fallback(write_config, make_csv, run_import, query) -> None:
    """Issue 14 item 4: a team whose 电话 is a landline declares it; the declaration wins."""
    write_config("custom_attributes:\n  landline: {aliases: [电话]}\n")
    summary = run_import(make_csv([["邮箱", "电话（必填）"], ["a@x.cn", "010-62345678"]]))
    assert (summary["created"], summary["unknown_columns"]) == (1, [])
    assert query("SELECT attribute, value FROM customer_attributes") == [("landline", "010-62345678")]
    assert query("SELECT mobile FROM customers") == [(None,)]


def test_refused_and_unknown_columns_are_named_as_the_file_wrote_them(make_csv, run_import) -> None:
    """Issue 14 item 4: markers are stripped for matching only."""
    summary = run_import(make_csv([["手机号(必填)", "创建时间（必填）", "备注(选填)"], ["13800138000", "x", "y"]]))
    assert summary["refused_columns"] == ["创建时间（必填）"]
    assert summary["unknown_columns"] == ["备注(选填)"]


def test_tmall_templates_still_match_exactly(tmp_path: Path) -> None:
    """Issue 14 item 4: Tmall headers must match a template exactly; a marker makes an edited file."""
    at, price = dt.datetime(2017, 7, 8, 0, 42, 32), Decimal("59.00")
    order = Order(
        order_id="351566893917062563",
        buyer_nick="buyer",
        status=SUCCESS,
        ordered_at=at,
        paid_at=at,
        total_amount=price,
        paid_amount=price,
        receiver_name="张三",
        address="广东省 广州市 越秀区 中山路1号(510030)",
        mobile="13800138000",
        items=[Item(title="T恤", price=price, quantity=1, sku_code="SKU-1")],
    )
    for marked in ("订单编号（必填）", "*订单编号"):
        folder = tmp_path / marked.strip("*（）")
        orders, items = write_tmall_pair(folder, [order], encoding="utf-8")
        text = orders.read_text(encoding="utf-8")
        orders.write_text(text.replace('"订单编号"', f'"{marked}"', 1), encoding="utf-8")
        paths = CdpPaths(folder / "cdp").ensure()
        with pytest.raises(FileRejected) as rejected:
            import_tmall_export(orders, items, TmallImportSettings(), paths)
        assert "match no known Tmall order report template" in rejected.value.reason
        assert f"extra: {marked}" in rejected.value.reason


# --- the real command ----------------------------------------------------------------------------


def test_cli_imports_an_annotated_member_template(tmp_path: Path) -> None:
    """Issue 14 item 4: `cdp import customers --json` and `--dry-run` on a template with markers."""
    path = tmp_path / "members.csv"
    lines = [",".join(HENGDA_HEADER), *(",".join(row) for row in HENGDA_ROWS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    home = tmp_path / "cdp"
    planned = cdp(home, "import", "customers", str(path), "--dry-run", "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert (plan["would_create"], plan["invalid"], plan["unknown_columns"]) == (2, 2, ["会员所属省份ID（必填）"])
    result = cdp(home, "import", "customers", str(path), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["created"], summary["failed"]) == (2, 2)
    assert summary["unknown_columns"] == ["会员所属省份ID（必填）"]
