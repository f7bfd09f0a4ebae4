"""The one Definitions object of cdp-pipeline, loaded from the defs folder area by area.

``dg check defs``, ``dg dev`` (``[tool.dg]`` in pyproject.toml), ``dagster dev -w workspace.yaml``,
the ``cdp`` CLI and the tests all load this module's ``defs``. Each area folder under
``dagster_project/defs/`` (imports: every kind's partitions, assets, job and sensor; warehouse: the
tables; profiles; shared) contributes what its modules define
at module level: a module's own ``dg.Definitions`` if it has one, else its assets, checks, jobs
and sensors. The resources are bound once, by ``defs/shared/resources.py``.
"""

import os
import warnings
from pathlib import Path

import dagster as dg

import dagster_project.defs
from cdp_pipeline.settings import cdp_home

# CDP_HOME defaults to ./.cdp; the resource reads it from the environment like any deployment.
os.environ.setdefault("CDP_HOME", str(cdp_home()))

# The tree of the package's own defs module, as ``dg.load_from_defs_folder`` builds it, without
# its look-up of pyproject.toml: an installed (non-editable) package has none beside it.
defs_tree = dg.ComponentTree.from_module(defs_module=dagster_project.defs, project_root=Path(__file__).parent.parent)

# Dagster's defs-folder loader calls its own preview-flagged module loader for each Python file;
# the warning speaks of Dagster's internals, and would reach every `cdp` command's stderr.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)
    defs: dg.Definitions = defs_tree.build_defs()
