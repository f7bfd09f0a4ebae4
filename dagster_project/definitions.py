"""The one Definitions object of cdp-pipeline, loaded from the defs folder area by area
(``dagster_project.loading``).

``dg check defs``, ``dg dev`` (``[tool.dg]`` in pyproject.toml), ``dagster dev -w workspace.yaml``
and the tests load this module's ``defs``; the ``cdp`` CLI runs the jobs of the same areas
(``loading.run_defs``) without importing this module.
"""

import dagster as dg

from dagster_project.loading import code_location_defs
from dagster_project.loading import defs_tree as load_defs_tree

defs_tree: dg.ComponentTree = load_defs_tree()
defs: dg.Definitions = code_location_defs(defs_tree)
