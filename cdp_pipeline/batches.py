"""What every import shares: content hashes and partition keys, the batch record, reason codes
and contracts."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from cdp_pipeline.masking import mask_text
from cdp_pipeline.resources import contract_text

CONTRACT_BATCH_ROWS = 250_000
# Every step sees the partition's scratch database under this name; {staging} in sql/ is it.
STAGING = "staging.main"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def combined_sha256(shas: list[str]) -> str:
    """The hash an import's bytes are known by: its file's, or for several files (a Tmall pair)
    the hash of theirs in order."""
    return shas[0] if len(shas) == 1 else hashlib.sha256(":".join(shas).encode()).hexdigest()


def content_sha256(files: list[Path]) -> str:
    return combined_sha256([file_sha256(Path(f)) for f in files])


KEY_HASH_DIGITS = 12
KEY_STEM_CHARACTERS = 40


# A mobile broken up by separators a reader skips (138_0013_8000, 138.0013.8000, 138（0013）8000)
# that mask_text does not see: 11 digits from a 1 (after an optional 86), any script's digits.
DIGITS_WITH_SEPARATORS = re.compile(r"(?<!\d)\d(?:[\s_.\-()（）]*\d){10,12}(?!\d)")


def _masked_digits(found: re.Match[str]) -> str:
    digits = [str(unicodedata.digit(d)) for d in re.findall(r"\d", found.group(0))]
    number = digits[2:] if len(digits) == 13 and digits[:2] == ["8", "6"] else digits
    if len(number) != 11 or number[0] != "1":
        return found.group(0)
    return "".join(number[:3]) + "_" + "".join(number[-4:])


def key_stem(file_name: str) -> str:
    """A file's name as a partition key begins: its stem, readable (NFKC, format characters out,
    personal data and long numbers masked, a character Dagster refuses or a separator replaced
    by "_", at most 40 characters)."""
    visible = "".join(c for c in unicodedata.normalize("NFKC", Path(file_name).stem) if unicodedata.category(c) != "Cf")
    stem = re.sub(DIGITS_WITH_SEPARATORS, _masked_digits, mask_text(visible))
    readable = re.sub(r"[^\w.-]+", "_", stem).replace("..", "_")
    return re.sub(r"_+", "_", readable).strip("._-")[:KEY_STEM_CHARACTERS] or "file"


def file_partition_key(file_name: str, sha256: str) -> str:
    """A partition key that names the file: its stem (``key_stem``), then 12 hex digits of its
    content hash, so the same file under the same name is always the same partition and two
    files never share one."""
    return f"{key_stem(file_name)}-{sha256[:KEY_HASH_DIGITS]}"


def key_hash(key: str) -> str | None:
    """The content hash digits a partition key ends with (None for a key this code did not make)."""
    found = re.search(rf"-([0-9a-f]{{{KEY_HASH_DIGITS}}})$", key)
    return found.group(1) if found else None


@dataclass
class ImportContext:
    """What the first step learnt and the later steps need, kept in the scratch database."""

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
    previous: str | None = None
    move_source: bool = False
    force: bool = False
    other_sources: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def staging(self) -> str:
        return STAGING

    @property
    def sources(self) -> list[Path]:
        """Every file of the import (a Tmall export is a pair)."""
        return [Path(self.source), *map(Path, self.other_sources)]


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
