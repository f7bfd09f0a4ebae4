"""Customer import rules at the domain level: row outcomes, duplicates, matching, writes, batches."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

DUPLICATE_REASON = "检测客户ID、手机号码、邮箱、身份后,发现文件中有相同的客户,请合并处理后重新导入"
SEEDED_AT = dt.datetime(2024, 1, 1)
TABLES = (
    "customers",
    "customer_identities",
    "customer_attributes",
    "tags",
    "customer_tags",
    "groups",
    "group_members",
    "customer_events",
    "import_batches",
    "import_failures",
    "import_row_outcomes",
)


def snapshot(query) -> dict[str, list]:
    return {table: sorted(map(repr, query(f"SELECT * FROM {table}"))) for table in TABLES}


def counts(summary: dict) -> tuple[int, int, int, int, int]:
    return summary["scanned"], summary["created"], summary["updated"], summary["failed"], summary["skipped"]


# --- identity types declared in configuration ----------------------------------------------


TAOBAO_CONFIG = "identity_types:\n  taobao_nick: {aliases: [淘宝昵称]}\n"


def test_rule_declared_identity_type_imports_and_is_stored_upper_cased(write_config, make_csv, run_import, query):
    write_config(TAOBAO_CONFIG)
    summary = run_import(make_csv([["淘宝昵称"], ["Tb_Nick_1"], ["tb_nick_2 "]]))
    assert counts(summary) == (2, 2, 0, 0, 0)
    assert summary["unknown_columns"] == []
    assert query("SELECT customer_id, identity_type, identity_value FROM customer_identities ORDER BY 1") == [
        ("C0000000001", "taobao_nick", "TB_NICK_1"),
        ("C0000000002", "taobao_nick", "TB_NICK_2"),
    ]


def test_rule_declared_identity_type_matches_case_insensitively(write_config, make_csv, run_import, outcomes):
    write_config(TAOBAO_CONFIG)
    first = run_import(make_csv([["淘宝昵称", "姓名"], ["Tb_Nick", "a"]]))
    second = run_import(make_csv([["淘宝昵称", "姓名"], ["  TB_nick", "b"]]))
    assert counts(second) == (1, 0, 1, 0, 0)
    assert outcomes(second["batch_id"]) == {2: ("updated", outcomes(first["batch_id"])[2][1], "identity")}


def test_rule_undeclared_identity_header_is_unknown(make_csv, run_import):
    summary = run_import(make_csv([["淘宝昵称", "手机号码"], ["Tb_Nick", "13800138000"]]))
    assert summary["unknown_columns"] == ["淘宝昵称"]


def test_rule_wechat_openid_keeps_case(make_csv, run_import, query):
    summary = run_import(make_csv([["微信openid"], ["oAbC"], ["OABC"]]))
    assert counts(summary) == (2, 2, 0, 0, 0)
    assert query("SELECT identity_type, identity_value FROM customer_identities ORDER BY identity_value") == [
        ("wechat_openid", "OABC"),
        ("wechat_openid", "oAbC"),
    ]


# --- row outcomes --------------------------------------------------------------------------


def test_rule_empty_rows_are_skipped_and_counted(make_csv, run_import, outcomes, query):
    path = make_csv("姓名,手机号码,邮箱\n,,\n张三,13800138000,\n  , ,\n\n")
    summary = run_import(path)
    assert counts(summary) == (4, 1, 0, 0, 3)
    assert {n: o[0] for n, o in outcomes(summary["batch_id"]).items()} == {
        2: "skipped",
        3: "created",
        4: "skipped",
        5: "skipped",
    }
    assert query("SELECT count(*) FROM import_failures") == [(0,)]


def test_rule_one_failure_row_per_failed_row_first_reason_by_priority(make_csv, run_import, failures, query):
    path = make_csv(
        "手机号码,邮箱,生日,姓名\n"
        "123,bad,notadate,x\n"  # 2: invalid_mobile, invalid_email, invalid_date
        ",bad,notadate,x\n"  # 3: invalid_email, invalid_date
        ",,2024-01-01,x\n"  # 4: missing_key
        ",,notadate\n"  # 5: malformed_row, missing_key, invalid_date
        "13700137000,ok@example.cn,2024-01-01,ok\n"  # 6: created
    )
    summary = run_import(path)
    assert counts(summary) == (5, 1, 0, 4, 0)
    assert failures(summary["batch_id"]) == {
        2: ("invalid_mobile", ["invalid_mobile", "invalid_email", "invalid_date"]),
        3: ("invalid_email", ["invalid_email", "invalid_date"]),
        4: ("missing_key", ["missing_key"]),
        5: ("malformed_row", ["malformed_row", "missing_key", "invalid_date"]),
    }
    assert query("SELECT row_number, count(*) FROM import_failures GROUP BY ALL ORDER BY 1") == [
        (2, 1),
        (3, 1),
        (4, 1),
        (5, 1),
    ]


def test_rule_validation_reasons_rank_before_duplicate_in_file(make_csv, run_import, failures):
    """A row that fails validation is not part of a duplicate set: its own reason is reported."""
    path = make_csv([["手机号码", "邮箱"], ["13800138000", "bad"], ["13800138000", "a@example.cn"]])
    summary = run_import(path)
    assert counts(summary) == (2, 1, 0, 1, 0)
    assert failures(summary["batch_id"]) == {2: ("invalid_email", ["invalid_email"])}


def test_rule_row_with_too_many_cells_is_malformed(make_csv, run_import, failures, query):
    summary = run_import(make_csv("手机号码,姓名\n13800138000,张三,extra\n13900139000,李四\n"))
    assert counts(summary) == (2, 1, 0, 1, 0)
    assert failures(summary["batch_id"]) == {2: ("malformed_row", ["malformed_row"])}
    assert query("SELECT mobile FROM customers") == [("13900139000",)]


def test_rule_row_with_too_few_cells_is_malformed(make_csv, run_import, failures, query):
    summary = run_import(make_csv("手机号码,姓名,邮箱\n13800138000,张三\n13900139000,李四,\n"))
    assert counts(summary) == (2, 1, 0, 1, 0)
    assert failures(summary["batch_id"]) == {2: ("malformed_row", ["malformed_row"])}
    assert query("SELECT mobile FROM customers") == [("13900139000",)]


def test_rule_failure_reason_text_comes_from_reason_catalogue(make_csv, run_import, query):
    summary = run_import(make_csv("手机号码,姓名\n123,x\n13800138000,y,z\n"))
    assert query(
        "SELECT row_number, reason FROM import_failures WHERE batch_id = ? ORDER BY 1", [summary["batch_id"]]
    ) == [
        (2, "手机号码无效：去掉+86、0开头、空格等字符后须为1开头的11位数字 (invalid mobile)"),
        (3, "行的单元格数与表头不一致 (the row has more or fewer cells than the header)"),
    ]


# --- duplicates in the file ----------------------------------------------------------------


def test_rule_duplicate_in_file_fails_every_row_of_the_set(make_csv, run_import, failures, query):
    path = make_csv(
        [
            ["手机号码", "邮箱", "微信openid"],
            ["13800138000", "", ""],  # 2 ┐ same mobile
            ["138 0013 8000", "x@example.cn", ""],  # 3 ┘ ┐ same email (case differs)
            ["", "X@Example.cn", ""],  # 4   ┘
            ["13900139000", "", "oDup"],  # 5 ┐ same openid
            ["13700137000", "", "oDup"],  # 6 ┘
            ["13600136000", "y@example.cn", "oYes"],  # 7 unique
        ]
    )
    summary = run_import(path)
    assert counts(summary) == (6, 1, 0, 5, 0)
    dup = ("duplicate_in_file", ["duplicate_in_file"])
    assert failures(summary["batch_id"]) == {2: dup, 3: dup, 4: dup, 5: dup, 6: dup}
    assert {r[0] for r in query("SELECT DISTINCT reason FROM import_failures")} == {DUPLICATE_REASON}
    assert query("SELECT mobile FROM customers") == [("13600136000",)]


def test_rule_duplicate_customer_id_in_file_fails_every_row(seed, make_csv, run_import, failures, query):
    seed([{"customer_id": "C0000000001", "name": "old"}])
    summary = run_import(make_csv([["客户ID", "姓名"], ["C0000000001", "a"], ["c0000000001", "b"]]))
    dup = ("duplicate_in_file", ["duplicate_in_file"])
    assert failures(summary["batch_id"]) == {2: dup, 3: dup}
    assert query("SELECT name FROM customers") == [("old",)]


def test_rule_rows_failing_validation_do_not_take_part_in_duplicates(make_csv, run_import, failures, query):
    path = make_csv(
        [
            ["手机号码", "邮箱", "生日"],
            ["13800138000", "not-an-email", ""],
            ["13800138000", "ok@example.cn", ""],
            ["13900139000", "ok2@example.cn", "bad date"],
            ["13900139000", "ok3@example.cn", ""],
        ]
    )
    summary = run_import(path)
    assert counts(summary) == (4, 2, 0, 2, 0)
    assert failures(summary["batch_id"]) == {
        2: ("invalid_email", ["invalid_email"]),
        4: ("invalid_date", ["invalid_date"]),
    }
    assert query("SELECT mobile, email FROM customers ORDER BY mobile") == [
        ("13800138000", "ok@example.cn"),
        ("13900139000", "ok3@example.cn"),
    ]


def test_rule_rows_landing_on_the_same_existing_customer_are_duplicates(seed, make_csv, run_import, failures):
    seed([{"customer_id": "C0000000001", "mobile": "13800138000", "email": "a@example.cn"}])
    summary = run_import(make_csv([["手机号码", "邮箱"], ["13800138000", ""], ["", "a@example.cn"]]))
    dup = ("duplicate_in_file", ["duplicate_in_file"])
    assert failures(summary["batch_id"]) == {2: dup, 3: dup}


def test_rule_blank_keys_never_take_part_in_duplicates(make_csv, run_import, failures, query, write_config):
    """Issue 14 item 1 (the same trap in the customer import): cells that clean to nothing — empty,
    spaces, a full-width space, a tab — are no customer ID, email or identity, so rows that leave
    them blank are never each other's duplicates, whatever the key (built-in or declared)."""
    write_config("identity_types:\n  member_no: {aliases: [会员卡号]}\n")
    blanks = ["", " ", "\u3000", "\t"]
    rows = [["客户ID", "手机号码", "邮箱", "微信openid", "微信unionid", "会员卡号"]]
    rows += [[b, f"1380013800{i}", b, b, b, b] for i, b in enumerate(blanks)]
    rows.append(["", "", "only@example.cn", "", "", " "])
    summary = run_import(make_csv(rows))
    assert counts(summary) == (5, 5, 0, 0, 0)
    assert failures(summary["batch_id"]) == {}
    assert query("SELECT count(*) FROM customer_identities") == [(0,)]


# --- matching ------------------------------------------------------------------------------


def five_customers(seed) -> None:
    seed(
        [
            {"customer_id": f"C000000000{i}", "name": f"c{i}", "mobile": f"1380000000{i}", "email": f"e{i}@example.cn"}
            for i in range(1, 6)
        ],
        identities=[(f"C000000000{i}", "wechat_openid", f"o{i}") for i in range(1, 6)],
    )


def test_rule_matching_priority_customer_id_identity_mobile_email(seed, make_csv, run_import, outcomes, query):
    five_customers(seed)
    path = make_csv(
        [
            ["客户ID", "微信openid", "手机号码", "邮箱", "姓名"],
            ["C0000000001", "", "13800000002", "e2@example.cn", "r2"],  # customer ID beats mobile and email
            ["", "o2", "13800000003", "", "r3"],  # identity beats mobile
            ["", "", "13800000004", "e3@example.cn", "r4"],  # mobile beats email
            ["", "", "", "e5@example.cn", "r5"],  # email alone
            ["", "oNew", "13900000006", "", "r6"],  # no match: created (13900000000 is a placeholder)
        ]
    )
    summary = run_import(path)
    assert counts(summary) == (5, 1, 4, 0, 0)
    assert outcomes(summary["batch_id"]) == {
        2: ("updated", "C0000000001", "customer_id"),
        3: ("updated", "C0000000002", "identity"),
        4: ("updated", "C0000000004", "mobile"),
        5: ("updated", "C0000000005", "email"),
        6: ("created", "C0000000006", None),
    }
    assert query("SELECT customer_id, name FROM customers ORDER BY 1") == [
        ("C0000000001", "r2"),
        ("C0000000002", "r3"),
        ("C0000000003", "c3"),
        ("C0000000004", "r4"),
        ("C0000000005", "r5"),
        ("C0000000006", "r6"),
    ]


def test_rule_new_customers_get_new_customer_ids(seed, make_csv, run_import, outcomes, query):
    seed([{"customer_id": "C0000000041", "mobile": "13800000041"}])
    first = run_import(make_csv([["手机号码"], ["13900000001"], ["13900000002"]]))
    second = run_import(make_csv([["手机号码"], ["13900000003"]]))
    assert outcomes(first["batch_id"]) == {2: ("created", "C0000000042", None), 3: ("created", "C0000000043", None)}
    assert outcomes(second["batch_id"]) == {2: ("created", "C0000000044", None)}
    assert query("SELECT customer_id, mobile, created_batch_id FROM customers ORDER BY 1") == [
        ("C0000000041", "13800000041", None),
        ("C0000000042", "13900000001", first["batch_id"]),
        ("C0000000043", "13900000002", first["batch_id"]),
        ("C0000000044", "13900000003", second["batch_id"]),
    ]


def test_rule_unknown_customer_id_fails(seed, make_csv, run_import, failures, query):
    seed([{"customer_id": "C0000000001", "mobile": "13800000001"}])
    summary = run_import(make_csv([["客户ID", "手机号码"], ["C0000000099", "13800000001"]]))
    assert counts(summary) == (1, 0, 0, 1, 0)
    assert failures(summary["batch_id"]) == {2: ("unknown_customer_id", ["unknown_customer_id"])}
    assert query("SELECT count(*) FROM customers") == [(1,)]


def test_rule_customer_id_with_identity_of_another_customer_is_identity_conflict(
    seed, make_csv, run_import, failures, query
):
    five_customers(seed)
    summary = run_import(make_csv([["客户ID", "微信openid", "姓名"], ["C0000000001", "o2", "changed"]]))
    assert counts(summary) == (1, 0, 0, 1, 0)
    assert failures(summary["batch_id"]) == {2: ("identity_conflict", ["identity_conflict"])}
    assert query("SELECT name FROM customers WHERE customer_id IN ('C0000000001', 'C0000000002') ORDER BY 1") == [
        ("c1",),
        ("c2",),
    ]


def test_rule_identities_of_two_customers_are_ambiguous_match(seed, make_csv, run_import, failures):
    five_customers(seed)
    seed(identities=[("C0000000003", "wechat_unionid", "u3")])
    summary = run_import(make_csv([["微信openid", "微信unionid"], ["o1", "u3"]]))
    assert counts(summary) == (1, 0, 0, 1, 0)
    assert failures(summary["batch_id"]) == {2: ("ambiguous_match", ["ambiguous_match"])}


def test_rule_mobile_shared_by_two_customers_is_ambiguous_match(seed, make_csv, run_import, failures, query):
    seed(
        [
            {"customer_id": "C0000000001", "mobile": "13800138000", "name": "a"},
            {"customer_id": "C0000000002", "mobile": "13800138000", "name": "b"},
        ]
    )
    summary = run_import(make_csv([["手机号码", "姓名"], ["13800138000", "c"]]))
    assert counts(summary) == (1, 0, 0, 1, 0)
    assert failures(summary["batch_id"]) == {2: ("ambiguous_match", ["ambiguous_match"])}
    assert query("SELECT name FROM customers ORDER BY 1") == [("a",), ("b",)]


def test_rule_email_shared_by_two_customers_is_ambiguous_match(seed, make_csv, run_import, failures):
    seed(
        [
            {"customer_id": "C0000000001", "email": "same@example.cn"},
            {"customer_id": "C0000000002", "email": "same@example.cn"},
        ]
    )
    summary = run_import(make_csv([["邮箱"], ["Same@Example.cn"]]))
    assert failures(summary["batch_id"]) == {2: ("ambiguous_match", ["ambiguous_match"])}


def test_rule_empty_cell_never_erases_stored_value(seed, make_csv, run_import, query):
    seed(
        [
            {
                "customer_id": "C0000000001",
                "name": "张三",
                "mobile": "13800138000",
                "email": "zs@example.cn",
                "gender": "male",
                "province": "广东省",
                "city": "广州市",
                "birthday": dt.date(1990, 1, 2),
                "points": 5,
            }
        ]
    )
    path = make_csv(
        [
            ["手机号码", "姓名", "邮箱", "性别", "省份", "城市", "生日", "积分"],
            ["13800138000", "", " ", "", "", "", "", "9"],
        ]
    )
    summary = run_import(path)
    assert counts(summary) == (1, 0, 1, 0, 0)
    assert query("SELECT name, mobile, email, gender, province, city, birthday, points FROM customers") == [
        ("张三", "13800138000", "zs@example.cn", "male", "广东省", "广州市", dt.date(1990, 1, 2), 9)
    ]


def test_rule_identity_match_stores_mobile_held_by_another_customer(seed, make_csv, run_import, query):
    five_customers(seed)
    summary = run_import(make_csv([["微信openid", "手机号码"], ["o1", "13800000002"]]))
    assert counts(summary) == (1, 0, 1, 0, 0)
    assert query("SELECT customer_id, mobile FROM customers WHERE mobile = '13800000002' ORDER BY 1") == [
        ("C0000000001", "13800000002"),
        ("C0000000002", "13800000002"),
    ]


def test_rule_identity_type_already_held_drops_file_value_row_still_updates(
    seed, make_csv, run_import, outcomes, query
):
    five_customers(seed)
    summary = run_import(make_csv([["手机号码", "微信openid", "姓名"], ["13800000001", "oOther", "renamed"]]))
    assert outcomes(summary["batch_id"]) == {2: ("updated", "C0000000001", "mobile")}
    assert query("SELECT name FROM customers WHERE customer_id = 'C0000000001'") == [("renamed",)]
    assert query("SELECT identity_value FROM customer_identities WHERE customer_id = 'C0000000001'") == [("o1",)]
    assert query("SELECT count(*) FROM customer_identities WHERE identity_value = 'oOther'") == [(0,)]


def test_rule_new_identity_is_added_to_matched_customer(seed, make_csv, run_import, query):
    seed([{"customer_id": "C0000000001", "mobile": "13800138000"}])
    summary = run_import(make_csv([["手机号码", "微信unionid"], ["13800138000", "uNew"]]))
    assert query("SELECT customer_id, identity_type, identity_value, batch_id FROM customer_identities") == [
        ("C0000000001", "wechat_unionid", "uNew", summary["batch_id"])
    ]


def test_rule_unchanged_customer_keeps_updated_at(seed, make_csv, run_import, query):
    seed(
        [
            {"customer_id": "C0000000001", "mobile": "13800138000", "name": "same"},
            {"customer_id": "C0000000002", "mobile": "13900139000", "name": "old"},
        ]
    )
    summary = run_import(make_csv([["手机号码", "姓名"], ["13800138000", "same"], ["13900139000", "new"]]))
    assert counts(summary) == (2, 0, 2, 0, 0)
    stamps = dict(query("SELECT customer_id, updated_at FROM customers"))
    assert stamps["C0000000001"] == SEEDED_AT
    assert stamps["C0000000002"] > SEEDED_AT


# --- tags and groups -----------------------------------------------------------------------


def test_rule_missing_tags_are_created_static(make_csv, run_import, query):
    run_import(make_csv([["手机号码", "客户标签"], ["13800138000", "老客"]]), tags=["VIP"])
    assert query("SELECT name, kind FROM tags ORDER BY name") == [("VIP", "static"), ("老客", "static")]


def test_rule_tag_cell_splits_on_all_separators(make_csv, run_import, query):
    run_import(make_csv([["手机号码", "客户标签"], ["13800138000", "a,b，c;d；e|f"]]))
    assert query("SELECT t.name FROM customer_tags JOIN tags t USING (tag_id) ORDER BY 1") == [
        ("a",),
        ("b",),
        ("c",),
        ("d",),
        ("e",),
        ("f",),
    ]


def test_rule_existing_tag_is_reused_case_insensitively(make_csv, run_import, query):
    run_import(make_csv([["手机号码"], ["13800138000"]]), tags=["VIP"])
    run_import(make_csv([["手机号码", "客户标签"], ["13900139000", "vip"]]))
    assert query("SELECT tag_id, name FROM tags") == [(1, "VIP")]
    assert query("SELECT c.mobile FROM customer_tags JOIN customers c USING (customer_id) ORDER BY 1") == [
        ("13800138000",),
        ("13900139000",),
    ]


def test_rule_tag_setting_applies_to_every_imported_customer(seed, make_csv, run_import, query):
    seed([{"customer_id": "C0000000001", "mobile": "13800138000"}])
    path = make_csv([["手机号码", "客户标签"], ["13800138000", ""], ["13900139000", "x"], ["123", "y"]])
    summary = run_import(path, tags=["VIP", "2024"])
    assert counts(summary) == (3, 1, 1, 1, 0)
    assert query(
        "SELECT ct.customer_id, t.name, ct.batch_id = ? FROM customer_tags ct JOIN tags t USING (tag_id) ORDER BY 1, 2",
        [summary["batch_id"]],
    ) == [
        ("C0000000001", "2024", True),
        ("C0000000001", "VIP", True),
        ("C0000000002", "2024", True),
        ("C0000000002", "VIP", True),
        ("C0000000002", "x", True),
    ]
    assert query("SELECT count(*) FROM tags WHERE name = 'y'") == [(0,)]


def test_rule_group_created_when_missing_and_every_imported_customer_joins(seed, make_csv, run_import, query):
    seed([{"customer_id": "C0000000001", "mobile": "13800138000"}])
    first = run_import(make_csv([["手机号码"], ["13800138000"], ["13900139000"], ["bad"]]), group="618 buyers")
    assert query("SELECT group_id, name, kind FROM groups") == [(1, "618 buyers", "static")]
    assert query("SELECT group_id, customer_id, batch_id FROM group_members ORDER BY 2") == [
        (1, "C0000000001", first["batch_id"]),
        (1, "C0000000002", first["batch_id"]),
    ]
    second = run_import(make_csv([["手机号码"], ["13900139000"], ["13700137000"]]), group="618 buyers")
    assert query("SELECT group_id, name FROM groups") == [(1, "618 buyers")]
    assert query("SELECT customer_id, batch_id FROM group_members ORDER BY 1") == [
        ("C0000000001", first["batch_id"]),
        ("C0000000002", first["batch_id"]),
        ("C0000000003", second["batch_id"]),
    ]


# --- initial source fields -----------------------------------------------------------------


SOURCE_SETTINGS = {"initial_source": "shop", "initial_source_content": "spring", "campaign": "c618"}
SOURCE_QUERY = "SELECT customer_id, initial_source, initial_source_content, campaign FROM customers ORDER BY 1"


def seed_sourced_customer(seed) -> None:
    seed(
        [
            {
                "customer_id": "C0000000001",
                "mobile": "13800138000",
                "initial_source": "old_src",
                "initial_source_content": "old_content",
                "campaign": "old_camp",
            }
        ]
    )


def test_rule_source_policy_new_only_keeps_existing_customers_source(seed, make_csv, run_import, query):
    seed_sourced_customer(seed)
    summary = run_import(
        make_csv([["手机号码"], ["13800138000"], ["13900139000"]]), source_policy="new-only", **SOURCE_SETTINGS
    )
    assert counts(summary) == (2, 1, 1, 0, 0)
    assert query(SOURCE_QUERY) == [
        ("C0000000001", "old_src", "old_content", "old_camp"),
        ("C0000000002", "shop", "spring", "c618"),
    ]


def test_rule_source_policy_all_overwrites_existing_customers_source(seed, make_csv, run_import, query):
    seed_sourced_customer(seed)
    run_import(make_csv([["手机号码"], ["13800138000"], ["13900139000"]]), source_policy="all", **SOURCE_SETTINGS)
    assert query(SOURCE_QUERY) == [
        ("C0000000001", "shop", "spring", "c618"),
        ("C0000000002", "shop", "spring", "c618"),
    ]


def test_rule_initial_source_column_beats_setting_for_new_customers(make_csv, run_import, query):
    path = make_csv(
        [["手机号码", "初始来源", "初始来源内容"], ["13800138000", "线下门店", "上海店"], ["13900139000", "", ""]]
    )
    run_import(path, **SOURCE_SETTINGS)
    assert query(SOURCE_QUERY) == [
        ("C0000000001", "线下门店", "上海店", "c618"),
        ("C0000000002", "shop", "spring", "c618"),
    ]


# --- timeline events -----------------------------------------------------------------------


def test_rule_normal_mode_records_created_changed_and_tag_events(make_csv, run_import, query):
    first = run_import(make_csv([["手机号码", "姓名", "城市"], ["13800138000", "张三", "广州"]]), tags=["VIP"])
    assert query(
        "SELECT customer_id, event_type, batch_id, CAST(detail AS VARCHAR) FROM customer_events ORDER BY event_type"
    ) == [
        ("C0000000001", "customer_created", first["batch_id"], None),
        ("C0000000001", "tag_added", first["batch_id"], '{"tag_id":1,"tag":"VIP"}'),
    ]
    second = run_import(
        make_csv([["手机号码", "姓名", "城市", "积分"], ["13800138000", "张三丰", "广州", "3"]]), mode="normal"
    )
    changed = query(
        "SELECT customer_id, CAST(detail AS VARCHAR) FROM customer_events "
        "WHERE batch_id = ? AND event_type = 'attribute_changed'",
        [second["batch_id"]],
    )
    assert [(c, json.loads(d)) for c, d in changed] == [
        ("C0000000001", {"name": ["张三", "张三丰"], "points": [None, "3"]})
    ]
    assert query("SELECT count(*) FROM customer_events WHERE batch_id = ?", [second["batch_id"]]) == [(1,)]


def test_rule_fast_mode_records_no_events(seed, make_csv, run_import, query):
    seed([{"customer_id": "C0000000001", "mobile": "13800138000", "name": "old"}])
    summary = run_import(
        make_csv([["手机号码", "姓名"], ["13800138000", "new"], ["13900139000", "x"]]), tags=["VIP"], mode="fast"
    )
    assert counts(summary) == (2, 1, 1, 0, 0)
    assert query("SELECT count(*) FROM customer_events") == [(0,)]
    assert query("SELECT count(*) FROM customer_tags") == [(2,)]


# --- idempotency ---------------------------------------------------------------------------


def test_rule_same_bytes_again_is_already_imported_and_changes_nothing(make_csv, run_import, query, paths):
    path = make_csv([["手机号码", "姓名"], ["13800138000", "a"], ["123", "b"], ["", ""]])
    first = run_import(path, tags=["VIP"], group="g")
    before = snapshot(query)
    archived = sorted(
        p.relative_to(paths.home) for p in paths.home.rglob("*") if p.is_file() and p.parent != paths.home
    )
    again = run_import(path, tags=["other"], group="other")
    assert again["status"] == "already_imported"
    assert {k: again[k] for k in ("batch_id", "scanned", "created", "updated", "failed", "skipped")} == {
        k: first[k] for k in ("batch_id", "scanned", "created", "updated", "failed", "skipped")
    }
    assert (first["scanned"], first["created"], first["failed"], first["skipped"]) == (3, 1, 1, 1)
    assert snapshot(query) == before
    assert (
        sorted(p.relative_to(paths.home) for p in paths.home.rglob("*") if p.is_file() and p.parent != paths.home)
        == archived
    )


def test_rule_same_bytes_under_another_name_is_already_imported(make_csv, run_import):
    rows = [["手机号码"], ["13800138000"]]
    first = run_import(make_csv(rows, name="a.csv"))
    again = run_import(make_csv(rows, name="b.csv"))
    assert (again["status"], again["batch_id"]) == ("already_imported", first["batch_id"])


def test_rule_force_reimports_same_bytes(make_csv, run_import, query):
    path = make_csv([["手机号码", "姓名"], ["13800138000", "a"]])
    first = run_import(path)
    forced = run_import(path, force=True)
    assert forced["status"] == "succeeded"
    assert forced["batch_id"] != first["batch_id"]
    assert counts(forced) == (1, 0, 1, 0, 0)
    assert query("SELECT count(*) FROM import_batches") == [(2,)]
    third = run_import(path)
    assert (third["status"], third["batch_id"]) == ("already_imported", first["batch_id"])


# --- dry run -------------------------------------------------------------------------------


def dry_run_file(make_csv):
    return make_csv(
        [
            ["客户ID", "手机号码", "邮箱"],
            ["", "13800000001", ""],  # 2 would update
            ["", "13900000002", ""],  # 3 would create
            ["", "", ""],  # 4 empty
            ["", "13700000003", ""],  # 5 duplicate
            ["", "13700000003", "d@example.cn"],  # 6 duplicate
            ["", "123", ""],  # 7 invalid
            ["C0000009999", "", ""],  # 8 fails at matching: unknown customer ID
        ]
    )


def test_rule_dry_run_counts_add_up(seed, make_csv, dry_run):
    seed([{"customer_id": "C0000000001", "mobile": "13800000001"}])
    report = dry_run(dry_run_file(make_csv))
    assert report["status"] == "dry_run"
    assert {
        k: report[k] for k in ("scanned", "empty", "duplicate", "invalid", "expected", "would_create", "would_update")
    } == {
        "scanned": 7,
        "empty": 1,
        "duplicate": 2,
        "invalid": 2,
        "expected": 2,
        "would_create": 1,
        "would_update": 1,
    }
    assert report["scanned"] == report["empty"] + report["duplicate"] + report["invalid"] + report["expected"]
    assert report["reasons"] == {"duplicate_in_file": 2, "invalid_mobile": 1, "unknown_customer_id": 1}


def test_rule_dry_run_predicts_the_real_import(seed, make_csv, dry_run, run_import, outcomes):
    seed([{"customer_id": "C0000000001", "mobile": "13800000001"}])
    path = dry_run_file(make_csv)
    report = dry_run(path)
    summary = run_import(path)
    assert counts(summary) == (7, 1, 1, 4, 1)
    real = outcomes(summary["batch_id"])
    assert {p["row_number"]: (p["outcome"], p["customer_id"], p["matched_by"]) for p in report["preview"]} == real


def test_rule_dry_run_preview_has_at_most_20_masked_rows(make_csv, dry_run):
    path = make_csv([["手机号码", "姓名"]] + [[f"138001380{i:02d}", f"n{i}"] for i in range(25)])
    report = dry_run(path)
    assert report["scanned"] == 25
    assert len(report["preview"]) == 20
    assert [p["row_number"] for p in report["preview"]] == list(range(2, 22))
    assert [p["mobile"] for p in report["preview"][:3]] == ["138****8000", "138****8001", "138****8002"]
    assert all("13800138" not in json.dumps(p) for p in report["preview"])


def test_rule_dry_run_does_not_create_warehouse(make_csv, dry_run, paths):
    report = dry_run(make_csv([["手机号码"], ["13800138000"]]))
    assert (report["status"], report["would_create"]) == ("dry_run", 1)
    assert not paths.warehouse.exists()
    assert list(paths.archive.iterdir()) == [] and list(paths.failures.iterdir()) == []


def test_rule_dry_run_does_not_change_existing_warehouse(seed, make_csv, dry_run, paths, query):
    seed([{"customer_id": "C0000000001", "mobile": "13800000001"}])
    before_bytes, before = paths.warehouse.read_bytes(), snapshot(query)
    report = dry_run(dry_run_file(make_csv))
    assert report["would_update"] == 1
    assert paths.warehouse.read_bytes() == before_bytes
    assert snapshot(query) == before


# --- failure file, archive, batch record ---------------------------------------------------


def test_rule_failure_file_is_utf8_bom_csv_with_original_cells_and_reasons(make_csv, run_import):
    path = make_csv(
        [
            ["姓名", "手机号码", "邮箱", "备注"],
            ["张三", " 138-0013 ", "zs@example.cn", 'a, "quoted" note'],
            ["李四", "13900139000", "ls@example.cn", ""],
            ["王五", "13700137000", "BAD", "x"],
        ]
    )
    summary = run_import(path)
    assert summary["failed"] == 2
    raw = Path(summary["failure_file"]).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows == [
        ["姓名", "手机号码", "邮箱", "备注", "row_number", "reason_code", "reason"],
        [
            "张三",
            " 138-0013 ",
            "zs@example.cn",
            'a, "quoted" note',
            "2",
            "invalid_mobile",
            "手机号码无效：去掉+86、0开头、空格等字符后须为1开头的11位数字 (invalid mobile)",
        ],
        ["王五", "13700137000", "BAD", "x", "4", "invalid_email", "邮箱格式无效 (invalid email)"],
    ]


def test_rule_no_failure_file_when_nothing_failed(make_csv, run_import, paths):
    summary = run_import(make_csv([["手机号码"], ["13800138000"]]))
    assert summary["failure_file"] is None
    assert list(paths.failures.iterdir()) == []


def test_rule_original_file_is_archived(make_csv, run_import, query, paths):
    path = make_csv([["手机号码"], ["13800138000"]], name="user_2024-05-01.csv")
    summary = run_import(path)
    archived = paths.archive / summary["batch_id"] / "user_2024-05-01.csv"
    assert archived.read_bytes() == path.read_bytes()
    assert query("SELECT archive_file, business_date FROM import_batches") == [(str(archived), dt.date(2024, 5, 1))]


def test_rule_scanned_equals_created_updated_failed_skipped_for_every_batch(make_csv, run_import, query):
    run_import(make_csv([["手机号码"], ["13800138000"], [""], ["123"]]))
    run_import(make_csv([["手机号码"], ["13800138000"], ["13900139000"], ["13900139000"]]))
    run_import(make_csv("手机号码,姓名\n13700137000,a,b\n\n13600136000,c\n"))
    batches = query("SELECT scanned, created, updated, failed, skipped FROM import_batches ORDER BY started_at")
    assert batches == [(3, 1, 0, 1, 1), (3, 0, 1, 2, 0), (3, 1, 0, 1, 1)]
    assert all(s == c + u + f + k for s, c, u, f, k in batches)
    per_batch = query(
        "SELECT b.batch_id, b.scanned, count(o.row_number) FROM import_batches b "
        "JOIN import_row_outcomes o USING (batch_id) GROUP BY ALL ORDER BY ALL"
    )
    assert [(scanned, rows) for _, scanned, rows in per_batch] == [(3, 3)] * 3
    assert query("SELECT count(*) FROM import_row_outcomes") == [(9,)]


def test_rule_tag_setting_names_are_trimmed_like_a_tags_cell(make_csv, run_import, query):
    run_import(make_csv([["手机号码"], ["13800138000"]]), tags=[" VIP ", "", "新客"])
    assert query("SELECT name FROM tags ORDER BY name") == [("VIP",), ("新客",)]


def test_rule_row_of_unicode_spaces_is_empty_and_a_blank_first_cell_is_not(make_csv, run_import, outcomes):
    """Emptiness is decided by the first cell when it shows a character, else by all cells."""
    path = make_csv("姓名,手机号码\n\u3000,\u00a0\ufeff\n\u3000,13800138000\n")
    summary = run_import(path)
    assert {n: o[0] for n, o in outcomes(summary["batch_id"]).items()} == {2: "skipped", 3: "created"}


# --- unchanged: the matched rows that changed nothing (issue 14 item 15) --------------------

UNCHANGED_CONFIG = "custom_attributes:\n  member_level: {aliases: [会员等级]}\n"
UNCHANGED_HEADER = ["手机号码", "姓名", "微信unionid", "客户标签", "会员等级"]


def unchanged_rows(n: int = 10) -> list[list[str]]:
    return [[f"1380013{i:04d}", f"客户{i}", "", "VIP", "gold"] for i in range(n)]


def test_rule_reimport_of_the_same_rows_is_updated_and_unchanged(make_csv, run_import, query, write_config):
    """Issue 14 item 15: the same rows again (--force) are all updated, and all unchanged: no
    attribute, custom attribute, identity, tag or group membership is new."""
    write_config(UNCHANGED_CONFIG)
    path = make_csv([UNCHANGED_HEADER, *unchanged_rows()])
    first = run_import(path, tags=["demo"], group="Demo")
    assert (first["created"], first["updated"], first["unchanged"]) == (10, 0, 0)
    again = run_import(path, force=True, tags=["demo"], group="Demo")
    assert counts(again) == (10, 0, 10, 0, 0) and again["unchanged"] == 10
    assert query("SELECT unchanged FROM import_batches WHERE batch_id = ?", [again["batch_id"]]) == [(10,)]
    assert query("SELECT count(*) FROM customer_events WHERE batch_id = ?", [again["batch_id"]]) == [(0,)]


def test_rule_reimport_where_3_rows_changed_counts_the_others_unchanged(make_csv, run_import, write_config):
    """Issue 14 item 15: of 10 matched rows, one with a new name (an attribute change), one with a
    first unionid (a new identity, no attribute), one with a new tag: updated 10, unchanged 7.
    An empty cell is no change."""
    write_config(UNCHANGED_CONFIG)
    run_import(make_csv([UNCHANGED_HEADER, *unchanged_rows()]))
    rows = unchanged_rows()
    rows[1][1] = "新名字"
    rows[2][2] = "uNew2"
    rows[3][3] = "VIP,新标签"
    rows[4][1] = rows[4][4] = ""  # empty cells never erase: no change
    summary = run_import(make_csv([UNCHANGED_HEADER, *rows]))
    assert counts(summary) == (10, 0, 10, 0, 0) and summary["unchanged"] == 7


def test_rule_custom_attributes_batch_tags_and_groups_count_as_changes(make_csv, run_import, write_config):
    """Issue 14 item 15: a new custom attribute value, a --tag or a --group the customers did not
    have yet make their rows changed; the same ones again leave them unchanged."""
    write_config(UNCHANGED_CONFIG)
    run_import(make_csv([UNCHANGED_HEADER, *unchanged_rows()]))
    rows = unchanged_rows()
    rows[0][4] = "platinum"
    assert run_import(make_csv([UNCHANGED_HEADER, *rows]))["unchanged"] == 9
    assert run_import(make_csv([UNCHANGED_HEADER, *rows]), force=True)["unchanged"] == 10
    assert run_import(make_csv([UNCHANGED_HEADER, *rows]), force=True, tags=["new"])["unchanged"] == 0
    assert run_import(make_csv([UNCHANGED_HEADER, *rows]), force=True, tags=["new"])["unchanged"] == 10
    assert run_import(make_csv([UNCHANGED_HEADER, *rows]), force=True, group="G")["unchanged"] == 0
    assert run_import(make_csv([UNCHANGED_HEADER, *rows]), force=True, group="G")["unchanged"] == 10


def test_rule_unchanged_is_part_of_updated_and_of_the_batch_record(seed, make_csv, run_import, query):
    """Issue 14 item 15: created, failed and skipped rows are never unchanged; an already
    imported file reports its batch's figure."""
    seed([{"customer_id": "C0000000001", "mobile": "13800138000", "name": "same"}])
    path = make_csv([["手机号码", "姓名"], ["13800138000", "same"], ["13900139000", "new"], ["123", "x"], ["", ""]])
    summary = run_import(path)
    assert counts(summary) == (4, 1, 1, 1, 1) and summary["unchanged"] == 1
    assert run_import(path)["unchanged"] == 1  # already_imported: the batch's own figure
    assert query("SELECT updated, unchanged FROM import_batches") == [(1, 1)]
