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
import json
import re
from contextlib import nullcontext
from pathlib import Path

import duckdb

from cdp_pipeline.batch_writes import finish_already_imported, write_batch
from cdp_pipeline.batches import (
    ImportContext,
    begin_import,
    create_reason_codes,
    file_sha256,
    partition_key_for,
    run_contract,
    save_context,
)
from cdp_pipeline.catalogue import Catalogue, ColumnMapping, map_headers
from cdp_pipeline.errors import FileRejected, not_a_file_reason
from cdp_pipeline.faults import fault_point
from cdp_pipeline.locks import import_lock
from cdp_pipeline.masking import preview_rows
from cdp_pipeline.readers import cell_parts, stage_file
from cdp_pipeline.settings import CdpPaths, CustomerImportSettings
from cdp_pipeline.warehouse import connect, connect_read_only, quote_ident, render_sql, run_sql
from data_contracts.customer_rows import contract_failures

KIND = "customers"


def business_date(file_name: str) -> str | None:
    """``user_2024-05-01.csv`` carries its business date (SPEC §2)."""
    found = re.search(r"(\d{4})-?(\d{2})-?(\d{2})", file_name)
    if not found:
        return None
    try:
        return dt.date(*map(int, found.groups())).isoformat()
    except ValueError:
        return None


def _projection(mapping: ColumnMapping, catalogue: Catalogue) -> dict[str, str]:
    """Column projections for the SQL templates: only generated names and quoted identifiers."""
    fields = ", ".join(
        f"without_placeholder(c{mapping.fields[name]}) AS {name}"
        if name in mapping.fields
        else f"NULL::VARCHAR AS {name}"
        for name in catalogue.fields
    )
    identities = (
        ", ".join(
            f"{'exact_key' if catalogue.identity_types[name].case_sensitive else 'normalize_key'}"
            f"(without_placeholder(c{pos})) "
            f"AS {quote_ident(name)}"
            for name, pos in mapping.identities.items()
        )
        or 'NULL::VARCHAR AS "none"'
    )
    attributes = (
        ", ".join(
            f"clean_text(without_placeholder(c{pos})) AS {quote_ident(name)}"
            for name, pos in mapping.attributes.items()
        )
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
        raise FileRejected(source, not_a_file_reason(source))
    sha256 = sha256 or file_sha256(source)
    context = begin_import(con, KIND, [source], sha256, dataclasses.asdict(settings), force, move_source)
    if context.status == "already_imported":
        return context
    staging = context.staging
    try:
        staged = stage_file(
            con, source, f"{staging}.file_rows", paths.work, catalogue.known_headers, settings.encoding, settings.sheet
        )
        mapping = map_headers(staged.headers, catalogue, source)
        parts = {
            "staging": staging,
            **cell_parts(staged.width),
            **_projection(mapping, catalogue),
        }
        run_sql(con, "customer_rows", **parts)
        if con.execute(f"SELECT count(*) FILTER (WHERE NOT is_empty) FROM {staging}.customer_rows").fetchone()[0] == 0:
            raise FileRejected(source, "no data rows: the file has a header but no rows below it")
        for step in ("customer_row_identities", "customer_row_attributes"):
            run_sql(con, step, **parts)
        create_reason_codes(con, staging, KIND)
    except BaseException:
        con.execute(f"DROP SCHEMA IF EXISTS {staging} CASCADE")
        raise
    context.headers, context.encoding = staged.headers, staged.encoding
    context.refused, context.unknown = list(mapping.refused), list(mapping.unknown)
    save_context(con, context)
    fault_point("after_staging")
    return context


def validate_customer_rows(con: duckdb.DuckDBPyConnection, context: ImportContext) -> dict[str, int]:
    """Step 2: the pandera contract over the non-empty rows, in Arrow batches."""
    staging = context.staging
    if context.status != "staged":
        con.execute(f"CREATE OR REPLACE TABLE {staging}.contract_failures (row_number BIGINT, reason_code VARCHAR)")
        return {}
    rows_sql = render_sql("customer_rows_for_contract", staging=staging)
    failures = run_contract(con, rows_sql, contract_failures, f"{staging}.contract_failures")
    fault_point("after_validation")
    return failures


def match_customer_rows(con: duckdb.DuckDBPyConnection, context: ImportContext) -> dict[str, int]:
    """Step 3: duplicates and matching; every row gets its outcome."""
    if context.status != "staged":
        return {}
    run_sql(con, "customer_matches", staging=context.staging)
    run_sql(con, "customer_row_outcomes", staging=context.staging)
    fault_point("after_matching")
    return outcome_counts(con, context)


def outcome_counts(con: duckdb.DuckDBPyConnection, context: ImportContext) -> dict[str, int]:
    cursor = con.execute(render_sql("customer_outcome_counts", staging=context.staging))
    return dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))


def failure_reasons(con: duckdb.DuckDBPyConnection, context: ImportContext) -> dict[str, int]:
    return dict(con.execute(render_sql("customer_failure_reasons", staging=context.staging)).fetchall())


def preview(con: duckdb.DuckDBPyConnection, context: ImportContext) -> list[dict]:
    """The first outcomes (sql/customer_preview.sql), every text cell masked and cut to the preview width."""
    frame = con.execute(render_sql("customer_preview", staging=context.staging)).df()
    return preview_rows(json.loads(frame.to_json(orient="records", force_ascii=False)))


def write_customer_base(con: duckdb.DuckDBPyConnection, context: ImportContext, paths: CdpPaths) -> dict:
    """Step 4: one transaction writes the base, the failures and the batch record."""
    if context.status == "already_imported":
        return finish_already_imported(con, context)
    settings = CustomerImportSettings(**{**context.settings, "tags": tuple(context.settings["tags"])})
    steps = [
        "customer_attribute_changes",
        # Updates before inserts: an UPDATE after millions of inserts in the same transaction
        # is two orders of magnitude slower in DuckDB (120 s instead of 1 s at 3M rows).
        "customer_updates",
        "customers_updated",
        "customers_created",
        "customer_identities_added",
        "customer_custom_attribute_changes",
        "customer_attributes_upserted",
        "customer_batch_customers",
        *(["customer_events"] if settings.mode == "normal" else []),
    ]
    return write_batch(
        con,
        context,
        paths,
        steps,
        outcomes=f"{context.staging}.customer_row_outcomes",
        file_rows=f"{context.staging}.file_rows",
        params={
            "initial_source": settings.initial_source,
            "initial_source_content": settings.initial_source_content,
            "campaign": settings.campaign,
            "source_policy": settings.source_policy,
        },
        tag_events=settings.mode == "normal",
        business_date=business_date(context.file_name),
        unchanged_count="customer_unchanged_rows",
    )


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
    sha256 = file_sha256(source) if Path(source).is_file() else None
    # the lock every import of these bytes holds (the Dagster runs too): see cdp_pipeline.locks
    held = import_lock(paths, KIND, partition_key_for(sha256)) if sha256 else nullcontext()
    with held, connect(paths.warehouse) as con:
        context = stage_customer_file(con, source, settings, paths, catalogue, force=force, sha256=sha256)
        validate_customer_rows(con, context)
        match_customer_rows(con, context)
        return write_customer_base(con, context, paths)
