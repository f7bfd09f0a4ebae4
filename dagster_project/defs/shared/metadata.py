"""Materialization metadata shared by every area."""

import dagster as dg
import pandas as pd

from cdp_pipeline.masking import mask_text, preview_rows
from cdp_pipeline.warehouse import quote_ident


def markdown_table(rows: list[dict]) -> dg.MetadataValue:
    """Rows (a preview) as a Markdown table; whatever still looks like a mobile, an email or an
    openid (a customer ID that is a mobile, a name that is an email) is masked, and a long cell is
    cut to the preview width (masking.preview_cell)."""
    if not rows:
        return dg.MetadataValue.md("(no rows)")
    return dg.MetadataValue.md(mask_text(pd.DataFrame(preview_rows(rows)).to_markdown(index=False)))


def column_names(names: list[str]) -> str:
    """A file's column names for metadata, masked like cells (a data row above the header makes
    mobiles and emails column names); "-" for none."""
    return mask_text(", ".join(names)) or "-"


PREVIEW_ROWS = 5
# Columns no preview shows: a failed row's original cells and a file's header row hold personal
# data that no mask recognises (a mobile with a digit too many is no mobile to mask_text).
PREVIEW_HIDDEN_COLUMNS = frozenset({"raw", "headers"})


def table_materializations(con, tables: tuple[str, ...], batch_id: str) -> list[dg.AssetMaterialization]:
    """A materialization of each warehouse table a batch wrote: its row count after the batch,
    its columns, the batch and a masked preview of rows the batch wrote (of any rows when the
    table has no batch column)."""
    if not tables:
        return []
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = 'main' AND list_contains($t, table_name) "
        "ORDER BY table_name, ordinal_position",
        {"t": list(tables)},
    ).fetchall():
        columns.setdefault(table, []).append((column, data_type))
    counts = dict(
        con.execute(" UNION ALL ".join(f"SELECT '{t}', count(*) FROM {quote_ident(t)}" for t in tables)).fetchall()
    )
    events = []
    for table in tables:
        names = [name for name, _ in columns[table] if name not in PREVIEW_HIDDEN_COLUMNS]
        where = "WHERE batch_id = $b" if any(name == "batch_id" for name, _ in columns[table]) else ""
        cursor = con.execute(
            f"SELECT {', '.join(map(quote_ident, names))} FROM {quote_ident(table)} {where} LIMIT {PREVIEW_ROWS}",
            {"b": batch_id} if where else {},
        )
        rows = [{n: _cell(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]
        events.append(
            dg.AssetMaterialization(
                asset_key=table,
                metadata={
                    "dagster/row_count": counts[table],
                    "dagster/column_schema": dg.TableSchema(
                        columns=[dg.TableColumn(name, data_type) for name, data_type in columns[table]]
                    ),
                    "batch_id": batch_id,
                    "preview": markdown_table(rows),
                },
            )
        )
    return events


def _cell(value: object) -> object:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)
