"""Nothing lost, nothing let in: bad and odd customer files.

Every file here either imports with counts that close (scanned = created + updated + failed +
skipped) or is refused whole with one line that names the file (and the row/field where there is
one) and leaves nothing behind: no batch, no customers, no staging schema, no scratch file.
A representative few also go through the real `cdp` command (exit 2, one line on stderr).
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import os
import random
import struct
import subprocess
import sys
import warnings
import zipfile
import zlib
from pathlib import Path

import duckdb
import pytest

from cdp_pipeline.errors import FileRejected
from cdp_pipeline.readers import MAX_COLUMNS
from cdp_pipeline.settings import CdpPaths

CDP = str(Path(sys.executable).with_name("cdp"))
SQL_HEADER = '"name"; DROP TABLE customers; --'


# --- helpers -------------------------------------------------------------------------------


def closes(summary: dict) -> dict:
    """The summary, after checking that its counts close."""
    assert summary["status"] == "succeeded"
    assert summary["scanned"] == summary["created"] + summary["updated"] + summary["failed"] + summary["skipped"]
    return summary


def counts(summary: dict) -> tuple[int, int, int, int, int]:
    return tuple(closes(summary)[k] for k in ("scanned", "created", "updated", "failed", "skipped"))


def assert_nothing_written(paths: CdpPaths) -> None:
    """No batch, no customers, no failures, no staging schema, no archive/failure/scratch file."""
    if paths.warehouse.exists():
        con = duckdb.connect(str(paths.warehouse), read_only=True)
        try:
            for table in ("import_batches", "customers", "customer_identities", "import_failures"):
                assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
            schemas = con.execute(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'stg_%'"
            ).fetchone()
            assert schemas == (0,)
        finally:
            con.close()
    for folder in (paths.archive, paths.failures, paths.work):
        assert not folder.exists() or list(folder.iterdir()) == []


def rejected(run_import, paths: CdpPaths, path: Path, *words: str, **settings) -> FileRejected:
    """Import ``path`` expecting a refusal whose one-line message names the file and ``words``."""
    with pytest.raises(FileRejected) as caught:
        run_import(path, **settings)
    message = str(caught.value)
    assert message.startswith(f"{path.name}: "), message
    assert "\n" not in message, message
    for word in words:
        assert word in caught.value.reason, message
    assert_nothing_written(paths)
    return caught.value


def cdp(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CDP_HOME": str(home)}
    environment.pop("DAGSTER_HOME", None)
    return subprocess.run(
        [CDP, *args], capture_output=True, text=True, env=environment, timeout=300, cwd=cwd, check=False
    )


def assert_cli_rejected(result: subprocess.CompletedProcess, home: Path, file_name: str, *words: str) -> str:
    """Exit 2, nothing on stdout, one stderr line naming the file and ``words``, nothing written."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert file_name in lines[0], lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert_nothing_written(CdpPaths(home))
    return lines[0]


def cli_json(result: subprocess.CompletedProcess) -> dict:
    import json

    assert result.returncode == 0, result.stderr
    return closes(json.loads(result.stdout))


def png_bytes() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = chunk(b"IHDR", (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0]))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("customers.csv", "手机号码\n13800138000\n")
    return buffer.getvalue()


def encrypt_xlsx(plain: Path, target: Path, password: str = "secret") -> Path:
    """A real password-protected workbook: Excel's agile encryption in an OLE compound file."""
    from msoffcrypto.format.ooxml import OOXMLFile

    with plain.open("rb") as source, target.open("wb") as out:
        OOXMLFile(source).encrypt(password, out)
    return target


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "cdp"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "in"
    target.mkdir()
    return target


# --- empty files ---------------------------------------------------------------------------


def test_bad_zero_byte_csv_is_rejected(folder, run_import, paths):
    empty = folder / "empty.csv"
    empty.write_bytes(b"")
    rejected(run_import, paths, empty, "empty (0 bytes)")


def test_bad_zero_byte_xlsx_is_rejected(folder, run_import, paths):
    empty = folder / "empty.xlsx"
    empty.write_bytes(b"")
    rejected(run_import, paths, empty, "empty (0 bytes)")


def test_bad_header_only_csv_is_rejected_as_no_data_rows(make_csv, run_import, paths):
    rejected(run_import, paths, make_csv("姓名,手机号码,邮箱\r\n"), "no data rows")


def test_bad_header_only_xlsx_is_rejected_as_no_data_rows(make_xlsx, run_import, paths):
    rejected(run_import, paths, make_xlsx([["姓名", "手机号码"]]), "no data rows")


def test_bad_only_blank_lines_csv_is_rejected_as_no_header(make_csv, run_import, paths):
    rejected(run_import, paths, make_csv("\r\n\n \n"), "no header row")


def test_bad_empty_sheets_xlsx_is_rejected_as_no_header(make_xlsx, run_import, paths):
    rejected(run_import, paths, make_xlsx([]), "no sheet with a header row")


# --- not a CSV at all ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("random.csv", random.Random(7).randbytes(4096), ("binary content",)),
        ("random_no_nul.csv", bytes(b or 0xFF for b in random.Random(8).randbytes(4096)), ("not valid",)),
        ("picture.csv", png_bytes(), ("binary content", "a PNG image")),
        ("archive.csv", zip_bytes(), ("ZIP archive", "not an XLSX")),
        ("elf.csv", b"\x7fELF\x02\x01\x01" + bytes(200), ("binary content", "an executable")),
    ],
    ids=["random", "random_no_nul", "png", "zip", "elf"],
)
def test_bad_binary_garbage_named_csv_is_rejected(name, content, words, folder, run_import, paths):
    path = folder / name
    path.write_bytes(content)
    rejected(run_import, paths, path, *words)


def test_bad_binary_garbage_dry_run_is_rejected(folder, dry_run, paths):
    path = folder / "picture.csv"
    path.write_bytes(png_bytes())
    with pytest.raises(FileRejected, match="binary content"):
        dry_run(path)
    assert not paths.warehouse.exists()


def test_bad_truncated_xlsx_is_rejected(make_xlsx, run_import, paths):
    whole = make_xlsx([["手机号码", "姓名"], *[[f"1380013{i:04d}", f"name {i}"] for i in range(200)]])
    truncated = whole.with_name("truncated.xlsx")
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    rejected(run_import, paths, truncated, "unreadable XLSX")


def test_bad_xlsx_with_garbage_inside_is_rejected(folder, run_import, paths):
    path = folder / "not_really.xlsx"
    path.write_bytes(b"PK\x03\x04" + random.Random(3).randbytes(2000))
    rejected(run_import, paths, path, "unreadable XLSX")


def test_bad_password_protected_xlsx_is_rejected_as_encrypted(make_xlsx, folder, run_import, paths):
    plain = make_xlsx([["手机号码"], ["13800138000"]])
    locked = encrypt_xlsx(plain, folder / "locked.xlsx")
    assert locked.read_bytes()[:8] == bytes.fromhex("d0cf11e0a1b11ae1")  # an OLE compound file
    rejected(run_import, paths, locked, "password-protected")


def test_bad_password_protected_xlsx_renamed_csv_is_rejected_as_encrypted(make_xlsx, folder, run_import, paths):
    locked = encrypt_xlsx(make_xlsx([["手机号码"], ["13800138000"]]), folder / "locked.csv")
    rejected(run_import, paths, locked, "password-protected")


def test_bad_legacy_xls_is_rejected_with_what_to_do(folder, run_import, paths):
    """An unencrypted OLE file (what Excel 97-2003 .xls is): not an XLSX."""
    import olefile  # msoffcrypto-tool's dependency

    assert olefile
    path = folder / "old.xls"
    path.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504))
    rejected(run_import, paths, path, ".xlsx")


# --- XLSX sheets ---------------------------------------------------------------------------


def three_sheets(path: Path) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.title = "说明"  # an empty first sheet
    workbook.create_sheet("客户").append(["手机号码", "姓名"])
    workbook["客户"].append(["13800138000", "张三"])
    other = workbook.create_sheet("Other list")
    other.append(["邮箱", "姓名"])
    other.append(["a@example.cn", "A"])
    other.append(["b@example.cn", "B"])
    workbook.save(path)
    return path


def test_bad_xlsx_several_sheets_reads_first_non_empty(folder, run_import, query):
    summary = run_import(three_sheets(folder / "sheets.xlsx"))
    assert counts(summary) == (1, 1, 0, 0, 0)
    assert query("SELECT mobile, name FROM customers") == [("13800138000", "张三")]


def test_bad_xlsx_sheet_option_picks_another(folder, run_import, query):
    summary = run_import(three_sheets(folder / "sheets.xlsx"), sheet="Other list")
    assert counts(summary) == (2, 2, 0, 0, 0)
    assert query("SELECT email FROM customers ORDER BY 1") == [("a@example.cn",), ("b@example.cn",)]


def test_bad_xlsx_unknown_sheet_is_rejected_naming_the_sheets(folder, run_import, paths):
    error = rejected(run_import, paths, three_sheets(folder / "sheets.xlsx"), "'Nope'", sheet="Nope")
    assert "说明, 客户, Other list" in error.reason


def test_bad_xlsx_empty_sheet_chosen_is_rejected(folder, run_import, paths):
    rejected(run_import, paths, three_sheets(folder / "sheets.xlsx"), "sheet '说明' has no header row", sheet="说明")


def test_bad_sheet_option_on_csv_is_rejected(make_csv, run_import, paths):
    rejected(run_import, paths, make_csv("手机号码\n13800138000\n"), "--sheet", sheet="客户")


# --- encodings and BOMs --------------------------------------------------------------------


def test_bad_gb18030_declared_utf8_is_rejected_not_mojibake(make_csv, run_import, paths):
    path = make_csv("mobile,name\r\n13800138000,张三\r\n13900139000,李四\r\n", encoding="gb18030")
    rejected(run_import, paths, path, "not valid UTF-8 at byte 25 (line 2)", "--encoding", encoding="utf-8")


def test_bad_utf8_declared_gb18030_is_rejected_not_mojibake(make_csv, run_import, paths):
    path = make_csv([["手机号码", "姓名"], ["13800138000", "张三"]], encoding="utf-8")
    rejected(run_import, paths, path, "UTF-8", "--encoding", encoding="gb18030")


def test_bad_ascii_file_declared_gb18030_imports(make_csv, run_import, query):
    summary = run_import(make_csv("mobile,name\n13800138000,Zhang\n"), encoding="gb18030")
    assert counts(summary) == (1, 1, 0, 0, 0)


def test_bad_gb18030_declared_gb18030_imports(make_csv, run_import, query):
    path = make_csv([["手机号码", "姓名"], ["13800138000", "张三"]], encoding="gb18030")
    summary = run_import(path, encoding="gb18030")
    assert counts(summary) == (1, 1, 0, 0, 0)
    assert query("SELECT name FROM customers") == [("张三",)]


def test_bad_utf8_bom_imports_and_first_header_maps(make_csv, run_import, query):
    summary = run_import(make_csv("\ufeff手机号码,姓名\r\n13800138000,张三\r\n", encoding="utf-8"))
    assert counts(summary) == (1, 1, 0, 0, 0) and summary["unknown_columns"] == []
    assert query("SELECT mobile, name FROM customers") == [("13800138000", "张三")]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_bad_utf16_with_bom_is_read(encoding, folder, run_import, query):
    path = folder / "wide.csv"
    text = "手机号码,姓名\r\n13800138000,张三\r\n13900139000,李四\r\n"
    path.write_bytes(("\ufeff" + text).encode(encoding) if encoding.endswith("be") else text.encode(encoding))
    summary = run_import(path)
    assert summary["encoding"] == "utf-16"
    assert counts(summary) == (2, 2, 0, 0, 0)
    assert query("SELECT name FROM customers ORDER BY mobile") == [("张三",), ("李四",)]


def test_bad_utf16_without_bom_is_rejected_clearly(folder, run_import, paths):
    path = folder / "wide_no_bom.csv"
    path.write_bytes("手机号码,姓名\r\n13800138000,张三\r\n".encode("utf-16-le"))
    rejected(run_import, paths, path, "UTF-16")


def test_bad_utf32_is_rejected_clearly(folder, run_import, paths):
    path = folder / "utf32.csv"
    path.write_bytes("手机号码\n13800138000\n".encode("utf-32"))
    rejected(run_import, paths, path, "UTF-32")


# --- line endings, quotes and big cells ----------------------------------------------------


def test_bad_mixed_line_endings_read_as_rows(make_csv, run_import, outcomes, query):
    path = make_csv("手机号码,姓名\r\n13800138000,张三\n13900139000,李四\r13700137000,王五\r\n\r123,赵六\n")
    summary = run_import(path)
    assert counts(summary) == (5, 3, 0, 1, 1)
    assert {n: o[0] for n, o in outcomes(summary["batch_id"]).items()} == {
        2: "created",
        3: "created",
        4: "created",
        5: "skipped",
        6: "failed",
    }
    assert query("SELECT name FROM customers ORDER BY mobile") == [("王五",), ("张三",), ("李四",)]


def test_bad_quoted_newlines_of_every_kind_stay_in_the_cell(make_csv, run_import, query, failures):
    path = make_csv('手机号码,姓名,备注\r\n13800138000,"张\r\n三","a\rb"\n"139\n00",李四,x\r\n')
    summary = run_import(path)
    assert counts(summary) == (2, 1, 0, 1, 0)
    assert query("SELECT name FROM customers") == [("张\n三",)]
    assert failures(summary["batch_id"]) == {3: ("invalid_mobile", ["invalid_mobile"])}


def test_bad_unclosed_quote_is_rejected_naming_row_and_column(make_csv, run_import, paths):
    """An unclosed quote would swallow every later line into one cell: refused, not silently lost."""
    path = make_csv('手机号码,姓名\n13800138000,张三\n13900139000,"李四\n13700137000,王五\n')
    rejected(run_import, paths, path, "row 3, column '姓名'", "never closed")


def test_bad_unclosed_quote_on_the_last_line_is_rejected_naming_the_row(make_csv, run_import, paths):
    path = make_csv('手机号码,姓名\n13800138000,张三\n13900139000,"李四')
    rejected(run_import, paths, path, "row 3", "never closed")


def test_bad_stray_quote_inside_an_unquoted_cell_is_kept(make_csv, run_import, query):
    summary = run_import(make_csv('手机号码,备注,姓名\n13800138000,"李\n四",x\n13900139000,5" screen,张三\n'))
    assert counts(summary) == (2, 2, 0, 0, 0)
    assert query("SELECT name FROM customers ORDER BY mobile") == [("x",), ("张三",)]


def test_bad_one_megabyte_cell_imports(make_csv, run_import, query):
    big = "长" * (1 << 20)
    summary = run_import(make_csv([["手机号码", "姓名"], ["13800138000", big], ["13900139000", "李四"]]))
    assert counts(summary) == (2, 2, 0, 0, 0)
    assert query("SELECT length(name) FROM customers ORDER BY mobile") == [(1 << 20,), (2,)]


def test_bad_one_megabyte_cell_in_a_failed_row_reaches_the_failure_file(make_csv, run_import):
    big = "x" * (1 << 20)
    summary = run_import(make_csv([["手机号码", "姓名"], [big, "张三"], ["13900139000", "李四"]]))
    assert counts(summary) == (2, 1, 0, 1, 0)
    assert big in Path(summary["failure_file"]).read_text(encoding="utf-8-sig")


def test_bad_ten_thousand_columns_csv_is_rejected(make_csv, run_import, paths):
    headers = ["手机号码", *[f"col{i}" for i in range(9_999)]]
    path = make_csv([headers, ["13800138000", *["v"] * 9_999]])
    rejected(run_import, paths, path, "10,000 columns", f"{MAX_COLUMNS:,}")


def test_bad_ten_thousand_columns_xlsx_is_rejected(make_xlsx, run_import, paths):
    headers = ["手机号码", *[f"col{i}" for i in range(9_999)]]
    rejected(run_import, paths, make_xlsx([headers, ["13800138000", *["v"] * 9_999]]), "10,000 columns")


def test_bad_widest_allowed_file_imports_with_its_failure_file(make_csv, run_import, query):
    headers = ["手机号码", *[f"col{i}" for i in range(MAX_COLUMNS - 1)]]
    cells = [f"v{i}" for i in range(MAX_COLUMNS - 1)]
    summary = run_import(make_csv([headers, ["13800138000", *cells], ["123", *cells], ["\n".join(cells)]]))
    assert counts(summary) == (3, 1, 0, 2, 0)
    assert len(summary["unknown_columns"]) == MAX_COLUMNS - 1
    lines = Path(summary["failure_file"]).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].split(",")[MAX_COLUMNS - 1 : MAX_COLUMNS + 2] == [
        f"col{MAX_COLUMNS - 2}",
        "row_number",
        "reason_code",
    ]
    assert lines[1].split(",")[: MAX_COLUMNS + 2] == ["123", *cells, "3", "invalid_mobile"]


# --- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [["手机号码", "姓名", "手机号码"], ["手机号码", "mobile"], ["邮箱", "E-mail", "email"]]
)
def test_bad_duplicate_mapped_header_is_rejected_naming_it(headers, make_csv, run_import, paths):
    path = make_csv([headers, ["a"] * len(headers)])
    rejected(run_import, paths, path, repr(headers[0]), "both map to")


def test_bad_duplicate_unknown_header_imports_and_failure_file_keeps_both(make_csv, run_import):
    summary = run_import(make_csv([["备注", "手机号码", "备注"], ["a", "13800138000", "b"], ["c", "123", "d"]]))
    assert counts(summary) == (2, 1, 0, 1, 0)
    assert summary["unknown_columns"] == ["备注", "备注"]
    lines = Path(summary["failure_file"]).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("备注,手机号码,备注_3,")
    assert lines[1].startswith("c,123,d,3,")


def test_bad_blank_header_cell_is_reported_not_guessed(make_csv, run_import):
    summary = run_import(make_csv([["手机号码", "", "姓名"], ["13800138000", "x", "张三"]]))
    assert counts(summary) == (1, 1, 0, 0, 0)
    assert summary["unknown_columns"] == ["(column 2 has no header)"]


def test_bad_sql_in_headers_and_cells_is_only_data(make_csv, run_import, query, seed):
    seed([{"customer_id": "C0000000001", "name": "kept"}])
    summary = run_import(
        make_csv(
            [
                [SQL_HEADER, "手机号码", "姓名", "x'); DELETE FROM customers; --"],
                ["'; DROP TABLE customers; --", "13800138000", "Robert'); DROP TABLE customers;--", "1"],
                ["x", "123", "y", "2"],
            ]
        )
    )
    assert counts(summary) == (2, 1, 0, 1, 0)
    assert summary["unknown_columns"] == [SQL_HEADER, "x'); DELETE FROM customers; --"]
    assert query("SELECT customer_id, name FROM customers ORDER BY customer_id")[0] == ("C0000000001", "kept")
    assert query("SELECT name FROM customers WHERE mobile = '13800138000'") == [("Robert'); DROP TABLE customers;--",)]
    header = Path(summary["failure_file"]).read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith('"""name""; DROP TABLE customers; --",手机号码,姓名,')


def test_bad_sql_as_sheet_name_is_only_data(folder, run_import, paths):
    rejected(run_import, paths, three_sheets(folder / "s.xlsx"), "no sheet named", sheet="x'; DROP TABLE customers; --")


# --- file names ----------------------------------------------------------------------------

ODD_NAMES = [
    "customer list 2024.csv",
    "客户名单_2024-05-01.csv",
    "O'Brien's list.csv",
    'the "best" customers.csv',
    "-rf.csv",
    "--json.csv",
    "..customers..csv",
    "a..b.xlsx",
    "semi;colon $(echo x) `id`.csv",
]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_bad_odd_file_names_import(name, make_csv, make_xlsx, run_import, paths):
    rows = [["手机号码"], ["13800138000"], ["123"]]
    path = make_xlsx(rows, name=name) if name.endswith(".xlsx") else make_csv(rows, name=name)
    summary = run_import(path)
    assert counts(summary) == (2, 1, 0, 1, 0)
    assert summary["file_name"] == name
    assert (paths.archive / summary["batch_id"] / name).read_bytes() == path.read_bytes()
    assert Path(summary["failure_file"]).parent == paths.failures


@pytest.mark.parametrize("name", ["O'Brien's list.csv", 'the "best" customers.csv', "客户 名单.csv", "-rf.csv"])
def test_bad_odd_file_names_are_named_when_rejected(name, folder, run_import, paths):
    path = folder / name
    path.write_bytes(b"")
    rejected(run_import, paths, path, "empty")


def test_bad_missing_file_is_rejected(folder, run_import, paths):
    rejected(run_import, paths, folder / "nowhere.csv", "no such file")


# --- rows with the wrong number of cells ---------------------------------------------------


def test_bad_rows_with_too_many_or_too_few_cells_fail_as_rows(make_csv, run_import, failures, query):
    path = make_csv(
        "手机号码,姓名,邮箱\n"
        "13800138000,张三,a@example.cn\n"  # 2: ok
        "13900139000,李四\n"  # 3: too few
        "13700137000,王五,c@example.cn,extra\n"  # 4: too many
        "13600136000\n"  # 5: far too few
        "13500135000,钱七,,,,\n"  # 6: empty extra cells still too many
        "13400134000,孙八,\n"  # 7: ok (last cell empty)
    )
    summary = run_import(path)
    assert counts(summary) == (6, 2, 0, 4, 0)
    assert {n: f[0] for n, f in failures(summary["batch_id"]).items()} == {
        3: "malformed_row",
        4: "malformed_row",
        5: "malformed_row",
        6: "malformed_row",
    }
    assert query("SELECT mobile FROM customers ORDER BY 1") == [("13400134000",), ("13800138000",)]


def test_bad_xlsx_row_with_cells_beyond_the_header_fails_as_row(make_xlsx, run_import, failures):
    path = make_xlsx([["手机号码", "姓名"], ["13800138000", "张三", "stray"], ["13900139000", "李四"]])
    summary = run_import(path)
    assert counts(summary) == (2, 1, 0, 1, 0)
    assert failures(summary["batch_id"]) == {2: ("malformed_row", ["malformed_row"])}


def test_bad_tab_separated_file_with_ragged_rows(make_csv, run_import, failures):
    summary = run_import(make_csv("手机号码\t姓名\n13800138000\t张三\n13900139000\n"))
    assert counts(summary) == (2, 1, 0, 1, 0)
    assert failures(summary["batch_id"]) == {3: ("malformed_row", ["malformed_row"])}


# --- through the command line --------------------------------------------------------------


def test_cli_bad_zero_byte_file_exits_2(folder, home):
    path = folder / "empty.csv"
    path.write_bytes(b"")
    assert_cli_rejected(cdp(home, "import", "customers", str(path), "--json"), home, "empty.csv", "empty")


def test_cli_bad_password_protected_xlsx_exits_2(make_xlsx, folder, home):
    locked = encrypt_xlsx(make_xlsx([["手机号码"], ["13800138000"]]), folder / "locked.xlsx")
    assert_cli_rejected(cdp(home, "import", "customers", str(locked)), home, "locked.xlsx", "password-protected")


def test_cli_bad_unknown_sheet_exits_2_naming_the_sheets(folder, home):
    path = three_sheets(folder / "sheets.xlsx")
    line = assert_cli_rejected(
        cdp(home, "import", "customers", str(path), "--sheet", "Nope"), home, "sheets.xlsx", "'Nope'"
    )
    assert "说明, 客户, Other list" in line
    report = cli_json(cdp(home, "import", "customers", str(path), "--sheet", "Other list", "--json"))
    assert report["created"] == 2


def test_cli_bad_misdeclared_encoding_exits_2(make_csv, home):
    path = make_csv([["手机号码", "姓名"], ["13800138000", "张三"]], encoding="gb18030", name="gbk.csv")
    assert_cli_rejected(
        cdp(home, "import", "customers", str(path), "--encoding", "utf-8"), home, "gbk.csv", "not valid UTF-8"
    )


def test_cli_bad_duplicate_header_exits_2_naming_it(make_csv, home):
    path = make_csv([["手机号码", "手机号码"], ["13800138000", "13900139000"]], name="dup.csv")
    assert_cli_rejected(cdp(home, "import", "customers", str(path)), home, "dup.csv", "'手机号码'", "both map to")


def test_cli_bad_dry_run_rejection_exits_2(folder, home):
    path = folder / "garbage.csv"
    path.write_bytes(png_bytes())
    assert_cli_rejected(cdp(home, "import", "customers", str(path), "--dry-run"), home, "garbage.csv", "binary")


def test_cli_bad_leading_dash_file_name(folder, home):
    (folder / "-rf.csv").write_text("手机号码\n13800138000\n", encoding="utf-8")
    assert cli_json(cdp(home, "import", "customers", "./-rf.csv", "--json", cwd=folder))["created"] == 1
    again = cli_json(cdp(home, "import", "customers", "--json", "--force", "--", "-rf.csv", cwd=folder))
    assert (again["file_name"], again["updated"]) == ("-rf.csv", 1)


def test_cli_bad_odd_file_names_import_and_reject(folder, home):
    good = folder / '客户 O\'Brien "VIP" ..list.csv'
    good.write_text("手机号码\n13800138000\n", encoding="utf-8")
    assert cli_json(cdp(home, "import", "customers", str(good), "--json"))["file_name"] == good.name
    bad = folder / "坏 'file' \"x\".csv"
    bad.write_bytes(b"")
    result = cdp(home, "import", "customers", str(bad))
    assert result.returncode == 2 and bad.name in result.stderr and len(result.stderr.strip().splitlines()) == 1


# --- one encoding per file (issue 14 items 8 and 14) ---------------------------------------


def gbk_names_valid_as_utf8() -> list[str]:
    """Common two-character names whose GBK bytes are valid UTF-8 by accident (郑伟 → ֣ΰ)."""
    names = [s + g for s in "郑谢肖" for g in "伟强霞平英志"]
    found = []
    for name in names:
        with contextlib.suppress(UnicodeDecodeError):
            name.encode("gbk").decode("utf-8")
            found.append(name)
    assert len(found) >= 6
    return found


def lines_in(rows: list[str], encodings: dict[int, str], default: str = "utf-8") -> bytes:
    """``rows`` as lines, line N (1-based) in ``encodings[N]`` or ``default``."""
    return b"".join((row + "\n").encode(encodings.get(n, default)) for n, row in enumerate(rows, start=1))


def customer_rows(count: int) -> list[str]:
    surnames, given = "王李张刘陈杨黄赵吴周", "伟芳娜敏静丽强磊军洋"
    return ["姓名,手机号码,城市"] + [
        f"{surnames[i % 10]}{given[i // 10 % 10]},{13800000001 + i},{'广州' if i % 2 else '北京'}" for i in range(count)
    ]


def test_bad_utf8_file_with_gbk_rows_pasted_in_is_refused_naming_the_lines(folder, run_import, paths):
    """Issue 14 item 8: a UTF-8 file with rows pasted in GBK was read whole as GB18030 and imported
    200 garbled names as succeeded. It is refused, naming the lines that are not UTF-8."""
    path = folder / "pasted.csv"
    path.write_bytes(lines_in(customer_rows(200), {57: "gbk", 93: "gbk"}))
    error = rejected(run_import, paths, path, "lines 57, 93: not UTF-8 like the rest of the file")
    assert "(they look like GBK/GB18030); save the whole file in one encoding (CSV UTF-8)" in error.reason


def test_bad_utf8_file_with_a_gbk_row_that_is_valid_utf8_is_refused(folder, run_import, paths):
    """Issue 14 item 8: a pasted GBK row whose bytes are valid UTF-8 (郑伟 reads ֣ΰ) makes the
    whole file valid UTF-8; it is still found by what its readings look like."""
    rows = customer_rows(60)
    rows[30] = f"{gbk_names_valid_as_utf8()[0]},13912345678,"
    data = lines_in(rows, {31: "gbk"})
    data.decode("utf-8")  # the file is valid UTF-8 ...
    path = folder / "pasted_valid.csv"
    path.write_bytes(data)
    rejected(run_import, paths, path, "line 31: not UTF-8 like the rest of the file (it looks like GBK/GB18030)")


def test_bad_utf8_bom_file_with_a_gbk_row_is_refused_naming_it(folder, run_import, paths):
    """Issue 14 item 8: a UTF-8 file with a BOM holding one GBK row."""
    path = folder / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8 + lines_in(customer_rows(20), {7: "gbk"}))
    rejected(run_import, paths, path, "line 7: not UTF-8 like the rest of the file")


def test_bad_many_pasted_lines_are_named_ten_and_counted(folder, run_import, paths):
    """Issue 14 item 8: the first ten lines are named, the others counted."""
    pasted = {n: "gbk" for n in range(40, 55)}
    path = folder / "many.csv"
    path.write_bytes(lines_in(customer_rows(100), pasted))
    rejected(run_import, paths, path, "lines 40, 41, 42, 43, 44, 45, 46, 47, 48, 49 and 5 more: not UTF-8")


def test_bad_gb18030_file_with_utf8_rows_pasted_in_is_refused_naming_them(folder, run_import, paths):
    """Issue 14 item 8, the other way: a GBK file with UTF-8 rows is refused naming the UTF-8 rows
    (read as GB18030 they would be mojibake), with the override for a wrong guess."""
    path = folder / "gbk_pasted.csv"
    path.write_bytes(lines_in(customer_rows(80), {12: "utf-8", 70: "utf-8"}, default="gbk"))
    error = rejected(run_import, paths, path, "lines 12, 70: UTF-8, unlike the rest of the file (GBK/GB18030)")
    assert "--encoding gb18030" in error.reason


@pytest.mark.parametrize("chunk_bytes", [7, 1 << 20])
@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_bad_mixed_lines_are_found_whatever_the_line_ends_and_read_chunks(
    chunk_bytes, line_end, monkeypatch, folder, run_import, paths
):
    """Issue 14 item 8: line numbers hold across the reader's chunks and for CRLF and CR files."""
    monkeypatch.setattr("cdp_pipeline.readers.CHUNK_BYTES", chunk_bytes)
    path = folder / "ends.csv"
    path.write_bytes(lines_in(customer_rows(30), {5: "gbk", 22: "gbk"}).replace(b"\n", line_end.encode()))
    rejected(run_import, paths, path, "lines 5, 22: not UTF-8")
    path.write_bytes(lines_in(customer_rows(30), {5: "utf-8", 22: "utf-8"}, "gbk").replace(b"\n", line_end.encode()))
    rejected(run_import, paths, path, "lines 5, 22: UTF-8, unlike the rest of the file (GBK/GB18030)")


def test_bad_gb18030_file_with_rows_valid_as_utf8_imports_them_right(folder, run_import, query):
    """Issue 14 item 8: a genuine GBK file is not flagged for rows that happen to be valid UTF-8
    (short names like 郑伟, 谢强): they are read as GB18030 with the rest."""
    accidental = gbk_names_valid_as_utf8()
    rows = customer_rows(40) + [f"{name},{13900000001 + i}," for i, name in enumerate(accidental)]
    valid_utf8 = [row for row in rows if not row.isascii() and _valid_utf8(row.encode("gbk"))]
    assert len(valid_utf8) >= len(accidental)  # lines of this file that are valid UTF-8 by accident
    path = folder / "gbk.csv"
    path.write_bytes(lines_in(rows, {}, default="gbk"))
    summary = run_import(path)
    assert summary["encoding"] == "gb18030" and counts(summary) == (len(rows) - 1, len(rows) - 1, 0, 0, 0)
    names = {name for (name,) in query("SELECT name FROM customers")}
    assert set(accidental) <= names and "王伟" in names


def test_bad_gbk_file_valid_as_utf8_throughout_is_read_as_gb18030(folder, run_import, query):
    """Issue 14 item 8: an ASCII header and rows of such names make a GBK file valid UTF-8 as a
    whole; it was imported as UTF-8 (֣ΰ); every non-ASCII line reads as GBK, so it is GB18030."""
    accidental = gbk_names_valid_as_utf8()[:3]
    path = folder / "gbk_ascii_header.csv"
    path.write_bytes(
        lines_in(["name,mobile"] + [f"{n},{13900000001 + i}" for i, n in enumerate(accidental)], {}, "gbk")
    )
    path.read_bytes().decode("utf-8")
    summary = run_import(path)
    assert summary["encoding"] == "gb18030"
    assert sorted(n for (n,) in query("SELECT name FROM customers")) == sorted(accidental)


def test_bad_big5_file_with_rows_valid_as_utf8_imports_them_right(folder, run_import, query):
    """Issue 14 item 8: the same for Big5 (traditional names whose Big5 bytes are valid UTF-8)."""
    common = [bytes((lead, trail)).decode("big5") for lead in range(0xC2, 0xC6) for trail in range(0xA1, 0xC0)]
    accidental = [common[i] + common[i + 7] for i in range(0, 60, 6)]
    assert all(_valid_utf8(name.encode("big5hkscs")) for name in accidental)
    rows = ["姓名,手机,城市"] + [f"陳大文{i},{13800000001 + i},臺北" for i in range(30)]
    rows += [f"{name},{13900000001 + i}," for i, name in enumerate(accidental)]
    path = folder / "big5.csv"
    path.write_bytes(lines_in(rows, {}, default="big5hkscs"))
    summary = run_import(path)
    assert summary["encoding"] == "big5" and summary["created"] == len(rows) - 1
    assert set(accidental) <= {name for (name,) in query("SELECT name FROM customers")}


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize(
    "text",
    ["name,mobile\n13800138000,Zhang\n", "姓名,手机号码\n张三,13800138000\n", "手机号码\n13800138000\n"],
    ids=["ascii", "utf8", "no_final_text"],
)
def test_bad_utf8_text_with_a_binary_tail_is_refused_as_binary(text, folder, run_import, paths):
    """Issue 14 item 14: valid UTF-8 followed by a binary tail was "not valid GB18030 at byte 42";
    the real cause is named: binary content at the byte where the text ends."""
    head = text.encode("utf-8")
    path = folder / "tail.csv"
    path.write_bytes(head + bytes(range(0x80, 0x100)) * 3)
    line = text.count("\n") + 1
    error = rejected(run_import, paths, path, f"binary content at byte {len(head)} (line {line})")
    assert "not valid UTF-8, GB18030 or Big5 text" in error.reason and "GB18030 at byte" not in error.reason


def test_bad_gb18030_file_with_a_binary_tail_is_refused_as_binary(folder, run_import, paths):
    """Issue 14 item 14: the same after GB18030 text."""
    head = "姓名,手机号码\n张三,13800138000\n".encode("gb18030")
    path = folder / "gbk_tail.csv"
    path.write_bytes(head + b"\xff\xfe\x80binary\xff")
    rejected(run_import, paths, path, f"binary content at byte {len(head)} (line 3)")


def test_cli_bad_mixed_encodings_exit_2_naming_the_lines(folder, home):
    """Issue 14 item 8 through the real command: exit 2, one line naming the lines."""
    path = folder / "pasted.csv"
    path.write_bytes(lines_in(customer_rows(200), {57: "gbk", 93: "gbk"}))
    assert_cli_rejected(
        cdp(home, "import", "customers", str(path), "--json"), home, "pasted.csv", "lines 57, 93", "not UTF-8"
    )
    path.write_bytes(lines_in(customer_rows(50), {9: "utf-8"}, default="gbk"))
    assert_cli_rejected(
        cdp(home, "import", "customers", str(path), "--dry-run"), home, "pasted.csv", "line 9: UTF-8, unlike"
    )


def test_cli_bad_binary_tail_exits_2_naming_the_cause(folder, home):
    """Issue 14 item 14 through the real command."""
    head = "姓名,手机号码\n张三,13800138000\n".encode()
    path = folder / "tail.csv"
    path.write_bytes(head + bytes(range(0x80, 0x100)))
    line = assert_cli_rejected(
        cdp(home, "import", "customers", str(path)), home, "tail.csv", f"binary content at byte {len(head)} (line 3)"
    )
    assert "not valid GB18030" not in line


# --- hostile workbooks (issue 14 item 7) ---------------------------------------------------

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
WORKBOOK_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
        'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN_NS}" xmlns:r="http://schemas.openxmlformats'
        '.org/officeDocument/2006/relationships"><sheets><sheet name="客户" sheetId="1" r:id="rId1"/></sheets>'
        "</workbook>"
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>"
    ),
}
HEADER_ROWS = (
    '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
    '<row r="2"><c r="A2"><v>13800138000</v></c><c r="B2" t="s"><v>2</v></c></row>'
)


def hand_made_workbook(
    path: Path,
    rows: str = HEADER_ROWS,
    dimension: str | None = None,
    strings: tuple[str, ...] = ("手机号码", "姓名", "张三"),
    unique_count: int | None = None,
    padding: int = 0,
) -> Path:
    """A workbook written part by part, as a hostile one would be: ``rows`` is the sheetData,
    ``padding`` bytes of white space follow it (streamed, so a large one costs no memory)."""
    dimension_tag = f'<dimension ref="{dimension}"/>' if dimension else ""
    shared = "".join(f"<si><t>{text}</t></si>" for text in strings)
    count = len(strings) if unique_count is None else unique_count
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in WORKBOOK_PARTS.items():
            archive.writestr(name, text)
        archive.writestr(
            "xl/sharedStrings.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN_NS}" count="{len(strings)}" '
            f'uniqueCount="{count}">{shared}</sst>',
        )
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'<?xml version="1.0"?><worksheet xmlns="{MAIN_NS}">{dimension_tag}<sheetData>'.encode())
            sheet.write(rows.encode())
            for _ in range(padding >> 20):
                sheet.write(b" " * (1 << 20))
            sheet.write(b"</sheetData></worksheet>")
    return path


def with_declared_size(path: Path, part: str, size: int) -> Path:
    """``path`` with ``part`` declaring ``size`` uncompressed bytes in its local and central
    headers, whatever its data expands to (a header that lies)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo(part).header_offset
    struct.pack_into("<I", data, local + 22, size)
    position = data.find(b"PK\x01\x02")
    while position >= 0:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46 : position + 46 + name_length] == part.encode():
            struct.pack_into("<I", data, position + 24, size)
        position = data.find(b"PK\x01\x02", position + 46)
    path.write_bytes(bytes(data))
    return path


CAPPED_IMPORT = """
import dataclasses, json, resource, sys
from pathlib import Path
from cdp_pipeline import settings
from cdp_pipeline.customer_import import import_customer_file
from cdp_pipeline.errors import FileRejected
from cdp_pipeline.settings import CdpPaths, CustomerImportSettings
home, source, limits = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
settings.XLSX_LIMITS = dataclasses.replace(settings.XLSX_LIMITS, **limits)
try:
    answer = {"summary": import_customer_file(Path(source), CustomerImportSettings(), CdpPaths(Path(home)).ensure())}
except FileRejected as rejected:
    answer = {"rejected": str(rejected)}
peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({**answer, "peak_mib": peak // 1024}, ensure_ascii=False))
"""
TEST_ADDRESS_SPACE = 3 << 30  # a regression fails at once under this cap instead of taking the machine


def _capped() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (TEST_ADDRESS_SPACE, TEST_ADDRESS_SPACE))


def capped_import(home: Path, path: Path, **limits) -> dict:
    """Import ``path`` in a fresh process under an address-space cap (with ``limits`` changed):
    its answer and the peak memory of that process and the workbook reader it starts."""
    result = subprocess.run(
        [sys.executable, "-c", CAPPED_IMPORT, str(home), str(path), json.dumps(limits)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_capped,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_refused_in_bounded_memory(home: Path, path: Path, *words: str, **limits) -> str:
    answer = capped_import(home, path, **limits)
    assert "rejected" in answer, answer
    message = answer["rejected"]
    assert message.startswith(f"{path.name}: ") and "\n" not in message, message
    for word in words:
        assert word in message, message
    assert answer["peak_mib"] < 1024, answer
    assert_nothing_written(CdpPaths(home))
    return message


@pytest.mark.parametrize("far", ["CV1048576", "XFD1048576"])
def test_bad_xlsx_cell_far_from_the_data_is_refused_in_bounded_memory(far, folder, home):
    """Issue 14 item 7: one cell at CV1048576 in a 2 KB workbook took 6.3 GB; at XFD1048576 the
    native reader aborted the process. The sheet is refused naming the far cell, in little memory."""
    path = hand_made_workbook(folder / "far.xlsx", HEADER_ROWS + f'<row r="1048576"><c r="{far}"><v>1</v></c></row>')
    assert path.stat().st_size < 4096
    assert_refused_in_bounded_memory(home, path, f"sheet '客户' holds 5 cells but reaches {far}", "stray cells")


def test_bad_xlsx_far_cell_behind_a_small_dimension_is_refused(folder, home):
    """Issue 14 item 7: a <dimension> that lies (A1:B2) does not hide the far cell."""
    path = hand_made_workbook(
        folder / "lying.xlsx", HEADER_ROWS + '<row r="3"><c r="CV1048576"><v>1</v></c></row>', dimension="A1:B2"
    )
    assert_refused_in_bounded_memory(home, path, "reaches CV1048576")


@pytest.mark.parametrize(
    "rows",
    [
        '<row r="1048576"><c><v>1</v></c></row>',  # no r: placed where its row is
        '<row r="7"><x:c xmlns:x="' + MAIN_NS + '" r="ZZ900000"><x:v>1</x:v></x:c></row>',  # a prefixed cell
        '<row r="7"><c s="0" r="xfd1048576"><v>1</v></c></row>',  # r not first, in small letters
    ],
    ids=["no_r", "prefixed", "r_not_first"],
)
def test_bad_xlsx_far_cells_written_oddly_are_placed_as_the_reader_places_them(rows, folder, home):
    """Issue 14 item 7: cells without r, with a namespace prefix or with r in small letters after
    another attribute land where calamine puts them, and are refused there."""
    path = hand_made_workbook(folder / "odd.xlsx", HEADER_ROWS + rows, dimension="A1:B2")
    assert_refused_in_bounded_memory(home, path, "holds 5 cells but reaches")


def test_bad_xlsx_shared_strings_count_beyond_its_strings_is_refused(folder, home):
    """Issue 14 item 7: uniqueCount="2147483648" made the reader reserve 48 GiB and abort."""
    path = hand_made_workbook(folder / "strings.xlsx", unique_count=2**31)
    assert_refused_in_bounded_memory(
        home, path, "xl/sharedStrings.xml declares 2,147,483,648 strings (uniqueCount) but holds 3"
    )


def test_bad_xlsx_zip_bomb_is_refused_before_it_expands(folder, home):
    """Issue 14 item 7: a 20 KB part expanding to 20 MiB of white space (1,000 times)."""
    path = hand_made_workbook(folder / "bomb.xlsx", padding=20 << 20)
    assert path.stat().st_size < 100_000
    assert_refused_in_bounded_memory(
        home, path, "xl/worksheets/sheet1.xml expands", "times (", "to 20 MiB), more than the 100 times"
    )


def test_bad_xlsx_part_beyond_the_configured_size_is_refused_naming_it(folder, home):
    """Issue 14 item 7: a part larger than XlsxLimits.max_part_bytes (lowered here to 4 MiB)."""
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{13800000000 + r}</v></c></row>' for r in range(3, 150_000))
    path = hand_made_workbook(folder / "large.xlsx", HEADER_ROWS + rows)
    assert_refused_in_bounded_memory(
        home,
        path,
        "xl/worksheets/sheet1.xml is 8.2 MiB uncompressed, more than the 4 MiB limit for one part",
        max_part_bytes=4 << 20,
    )


def test_bad_xlsx_part_whose_header_lies_about_its_size_is_refused(folder, home):
    """Issue 14 item 7: declared sizes can lie; the part is read no further than it declares and
    its checksum then fails, so the bomb behind the small header never expands."""
    path = with_declared_size(
        hand_made_workbook(folder / "liar.xlsx", padding=20 << 20), "xl/worksheets/sheet1.xml", 900
    )
    assert_refused_in_bounded_memory(home, path, "unreadable XLSX (damaged workbook): xl/worksheets/sheet1.xml")


def test_bad_xlsx_run_without_markup_longer_than_a_cell_is_refused(folder, home):
    """Issue 14 item 7: a 2 MiB shared string (no cell holds more than 32,767 characters)."""
    path = hand_made_workbook(folder / "long.xlsx", strings=("手机号码", "姓名", "x" * (2 << 20)))
    assert_refused_in_bounded_memory(home, path, "xl/sharedStrings.xml holds more than 1 MiB without markup")


def test_bad_xlsx_with_too_many_or_duplicate_parts_is_refused(folder, run_import, paths):
    """Issue 14 item 7: the ZIP's own shape: entries beyond XlsxLimits.max_entries, two parts of one name."""
    many = hand_made_workbook(folder / "many.xlsx")
    with zipfile.ZipFile(many, "a") as archive:
        for i in range(10_000):
            archive.writestr(f"xl/media/x{i}.bin", b"")
    rejected(run_import, paths, many, "10,006 parts in the ZIP, more than the 10,000 a workbook may have")
    twice = hand_made_workbook(folder / "twice.xlsx")
    with warnings.catch_warnings(), zipfile.ZipFile(twice, "a") as archive:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name it is asked to write
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    rejected(run_import, paths, twice, "the ZIP holds two parts named xl/worksheets/sheet1.xml")


def test_bad_xlsx_native_reader_crash_is_one_line_and_cleans_up(folder, home):
    """Issue 14 item 7: what gets past the checks (loosened here) and kills the native reader
    (SIGABRT: it reserves 2^31 strings) ends only the reader's process: the import reports it
    in one line as the file's fault and leaves no staging behind."""
    path = hand_made_workbook(folder / "crash.xlsx", unique_count=2**31)
    assert_refused_in_bounded_memory(
        home,
        path,
        "the XLSX reader crashed on this workbook (signal 6, SIGABRT): memory allocation of",
        max_missing_strings=2**40,
    )


def test_bad_xlsx_reader_memory_is_capped_by_its_content(folder, home):
    """Issue 14 item 7: with the sparse-sheet check off, the far cell still cannot take the
    machine: the reader's memory cap (a floor plus so much per byte of XML) stops it."""
    path = hand_made_workbook(
        folder / "capped.xlsx", HEADER_ROWS + '<row r="1048576"><c r="CV1048576"><v>1</v></c></row>'
    )
    assert_refused_in_bounded_memory(home, path, "the XLSX reader crashed", max_cells_per_value=10**12)


def test_bad_xlsx_stray_cell_near_the_data_still_imports(folder, run_import, failures):
    """Issue 14 item 7: a cell a little beyond the data (within the bound) is read as before:
    its row fails as malformed, the others import."""
    path = hand_made_workbook(
        folder / "near.xlsx", HEADER_ROWS + '<row r="3"><c r="A3"><v>13900139000</v></c><c r="Z3"><v>1</v></c></row>'
    )
    summary = run_import(path)
    assert counts(summary) == (2, 1, 0, 1, 0)
    assert failures(summary["batch_id"]) == {3: ("malformed_row", ["malformed_row"])}


def test_cli_bad_hostile_workbook_exits_2_in_bounded_memory(folder, home):
    """Issue 14 item 7 through the real command, under an address-space cap: exit 2, one line."""
    path = hand_made_workbook(
        folder / "far.xlsx", HEADER_ROWS + '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    )
    environment = {**os.environ, "CDP_HOME": str(home)}
    environment.pop("DAGSTER_HOME", None)
    result = subprocess.run(
        [CDP, "import", "customers", str(path)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        preexec_fn=_capped,
        check=False,
    )
    assert_cli_rejected(result, home, "far.xlsx", "reaches XFD1048576")
    bomb = hand_made_workbook(folder / "bomb.xlsx", padding=20 << 20)
    assert_cli_rejected(cdp(home, "import", "customers", str(bomb), "--dry-run"), home, "bomb.xlsx", "ZIP bomb")
