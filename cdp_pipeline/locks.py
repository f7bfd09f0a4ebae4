"""Locks between processes on one CDP_HOME: one import of the same bytes at a time.

An import of one file is several steps, each opening the partition's scratch database on its
own, and every new import of that partition starts a fresh one: two imports of the same bytes
side by side would wipe each other's staging. So an import holds its content's lock from before
its first step to after its last: the others wait, then find the committed batch and report
``already_imported``.

The locks are ``flock`` locks on files under ``CDP_HOME/work``: the kernel releases them when the
holder's process ends in any way (SIGKILL, OOM), so a killed import never leaves one held.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cdp_pipeline.batches import key_hash
from cdp_pipeline.settings import CdpPaths


def _still_at(fd: int, path: Path) -> bool:
    """Whether ``fd`` is the file ``path`` names now (the holder before removed it otherwise)."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


@contextmanager
def exclusive_lock(path: Path, on_wait: Callable[[], None] | None = None, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created owner-only if missing), waiting as long as
    another process holds it; ``on_wait`` is called once when the wait begins. Without ``wait``,
    a lock another process holds is not waited for: the block runs with False, holding nothing.

    The holder removes the file as it lets go, so lock files do not pile up in ``work/``. A
    process that was waiting on the removed file then starts again on the path's new file, so
    two processes never hold the same path.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    os.close(fd)
                    yield False
                    return
                if on_wait is not None and not waited:
                    on_wait()
                waited = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _still_at(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield True
    finally:
        path.unlink(missing_ok=True)  # before letting go: a waiter then sees the file has changed
        os.close(fd)


def import_lock_path(paths: CdpPaths, kind: str, key: str) -> Path:
    # One lock per content: a file imported under two names is one import at a time. A key
    # typed into the Dagster UI may hold anything, "/" included.
    name = key_hash(key) or hashlib.sha256(key.encode()).hexdigest()
    return paths.work / f".import-{kind}-{name}.lock"


def import_lock(paths: CdpPaths, kind: str, key: str, on_wait: Callable[[], None] | None = None, wait: bool = True):
    """The lock held across the whole import of one partition key's bytes (a file's or a pair's),
    whatever name they came under."""
    return exclusive_lock(import_lock_path(paths, kind, key), on_wait, wait)
