"""The input contract of a Tmall order report: one verdict per order row, with reason codes.

Cells are cleaned in SQL (``tmall_text``, ``parse_money``, ``parse_timestamp``); the contract
judges the cleaned values. Duplicates, status and buyer checks need the whole file or the
warehouse, so they are made in ``sql/matching/tmall_order_duplicates.sql`` and the SQL after it.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from data_contracts.customer_rows import collect_failures, parsed_when_filled

ORDER_ID = r"[0-9]{6,25}"  # ASCII digits only (Python's \d takes every script's digits)


tmall_order_contract = pa.DataFrameSchema(
    columns={
        "cells_ok": pa.Column(bool, pa.Check(lambda s: s, name="malformed_row")),
        # ignore_na=False: pandera leaves out a column's nulls before its checks, so an empty
        # order number would pass this check and reach the writes (issue 14 item 1).
        "order_id": pa.Column(
            str,
            pa.Check(
                lambda s: s.notna() & s.fillna("").str.fullmatch(ORDER_ID), name="missing_order_id", ignore_na=False
            ),
            nullable=True,
        ),
    },
    checks=[
        pa.Check(lambda f: f["ordered_at"].notna(), name="invalid_date"),
        pa.Check(
            lambda f: (
                parsed_when_filled("paid_amount", "paid_amount_text")(f)
                & parsed_when_filled("total_amount", "total_amount_text")(f)
            ),
            name="invalid_amount",
        ),
    ],
    index=pa.Index(int, name="row_number"),
    strict=False,
    coerce=False,
)


def contract_failures(batch: pd.DataFrame) -> pd.DataFrame:
    """Order rows of ``batch`` (indexed by row_number) that break the contract."""
    return collect_failures(tmall_order_contract, batch)
