"""Hostile input, safe output: formula cells never reach a spreadsheet as formulas, header and
cell text never becomes SQL, and mobiles, emails and openids never reach logs, Dagster metadata
or error messages unmasked."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from fuzz_profiles import fuzz_settings
from hypothesis import example, given
from hypothesis import strategies as st

from cdp_pipeline.settings import CdpPaths, TmallImportSettings
from cdp_pipeline.tmall_import import import_tmall_export
from samples.tmall import CLOSED, SUCCESS, Item, Order, item_columns, order_columns, write_tmall_pair

# Cells Excel (or LibreOffice) would run as formulas, and what a failure file shows instead.
HOSTILE = {
    '=HYPERLINK("http://x")': '\'=HYPERLINK("http://x")',
    "+1+1": "'+1+1",
    "-2+3": "'-2+3",
    "@SUM(A1)": "'@SUM(A1)",
    "\tcmd": "'\tcmd",
    "\rcmd": "'\rcmd",
    "=cmd|' /C calc'!A0": "'=cmd|' /C calc'!A0",
    "＝1+1": "'＝1+1",  # full-width: some CJK input setups turn it into =, so it is escaped too
}
# Not formulas: a plain negative number stays a number (OWASP would quote it; we keep it, see README).
HARMLESS = ["-5", "-3.25", "plain", "'already quoted", " =leading space", ""]
FORMULA_START = tuple("=+-@\t\r＝＋－＠")
NUMBER = r"-?\d+(\.\d+)?"


def read_failure_csv(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def assert_no_formula_cells(rows: list[list]) -> None:
    for row in rows:
        for cell in row:
            if isinstance(cell, str) and cell.startswith(FORMULA_START):
                assert re.fullmatch(NUMBER, cell), f"formula-like cell written as is: {cell!r}"


def write_xlsx_strings(path: Path, rows: list[list[str]]) -> Path:
    """An XLSX whose cells are all text (openpyxl would turn '=...' into formulas)."""
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_numbers": False})
    sheet = workbook.add_worksheet()
    for index, row in enumerate(rows):
        sheet.write_row(index, 0, row)
    workbook.close()
    return path


@pytest.fixture
def cli(paths: CdpPaths, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """``cli(*args)`` → (exit code, stdout, stderr) of ``cdp`` run in this process on ``paths``."""
    from dagster_project.cli import main

    monkeypatch.setenv("CDP_HOME", str(paths.home))
    monkeypatch.setenv("DAGSTER_HOME", str(paths.home / "dagster"))

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


# --- 1. CSV injection ----------------------------------------------------------------------------


def hostile_customer_rows() -> list[list[str]]:
    header = ["姓名", "手机号码", "备注", '=HYPERLINK("http://x","header")']
    rows = [[value] * 4 for value in [*HOSTILE, *HARMLESS[:-1]]]  # every one an invalid mobile: the row fails
    return [header, *rows, ["张三", "13800138000", "=ok", "+ok"]]


def test_failure_files_escape_formula_cells_and_the_warehouse_keeps_the_raw_value(
    run_import, query, cli, tmp_path: Path
) -> None:
    source = write_xlsx_strings(tmp_path / "files" / "hostile.xlsx", hostile_customer_rows())
    summary = run_import(source)
    values = [*HOSTILE, *HARMLESS[:-1]]
    assert (summary["created"], summary["failed"]) == (1, len(values))
    expected_cells = [HOSTILE.get(v, v) for v in values]
    escaped_header = ["姓名", "手机号码", "备注", '\'=HYPERLINK("http://x","header")', "row_number", "reason_code"]

    # the failure file written at import time
    rows = read_failure_csv(Path(summary["failure_file"]))
    assert rows[0][:-1] == escaped_header
    assert [r[0] for r in rows[1:]] == expected_cells
    assert all(r[:4] == [r[0]] * 4 for r in rows[1:])
    assert_no_formula_cells(rows)

    # the warehouse keeps every cell exactly as the file had it
    raw = query("SELECT raw FROM import_failures WHERE batch_id = ? ORDER BY row_number", [summary["batch_id"]])
    assert [json.loads(r[0])[0] for r in raw] == values

    # cdp failures: to stdout, --out x.csv, --out x.xlsx
    code, out, _ = cli("failures", summary["batch_id"])
    assert code == 0
    printed = list(csv.reader(io.StringIO(out, newline="")))
    assert printed[0][:-1] == escaped_header and [r[0] for r in printed[1:]] == expected_cells
    out_csv = tmp_path / "out" / "f.csv"
    assert cli("failures", summary["batch_id"], "--out", out_csv)[0] == 0
    assert read_failure_csv(out_csv) == rows
    out_xlsx = tmp_path / "out" / "f.xlsx"
    assert cli("failures", summary["batch_id"], "--out", out_xlsx)[0] == 0
    from openpyxl import load_workbook

    sheet = load_workbook(out_xlsx).active
    cells = [[c for c in row] for row in sheet.iter_rows()]
    assert all(c.data_type in ("s", "n") for row in cells for c in row if c.value is not None)  # no "f"ormula
    # xlsxwriter stores a CR as Excel's _x000D_ escape, which Excel shows as CR and openpyxl leaves as is
    values_xlsx = [[c.value.replace("_x000D_", "\r") if c.data_type == "s" else c.value for c in row] for row in cells]
    assert [str(v) for v in values_xlsx[0][:-1]] == escaped_header
    assert [r[0] for r in values_xlsx[1:]] == expected_cells
    assert_no_formula_cells(values_xlsx)


def test_failure_csv_from_a_csv_file_escapes_the_same_way(make_csv, run_import) -> None:
    source = make_csv([["手机号码", "@备注"], ["=1+1", "-1+1"], ["-7", "@x"], ["13800138000", "=ok"]])
    summary = run_import(source)
    rows = read_failure_csv(Path(summary["failure_file"]))
    assert [r[:3] for r in rows] == [["手机号码", "'@备注", "row_number"], ["'=1+1", "'-1+1", "2"], ["-7", "'@x", "3"]]


def test_excel_safe_macro_and_header_escaping_agree(macros) -> None:
    from cdp_pipeline.failure_files import excel_safe

    for value in [*HOSTILE, *HARMLESS]:
        assert macros("excel_safe", value) == excel_safe(value) == HOSTILE.get(value, value)
    assert macros("excel_safe", None) is None


def hostile_order(order_id: str, status: str, mobile: str, title: str) -> Order:
    at = dt.datetime(2017, 7, 8, 0, 42, 32)
    price = Decimal("59.00")
    return Order(
        order_id=order_id,
        buyer_nick='=HYPERLINK("http://x")',
        status=status,
        ordered_at=at,
        paid_at=at,
        total_amount=price,
        paid_amount=price,
        receiver_name="@SUM(A1)",
        address="广东省 广州市 越秀区 中山路1号(510030)",
        mobile=mobile,
        items=[Item(title=title, price=price, quantity=1, sku_code="+1+1")],
    )


def test_tmall_failure_files_for_orders_and_items_are_escaped(paths: CdpPaths, query, tmp_path: Path) -> None:
    kept = hostile_order("351566893917062563", CLOSED, "13912345678", "-2+3")
    orphan = hostile_order("351566893917062999", SUCCESS, "13912345679", "=cmd|' /C calc'!A0")
    orders_csv, _ = write_tmall_pair(tmp_path / "a", [kept])
    _, items_csv = write_tmall_pair(tmp_path / "b", [kept, orphan])
    summary = import_tmall_export(orders_csv, items_csv, TmallImportSettings(), paths)
    assert (summary["orders_failed"], summary["failed"]) == (1, 1)

    orders = read_failure_csv(Path(summary["failure_file"]))
    assert orders[0] == [*order_columns("2016"), "row_number", "reason_code", "reason"]
    row = dict(zip(orders[0], orders[1], strict=True))
    assert row["订单编号"] == '\'="351566893917062563"'  # Tmall's own ="..." ids are formulas too
    assert row["买家会员名"] == '\'=HYPERLINK("http://x")' and row["收货人姓名"] == "'@SUM(A1)"
    assert_no_formula_cells(orders)

    items = read_failure_csv(Path(summary["items_failure_file"]))
    assert items[0] == [*item_columns("2016"), "row_number", "reason_code", "reason"]
    item = dict(zip(items[0], items[1], strict=True))
    assert item["标题"] == "'=cmd|' /C calc'!A0" and item["row_number"] == "3"
    assert_no_formula_cells(items)

    raw = query("SELECT raw FROM import_failures WHERE file_role = 'items'")[0][0]
    assert "=cmd|' /C calc'!A0" in json.loads(raw)


# --- 2. No SQL from header or cell text -----------------------------------------------------------

DROP_HEADERS = ['"name"; DROP TABLE customers; --', 'x"); DROP TABLE customers; --', "Note", "note"]
DROP_CELL = "'); DROP TABLE customers; --"


def all_tables(query) -> list[tuple]:
    return query(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema NOT LIKE 'stg_%' ORDER BY ALL"
    )


def test_sql_in_headers_and_cells_is_only_text(make_csv, run_import, query, write_config, cli, tmp_path) -> None:
    write_config(
        "identity_types:\n"
        "  'qq\"); DROP TABLE customers; --': {aliases: [QQ]}\n"
        "custom_attributes:\n"
        '  "lvl\'); DROP TABLE customers; --": {aliases: [会员等级]}\n'
    )
    header = [*DROP_HEADERS, "手机号码", "QQ", "会员等级"]
    source = make_csv(
        [
            header,
            ["a", "b", "c", "d", "13800138000", "10001", DROP_CELL],
            [DROP_CELL, DROP_CELL, DROP_CELL, DROP_CELL, "12345", DROP_CELL, DROP_CELL],
            ["e", "f", "g", "h", DROP_CELL, "", ""],
        ]
    )
    baseline = run_import(make_csv([["手机号码"], ["13900139000"]]))
    tables = all_tables(query)
    summary = run_import(source)
    assert (summary["created"], summary["failed"]) == (1, 2), summary
    assert summary["unknown_columns"] == DROP_HEADERS
    assert all_tables(query) == tables
    assert query("SELECT mobile FROM customers ORDER BY 1") == [("13800138000",), ("13900139000",)]
    assert query("SELECT identity_type, identity_value FROM customer_identities WHERE identity_type LIKE 'qq%'") == [
        ('qq"); DROP TABLE customers; --', "10001")
    ]
    assert query("SELECT attribute, value FROM customer_attributes") == [("lvl'); DROP TABLE customers; --", DROP_CELL)]
    assert baseline["status"] == "succeeded"

    expected_header = [*DROP_HEADERS, "手机号码", "QQ", "会员等级", "row_number", "reason_code", "reason"]
    rows = read_failure_csv(Path(summary["failure_file"]))
    assert rows[0] == expected_header
    failed_cells = [DROP_CELL] * 4 + ["12345", DROP_CELL, DROP_CELL]
    assert [r[:7] for r in rows[1:]] == [failed_cells, ["e", "f", "g", "h", DROP_CELL, "", ""]]
    code, out, _ = cli("failures", summary["batch_id"], "--out", tmp_path / "back.xlsx")
    from openpyxl import load_workbook

    back = [list(r) for r in load_workbook(tmp_path / "back.xlsx").active.iter_rows(values_only=True)]
    assert back[0] == expected_header and back[1][:7] == failed_cells


def test_placeholder_text_in_names_is_not_substituted_again(make_csv, run_import, query, write_config) -> None:
    """A name from cdp.yaml reaches SQL quoted; text like {staging} in it stays text."""
    write_config("custom_attributes:\n  '{staging}': {aliases: [会员等级]}\n")
    summary = run_import(make_csv([["手机号码", "会员等级"], ["13800138000", "gold"]]))
    assert summary["created"] == 1
    assert query("SELECT attribute, value FROM customer_attributes") == [("{staging}", "gold")]


# --- 3. Masking: logs, Dagster metadata, error messages --------------------------------------------

MOBILES = ["13800138000", "13900139000", "13600136000", "13700137000", "13512345678"]
EMAILS = ["zhang.san@example.com", "li.si@example.org", "wang.wu@example.net"]
OPENIDS = ["oAbCdEfGhIjKlMnOpQrStUvWxYz1", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "oZyXwVuTsRqPoNmLkJiHgFeDcB-9"]
PERSONAL = [*MOBILES, *EMAILS, *OPENIDS]
PERSONAL_FILE = (
    "客户ID,姓名,手机号码,邮箱,微信openid\n"
    f"{MOBILES[3]},张三,{MOBILES[0]},{EMAILS[0]},{OPENIDS[0]}\n"  # a customer ID that is a mobile (unknown: fails)
    f",李四,{MOBILES[1]},{EMAILS[1]},{OPENIDS[1]}\n"
    f",王五,{MOBILES[2]},,\n"
    f",赵六,{MOBILES[4]},{EMAILS[2]}@,\n"  # invalid email: fails
    f",钱七,{MOBILES[4]}0,,{OPENIDS[2]}\n"  # invalid mobile: fails
    f"{EMAILS[2]},孙八,,,\n"  # a customer ID that is an email (unknown: fails)
    f"{OPENIDS[2]},吴十,,,\n"  # a customer ID that is an openid (unknown: fails)
    f",周九,{MOBILES[4]},,\n"
)


def leaks(text: str) -> list[str]:
    return [value for value in PERSONAL if value in text]


def event_log_text(instance: dg.DagsterInstance) -> str:
    """Every event of every run (messages, metadata, errors) and every run's tags, serialised."""
    from dagster._serdes import serialize_value

    parts = []
    for run in instance.get_runs():
        parts.append(json.dumps(run.tags, ensure_ascii=False))
        parts += [serialize_value(entry) for entry in instance.all_logs(run.run_id)]
    text = "\n".join(parts)
    return text + "\n" + text.encode().decode("unicode_escape", errors="ignore")


def test_mask_text_masks_mobiles_emails_and_openids_like_the_macros(macros) -> None:
    from cdp_pipeline.masking import mask_text

    text = f"x {MOBILES[0]}, +86 138 0013 8000 <{EMAILS[0]}> '{OPENIDS[1]}' 201709010000 {OPENIDS[0].upper()}"
    masked = mask_text(text)
    assert leaks(masked) == [] and OPENIDS[0].upper() not in masked and "13800138000" not in masked
    assert f"x {macros('mask_mobile', MOBILES[0])}," in masked and macros("mask_mobile", MOBILES[0]) == "138****8000"
    assert macros("mask_email", EMAILS[0]) in masked and macros("mask_openid", OPENIDS[1]) in masked
    assert "201709010000" in masked  # a timestamp is not a mobile
    assert mask_text(masked) == masked
    for value in PERSONAL:
        assert macros("mask_identifier", value) == mask_text(value) != value


def test_dagster_events_logs_and_cli_output_never_show_raw_personal_data(
    cdp: CdpPaths, defs, capfd: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from cdp_pipeline.batches import file_partition_key, file_sha256
    from cdp_pipeline.settings import CustomerImportSettings
    from dagster_project.cli import main
    from dagster_project.defs.imports.definitions import IMPORTS

    caplog.set_level(logging.DEBUG)
    source = cdp.home / "personal.csv"
    source.write_text(PERSONAL_FILE, encoding="utf-8")
    key = file_partition_key(source.name, file_sha256(source))
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("customer_files", [key])
    run_config = IMPORTS["customers"].run_config([str(source)], CustomerImportSettings(tags=("vip",)))
    run_config["loggers"] = {"console": {"config": {"log_level": "DEBUG"}}}
    result = defs.resolve_job_def("customer_import").execute_in_process(
        partition_key=key, instance=instance, run_config=run_config
    )
    assert result.success
    summary = batch_materialization(result).metadata["summary"].value
    assert (summary["created"], summary["failed"]) == (3, 5)
    preview = batch_materialization(result).metadata["preview"].value
    assert "138****8000" in preview and "z***@example.com" in preview

    assert main(["import", "customers", str(source), "--dry-run"]) == 0
    assert main(["import", "customers", str(source), "--force", "--json"]) == 0
    out, err = capfd.readouterr()
    assert "138****8000" in out  # the dry run's preview, masked
    assert leaks(out) == [] and leaks(err) == []
    assert leaks(caplog.text) == []
    assert leaks(event_log_text(instance)) == []


def test_rejected_file_message_masks_the_cells_it_quotes(cdp: CdpPaths, tmp_path: Path, capfd) -> None:
    """An order report without its header row: the rejection lists the first row's cells."""
    from dagster_project.cli import main

    orders, items = write_tmall_pair(tmp_path / "in", [hostile_order("351566893917062563", SUCCESS, MOBILES[0], "t")])
    lines = orders.read_bytes().split(b"\r\n", 1)
    orders.write_bytes(lines[1].replace(b"=HYPERLINK", EMAILS[0].encode()))
    assert main(["import", "tmall", "--orders", str(orders), "--items", str(items)]) == 2
    out, err = capfd.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert "extra:" in err and "138****8000" in err
    assert leaks(err) == []
    assert leaks(event_log_text(dg.DagsterInstance.get())) == []


def test_an_exception_inside_a_run_is_reported_masked(cdp: CdpPaths, monkeypatch: pytest.MonkeyPatch, capfd) -> None:
    """Fault injection: the write step fails with a DuckDB error that quotes cells."""
    from cdp_pipeline import engine
    from dagster_project.cli import main

    def failing_write(con, *args, **kwargs):
        con.execute(f"SELECT CAST(mobile || ' ' || email AS BIGINT) FROM {engine.STAGING}.customer_rows")

    monkeypatch.setattr(engine, "write_batch", failing_write)
    source = cdp.home / "personal.csv"
    source.write_text(PERSONAL_FILE, encoding="utf-8")
    with pytest.raises(Exception) as raised:
        main(["import", "customers", str(source), "--json"])
    message = str(raised.value)
    assert "Conversion Error" in message and "****" in message
    assert leaks(message) == []
    out, err = capfd.readouterr()
    assert leaks(out + err) == []
    assert leaks(event_log_text(dg.DagsterInstance.get())) == []

    # the dry run runs outside Dagster: the CLI masks what escapes it
    monkeypatch.setattr(engine, "match_rows", failing_write)
    with pytest.raises(Exception) as raised:
        main(["import", "customers", str(source), "--dry-run"])
    assert "Conversion Error" in str(raised.value) and leaks(str(raised.value)) == []


# --- 4. Long cells: masking and previews are linear in their input -----------------------------

# mask_text as it was written first: the plain regular expressions, quadratic on long runs (a
# 300,000-character name took minutes) but obviously right. The reference for short text.
NAIVE_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)")
NAIVE_OPENID = re.compile(r"(?<![\w\-])([oO][\w\-]{2})[\w\-]{22}([\w\-]{3})(?![\w\-])", re.ASCII)
NAIVE_MOBILE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[\s\-]?)?(1\d{2})[\s\-]?\d{4}[\s\-]?(\d{4})(?!\d)")
# What the patterns look at: local-part, domain, openid and mobile characters, separators, and others.
MASK_ALPHABET = "aZo0O1386._%+-@ \t\n中_x"
LONG_CELL = 300_000
FUZZ_MASKING = fuzz_settings(300)


def naive_mask_text(text: str) -> str:
    text = NAIVE_EMAIL.sub(r"\1***@\2", text)
    text = NAIVE_OPENID.sub(r"\1****\2", text)
    return NAIVE_MOBILE.sub(r"\1****\2", text)


def personal_fragments(draw_from: str) -> st.SearchStrategy[str]:
    """Text built from pieces of mobiles, emails and openids and the characters around them."""
    pieces = st.sampled_from([*PERSONAL, "+86 ", "0086", "@", "@x.cn", ".", "-", "_", "%", "+", " ", "中"])
    return st.lists(st.one_of(pieces, st.text(draw_from, max_size=6)), max_size=8).map("".join)


@FUZZ_MASKING
@given(text=st.one_of(st.text(MASK_ALPHABET, max_size=40), personal_fragments(MASK_ALPHABET)))
@example(text="a@b.c_d@e.f")  # an email right after another's domain, inside one run of local characters
@example(text="x" * 30 + "@" + "b-" * 10)
@example(text="13800138000@example.com oAbCdEfGhIjKlMnOpQrStUvWxYz1")
def test_mask_text_finds_what_the_naive_patterns_find(text: str) -> None:
    """Issue 14 item 6: the linear mask_text masks short text exactly as the plain regular
    expressions it replaced."""
    from cdp_pipeline.masking import mask_text

    assert mask_text(text) == naive_mask_text(text)


# Text that made a backtracking pattern retry at every character: runs of email-local, digit and
# openid characters without what would complete them, @ repeated, dotless domains, separators.
ADVERSARIAL = {
    "local characters": lambda n: "a" * n,
    "digits": lambda n: "1" * n,
    "openid characters": lambda n: "o" + "_-" * (n // 2),
    "dotted local part": lambda n: "a." * (n // 2),
    "@ repeated": lambda n: "@" * n,
    "a@ repeated": lambda n: "a@" * (n // 2),
    "dotless domain": lambda n: "x@" + "b-" * (n // 2),
    "digits and separators": lambda n: "1 " * (n // 2),
    "+86 repeated": lambda n: "+86-" * (n // 4),
    "emails": lambda n: "ab@c.de " * (n // 8),
    "mobiles": lambda n: "13800138000," * (n // 12),
}


# Cells excel_safe looks at twice: a formula start, then the plain-number test.
FORMULA_LIKE = [lambda n: "-" + "1" * n + "x", lambda n: "=" * n]


def cpu_seconds(function, *args) -> float:
    """The best of three CPU times (other processes on the machine do not count)."""
    import time

    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        function(*args)
        best = min(best, time.process_time() - start)
    return best


@pytest.mark.parametrize("shape", ADVERSARIAL)
def test_mask_text_is_linear_on_adversarial_text(shape: str) -> None:
    """Issue 14 item 6: masking time grows with the text, not its square (a 300,000-character
    name cell took 7.5 minutes): 4x the text costs well under 8x the time, and a million
    characters take well under two seconds."""
    from cdp_pipeline.masking import mask_text

    make = ADVERSARIAL[shape]
    small, large = cpu_seconds(mask_text, make(25_000)), cpu_seconds(mask_text, make(100_000))
    assert large < 8 * max(small, 0.002), (small, large)
    assert cpu_seconds(mask_text, make(1_000_000)) < 2.0


@pytest.mark.parametrize("macro", ["mask_identifier", "mask_mobile", "mask_email", "mask_openid", "excel_safe"])
def test_masking_and_escaping_macros_are_linear_on_adversarial_cells(macros, macro: str) -> None:
    """Issue 14 item 6: the SQL side of masking (previews) and of failure files (excel_safe)
    stays linear on the same adversarial cells."""
    for make in [*ADVERSARIAL.values(), *FORMULA_LIKE]:
        small, large = cpu_seconds(macros, macro, make(250_000)), cpu_seconds(macros, macro, make(1_000_000))
        assert large < 8 * max(small, 0.01) and large < 2.0, (small, large)


def test_failure_file_headers_are_linear() -> None:
    """Issue 14 item 6: 20,000 columns all named alike get unique names in well under a second
    (a list lookup per header made it quadratic: 2.6 s, growing as the square); escaping a
    million-character header is linear too."""
    from cdp_pipeline.failure_files import excel_safe, failure_columns

    for make in [*ADVERSARIAL.values(), *FORMULA_LIKE]:
        assert cpu_seconds(excel_safe, make(1_000_000)) < 0.5

    names = failure_columns(["a"] * 20_000 + ["row_number"])
    assert len(set(names)) == len(names) == 20_004 and names[:3] == ["a", "a_2", "a_3"]
    assert cpu_seconds(failure_columns, ["a"] * 20_000) < 0.5


def test_preview_cell_masks_then_cuts_to_the_declared_width() -> None:
    """Issue 14 item 6: a preview cell is masked, then cut to PREVIEW_CELL_WIDTH with an
    ellipsis; a cut never leaves the unmasked start of a mobile or an email."""
    from cdp_pipeline.masking import ELLIPSIS, PREVIEW_CELL_WIDTH, preview_cell, preview_rows

    assert preview_cell("张三") == "张三" and preview_cell("x" * PREVIEW_CELL_WIDTH) == "x" * PREVIEW_CELL_WIDTH
    cut = preview_cell("x" * LONG_CELL)
    assert len(cut) == PREVIEW_CELL_WIDTH and cut.endswith(ELLIPSIS)
    # a mobile or an email across the cut: masked whole before the cut (cut first, 8 digits of the
    # mobile or the email's whole local part would be left, no longer looking like either)
    mobile_across = preview_cell("x" * (PREVIEW_CELL_WIDTH - 10) + f" {MOBILES[0]}")
    email_across = preview_cell("x" * (PREVIEW_CELL_WIDTH - 12) + f" {EMAILS[0]}")
    assert mobile_across.endswith(" 138****8" + ELLIPSIS) and email_across.endswith(" z***@examp" + ELLIPSIS)
    assert preview_cell(f"{EMAILS[0]} " + "x" * LONG_CELL).startswith("z***@example.com x")
    assert preview_rows([{"name": "x" * LONG_CELL, "points": 3, "city": None}]) == [
        {"name": cut, "points": 3, "city": None}
    ]


def long_cell_file(path: Path) -> Path:
    """A customer file whose name cells are 300,000 characters of what made masking quadratic: one
    row created, one failed (an invalid mobile), one whose name starts with an email."""
    rows = [
        ["姓名", "手机号码"],
        ["a" * LONG_CELL, MOBILES[0]],
        ["1" * LONG_CELL, "12345"],
        [f"{EMAILS[1]} " + "o_" * (LONG_CELL // 2), MOBILES[1]],
    ]
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    return path


def test_a_300000_character_name_cell_imports_in_seconds_and_previews_are_cut(cdp: CdpPaths, defs, query) -> None:
    """Issue 14 item 6: the import of a file with 300,000-character name cells (created and failed
    rows) ends in seconds (masking the preview took 7.5 minutes a cell, the writer pool slot held);
    the preview in Dagster shows every cell cut to PREVIEW_CELL_WIDTH, masked; the warehouse and
    the failure file keep the whole cells."""
    import time

    from cdp_pipeline.batches import file_partition_key, file_sha256
    from cdp_pipeline.masking import ELLIPSIS, PREVIEW_CELL_WIDTH
    from cdp_pipeline.settings import CustomerImportSettings
    from dagster_project.defs.imports.definitions import IMPORTS

    source = long_cell_file(cdp.home / "long_names.csv")
    key = file_partition_key(source.name, file_sha256(source))
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("customer_files", [key])
    run_config = IMPORTS["customers"].run_config([str(source)], CustomerImportSettings())
    started = time.monotonic()
    result = defs.resolve_job_def("customer_import").execute_in_process(
        partition_key=key, instance=instance, run_config=run_config
    )
    assert result.success and time.monotonic() - started < 60
    metadata = batch_materialization(result).metadata
    summary = metadata["summary"].value
    assert (summary["created"], summary["failed"]) == (2, 1)
    preview = metadata["preview"].value
    cells = [cell.strip() for line in preview.splitlines()[2:] for cell in line.strip("|").split("|")]
    assert max(map(len, cells)) == PREVIEW_CELL_WIDTH and sum(cell.endswith(ELLIPSIS) for cell in cells) == 3
    assert "l***@example.org o_o_" in preview and leaks(preview) == []
    assert len(preview) < 20 * PREVIEW_CELL_WIDTH * 4
    assert query("SELECT length(name) FROM customers ORDER BY name") == [(LONG_CELL,), (LONG_CELL + 18,)]
    failed = Path(summary["failure_file"]).read_text(encoding="utf-8-sig").splitlines()
    assert failed[1].startswith("1" * LONG_CELL + ",12345,")


# --- 4. Personal data in header names --------------------------------------------------------------

# A data row pasted over the header row: its mobile, email and openid became column names.
HEADER_LEAK_FILE = (
    f"手机号码,{MOBILES[0]},{EMAILS[0]},{OPENIDS[0]}\n"
    f"{MOBILES[1]},{MOBILES[2]},{EMAILS[1]},{OPENIDS[1]}\n"
    f"12345,{MOBILES[3]},{EMAILS[2]},{OPENIDS[2]}\n"  # invalid mobile: fails, so a failure file is written
)
MASKED_HEADERS = ["138****8000", "z***@example.com", "oAb****Yz1"]


def test_header_names_holding_personal_data_are_masked_in_summary_and_batches(cdp: CdpPaths, run_import, query) -> None:
    """Issue 14 item 10: header names are masked like cells in the summary and import_batches;
    the failure file gives the header row back as it was, as it gives cells."""
    source = cdp.home / "header_leak.csv"
    source.write_text(HEADER_LEAK_FILE, encoding="utf-8")
    summary = run_import(source)
    assert (summary["created"], summary["failed"]) == (1, 1)
    assert summary["unknown_columns"] == MASKED_HEADERS
    stored = query("SELECT CAST(unknown_columns AS VARCHAR) FROM import_batches")[0][0]
    assert json.loads(stored) == MASKED_HEADERS
    assert leaks(json.dumps(summary, ensure_ascii=False)) == []
    header = read_failure_csv(Path(summary["failure_file"]))[0]
    assert header == ["手机号码", MOBILES[0], EMAILS[0], OPENIDS[0], "row_number", "reason_code", "reason"]

    # A batch recorded before header names were masked is masked when it is reported again.
    raw = json.dumps([MOBILES[0], EMAILS[0], OPENIDS[0]])
    with duckdb.connect(str(cdp.warehouse)) as con:
        con.execute("UPDATE import_batches SET unknown_columns = CAST(? AS JSON)", [raw])
    again = run_import(source)
    assert again["status"] == "already_imported" and again["unknown_columns"] == MASKED_HEADERS


def test_cli_masks_header_names_in_import_and_dry_run_output(cdp: CdpPaths, tmp_path: Path) -> None:
    """Issue 14 item 10: the real `cdp import customers` (--json, text, --dry-run, --dry-run --json)."""
    source = tmp_path / "header_leak.csv"
    source.write_text(HEADER_LEAK_FILE, encoding="utf-8")
    environment = {**os.environ, "CDP_HOME": str(cdp.home), "DAGSTER_HOME": str(cdp.home / "dagster")}
    cdp_command = str(Path(sys.executable).with_name("cdp"))
    outputs = []
    for args in (["--dry-run"], ["--dry-run", "--json"], ["--json"], ["--force"]):
        result = subprocess.run(
            [cdp_command, "import", "customers", str(source), *args],
            capture_output=True,
            text=True,
            env=environment,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert leaks(result.stdout + result.stderr) == [], args
        outputs.append(result.stdout)
    dry_run_text, dry_run_json, import_json, import_text = outputs
    assert f"unknown columns: {', '.join(MASKED_HEADERS)}" in dry_run_text
    assert json.loads(dry_run_json)["unknown_columns"] == MASKED_HEADERS
    assert json.loads(import_json)["unknown_columns"] == MASKED_HEADERS
    assert f"unknown columns (ignored): {', '.join(MASKED_HEADERS)}" in import_text


def test_dagster_metadata_masks_header_names(cdp: CdpPaths, defs) -> None:
    """Issue 14 item 10: the materialization metadata of a customer import (the staging step's
    column lists and the summary) and the whole event log show header names masked."""
    from cdp_pipeline.batches import file_partition_key, file_sha256
    from cdp_pipeline.settings import CustomerImportSettings
    from dagster_project.defs.imports.definitions import IMPORTS

    source = cdp.home / "header_leak.csv"
    source.write_text(HEADER_LEAK_FILE, encoding="utf-8")
    key = file_partition_key(source.name, file_sha256(source))
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("customer_files", [key])
    result = defs.resolve_job_def("customer_import").execute_in_process(
        partition_key=key,
        instance=instance,
        run_config=IMPORTS["customers"].run_config([str(source)], CustomerImportSettings()),
    )
    assert result.success
    staging = result.asset_materializations_for_node("customer_staging_rows")[0].metadata
    assert staging["unknown_columns"].value == ", ".join(MASKED_HEADERS)
    summary = batch_materialization(result).metadata["summary"].value
    assert summary["unknown_columns"] == MASKED_HEADERS
    assert leaks(event_log_text(instance)) == []


def batch_materialization(result: dg.ExecuteInProcessResult) -> dg.AssetMaterialization:
    """The customer batch's own materialization (its step also reports each table it wrote)."""
    return next(
        m
        for m in result.asset_materializations_for_node("customer_import_batches")
        if m.asset_key == dg.AssetKey("customer_import_batches")
    )
