"""What every import shares: content hashes and partition keys, the staging schema that
carries an import from step to step, the batch record, reason codes, contracts and archives."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from cdp_pipeline.masking import mask_text
from cdp_pipeline.resources import contract_text
from cdp_pipeline.warehouse import quote_ident

CONTRACT_BATCH_ROWS = 250_000


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def partition_key_for(sha256: str) -> str:
    """A file's partition key: its content hash, so the same bytes are one partition."""
    return sha256[:16]


def staging_schema(kind: str, key: str) -> str:
    return quote_ident(f"stg_{kind}_{key}")


@dataclass
class ImportContext:
    """What the first step learnt and the later steps need, kept in the staging schema."""

    kind: str
    batch_id: str
    key: str
    source: str
    file_name: str
    file_sha256: str
    started_at: str
    settings: dict
    headers: list[str]
    encoding: str = ""
    refused: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    status: str = "staged"
    previous: dict | None = None
    move_source: bool = False
    other_sources: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def staging(self) -> str:
        return staging_schema(self.kind, self.key)

    @property
    def sources(self) -> list[Path]:
        """Every file of the import (a Tmall export is a pair)."""
        return [Path(self.source), *map(Path, self.other_sources)]


def save_context(con: duckdb.DuckDBPyConnection, context: ImportContext) -> None:
    con.execute(
        f"CREATE OR REPLACE TABLE {context.staging}.import_context AS SELECT CAST($c AS JSON) AS context",
        {"c": json.dumps(dataclasses.asdict(context), ensure_ascii=False, default=str)},
    )


def load_context(con: duckdb.DuckDBPyConnection, kind: str, key: str) -> ImportContext:
    row = con.execute(f"SELECT CAST(context AS VARCHAR) FROM {staging_schema(kind, key)}.import_context").fetchone()
    return ImportContext(**json.loads(row[0]))


def begin_import(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    sources: list[Path],
    sha256: str,
    settings: dict,
    force: bool = False,
    move_source: bool = False,
) -> ImportContext:
    """A new batch of ``sources`` (the first is the main file) with a fresh staging schema; its
    status is already_imported when a completed batch had the same bytes (unless ``force``)."""
    key = partition_key_for(sha256)
    started = dt.datetime.now()
    context = ImportContext(
        kind=kind,
        batch_id=f"{started:%Y%m%d%H%M%S%f}-{key[:8]}",
        key=key,
        source=str(sources[0]),
        other_sources=[str(p) for p in sources[1:]],
        file_name=sources[0].name,
        file_sha256=sha256,
        started_at=started.isoformat(sep=" "),
        settings=settings,
        headers=[],
        move_source=move_source,
    )
    con.execute(f"DROP SCHEMA IF EXISTS {context.staging} CASCADE; CREATE SCHEMA {context.staging}")
    previous = None if force else previous_import(con, kind, sha256)
    if previous:
        context.status, context.previous = "already_imported", previous
        save_context(con, context)
    return context


def previous_import(con: duckdb.DuckDBPyConnection, kind: str, sha256: str) -> str | None:
    """The first completed batch of the same bytes: only a succeeded batch counts as imported."""
    row = con.execute(
        "SELECT batch_id FROM import_batches WHERE kind = $kind AND file_sha256 = $sha AND status = 'succeeded' "
        "ORDER BY started_at LIMIT 1",
        {"kind": kind, "sha": sha256},
    ).fetchone()
    return row[0] if row else None


def reason_catalogue() -> list[dict]:
    return yaml.safe_load(contract_text("reason_codes.yaml"))


def reason_file_key(kind: str, file_role: str | None = None) -> str:
    """How ``reason_by_file`` in reason_codes.yaml names a file: the batch kind for its main file
    (``tmall``: the order report), ``<kind>.<file_role>`` for another file (``tmall.items``)."""
    return kind if file_role is None else f"{kind}.{file_role}"


def reason_text(entry: dict, kind: str, file_role: str | None = None) -> str:
    """A code's words for a row of this file: the file's own, else its batch's main file's (an
    item report row is told in order words), else the shared ones."""
    own = entry.get("reason_by_file") or {}
    return own.get(reason_file_key(kind, file_role)) or own.get(reason_file_key(kind)) or entry["reason"]


def create_reason_codes(
    con: duckdb.DuckDBPyConnection, staging: str, kind: str, other_file_roles: tuple[str, ...] = ()
) -> None:
    """The reason codes with their priority (file order) and human reason for each file of the
    batch (file_role NULL: its main file, as import_failures records it), for the batch's SQL."""
    con.execute(
        f"CREATE OR REPLACE TABLE {staging}.reason_codes "
        "(code VARCHAR, priority INTEGER, reason VARCHAR, file_role VARCHAR)"
    )
    con.executemany(
        f"INSERT INTO {staging}.reason_codes VALUES (?, ?, ?, ?)",
        [
            (entry["code"], priority, reason_text(entry, kind, role), role)
            for priority, entry in enumerate(reason_catalogue())
            for role in (None, *other_file_roles)
        ],
    )


def run_contract(
    con: duckdb.DuckDBPyConnection,
    rows_sql: str,
    contract_failures: Callable[[pd.DataFrame], pd.DataFrame],
    target: str,
) -> dict[str, int]:
    """Judge ``rows_sql`` (ordered, with row_number) by a pandera contract in Arrow batches;
    failures (row_number, reason_code) go to the ``target`` table."""
    con.execute(f"CREATE OR REPLACE TABLE {target} (row_number BIGINT, reason_code VARCHAR)")
    reader = con.sql(rows_sql).to_arrow_reader(CONTRACT_BATCH_ROWS)
    failures = [contract_failures(batch.to_pandas().set_index("row_number")) for batch in reader]
    found = pd.concat(failures) if failures else None
    if found is not None and len(found):
        con.register("contract_batch_failures", found)
        try:
            con.execute(f"INSERT INTO {target} SELECT row_number, reason_code FROM contract_batch_failures")
        finally:
            con.unregister("contract_batch_failures")
    return dict(con.execute(f"SELECT reason_code, count(*) FROM {target} GROUP BY ALL ORDER BY ALL").fetchall())


SUMMARY_COLUMNS = (
    "batch_id",
    "status",
    "scanned",
    "skipped",
    "created",
    "updated",
    "unchanged",  # of the updated, the rows that changed nothing (NULL for Tmall batches)
    "failed",
    "failure_file",
)


def batch_summary(con: duckdb.DuckDBPyConnection, batch_id: str) -> dict:
    """A batch as the CLI reports it (the JSON keys of issue 3), with its column findings."""
    cursor = con.execute(
        f"SELECT {', '.join(SUMMARY_COLUMNS)}, CAST(refused_columns AS VARCHAR) AS refused_columns, "
        "CAST(unknown_columns AS VARCHAR) AS unknown_columns, encoding, file_name, CAST(details AS VARCHAR) AS details "
        "FROM import_batches WHERE batch_id = $b",
        {"b": batch_id},
    )
    summary = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
    # Masked again: a batch recorded before header names were masked may hold a mobile as one.
    for names in ("refused_columns", "unknown_columns"):
        summary[names] = [mask_text(name) for name in json.loads(summary[names] or "[]")]
    details = json.loads(summary.pop("details") or "{}")
    return {**summary, **details}
