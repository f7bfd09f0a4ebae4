"""The errors an import ends with: a rejected file (the file is at fault) or an environment
fault (the machine or CDP_HOME is: a full disk, a read-only or damaged warehouse, Dagster's
storage gone). Both carry one line naming what is at fault and why; the CLI exits 2 for the
first and 3 for the second, so a script can tell "fix your file" from "fix the machine"."""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from cdp_pipeline.masking import mask_text


class FileRejected(Exception):
    """The whole file is refused before anything is written. The reason may quote the file's
    cells (a header row that is really data), so mobiles, emails and openids in it are masked."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = mask_text(reason)
        # the name masked too: a file named after its owner's number is personal data
        super().__init__(f"{mask_text(self.path.name)}: {self.reason}")


class EnvironmentFault(Exception):
    """Not the input's fault: ``what`` (a path, or Dagster's storage) could not be used because
    of ``cause`` (the disk is full, it is read-only, it is not a warehouse...). Masked like
    FileRejected: a path may hold a mobile (a file named after its owner's number)."""

    def __init__(self, what: str, cause: str) -> None:
        self.what = mask_text(what)
        self.cause = mask_text(cause)
        super().__init__(f"{self.what}: {self.cause}")


# What each operating-system error means to the team.
_ERRNO_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "a file-size limit was reached (ulimit -f, or the largest file the file system holds)",
    errno.EROFS: "read-only (a read-only file system)",
    errno.EACCES: "not writable or not readable by this user",
    errno.EPERM: "not writable or not readable by this user",
    errno.EIO: "a disk input/output error",
}
_DAMAGED_WAREHOUSE = "not a DuckDB warehouse (damaged, or another file in its place)"
# The same causes as DuckDB and SQLite word them (DuckDB quotes the OS message, often with its
# errno; SQLite has its own sentences), in the order they are looked for.
_TEXT_CAUSES = [
    *((re.compile(re.escape(os.strerror(number)), re.IGNORECASE), cause) for number, cause in _ERRNO_CAUSES.items()),
    (re.compile(r"database or disk is full", re.IGNORECASE), _ERRNO_CAUSES[errno.ENOSPC]),
    (re.compile(r"attempt to write a readonly database", re.IGNORECASE), "read-only"),
    (re.compile(r"disk I/O error", re.IGNORECASE), _ERRNO_CAUSES[errno.EIO]),
    (re.compile(r"unable to open database file", re.IGNORECASE), "cannot be opened (missing folder or no access)"),
    (re.compile(r"not a valid DuckDB database file", re.IGNORECASE), _DAMAGED_WAREHOUSE),
    (
        re.compile(r"file is not a database|database disk image is malformed", re.IGNORECASE),
        "damaged (not an SQLite database)",
    ),
    (re.compile(r"Could not set lock on file", re.IGNORECASE), "in use by another process (it holds the lock)"),
]
_HINTS = {_DAMAGED_WAREHOUSE: "move it away or restore a backup"}
_QUOTED_PATH = re.compile(r'file \\?"(.+?)\\?"')
_ERRNO_IN_TEXT = re.compile(r'"errno"\s*:\s*"?(\d+)')


def first_line(error: BaseException) -> str:
    """An error's first line (its type's name when it has no text): one-line messages quote it."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _dagster_storage() -> str:
    return f"Dagster's storage ({os.environ.get('DAGSTER_HOME') or 'DAGSTER_HOME'})"


def _cause_in_text(text: str) -> str | None:
    found = _ERRNO_IN_TEXT.search(text)
    if found and int(found.group(1)) in _ERRNO_CAUSES:
        return _ERRNO_CAUSES[int(found.group(1))]
    return next((cause for pattern, cause in _TEXT_CAUSES if pattern.search(text)), None)


def _fault(what: str, cause: str, detail: str) -> EnvironmentFault:
    hint = _HINTS.get(cause)
    return EnvironmentFault(what, f"{cause} ({detail})" + (f"; {hint}" if hint else ""))


def environment_fault(error: BaseException, where: str = "a file") -> EnvironmentFault | None:
    """``error`` as an EnvironmentFault when the machine or CDP_HOME caused it (disk full, a
    file-size limit, read-only, no access, a damaged warehouse or Dagster database); None for
    anything else, which stays what it is. ``where`` names the place when the error does not
    (a write to an open file carries no file name)."""
    if isinstance(error, EnvironmentFault):
        return error
    if isinstance(error, OSError) and error.errno in _ERRNO_CAUSES:
        what = os.fsdecode(error.filename) if error.filename is not None else where
        return _fault(what, _ERRNO_CAUSES[error.errno], error.strerror or first_line(error))
    if isinstance(error, duckdb.Error):
        cause = _cause_in_text(str(error))
        if cause is None:
            return None
        path = _QUOTED_PATH.search(str(error))
        return _fault(path.group(1) if path else "the warehouse", cause, first_line(error))
    # SQLite (Dagster's default storage), raised as is or wrapped by SQLAlchemy (``orig``).
    original = error if isinstance(error, sqlite3.Error) else getattr(error, "orig", None)
    if isinstance(original, sqlite3.Error):
        cause = _cause_in_text(str(original))
        return _fault(_dagster_storage(), cause, str(original)) if cause else None
    return None


def storage_fault(message: str) -> EnvironmentFault:
    """Dagster's storage failing with ``message`` (an error's text as Dagster recorded it, e.g.
    "sqlite3.OperationalError: database or disk is full") as an EnvironmentFault."""
    detail = (message.strip().splitlines() or ["failed"])[0]
    return _fault(_dagster_storage(), _cause_in_text(detail) or "failed", detail)


@contextmanager
def environment_faults(where: str = "a file") -> Iterator[None]:
    """Re-raise an error of the machine or CDP_HOME escaping the block as an EnvironmentFault
    (one line naming the path and the cause), so it is never taken for a fault of the file."""
    try:
        yield
    except Exception as error:
        fault = environment_fault(error, where)
        if fault is None or fault is error:
            raise
        raise fault from None


def not_a_file_reason(path: Path) -> str:
    """Why ``path`` cannot be read as a file to import: it is missing, a folder, or no regular
    file (a device or a pipe, which could block or never end)."""
    if path.is_dir():
        return "a folder, not a file"
    if path.exists():
        return "not a regular file (a device, pipe or socket): save the data to a file and import that"
    return "no such file"


class MaskedError(Exception):
    """An error whose text quoted personal data: its type, message and stack, masked."""


@contextmanager
def masked_errors() -> Iterator[None]:
    """Re-raise an error escaping the block with its text masked, so neither Dagster's event log
    nor a console shows the cells a database error or a contract failure quoted.

    A FileRejected or an EnvironmentFault is masked already (above); an error with nothing to
    mask is re-raised as is.
    """
    try:
        yield
    except (FileRejected, EnvironmentFault) as rejected:
        raise rejected from None
    except Exception as error:
        original = "".join(traceback.format_exception(error))
        masked = mask_text(original)
        if masked == original:
            raise
        raise MaskedError(f"{type(error).__name__}: {mask_text(str(error))}\n\nMasked original:\n{masked}") from None
