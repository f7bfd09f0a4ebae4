"""Read a customer file into DuckDB as text cells, one row per record.

CSV: one streaming pass decodes the file (UTF-8, GB18030 or Big5; DuckDB has no encodings
extension here), unifies line endings and marks blank lines, writing a UTF-8 copy that DuckDB's
CSV reader then loads. DuckDB drops blank lines, but a spreadsheet shows them as rows, so the
pass turns each into a one-cell marker record: row numbers stay those a spreadsheet shows.

XLSX: python-calamine reads the first non-empty sheet (or the one named), in a child process
(``cdp_pipeline.xlsx_reader``) after the workbook's ZIP and XML were checked (``xlsx_guard``):
a native crash there is reported as the file's fault, never ends the import unreported.

Either way the result is a table ``file_rows(row_number, c0 .. cN)`` where N is the header's
width: ``cN`` is a sentinel that is only filled when a record has more cells than the header,
and padded cells are NULL while empty cells are '' — so malformed rows are visible in SQL.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from cdp_pipeline import settings
from cdp_pipeline.catalogue import header_key
from cdp_pipeline.errors import FileRejected, environment_fault, first_line
from cdp_pipeline.line_encodings import (
    binary_reason,
    census,
    is_text_in_no_encoding,
    legacy_looking_lines,
    line_at,
    mixed_reason,
    non_ascii_lines,
    not_utf8_reason,
    utf8_looking_lines,
)
from cdp_pipeline.xlsx_reader import width_reason
from cdp_pipeline.xlsx_reader import xlsx_cell_text as xlsx_cell_text  # the cell rules live with the reader
from cdp_pipeline.xlsx_reader import xlsx_column_text as xlsx_column_text

CHUNK_BYTES = 1 << 20
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")  # compound file: encrypted OOXML or legacy .xls
XLSX_SUFFIXES = (".xlsx", ".xlsm")
# DuckDB plans a projection of N columns in time that grows as N squared (seconds at 2,000
# columns, minutes at 10,000): a wider file is refused rather than left to stall the pipeline.
MAX_COLUMNS = 1_000
UNCLOSED_QUOTE = 'a quote (") opened here is never closed, so the lines after it would be read as one cell'
BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"\x7fELF": "an executable",
    b"MZ": "an executable",
    b"\x1f\x8b": "a gzip archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"Rar!": "a RAR archive",
    b"SQLite format 3": "an SQLite database",
}
BLANK_LINE_MARKER = "\x02"
PADDING_NULL = "\x01"  # never in real data: lets '' (empty cell) differ from NULL (missing cell)
CODECS = {"utf-8": "utf-8-sig", "gb18030": "gb18030", "big5": "big5hkscs", "utf-16": "utf-16"}
_NEWLINE_BEFORE_BLANK = re.compile(r"\n(?=\n)")
CSV_DELIMITERS = (",", "\t", ";")
SEP_LINE = re.compile(r"sep=([,;\t|])", re.IGNORECASE)
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
        return handle.read(4) == ZIP_MAGIC


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
    with path.open("rb") as handle:
        head = handle.read(CHUNK_BYTES)
    if head.startswith(OLE_MAGIC):
        raise FileRejected(path, _ole_reason(path))
    if head.startswith(ZIP_MAGIC) or path.suffix.lower() in XLSX_SUFFIXES:
        if not head.startswith(ZIP_MAGIC):
            raise FileRejected(path, f"not an XLSX workbook (named {path.suffix}, but not a ZIP-based Office file)")
        return _stage_xlsx(con, path, table, work_dir, sheet)
    if sheet:
        raise FileRejected(path, f"--sheet {sheet!r} given, but this is a CSV file, which has no sheets")
    check_text(path, head)
    return _stage_csv(con, path, table, work_dir, known_headers, encoding)


def check_width(path: Path, headers: list[str]) -> None:
    if len(headers) > MAX_COLUMNS:
        raise FileRejected(path, width_reason(len(headers), MAX_COLUMNS))


def _ole_reason(path: Path) -> str:
    """An OLE compound file is an encrypted (password-protected) workbook or a legacy .xls/.doc."""
    marker = "EncryptedPackage".encode("utf-16-le")
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            if marker in tail + chunk:
                return (
                    "password-protected (encrypted) workbook: remove the password in Excel "
                    "(File > Info > Protect Workbook > Encrypt with Password), save and import again"
                )
            tail = chunk[-len(marker) :]
    return "a legacy Office file (OLE, e.g. Excel 97-2003 .xls), not XLSX or CSV: save it as .xlsx or CSV UTF-8"


def check_text(path: Path, head: bytes) -> None:
    """Refuse what is not text in any encoding we read, whatever encoding was declared."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise FileRejected(path, "UTF-32 text is not supported: save the file as CSV UTF-8")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" not in head:
        return
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if max(even, odd) > len(head) // 4 and min(even, odd) < max(even, odd) // 8:
        raise FileRejected(path, "looks like UTF-16 text without a byte-order mark (BOM): save the file as CSV UTF-8")
    kind = next((name for magic, name in BINARY_MAGIC.items() if head.startswith(magic)), None)
    raise FileRejected(path, f"binary content (NUL bytes{f'; {kind}' if kind else ''}): not a CSV text file")


# --- CSV ---------------------------------------------------------------------------------


def detect_encoding(path: Path, known_headers: frozenset[str]) -> str:
    """BOM or valid UTF-8 → utf-8; otherwise the Chinese codec whose header names are known
    (``known_headers`` holds ``header_key`` forms), then whose text reads as common Chinese."""
    with path.open("rb") as handle:
        head = handle.read(CHUNK_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    check_text(path, head)
    if _decodes(path, "utf-8") and _all_utf8_text(path, head.startswith(codecs.BOM_UTF8)):
        return "utf-8"
    if head.startswith(codecs.BOM_UTF8):
        raise FileRejected(path, mixed_reason(census(path, "gb18030", CHUNK_BYTES), "gb18030", utf8_file=True))
    sample = head[: head.rfind(b"\n") + 1] or head
    header_line = re.split(rb"[\r\n]", sample, maxsplit=1)[0]  # CR-only files too

    def score(name: str) -> tuple[int, int, int]:
        """Known headers, then common characters (names, places), then fewest decoding errors."""
        header = next(csv.reader([header_line.decode(CODECS[name], errors="replace")]), [])
        known = sum(header_key(c) in known_headers for c in header)
        text = sample.decode(CODECS[name], errors="replace")
        return known, sum(text.count(c) for c in COMMON_CHINESE), -text.count("\ufffd")

    legacy = max(("gb18030", "big5"), key=score)
    check_one_encoding(path, legacy)
    return legacy


def _all_utf8_text(path: Path, bom: bool) -> bool:
    """A valid UTF-8 file is UTF-8 text unless lines of it are GBK/Big5 text that happens to be
    valid UTF-8 (``legacy_looking_lines``): a few such lines are pasted rows, refused (a file
    with a BOM is UTF-8 whatever it holds); when every non-ASCII line is such, the file is not
    UTF-8 at all and the legacy codec reads it."""
    pasted = legacy_looking_lines(path, CHUNK_BYTES)
    if not pasted.count:
        return True
    if bom or non_ascii_lines(path, CHUNK_BYTES) > pasted.count:
        raise FileRejected(path, not_utf8_reason(pasted))
    return False


def check_one_encoding(path: Path, legacy: str) -> None:
    """Refuse a file detected as ``legacy`` (not valid UTF-8) whose lines are not all in one
    encoding: read whole as GB18030, the UTF-8 lines of such a file would be stored as mojibake."""
    if utf8_looking_lines(path, legacy, CHUNK_BYTES).count:
        raise FileRejected(path, mixed_reason(census(path, legacy, CHUNK_BYTES), legacy))


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


@dataclass(frozen=True)
class NormalizedText:
    """What the normalising pass counted: blank-line markers written and quote characters seen."""

    markers: int
    quotes: int


_CR_TO_LF = bytes.maketrans(b"\r", b"\n")
_LONE_CR = re.compile(rb"\r(?!\n)")


def _lf_bytes(raw: bytes) -> bytes:
    """Every line break as LF, on bytes. When every CR is a CRLF's (a Windows export), deleting
    the CRs is that and costs half a ``replace(b"\\r\\n", b"\\n")`` (a byte-table translate,
    0.35 s against 0.65 s for 228 MB); otherwise CRLFs are replaced, then lone CRs translated."""
    if b"\r" not in raw:
        return raw
    if not _LONE_CR.search(raw):
        return raw.translate(None, b"\r")
    return raw.replace(b"\r\n", b"\n").translate(_CR_TO_LF)


def _marked(part: str, first: bool) -> str:
    """``part`` (whole lines) with each blank line as a marker record; the regex only runs when
    there is a blank line to mark."""
    marked = _NEWLINE_BEFORE_BLANK.sub("\n" + BLANK_LINE_MARKER, part) if "\n\n" in part else part
    if marked.startswith("\n") and not first:
        marked = BLANK_LINE_MARKER + marked
    return marked


def write_normalized_csv(src: Path, dst: Path, encoding: str) -> NormalizedText:
    """Stream ``src`` to UTF-8 ``dst`` with ``\\n`` line ends and blank lines marked.

    UTF-8, GB18030 and Big5 never use 0x0A or 0x0D inside a character, and neither is a valid
    trail byte, so line ends are unified on the bytes before decoding (same text, same errors)
    and no line is counted: a file that fails to decode is read again by the line-counting pass
    (``_write_normalized_counting``), which names the byte and line exactly."""
    if encoding == "utf-16":
        return _write_normalized_counting(src, dst, encoding)
    decoder = codecs.getincrementaldecoder(CODECS[encoding])(errors="strict")
    carry = ""
    first = True
    markers = quotes = 0
    pending = b""
    with src.open("rb") as source, dst.open("w", encoding="utf-8", newline="") as out:
        while True:
            chunk = source.read(CHUNK_BYTES)
            raw = pending + chunk
            # A CR ending a chunk may be a CRLF's first half: it waits for the next chunk.
            pending = b"\r" if chunk and raw.endswith(b"\r") else b""
            try:
                text = carry + decoder.decode(_lf_bytes(raw[: len(raw) - len(pending)]), final=not chunk)
            except UnicodeDecodeError:
                break
            cut = len(text) if not chunk else text.rfind("\n") + 1  # the end, or after the last LF
            if not cut and chunk:
                carry = text
                continue
            part, carry = text[:cut], text[cut:]
            if first:
                part = part.lstrip("\n")
            marked = _marked(part, first)
            first = first and not part
            markers += marked.count(BLANK_LINE_MARKER)
            quotes += part.count('"')
            out.write(marked)
            if not chunk:
                return NormalizedText(markers, quotes)
    return _write_normalized_counting(src, dst, encoding)  # raises FileRejected, naming byte and line


def _write_normalized_counting(src: Path, dst: Path, encoding: str) -> NormalizedText:
    """``write_normalized_csv`` on decoded text, counting lines as it goes: for UTF-16 (whose
    characters hold 0x0A and 0x0D bytes) and to say where a file stops decoding."""
    decoder = codecs.getincrementaldecoder(CODECS[encoding])(errors="strict")
    offset = 0
    lines = 1
    carry = ""
    first = True
    markers = quotes = 0
    with src.open("rb") as source, dst.open("w", encoding="utf-8", newline="") as out:

        def emit(part: str) -> None:
            nonlocal first, markers, quotes
            part = part.replace("\r\n", "\n").replace("\r", "\n")
            if first:
                part = part.lstrip("\n")
            marked = _NEWLINE_BEFORE_BLANK.sub("\n" + BLANK_LINE_MARKER, part)
            if marked.startswith("\n") and not first:
                marked = BLANK_LINE_MARKER + marked
            first = first and not part
            markers += marked.count(BLANK_LINE_MARKER)
            quotes += part.count('"')
            out.write(marked)

        ended_in_cr = False
        while True:
            chunk = source.read(CHUNK_BYTES)
            # A CRLF split between two chunks is one line break, not two.
            split_crlf = ended_in_cr and chunk.startswith(b"\n")
            try:
                text = carry + decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                line = lines + _line_breaks(chunk[: max(error.start, 0)]) - (split_crlf and error.start > 0)
                raise FileRejected(src, _undecodable_reason(src, encoding, offset + error.start, line)) from None
            offset += len(chunk)
            lines += _line_breaks(chunk) - split_crlf
            ended_in_cr = chunk.endswith(b"\r")
            if not chunk:
                emit(text)
                return NormalizedText(markers, quotes)
            cut = text.rfind("\n")
            if cut < 0 or text.endswith("\r"):
                carry = text
                continue
            emit(text[: cut + 1])
            carry = text[cut + 1 :]


def _undecodable_reason(path: Path, encoding: str, byte: int, line: int) -> str:
    """Why the file cannot be read as ``encoding`` from ``byte`` on: bytes that are text in no
    encoding are binary content (or damage), whatever encoding was chosen; otherwise another
    encoding may read it."""
    if is_text_in_no_encoding(line_at(path, line, CHUNK_BYTES)):
        return binary_reason(byte, line)
    return (
        f"not valid {encoding.upper()} at byte {byte} (line {line}); "
        "choose the file's encoding with --encoding utf-8|gb18030|big5"
    )


def plain_utf8_counts(path: Path, validated: bool = False) -> NormalizedText | None:
    """What ``write_normalized_csv`` would count for a file it would copy unchanged (UTF-8
    without a BOM, ``\n`` line ends, no blank line, none leading); None for any other file.
    Such a file (most exports) is read where it is, saving a copy of the whole file.
    ``validated``: the file was just decoded whole as UTF-8 (``detect_encoding``), so it is not
    decoded a second time (0.25 s of a 1M-row file)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    quotes = 0
    last = b"\n"  # as if a line ended before the file: a leading blank line is then "\n\n"
    try:
        with path.open("rb") as handle:
            if handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8:
                return None
            handle.seek(0)
            while chunk := handle.read(CHUNK_BYTES):
                if b"\r" in chunk or b"\n\n" in last + chunk:
                    return None
                if not validated:
                    decoder.decode(chunk)
                quotes += chunk.count(b'"')
                last = chunk[-1:]
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    return NormalizedText(0, quotes)


def _line_breaks(data: bytes) -> int:
    """Line breaks in raw bytes (CRLF, LF or CR; GB18030 and Big5 never use 0x0A/0x0D in a character)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def check_declared_encoding(path: Path, encoding: str) -> None:
    """A file declared GB18030 or Big5 whose non-ASCII text is valid UTF-8 is UTF-8: reading it
    as declared would import mojibake, so it is refused."""
    if encoding not in ("gb18030", "big5"):
        return
    with path.open("rb") as handle:
        head = handle.read(CHUNK_BYTES)
    if head.isascii():
        return
    try:
        codecs.getincrementaldecoder("utf-8")(errors="strict").decode(head, final=False)
    except UnicodeDecodeError:
        return
    raise FileRejected(
        path,
        f"declared {encoding.upper()} but the text is UTF-8 (read as {encoding.upper()} it would be mojibake); "
        "use --encoding utf-8 or auto",
    )


@dataclass(frozen=True)
class CsvLayout:
    """How a CSV file's text is split: its delimiter and the lines before its header."""

    delimiter: str
    skip_lines: int = 0


def read_header(path: Path, layout: CsvLayout) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        for _ in range(layout.skip_lines):
            handle.readline()
        return next(csv.reader(handle, delimiter=layout.delimiter), [])


def header_delimiter(line: str) -> str:
    """The delimiter that splits the header line into the most cells: a comma, a tab, or a
    semicolon (what Excel writes as "CSV" where the decimal separator is a comma); on a tie the
    earlier one. A tab file whose header names hold a comma (地址(省,市)) stays a tab file."""

    def cells(delimiter: str) -> int:
        return len(next(csv.reader([line], delimiter=delimiter), []))

    return max(CSV_DELIMITERS, key=cells)


def sniff_layout(path: Path) -> CsvLayout:
    """The delimiter from the header line; Excel's ``sep=;`` first line (written by exporters so
    that Excel splits the columns, and hidden by Excel) names it and is not part of the data."""
    with path.open(encoding="utf-8", newline="") as handle:
        first = handle.readline()
        declared = SEP_LINE.fullmatch(first.rstrip("\n"))
        if declared:
            return CsvLayout(declared.group(1), skip_lines=1)
    return CsvLayout(header_delimiter(first))


def _stage_csv(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, work_dir: Path, known_headers: frozenset[str], encoding: str
) -> StagedFile:
    chosen = detect_encoding(path, known_headers) if encoding == "auto" else encoding
    check_declared_encoding(path, encoding)
    work_dir.mkdir(parents=True, exist_ok=True)
    normalized = work_dir / f"{table.replace('.', '_').replace(chr(34), '')}.csv"
    # Detection answers utf-8 only for a file it decoded whole as UTF-8.
    plain = plain_utf8_counts(path, validated=encoding == "auto") if chosen == "utf-8" else None
    counted = NormalizedText(0, 0)
    try:
        counted = plain or write_normalized_csv(path, normalized, chosen)
        readable = path if plain else normalized
        layout = sniff_layout(readable)
        headers = read_header(readable, layout)
        if not any(h.strip() for h in headers):
            raise FileRejected(path, "no header row")
        check_width(path, headers)
        columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(headers) + 1))
        parameters = {
            "path": str(readable), "delim": layout.delimiter, "skip": layout.skip_lines, "padding": PADDING_NULL
        }
        for parallel in ("true", "false"):
            try:
                con.execute(
                    f"""
                    CREATE OR REPLACE TABLE {table} AS
                    SELECT row_number() OVER () AS row_number, *
                    FROM read_csv($path, header = false, auto_detect = false, all_varchar = true,
                                  null_padding = true, strict_mode = false, parallel = {parallel},
                                  delim = $delim, skip = $skip, quote = '"', escape = '"', new_line = '\\n',
                                  nullstr = $padding, max_line_size = 268435456,
                                  columns = {{{columns}}})
                    """,
                    parameters,
                )
                break
            except duckdb.Error as error:
                # DuckDB's parallel scanner refuses null_padding with a quoted newline (and any
                # error's line may be approximate there): the sequential reader, as before this
                # lever, then reads the file or says exactly where and why it cannot. Row order
                # is the file's either way (the row_number window keeps its input's order).
                if parallel == "false" or environment_fault(error):
                    raise
    except duckdb.Error as error:
        if fault := environment_fault(error):  # a full disk is no fault of the file
            raise fault from None
        found = re.search(r"on Line: (\d+)", str(error))
        if counted.quotes % 2 and found:
            raise FileRejected(path, f"row {found.group(1)}: {UNCLOSED_QUOTE}") from None
        raise FileRejected(path, f"unreadable CSV: {first_line(error)}") from None
    finally:
        normalized.unlink(missing_ok=True)
    headers = [h.strip() for h in headers]
    if counted.quotes % 2:
        _refuse_unclosed_quote(con, path, table, headers)
    _drop_header_and_markers(con, table, len(headers), counted.markers)
    return StagedFile(headers=headers, encoding=chosen, file_format="csv")


def cell_list(width: int) -> str:
    """The staged cells c0 .. c{width-1} as one SQL list expression."""
    return "[" + ", ".join(f"c{i}" for i in range(width)) + "]"


def cell_parts(width: int) -> dict[str, str]:
    """The SQL parts a staged file's cleaning reads its cells through (``render_sql``): all
    cells as a list, the last one, the overflow column and the first cell not empty text."""
    return {
        "raw_cells": cell_list(width),
        "last_cell": f"c{width - 1}",
        "overflow_cell": f"c{width}",
        "first_filled_cell": "coalesce(" + ", ".join(f"nullif(c{i}, '')" for i in range(width)) + ")",
    }


def _refuse_unclosed_quote(con: duckdb.DuckDBPyConnection, path: Path, table: str, headers: list[str]) -> None:
    """An odd number of quotes and a last record holding a line break: a quote opened there was
    never closed, so the rest of the file became one cell. Refuse rather than lose those rows.
    (A stray quote inside an unquoted cell also makes the count odd: then a file whose last record
    has a multi-line cell is refused too, a rare false alarm that loses nothing.)"""
    last = con.execute(f"SELECT row_number, {cell_list(len(headers))} FROM {table} ORDER BY row_number DESC LIMIT 1")
    row_number, cells = last.fetchone()
    column = next((i for i, cell in enumerate(cells) if cell and "\n" in cell), None)
    if column is None:
        return
    name = headers[column] or f"column {column + 1}"
    raise FileRejected(path, f"row {row_number}, column {name!r}: {UNCLOSED_QUOTE}")


def _drop_header_and_markers(con: duckdb.DuckDBPyConnection, table: str, width: int, markers: int) -> None:
    """Row 1 is the header; a marker record is a blank line, kept as an all-empty row; a marker
    inside a quoted cell (a blank line in a multi-line cell) is removed again.

    Statements touch only the rows and columns concerned: an expression per column over the whole
    table costs DuckDB quadratic time in the number of columns (minutes at 10,000 columns)."""
    con.execute(f"DELETE FROM {table} WHERE row_number = 1")
    if not markers:
        return
    blank = "c0 = chr(2) AND c1 IS NULL"
    blank_lines = con.execute(f"SELECT count(*) FROM {table} WHERE {blank}").fetchone()[0]
    if blank_lines:
        cleared = ", ".join(f"c{i} = ''" for i in range(width))
        con.execute(f"UPDATE {table} SET {cleared}, c{width} = NULL WHERE {blank}")
    if markers == blank_lines:
        return
    marker = "chr(10) || chr(2)"
    affected = con.execute(
        f"""
        SELECT DISTINCT unnest(list_filter(range(len(cells)), lambda i: contains(cells[i + 1], {marker})))
        FROM (SELECT {cell_list(width)} AS cells FROM {table})
        """
    ).fetchall()
    for (column,) in affected:
        con.execute(
            f"UPDATE {table} SET c{column} = replace(c{column}, {marker}, chr(10)) WHERE contains(c{column}, {marker})"
        )


# --- XLSX --------------------------------------------------------------------------------


def _xlsx_reader_environment() -> dict[str, str]:
    """The child's environment: this package importable wherever the parent found it."""
    root = str(Path(__file__).resolve().parent.parent)
    python_path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, python_path] if python_path else [root])}


def _crash_reason(signal_number: int, stderr: str) -> str:
    try:
        name = signal.Signals(signal_number).name
    except ValueError:
        name = "unknown signal"
    cause = next((line.strip() for line in stderr.splitlines() if line.strip()), "no message")
    return f"the XLSX reader crashed on this workbook (signal {signal_number}, {name}): {cause[:300]}"


def _read_xlsx_in_child(path: Path, sheet: str | None, out: Path) -> dict:
    """Run ``cdp_pipeline.xlsx_reader`` on the workbook: its answer, or FileRejected when the
    native reader ended the child (a signal). The parent lives on to clean the staging up."""
    request = {
        "path": str(path.resolve()),
        "sheet": sheet,
        "out": str(out),
        "max_columns": MAX_COLUMNS,
        "limits": dataclasses.asdict(settings.XLSX_LIMITS),
    }
    result = subprocess.run(
        [sys.executable, "-m", "cdp_pipeline.xlsx_reader"],
        input=json.dumps(request),
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        env=_xlsx_reader_environment(),
        check=False,
    )
    if result.returncode < 0:
        raise FileRejected(path, _crash_reason(-result.returncode, result.stderr))
    if result.returncode != 0 or not result.stdout.strip():
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"the XLSX reader failed (exit {result.returncode}) on {path.name}: {last}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _stage_xlsx(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, work_dir: Path, sheet: str | None
) -> StagedFile:
    work_dir.mkdir(parents=True, exist_ok=True)
    out = work_dir / f"{table.replace('.', '_').replace(chr(34), '')}.arrow"
    try:
        answer = _read_xlsx_in_child(path, sheet, out)
        if "rejected" in answer:
            raise FileRejected(path, answer["rejected"])
        with pa.memory_map(str(out)) as source:
            con.register("xlsx_rows", pa.ipc.open_file(source).read_all())
            try:
                width = len(answer["headers"])
                types = ", ".join(f"c{i}::VARCHAR AS c{i}" for i in range(width + 1))
                con.execute(
                    f"CREATE OR REPLACE TABLE {table} AS SELECT row_number::BIGINT AS row_number, {types} "
                    "FROM xlsx_rows ORDER BY row_number"
                )
            finally:
                con.unregister("xlsx_rows")
    finally:
        out.unlink(missing_ok=True)
    return StagedFile(headers=answer["headers"], encoding="xlsx", file_format="xlsx", sheet=answer["sheet"])
