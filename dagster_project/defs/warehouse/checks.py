"""The warehouse's data-quality checks as Dagster asset checks on the table assets (issue 13).

Every check declared in data_contracts/expectation_suites.yaml is an asset check on its table,
executed by one op (``expectation_suites``: a subset runs only the suites it needs) that runs the
great-expectations suites of cdp_pipeline.quality on the warehouse, read-only, in the warehouse
pool (so it never waits on a writer's lock). Each check runs as soon as its table is updated
(its eager automation condition, evaluated by defs/shared/automation.py's sensor), so a burst of
imports is followed by one check run; ``cdp check`` and the UI's "Execute" run them on demand.
A blocking check that fails makes the check run fail, and keeps the customer overview (which
waits for its tables' blocking checks: defs/profiles/assets.py) from being brought up to date.

great-expectations is imported inside the op, never when the definitions load (the UI, a
sensor's tick and every ``cdp`` command load them).
"""

import re

import dagster as dg

from cdp_pipeline.quality import CheckOutcome, check_declarations
from dagster_project.defs.shared.imports import OWNERS
from dagster_project.defs.shared.resources import WAREHOUSE_POOL, WarehouseResource

CHECKS_JOB = "warehouse_checks"


def check_specs() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            check.name,
            asset=check.asset,
            description=check.guards,
            blocking=check.blocking,
            automation_condition=dg.AutomationCondition.eager(),
            metadata={"suite": check.suite, "severity": check.severity, "owners": ", ".join(OWNERS)},
        )
        for check in check_declarations()
    ]


def markdown_text(text: str) -> str:
    """``text`` as the UI shows it when it renders Markdown (a check result's description): the
    asterisks of masked values stay asterisks, not emphasis."""
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)


def check_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    check = outcome.check
    metadata: dict = {
        "details": outcome.details,
        "rows": outcome.metadata["rows"],
        "expectations": dg.MetadataValue.json(outcome.metadata["expectations"]),
    }
    if outcome.data_docs:
        metadata["data_docs"] = dg.MetadataValue.url(outcome.data_docs)
    if "data_docs_error" in outcome.metadata:
        metadata["data_docs_error"] = outcome.metadata["data_docs_error"]
    return dg.AssetCheckResult(
        check_name=check.name,
        asset_key=check.asset,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.WARN if check.severity == "warn" else dg.AssetCheckSeverity.ERROR,
        description=markdown_text(outcome.details),
        metadata=metadata,
    )


@dg.multi_asset_check(
    name="expectation_suites",
    specs=check_specs(),
    can_subset=True,
    pool=WAREHOUSE_POOL,
    compute_kind="great_expectations",
    description="The great-expectations suites of data_contracts/expectation_suites.yaml on the warehouse.",
)
def expectation_suites(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    from cdp_pipeline.quality import run_checks

    selected = {key.name for key in context.selected_asset_check_keys}
    suites = {check.suite for check in check_declarations() if check.name in selected}
    with warehouse.faults():
        outcomes = run_checks(warehouse.paths, suites)
    for outcome in outcomes:
        if outcome.check.name in selected:
            yield check_result(outcome)


warehouse_checks_job = dg.define_asset_job(
    CHECKS_JOB,
    selection=dg.AssetSelection.checks(expectation_suites),
    executor_def=dg.in_process_executor,
    description="Run every data-quality check on the warehouse as it is now (also `cdp check`).",
)
