"""The input contract of a customer file: one verdict per row, with reason codes.

Cleaning happens in SQL (``sql/warehouse/macros.sql``); this contract judges the cleaned values. Each
check is named after the reason code it reports, so pandera's failure cases *are* the row
verdicts. Validation runs over Arrow batches, so memory stays flat on large files.

Keys reach it as a reader sees them (``visible_key``): format characters such as a zero-width
space or a direction override are removed and full-width forms folded before the check, so an
address typed with one is judged, and matched, as the address without it (issue 14 item 9).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

# The patterns live in data_contracts/key_shapes.py (imported without pandas); named here too.
from data_contracts.key_shapes import COMMON_EMAIL, EMAIL, MOBILE, SPECIAL_USE


def is_email(values: pd.Series) -> pd.Series:
    """EMAIL's verdict on each value: the common shape decides most, Python's re the rest."""
    verdict = (values.str.fullmatch(COMMON_EMAIL) & ~values.str.contains(SPECIAL_USE)).to_numpy(dtype=bool, copy=True)
    rest = np.flatnonzero(~verdict)
    verdict[rest] = values.iloc[rest].str.fullmatch(EMAIL).to_numpy(dtype=bool)
    return pd.Series(verdict, index=values.index)


def parsed_when_filled(value: str, text: str):
    """A typed value must parse whenever its text cell was filled."""
    return lambda frame: frame[value].notna() | frame[text].isna()


def has_key(frame: pd.DataFrame) -> pd.Series:
    """A row names a customer by at least one key: customer ID, mobile, email or an identity."""
    return (
        frame["customer_id"].notna() | frame["mobile"].notna() | frame["email"].notna() | (frame["identity_count"] > 0)
    )


def no_placeholder_key(frame: pd.DataFrame) -> pd.Series:
    """The over-merge guard (data_contracts/over_merge_guard.yaml): no key holds a listed
    placeholder value (``placeholder_key``, found in SQL), and a row is not left without a key
    because a key cell held an empty marker (``key_marker``): such a row is told why its key is
    unusable rather than that it has none (missing_key)."""
    return ~frame["placeholder_key"] & (has_key(frame) | ~frame["key_marker"])


customer_row_contract = pa.DataFrameSchema(
    columns={
        "cells_ok": pa.Column(bool, pa.Check(lambda s: s, name="malformed_row")),
        "customer_id": pa.Column(str, nullable=True),
        "mobile": pa.Column(str, pa.Check(lambda s: s.str.fullmatch(MOBILE), name="invalid_mobile"), nullable=True),
        "email": pa.Column(str, pa.Check(is_email, name="invalid_email"), nullable=True),
        "identity_count": pa.Column(int),
        "key_marker": pa.Column(bool),
        "placeholder_key": pa.Column(bool),
    },
    checks=[
        pa.Check(no_placeholder_key, name="placeholder_value"),
        pa.Check(lambda f: has_key(f) | f["key_marker"], name="missing_key"),
        pa.Check(parsed_when_filled("birthday", "birthday_text"), name="invalid_date"),
        pa.Check(
            lambda f: (
                parsed_when_filled("points", "points_text")(f) & parsed_when_filled("employees", "employees_text")(f)
            ),
            name="invalid_number",
        ),
    ],
    index=pa.Index(int, name="row_number"),
    strict=False,
    coerce=False,
)


def collect_failures(contract: pa.DataFrameSchema, batch: pd.DataFrame) -> pd.DataFrame:
    """Run ``contract`` lazily; its failure cases as (row_number, reason_code) rows.

    A failure that names no row (a missing column, a wrong dtype) is a broken pipeline, not bad
    data, so it raises instead of passing rows silently.
    """
    try:
        contract.validate(batch, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        if cases["index"].isna().any():
            raise
        return (
            pd.DataFrame({"row_number": cases["index"].astype("int64"), "reason_code": cases["check"].astype(str)})
            .drop_duplicates()
            .reset_index(drop=True)
        )
    return pd.DataFrame({"row_number": pd.Series(dtype="int64"), "reason_code": pd.Series(dtype="str")})


def contract_failures(batch: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``batch`` (indexed by row_number) that break the customer contract."""
    return collect_failures(customer_row_contract, batch)
