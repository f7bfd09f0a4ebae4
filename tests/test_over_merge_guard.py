"""The over-merge guard (issue 13): key values that identify no one — placeholder mobiles and
emails, and empty markers in key cells — are refused with reason_code placeholder_value instead
of matching or merging customers. The lists are data_contracts/over_merge_guard.yaml's; every
test imports real files through cdp_pipeline.engine.import_files on a fresh CDP_HOME."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from cdp_pipeline.settings import CdpPaths, TmallImportSettings
from cdp_pipeline.tmall_import import import_tmall_export
from data_contracts.over_merge_guard import OverMergeGuardError, over_merge_guard, parse_over_merge_guard
from samples.tmall import SUCCESS, Item, Order, write_tmall_pair

GUARD = over_merge_guard()
SEEDED = {"customer_id": "C0000000001", "name": "老客户"}


def closes(summary: dict) -> bool:
    return summary["scanned"] == summary["created"] + summary["updated"] + summary["failed"] + summary["skipped"]


def failure_file_rows(summary: dict) -> list[dict]:
    text = Path(summary["failure_file"]).read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(text.splitlines()))


# --- customer files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mobile", GUARD.placeholder_mobiles)
def test_every_listed_placeholder_mobile_is_refused(mobile, make_csv, run_import, failures, query):
    """Issue 13 item: over-merge guard — every mobile data_contracts/over_merge_guard.yaml lists is
    refused with placeholder_value (after normalize_mobile: written +86 and with dashes too), the
    row beside it imports, and no customer holds the placeholder."""
    spaced = f"+86 {mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
    summary = run_import(make_csv([["手机号码", "邮箱"], [mobile, "a@x.cn"], [spaced, "b@x.cn"], ["13700137000", ""]]))
    assert (summary["created"], summary["failed"]) == (1, 2) and closes(summary)
    assert failures(summary["batch_id"]) == {
        2: ("placeholder_value", ["placeholder_value"]),
        3: ("placeholder_value", ["placeholder_value"]),
    }
    assert query("SELECT mobile, email FROM customers") == [("13700137000", None)]


@pytest.mark.parametrize("email", GUARD.placeholder_emails)
def test_every_listed_placeholder_email_is_refused(email, make_csv, run_import, failures, query):
    """Issue 13 item: over-merge guard — every email the YAML lists is refused with
    placeholder_value, also typed in upper case with spaces (after normalize_email)."""
    summary = run_import(make_csv([["手机号码", "邮箱"], ["13700137000", email], ["", f" {email.upper()} "]]))
    assert (summary["created"], summary["failed"]) == (0, 2) and closes(summary)
    assert {code for code, _ in failures(summary["batch_id"]).values()} == {"placeholder_value"}
    assert query("SELECT count(*) FROM customers") == [(0,)]


@pytest.mark.parametrize("marker", GUARD.empty_markers)
def test_every_empty_marker_as_the_only_key_is_refused(marker, make_csv, run_import, failures, query):
    """Issue 13 item: over-merge guard — a row whose only key cell holds an empty marker (each of
    the YAML's empty_markers, any case) fails placeholder_value, not missing_key; a row with truly
    empty key cells still fails missing_key."""
    path = make_csv([["姓名", "手机号码", "邮箱"], ["甲", marker, ""], ["乙", "", marker.upper()], ["丙", "", ""]])
    summary = run_import(path)
    assert (summary["created"], summary["failed"]) == (0, 3) and closes(summary)
    assert failures(summary["batch_id"]) == {
        2: ("placeholder_value", ["placeholder_value"]),
        3: ("placeholder_value", ["placeholder_value"]),
        4: ("missing_key", ["missing_key"]),
    }


def test_two_rows_sharing_a_placeholder_mobile_are_not_merged(make_csv, run_import, failures, query):
    """Issue 13 item: over-merge guard — two rows with 13800000000 and different emails both fail
    placeholder_value (not duplicate_in_file: a placeholder is no shared key), and no customer is
    created; the failure file has each row with its reason."""
    rows = [["姓名", "手机号码", "邮箱"], ["张三", "13800000000", "zs@x.cn"], ["李四", "13800000000", "ls@x.cn"]]
    summary = run_import(make_csv(rows))
    assert (summary["scanned"], summary["created"], summary["failed"]) == (2, 0, 2) and closes(summary)
    assert failures(summary["batch_id"]) == {
        2: ("placeholder_value", ["placeholder_value"]),
        3: ("placeholder_value", ["placeholder_value"]),
    }
    assert query("SELECT count(*) FROM customers") == [(0,)]
    written = failure_file_rows(summary)
    assert [(r["姓名"], r["手机号码"], r["row_number"], r["reason_code"]) for r in written] == [
        ("张三", "13800000000", "2", "placeholder_value"),
        ("李四", "13800000000", "3", "placeholder_value"),
    ]
    assert written[0]["reason"].startswith("手机号码、邮箱、客户ID或身份是占位值")


def test_a_stored_customer_with_a_placeholder_mobile_is_not_matched(seed, make_csv, run_import, failures, query):
    """Issue 13 item: over-merge guard — a customer stored with 13800000000 (before the guard) is
    never matched by it: the row fails placeholder_value and the stored customer is unchanged."""
    seed(customers=[{**SEEDED, "mobile": "13800000000"}])
    summary = run_import(make_csv([["姓名", "手机号码"], ["新名字", "13800000000"]]))
    assert (summary["updated"], summary["failed"]) == (0, 1) and closes(summary)
    assert failures(summary["batch_id"]) == {2: ("placeholder_value", ["placeholder_value"])}
    assert query("SELECT customer_id, name, mobile FROM customers") == [("C0000000001", "老客户", "13800000000")]


def test_a_placeholder_mobile_fails_the_row_even_beside_a_real_key(seed, make_csv, run_import, failures, query):
    """Issue 13 item: over-merge guard — a placeholder in any key fails the row, even when the row
    also holds a real customer ID or email (it would store the placeholder on that customer)."""
    seed(customers=[{**SEEDED, "email": "real@x.cn"}])
    rows = [["客户ID", "手机号码", "邮箱"], ["C0000000001", "13800000000", ""], ["", "13700137000", "test@test.com"]]
    summary = run_import(make_csv(rows))
    assert (summary["updated"], summary["created"], summary["failed"]) == (0, 0, 2) and closes(summary)
    assert {code for code, _ in failures(summary["batch_id"]).values()} == {"placeholder_value"}
    assert query("SELECT mobile FROM customers") == [(None,)]


@pytest.mark.parametrize("marker", ["NULL", "无", "\\N", " null "])
def test_an_empty_marker_mobile_beside_a_valid_email_imports(marker, make_csv, run_import, query):
    """Issue 13 item: over-merge guard — an empty marker keeps the meaning of an empty cell: a
    NULL (无, \\N) mobile beside a valid email imports by the email, storing no mobile."""
    summary = run_import(make_csv([["姓名", "手机号码", "邮箱"], ["张三", marker, "zs@x.cn"]]))
    assert (summary["created"], summary["failed"]) == (1, 0) and closes(summary)
    assert query("SELECT mobile, email FROM customers") == [(None, "zs@x.cn")]


def test_an_identity_or_customer_id_of_an_empty_marker_alone_is_refused(make_csv, run_import, failures):
    """Issue 13 item: over-merge guard — a customer ID or WeChat openid cell of 无 / null, with no
    other key, fails placeholder_value; with a real mobile beside it the row imports."""
    rows = [["客户ID", "微信openid", "手机号码"], ["无", "", ""], ["", "null", ""], ["无", "null", "13700137000"]]
    summary = run_import(make_csv(rows))
    assert (summary["created"], summary["failed"]) == (1, 2) and closes(summary)
    assert {n: code for n, (code, _) in failures(summary["batch_id"]).items()} == {
        2: "placeholder_value",
        3: "placeholder_value",
    }


@pytest.mark.parametrize("marker", ["\u200bnull", "Ｎｕｌｌ", "\u200dN/A\u200d", "\ufeffNULL", "ＮＵＬＬ"])
def test_an_empty_marker_hidden_by_format_characters_or_full_width_is_one(marker, make_csv, run_import, query):
    """Issue 13 item: over-merge guard — an empty marker behind a zero-width character or a BOM,
    or typed full-width, is an empty cell as the plain one is (keys are compared made visible):
    before, "\u200bnull" became the openid "null" and a later row carrying it was merged into
    that customer, its name and mobile overwritten (found by the issue's probe)."""
    header = ["姓名", "手机号码", "邮箱", "微信openid"]
    first = run_import(make_csv([header, ["甲", "13700137001", "jia@x.cn", marker]]))
    second = run_import(make_csv([header, ["乙", "13700137002", marker, marker], ["丙", marker, marker, marker]]))
    assert (first["created"], second["created"], second["updated"], second["failed"]) == (1, 1, 0, 1)
    assert query("SELECT count(*) FROM customer_identities") == [(0,)]
    assert query("SELECT name, mobile, email FROM customers ORDER BY name") == [
        ("乙", "13700137002", None),
        ("甲", "13700137001", "jia@x.cn"),
    ]
    assert query("SELECT reason_code FROM import_failures") == [("placeholder_value",)]


def test_the_dry_run_reports_placeholder_value_as_the_import_does(make_csv, dry_run, run_import):
    """Issue 13 item: over-merge guard — a dry run (the same SQL, nothing written) reports the
    placeholder rows as invalid with placeholder_value, as the import then records them."""
    rows = [["手机号码", "邮箱"], ["13800000000", "a@x.cn"], ["13800000000", "b@x.cn"], ["无", ""], ["13700137000", ""]]
    path = make_csv(rows)
    plan = dry_run(path)
    assert (plan["expected"], plan["invalid"], plan["duplicate"]) == (1, 3, 0)
    assert plan["reasons"] == {"placeholder_value": 3}
    summary = run_import(path)
    assert (summary["created"], summary["failed"]) == (1, 3) and closes(summary)


# --- Tmall order exports ----------------------------------------------------------------------------


def order(order_id: str, mobile: str, name: str = "王伟", hours: int = 0) -> Order:
    ordered_at = dt.datetime(2017, 7, 8, 0, 42, 32) + dt.timedelta(hours=hours)
    price = Decimal("59.00")
    return Order(
        order_id=order_id,
        buyer_nick="tb12345678",
        status=SUCCESS,
        ordered_at=ordered_at,
        paid_at=ordered_at + dt.timedelta(seconds=33),
        total_amount=price,
        paid_amount=price,
        receiver_name=name,
        address="广东省 广州市 越秀区 中山路1号(510030)",
        mobile=mobile,
        items=[Item(title="纯棉T恤", price=price, quantity=1, sku_code="TX-1001")],
    )


@pytest.fixture
def tmall(tmp_path: Path, paths: CdpPaths):
    """``tmall(orders)`` → the summary of importing them as one export."""
    counter = itertools.count(1)

    def run(orders: list[Order]) -> dict:
        pair = write_tmall_pair(tmp_path / "exports" / str(next(counter)), orders, encoding="gbk")
        return import_tmall_export(*pair, TmallImportSettings(), paths)

    return run


def test_a_tmall_order_with_a_placeholder_mobile_fails_and_creates_no_customer(tmall, query, failures):
    """Issue 13 item: over-merge guard — Tmall orders whose 联系手机 is 13800000000 fail as units
    with placeholder_value, told in 联系手机 words, and neither create nor match a customer; the
    order beside them imports; the failure file has the rows with their reason."""
    summary = tmall(
        [order("3515668939170625631", "13800000000"), order("351566893917062563", "13800000000", "李娜", 1),
         order("35156689391706256", "13700137000", "张敏", 2)]
    )  # fmt: skip
    assert (summary["orders_imported"], summary["orders_failed"], summary["customers_created"]) == (1, 2, 1)
    assert closes(summary)
    assert {code for code, _ in failures(summary["batch_id"]).values()} == {"placeholder_value"}
    assert query("SELECT mobile FROM customers") == [("13700137000",)]
    assert query("SELECT order_id FROM orders") == [("35156689391706256",)]
    written = failure_file_rows(summary)
    assert [r["reason_code"] for r in written] == ["placeholder_value", "placeholder_value"]
    assert written[0]["reason"].startswith("联系手机是占位值") and "客户ID" not in written[0]["reason"]


def test_a_tmall_order_never_matches_a_stored_customer_by_a_placeholder(seed, tmall, query, failures):
    """Issue 13 item: over-merge guard — a stored customer with 13800000000 is matched neither by
    an order with that mobile nor by the masked 138****0000 and the same receiver name."""
    seed(customers=[{**SEEDED, "name": "王伟", "mobile": "13800000000"}])
    summary = tmall([order("3515668939170625631", "13800000000"), order("351566893917062563", "138****0000", hours=1)])
    assert (summary["orders_imported"], summary["orders_failed"], summary["customers_created"]) == (0, 2, 0)
    assert sorted(code for code, _ in failures(summary["batch_id"]).values()) == [
        "masked_mobile_unmatched",  # a masked mobile is no placeholder: it just finds no one
        "placeholder_value",
    ]
    assert query("SELECT count(*) FROM orders") == [(0,)]


# --- the declaration --------------------------------------------------------------------------------

SHIPPED = Path(__file__).resolve().parents[1] / "data_contracts" / "over_merge_guard.yaml"


def test_the_declaration_renders_the_empty_marker_macro(macros):
    """Issue 13 item: over-merge guard — the macro without_placeholder is rendered from the YAML's
    empty_markers (no second list in sql/): each marker, in any case and with spaces around it, is
    an empty cell, and text that only contains one is kept."""
    for marker in GUARD.empty_markers:
        for cell in (marker, marker.upper(), f" {marker}\u3000"):
            assert macros("without_placeholder", cell) is None, cell
        assert macros("without_placeholder", f"{marker}x") == f"{marker}x"
    assert GUARD.max_customers_per_key == 5


def test_the_empty_marker_screen_takes_every_first_character_the_pattern_does(macros):
    """Issue 13 item: over-merge guard — the first-character screen derived from the markers lets
    through every character a case-insensitive match of a marker's first character takes (the
    whole of Unicode tried), so no spelling of a marker is kept because of the screen."""
    import duckdb

    from cdp_pipeline.warehouse import macros_sql

    con = duckdb.connect()
    con.execute(macros_sql())
    for marker in GUARD.empty_markers:
        rest = marker[1:].replace("'", "''")
        first = marker[0].replace("\\", "\\\\").replace("'", "''")
        missed = con.execute(
            f"SELECT list(c) FROM (SELECT chr(c::INTEGER) || '{rest}' AS cell, c FROM range(1, 1114112) t(c) "
            "WHERE c NOT BETWEEN 55296 AND 57343) "
            f"WHERE regexp_full_match(chr(c::INTEGER), '(?i)\\Q{first}\\E') AND without_placeholder(cell) IS NOT NULL"
        ).fetchone()[0]
        assert not missed, (marker, missed)
    con.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('- "13800000000"', '- "1380000000"'), "placeholder_values.mobile: '1380000000' is not a cleaned mobile"),
        (("- test@test.com", "- Test@Test.com"), "placeholder_values.email: 'Test@Test.com' is not a cleaned email"),
        (("max_customers_per_key: 5", "max_customers_per_key: five"), "max_customers_per_key: 'five' is not a whole"),
        (("empty_markers:", "empty_marker:"), "empty_marker: unknown key"),
        (("  - 空\n", "  - 空\n  - 无\n"), "empty_markers: '无' is listed twice"),
    ],
)
def test_a_bad_declaration_is_one_line_naming_the_file_and_key(change, message):
    """Issue 13 item: over-merge guard — a bad over_merge_guard.yaml is refused in one line naming
    the file and the key (a mobile not as cleaned, an email in upper case, N not a number, an
    unknown key, a marker listed twice)."""
    text = SHIPPED.read_text(encoding="utf-8")
    assert change[0] in text
    with pytest.raises(OverMergeGuardError) as raised:
        parse_over_merge_guard(text.replace(change[0], change[1], 1))
    assert str(raised.value).startswith(f"data_contracts/over_merge_guard.yaml: {message}")
    assert "\n" not in str(raised.value)
