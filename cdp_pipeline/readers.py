"""Read a customer file into DuckDB as text cells, one row per record.

CSV: one streaming pass decodes the file (UTF-8, GB18030 or Big5; DuckDB has no encodings
extension here), unifies line endings and marks blank lines, writing a UTF-8 copy that DuckDB's
CSV reader then loads. DuckDB drops blank lines, but a spreadsheet shows them as rows, so the
pass turns each into a one-cell marker record: row numbers stay those a spreadsheet shows.

XLSX: python-calamine reads the first non-empty sheet (or the one named).

Either way the result is a table ``file_rows(row_number, c0 .. cN)`` where N is the header's
width: ``cN`` is a sentinel that is only filled when a record has more cells than the header,
and padded cells are NULL while empty cells are '' — so malformed rows are visible in SQL.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import operator
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from cdp_pipeline.catalogue import header_key
from cdp_pipeline.errors import FileRejected

CHUNK_BYTES = 1 << 20
BLANK_LINE_MARKER = "\x02"
PADDING_NULL = "\x01"  # never in real data: lets '' (empty cell) differ from NULL (missing cell)
CODECS = {"utf-8": "utf-8-sig", "gb18030": "gb18030", "big5": "big5hkscs", "utf-16": "utf-16"}
_NEWLINE_BEFORE_BLANK = re.compile(r"\n(?=\n)")
# Frequent characters of customer lists (surnames, places, common words) in simplified and
# traditional forms: the right decoding of a GB18030 or Big5 file is full of them, the wrong one
# (which often decodes without error) has almost none.
COMMON_CHINESE = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "張劉陳楊黃趙吳孫馬羅鄭謝許韓馮鄧蕭葉蘇呂盧"
    "省市区县路号街道镇村国中华东南西北京广州深圳上海天津江浙湖山河"
    "區縣號鎮國華東廣圳"
    "的一是不了人我在有他这大来上个到说们为子和你地出道也时年先生女士小姐伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
    "這來個說們為時偉麗強軍潔傑濤剛"
)


@dataclass(frozen=True)
class StagedFile:
    """What staging learnt about a file."""

    headers: list[str]
    encoding: str
    file_format: str
    sheet: str | None = None

    @property
    def width(self) -> int:
        return len(self.headers)


def is_xlsx(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def stage_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    work_dir: Path,
    known_headers: frozenset[str],
    encoding: str = "auto",
    sheet: str | None = None,
) -> StagedFile:
    """Load ``path`` into ``table`` (a qualified, quoted name) as ``file_rows``."""
    if path.stat().st_size == 0:
        raise FileRejected(path, "the file is empty (0 bytes)")
    if is_xlsx(path) or path.suffix.lower() in (".xlsx", ".xlsm"):
        return _stage_xlsx(con, path, table, sheet)
    return _stage_csv(con, path, table, work_dir, known_headers, encoding)


# --- CSV ---------------------------------------------------------------------------------


def detect_encoding(path: Path, known_headers: frozenset[str]) -> str:
    """BOM or valid UTF-8 → utf-8; otherwise the Chinese codec whose header names are known
    (``known_headers`` holds ``header_key`` forms), then whose text reads as common Chinese."""
    with path.open("rb") as handle:
        head = handle.read(CHUNK_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if b"\x00" in head:
        raise FileRejected(path, "binary content (NUL bytes): not a CSV text file")
    if head.startswith(codecs.BOM_UTF8) or _decodes(path, "utf-8"):
        return "utf-8"
    sample = head[: head.rfind(b"\n") + 1] or head
    first_line = sample.split(b"\n", 1)[0]

    def score(name: str) -> tuple[int, int, int]:
        """Known headers, then common characters (names, places), then fewest decoding errors."""
        header = next(csv.reader([first_line.decode(CODECS[name], errors="replace")]), [])
        known = sum(header_key(c) in known_headers for c in header)
        text = sample.decode(CODECS[name], errors="replace")
        return known, sum(text.count(c) for c in COMMON_CHINESE), -text.count("\ufffd")

    return max(("gb18030", "big5"), key=score)


def _decodes(path: Path, name: str) -> bool:
    decoder = codecs.getincrementaldecoder(CODECS[name])(errors="strict")
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def write_normalized_csv(src: Path, dst: Path, encoding: str) -> None:
    """Stream ``src`` to UTF-8 ``dst`` with ``\\n`` line ends and blank lines marked."""
    decoder = codecs.getincrementaldecoder(CODECS[encoding])(errors="strict")
    offset = 0
    carry = ""
    first = True
    with src.open("rb") as source, dst.open("w", encoding="utf-8", newline="") as out:

        def emit(part: str) -> None:
            nonlocal first
            part = part.replace("\r\n", "\n").replace("\r", "\n")
            if first:
                part = part.lstrip("\n")
            marked = _NEWLINE_BEFORE_BLANK.sub("\n" + BLANK_LINE_MARKER, part)
            if marked.startswith("\n") and not first:
                marked = BLANK_LINE_MARKER + marked
            first = first and not part
            out.write(marked)

        while True:
            chunk = source.read(CHUNK_BYTES)
            try:
                text = carry + decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                raise FileRejected(
                    src,
                    f"not valid {encoding.upper()} at byte {offset + error.start}; "
                    "choose the file's encoding with --encoding utf-8|gb18030|big5",
                ) from None
            offset += len(chunk)
            if not chunk:
                emit(text)
                return
            cut = text.rfind("\n")
            if cut < 0 or text.endswith("\r"):
                carry = text
                continue
            emit(text[: cut + 1])
            carry = text[cut + 1 :]


def read_header(path: Path, delimiter: str) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle, delimiter=delimiter), [])


def _sniff_delimiter(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as handle:
        first = handle.readline()
    return "\t" if "\t" in first and "," not in first else ","


def _stage_csv(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, work_dir: Path, known_headers: frozenset[str], encoding: str
) -> StagedFile:
    chosen = detect_encoding(path, known_headers) if encoding == "auto" else encoding
    work_dir.mkdir(parents=True, exist_ok=True)
    normalized = work_dir / f"{table.replace('.', '_').replace(chr(34), '')}.csv"
    try:
        write_normalized_csv(path, normalized, chosen)
        delimiter = _sniff_delimiter(normalized)
        headers = read_header(normalized, delimiter)
        if not any(h.strip() for h in headers):
            raise FileRejected(path, "no header row")
        columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(headers) + 1))
        con.execute(
            f"""
            CREATE OR REPLACE TABLE {table} AS
            SELECT row_number() OVER () AS row_number, *
            FROM read_csv($path, header = false, auto_detect = false, all_varchar = true,
                          null_padding = true, strict_mode = false, parallel = false,
                          delim = $delim, quote = '"', escape = '"', new_line = '\\n',
                          nullstr = $padding, max_line_size = 268435456,
                          columns = {{{columns}}})
            """,
            {"path": str(normalized), "delim": delimiter, "padding": PADDING_NULL},
        )
    except duckdb.Error as error:
        raise FileRejected(path, f"unreadable CSV: {str(error).splitlines()[0]}") from None
    finally:
        normalized.unlink(missing_ok=True)
    _drop_header_and_markers(con, table, len(headers))
    return StagedFile(headers=[h.strip() for h in headers], encoding=chosen, file_format="csv")


def _drop_header_and_markers(con: duckdb.DuckDBPyConnection, table: str, width: int) -> None:
    """Row 1 is the header; a marker record is a blank line, kept as an all-empty row."""
    cells = ", ".join(
        f"CASE WHEN is_blank_line THEN '' ELSE replace(c{i}, chr(10) || chr(2), chr(10)) END AS c{i}"
        for i in range(width)
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {table} AS
        SELECT row_number, {cells},
               CASE WHEN is_blank_line THEN NULL ELSE c{width} END AS c{width}
        FROM (SELECT *, (c0 = chr(2) AND {"c1 IS NULL" if width >= 1 else "true"}) AS is_blank_line
              FROM {table} WHERE row_number > 1)
        ORDER BY row_number
        """
    )


# --- XLSX --------------------------------------------------------------------------------


def xlsx_cell_text(value: object) -> str:
    """A cell as the text a person sees: 13800138000.0 → '13800138000', dates ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _stage_xlsx(con: duckdb.DuckDBPyConnection, path: Path, table: str, sheet: str | None) -> StagedFile:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        names = [sheet] if sheet else workbook.sheet_names
        if sheet and sheet not in workbook.sheet_names:
            raise FileRejected(path, f"no sheet named {sheet!r} (sheets: {', '.join(workbook.sheet_names)})")
        rows: list[list] = []
        chosen = None
        for name in names:
            rows = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
            if any(any(xlsx_cell_text(v).strip() for v in row) for row in rows[:1]):
                chosen = name
                break
    except CalamineError as error:
        raise FileRejected(path, f"unreadable XLSX (damaged or password-protected): {error}") from None
    except (ValueError, OSError) as error:
        raise FileRejected(path, f"unreadable XLSX: {error}") from None
    if chosen is None:
        raise FileRejected(path, "no sheet with a header row")
    headers = [xlsx_cell_text(v).strip() for v in rows[0]]
    while headers and not headers[-1]:
        headers.pop()
    width = len(headers)
    frame = pd.DataFrame(rows[1:], dtype=object)
    cells = {f"c{i}": frame[i].map(xlsx_cell_text) if i in frame else "" for i in range(width)}
    beyond = [frame[i].map(xlsx_cell_text) for i in frame.columns if i >= width]
    extra = functools.reduce(operator.add, beyond) if beyond else None
    staged = pd.DataFrame(cells, index=frame.index)
    staged[f"c{width}"] = extra.where(extra != "", None) if extra is not None else None
    staged.insert(0, "row_number", range(2, len(staged) + 2))
    staged = staged.astype({f"c{i}": "object" for i in range(width + 1)})
    con.register("xlsx_rows", staged)
    try:
        types = ", ".join(f"c{i}::VARCHAR AS c{i}" for i in range(width + 1))
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT row_number::BIGINT AS row_number, {types} "
            "FROM xlsx_rows ORDER BY row_number"
        )
    finally:
        con.unregister("xlsx_rows")
    return StagedFile(headers=headers, encoding="xlsx", file_format="xlsx", sheet=chosen)
