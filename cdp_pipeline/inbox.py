"""The inbox folders: which dropped files are fully written, their hashes, and their sidecars.

A file is ready when its size and mtime, and its sidecar's, are the same on two looks in a row
(the sensor's previous tick and this one): a file still being copied changes between looks.
Hashes are remembered per (size, mtime), so a folder of a thousand files is not re-read every tick.

The inbox never follows a link out of itself: a link (to a file or a folder) is never read, only
reported; subfolders are not looked into. A file whose sidecar cannot be used, or that is a link,
is held: it stays where it is, is not imported, and every tick says why, until it or its sidecar
changes. The other files go on regardless. A bad sidecar is read once, not on every tick: the
cursor remembers the reason with the look it was found at.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdp_pipeline.batches import file_sha256, partition_key_for
from cdp_pipeline.settings import CdpPaths, CustomerImportSettings, TmallImportSettings
from cdp_pipeline.sidecars import (
    SIDECAR_SUFFIXES,
    SidecarError,
    TmallSidecar,
    customer_sidecar,
    sidecar_look,
    sidecars_beside,
)
from cdp_pipeline.tmall_import import export_key, pair_exports

IGNORED_PREFIXES = (".", "~$")
LINK_REASON = "it is a symbolic link; the inbox imports only files dropped into it, never a link"


@dataclass(frozen=True)
class ReadyFile:
    path: Path
    sha256: str
    settings: Any = None  # what its sidecar says, as the kind's reader gives it

    @property
    def key(self) -> str:
        return partition_key_for(self.sha256)


@dataclass(frozen=True)
class HeldFile:
    """A file that stays in the inbox, not imported, until it or its sidecar changes."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path.name} is not imported: {self.reason}"


@dataclass
class InboxScan:
    """One look at an inbox: the files ready to import, those held, and the look to remember.

    ``cursor`` maps a file name to [size, mtime_ns, sha256, sidecar look, why its sidecar was
    refused]; the first three are the data file's (sha256 null until it held still)."""

    ready: list[ReadyFile] = field(default_factory=list)
    held: list[HeldFile] = field(default_factory=list)
    cursor: dict[str, list] = field(default_factory=dict)

    def hold(self, path: Path, reason: str) -> None:
        self.held.append(HeldFile(path, reason))

    def message(self) -> str | None:
        """The held files in one line, for the tick's skip reason."""
        return "; ".join(map(str, self.held)) or None


def is_candidate(path: Path) -> bool:
    """A file dropped to be imported: a regular file itself (not a link), not hidden, a
    temporary or a sidecar."""
    return not path.is_symlink() and path.is_file() and _is_dropped_name(path.name)


def _is_dropped_name(name: str) -> bool:
    hidden_or_temporary = name.startswith(IGNORED_PREFIXES) or name.endswith(".tmp")
    return not hidden_or_temporary and not name.lower().endswith(SIDECAR_SUFFIXES)


def inbox_sha256(path: Path) -> str:
    """The file's hash, read without following a link (one put there since the scan's look)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError("not a regular file")  # swapped for a pipe or a folder since the look
        return hashlib.file_digest(handle, "sha256").hexdigest()


def scan_inbox(
    folder: Path, previous: dict[str, list], read_settings: Callable[[Path], Any] = customer_sidecar
) -> InboxScan:
    """Files that, with their sidecar, held still since ``previous``, their settings read by
    ``read_settings`` (which raises SidecarError for a sidecar it cannot use)."""
    scan = InboxScan()
    if not folder.is_dir():
        return scan
    with os.scandir(folder) as entries:
        dropped = sorted((e for e in entries if _is_dropped_name(e.name)), key=lambda e: e.name)
    for entry in dropped:
        path = Path(entry.path)
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # gone since the listing
        if stat.S_ISLNK(info.st_mode):
            scan.hold(path, LINK_REASON)
            continue
        if not stat.S_ISREG(info.st_mode):
            continue  # folders (never looked into), pipes, sockets
        look, sidecar = [info.st_size, info.st_mtime_ns], sidecar_look(path)
        before = previous.get(entry.name) or []
        if before[:2] != look or (before[3] if len(before) > 3 else None) != sidecar:
            scan.cursor[entry.name] = [*look, None, sidecar, None]
            continue
        try:
            sha = before[2] or inbox_sha256(path)
        except FileNotFoundError:
            continue
        except OSError as error:  # tried again next tick: a permission can change without the mtime
            scan.hold(path, f"it cannot be read ({error.strerror or error})")
            scan.cursor[entry.name] = [*look, None, sidecar, None]
            continue
        refused = before[4] if len(before) > 4 else None
        if refused is None:
            try:
                scan.ready.append(ReadyFile(path, sha, read_settings(path)))
            except SidecarError as error:
                refused = str(error)
        if refused is not None:
            scan.hold(path, refused)
        scan.cursor[entry.name] = [*look, sha, sidecar, refused]
    return scan


def read_sidecar(path: Path) -> CustomerImportSettings:
    """The settings of a customer file's sidecar (SPEC §2); raises SidecarError naming it."""
    return customer_sidecar(path)


def tmall_pairs(
    ready: list[ReadyFile],
) -> tuple[list[tuple[ReadyFile, ReadyFile, TmallImportSettings]], list[Path], list[HeldFile]]:
    """Ready Tmall files paired by the order report's sidecar (``items: <item report file name>``)
    or else by name (same suffix); the files still waiting for their partner; the pairs held.

    A report whose sidecar names its item report waits for that one, never pairs by name. The
    settings of a pair are its order report's sidecar's: a sidecar beside the item report holds
    the pair rather than be silently ignored."""
    by_path = {f.path: f for f in ready}
    sidecar_of = {f.path: f.settings if isinstance(f.settings, TmallSidecar) else TmallSidecar() for f in ready}
    found: list[tuple[ReadyFile, ReadyFile]] = []
    alone: list[Path] = []
    used: set[Path] = set()
    for f in ready:
        if sidecar_of[f.path].items is None:
            continue
        partner = f.path.with_name(sidecar_of[f.path].items)
        if partner in by_path and partner != f.path:
            found.append((f, by_path[partner]))
            used |= {f.path, partner}
        else:
            alone.append(f.path)
            used.add(f.path)
    pairs, unpaired = pair_exports([p for p in by_path if p not in used])
    found += [(by_path[o], by_path[i]) for o, i in pairs]
    paired, held = [], []
    for orders, items in found:
        beside_items = sidecars_beside(items.path)
        if beside_items:
            reason = (
                f"{beside_items[0].name}: a pair's settings go in its order report's sidecar "
                f"({orders.path.name}.yaml), not beside the item report"
            )
            held += [HeldFile(orders.path, reason), HeldFile(items.path, reason)]
        else:
            paired.append((orders, items, sidecar_of[orders.path].settings))
    return paired, sorted(alone + unpaired), held


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
    candidates += [p for p in paths.archive.glob(f"*-{key[:8]}/*") if is_candidate(p)]
    for path in candidates:
        if partition_key_for(file_sha256(path)) == key:
            return path
    return None
