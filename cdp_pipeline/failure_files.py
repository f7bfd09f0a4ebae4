"""Failure files: the original cells of every failed row plus its reason, for Excel users.

CSV is UTF-8 with a BOM (so Excel opens Chinese text correctly); XLSX is written with
xlsxwriter's constant-memory mode. Both are written to a temporary name and renamed, owner-only
(0600) whatever the umask, and replace an existing file only when asked (``overwrite``).

The warehouse keeps every cell as the file had it (``import_failures.raw``); what a spreadsheet
would run as a formula (a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) is written after a ``'`` by the ``excel_safe`` macro, cell by cell in SQL, and header names
by ``excel_safe`` here. Header text never becomes SQL: cells are selected by position as c0..cN
and the header row is written separately.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import shutil
from pathlib import Path

import duckdb

from cdp_pipeline.faults import fault_point
from cdp_pipeline.owner_only import make_owner_folder, open_owner_file, owner_only_umask, publish, temporary_beside

EXTRA_COLUMNS = ("row_number", "reason_code", "reason")
# The same rule as the excel_safe macro in sql/warehouse/macros.sql (tests check that they agree).
_FORMULA_START = re.compile(r"[=+\-@\t\r\uff1d\uff0b\uff0d\uff20]")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def excel_safe(text: str) -> str:
    """``text`` as a spreadsheet shows it but never runs it: a formula-like start gets a ``'``."""
    if _FORMULA_START.match(text) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def failure_columns(headers: list[str]) -> list[str]:
    """Output column names: the file's headers (blank or repeated ones made unique, formula-like
    ones escaped), then ours."""
    names: list[str] = []
    taken = set(EXTRA_COLUMNS)  # a set: a list lookup per header is quadratic in thousands of repeated headers
    for position, header in enumerate(headers):
        name = excel_safe(header) or f"column_{position + 1}"
        while name in taken:
            name = f"{name}_{position + 1}"
        names.append(name)
        taken.add(name)
    return [*names, *EXTRA_COLUMNS]


def failure_rows_sql(headers: list[str], file_role: str | None = None) -> str:
    """SELECT of a batch's failures ($batch_id) of one file ($file_role: NULL for the main one, or
    e.g. 'items'): the original cells, escaped for spreadsheets, as c0..cN, then our columns."""
    ours = ["row_number", "reason_code", "reason"]
    # excel_safe runs once, over the list of cells: a macro per column costs DuckDB time that grows
    # as the square of the columns (14 s at 150 columns, out of memory at 1,000); list items are cheap
    inner = ["list_transform(CAST(raw AS VARCHAR[]), lambda cell: excel_safe(cell)) AS cells", *ours]
    outer = [*(f"cells[{i + 1}] AS c{i}" for i in range(len(headers))), *ours]
    return (
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM import_failures "
        "WHERE batch_id = $batch_id AND file_role IS NOT DISTINCT FROM $file_role) ORDER BY row_number"
    )


def csv_line(cells: list[str]) -> str:
    """One CSV record ending in \\n, quoted as DuckDB quotes its rows (a cell holding a quote, a
    comma, \\n or \\r is quoted)."""
    line = io.StringIO()
    csv.writer(line, lineterminator="\r\n").writerow(cells)
    return line.getvalue()[:-2] + "\n"


def write_failure_csv(
    con: duckdb.DuckDBPyConnection,
    batch_id: str,
    headers: list[str],
    target: Path,
    file_role: str | None = None,
    overwrite: bool = True,
) -> Path:
    """The failure CSV (0600) at ``target``; an existing ``target`` is replaced only with
    ``overwrite``. No temporary file outlives the call (a SIGKILL's are removed by the next batch)."""
    make_owner_folder(target.parent)
    plain, with_bom = temporary_beside(target, "plain"), temporary_beside(target)
    try:
        with owner_only_umask():  # DuckDB creates the file
            con.execute(
                f"COPY ({failure_rows_sql(headers, file_role)}) TO $path (FORMAT csv, HEADER false)",
                {"batch_id": batch_id, "file_role": file_role, "path": str(plain)},
            )
        fault_point("mid_failure_file")
        with plain.open("rb") as source, open_owner_file(with_bom) as out:
            out.write(codecs.BOM_UTF8)
            out.write(csv_line(failure_columns(headers)).encode("utf-8"))
            shutil.copyfileobj(source, out)
        return publish(with_bom, target, overwrite)
    finally:
        plain.unlink(missing_ok=True)
        with_bom.unlink(missing_ok=True)


def write_failure_xlsx(
    con: duckdb.DuckDBPyConnection,
    batch_id: str,
    headers: list[str],
    target: Path,
    file_role: str | None = None,
    overwrite: bool = True,
) -> Path:
    """The failure workbook (0600) at ``target``, as ``write_failure_csv`` writes the CSV."""
    import xlsxwriter

    make_owner_folder(target.parent)
    temporary = temporary_beside(target)
    try:
        with open_owner_file(temporary) as out, owner_only_umask():  # its worksheet scratch files too
            workbook = xlsxwriter.Workbook(
                out,
                {
                    "constant_memory": True,
                    "strings_to_formulas": False,
                    "strings_to_numbers": False,
                    "strings_to_urls": False,
                },
            )
            sheet = workbook.add_worksheet("failures")
            sheet.write_row(0, 0, failure_columns(headers))
            cursor = con.execute(failure_rows_sql(headers, file_role), {"batch_id": batch_id, "file_role": file_role})
            row_index = 1
            while rows := cursor.fetchmany(10_000):
                for row in rows:
                    sheet.write_row(row_index, 0, row)
                    row_index += 1
            workbook.close()
        return publish(temporary, target, overwrite)
    finally:
        temporary.unlink(missing_ok=True)
