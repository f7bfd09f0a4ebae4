"""``cdp check``: every data-quality check on the warehouse as it is now, as a run of the
``warehouse_checks`` job in this process, on the same instance as the UI (the results show on
the table assets' Checks tab). Prints one row per check (check, asset, passed, details), or JSON
records with ``--json``; exits 4 when a blocking check fails."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import TYPE_CHECKING

from dagster_project.cli.exit_codes import EXIT_CHECK_FAILED

if TYPE_CHECKING:
    import dagster as dg


def check_warehouse(args: argparse.Namespace) -> int:
    from cdp_pipeline.errors import EnvironmentFault
    from cdp_pipeline.settings import CdpPaths
    from dagster_project.cli.runner import dagster_stderr, replay_dagster_lines, run_failure
    from dagster_project.defs.warehouse.checks import CHECKS_JOB
    from dagster_project.instance import local_instance, recover_dead_runs, storage_held_open
    from dagster_project.loading import run_defs

    paths = CdpPaths.from_env().ensure()
    if not paths.warehouse.exists():
        raise EnvironmentFault(
            str(paths.warehouse), "no warehouse yet: nothing has been imported (cdp import customers FILE)"
        )
    instance = local_instance(paths)
    recover_dead_runs(instance, paths)
    run_id = str(uuid.uuid4())
    job = run_defs().resolve_job_def(CHECKS_JOB)
    with dagster_stderr() as dagster_lines, storage_held_open(instance, run_id):
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_id=run_id,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            tags={"cdp/launched_by": "cli"},
        )
    replay_dagster_lines(dagster_lines)
    evaluations = result.get_asset_check_evaluations()
    if not evaluations:  # the step failed before any check ran (the warehouse, great-expectations)
        raise run_failure(result)
    rows = [check_row(evaluation) for evaluation in evaluations]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        print(describe_checks(rows))
    return EXIT_CHECK_FAILED if any(r["blocking"] and not r["passed"] for r in rows) else 0


def check_row(evaluation: dg.AssetCheckEvaluation) -> dict:
    from cdp_pipeline.quality import check_declarations

    declared = {c.name: c for c in check_declarations()}[evaluation.check_name]
    metadata = evaluation.metadata
    docs = metadata.get("data_docs")
    return {
        "check": evaluation.check_name,
        "asset": evaluation.asset_key.to_user_string(),
        "passed": bool(evaluation.passed),
        "details": metadata["details"].value,  # the description is escaped for the UI's Markdown
        "blocking": declared.blocking,
        "severity": declared.severity,
        "data_docs": docs.value if docs is not None else None,
        **({"data_docs_error": metadata["data_docs_error"].value} if "data_docs_error" in metadata else {}),
    }


def describe_checks(rows: list[dict]) -> str:
    """The checks as a table: check, asset, passed (NO for a failed blocking check), details."""
    table = [("check", "asset", "passed", "details")] + [
        (r["check"], r["asset"], "yes" if r["passed"] else ("NO" if r["blocking"] else "no"), r["details"])
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in table
    ]
    failed = [r for r in rows if not r["passed"]]
    blocking = sum(r["blocking"] for r in failed)
    lines += ["", f"{len(rows)} checks: {len(rows) - len(failed)} passed, {len(failed)} failed ({blocking} blocking)"]
    docs = next((r["data_docs"] for r in rows if r["data_docs"]), None)
    if docs:
        lines.append(f"data docs: {docs.split('/validations/')[0]}/index.html")
    lines += sorted({r["data_docs_error"] for r in rows if "data_docs_error" in r})
    return "\n".join(lines)
