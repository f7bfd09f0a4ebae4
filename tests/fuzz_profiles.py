"""Hypothesis settings shared by the fuzz tests: a short run by default (CI), a long one on demand.

``HYPOTHESIS_PROFILE=long`` runs 5,000 examples per property; ``CDP_FUZZ_EXAMPLES=N`` runs N.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG_EXAMPLES = 5000


def fuzz_examples(ci_examples: int) -> int:
    """How many examples a property runs: ``ci_examples``, unless a long run was asked for."""
    if os.environ.get("CDP_FUZZ_EXAMPLES"):
        return int(os.environ["CDP_FUZZ_EXAMPLES"])
    if os.environ.get("HYPOTHESIS_PROFILE") == "long":
        return LONG_EXAMPLES
    return ci_examples


def fuzz_settings(ci_examples: int) -> settings:
    """Settings for one property: no deadline (DuckDB calls vary), no slow-data health checks."""
    examples = fuzz_examples(ci_examples)
    return settings(
        max_examples=examples,
        # The short run (CI) draws the same examples every time, so a red build is reproducible
        # and never a new random find; long runs explore.
        derandomize=examples == ci_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        print_blob=True,
    )
