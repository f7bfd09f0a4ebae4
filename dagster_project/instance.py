"""The Dagster instance the CLI and the UI share: $DAGSTER_HOME, default $CDP_HOME/dagster."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

from cdp_pipeline.settings import CdpPaths

DEFAULT_INSTANCE_YAML = Path(__file__).with_name("dagster.yaml")


def ensure_dagster_home(paths: CdpPaths) -> Path:
    """Point DAGSTER_HOME at $CDP_HOME/dagster unless set, with the pool config in place."""
    os.environ.setdefault("CDP_HOME", str(paths.home))
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(paths.home / "dagster")))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(DEFAULT_INSTANCE_YAML, home / "dagster.yaml")
    return home


def local_instance(paths: CdpPaths) -> dg.DagsterInstance:
    ensure_dagster_home(paths)
    return dg.DagsterInstance.get()
