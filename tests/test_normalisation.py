"""Cleaning rules: the SQL macros directly, then the same values end to end through an import."""

from __future__ import annotations

import datetime as dt
import re

import pytest

MOBILE_FORMS = [
    "13800138000",
    "+86 138 0013 8000",
    "008613800138000",
    "8613800138000",
    "+8613800138000",
    "013800138000",
    "138-0013-8000",
    "１３８００１３８０００",
    "'13800138000",
    "13800138000.0",
    "  13800138000  ",
    "(+86) 138 0013 8000",
]

INVALID_MOBILES = ["12345", "1380013800", "138001380001", "23800138000", "abc", "+1 415 555 0100", "00138001380001"]

DATE_FORMS = [
    "2024-05-01",
    "2024/5/1",
    "2024/05/01",
    "2024年5月1日",
    "45413",
    "2024.5.1",
    "20240501",
    "2024-05-01 10:30:00",
]


@pytest.mark.parametrize("raw", MOBILE_FORMS)
def test_rule_mobile_normalises_to_11_digits(raw, macros):
    assert macros("normalize_mobile", raw) == "13800138000"


@pytest.mark.parametrize("raw", INVALID_MOBILES)
def test_rule_mobile_not_11_digits_from_1_stays_invalid(raw, macros):
    cleaned = macros("normalize_mobile", raw)
    assert cleaned is not None
    assert not (len(cleaned) == 11 and cleaned.isdigit() and cleaned.startswith("1"))


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_rule_mobile_blank_is_absent(raw, macros):
    assert macros("normalize_mobile", raw) is None


def test_rule_email_trimmed_and_lower_cased(macros):
    assert macros("normalize_email", "  Zhang.San@Example.CN ") == "zhang.san@example.cn"
    assert macros("normalize_email", "   ") is None


@pytest.mark.parametrize("raw", ["\tZS@example.cn", "zs@example.cn\n"])
def test_rule_email_trimmed_of_tabs_and_line_breaks(raw, macros):
    assert macros("normalize_email", raw) == "zs@example.cn"


@pytest.mark.parametrize("raw", DATE_FORMS)
def test_rule_date_forms_parse_to_same_day(raw, macros):
    assert macros("parse_date", raw) == dt.date(2024, 5, 1)


@pytest.mark.parametrize("raw", ["2024-13-01", "2024-02-30", "not a date", "5/1", "1990"])
def test_rule_date_unparseable_is_null(raw, macros):
    assert macros("parse_date", raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("男", "male"),
        ("女", "female"),
        ("M", "male"),
        ("F", "female"),
        ("m", "male"),
        ("f", "female"),
        ("male", "male"),
        ("Female", "female"),
        (" MALE ", "male"),
        ("其他", "unknown"),
        ("", None),
    ],
)
def test_rule_gender_vocabulary(raw, expected, macros):
    assert macros("normalize_gender", raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("广东", "广东省"),
        ("广东省", "广东省"),
        ("北京", "北京市"),
        ("北京市", "北京市"),
        ("广西", "广西壮族自治区"),
        ("内蒙古", "内蒙古自治区"),
        ("香港", "香港特别行政区"),
        (" 浙江 ", "浙江省"),
        ("Ontario", "Ontario"),
    ],
)
def test_rule_province_full_name(raw, expected, macros):
    assert macros("normalize_province", raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("广州", "广州市"),
        ("广州市", "广州市"),
        ("延边朝鲜族自治州", "延边朝鲜族自治州"),
        (" 深圳 ", "深圳市"),
        ("Guangzhou", "Guangzhou"),
    ],
)
def test_rule_city_full_name(raw, expected, macros):
    assert macros("normalize_city", raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("VIP,老客", ["VIP", "老客"]), ("a，b;c；d|e", ["a", "b", "c", "d", "e"]), (" a , ,b ", ["a", "b"]), ("", [])],
)
def test_rule_tags_cell_splits_on_separators(raw, expected, macros):
    assert sorted(macros("split_tags", raw)) == sorted(expected)


def test_rule_mask_mobile_in_previews(macros):
    assert macros("mask_mobile", "13800138000") == "138****8000"


# --- end to end --------------------------------------------------------------------------


def test_rule_mobile_forms_normalise_end_to_end(make_csv, run_import, query):
    full_width = str.maketrans("0123456789", "０１２３４５６７８９")
    forms = [
        lambda n: f"+86 {n[:3]} {n[3:7]} {n[7:]}",
        lambda n: f"0086{n}",
        lambda n: f"86{n}",
        lambda n: f"0{n}",
        lambda n: f"{n[:3]}-{n[3:7]}-{n[7:]}",
        lambda n: n.translate(full_width),
        lambda n: f"'{n}",
        lambda n: f"{n}.0",
    ]
    numbers = [f"1380013800{i}" for i in range(len(forms))]
    path = make_csv([["手机号码"]] + [[form(n)] for form, n in zip(forms, numbers, strict=True)])
    summary = run_import(path)
    assert (summary["created"], summary["failed"]) == (len(forms), 0)
    assert query("SELECT mobile FROM customers ORDER BY mobile") == [(n,) for n in numbers]


def test_rule_invalid_mobile_fails_row_end_to_end(make_csv, run_import, failures, query):
    path = make_csv([["手机号码"], ["12345"], ["23800138000"], ["13800138000"]])
    summary = run_import(path)
    assert (summary["created"], summary["failed"]) == (1, 2)
    assert failures(summary["batch_id"]) == {
        2: ("invalid_mobile", ["invalid_mobile"]),
        3: ("invalid_mobile", ["invalid_mobile"]),
    }
    assert query("SELECT mobile FROM customers") == [("13800138000",)]


def test_rule_email_trimmed_and_lower_cased_end_to_end(make_csv, run_import, query):
    summary = run_import(make_csv([["邮箱"], ["  Zhang.San@Example.CN  "]]))
    assert summary["created"] == 1
    assert query("SELECT email FROM customers") == [("zhang.san@example.cn",)]


def test_rule_dates_parse_end_to_end(make_csv, run_import, query):
    forms = ["2024-05-01", "2024/5/1", "2024年5月1日", "45413"]
    path = make_csv([["手机号码", "生日"]] + [[f"1380013800{i}", raw] for i, raw in enumerate(forms)])
    summary = run_import(path)
    assert (summary["created"], summary["failed"]) == (4, 0)
    assert query("SELECT DISTINCT birthday FROM customers") == [(dt.date(2024, 5, 1),)]


def test_rule_invalid_date_fails_row_end_to_end(make_csv, run_import, failures):
    path = make_csv([["手机号码", "生日"], ["13800138000", "2024-13-45"], ["13900139000", ""]])
    summary = run_import(path)
    assert (summary["created"], summary["failed"]) == (1, 1)
    assert failures(summary["batch_id"]) == {2: ("invalid_date", ["invalid_date"])}


def test_rule_gender_province_city_end_to_end(make_csv, run_import, query):
    path = make_csv(
        [
            ["手机号码", "性别", "省份", "城市"],
            ["13800138001", "男", "广东", "广州"],
            ["13800138002", "女", "北京", "北京"],
            ["13800138003", "M", "广东省", "广州市"],
            ["13800138004", "F", "", ""],
            ["13800138005", "male", "浙江", "杭州"],
            ["13800138006", "female", "", ""],
        ]
    )
    summary = run_import(path)
    assert (summary["created"], summary["failed"]) == (6, 0)
    assert query("SELECT mobile, gender, province, city FROM customers ORDER BY mobile") == [
        ("13800138001", "male", "广东省", "广州市"),
        ("13800138002", "female", "北京市", "北京市"),
        ("13800138003", "male", "广东省", "广州市"),
        ("13800138004", "female", None, None),
        ("13800138005", "male", "浙江省", "杭州市"),
        ("13800138006", "female", None, None),
    ]


def test_rule_points_accept_thousands_separator_and_dot_zero(make_csv, run_import, query):
    path = make_csv([["手机号码", "积分"], ["13800138001", "1,234"], ["13800138002", "12.0"], ["13800138003", "１０"]])
    summary = run_import(path)
    assert (summary["created"], summary["failed"]) == (3, 0)
    assert query("SELECT points FROM customers ORDER BY mobile") == [(1234,), (12,), (10,)]


def test_rule_points_not_a_number_is_invalid_number(make_csv, run_import, failures):
    summary = run_import(make_csv([["手机号码", "积分"], ["13800138000", "many"]]))
    assert failures(summary["batch_id"]) == {2: ("invalid_number", ["invalid_number"])}


def test_rule_points_fraction_is_invalid_number(make_csv, run_import, failures, query):
    summary = run_import(make_csv([["手机号码", "积分"], ["13800138000", "2.5"]]))
    assert failures(summary["batch_id"]) == {2: ("invalid_number", ["invalid_number"])}
    assert query("SELECT count(*) FROM customers") == [(0,)]


def test_rule_points_beyond_bigint_is_invalid_number_not_a_failed_file(make_csv, run_import, failures):
    rows = [
        ["手机号码", "积分"],
        ["13800138000", "99999999999999999999"],
        ["13800138001", "99,999,999,999,999,999,999.0"],
    ]
    summary = run_import(make_csv(rows))
    assert (summary["created"], summary["failed"]) == (0, 2)
    assert failures(summary["batch_id"]) == {
        2: ("invalid_number", ["invalid_number"]),
        3: ("invalid_number", ["invalid_number"]),
    }


@pytest.mark.parametrize(
    "email", ["a..b@x.cn", "a@x..cn", "a@-x.cn", "a@x.-n", "00000000@00.-n", "a,b@x.cn", "a@x.c1", "a@localhost"]
)
def test_rule_malformed_email_is_invalid_email(email):
    """Found by the fuzz tests against email-validator (tests/test_fuzz_normalisers.py)."""
    from data_contracts.customer_rows import EMAIL

    assert re.fullmatch(EMAIL, email) is None


# --- invisible characters and full-width forms (issue 14 item 9) ------------------------------

ZWSP, ZWJ, RLO, PDF, LRE, BOM, SOFT_HYPHEN = "\u200b", "\u200d", "\u202e", "\u202c", "\u202a", "\ufeff", "\u00ad"


@pytest.mark.parametrize(
    ("macro", "raw", "expected"),
    [
        ("normalize_email", f"a@x{ZWSP}.cn", "a@x.cn"),
        ("normalize_email", f"a{RLO}@x.cn", "a@x.cn"),
        ("normalize_email", "ａ＠ｘ．ｃｎ", "a@x.cn"),
        ("normalize_email", f"{SOFT_HYPHEN}Zhang.San@Example.CN{BOM}", "zhang.san@example.cn"),
        ("normalize_mobile", f"{LRE}+86 138-0013-8000{PDF}", "13800138000"),
        ("normalize_mobile", f"138{SOFT_HYPHEN}0013{ZWJ}8000", "13800138000"),
        ("normalize_key", "Ｃ０００００００００１", "C0000000001"),
        ("normalize_key", f"c{ZWSP}0000000001", "C0000000001"),
        ("exact_key", f"oAbCdEfGhIjKlMnOpQrStUvWxYz1{ZWSP}", "oAbCdEfGhIjKlMnOpQrStUvWxYz1"),
        ("split_tags", f"ＶＩＰ，{RLO}PIV｜vip", ["VIP", "PIV"]),
        ("clean_text", f"{RLO}三张", "三张"),
        ("clean_text", "Ｊｏｈｎ", "Ｊｏｈｎ"),  # free text keeps what was typed
        ("clean_text", f"👨{ZWJ}👩{ZWJ}👧", f"👨{ZWJ}👩{ZWJ}👧"),  # an emoji sequence needs its ZWJ
    ],
)
def test_rule_keys_and_tags_are_what_a_reader_sees(macro, raw, expected, macros):
    """Issue 14 item 9: format characters go, full-width forms fold (NFKC); free text keeps its
    full-width letters and ZWJ/ZWNJ."""
    assert macros(macro, raw) == expected


def test_rule_group_names_are_what_a_reader_sees(make_csv, run_import, query):
    """Issue 14 item 9: a --group name holding a right-to-left override or a zero-width space was
    another static group than the one a reader sees (tags were cleaned, group names were not)."""
    run_import(make_csv([["手机号码"], ["13800138000"]]), group="May fair")
    run_import(make_csv([["手机号码"], ["13800138001"]]), group=f"{RLO}May{ZWSP} fair ")
    assert query("SELECT name FROM groups") == [("May fair",)]
    assert query("SELECT count(*) FROM group_members") == [(2,)]


def test_rule_invisible_characters_never_make_one_person_two_customers(make_csv, run_import, query):
    """Issue 14 item 9: an email with a zero-width space or a right-to-left override, a full-width
    address, customer ID or tag was another customer (or tag) than the one a reader sees."""
    first = run_import(
        make_csv(
            [
                ["手机号码", "邮箱", "微信openid", "客户标签"],
                ["13800138000", "a@x.cn", "oAbCdEfGhIjKlMnOpQrStUvWxYz1", "VIP"],
            ]
        )
    )
    assert first["created"] == 1
    again = run_import(
        make_csv(
            [
                ["客户ID", "邮箱", "微信openid", "姓名", "客户标签"],
                ["", f"a@x{ZWSP}.cn", "", f"{RLO}三张", f"ＶＩＰ,{RLO}PIV"],
                ["", f"a{RLO}@x.cn", "", "", "vip"],
                ["", "ａ＠ｘ．ｃｎ", "", "", ""],
                ["", "", f"oAbCdEfGhIjKlMnOpQrStUvWxYz1{ZWSP}", "", ""],
                ["Ｃ０００００００００１", "", "", "", ""],
            ]
        )
    )
    assert (again["created"], again["failed"]) == (0, 5), again  # one customer, five times: duplicates
    again = run_import(make_csv([["邮箱", "姓名", "客户标签"], [f"a@x{ZWSP}.cn", f"{RLO}三张", f"ＶＩＰ,{RLO}PIV"]]))
    assert (again["created"], again["updated"]) == (0, 1)
    assert query("SELECT customer_id, email, name FROM customers") == [("C0000000001", "a@x.cn", "三张")]
    assert query("SELECT name FROM tags ORDER BY name") == [("PIV",), ("VIP",)]
    stored = query("SELECT email || name FROM customers UNION ALL SELECT name FROM tags")
    assert not any(
        re.search("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\u00ad\uff01-\uff5e]", text) for (text,) in stored
    )


def test_cli_imports_invisible_characters_as_the_customer_a_reader_sees(tmp_path):
    """Issue 14 item 9: the real `cdp import customers --json`: the second file's disguised
    address, customer ID and tags land on the first file's customer and tag."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import duckdb

    home = tmp_path / "cdp"
    command = str(Path(sys.executable).with_name("cdp"))
    environment = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
    environment["CDP_HOME"] = str(home)
    files = [
        ("first.csv", "手机号码,邮箱,客户标签\n13800138000,a@x.cn,VIP\n"),
        ("second.csv", f'邮箱,姓名,客户标签\na@x{ZWSP}.cn,{RLO}三张,"ＶＩＰ,{RLO}PIV"\n'),
    ]
    summaries = []
    for name, text in files:
        (tmp_path / name).write_text(text, encoding="utf-8")
        result = subprocess.run(
            [command, "import", "customers", str(tmp_path / name), "--json"],
            capture_output=True,
            text=True,
            env=environment,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        summaries.append(json.loads(result.stdout))
    assert [(s["created"], s["updated"], s["failed"]) for s in summaries] == [(1, 0, 0), (0, 1, 0)]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT email, name FROM customers").fetchall() == [("a@x.cn", "三张")]
        assert con.execute("SELECT name FROM tags ORDER BY name").fetchall() == [("PIV",), ("VIP",)]
