"""One import area for every kind in cdp_pipeline.kinds: its partitions, assets, job and inbox sensor,
built by the one factory (defs/shared/imports.py)."""

import dagster as dg

from cdp_pipeline.kinds import KINDS
from dagster_project.defs.shared.imports import import_definitions

IMPORTS = {kind.name: import_definitions(kind) for kind in KINDS}

defs = dg.Definitions.merge(*(built.definitions() for built in IMPORTS.values()))
