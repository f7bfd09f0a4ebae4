"""Failure files: the original cells of every failed row plus its reason, for Excel users.

CSV is UTF-8 with a BOM (so Excel opens Chinese text correctly); XLSX is written with
xlsxwriter's constant-memory mode. Both are written to a temporary name and renamed.
"""

from __future__ import annotations

import codecs
import shutil
from pathlib import Path

import duckdb

from cdp_pipeline.warehouse import quote_ident

EXTRA_COLUMNS = ("row_number", "reason_code", "reason")


def failure_columns(headers: list[str]) -> list[str]:
    """Output column names: the file's headers (blank or repeated ones made unique), then ours."""
    names: list[str] = []
    for position, header in enumerate(headers):
        name = header or f"column_{position + 1}"
        while name in names or name in EXTRA_COLUMNS:
            name = f"{name}_{position + 1}"
        names.append(name)
    return [*names, *EXTRA_COLUMNS]


def failure_rows_sql(headers: list[str], file_role: str | None = None) -> str:
    """SELECT of a batch's failures ($batch_id) of one file (the main one, or e.g. 'items')."""
    names = failure_columns(headers)
    cells = [f"raw->>{i} AS {quote_ident(name)}" for i, name in enumerate(names[: len(headers)])]
    return (
        f"SELECT {', '.join(cells)}, row_number, reason_code, reason "
        "FROM import_failures WHERE batch_id = $batch_id AND file_role IS NOT DISTINCT FROM $file_role "
        "ORDER BY row_number"
    )


def write_failure_csv(
    con: duckdb.DuckDBPyConnection, batch_id: str, headers: list[str], target: Path, file_role: str | None = None
) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    plain = target.with_name(f".{target.name}.plain.tmp")
    with_bom = target.with_name(f".{target.name}.tmp")
    con.execute(
        f"COPY ({failure_rows_sql(headers, file_role)}) TO '{_path_literal(plain)}' (FORMAT csv, HEADER true)",
        {"batch_id": batch_id, "file_role": file_role},
    )
    with plain.open("rb") as source, with_bom.open("wb") as out:
        out.write(codecs.BOM_UTF8)
        shutil.copyfileobj(source, out)
    plain.unlink()
    with_bom.replace(target)
    return target


def write_failure_xlsx(con: duckdb.DuckDBPyConnection, batch_id: str, headers: list[str], target: Path) -> Path:
    import xlsxwriter

    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    workbook = xlsxwriter.Workbook(
        str(temporary),
        {"constant_memory": True, "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False},
    )
    sheet = workbook.add_worksheet("failures")
    sheet.write_row(0, 0, failure_columns(headers))
    cursor = con.execute(failure_rows_sql(headers), {"batch_id": batch_id, "file_role": None})
    row_index = 1
    while rows := cursor.fetchmany(10_000):
        for row in rows:
            sheet.write_row(row_index, 0, row)
            row_index += 1
    workbook.close()
    temporary.replace(target)
    return target


def _path_literal(path: Path) -> str:
    return str(path).replace("'", "''")
