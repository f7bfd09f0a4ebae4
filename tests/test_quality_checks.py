"""Issue 13: the data-quality checks. Each check is run on a real warehouse (the demo's customer
files and Tmall export, imported by the engine), passes there, and fails once the warehouse is
corrupted on purpose in the way the check guards against; they appear on their assets, run
through Dagster and ``cdp check``, and keep great-expectations off every start-up path."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cdp_pipeline.customer_import import import_customer_file
from cdp_pipeline.quality import check_declarations, run_checks, suite_declarations, suite_parameters
from cdp_pipeline.settings import CdpPaths, CustomerImportSettings, TmallImportSettings
from cdp_pipeline.tmall_import import import_tmall_export

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 12, 1)
CHECKS = {check.name: check for check in check_declarations()}
# one more customer than data_contracts/over_merge_guard.yaml lets hold one key
OVER_LIMIT = suite_parameters()["max_customers_per_key"] + 1


@pytest.fixture(scope="module")
def clean_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse made by real imports: the demo's customer files (with failed rows, so failure
    files) and its Tmall export pair."""
    home = tmp_path_factory.mktemp("clean") / "cdp"
    demo = home.parent / "demo"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_demo_files.py"), str(demo)], check=True)
    paths = CdpPaths(home).ensure()
    import_customer_file(demo / "user_2024-05-01.csv", CustomerImportSettings(tags=["demo"]), paths)
    import_customer_file(demo / "user_2024-05-02_gb18030.csv", CustomerImportSettings(), paths)
    tmall = demo / "tmall"
    import_tmall_export(
        tmall / "ExportOrderList201709010000.csv", tmall / "ExportOrderDetailList201709010000.csv",
        TmallImportSettings(), paths,
    )  # fmt: skip
    return home


@pytest.fixture
def home(clean_home: Path, tmp_path: Path) -> CdpPaths:
    """A copy of the clean warehouse (its archive and failure files too) to corrupt."""
    copy = tmp_path / "cdp"
    shutil.copytree(clean_home, copy, symlinks=True)
    # the failure files' paths are stored absolute: point them at the copy
    with duckdb.connect(str(copy / "warehouse.duckdb")) as con:
        con.execute("UPDATE import_batches SET failure_file = replace(failure_file, $a, $b)",
                    {"a": str(clean_home), "b": str(copy)})  # fmt: skip
        con.execute("UPDATE import_batches SET archive_file = replace(archive_file, $a, $b)",
                    {"a": str(clean_home), "b": str(copy)})  # fmt: skip
        con.execute(
            "UPDATE import_batches SET details = CAST(replace(CAST(details AS VARCHAR), $a, $b) AS JSON)",
            {"a": json.dumps(str(clean_home))[1:-1], "b": json.dumps(str(copy))[1:-1]},
        )
    return CdpPaths(copy)


def corrupt(paths: CdpPaths, *statements: str) -> None:
    with duckdb.connect(str(paths.warehouse)) as con:
        for statement in statements:
            con.execute(statement)


def outcomes_of(paths: CdpPaths, suite: str) -> dict:
    return {o.check.name: o for o in run_checks(paths, [suite], today=TODAY)}


# One corruption per check: what the check guards against, done to a real warehouse.
CORRUPTIONS = {
    "customer_ids_unique": ["INSERT INTO customers SELECT * FROM customers LIMIT 1"],
    "customer_mobiles_valid": [
        "UPDATE customers SET mobile = '1380013800' WHERE customer_id = (SELECT min(customer_id) FROM customers)"
    ],
    "customer_emails_valid": [
        "UPDATE customers SET email = 'Zhang.Wei@Example.com' "
        "WHERE customer_id = (SELECT min(customer_id) FROM customers)"
    ],
    "customer_birthdays_not_future": [
        "UPDATE customers SET birthday = DATE '2026-12-02' WHERE customer_id = (SELECT max(customer_id) FROM customers)"
    ],
    "contact_keys_not_overmerged": [
        "UPDATE customers SET mobile = '13912345678' WHERE customer_id IN "
        f"(SELECT customer_id FROM customers ORDER BY customer_id LIMIT {OVER_LIMIT})"
    ],
    "identity_single_owner": [
        "INSERT INTO customer_identities SELECT c.customer_id, i.identity_type, i.identity_value, NULL "
        "FROM (SELECT * FROM customer_identities LIMIT 1) i, "
        "(SELECT customer_id FROM customers "
        "WHERE customer_id NOT IN (SELECT customer_id FROM customer_identities) LIMIT 1) c"
    ],
    "identity_customers_exist": ["INSERT INTO customer_identities VALUES ('C_GONE', 'wechat_openid', 'oGone', NULL)"],
    "identity_values_not_overmerged": [
        "INSERT INTO customer_identities SELECT customer_id, 'type_' || row_number() OVER (), 'undefined', NULL "
        f"FROM (SELECT customer_id FROM customers ORDER BY customer_id LIMIT {OVER_LIMIT})"
    ],
    "order_ids_unique": ["INSERT INTO orders SELECT * FROM orders LIMIT 1"],
    "order_statuses_accepted": [
        "UPDATE tmall_order_history SET status = '等待买家付款' WHERE order_id = (SELECT min(order_id) FROM orders) "
        "AND batch_id = (SELECT first_batch_id FROM orders WHERE order_id = (SELECT min(order_id) FROM orders))"
    ],
    "order_amounts_not_negative": [
        "UPDATE orders SET paid_amount = -0.01 WHERE order_id = (SELECT min(order_id) FROM orders)"
    ],
    "order_customers_exist": [
        "UPDATE orders SET customer_id = 'C_GONE' WHERE order_id = (SELECT max(order_id) FROM orders)"
    ],
    "order_items_have_orders": [
        "INSERT INTO order_items (order_id, line_number, title) VALUES ('999999999999999999', 1, 'orphan')"
    ],
    "batch_counts_add_up": ["UPDATE import_batches SET scanned = scanned + 1 WHERE kind = 'customers'"],
    "batch_failures_stored": [
        "DELETE FROM import_failures WHERE rowid = (SELECT min(rowid) FROM import_failures WHERE file_role IS NULL)"
    ],
    "tmall_orders_reconciled": [
        "DELETE FROM customer_events "
        "WHERE rowid = (SELECT min(rowid) FROM customer_events WHERE event_type = 'purchase')"
    ],
    "customers_match_source": ["UPDATE customers SET name = name || '?'"],
    "orders_match_source": ["UPDATE orders SET receiver_name = receiver_name || '?', paid_amount = paid_amount + 1"],
}


def test_every_declared_check_has_a_corruption_here() -> None:
    """Issue 13 item: each check has a test that corrupts a real warehouse (this file's table
    names every declared check, and only those)."""
    assert set(CORRUPTIONS) == set(CHECKS)


@pytest.mark.parametrize("suite", [s.suite for s in suite_declarations()])
def test_every_check_passes_on_the_clean_warehouse(clean_home: Path, suite: str) -> None:
    """Issue 13 item: on a warehouse made by real imports every check passes, over real rows."""
    outcomes = outcomes_of(CdpPaths(clean_home), suite)
    assert outcomes and all(o.passed for o in outcomes.values()), {n: o.details for n, o in outcomes.items()}
    # shared_contact_keys' frame holds only the values several customers share: none here
    if suite != "shared_contact_keys":
        for outcome in outcomes.values():
            assert outcome.metadata["rows"] > 0, f"{outcome.check.name} judged no rows"


@pytest.mark.parametrize("check", sorted(CORRUPTIONS))
def test_each_check_fails_on_its_corruption(home: CdpPaths, check: str) -> None:
    """Issue 13 item: each check fails once the warehouse holds what it guards against, and the
    other checks of its suite still pass (each check sees its own fault only)."""
    corrupt(home, *CORRUPTIONS[check])
    outcomes = outcomes_of(home, CHECKS[check].suite)
    assert not outcomes[check].passed, outcomes[check].details
    assert outcomes[check].details and "rows" in outcomes[check].details
    others = {n: o.details for n, o in outcomes.items() if n != check and not o.passed}
    assert others == {}


def test_a_failure_file_losing_a_row_fails_reconciliation(home: CdpPaths) -> None:
    """Issue 13 item: reconciliation — the stored failures must equal the failure file's rows."""
    with duckdb.connect(str(home.warehouse)) as con:
        path = Path(con.execute("SELECT failure_file FROM import_batches WHERE failed > 0 LIMIT 1").fetchone()[0])
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), encoding="utf-8-sig")
    outcome = outcomes_of(home, "import_batches")["batch_failures_stored"]
    assert not outcome.passed
    assert "failure_file_rows" in outcome.details


def test_failing_values_are_masked_in_results_and_data_docs(home: CdpPaths) -> None:
    """Issue 13 item: a check lists the failing rows masked (SPEC §7) — mobiles that are not
    mobiles too — in its details, its metadata and the data docs it builds, owner-only."""
    corrupt(
        home,
        "UPDATE customers SET mobile = '1391234567', email = 'Wang.Fang@Example.com' "
        "WHERE customer_id = (SELECT min(customer_id) FROM customers)",
    )
    outcomes = outcomes_of(home, "customers")
    shown = json.dumps([(o.details, o.metadata) for o in outcomes.values()], ensure_ascii=False)
    assert "mobile=139*****67" in shown and "Wan" in shown
    docs = home.home / "data_docs"
    pages = [p for p in docs.rglob("*.html")]
    assert pages and outcomes["customer_mobiles_valid"].data_docs.startswith(f"file://{docs}/validations/")
    for text in [shown, *(p.read_text(encoding="utf-8") for p in pages)]:
        assert "1391234567" not in text and "Wang.Fang@Example.com" not in text
    assert stat.S_IMODE(docs.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in pages)


def test_checks_are_read_only(clean_home: Path) -> None:
    """Issue 13 item: running the checks never writes the warehouse."""
    warehouse = clean_home / "warehouse.duckdb"
    before = warehouse.read_bytes()
    run_checks(CdpPaths(clean_home), ["customers", "import_batches"], today=TODAY)
    assert warehouse.read_bytes() == before


def test_checks_appear_on_their_table_assets(cdp: CdpPaths) -> None:
    """Issue 13 item: every declared check is an asset check on its table asset in the code
    location (the UI's Checks tab lists them), with its description and blocking flag, and the
    warehouse_checks job runs them all; integrity checks are blocking."""
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    specs = {spec.key.name: spec for spec in (graph.get_check_spec(key) for key in graph.asset_check_keys)}
    assert set(specs) == set(CHECKS)
    for name, check in CHECKS.items():
        assert specs[name].asset_key == dg.AssetKey(check.asset)
        assert specs[name].description == check.guards
        assert specs[name].blocking == check.blocking
    on_tables = {specs[n].asset_key.to_user_string() for n in specs}
    assert on_tables == {"customers", "customer_identities", "orders", "order_items", "import_batches"}
    blocking = {n for n, s in specs.items() if s.blocking}
    assert {
        "customer_ids_unique", "identity_single_owner", "order_ids_unique", "order_customers_exist",
        "order_items_have_orders", "batch_counts_add_up", "batch_failures_stored",
    } <= blocking  # fmt: skip
    job = defs.resolve_job_def("warehouse_checks")
    assert set(job.asset_layer.asset_graph.asset_check_keys) >= {spec.key for spec in specs.values()}


def run_check_job(paths: CdpPaths) -> dg.ExecuteInProcessResult:
    from dagster_project.definitions import defs

    return defs.resolve_job_def("warehouse_checks").execute_in_process(
        instance=dg.DagsterInstance.get(), raise_on_error=False
    )


def test_a_failing_blocking_check_fails_the_check_run_and_holds_the_overview(
    cdp: CdpPaths, clean_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 item: the checks run as a Dagster job and their results are recorded on the
    assets; a blocking check that fails fails the run, and the customer overview (downstream of
    customers) is not requested while a blocking check of customers fails; once it passes, it is."""
    from dagster_project.definitions import defs

    shutil.copy2(clean_home / "warehouse.duckdb", cdp.warehouse)
    instance = dg.DagsterInstance.get()
    overview = dg.AssetKey("customer_overview")
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    instance.report_runless_asset_event(dg.AssetMaterialization("customer_profiles"))
    instance.report_runless_asset_event(dg.AssetMaterialization("customers"))
    corrupt(cdp, CORRUPTIONS["customer_ids_unique"][0])
    failed = run_check_job(cdp)
    assert not failed.success
    evaluations = {e.check_name: e for e in failed.get_asset_check_evaluations()}
    assert set(evaluations) == set(CHECKS) and not evaluations["customer_ids_unique"].passed
    assert evaluations["customer_ids_unique"].metadata["data_docs"].value.startswith("file://")
    ticked = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert ticked.get_num_requested(overview) == 0

    corrupt(cdp, "DELETE FROM customers WHERE rowid = (SELECT max(rowid) FROM customers)")
    assert run_check_job(cdp).success
    assert (
        dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=ticked.cursor).get_num_requested(
            overview
        )
        == 1
    )


def test_checks_follow_each_table_update(cdp: CdpPaths) -> None:
    """Issue 13 item: a check is requested by its automation condition once its table is
    updated (an import reports the table's materialization), and not again until the next one."""
    from dagster_project.definitions import defs

    instance = dg.DagsterInstance.get()
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    instance.report_runless_asset_event(dg.AssetMaterialization("orders"))
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    # the result counts requested checks, but names only requested assets: none here
    assert second.total_requested == sum(check.asset == "orders" for check in CHECKS.values())
    assert all(second.get_num_requested(key) == 0 for key in defs.resolve_asset_graph().get_all_asset_keys())
    third = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=second.cursor)
    assert third.total_requested == 0


def cdp_command(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CDP_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    return subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_cdp_check_prints_every_check_and_exits_4_on_a_blocking_failure(home: CdpPaths) -> None:
    """Issue 13 item: ``cdp check`` runs every check on the current warehouse, prints a table
    (check, asset, passed, details) or JSON records with --json, exits 0 when the blocking
    checks pass (a failed warning check is reported, not an exit code) and 4 when one fails."""
    # a table the source samples never read: their random draw cannot see it
    corrupt(home, *CORRUPTIONS["order_statuses_accepted"])
    clean = cdp_command(home.home, "check")
    assert clean.returncode == 0, clean.stderr
    header, *lines = clean.stdout.splitlines()
    assert header.split() == ["check", "asset", "passed", "details"]
    assert any(line.startswith("order_statuses_accepted") and " no " in line for line in lines)
    assert f"{len(CHECKS)} checks: {len(CHECKS) - 1} passed, 1 failed (0 blocking)" in clean.stdout

    corrupt(home, *CORRUPTIONS["order_ids_unique"])
    failed = cdp_command(home.home, "check", "--json")
    assert failed.returncode == 4, failed.stderr
    rows = {row["check"]: row for row in json.loads(failed.stdout)}
    assert set(rows) == set(CHECKS)
    assert rows["order_ids_unique"] == {
        **rows["order_ids_unique"],
        "asset": "orders",
        "passed": False,
        "blocking": True,
    }
    assert {"check", "asset", "passed", "details"} <= set(rows["order_ids_unique"])
    assert rows["customer_ids_unique"]["passed"] is True


def test_great_expectations_is_imported_only_where_checks_run(cdp: CdpPaths) -> None:
    """Issue 13 item: loading the code location (the UI, a sensor's tick) and a CLI command
    other than check never import great-expectations (~4 s)."""
    probe = (
        "import sys\n"
        "from dagster_project.definitions import defs\n"
        "from dagster_project.cli import main\n"
        "main(['batches'])\n"
        "import dagster as dg\n"
        "sensor = defs.resolve_sensor_def('customer_inbox_sensor')\n"
        "with dg.build_sensor_context(instance=dg.DagsterInstance.get(), resources=defs.resources) as context:\n"
        "    sensor(context)\n"
        "print('great_expectations' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_data_docs_of_old_check_runs_are_removed(clean_home: Path) -> None:
    """Issue 13 item: the data docs keep the pages of recent check runs (their links in the
    results still open) and lose those older than DATA_DOCS_KEPT_SECONDS: a check run after
    every import must not fill the disk."""
    from cdp_pipeline.quality import DATA_DOCS_KEPT_SECONDS, remove_old_data_docs

    run_checks(CdpPaths(clean_home), ["order_items"], today=TODAY)
    docs = clean_home / "data_docs"
    runs = [p for p in docs.glob("validations/*/*/*") if p.is_dir()]
    assert runs
    old, recent = runs[0], runs[1:]
    stale = time.time() - DATA_DOCS_KEPT_SECONDS - 60
    os.utime(old, (stale, stale))
    assert remove_old_data_docs(docs) == [old]
    assert not old.exists() and all(p.exists() for p in recent) and (docs / "index.html").is_file()


def test_failure_files_with_formula_safe_cells_reconcile(paths: CdpPaths, make_csv) -> None:
    """Issue 13 item: reconciliation counts a failure file as the write step wrote it: cells it
    prefixed with ' (formula-safe) are not quotes (a sniffing reader counted 1 row of 2, and the
    blocking check failed on a healthy warehouse: found by the issue's probe)."""
    rows = [["姓名", "手机号码", "邮箱"], ["甲", "'13912345601", "bad@"], ["乙", "'13912345602", "bad2@"]]
    summary = import_customer_file(make_csv(rows), CustomerImportSettings(), paths)
    assert summary["failed"] == 2
    outcome = outcomes_of(paths, "import_batches")["batch_failures_stored"]
    assert outcome.passed, outcome.details


def test_a_birthday_far_in_the_future_fails_its_check_and_nothing_else(home: CdpPaths) -> None:
    """Issue 13 item: a date outside what pandas holds (9999-12-31 imports as a date) fails
    customer_birthdays_not_future; the other checks still run (before: every check run crashed)."""
    corrupt(
        home,
        "UPDATE customers SET birthday = DATE '9999-12-31' "
        "WHERE customer_id = (SELECT min(customer_id) FROM customers)",
        "UPDATE customers SET birthday = DATE '1000-01-01' "
        "WHERE customer_id = (SELECT max(customer_id) FROM customers)",
    )
    outcomes = outcomes_of(home, "customers")
    assert {n for n, o in outcomes.items() if not o.passed} == {"customer_birthdays_not_future"}


def test_an_archive_changed_since_its_import_fails_the_sample_check_only(home: CdpPaths) -> None:
    """Issue 13 item: sampling verification reads the archived original; one that changed since
    its import fails its check with the reason, and every other check still reports (before: the
    whole check run crashed)."""
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        batch, name = con.execute(
            "SELECT batch_id, file_name FROM import_batches WHERE kind = 'customers' ORDER BY finished_at DESC LIMIT 1"
        ).fetchone()
    with (home.archive / batch / name).open("ab") as archived:
        archived.write(b"x\n")
    outcomes = {o.check.name: o for o in run_checks(home, today=TODAY)}
    assert set(outcomes) == set(CHECKS)
    assert {n for n, o in outcomes.items() if not o.passed} == {"customers_match_source"}
    assert outcomes["customers_match_source"].details.startswith("could not be judged: ")


def test_listed_values_cannot_inject_html_or_terminal_codes(home: CdpPaths) -> None:
    """Issue 13 item: a failing value is HTML-escaped in the data docs and its control characters
    written as escapes in the details (an order id of <img onerror> or ESC[31m; found by the
    issue's probe)."""
    corrupt(
        home,
        "UPDATE orders SET order_id = '<img src=x onerror=alert(1)>' "
        "WHERE order_id IN (SELECT order_id FROM orders ORDER BY order_id LIMIT 2)",
        "UPDATE orders SET order_id = chr(27) || '[31mRED' || chr(10) || 'fake' "
        "WHERE order_id = (SELECT min(order_id) FROM orders)",  # a digit sorts before <
    )
    outcomes = outcomes_of(home, "orders")
    assert not outcomes["order_ids_unique"].passed  # the two orders now share the id: listed
    outcome = outcomes["order_statuses_accepted"]
    assert not outcome.passed
    assert "\x1b" not in outcome.details and "\n" not in outcome.details
    assert "\\x1b[31mRED\\x0afake" in outcome.details
    orders_pages = (home.home / "data_docs" / "validations" / "orders").rglob("*.html")
    pages = "".join(page.read_text(encoding="utf-8") for page in orders_pages)
    assert "<img src=x" not in pages and "&lt;img src=x" in pages


def test_cdp_check_without_a_warehouse_is_the_environments_fault(tmp_path: Path) -> None:
    """Issue 13 item: ``cdp check`` before any import exits 3 with one line, as ``cdp sql`` does
    (it judged an empty warehouse and passed)."""
    done = cdp_command(tmp_path / "cdp", "check")
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"cdp: error: {tmp_path / 'cdp' / 'warehouse.duckdb'}: no warehouse yet: nothing has been imported "
        "(cdp import customers FILE)"
    ]
