"""``python -m dagster_project.cli``: the ``cdp`` command."""

import sys

from dagster_project.cli import main

sys.exit(main())
