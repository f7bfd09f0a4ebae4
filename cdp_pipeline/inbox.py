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

from cdp_pipeline.batches import content_sha256, file_partition_key, key_hash, key_stem
from cdp_pipeline.engine import ImportKind
from cdp_pipeline.masking import mask_text
from cdp_pipeline.settings import CdpPaths
from cdp_pipeline.sidecars import SIDECAR_SUFFIXES, SidecarError, customer_sidecar, sidecar_look

IGNORED_PREFIXES = (".", "~$")
LINK_REASON = "it is a symbolic link; the inbox imports only files dropped into it, never a link"


@dataclass(frozen=True)
class ReadyFile:
    path: Path
    sha256: str
    settings: Any = None  # what its sidecar says, as the kind's reader gives it
    look: tuple[int, ...] = ()  # size and mtime (ns) when it was found ready

    @property
    def key(self) -> str:
        return file_partition_key(self.path.name, self.sha256)


@dataclass(frozen=True)
class HeldFile:
    """A file that stays in the inbox, not imported, until it or its sidecar changes."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{mask_text(self.path.name)} is not imported: {self.reason}"


@dataclass
class InboxScan:
    """One look at an inbox: the files ready to import, those held, those still settling (new
    or changed since the last look), and the look to remember.

    ``cursor`` maps a file name to [size, mtime_ns, sha256, sidecar look, why its sidecar was
    refused]; the first three are the data file's (sha256 null until it held still)."""

    ready: list[ReadyFile] = field(default_factory=list)
    held: list[HeldFile] = field(default_factory=list)
    settling: list[Path] = field(default_factory=list)
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
            scan.settling.append(path)
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
                scan.ready.append(ReadyFile(path, sha, read_settings(path), tuple(look)))
            except SidecarError as error:
                refused = str(error)
        if refused is not None:
            scan.hold(path, refused)
        scan.cursor[entry.name] = [*look, sha, sidecar, refused]
    return scan


def drop_key(files: tuple[ReadyFile, ...]) -> str:
    """What tells one drop of files from another: their names and looks. The same bytes dropped
    again, or renamed, are a new drop (a run that failed for them is no reason to wait forever)."""
    looks = "|".join(f"{f.path.name}:{':'.join(map(str, f.look))}" for f in files)
    return hashlib.sha256(looks.encode()).hexdigest()[:12]


def each_ready_file_alone(ready: list[ReadyFile]) -> tuple[list[tuple[tuple[ReadyFile, ...], Any]], list[Path], list]:
    """Every ready file is an import of its own, with its sidecar's settings."""
    return [((f,), f.settings) for f in ready], [], []


def locate_import(paths: CdpPaths, kind: ImportKind, key: str) -> tuple[Path, ...] | None:
    """Find the files behind a partition key: in the kind's inbox, else in the archive folder of
    a batch of those bytes. Only files whose name gives the key's stem are hashed."""
    content = key_hash(key)
    if content is None:
        return None
    folders = [paths.inbox(kind.name), *paths.archive.glob(f"*-{content[:8]}")]
    stem = key.removesuffix(f"-{content}")
    for folder in folders:
        imports, _ = kind.pair_files([p for p in folder.glob("*") if is_candidate(p)])
        for files in imports:
            if key_stem(files[0].name) == stem and kind.partition_key(files, content_sha256(list(files))) == key:
                return files
    return None
