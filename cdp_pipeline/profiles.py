"""Each customer's purchase profile and the overview of the base (seed 001)."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pandas as pd

from cdp_pipeline.owner_only import make_owner_folder, open_owner_file, publish, temporary_beside
from cdp_pipeline.warehouse import sql_text

DIMENSIONS = ("value", "activity", "spending_power")


def customer_overview(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(dimension, bucket, customers): the value, activity and spending-power distributions.
    Buckets carry a sort prefix ("1 <=30d"); ``bucket_label`` drops it for display."""
    frame = con.execute(sql_text("customer_overview")).df()
    frame["bucket"] = frame["bucket"].str.split(" ", n=1).str[1]
    return frame


def overview_chart(overview: pd.DataFrame, target: Path) -> Path:
    """Three bar charts side by side, as a PNG (owner-only; labels in ASCII: no CJK font is assumed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(1, len(DIMENSIONS), figsize=(13, 3.6))
    for axis, dimension in zip(axes, DIMENSIONS, strict=True):
        part = overview[overview["dimension"] == dimension]
        axis.bar(part["bucket"], part["customers"], color="#4f6bed")
        axis.set_title(dimension.replace("_", " "))
        axis.tick_params(axis="x", labelrotation=30)
        axis.set_ylabel("customers")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    make_owner_folder(target.parent)
    temporary = temporary_beside(target)
    try:
        with open_owner_file(temporary) as out:
            out.write(buffer.getvalue())
        return publish(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
