"""The one error a whole file is rejected with: it names the file and the reason."""

from __future__ import annotations

from pathlib import Path

from cdp_pipeline.masking import mask_text


class FileRejected(Exception):
    """The whole file is refused before anything is written. The reason may quote the file's
    cells (a header row that is really data), so mobiles, emails and openids in it are masked."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = mask_text(reason)
        super().__init__(f"{self.path.name}: {self.reason}")


def not_a_file_reason(path: Path) -> str:
    """Why ``path`` cannot be read as a file to import: it is missing, a folder, or no regular
    file (a device or a pipe, which could block or never end)."""
    if path.is_dir():
        return "a folder, not a file"
    if path.exists():
        return "not a regular file (a device, pipe or socket): save the data to a file and import that"
    return "no such file"
