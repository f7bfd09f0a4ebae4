"""Materialization metadata shared by every area."""

import dagster as dg
import pandas as pd


def markdown_table(rows: list[dict]) -> dg.MetadataValue:
    return dg.MetadataValue.md(pd.DataFrame(rows).to_markdown(index=False) if rows else "(no rows)")


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
