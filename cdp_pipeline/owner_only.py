"""Files and folders the product writes are readable by their owner only (SPEC §7), whatever
the umask: the warehouse and its WAL, failure files, archive copies, reports, CDP_HOME's folders
and the Dagster home we create.

What Python creates here gets its mode at creation (``os.open`` with 0600, ``mkdir`` then
``chmod`` 0700), never a chmod after the content is in. DuckDB, SQLite and xlsxwriter create
their own files (DuckDB recreates the WAL after every checkpoint), so while they write, the
process umask is tightened (``owner_only_umask``): the umask is the only say a program has over
the mode of a file another library creates. Existing files and folders keep their mode: a team
may have shared a folder on purpose (``chmod -R go-rwx $CDP_HOME`` tightens an old home).
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

OWNER_FILE = 0o600
OWNER_FOLDER = 0o700
_OWNER_ONLY_UMASK = 0o077

_umask_lock = threading.Lock()
_umask_depth = 0
_umask_saved = 0


@contextmanager
def owner_only_umask() -> Iterator[None]:
    """Files created in the block (by any library) get no group or other permissions.

    The umask belongs to the process, not the thread: the first block to enter tightens it and
    the last to leave restores it, so overlapping blocks in threads (the Dagster webserver runs
    several) never restore a looser umask under another one's feet. Other threads meanwhile
    create files more private than they asked, never less."""
    global _umask_depth, _umask_saved
    with _umask_lock:
        if _umask_depth == 0:
            _umask_saved = os.umask(_OWNER_ONLY_UMASK)
            os.umask(_umask_saved | _OWNER_ONLY_UMASK)
        _umask_depth += 1
    try:
        yield
    finally:
        with _umask_lock:
            _umask_depth -= 1
            if _umask_depth == 0:
                os.umask(_umask_saved)


def make_owner_folder(path: Path) -> Path:
    """``path`` as a folder; every folder created on the way is 0700 (existing ones keep their mode)."""
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=OWNER_FOLDER)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # another process made it meanwhile: its mode is that process's business
        os.chmod(folder, OWNER_FOLDER)  # mkdir's mode passes through the umask; say it exactly
    return path


def open_owner_file(path: Path) -> BinaryIO:
    """A new file (never an existing one: O_EXCL, no link followed) open for binary writing, 0600."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, OWNER_FILE)
    try:
        os.fchmod(descriptor, OWNER_FILE)
        return os.fdopen(descriptor, "wb")
    except BaseException:
        os.close(descriptor)
        raise


def temporary_beside(target: Path, part: str = "") -> Path:
    """A fresh hidden name in ``target``'s folder, ``.<name>.<random>[.part].tmp``: renaming it
    onto ``target`` is atomic, and a crashed writer's leftovers are recognisable (``.*.tmp``).
    The name is cut so the temporary fits the 255 bytes a name may have whatever ``target``'s."""
    suffix = f".{uuid.uuid4().hex[:12]}{'.' + part if part else ''}.tmp"
    name = target.name.encode()[: 255 - 1 - len(suffix)].decode(errors="ignore")
    return target.with_name(f".{name}{suffix}")


_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


def publish(temporary: Path, target: Path, overwrite: bool = True) -> Path:
    """Give the complete file ``temporary`` its name ``target``, atomically. Without
    ``overwrite`` an existing ``target`` is never replaced, even one created a moment ago
    (a hard link fails if the name exists; where links are not supported, checked just before)."""
    if overwrite:
        os.replace(temporary, target)
        return target
    try:
        os.link(temporary, target)
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target)) from None
        os.replace(temporary, target)
        return target
    os.unlink(temporary)
    return target


def copy_owner_only(source: Path, target: Path) -> Path:
    """``source`` copied to ``target`` (0600) through a temporary name, so a crash leaves no
    half copy under the real name; the temporary goes whatever happens."""
    make_owner_folder(target.parent)
    temporary = temporary_beside(target)
    try:
        with source.open("rb") as read, open_owner_file(temporary) as write:
            shutil.copyfileobj(read, write, 1 << 20)
        return publish(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
