"""Probe: files the import had never seen, as new users and careless colleagues make them
(issue 14, round two). Each test builds its own input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CDP = str(Path(sys.executable).with_name("cdp"))


def run_cdp(home: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CDP_HOME": str(home)}
    environment.pop("DAGSTER_HOME", None)
    return subprocess.run([CDP, *args], capture_output=True, text=True, env=environment, timeout=300)


def closes(summary: dict) -> bool:
    return summary["scanned"] == summary["created"] + summary["updated"] + summary["failed"] + summary["skipped"]


# --- CSV dialects ---------------------------------------------------------------------------

SEMICOLON = "姓名;手机号码;邮箱\n张三;13800138000;zs@example.com\n李四, 小;13900139000;\n"


def test_probe_semicolon_delimited_csv_imports(make_csv, run_import, query):
    """Probe: a semicolon-delimited CSV (Excel's "CSV" in European locales) was rejected as
    having no key column, its whole header read as one column name."""
    summary = run_import(make_csv(SEMICOLON))
    assert (summary["created"], summary["failed"], summary["unknown_columns"]) == (2, 0, [])
    assert query("SELECT name, mobile FROM customers ORDER BY mobile") == [
        ("张三", "13800138000"),
        ("李四, 小", "13900139000"),
    ]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_probe_excel_sep_line_sets_the_delimiter_and_is_not_the_header(delimiter, make_csv, run_import, outcomes):
    """Probe: a CSV starting with Excel's `sep=;` line (written by many exporters so Excel splits
    the columns) was rejected: the `sep=` line was taken for the header. It now names the
    delimiter and is not a row: the header is row 1 and data rows keep the numbers Excel shows."""
    rows = [["姓名", "手机号码", "邮箱"], ["张三", "13800138000", "zs@example.com"], ["李四", "13900139000", ""]]
    text = f"sep={delimiter}\r\n" + "".join(delimiter.join(row) + "\r\n" for row in rows)
    summary = run_import(make_csv(text))
    assert (summary["scanned"], summary["created"], summary["failed"]) == (2, 2, 0)
    assert sorted(outcomes(summary["batch_id"])) == [2, 3]


def test_probe_sep_line_and_semicolons_import_through_the_real_command(tmp_path: Path):
    """Probe: `cdp import customers` on a `sep=;` semicolon file, dry run and real run agree."""
    path = tmp_path / "members.csv"
    path.write_bytes(("sep=;\r\n" + SEMICOLON.replace("\n", "\r\n")).encode("utf-8-sig"))
    home = tmp_path / "cdp"
    planned = run_cdp(home, "import", "customers", str(path), "--dry-run", "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    done = run_cdp(home, "import", "customers", str(path), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (plan["scanned"], plan["would_create"], plan["invalid"]) == (2, 2, 0)
    assert (summary["scanned"], summary["created"], summary["failed"]) == (2, 2, 0)
    assert closes(summary)


# --- Backfill folders -----------------------------------------------------------------------


def test_probe_a_report_kept_as_csv_and_xlsx_is_never_passed_over_silently():
    """Probe: ExportOrderList<stamp>.csv and .xlsx beside one item report: the pairing kept one
    order report per stamp, so the other vanished from the backfill (not imported, not listed
    as alone). Now same-format reports pair and the other is alone; a lone pair of two formats
    still pairs."""
    from cdp_pipeline.tmall_import import pair_exports

    files = [
        Path(name)
        for name in (
            "ExportOrderList202401011200.csv",
            "ExportOrderList202401011200.xlsx",
            "ExportOrderDetailList202401011200.csv",
            "ExportOrderList202402011200.xlsx",
            "ExportOrderDetailList202402011200.csv",
        )
    ]
    pairs, alone = pair_exports(files)
    assert pairs == [
        (Path("ExportOrderList202401011200.csv"), Path("ExportOrderDetailList202401011200.csv")),
        (Path("ExportOrderList202402011200.xlsx"), Path("ExportOrderDetailList202402011200.csv")),
    ]
    assert alone == [Path("ExportOrderList202401011200.xlsx")]


def test_probe_backfill_of_a_folder_holding_a_report_twice_imports_the_csv_pair(tmp_path: Path):
    """Probe: `cdp backfill tmall` on a folder with an order report as CSV and as XLSX (a colleague
    opened it in Excel and saved it beside): the XLSX was paired, the CSV dropped without a word.
    Now the CSV pair imports and the XLSX is reported alone."""
    from samples.tmall import SUCCESS, random_orders, write_tmall_pair

    folder = tmp_path / "history"
    orders, _ = write_tmall_pair(folder, random_orders(3, seed=4, statuses=[SUCCESS]), stamp="202401011200")
    copy = orders.with_suffix(".xlsx")
    copy.write_bytes(b"PK\x03\x04 not really a workbook")
    result = run_cdp(tmp_path / "cdp", "backfill", "tmall", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [(e["file_name"], e["status"]) for e in report["exports"]] == [(orders.name, "succeeded")]
    assert report["alone"] == [str(copy)] and report["rejected"] == []


def test_probe_tab_file_whose_header_holds_a_comma_is_split_on_tabs(make_csv, run_import, query):
    """Probe: a tab-delimited export whose header has a comma in a column name (地址(省,市)) was
    split on commas: its header became two garbled names and the file was rejected for having
    no key column. The delimiter is the one that splits the header into the most cells."""
    summary = run_import(make_csv("姓名\t手机号码\t地址(省,市)\n张三\t13800138000\t广东,广州\n"))
    assert (summary["created"], summary["unknown_columns"]) == (1, ["地址(省,市)"])
    assert query("SELECT name, mobile FROM customers") == [("张三", "13800138000")]


@pytest.mark.parametrize(
    ("line", "delimiter"),
    [
        ("姓名,手机号码,邮箱", ","),
        ("姓名\t手机号码\t邮箱", "\t"),
        ("姓名;手机号码;邮箱", ";"),
        ('"姓名;别名",手机号码', ","),
        ("姓名,手机号码,备注;说明", ","),
        ("手机号码", ","),
    ],
)
def test_probe_header_delimiter_counts_cells_outside_quotes(line, delimiter):
    """Probe: the header line's delimiter is the one giving the most cells, quotes respected."""
    from cdp_pipeline.readers import header_delimiter

    assert header_delimiter(line) == delimiter


def test_probe_backfill_of_a_file_says_it_is_not_a_folder(tmp_path: Path):
    """Probe: `cdp backfill tmall FILE` (the order report given instead of its folder) said
    "no such folder" about a file that exists. It now says the path is a file, not a folder."""
    report = tmp_path / "ExportOrderList202401011200.csv"
    report.write_text("订单编号\n", encoding="utf-8")
    result = run_cdp(tmp_path / "cdp", "backfill", "tmall", str(report))
    assert result.returncode == 2
    reason = "a file, not a folder: give the folder holding the export pairs"
    assert result.stderr.strip() == f"cdp: rejected {report.name}: {reason}"


def test_probe_backfill_of_a_folder_of_year_folders_names_the_subfolders(tmp_path: Path):
    """Probe: `cdp backfill tmall history/` where the exports sit in history/2019/, history/2020/
    printed "no export pairs found" and exited 0, as if the folder were empty. Subfolders are
    still not searched (one folder is one backfill), but the message now names them."""
    from samples.tmall import SUCCESS, random_orders, write_tmall_pair

    folder = tmp_path / "history"
    for year in ("2019", "2020"):
        write_tmall_pair(folder / year, random_orders(2, seed=int(year), statuses=[SUCCESS]), stamp=f"{year}01011200")
    result = run_cdp(tmp_path / "cdp", "backfill", "tmall", str(folder))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no export pairs found (subfolders are not searched: 2019, 2020)"
    as_json = json.loads(run_cdp(tmp_path / "cdp", "backfill", "tmall", str(folder), "--json").stdout)
    assert as_json == {"exports": [], "rejected": [], "alone": []}


# --- Placeholders for "no value" ------------------------------------------------------------

PLACEHOLDERS = (
    "姓名,手机号码,邮箱,生日,微信openid\n"
    "张三,NULL,zs@example.com,null,\n"
    "李四,null,ls@example.com,\\N,null\n"
    "王五,13900139000,N/A,无,NULL\n"
)


def test_probe_null_placeholders_are_empty_cells_not_invalid_values(make_csv, run_import, query, failures):
    """Probe: a member list exported from a database writes NULL (or null, \\N, N/A, 无) where
    a value is missing. Every such row failed invalid_mobile / invalid_email / invalid_date,
    rows with a valid email too, and an openid column of `null` made the rows share the identity
    "null" (duplicate_in_file). Such a cell is now an empty cell: the rows import by their other
    keys, and nothing stores the placeholder."""
    summary = run_import(make_csv(PLACEHOLDERS))
    assert (summary["created"], summary["failed"]) == (3, 0), failures(summary["batch_id"])
    assert query("SELECT name, mobile, email, birthday FROM customers ORDER BY name") == [
        ("张三", None, "zs@example.com", None),
        ("李四", None, "ls@example.com", None),
        ("王五", "13900139000", None, None),
    ]
    assert query("SELECT count(*) FROM customer_identities") == [(0,)]


def test_probe_null_placeholders_through_the_real_command_dry_run_agrees(tmp_path: Path):
    """Probe: `cdp import customers` of the NULL-placeholder file: dry run and import agree."""
    path = tmp_path / "members.csv"
    path.write_text(PLACEHOLDERS, encoding="utf-8")
    home = tmp_path / "cdp"
    plan = json.loads(run_cdp(home, "import", "customers", str(path), "--dry-run", "--json").stdout)
    summary = json.loads(run_cdp(home, "import", "customers", str(path), "--json").stdout)
    assert (plan["would_create"], plan["invalid"], plan["duplicate"]) == (3, 0, 0)
    assert (summary["created"], summary["failed"]) == (3, 0) and closes(summary)


def test_probe_names_that_read_like_placeholders_are_kept(make_csv, run_import, query):
    """Probe: "Nan" and "Nil" are given names as well as NaN/nil markers: they stay names."""
    run_import(make_csv("姓名,手机号码\nNan,13800138000\nNil,13900139000\nNone,13700137000\n"))
    assert query("SELECT name FROM customers ORDER BY mobile") == [(None,), ("Nan",), ("Nil",)]


# --- What is given as a file ----------------------------------------------------------------


def test_probe_a_folder_or_a_device_given_as_the_file_is_named_for_what_it_is(tmp_path: Path):
    """Probe: `cdp import customers FOLDER` and `cdp import customers /dev/null` said "no such
    file" about paths that exist; so did `cdp import tmall` given a folder. They now say what the
    path is, one line, exit 2."""
    home = tmp_path / "cdp"
    folder = tmp_path / "exports"
    folder.mkdir()
    cases = {
        ("import", "customers", str(folder)): "exports: a folder, not a file",
        ("import", "customers", os.devnull): "null: not a regular file (a device, pipe or socket)",
        ("import", "tmall", "--orders", str(folder), "--items", os.devnull): "exports: a folder, not a file",
        ("import", "customers", str(tmp_path / "gone.csv")): "gone.csv: no such file",
    }
    for args, expected in cases.items():
        result = run_cdp(home, *args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"cdp: rejected {expected}"), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_probe_the_library_names_a_folder_given_as_a_customer_file(tmp_path: Path, run_import):
    """Probe: import_customer_file(FOLDER) is refused as a folder, not as a missing file."""
    from cdp_pipeline.errors import FileRejected

    with pytest.raises(FileRejected, match="a folder, not a file"):
        run_import(tmp_path)
