"""``python -m dagster_project.cli``: the ``cdp`` command, leaving as it does (``run``: without
tearing down the interpreter, 1-1.5 s of a one-row import)."""

from dagster_project.cli import run

run()
