"""Where state lives (``CDP_HOME``) and the settings of one import."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

REPO_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = REPO_ROOT / "sql"
CONTRACTS_DIR = REPO_ROOT / "data_contracts"


def cdp_home() -> Path:
    """``$CDP_HOME``, defaulting to ``./.cdp`` (relative to the working directory)."""
    return Path(os.environ.get("CDP_HOME") or ".cdp").resolve()


@dataclass(frozen=True)
class CdpPaths:
    """The ``CDP_HOME`` layout: one warehouse, one inbox per kind, archive and failure files."""

    home: Path

    @classmethod
    def from_env(cls) -> CdpPaths:
        return cls(cdp_home())

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def config_file(self) -> Path:
        return self.home / "cdp.yaml"

    def inbox(self, kind: str) -> Path:
        return self.home / "inbox" / kind

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    @property
    def failures(self) -> Path:
        return self.home / "failures"

    @property
    def work(self) -> Path:
        """Scratch files (transcoded copies) that an import deletes when it ends."""
        return self.home / "work"

    @property
    def dagster_home(self) -> Path:
        return Path(os.environ.get("DAGSTER_HOME") or self.home / "dagster")

    def ensure(self) -> CdpPaths:
        """The layout's folders, each created owner-only (0700) when missing."""
        from cdp_pipeline.owner_only import make_owner_folder

        for folder in (self.inbox("customers"), self.inbox("tmall"), self.archive, self.failures, self.work):
            make_owner_folder(folder)
        return self


Encoding = Literal["auto", "utf-8", "gb18030", "big5"]
SourcePolicy = Literal["new-only", "all"]
Mode = Literal["normal", "fast"]


@dataclass(frozen=True)
class CustomerImportSettings:
    """What the team chooses for one customer import (CLI flags, run config or sidecar)."""

    tags: tuple[str, ...] = ()
    group: str | None = None
    initial_source: str | None = None
    initial_source_content: str | None = None
    campaign: str | None = None
    source_policy: SourcePolicy = "new-only"
    mode: Mode = "normal"
    encoding: Encoding = "auto"
    sheet: str | None = None


@dataclass(frozen=True)
class TmallImportSettings:
    """What the team chooses for one Tmall export import (CLI flags, run config or sidecar)."""

    tags: tuple[str, ...] = ()
    group: str | None = None
    encoding: Encoding = "auto"
