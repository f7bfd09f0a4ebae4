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

MOBILE = r"1[0-9]{10}"  # ASCII digits: Python's \d would also take ٠-٩ and other scripts' digits
# An address as email-validator accepts it (tests/test_fuzz_normalisers.py checks it against that
# library), over the cleaned, lower-cased text: a dot-atom local part of at most 64 characters;
# a domain of at least two labels (letters, digits, inner hyphens, any non-ASCII letter), each at
# most 63 characters, whose last label ends in a letter (or is non-ASCII) and is not a special-use
# name (localhost, .local, .test, ...); at most 254 characters in all. Quoted local parts and [IP] literals are
# refused, as email-validator refuses them by default.
_ATOM = r"(?:[a-z0-9!#$%&'*+/=?^_`{|}~\-]|[^\x00-\x7f\s\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff])+"
_LABEL_CHAR = r"[a-z0-9\u00c0-\U0010ffff]"
_LABEL = rf"{_LABEL_CHAR}(?:(?:{_LABEL_CHAR}|-){{0,61}}{_LABEL_CHAR})?"
_SPECIAL_USE = r"\.(?:arpa|invalid|local|localhost|onion|test)$"
EMAIL = (
    rf"(?=.{{1,254}}$)(?=[^@]{{1,64}}@)(?!.*{_SPECIAL_USE})"
    rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+(?:(?!-)[a-z0-9-]*[a-z]|(?=[^.]*[^\x00-\x7f]){_LABEL})"
)
# The shape most addresses have, a strict subset of EMAIL without look-arounds, so RE2 runs it
# (pyarrow, behind pandas' string methods: ~10x faster than Python's re on 1M addresses):
# at most 64 characters before the @, labels of letters and digits, a last label of letters.
COMMON_EMAIL = r"[a-z0-9_+-]{1,32}(?:\.[a-z0-9_+-]{1,31})?@(?:[a-z0-9]{1,40}\.){1,4}[a-z]{2,20}"


def is_email(values: pd.Series) -> pd.Series:
    """EMAIL's verdict on each value: the common shape decides most, Python's re the rest."""
    verdict = (values.str.fullmatch(COMMON_EMAIL) & ~values.str.contains(_SPECIAL_USE)).to_numpy(dtype=bool, copy=True)
    rest = np.flatnonzero(~verdict)
    verdict[rest] = values.iloc[rest].str.fullmatch(EMAIL).to_numpy(dtype=bool)
    return pd.Series(verdict, index=values.index)


def parsed_when_filled(value: str, text: str):
    """A typed value must parse whenever its text cell was filled."""
    return lambda frame: frame[value].notna() | frame[text].isna()


customer_row_contract = pa.DataFrameSchema(
    columns={
        "cells_ok": pa.Column(bool, pa.Check(lambda s: s, name="malformed_row")),
        "customer_id": pa.Column(str, nullable=True),
        "mobile": pa.Column(str, pa.Check(lambda s: s.str.fullmatch(MOBILE), name="invalid_mobile"), nullable=True),
        "email": pa.Column(str, pa.Check(is_email, name="invalid_email"), nullable=True),
        "identity_count": pa.Column(int),
    },
    checks=[
        pa.Check(
            lambda f: f["customer_id"].notna() | f["mobile"].notna() | f["email"].notna() | (f["identity_count"] > 0),
            name="missing_key",
        ),
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
