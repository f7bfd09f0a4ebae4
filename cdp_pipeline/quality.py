"""The warehouse's data-quality checks (issue 13; SPEC §6: verify completeness, accuracy and
consistency after every import).

Declared once, in ``data_contracts/expectation_suites.yaml``: each suite is a great-expectations
suite run over one frame of the warehouse (``sql/checks/<frame>.sql``, or a frame built here for
what SQL cannot read alone: the failure files, the archived originals), and each of its checks is
one Dagster asset check (``dagster_project/defs/warehouse/checks.py``) and one row of ``cdp check``.

great-expectations is imported by ``run_checks`` only (about 4 s): never when a CLI command or a
sensor starts. Its pandas engine runs the suites (its SQL engine cannot read DuckDB: with
duckdb-engine every metric query comes back empty, GX issue #11579). Every value a result shows is
masked first, in the data docs too, which are built into ``$CDP_HOME/data_docs/``.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import yaml

from cdp_pipeline.errors import first_line
from cdp_pipeline.masking import mask_key_value, mask_text
from cdp_pipeline.owner_only import make_owner_folder, owner_only_umask
from cdp_pipeline.resources import contract_text
from cdp_pipeline.settings import CdpPaths
from cdp_pipeline.warehouse import connect_read_only, render_sql
from data_contracts.over_merge_guard import over_merge_guard

SUITES_FILE = "expectation_suites.yaml"
# How many failing values (or rows) a result lists: enough to find them, few enough to read.
EXAMPLES = 10
# Frames up to this many rows name their failing rows by the suite's key; great-expectations
# computes that list for every failing row (not only the examples): 115 s for 544k of 1M rows.
INDEXED_ROWS = 10_000
# Each check run adds a page per suite to the data docs (their index lists the latest run's);
# the pages of older runs stay this long, so the links in recent check results still open.
DATA_DOCS_KEPT_SECONDS = 30 * 24 * 3600
DATA_DOCS_SITE = "cdp"


@dataclass(frozen=True)
class CheckDeclaration:
    """One check: one Dagster asset check on ``asset``, passed when all its expectations pass."""

    name: str
    asset: str
    suite: str
    blocking: bool
    severity: str
    guards: str
    expectations: tuple[dict, ...]


@dataclass(frozen=True)
class SuiteDeclaration:
    """One great-expectations suite over one frame; ``key`` names a row in the results, and the
    ``personal`` columns' values are masked even where they are not a well-formed mobile."""

    suite: str
    asset: str
    frame: str
    key: str
    personal: frozenset[str]
    checks: tuple[CheckDeclaration, ...]


@cache
def suite_declarations() -> tuple[SuiteDeclaration, ...]:
    """The suites of data_contracts/expectation_suites.yaml, checked for what the file must hold."""
    declared = yaml.safe_load(contract_text(SUITES_FILE))
    suites = []
    for entry in declared["suites"]:
        where = f"data_contracts/{SUITES_FILE}: suite {entry.get('suite')!r}"
        missing = {"suite", "asset", "frame", "key", "checks"} - set(entry)
        if missing:
            raise ValueError(f"{where} lacks {', '.join(sorted(missing))}")
        checks = []
        for check in entry["checks"]:
            if not check.get("expectations") or "guards" not in check or "blocking" not in check:
                raise ValueError(f"{where}: check {check.get('name')!r} needs guards, blocking and expectations")
            checks.append(
                CheckDeclaration(
                    name=check["name"],
                    asset=entry["asset"],
                    suite=entry["suite"],
                    blocking=bool(check["blocking"]),
                    severity=check.get("severity", "error"),
                    guards=check["guards"],
                    expectations=tuple(check["expectations"]),
                )
            )
        suites.append(
            SuiteDeclaration(
                suite=entry["suite"],
                asset=entry["asset"],
                frame=entry["frame"],
                key=entry["key"],
                personal=frozenset(entry.get("personal", ())),
                checks=tuple(checks),
            )
        )
    names = [c.name for s in suites for c in s.checks]
    if len(names) != len(set(names)):
        raise ValueError(f"data_contracts/{SUITES_FILE}: a check name is used twice")
    return tuple(suites)


def check_declarations() -> list[CheckDeclaration]:
    return [check for suite in suite_declarations() for check in suite.checks]


@dataclass
class CheckOutcome:
    """What one check found: ``details`` is one masked line; ``metadata`` is JSON-able, masked."""

    check: CheckDeclaration
    passed: bool
    details: str
    metadata: dict[str, Any] = field(default_factory=dict)
    data_docs: str | None = None


# --- frames ------------------------------------------------------------------------------


def failure_file_rows(path: object) -> int:
    """Data rows of a failure file as the write step wrote it (CSV, a header row, cells quoted
    with ``"``); 0 for a missing file (``path`` as pandas gives it: NaN for a batch without one),
    -1 for one that is not that file (a link, a folder, unreadable as such a CSV), so it never
    equals a count of stored failures."""
    if not isinstance(path, str) or not Path(path).exists() and not Path(path).is_symlink():
        return 0
    file = Path(path)
    if file.is_symlink() or not file.is_file():
        return -1
    try:
        with duckdb.connect() as con:
            # the dialect given, not sniffed: a sniffer took the ' of formula-safe cells for the quote
            return con.execute(
                "SELECT count(*) FROM read_csv($p, header = true, all_varchar = true, delim = ',', quote = '\"', "
                "escape = '\"', max_line_size = $line)",
                {"p": path, "line": max(file.stat().st_size + 1, 2_097_152)},
            ).fetchone()[0]
    except duckdb.Error:
        return -1


def reconciled_batches(con: duckdb.DuckDBPyConnection, paths: CdpPaths) -> pd.DataFrame:
    """Every committed batch's figures beside what the warehouse and its failure files hold."""
    frame = con.execute(render_sql("import_batches_checked")).df()
    frame["failure_file_rows"] = [
        failure_file_rows(main) + failure_file_rows(items)
        for main, items in zip(frame["failure_file"], frame["items_failure_file"], strict=True)
    ]
    return frame.drop(columns=["failure_file", "items_failure_file"])


def _source_sample(kind_name: str) -> Callable[[duckdb.DuckDBPyConnection, CdpPaths], pd.DataFrame]:
    def build(con: duckdb.DuckDBPyConnection, paths: CdpPaths) -> pd.DataFrame:
        from cdp_pipeline.kinds import KINDS
        from cdp_pipeline.source_sample import source_sample

        return source_sample(con, paths, next(k for k in KINDS if k.name == kind_name))

    return build


# Frames SQL cannot build alone; every other frame is the result of sql/checks/<frame>.sql.
FRAME_BUILDERS: dict[str, Callable[[duckdb.DuckDBPyConnection, CdpPaths], pd.DataFrame]] = {
    "import_batches_reconciled": reconciled_batches,
    "customer_source_sample": _source_sample("customers"),
    "order_source_sample": _source_sample("tmall"),
}


def check_frame(con: duckdb.DuckDBPyConnection, paths: CdpPaths, frame: str) -> pd.DataFrame:
    builder = FRAME_BUILDERS.get(frame)
    return builder(con, paths) if builder else con.execute(render_sql(frame)).df()


def suite_parameters(today: dt.date | None = None) -> dict[str, Any]:
    """The values the suites' ``{$PARAMETER: name}`` arguments take."""
    return {
        "today": pd.Timestamp(today or dt.date.today()),
        "max_customers_per_key": over_merge_guard().max_customers_per_key,
    }


# --- running -----------------------------------------------------------------------------


def run_checks(
    paths: CdpPaths, suites: Iterable[str] | None = None, today: dt.date | None = None
) -> list[CheckOutcome]:
    """Every check of the named suites (all by default) on the warehouse as it is now, read-only;
    the data docs of this run are built into ``$CDP_HOME/data_docs/``. A suite whose frame
    cannot be built (an archived original changed since its import, say) fails its checks with
    the reason; the other suites still run."""
    wanted = set(suites) if suites is not None else None
    selected = [s for s in suite_declarations() if wanted is None or s.suite in wanted]
    frames, broken = {}, {}
    with connect_read_only(paths.warehouse) as con:
        for suite in selected:
            try:
                frames[suite.suite] = check_frame(con, paths, suite.frame)
            except (duckdb.Error, ValueError, OSError) as error:
                broken[suite.suite] = mask_text(first_line(error))
    judged = [s for s in selected if s.suite in frames]
    outcomes = validate_frames(judged, frames, paths.home / "data_docs", suite_parameters(today)) if judged else []
    outcomes += [
        CheckOutcome(check, False, f"could not be judged: {broken[suite.suite]}", {"rows": 0, "expectations": []})
        for suite in selected
        if suite.suite in broken
        for check in suite.checks
    ]
    order = {check.name: i for i, check in enumerate(check_declarations())}
    return sorted(outcomes, key=lambda outcome: order[outcome.check.name])


def validate_frames(
    suites: list[SuiteDeclaration], frames: dict[str, pd.DataFrame], docs: Path, parameters: dict[str, Any]
) -> list[CheckOutcome]:
    """Each suite over its frame in one ephemeral great-expectations context; the results masked
    where they are stored, then rendered into the data docs at ``docs``."""
    context = ephemeral_context(docs)
    source = context.data_sources.add_pandas("warehouse")
    for suite in suites:
        validation = context.validation_definitions.add(
            _gx().ValidationDefinition(
                name=suite.suite,
                data=source.add_dataframe_asset(suite.suite).add_batch_definition_whole_dataframe("whole table"),
                suite=context.suites.add(expectation_suite(suite)),
            )
        )
        validation.run(
            batch_parameters={"dataframe": frames[suite.suite]},
            expectation_parameters=parameters,
            result_format={
                "result_format": "SUMMARY",
                "partial_unexpected_count": EXAMPLES,
                **({"unexpected_index_column_names": [suite.key]} if len(frames[suite.suite]) <= INDEXED_ROWS else {}),
            },
        )
    by_name = {suite.suite: suite for suite in suites}
    store = context.validation_results_store
    outcomes: dict[str, list[CheckOutcome]] = {}
    for key in store.list_keys():
        result = store.get(key)
        suite = by_name[result.suite_name]
        for item in result.results:
            mask_result(item, suite)
        outcomes[suite.suite] = [
            check_outcome(
                check,
                [r for r in result.results if r.expectation_config.meta.get("check") == check.name],
                len(frames[suite.suite]),
            )
            for check in suite.checks
        ]
        # the data docs put values into HTML as they are: escaped there (only there)
        for item in result.results:
            escape_result(item)
        store.set(key, result)
    try:
        make_owner_folder(docs)
        with owner_only_umask():
            context.build_data_docs(site_names=[DATA_DOCS_SITE])
        remove_old_data_docs(docs)
        for key in store.list_keys():
            url = context.get_docs_sites_urls(resource_identifier=key, site_name=DATA_DOCS_SITE)[0]["site_url"]
            for outcome in outcomes[key.expectation_suite_identifier.name]:
                outcome.data_docs = url
    except OSError as error:  # the checks stand without their pages
        problem = f"data docs not written: {mask_text(first_line(error))}"
        for outcome in (o for found in outcomes.values() for o in found):
            outcome.metadata["data_docs_error"] = problem
    return [outcome for suite in suites for outcome in outcomes[suite.suite]]


def remove_old_data_docs(docs: Path, now: float | None = None) -> list[Path]:
    """Remove the data docs pages of check runs older than ``DATA_DOCS_KEPT_SECONDS``
    (``validations/<suite>/<batch>/<run time>/``); the index and the latest run's pages stay."""
    limit = (now or time.time()) - DATA_DOCS_KEPT_SECONDS
    old = [run for run in docs.glob("validations/*/*/*") if run.is_dir() and run.stat().st_mtime < limit]
    for run in old:
        shutil.rmtree(run, ignore_errors=True)
    return old


def _gx():
    """great-expectations, imported on first use (about 4 s), with its analytics off."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations
    from great_expectations.execution_engine import pandas_execution_engine

    # great-expectations fingerprints an in-memory batch by hashing every row of it (a batch
    # marker no result here reads; each frame is built fresh): 2.3 of 7.5 s of the customers
    # suite at 1.47M rows. Its threshold only skips the hash for frames above it.
    pandas_execution_engine.HASH_THRESHOLD = 0
    return great_expectations


def ephemeral_context(docs: Path):
    """A context that keeps everything in memory but its data docs site, at ``docs``."""
    gx = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    return gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
            data_docs_sites={
                DATA_DOCS_SITE: {
                    "class_name": "SiteBuilder",
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs)},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                }
            },
        ),
    )


def expectation_suite(suite: SuiteDeclaration):
    """The declared suite as great-expectations builds it (an unknown type or argument is
    refused here); each expectation remembers its check in its meta."""
    gx = _gx()
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    built = gx.ExpectationSuite(name=suite.suite)
    for check in suite.checks:
        for expectation in check.expectations:
            built.add_expectation_configuration(
                ExpectationConfiguration(
                    type=expectation["type"], kwargs=expectation["kwargs"], meta={"check": check.name}
                )
            )
    return built


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _printable(text: str) -> str:
    """``text`` with its control characters written as escapes: a value holding ESC or a newline
    would paint or fake a row of the table ``cdp check`` prints."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found[0]):02x}", text)


def escape_result(item: Any) -> None:
    """HTML-escape the (masked) values a validation result lists, for the data docs' pages."""
    result = item.result
    for name in ("partial_unexpected_list", "partial_unexpected_index_list", "partial_unexpected_counts"):
        if name in result:
            result[name] = _escaped(result[name])
    if isinstance(result.get("observed_value"), str):
        result["observed_value"] = html.escape(result["observed_value"])


def _escaped(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    return html.escape(value) if isinstance(value, str) else value


def _masked(value: Any, personal: bool) -> Any:
    if isinstance(value, list | tuple):
        return [_masked(v, personal) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v, personal) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float):
        return value
    return _printable(mask_key_value(str(value)) if personal else mask_text(str(value)))


def mask_result(item: Any, suite: SuiteDeclaration) -> None:
    """Mask a validation result's examples in place: the failing values of personal columns,
    and the key of every listed row when the key is personal."""
    kwargs = item.expectation_config.kwargs
    columns = {kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B"), *kwargs.get("column_list", [])}
    personal = bool(columns & suite.personal)
    result = item.result
    for name in ("partial_unexpected_list", "unexpected_list", "observed_value"):
        if name in result and not isinstance(result[name], int | float | bool | type(None)):
            result[name] = _masked(result[name], personal)
    if "partial_unexpected_counts" in result:
        result["partial_unexpected_counts"] = [
            {"value": _masked(c["value"], personal), "count": c["count"]} for c in result["partial_unexpected_counts"]
        ]
    for name in ("partial_unexpected_index_list", "unexpected_index_list"):
        if name in result:
            result[name] = [
                {k: _masked(v, k in suite.personal) for k, v in row.items()} if isinstance(row, dict) else row
                for row in result[name]
            ]
    result.pop("unexpected_index_query", None)  # pandas code quoting the values


def check_outcome(check: CheckDeclaration, results: list, rows: int) -> CheckOutcome:
    """One check's verdict from its expectations' results."""
    findings = []
    problems = []
    for item in results:
        config = item.expectation_config
        columns = (
            config.kwargs.get("column")
            or config.kwargs.get("column_list")
            or [
                config.kwargs.get("column_A"),
                config.kwargs.get("column_B"),
            ]
        )
        found = {
            "expectation": config.type,
            "columns": columns,
            "success": bool(item.success),
            "unexpected_count": item.result.get("unexpected_count"),
            "unexpected_examples": item.result.get("partial_unexpected_list", [])[:EXAMPLES],
            # rows named by the suite's key (small frames); larger frames list pandas positions: left out
            "unexpected_rows": [
                row for row in item.result.get("partial_unexpected_index_list", [])[:EXAMPLES] if isinstance(row, dict)
            ],
        }
        if "observed_value" in item.result:
            found["observed_value"] = _json_value(item.result["observed_value"])
        error = _exception_message(item.exception_info)
        if error:
            found["error"] = mask_text(str(error))
        findings.append(found)
        if not item.success:
            problems.append(_problem(found))
    passed = bool(results) and all(item.success for item in results)
    if passed:
        details = f"{rows:,} rows: all expectations met" if rows else "no rows to judge"
    else:
        details = f"{rows:,} rows: " + " | ".join(problems)
    metadata = {"rows": rows, "expectations": findings}
    return CheckOutcome(check, passed, details, metadata)


def _problem(found: dict) -> str:
    """One failed expectation in a few words: its columns, what failed and a few examples."""
    columns = found["columns"] if isinstance(found["columns"], str) else " = ".join(map(str, found["columns"]))
    what = found["expectation"].removeprefix("expect_").replace("_", " ")
    if "error" in found:
        return f"{columns}: could not run ({what}): {found['error']}"
    if found.get("unexpected_count") is not None:
        shown = [_example(row) for row in (found["unexpected_rows"] or found["unexpected_examples"])[:3]]
        failing = found["unexpected_count"]
        rows = f"{failing:,} row fails" if failing == 1 else f"{failing:,} rows fail"
        return f"{columns}: {rows} ({what}), e.g. {'; '.join(shown)}"
    return f"{columns}: observed {found.get('observed_value')} ({what})"


def _example(row: Any) -> str:
    if isinstance(row, dict):
        return " ".join(f"{k}={v}" for k, v in row.items())
    return str(row)


def _exception_message(info: dict | None) -> str | None:
    """What stopped an expectation from running: great-expectations reports it at the top of
    ``exception_info``, or per metric under it."""
    if not info:
        return None
    raised = [info, *(v for v in info.values() if isinstance(v, dict))]
    found = next((entry for entry in raised if entry.get("raised_exception")), None)
    return None if found is None else (found.get("exception_message") or "raised an exception")


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)
