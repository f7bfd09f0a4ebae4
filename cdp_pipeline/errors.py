"""The one error a whole file is rejected with: it names the file and the reason."""

from __future__ import annotations

from pathlib import Path


class FileRejected(Exception):
    """The whole file is refused before anything is written."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path.name}: {reason}")
