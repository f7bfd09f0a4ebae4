"""Fault injection for crash tests: ``CDP_FAULT_INJECT=<point>`` kills this process (SIGKILL,
no cleanup, no ``finally``) when the import reaches the named point. Unset, it does nothing.

Points, in the order an import passes them: ``after_staging``, ``after_validation``,
``after_matching``, ``before_archiving``, ``mid_failure_file``, ``before_commit``,
``after_commit``.
"""

from __future__ import annotations

import os
import signal


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL if ``$CDP_FAULT_INJECT`` names this point."""
    if os.environ.get("CDP_FAULT_INJECT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
