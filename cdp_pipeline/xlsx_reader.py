"""Read a workbook's sheet into Arrow, in a process of its own (issue 14 item 7).

python-calamine is native code: a workbook it cannot cope with can end the process that reads
it (SIGABRT when an allocation fails) with no Python exception to catch, leaving the import's
staging behind. So ``readers`` runs this module as a child process::

    python -m cdp_pipeline.xlsx_reader < REQUEST.json

The child caps its own address space (``XlsxLimits.reader_memory_bytes``), checks the workbook
(``xlsx_guard``), reads the first sheet with a header (or the one asked for) and writes the
staged table ``row_number, c0 .. cN`` as an Arrow IPC file. It prints one JSON line: the
headers and sheet, or the reason the file is refused. A signal or a crash is the parent's to
report (``readers._stage_xlsx``). This module imports only what reading needs, so the child
starts in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import itertools
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from cdp_pipeline.errors import FileRejected, first_line
from cdp_pipeline.settings import XlsxLimits
from cdp_pipeline.xlsx_guard import check_workbook

# Excel keeps 15 significant digits: a whole number beyond 10^15 in a workbook may have lost its
# last digits (an 18-digit order id typed or converted to a number reads 351566893917062000, and
# a float cannot even hold 351566893917062563). Such a number is written as Excel shows it,
# 3.51566893917062e+17, never as digits that would pass for an id or a card number.
EXACT_WHOLE_NUMBER = 10**15


def xlsx_cell_text(value: object) -> str:
    """A cell as the text a person sees: 13800138000.0 → '13800138000', dates ISO, a number of
    more than 15 digits in scientific notation (its last digits are not known)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if not value.is_integer():
            return repr(value)
        return str(int(value)) if abs(value) <= EXACT_WHOLE_NUMBER else f"{value:.15g}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def xlsx_column_text(cells: list) -> pa.LargeStringArray:
    """A column of cells as Arrow text, each cell ``xlsx_cell_text(cell)``. A column of text and
    empty cells only (most of them) is converted by Arrow at once, empty cells then filled with
    ''; a column holding anything else (Arrow refuses numbers, dates and booleans as text; calamine
    yields no bytes) goes cell by cell."""
    try:
        column = pa.array(cells, type=pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Whole numbers (the other cells of most such columns) inline, as xlsx_cell_text writes them.
        exact = EXACT_WHOLE_NUMBER
        return pa.array(
            [
                v
                if type(v) is str
                else str(int(v))
                if type(v) is float and v.is_integer() and -exact <= v <= exact
                else xlsx_cell_text(v)
                for v in cells
            ],
            type=pa.large_string(),
        )
    return column.fill_null("") if column.null_count else column


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while calamine builds a list per row: those allocations
    trigger collections that rescan every row list made so far (half the conversion time), and
    lists of cell values never form cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _xlsx_columns(rows: list[list]) -> list[list[object]]:
    """The cells below the header, column by column (short rows padded with None)."""
    full = max(map(len, rows))
    if any(len(row) != full for row in rows):
        rows = [row + [None] * (full - len(row)) for row in rows]
    # Slicing one flat list is about ten times faster than transposing with zip(*rows).
    flat = list(itertools.chain.from_iterable(rows))
    return [flat[full + i :: full] for i in range(full)]


def _unreadable_xlsx(path: Path, error: BaseException) -> str:
    """Why calamine could not open a ZIP-based file: not a workbook at all, or a damaged one."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return f"unreadable XLSX (damaged or incomplete file): {first_line(error)}"
    if "xl/workbook.xml" not in names:
        return "a ZIP archive, not an XLSX workbook (no xl/workbook.xml): unzip it and import the file inside"
    return f"unreadable XLSX (damaged workbook): {first_line(error)}"


def width_reason(count: int, max_columns: int) -> str:
    return (
        f"{count:,} columns in the header row, more than the {max_columns:,} a customer file may have "
        "(is the file transposed, or split on the wrong delimiter?)"
    )


@dataclasses.dataclass(frozen=True)
class StagedSheet:
    table: pa.Table
    headers: list[str]
    sheet: str


def read_sheet(path: Path, sheet: str | None, max_columns: int) -> StagedSheet:
    """The first sheet with a header row (or ``sheet``) as ``row_number, c0 .. cN`` text columns:
    ``cN`` joins the cells beyond the header, NULL when there are none."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        names = [sheet] if sheet else workbook.sheet_names
        if sheet and sheet not in workbook.sheet_names:
            raise FileRejected(path, f"no sheet named {sheet!r} (sheets: {', '.join(workbook.sheet_names)})")
        rows: list[list] = []
        chosen = None
        for name in names:
            found = workbook.get_sheet_by_name(name)
            # The header row alone decides, so a sheet passed over is never converted whole.
            header = found.to_python(skip_empty_area=False, nrows=1)
            if any(any(xlsx_cell_text(v).strip() for v in row) for row in header):
                with _cyclic_gc_paused():
                    rows = found.to_python(skip_empty_area=False)
                chosen = name
                break
    except CalamineError as error:
        raise FileRejected(path, _unreadable_xlsx(path, error)) from None
    except (ValueError, OSError) as error:
        raise FileRejected(path, f"unreadable XLSX: {first_line(error)}") from None
    if chosen is None:
        raise FileRejected(path, f"sheet {sheet!r} has no header row" if sheet else "no sheet with a header row")
    headers = [xlsx_cell_text(v).strip() for v in rows[0]]
    while headers and not headers[-1]:
        headers.pop()
    if len(headers) > max_columns:
        raise FileRejected(path, width_reason(len(headers), max_columns))
    width = len(headers)
    # Trailing empty header cells are dropped, so there are at least `width` columns.
    columns = [xlsx_column_text(cells) for cells in _xlsx_columns(rows)]
    count = len(rows) - 1
    del rows
    if len(columns) > width:
        nothing = pa.scalar("", pa.large_string())
        extra = pc.binary_join_element_wise(*columns[width:], nothing)
        extra = pc.if_else(pc.equal(extra, nothing), pa.scalar(None, pa.large_string()), extra)
    else:
        extra = pa.nulls(count, pa.large_string())
    table = pa.table(
        [pa.array(range(2, count + 2), pa.int64()), *columns[:width], extra],
        names=["row_number", *(f"c{i}" for i in range(width + 1))],
    )
    return StagedSheet(table, headers, chosen)


def _cap_memory(limit: int) -> None:
    """Cap this process's data segment (heap and private mappings; Linux counts them since 4.7):
    an allocation beyond it fails here, not on the host. The address space would be a poor
    cap: allocators reserve several times what they use."""
    try:
        import resource
    except ImportError:  # not on POSIX: no cap
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


class _NoPandas:
    """An import finder that says pandas is not installed. pyarrow imports pandas on the first
    ``pa.array`` (to look for pandas objects among its arguments): half a second of the child's
    run for a module it never uses, since it converts lists of cells only."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"no pandas in the XLSX reader's process: {name}")


def main() -> int:
    """Serve one request (JSON on stdin: path, sheet, out, max_columns, limits); print one JSON line."""
    sys.meta_path.insert(0, _NoPandas())
    request = json.loads(sys.stdin.read())
    limits = XlsxLimits(**request["limits"])
    path = Path(request["path"])
    memory = limits.reader_memory_floor_bytes
    try:
        memory = limits.reader_memory(check_workbook(path, request["sheet"], limits).xml_bytes)
        _cap_memory(memory)
        staged = read_sheet(path, request["sheet"], request["max_columns"])
        with pa.OSFile(request["out"], "wb") as sink, pa.ipc.new_file(sink, staged.table.schema) as writer:
            writer.write_table(staged.table)
    except FileRejected as rejected:
        answer = {"rejected": rejected.reason}
    except MemoryError:
        answer = {
            "rejected": f"reading this workbook needs more memory than its content justifies ({memory >> 20:,} MiB)"
        }
    except BaseException as error:
        # A Rust panic inside calamine reaches Python as pyo3's PanicException: the workbook
        # made the native reader fail. Any other exception is a bug here, reported as one.
        if type(error).__name__ != "PanicException":
            raise
        answer = {"rejected": f"the XLSX reader failed on this workbook: {first_line(error)}"}
    else:
        answer = {"headers": staged.headers, "sheet": staged.sheet}
    print(json.dumps(answer))  # ASCII: whatever the locale's encoding
    return 0


if __name__ == "__main__":
    sys.exit(main())
