"""Sampling verification (SPEC §6, seed 002: "randomly sample 10-20 records and compare with the
source"): rows of a kind's latest batch, drawn at random, read again from the batch's archived
original and set beside what the warehouse stores for them, field by field.

The original is read by the kind's own staging (``ImportKind.stage`` through
``engine.stage_into``) with the batch's stored settings and encoding, so "after normalisation"
is exactly the import's normalisation; the whole file is read, as any reader must (a CSV has no
index to its row N). The comparison is the kind's SQL (``sql/checks/<noun>_source_sample.sql``),
which also leaves out the records a later batch may rightly have changed. Nothing here judges:
the frame holds both values as text, one canonical rendering on both sides, for an expectation
that holds them equal.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from cdp_pipeline.batches import STAGING, ImportContext, content_sha256
from cdp_pipeline.engine import ImportKind, stage_into
from cdp_pipeline.owner_only import make_owner_folder
from cdp_pipeline.settings import CdpPaths, setting_fields
from cdp_pipeline.warehouse import render_sql

SAMPLE_SIZE = 20
COLUMNS = ("batch_id", "row_number", "key", "field", "stored", "source")
# Text as Python objects (None for NULL) whatever pandas' default string type, empty frame or not.
COLUMN_TYPES = {name: "int64" if name == "row_number" else "object" for name in COLUMNS}
# The staging database the archived original is read into: DuckDB's in-memory one, attached for
# the call and detached after, as engine.plan_import stages a dry run.
SCRATCH = "staging"


@dataclass(frozen=True)
class ArchivedBatch:
    """A committed batch whose archived original can be read again."""

    batch_id: str
    files: tuple[Path, ...]
    file_sha256: str
    finished_at: dt.datetime
    encoding: str
    settings: dict
    details: dict


def as_sample_types(frame: pd.DataFrame) -> pd.DataFrame:
    """``COLUMN_TYPES``, a NULL text as None (DuckDB hands text over as pandas strings, NULL as NaN)."""
    typed = frame.astype(COLUMN_TYPES)
    text = [name for name, kind in COLUMN_TYPES.items() if kind == "object"]
    typed[text] = typed[text].where(typed[text].notna(), None)
    return typed


def empty_sample() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=COLUMN_TYPES[name]) for name in COLUMNS})


def archived_files(
    paths: CdpPaths, kind: ImportKind, batch_id: str, archive_file: str, details: dict
) -> tuple[Path, ...] | None:
    """The batch's archived files, main file first, in this CDP_HOME's archive (the layout
    batch_writes.write_batch archives to: ``archive/<batch id>/<file name>``, wherever CDP_HOME was
    then); a kind's other files are named in its details (``<role>_file_name``: a Tmall item
    report is ``items_file_name``). None if one is missing."""
    main = paths.archive / batch_id / Path(archive_file).name
    others = [details.get(f"{role}_file_name") for role in kind.inputs[1:]]
    if any(name is None for name in others):
        return None
    files = (main, *(main.with_name(name) for name in others))
    return files if all(f.is_file() for f in files) else None


def latest_archived_batch(con: duckdb.DuckDBPyConnection, paths: CdpPaths, kind: ImportKind) -> ArchivedBatch | None:
    """The kind's latest committed batch (by commit time) with imported rows whose archived files
    are all still there, or None."""
    for batch_id, archive_file, sha256, finished_at, encoding, settings, details in con.execute(
        render_sql("source_sample_batches"), {"kind": kind.name}
    ).fetchall():
        details = json.loads(details or "{}")
        files = archived_files(paths, kind, batch_id, archive_file, details)
        if files is not None:
            return ArchivedBatch(batch_id, files, sha256, finished_at, encoding, json.loads(settings or "{}"), details)
    return None


def staging_settings(kind: ImportKind, batch: ArchivedBatch) -> dict:
    """The batch's settings, with the encoding the import found when it was left to detect one
    (``auto``): the archive is read as the import read it, not as detection would read it now."""
    settings = dict(batch.settings)
    encodings = next((f.choices for f in setting_fields(kind.settings) if f.name == "encoding"), ())
    if settings.get("encoding") == "auto" and batch.encoding in encodings:
        settings["encoding"] = batch.encoding
    return settings


@dataclass(frozen=True)
class SamplePaths(CdpPaths):
    """CDP_HOME as the sample's staging sees it (its cdp.yaml, its archive), with a work folder
    of its own: a reader's transcoded copy of a file has one name per staging table, which an
    import or a dry run staging beside the sample would share."""

    own_work: Path = Path()

    @property
    def work(self) -> Path:
        return self.own_work


@contextmanager
def scratch_staging(con: duckdb.DuckDBPyConnection, paths: CdpPaths) -> Iterator[SamplePaths]:
    """An in-memory ``staging`` database on ``con`` and a work folder under CDP_HOME/work, both
    gone after."""
    try:
        con.execute(f"ATTACH ':memory:' AS {SCRATCH}")
    except duckdb.Error as error:
        raise RuntimeError(
            f"source_sample could not attach an in-memory {SCRATCH} database to its connection: it needs one "
            f"such as cdp_pipeline.warehouse.connect_read_only gives (a read-only file connection cannot): {error}"
        ) from error
    work = paths.work / f"source-sample-{os.getpid()}-{time.monotonic_ns()}"
    try:
        make_owner_folder(work)
        yield SamplePaths(paths.home, own_work=work)
    finally:
        con.execute(f"DETACH {SCRATCH}")
        shutil.rmtree(work, ignore_errors=True)


def stage_archive(
    con: duckdb.DuckDBPyConnection, kind: ImportKind, batch: ArchivedBatch, paths: CdpPaths
) -> ImportContext:
    """Read the batch's archived files into ``staging`` by the kind's staging, as the import did."""
    if content_sha256(list(batch.files)) != batch.file_sha256:
        raise ValueError(
            f"{batch.files[0]}: the archived original of batch {batch.batch_id} is not the bytes it imported"
        )
    context = ImportContext(
        kind=kind.name,
        batch_id=batch.batch_id,
        key="",
        source=str(batch.files[0]),
        other_sources=[str(f) for f in batch.files[1:]],
        file_name=batch.files[0].name,
        file_sha256=batch.file_sha256,
        started_at="",
        settings=staging_settings(kind, batch),
        headers=[],
    )
    stage_into(con, kind, context, paths)
    if batch.encoding is not None and context.encoding != batch.encoding:
        raise ValueError(
            f"{batch.files[0]}: read as {context.encoding} now, imported as {batch.encoding} (batch {batch.batch_id})"
        )
    return context


def sample_parameters(sql: str, values: dict) -> dict:
    """The values the SQL names as ``$name``, and only those (DuckDB refuses unused ones)."""
    return {name: values[name] for name in set(re.findall(r"\$([a-z_]+)", sql))}


def source_sample(
    con: duckdb.DuckDBPyConnection,
    paths: CdpPaths,
    kind: ImportKind,
    size: int = SAMPLE_SIZE,
    seed: int | None = None,
) -> pd.DataFrame:
    """columns: batch_id, row_number (the failure-file numbering the batch uses), key (customer_id,
    or order_id for tmall), field, stored, source — stored and source as VARCHAR, NULL-able; one
    row per sampled row and compared field.

    ``con`` reads the warehouse and is never written (``warehouse.connect_read_only`` or a writing
    connection): the archived original is staged into an in-memory database attached as
    ``staging`` for the call. ``seed`` draws the same rows every time; without one, new rows."""
    batch = latest_archived_batch(con, paths, kind)
    if batch is None or size <= 0:
        return empty_sample()
    with scratch_staging(con, paths) as sample_paths:
        context = stage_archive(con, kind, batch, sample_paths)
        sql = render_sql(f"{kind.names.noun}_source_sample", folders=kind.sql_folders, staging=STAGING)
        values = {
            **context.settings,
            "tags": list(context.settings.get("tags") or []),
            "kind": kind.name,
            "batch_id": batch.batch_id,
            "finished_at": batch.finished_at,
            "export_at": batch.details.get("export_at"),
            "staged_export_at": context.extra.get("export_at"),
            "size": size,
            "seed": random.randrange(1 << 31) if seed is None else seed,
        }
        frame = con.execute(sql, sample_parameters(sql, values)).df()
    return as_sample_types(frame)
