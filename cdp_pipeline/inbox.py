"""The inbox folders: which dropped files are fully written, their hashes, and their sidecars.

A file is ready when its size and mtime are the same on two looks in a row (the sensor's
previous tick and this one): a file still being copied changes between looks. Hashes are
remembered per (size, mtime), so a folder of a thousand files is not re-read every tick.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from cdp_pipeline.batches import file_sha256, partition_key_for
from cdp_pipeline.settings import CdpPaths, CustomerImportSettings, TmallImportSettings
from cdp_pipeline.tmall_import import export_key, pair_exports

SIDECAR_SUFFIXES = (".yaml", ".yml", ".json")
IGNORED_PREFIXES = (".", "~$")


@dataclass(frozen=True)
class ReadyFile:
    path: Path
    sha256: str

    @property
    def key(self) -> str:
        return partition_key_for(self.sha256)


def is_candidate(path: Path) -> bool:
    return (
        path.is_file()
        and not path.name.startswith(IGNORED_PREFIXES)
        and not path.name.endswith(".tmp")
        and path.suffix.lower() not in SIDECAR_SUFFIXES
    )


def scan_inbox(folder: Path, previous: dict[str, list]) -> tuple[list[ReadyFile], dict[str, list]]:
    """Files whose size and mtime held still since ``previous``; returns them and the new look."""
    seen: dict[str, list] = {}
    ready: list[ReadyFile] = []
    if not folder.is_dir():
        return ready, seen
    for path in sorted(p for p in folder.iterdir() if is_candidate(p)):
        stat = path.stat()
        look = [stat.st_size, stat.st_mtime_ns]
        before = previous.get(path.name)
        sha = before[2] if before and before[:2] == look and len(before) > 2 else None
        if before and before[:2] == look:
            sha = sha or file_sha256(path)
            ready.append(ReadyFile(path, sha))
        seen[path.name] = [*look, sha] if sha else look
    return ready, seen


def read_sidecar_values(path: Path) -> dict:
    """Settings dropped beside a file as ``<file>.yaml`` or ``<file>.json`` (SPEC §2)."""
    for suffix in SIDECAR_SUFFIXES:
        sidecar = path.with_name(path.name + suffix)
        if sidecar.is_file():
            text = sidecar.read_text(encoding="utf-8")
            values = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
            values = {k.replace("-", "_"): v for k, v in (values or {}).items()}
            if isinstance(values.get("tags"), str):
                values["tags"] = [values["tags"]]
            values["tags"] = tuple(values.get("tags") or ())
            return values
    return {}


def read_sidecar(path: Path) -> CustomerImportSettings:
    return CustomerImportSettings(**read_sidecar_values(path))


def tmall_pairs(ready: list[ReadyFile]) -> tuple[list[tuple[ReadyFile, ReadyFile, TmallImportSettings]], list[Path]]:
    """Ready Tmall files paired by name (same suffix) or by the order report's sidecar
    (``items: <item report file name>``); the files still waiting for their partner."""
    by_path = {f.path: f for f in ready}
    paired: list[tuple[ReadyFile, ReadyFile, TmallImportSettings]] = []
    used: set[Path] = set()
    for f in ready:
        values = read_sidecar_values(f.path)
        partner = f.path.with_name(values.pop("items")) if "items" in values else None
        if partner in by_path:
            paired.append((f, by_path[partner], TmallImportSettings(**values)))
            used |= {f.path, partner}
    pairs, alone = pair_exports([p for p in by_path if p not in used])
    paired += [(by_path[o], by_path[i], TmallImportSettings(**read_sidecar_values(o))) for o, i in pairs]
    return paired, alone


def locate_export(paths: CdpPaths, key: str) -> tuple[Path, Path] | None:
    """Find the Tmall pair behind a partition key: in the inbox, else in the archive."""
    folders = [paths.inbox("tmall"), *paths.archive.glob(f"*-{key[:8]}")]
    for folder in folders:
        pairs, _ = pair_exports([p for p in folder.glob("*") if is_candidate(p)])
        for orders, items in pairs:
            if export_key(orders, items) == key:
                return orders, items
    return None


def locate_file(paths: CdpPaths, kind: str, key: str) -> Path | None:
    """Find the file behind a partition key: in the inbox, else in the archive."""
    candidates = [p for p in paths.inbox(kind).glob("*") if is_candidate(p)]
    candidates += list(paths.archive.glob(f"*-{key[:8]}/*"))
    for path in candidates:
        if partition_key_for(file_sha256(path)) == key:
            return path
    return None
