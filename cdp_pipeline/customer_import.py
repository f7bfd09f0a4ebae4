"""A customer file's import, in the four steps the Dagster assets wire together.

1. ``stage_customer_file``: the file becomes ``file_rows`` and cleaned ``customer_rows`` in a
   staging schema of the warehouse (one per file, so steps can run in separate processes).
2. ``validate_customer_rows``: the pandera contract gives every row its verdict.
3. ``match_customer_rows``: in-file duplicates and priority matching, all in SQL.
4. ``write_customer_base``: one transaction writes the customer base and the batch record.

``plan_customer_import`` runs steps 1–3 on an in-memory copy (the dry run); ``import_customer_file``
runs all four (tests, benchmarks, anything outside Dagster).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from cdp_pipeline.catalogue import Catalogue, ColumnMapping, map_headers
from cdp_pipeline.errors import FileRejected
from cdp_pipeline.failure_files import write_failure_csv
from cdp_pipeline.readers import stage_file
from cdp_pipeline.settings import CONTRACTS_DIR, CdpPaths, CustomerImportSettings
from cdp_pipeline.warehouse import connect, connect_read_only, quote_ident, render_sql, run_sql, sql_text
from data_contracts.customer_rows import contract_failures

VALIDATION_BATCH_ROWS = 250_000
KIND = "customers"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def partition_key_for(sha256: str) -> str:
    """A file's partition key: its content hash, so the same bytes are one partition."""
    return sha256[:16]


def staging_schema(key: str) -> str:
    return quote_ident(f"stg_{KIND}_{key}")


def reason_catalogue() -> list[dict[str, str]]:
    return yaml.safe_load((CONTRACTS_DIR / "reason_codes.yaml").read_text(encoding="utf-8"))


def business_date(file_name: str) -> str | None:
    """``user_2024-05-01.csv`` carries its business date (SPEC §2)."""
    found = re.search(r"(\d{4})-?(\d{2})-?(\d{2})", file_name)
    if not found:
        return None
    try:
        return dt.date(*map(int, found.groups())).isoformat()
    except ValueError:
        return None


@dataclass
class ImportContext:
    """What the first step learnt and the later steps need, kept in the staging schema."""

    batch_id: str
    key: str
    source: str
    file_name: str
    file_sha256: str
    started_at: str
    settings: dict
    headers: list[str]
    encoding: str
    refused: list[str]
    unknown: list[str]
    status: str = "staged"
    previous: dict | None = None
    move_source: bool = False

    @property
    def staging(self) -> str:
        return staging_schema(self.key)


def save_context(con: duckdb.DuckDBPyConnection, context: ImportContext) -> None:
    con.execute(
        f"CREATE OR REPLACE TABLE {context.staging}.import_context AS SELECT CAST($c AS JSON) AS context",
        {"c": json.dumps(dataclasses.asdict(context), ensure_ascii=False)},
    )


def load_context(con: duckdb.DuckDBPyConnection, key: str) -> ImportContext:
    row = con.execute(f"SELECT CAST(context AS VARCHAR) FROM {staging_schema(key)}.import_context").fetchone()
    return ImportContext(**json.loads(row[0]))


def previous_import(con: duckdb.DuckDBPyConnection, sha256: str) -> dict | None:
    """The first completed batch of the same bytes: only a succeeded batch counts as imported."""
    cursor = con.execute(
        "SELECT batch_id, status, scanned, skipped, created, updated, failed, failure_file, file_name "
        "FROM import_batches "
        "WHERE kind = $kind AND file_sha256 = $sha AND status = 'succeeded' ORDER BY started_at LIMIT 1",
        {"kind": KIND, "sha": sha256},
    )
    row = cursor.fetchone()
    return dict(zip([d[0] for d in cursor.description], row, strict=True)) if row else None


def _projection(mapping: ColumnMapping, catalogue: Catalogue) -> dict[str, str]:
    """Column projections for the SQL templates: only generated names and quoted identifiers."""
    fields = ", ".join(
        f"c{mapping.fields[name]} AS {name}" if name in mapping.fields else f"NULL::VARCHAR AS {name}"
        for name in catalogue.fields
    )
    identities = (
        ", ".join(
            f"{'clean_text' if catalogue.identity_types[name].case_sensitive else 'normalize_key'}(c{pos}) "
            f"AS {quote_ident(name)}"
            for name, pos in mapping.identities.items()
        )
        or 'NULL::VARCHAR AS "none"'
    )
    attributes = (
        ", ".join(f"clean_text(c{pos}) AS {quote_ident(name)}" for name, pos in mapping.attributes.items())
        or 'NULL::VARCHAR AS "none"'
    )
    return {"field_cells": fields, "identity_cells": identities, "attribute_cells": attributes}


def stage_customer_file(
    con: duckdb.DuckDBPyConnection,
    source: Path,
    settings: CustomerImportSettings,
    paths: CdpPaths,
    catalogue: Catalogue,
    force: bool = False,
    sha256: str | None = None,
    move_source: bool = False,
) -> ImportContext:
    """Step 1: stage the file. A file rejected whole raises FileRejected and leaves nothing."""
    source = Path(source)
    if not source.is_file():
        raise FileRejected(source, "no such file")
    sha256 = sha256 or file_sha256(source)
    key = partition_key_for(sha256)
    started = dt.datetime.now()
    context = ImportContext(
        batch_id=f"{started:%Y%m%d%H%M%S%f}-{key[:8]}",
        key=key,
        source=str(source),
        file_name=source.name,
        file_sha256=sha256,
        started_at=started.isoformat(sep=" "),
        settings=dataclasses.asdict(settings),
        headers=[],
        encoding="",
        refused=[],
        unknown=[],
        move_source=move_source,
    )
    staging = context.staging
    con.execute(f"DROP SCHEMA IF EXISTS {staging} CASCADE; CREATE SCHEMA {staging}")
    previous = None if force else previous_import(con, sha256)
    if previous:
        context.status, context.previous = "already_imported", previous
        save_context(con, context)
        return context
    try:
        staged = stage_file(
            con, source, f"{staging}.file_rows", paths.work, catalogue, settings.encoding, settings.sheet
        )
        mapping = map_headers(staged.headers, catalogue, source)
        parts = {
            "staging": staging,
            "raw_cells": _list_of_cells(staged.width),
            "overflow_cell": f"c{staged.width}",
            **_projection(mapping, catalogue),
        }
        run_sql(con, "customer_rows", **parts)
        if con.execute(f"SELECT count(*) FILTER (WHERE NOT is_empty) FROM {staging}.customer_rows").fetchone()[0] == 0:
            raise FileRejected(source, "no data rows: the file has a header but no rows below it")
        for step in ("customer_row_identities", "customer_row_attributes"):
            run_sql(con, step, **parts)
        codes = pd.DataFrame(reason_catalogue()).reset_index(names="priority")
        con.register("reason_catalogue", codes)
        con.execute(f"CREATE TABLE {staging}.reason_codes AS SELECT code, priority, reason FROM reason_catalogue")
        con.unregister("reason_catalogue")
    except BaseException:
        con.execute(f"DROP SCHEMA IF EXISTS {staging} CASCADE")
        raise
    context.headers, context.encoding = staged.headers, staged.encoding
    context.refused, context.unknown = list(mapping.refused), list(mapping.unknown)
    save_context(con, context)
    return context


def _list_of_cells(width: int) -> str:
    return "[" + ", ".join(f"c{i}" for i in range(width)) + "]"


def validate_customer_rows(con: duckdb.DuckDBPyConnection, context: ImportContext) -> dict[str, int]:
    """Step 2: the pandera contract over the non-empty rows, in Arrow batches."""
    staging = context.staging
    con.execute(f"CREATE OR REPLACE TABLE {staging}.contract_failures (row_number BIGINT, reason_code VARCHAR)")
    if context.status != "staged":
        return {}
    reader = con.sql(render_sql("customer_rows_for_contract", staging=staging)).to_arrow_reader(VALIDATION_BATCH_ROWS)
    failures = [contract_failures(batch.to_pandas().set_index("row_number")) for batch in reader]
    failures = pd.concat(failures) if failures else None
    if failures is not None and len(failures):
        con.register("batch_failures", failures)
        con.execute(f"INSERT INTO {staging}.contract_failures SELECT row_number, reason_code FROM batch_failures")
        con.unregister("batch_failures")
    rows = con.execute(
        f"SELECT reason_code, count(*) FROM {staging}.contract_failures GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    return dict(rows)


def match_customer_rows(con: duckdb.DuckDBPyConnection, context: ImportContext) -> dict[str, int]:
    """Step 3: duplicates and matching; every row gets its outcome."""
    if context.status != "staged":
        return {}
    run_sql(con, "customer_matches", staging=context.staging)
    run_sql(con, "customer_row_outcomes", staging=context.staging)
    return outcome_counts(con, context)


def outcome_counts(con: duckdb.DuckDBPyConnection, context: ImportContext) -> dict[str, int]:
    cursor = con.execute(render_sql("customer_outcome_counts", staging=context.staging))
    return dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))


def failure_reasons(con: duckdb.DuckDBPyConnection, context: ImportContext) -> dict[str, int]:
    return dict(con.execute(render_sql("customer_failure_reasons", staging=context.staging)).fetchall())


def preview(con: duckdb.DuckDBPyConnection, context: ImportContext) -> list[dict]:
    frame = con.execute(render_sql("customer_preview", staging=context.staging)).df()
    return json.loads(frame.to_json(orient="records", force_ascii=False))


def write_customer_base(con: duckdb.DuckDBPyConnection, context: ImportContext, paths: CdpPaths) -> dict:
    """Step 4: one transaction writes the base, the failures and the batch record."""
    if context.status == "already_imported":
        con.execute(f"DROP SCHEMA IF EXISTS {context.staging} CASCADE")
        _finish_source(context)
        return {**batch_summary(con, context.previous["batch_id"]), "status": "already_imported"}
    settings = CustomerImportSettings(**{**context.settings, "tags": tuple(context.settings["tags"])})
    staging = context.staging
    now = dt.datetime.now()
    failure_file = paths.failures / f"{context.batch_id}.csv"
    archive_file = paths.archive / context.batch_id / context.file_name
    params = {
        "batch_id": context.batch_id,
        "now": now,
        "tags": list(settings.tags),
        "group": settings.group,
        "initial_source": settings.initial_source,
        "initial_source_content": settings.initial_source_content,
        "campaign": settings.campaign,
        "source_policy": settings.source_policy,
    }
    steps = [
        "customer_attribute_changes",
        "customers_created",
        "customers_updated",
        "customer_identities_added",
        "customer_attributes_upserted",
        "customer_tag_assignments",
        "tags_created",
        "customer_tags_added",
        "customer_tags",
        "groups_created",
        "group_members",
        *(["customer_events"] if settings.mode == "normal" else []),
        "import_failures",
        "import_row_outcomes",
    ]
    con.execute("BEGIN TRANSACTION")
    try:
        for step in steps:
            sql = render_sql(step, staging=staging)
            con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
        failed = con.execute(
            "SELECT count(*) FROM import_failures WHERE batch_id = $b", {"b": context.batch_id}
        ).fetchone()[0]
        if failed:
            write_failure_csv(con, context.batch_id, context.headers, failure_file)
        _copy_atomically(Path(context.source), archive_file)
        run_sql(
            con,
            "import_batches",
            {
                "batch_id": context.batch_id,
                "file_name": context.file_name,
                "file_sha256": context.file_sha256,
                "started_at": context.started_at,
                "now": now,
                "encoding": context.encoding,
                "headers": json.dumps(context.headers, ensure_ascii=False),
                "settings": json.dumps(context.settings, ensure_ascii=False),
                "refused": json.dumps(context.refused, ensure_ascii=False),
                "unknown": json.dumps(context.unknown, ensure_ascii=False),
                "failure_file": str(failure_file) if failed else None,
                "archive_file": str(archive_file),
                "business_date": business_date(context.file_name),
            },
            staging=staging,
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    summary = batch_summary(con, context.batch_id)
    con.execute(f"DROP SCHEMA IF EXISTS {staging} CASCADE")
    _finish_source(context)
    return summary


def _finish_source(context: ImportContext) -> None:
    """A file taken from the inbox leaves it once imported (its copy is in the archive)."""
    if context.move_source:
        Path(context.source).unlink(missing_ok=True)


def _copy_atomically(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temporary)
    temporary.replace(target)


SUMMARY_COLUMNS = ("batch_id", "status", "scanned", "skipped", "created", "updated", "failed", "failure_file")


def batch_summary(con: duckdb.DuckDBPyConnection, batch_id: str) -> dict:
    row = con.execute(
        f"SELECT {', '.join(SUMMARY_COLUMNS)}, CAST(refused_columns AS VARCHAR), CAST(unknown_columns AS VARCHAR), "
        "encoding, file_name FROM import_batches WHERE batch_id = $b",
        {"b": batch_id},
    ).fetchone()
    summary = dict(zip(SUMMARY_COLUMNS, row[: len(SUMMARY_COLUMNS)], strict=True))
    summary["refused_columns"] = json.loads(row[-4] or "[]")
    summary["unknown_columns"] = json.loads(row[-3] or "[]")
    summary["encoding"], summary["file_name"] = row[-2], row[-1]
    return summary


def plan_customer_import(source: Path, settings: CustomerImportSettings, paths: CdpPaths, catalogue: Catalogue) -> dict:
    """The dry run: the whole file through steps 1–3 in memory; the warehouse is only read."""
    with connect_read_only(paths.warehouse) as con:
        context = stage_customer_file(con, source, settings, paths, catalogue, force=True)
        validate_customer_rows(con, context)
        counts = match_customer_rows(con, context)
        invalid = counts["failed"] - counts["duplicate"]
        return {
            "status": "dry_run",
            "file_name": context.file_name,
            "scanned": counts["scanned"],
            "empty": counts["skipped"],
            "duplicate": counts["duplicate"],
            "invalid": invalid,
            "expected": counts["created"] + counts["updated"],
            "would_create": counts["created"],
            "would_update": counts["updated"],
            "reasons": failure_reasons(con, context),
            "refused_columns": context.refused,
            "unknown_columns": context.unknown,
            "encoding": context.encoding,
            "preview": preview(con, context),
        }


def import_customer_file(
    source: Path,
    settings: CustomerImportSettings,
    paths: CdpPaths,
    catalogue: Catalogue | None = None,
    force: bool = False,
) -> dict:
    """All four steps in one process, without Dagster."""
    catalogue = catalogue or Catalogue.load(paths.config_file)
    with connect(paths.warehouse) as con:
        context = stage_customer_file(con, source, settings, paths, catalogue, force=force)
        validate_customer_rows(con, context)
        match_customer_rows(con, context)
        return write_customer_base(con, context, paths)


__all__ = [
    "FileRejected",
    "ImportContext",
    "file_sha256",
    "import_customer_file",
    "load_context",
    "match_customer_rows",
    "plan_customer_import",
    "stage_customer_file",
    "validate_customer_rows",
    "write_customer_base",
    "sql_text",
]
