"""Materialization metadata shared by every area."""

import dagster as dg
import pandas as pd


def markdown_table(rows: list[dict]) -> dg.MetadataValue:
    return dg.MetadataValue.md(pd.DataFrame(rows).to_markdown(index=False) if rows else "(no rows)")
