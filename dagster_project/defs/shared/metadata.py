"""Materialization metadata shared by every area."""

import dagster as dg
import pandas as pd

from cdp_pipeline.masking import mask_text, preview_rows


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


def table_results(tables: tuple[str, ...], summary: dict, row_counts: dict[str, int]):
    """One materialization per table a batch wrote, with the batch and the table's size."""
    for table in tables:
        yield dg.MaterializeResult(
            asset_key=table,
            metadata={
                "batch_id": summary["batch_id"],
                "status": summary["status"],
                "dagster/row_count": row_counts[table],
            },
        )
