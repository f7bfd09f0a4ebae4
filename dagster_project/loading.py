"""How cdp-pipeline's definitions are loaded from the defs folder (``dagster_project/defs/``), area
by area: for the code location (``dagster_project.definitions``) and for the ``cdp`` CLI's runs.

Each area folder (imports: every kind's partitions, assets, job and sensor; warehouse: the tables;
profiles; shared) contributes what its modules define at module level: a module's own
``dg.Definitions`` if it has one, else its assets, checks, jobs and sensors. The resources are
bound once, by ``defs/shared/resources.py``.
"""

import os
import warnings
from pathlib import Path

import dagster as dg

import dagster_project.defs
from cdp_pipeline.settings import cdp_home


def defs_tree() -> dg.ComponentTree:
    """The tree of the package's own defs module, as ``dg.load_from_defs_folder`` builds it,
    without its look-up of pyproject.toml: an installed (non-editable) package has none beside it."""
    # CDP_HOME defaults to ./.cdp; the resource reads it from the environment like any deployment.
    os.environ.setdefault("CDP_HOME", str(cdp_home()))
    return dg.ComponentTree.from_module(defs_module=dagster_project.defs, project_root=Path(__file__).parent.parent)


def code_location_defs(tree: dg.ComponentTree) -> dg.Definitions:
    """Everything the defs folder defines, and the component library's description that the UI
    and ``dg`` show (what ``build_defs`` of the whole tree adds)."""
    # Dagster's defs-folder loader calls its own preview-flagged module loader for each Python
    # file; the warning speaks of Dagster's internals, and would reach every `cdp` command's stderr.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return tree.build_defs()


def run_defs() -> dg.Definitions:
    """The same assets, jobs, sensors and resources, built area by area, for a run in this
    process: without the component library's description (the JSON schema and sample YAML of
    every installed component type, ~0.1 s), which no run reads. A job resolved from these has
    the snapshot of the code location's own (tests/test_dagster_conventions.py checks it)."""
    folder = Path(dagster_project.defs.__file__).parent
    areas = sorted(p.name for p in folder.iterdir() if (p / "__init__.py").is_file())
    tree = defs_tree()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.Definitions.merge(*(tree.build_defs_at_path(area) for area in areas))
