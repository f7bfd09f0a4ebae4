"""Reading a customer file: headers, whole-file rejection, encodings, XLSX cells, row numbers."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from cdp_pipeline.errors import FileRejected
from cdp_pipeline.readers import stage_file, xlsx_cell_text, xlsx_column_text

REFUSED = [
    "客户负责人",
    "营销活动",
    "邮箱是否验证",
    "手机号码是否验证",
    "当前阶段",
    "创建自",
    "创建方式",
    "创建时间",
    "最后更新时间",
    "会员身份",
]

CUSTOMER_COLUMNS = "name, mobile, email, gender, province, city, birthday, points"


def only_customer(query):
    rows = query(f"SELECT {CUSTOMER_COLUMNS} FROM customers")
    assert len(rows) == 1
    return rows[0]


# --- headers -------------------------------------------------------------------------------


def test_rule_headers_chinese_aliases_map_to_fields(make_csv, run_import, query):
    path = make_csv(
        [
            [
                "姓名",
                "手机号码",
                "邮箱",
                "性别",
                "省份",
                "城市",
                "生日",
                "积分",
                "客户标签",
                "微信openid",
                "微信unionid",
            ],
            [
                "张三",
                "13800138000",
                "zs@example.cn",
                "男",
                "广东",
                "广州",
                "2024-05-01",
                "120",
                "老客",
                "oAbC1",
                "uXyZ1",
            ],
        ]
    )
    summary = run_import(path)
    assert (summary["created"], summary["failed"], summary["unknown_columns"]) == (1, 0, [])
    assert only_customer(query) == (
        "张三",
        "13800138000",
        "zs@example.cn",
        "male",
        "广东省",
        "广州市",
        dt.date(2024, 5, 1),
        120,
    )
    assert query("SELECT identity_type, identity_value FROM customer_identities ORDER BY 1") == [
        ("wechat_openid", "oAbC1"),
        ("wechat_unionid", "uXyZ1"),
    ]
    assert query("SELECT t.name FROM customer_tags JOIN tags t USING (tag_id)") == [("老客",)]


def test_rule_headers_english_aliases_map_to_fields(make_csv, run_import, query):
    path = make_csv(
        [
            [
                "name",
                "mobile",
                "email",
                "gender",
                "province",
                "city",
                "birthday",
                "points",
                "tags",
                "openid",
                "unionid",
            ],
            ["Li Si", "13900139000", "ls@example.cn", "female", "广东", "深圳", "2024/5/1", "7", "new", "oQ", "uQ"],
        ]
    )
    summary = run_import(path)
    assert (summary["created"], summary["failed"], summary["unknown_columns"]) == (1, 0, [])
    assert only_customer(query) == (
        "Li Si",
        "13900139000",
        "ls@example.cn",
        "female",
        "广东省",
        "深圳市",
        dt.date(2024, 5, 1),
        7,
    )
    assert query("SELECT identity_type, identity_value FROM customer_identities ORDER BY 1") == [
        ("wechat_openid", "oQ"),
        ("wechat_unionid", "uQ"),
    ]
    assert query("SELECT t.name FROM customer_tags JOIN tags t USING (tag_id)") == [("new",)]


def test_rule_headers_are_trimmed_and_case_insensitive(make_csv, run_import, query):
    path = make_csv([["  NAME ", " Mobile", "EMAIL  ", "Gender"], ["Wang", "13700137000", "w@example.cn", "M"]])
    summary = run_import(path)
    assert (summary["created"], summary["unknown_columns"]) == (1, [])
    assert query("SELECT name, mobile, email, gender FROM customers") == [
        ("Wang", "13700137000", "w@example.cn", "male")
    ]


def test_rule_header_alias_shouji_maps_to_mobile(make_csv, run_import, query):
    summary = run_import(make_csv([["手机"], ["13600136000"]]))
    assert summary["created"] == 1
    assert query("SELECT mobile FROM customers") == [("13600136000",)]


@pytest.mark.parametrize("header", ["客户ID", "customer_id", " Customer_ID "])
def test_rule_header_customer_id_aliases_match_by_customer_id(header, make_csv, run_import, seed, query, outcomes):
    seed([{"customer_id": "C0000000007", "name": "old"}])
    summary = run_import(make_csv([[header, "姓名"], ["c0000000007", "new"]]))
    assert (summary["updated"], summary["created"], summary["failed"]) == (1, 0, 0)
    assert outcomes(summary["batch_id"]) == {2: ("updated", "C0000000007", "customer_id")}
    assert query("SELECT customer_id, name FROM customers") == [("C0000000007", "new")]


def test_rule_refused_columns_are_listed_in_summary(make_csv, run_import):
    path = make_csv([["手机号码", *REFUSED], ["13800138000", *["x"] * len(REFUSED)]])
    summary = run_import(path)
    assert summary["refused_columns"] == REFUSED
    assert summary["unknown_columns"] == []
    assert summary["created"] == 1


def test_rule_unknown_columns_are_listed_in_summary(make_csv, run_import):
    path = make_csv([["备注", "手机号码", "Favourite Colour", "营销活动"], ["a", "13800138000", "blue", "x"]])
    summary = run_import(path)
    assert summary["unknown_columns"] == ["备注", "Favourite Colour"]
    assert summary["refused_columns"] == ["营销活动"]


def test_rule_file_without_key_column_is_rejected_and_writes_nothing(make_csv, run_import, query, paths):
    path = make_csv([["姓名", "性别", "城市", "客户负责人"], ["张三", "男", "广州", "x"]])
    with pytest.raises(FileRejected) as rejected:
        run_import(path)
    assert "no key column" in rejected.value.reason
    assert query("SELECT count(*) FROM import_batches") == [(0,)]
    assert query("SELECT count(*) FROM customers") == [(0,)]
    assert query("SELECT count(*) FROM import_failures") == [(0,)]
    assert query("SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'stg_%'") == [(0,)]
    assert list(paths.archive.iterdir()) == []
    assert list(paths.failures.iterdir()) == []
    assert list(paths.work.iterdir()) == []


def test_rule_file_without_key_column_is_rejected_by_dry_run(make_csv, dry_run, paths):
    with pytest.raises(FileRejected, match="no key column"):
        dry_run(make_csv([["姓名"], ["张三"]]))
    assert not paths.warehouse.exists()


def test_rule_header_without_data_rows_is_rejected(make_csv, run_import, query):
    with pytest.raises(FileRejected) as rejected:
        run_import(make_csv("姓名,手机号码,邮箱\n"))
    assert "no data rows" in rejected.value.reason
    assert query("SELECT count(*) FROM import_batches") == [(0,)]


def test_rule_xlsx_header_without_data_rows_is_rejected(make_xlsx, run_import, query):
    with pytest.raises(FileRejected) as rejected:
        run_import(make_xlsx([["姓名", "手机号码"]]))
    assert "no data rows" in rejected.value.reason
    assert query("SELECT count(*) FROM import_batches") == [(0,)]


def test_rule_empty_file_is_rejected(tmp_path, run_import, query):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(FileRejected) as rejected:
        run_import(empty)
    assert "empty" in rejected.value.reason
    assert query("SELECT count(*) FROM import_batches") == [(0,)]


def test_rule_rejected_file_can_be_imported_once_fixed(make_csv, run_import):
    """A rejection records no batch, so it never makes later bytes look already imported."""
    with pytest.raises(FileRejected):
        run_import(make_csv("手机号码\n", name="a.csv"))
    summary = run_import(make_csv("手机号码\n13800138000\n", name="b.csv"))
    assert (summary["status"], summary["created"]) == ("succeeded", 1)


# --- encodings -----------------------------------------------------------------------------


def test_rule_gb18030_csv_is_detected(make_csv, run_import, query):
    path = make_csv(
        [["姓名", "手机号码", "邮箱", "城市"], ["张三", "13800138000", "zs@example.cn", "广州"]], encoding="gb18030"
    )
    path.read_bytes().decode("gb18030")  # the fixture really wrote GB18030 ...
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # ... that is not UTF-8
    summary = run_import(path)
    assert (summary["encoding"], summary["created"], summary["failed"]) == ("gb18030", 1, 0)
    assert query("SELECT name, mobile, email, city FROM customers") == [
        ("张三", "13800138000", "zs@example.cn", "广州市")
    ]


def test_rule_big5_csv_is_detected(make_csv, run_import, query):
    path = make_csv([["姓名", "手机", "城市"], ["陳大文", "13800138000", "臺北"]], encoding="big5")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    summary = run_import(path)
    assert (summary["encoding"], summary["created"], summary["failed"]) == ("big5", 1, 0)
    assert query("SELECT name, mobile, city FROM customers") == [("陳大文", "13800138000", "臺北市")]


def test_rule_big5_csv_with_english_headers_is_detected(make_csv, run_import, query):
    """ASCII headers give no hint: the data decides (a wrong GB18030 decoding would store mojibake)."""
    path = make_csv(
        [["name", "mobile", "city"], ["陳大文", "13800138000", "臺北"], ["張美玲", "13900139000", "高雄"]],
        encoding="big5",
    )
    summary = run_import(path)
    assert summary["encoding"] == "big5"
    assert query("SELECT name, city FROM customers ORDER BY mobile") == [("陳大文", "臺北市"), ("張美玲", "高雄市")]


def test_rule_gb18030_csv_with_english_headers_is_detected(make_csv, run_import, query):
    path = make_csv([["name", "mobile"], ["张三", "13800138000"], ["欧阳娜娜", "13900139000"]], encoding="gb18030")
    summary = run_import(path)
    assert summary["encoding"] == "gb18030"
    assert query("SELECT name FROM customers ORDER BY mobile") == [("张三",), ("欧阳娜娜",)]


def test_rule_utf8_bom_csv_first_header_maps(make_csv, run_import, query):
    path = make_csv([["手机号码", "姓名"], ["13800138000", "张三"]], encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    summary = run_import(path)
    assert (summary["encoding"], summary["created"], summary["unknown_columns"]) == ("utf-8", 1, [])
    assert query("SELECT mobile, name FROM customers") == [("13800138000", "张三")]


def test_rule_crlf_line_endings_read_like_lf(make_csv, run_import, query, outcomes):
    path = make_csv("手机号码,姓名\r\n13800138000,张三\r\n13900139000,李四\r\n")
    summary = run_import(path)
    assert (summary["scanned"], summary["created"], summary["skipped"]) == (2, 2, 0)
    assert query("SELECT mobile, name FROM customers ORDER BY mobile") == [
        ("13800138000", "张三"),
        ("13900139000", "李四"),
    ]


def test_rule_xlsx_numeric_mobile_and_date_cell(make_xlsx, run_import, query):
    path = make_xlsx(
        [
            ["姓名", "手机号码", "生日", "积分"],
            ["张三", 13800138000, dt.date(2024, 5, 1), 10],
            ["李四", 13900139000.0, dt.datetime(1990, 12, 31), 2.0],
        ]
    )
    summary = run_import(path)
    assert (summary["encoding"], summary["created"], summary["failed"]) == ("xlsx", 2, 0)
    assert query("SELECT name, mobile, birthday, points FROM customers ORDER BY mobile") == [
        ("张三", "13800138000", dt.date(2024, 5, 1), 10),
        ("李四", "13900139000", dt.date(1990, 12, 31), 2),
    ]


def test_rule_xlsx_blank_row_is_skipped_and_keeps_row_numbers(make_xlsx, run_import, outcomes, failures):
    path = make_xlsx(
        [
            ["手机号码", "邮箱"],
            [13800138000, "a@example.cn"],
            [None, None],
            [12345, "b@example.cn"],
        ]
    )
    summary = run_import(path)
    assert (summary["scanned"], summary["created"], summary["skipped"], summary["failed"]) == (3, 1, 1, 1)
    assert [(n, o[0]) for n, o in outcomes(summary["batch_id"]).items()] == [
        (2, "created"),
        (3, "skipped"),
        (4, "failed"),
    ]
    assert failures(summary["batch_id"]) == {4: ("invalid_mobile", ["invalid_mobile"])}


# Each kind of cell a workbook holds, as written by openpyxl, and the text a person sees.
XLSX_CELLS = [
    (7, "7"),
    (-3, "-3"),
    (2.5, "2.5"),
    (0.1, "0.1"),
    (1e-07, "1e-07"),
    (13800138000, "13800138000"),
    (13800138000.0, "13800138000"),
    (-0.0, "0"),
    (1e15, "1000000000000000"),
    # more than 15 digits: as Excel shows them, never as digits Excel no longer has (issue 14)
    (1234567890123456.0, "1.23456789012346e+15"),
    (3.515668939170626e17, "3.51566893917063e+17"),
    (1e20, "1e+20"),
    (1e300, "1e+300"),
    (True, "TRUE"),
    (False, "FALSE"),
    (dt.date(2024, 1, 2), "2024-01-02"),
    (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02 03:04:05"),
    (dt.datetime(2024, 1, 2, 3, 4, 5, 500000), "2024-01-02 03:04:05.500000"),
    (dt.datetime(2024, 1, 2), "2024-01-02"),
    (dt.time(13, 45), "13:45:00"),
    (dt.time(1, 2, 3, 250000), "01:02:03.250000"),
    (dt.timedelta(days=1, hours=2), "1 day, 2:00:00"),
    (None, ""),
    ("  spaced  ", "  spaced  "),
    ("00123", "00123"),
    ("13800138000", "13800138000"),
    ("张三\n北京", "张三\n北京"),
]


def test_xlsx_staged_cells_agree_with_xlsx_cell_text(make_xlsx, tmp_path):
    """Staging converts whole columns at once; every cell must still read as xlsx_cell_text says:
    in a column of every kind of cell, one of text only, one holding a NUL character (the
    ``_x0000_`` escape) and the cells beyond the header, which are joined into the last column."""
    from python_calamine import CalamineWorkbook

    rows = [["h0", "h1", "h2"]]
    for i, (value, _) in enumerate(XLSX_CELLS):
        rows.append([value, f"文本{i}", "a_x0000_b" if i == 0 else value, value if i % 2 else None, value])
    path = make_xlsx(rows)
    read = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Sheet").to_python(skip_empty_area=False)
    con = duckdb.connect()
    try:
        staged = stage_file(con, path, "file_rows", tmp_path / "work", frozenset())
        assert con.execute("SELECT column_name, column_type FROM (DESCRIBE file_rows)").fetchall() == [
            ("row_number", "BIGINT"),
            *((f"c{i}", "VARCHAR") for i in range(4)),
        ]
        got = con.execute("SELECT * FROM file_rows ORDER BY row_number").fetchall()
    finally:
        con.close()

    assert staged.headers == ["h0", "h1", "h2"]
    assert [row[1] for row in got] == [text for _, text in XLSX_CELLS]
    expected = []
    for number, cells in enumerate(read[1:], start=2):
        texts = [xlsx_cell_text(v) for v in cells]
        expected.append((number, *texts[:3], "".join(texts[3:]) or None))
    assert got == expected
    assert got[0][3] == "a\x00b"
    assert [row[4] for row in got[:4]] == ["7", "-3-3", "2.5", "0.10.1"]
    assert got[XLSX_CELLS.index((None, ""))][4] is None  # nothing beyond the header: NULL, not ''


def test_xlsx_column_text_agrees_with_xlsx_cell_text():
    values = [value for value, _ in XLSX_CELLS] + [None, 10**20, -0.0, float("inf"), "", "\x00", "\x01"]
    # whole numbers at the bounds of the exact ones (converted inline, issue 12)
    values += [1e15, -1e15, 1e15 + 2, -1e15 - 2, 2.0**53, float("nan"), float("-inf"), 13800138000.0]
    for column in (values, [v for v in values if isinstance(v, str)], [], [""], ["\x00"], [None]):
        assert xlsx_column_text(column).to_pylist() == [xlsx_cell_text(v) for v in column]


# --- row numbers ---------------------------------------------------------------------------


def test_rule_row_number_is_spreadsheet_row_header_is_row_1(make_csv, run_import, failures, outcomes):
    path = make_csv([["手机号码"], ["13800138000"], ["123"], ["13900139000"], ["456"]])
    summary = run_import(path)
    assert failures(summary["batch_id"]) == {
        3: ("invalid_mobile", ["invalid_mobile"]),
        5: ("invalid_mobile", ["invalid_mobile"]),
    }
    assert sorted(outcomes(summary["batch_id"])) == [2, 3, 4, 5]


def test_rule_quoted_newline_does_not_add_row(make_csv, run_import, failures, query):
    path = make_csv('姓名,手机号码\n"张\n三",13800138000\n"李\n\n四",123\n王五,bad\n')
    summary = run_import(path)
    assert (summary["scanned"], summary["created"], summary["failed"], summary["skipped"]) == (3, 1, 2, 0)
    assert failures(summary["batch_id"]) == {
        3: ("invalid_mobile", ["invalid_mobile"]),
        4: ("invalid_mobile", ["invalid_mobile"]),
    }
    assert query("SELECT name FROM customers") == [("张\n三",)]


def test_rule_blank_line_counts_as_row(make_csv, run_import, failures, outcomes):
    path = make_csv("姓名,手机号码\n张三,13800138000\n\n李四,123\n")
    summary = run_import(path)
    assert (summary["scanned"], summary["skipped"], summary["created"], summary["failed"]) == (3, 1, 1, 1)
    assert [(n, o[0]) for n, o in outcomes(summary["batch_id"]).items()] == [
        (2, "created"),
        (3, "skipped"),
        (4, "failed"),
    ]
    assert failures(summary["batch_id"]) == {4: ("invalid_mobile", ["invalid_mobile"])}


@pytest.mark.parametrize("chunk_bytes", [1, 5])
@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_rule_row_numbers_hold_across_read_chunks(
    chunk_bytes, encoding, monkeypatch, make_csv, run_import, outcomes, query
):
    """Blank lines, CRLF and quoted line breaks split across the reader's chunks still give spreadsheet rows."""
    monkeypatch.setattr("cdp_pipeline.readers.CHUNK_BYTES", chunk_bytes)
    text = (
        '姓名,手机号码\r\n张三,13800138000\r\n\r\n"李\r\n\r\n四",13900139000\r\n\r\n\r\n'
        '王五,123\r\n"赵\n六",13700137000\n'
    )
    summary = run_import(make_csv(text, encoding=encoding))
    assert summary["encoding"] == encoding
    assert {n: o[0] for n, o in outcomes(summary["batch_id"]).items()} == {
        2: "created",
        3: "skipped",
        4: "created",
        5: "skipped",
        6: "skipped",
        7: "failed",
        8: "created",
    }
    assert query("SELECT name FROM customers ORDER BY mobile") == [("赵\n六",), ("张三",), ("李\n\n四",)]


def test_rule_header_followed_only_by_blank_lines_is_rejected_as_no_data_rows(make_csv, run_import, query):
    with pytest.raises(FileRejected) as rejected:
        run_import(make_csv("姓名,手机号码\n\n,\n\n"))
    assert "no data rows" in rejected.value.reason
    assert query("SELECT count(*) FROM import_batches") == [(0,)]


def test_xlsx_long_numbers_are_never_read_as_digits(make_xlsx, tmp_path):
    """Issue 14 item 3: a workbook number of more than 15 digits has lost digits (Excel keeps 15
    significant digits; a float cannot hold an 18-digit id), so it is read in scientific notation,
    never as digits that would pass for an order id: 351566893917062563 stored as a number read
    351566893917062592 before. Text cells keep every digit."""
    path = make_xlsx([["id"], [351566893917062563], ["351566893917062563"], [1234567890123456], [999999999999999]])
    con = duckdb.connect()
    try:
        stage_file(con, path, "file_rows", tmp_path / "work", frozenset())
        cells = [c for (c,) in con.execute("SELECT c0 FROM file_rows ORDER BY row_number").fetchall()]
    finally:
        con.close()
    assert cells == ["3.51566893917063e+17", "351566893917062563", "1.23456789012346e+15", "999999999999999"]


def test_xlsx_reader_child_never_imports_pandas(make_xlsx, tmp_path):
    """Issue 12 item: the XLSX reader's process converts lists of cells only, so it does not pay
    for the pandas import pyarrow's first ``pa.array`` would make (half a second a workbook)."""
    import dataclasses
    import json
    import subprocess
    import sys

    from cdp_pipeline import settings

    workbook = make_xlsx([["姓名", "手机号码"], ["张三", 13800138000.0]])
    request = {
        "path": str(workbook),
        "sheet": None,
        "out": str(tmp_path / "sheet.arrow"),
        "max_columns": 1000,
        "limits": dataclasses.asdict(settings.XLSX_LIMITS),
    }
    script = (
        "import sys\nfrom cdp_pipeline import xlsx_reader\nxlsx_reader.main()\n"
        "print('pandas imported' if 'pandas' in sys.modules else 'no pandas')"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(request), capture_output=True, text=True, check=True
    )
    answer, verdict = done.stdout.strip().splitlines()[-2:]
    assert json.loads(answer)["headers"] == ["姓名", "手机号码"]
    assert verdict == "no pandas"
