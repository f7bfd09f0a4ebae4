"""Fuzzing whole customer files through the real import, against a real DuckDB warehouse.

Hypothesis writes a CSV — headers from the field catalogue (with odd case and spacing) plus junk,
cells with quotes, separators, line breaks and any Unicode, blank lines, ragged rows, one of the
accepted encodings (or bytes that are none) — and imports it. Every file ends in one of two ways:

* a clear rejection: ``FileRejected`` naming the file, and nothing written to the warehouse;
* an import whose accounting closes: scanned = created + updated + failed + skipped, every
  record of the file scanned, one failure row per failed row, one outcome row per row.

Any other exception fails. The warehouse is shared by all examples of a run, so later files
match, update and collide with the customers of earlier ones.

Run longer: ``HYPOTHESIS_PROFILE=long`` (5,000 files) or ``CDP_FUZZ_EXAMPLES=N``.
"""

from __future__ import annotations

import csv
import io
import itertools

import duckdb
import pytest
import yaml
from fuzz_profiles import fuzz_settings
from hypothesis import given
from hypothesis import strategies as st
from test_customer_rules import TABLES

from cdp_pipeline.customer_import import import_customer_file
from cdp_pipeline.errors import FileRejected
from cdp_pipeline.resources import contract_text
from cdp_pipeline.settings import CdpPaths, CustomerImportSettings
from cdp_pipeline.warehouse import connect

FILES = fuzz_settings(20)

_CATALOGUE = yaml.safe_load(contract_text("field_catalogue.yaml"))
ALIASES = sorted(
    {alias for spec in _CATALOGUE["fields"].values() for alias in spec["aliases"]}
    | {alias for spec in _CATALOGUE["identity_types"].values() for alias in spec["aliases"]}
    | set(_CATALOGUE["refused"])
)
ENCODINGS = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "gb18030": "gb18030", "big5": "big5hkscs", "utf-16": "utf-16"}

header_cell = st.one_of(
    st.sampled_from(ALIASES).flatmap(
        lambda alias: st.tuples(
            st.text(" ", max_size=2), st.sampled_from([alias, alias.upper(), alias.title()]), st.text(" ", max_size=2)
        ).map("".join)
    ),
    st.text(max_size=8),
)
junk = st.text(
    st.one_of(
        st.sampled_from(",\"'\n\r\t ;|=\u3000\ufeff"),
        st.characters(codec="utf-8", exclude_characters="\x00", exclude_categories=["Cs"]),
    ),
    max_size=15,
)
cell = st.one_of(
    st.just(""),
    junk,
    st.from_regex(r"1[0-9]{10}", fullmatch=True),
    st.sampled_from(
        ["+86 138 0013 8000", "'13800138000", "138-0013-8000", "13800138000.0", "12345", "１３８００１３８０００"]
    ),
    st.sampled_from(["a@example.cn", " Zhang.San@Example.CN ", "not-an-email", "a..b@x.cn", "张三@例子.中国"]),
    st.sampled_from(["2024-05-01", "2024/5/1", "2024年5月1日", "45413", "2024-13-45", "infinity", "1990"]),
    st.sampled_from(
        ["男", "女", "M", "female", "其他", "广东", "北京市", "VIP,老客", "a|A|a", "1,234", "2.5", "C0001"]
    ),
)


@st.composite
def customer_csv(draw) -> tuple[str, bytes, list[list[str]]]:
    """(encoding, file bytes, the records a CSV reader sees in it)."""
    headers = draw(st.lists(header_cell, min_size=1, max_size=6))
    width = len(headers)
    rows: list[list[str]] = [headers]
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["full", "full", "full", "ragged", "blank"]))
        if kind == "blank":
            rows.append([])
        else:
            size = width if kind == "full" else draw(st.integers(1, width + 3))
            rows.append(draw(st.lists(cell, min_size=size, max_size=size)))
    encoding = draw(st.sampled_from(sorted(ENCODINGS)))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    for row in rows:
        writer.writerow(row)
    data = buffer.getvalue().encode(ENCODINGS[encoding], errors="replace")
    if draw(st.integers(0, 19)) == 0:  # now and then, bytes that are no text at all
        data += draw(st.binary(min_size=1, max_size=8))
    return encoding, data, rows


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> CdpPaths:
    paths = CdpPaths(tmp_path_factory.mktemp("fuzz_cdp")).ensure()
    with connect(paths.warehouse):  # an empty warehouse with its tables, as on a first run
        pass
    return paths


def _snapshot(paths: CdpPaths) -> dict[str, int]:
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        present = {
            r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()
        }
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES if t in present}
        counts["schemas"] = con.execute("SELECT count(*) FROM duckdb_schemas() WHERE NOT internal").fetchone()[0]
        return counts
    finally:
        con.close()


def _query(paths: CdpPaths, sql: str, params: list) -> list[tuple]:
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


_names = itertools.count(1)


@FILES
@given(
    customer_csv(),
    st.sampled_from(["auto", "auto", "utf-8", "gb18030", "big5"]),
    st.sampled_from([(), ("fuzz",), ("VIP", "vip")]),
    st.sampled_from(["normal", "fast"]),
)
def test_any_file_is_rejected_cleanly_or_imported_with_closed_accounting(
    warehouse, tmp_path_factory, generated, encoding, tags, mode
):
    _, data, records = generated
    path = tmp_path_factory.getbasetemp() / "fuzz_files" / f"fuzz_{next(_names)}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    before = _snapshot(warehouse)
    settings = CustomerImportSettings(tags=tags, group="fuzzers", mode=mode, encoding=encoding)
    try:
        summary = import_customer_file(path, settings, warehouse, force=True)
    except FileRejected as rejection:
        assert path.name in str(rejection)
        assert rejection.reason
        assert _snapshot(warehouse) == before, "a rejected file wrote to the warehouse"
        return
    batch = summary["batch_id"]
    scanned, created, updated = summary["scanned"], summary["created"], summary["updated"]
    assert summary["status"] == "succeeded"
    assert scanned == created + updated + summary["failed"] + summary["skipped"]
    if encoding == "auto" and data.isascii() and not data.startswith(b"\xef\xbb\xbf"):
        # Every record a CSV reader sees below the header is scanned (blank lines too).
        expected = len(list(csv.reader(io.StringIO(data.decode("ascii"))))) - 1
        assert scanned == expected, (scanned, expected, records)
    (failures,) = _query(warehouse, "SELECT count(*) FROM import_failures WHERE batch_id = ?", [batch])
    assert failures == (summary["failed"],)
    outcomes = dict(
        _query(warehouse, "SELECT outcome, count(*) FROM import_row_outcomes WHERE batch_id = ? GROUP BY 1", [batch])
    )
    assert sum(outcomes.values()) == scanned
    assert outcomes.get("created", 0) + outcomes.get("updated", 0) == created + updated
    assert _query(warehouse, "SELECT count(*) FROM customers WHERE created_batch_id = ?", [batch]) == [(created,)]
    after = _snapshot(warehouse)
    assert after["import_batches"] == before.get("import_batches", 0) + 1
    assert after["schemas"] == before.get("schemas", after["schemas"]), "a staging schema was left behind"
