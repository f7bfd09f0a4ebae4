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
