"""Nothing lost, nothing let in: crashes and concurrency (issue "Nothing lost, nothing let in").

An import is killed with SIGKILL at named points (``CDP_FAULT_INJECT``, ``cdp_pipeline.faults``)
and after a seeded random delay; run again, the warehouse must be exactly what one clean import
into a fresh CDP_HOME gives. Imports started together queue and all land; imports whose order
the rules say must not matter give the same warehouse in any order.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cdp_pipeline.batches import content_sha256, file_partition_key, file_sha256
from cdp_pipeline.customer_import import import_customer_file
from cdp_pipeline.settings import CdpPaths, CustomerImportSettings, TmallImportSettings
from cdp_pipeline.tmall_import import import_tmall_export
from samples.tmall import PAID, SHIPPED, SUCCESS, random_orders, write_tmall_pair

CDP = str(Path(sys.executable).with_name("cdp"))
POINTS = (
    "after_staging",
    "after_validation",
    "after_matching",
    "mid_failure_file",
    "before_archiving",
    "before_commit",
    "after_commit",
)
CUSTOMER_SETTINGS = {"tags": ("crash",), "group": "crash group"}
TMALL_SETTINGS = {"tags": ("tm",), "group": "tmall buyers"}
BATCH_ID = r"[0-9]{20}-[0-9a-f]{8}"


# --- files -------------------------------------------------------------------------------------


def write_customers(path: Path, n: int, seed: int, prefix: str = "170", tags: str = "VIP") -> Path:
    """``n`` customers (mobiles ``<prefix>xxxxxxxx``), with an empty row, an invalid mobile and a
    duplicate pair, so every import has skipped and failed rows and a failure file."""
    rng = random.Random(seed)
    numbers = rng.sample(range(10**8), n)
    rows = [["姓名", "手机号码", "邮箱", "性别", "客户标签"]]
    for i, number in enumerate(numbers):
        rows.append([f"客户{seed}-{i}", f"{prefix}{number:08d}", f"c{seed}x{i}@example.com", "男女"[i % 2], tags])
    rows += [["", "", "", "", ""], ["坏号", "12345", "", "", ""], ["重复", rows[1][1], "", "", ""]]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def write_tmall(folder: Path, n: int = 30, seed: int = 5, stamp: str = "201709010000") -> tuple[Path, Path]:
    """A real-shaped pair with the default status mix (some orders fail) and an item whose
    order is not in the order report (an item failure file too)."""
    orders_csv, items_csv = write_tmall_pair(folder, random_orders(n, seed=seed), stamp=stamp)
    lines = items_csv.read_bytes().split(b"\r\n")
    orphan = lines[1].replace(b'="', b'="9', 1)  # the first order id with a 9 in front: no such order
    items_csv.write_bytes(b"\r\n".join([*lines[:2], orphan, *lines[2:]]))
    return orders_csv, items_csv


# --- the warehouse, compared -----------------------------------------------------------------------


def snapshot(warehouse: Path, natural: bool = False) -> dict[str, list]:
    """Every contract table's rows, without what legitimately differs between two imports of the
    same files: batch ids (shown as the batch's file) and timestamps of the run. ``natural``: also
    without what depends on arrival order (generated customer/tag/group ids, created vs updated)."""
    cid = "(SELECT coalesce(c.mobile, c.email, c.name) FROM customers c WHERE c.customer_id = x.customer_id)"
    cid = cid if natural else "x.customer_id"
    batch = "(SELECT b.file_name FROM import_batches b WHERE b.batch_id = x.batch_id)"
    first = "NULL" if natural else batch
    tag = "(SELECT t.name FROM tags t WHERE t.tag_id = x.tag_id)"
    group = "(SELECT g.name FROM groups g WHERE g.group_id = x.group_id)"
    counts = "created + updated" if natural else "created, updated"
    outcome = "CASE WHEN outcome IN ('created', 'updated') THEN 'imported' ELSE outcome END" if natural else "outcome"
    details = f"regexp_replace(CAST(details AS VARCHAR), '[^\"]*/failures/{BATCH_ID}', '<failures>/<batch>', 'g')"
    details = "NULL" if natural else details
    event_detail = "regexp_replace(CAST(detail AS VARCHAR), '\"tag_id\":[0-9]+', '', 'g')" if natural else "detail"
    queries = {
        "customers": f"SELECT {cid}, * EXCLUDE (customer_id, created_at, updated_at, created_batch_id) "
        "FROM customers x",
        "customer_identities": f"SELECT {cid}, identity_type, identity_value, {first} FROM customer_identities x",
        "customer_attributes": f"SELECT {cid}, attribute, value FROM customer_attributes x",
        "tags": f"SELECT {'NULL' if natural else 'tag_id'}, name, kind FROM tags",
        "customer_tags": f"SELECT {cid}, {tag}, {first} FROM customer_tags x",
        "groups": f"SELECT {'NULL' if natural else 'group_id'}, name, kind FROM groups",
        "group_members": f"SELECT {group}, {cid}, {first} FROM group_members x",
        "customer_events": f"SELECT {cid}, event_type, CASE WHEN event_type = 'purchase' THEN occurred_at END, "
        f"{event_detail}, {first} FROM customer_events x",
        "import_batches": f"SELECT kind, file_name, file_sha256, status, scanned, skipped, {counts}, failed, encoding, "
        "CAST(headers AS VARCHAR), CAST(settings AS VARCHAR), CAST(refused_columns AS VARCHAR), "
        "CAST(unknown_columns AS VARCHAR), failure_file IS NOT NULL, archive_file IS NOT NULL, business_date, "
        f"{details} FROM import_batches",
        "import_failures": f"SELECT {batch}, row_number, reason_code, reason, CAST(raw AS VARCHAR), reason_codes, "
        "file_role FROM import_failures x",
        "import_row_outcomes": f"SELECT {batch}, row_number, {outcome}, {cid}, "
        f"{'NULL' if natural else 'matched_by'} FROM import_row_outcomes x",
        "orders": f"SELECT {cid}, * EXCLUDE (customer_id, batch_id, first_batch_id) FROM orders x",
        "order_items": "SELECT * EXCLUDE (batch_id) FROM order_items",
        "tmall_order_history": f"SELECT {batch}, * EXCLUDE (batch_id) FROM tmall_order_history x",
        "tmall_item_history": f"SELECT {batch}, * EXCLUDE (batch_id) FROM tmall_item_history x",
    }
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {table: sorted(con.execute(sql).fetchall(), key=repr) for table, sql in queries.items()}
    finally:
        con.close()


def assert_one_clean_import(paths: CdpPaths, expected: dict[str, list]) -> None:
    """The warehouse is what one clean import gives, and nothing of a killed run is left."""
    assert snapshot(paths.warehouse) == expected
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        batches = con.execute("SELECT batch_id, status, failure_file, archive_file FROM import_batches").fetchall()
        assert [b[1] for b in batches] == ["succeeded"]
        batch_id, _, failure_file, archive_file = batches[0]
        for table in ("customer_events", "import_failures", "import_row_outcomes", "customer_tags", "group_members"):
            assert con.execute(f"SELECT DISTINCT batch_id FROM {table} WHERE batch_id IS NOT NULL").fetchall() in (
                [],
                [(batch_id,)],
            ), table
        staging = "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'stg_%'"
        assert con.execute(staging).fetchall() == []
    finally:
        con.close()
    assert not list(paths.work.glob("*.staging"))  # the batch's scratch went with its commit
    assert Path(failure_file).read_bytes().startswith(b"\xef\xbb\xbf")
    assert Path(archive_file).is_file()
    # the failure and archive files of the batch, nothing of the killed one, no temporary files
    assert {p.name.split(".")[0] for p in paths.failures.iterdir()} == {batch_id}
    assert [p.name for p in paths.archive.iterdir()] == [batch_id]
    leftovers = [p for p in paths.home.rglob("*.tmp") if "dagster" not in p.parts]
    assert leftovers == []


def staging_left(paths: CdpPaths) -> list[str]:
    """What staging left: a staging schema in the warehouse (before issue 11) or a partition's
    scratch folder under work/."""
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        sql = "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'stg_%' ORDER BY 1"
        schemas = [row[0] for row in con.execute(sql).fetchall()]
    finally:
        con.close()
    return schemas + sorted(p.name for p in paths.work.glob("*.staging"))


# --- running and killing imports ---------------------------------------------------------------------


def import_customers(paths: CdpPaths, path: Path) -> dict:
    return import_customer_file(path, CustomerImportSettings(**CUSTOMER_SETTINGS), paths)


def import_pair(paths: CdpPaths, pair: tuple[Path, Path]) -> dict:
    return import_tmall_export(*pair, TmallImportSettings(**TMALL_SETTINGS), paths)


def killed_at(point: str, run: Callable[[], object]) -> int | None:
    """Run ``run`` in a forked child with ``CDP_FAULT_INJECT=point``; its exit code."""

    def child() -> None:
        os.environ["CDP_FAULT_INJECT"] = point
        run()

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(120)
    return process.exitcode


def cdp(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CDP_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), **(env or {})}
    environment.pop("CDP_FAULT_INJECT", None) if not env else None
    return subprocess.run([CDP, *args], capture_output=True, text=True, env=environment, timeout=240)


def customer_args(path: Path) -> list[str]:
    return ["import", "customers", str(path), "--tag", "crash", "--group", "crash group", "--json"]


def tmall_args(pair: tuple[Path, Path]) -> list[str]:
    return [
        "import",
        "tmall",
        "--orders",
        str(pair[0]),
        "--items",
        str(pair[1]),
        "--tag",
        "tm",
        "--group",
        "tmall buyers",
    ]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The files, and the warehouse one clean import of each gives in a fresh CDP_HOME."""
    folder = tmp_path_factory.mktemp("files")
    made = {
        "customers": write_customers(folder / "user_2024-05-01.csv", 40, seed=1),
        "tmall": write_tmall(folder / "tmall"),
        "large": write_customers(folder / "user_2024-06-01.csv", 4000, seed=2),
    }
    clean = {}
    for name, run in (
        ("customers", lambda p: import_customers(p, made["customers"])),
        ("tmall", lambda p: import_pair(p, made["tmall"])),
        ("large", lambda p: import_customers(p, made["large"])),
    ):
        paths = CdpPaths(tmp_path_factory.mktemp(f"clean_{name}")).ensure()
        assert run(paths)["status"] == "succeeded"
        clean[name] = snapshot(paths.warehouse)
    return {**made, "clean": clean}


# --- 1. killed at every named point, then run again --------------------------------------------------


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("kind", ["customers", "tmall"])
def test_killed_import_run_again_equals_one_clean_import(files: dict, tmp_path: Path, kind: str, point: str) -> None:
    paths = CdpPaths(tmp_path / "cdp").ensure()
    if kind == "customers":
        run = lambda: import_customers(paths, files["customers"])  # noqa: E731
    else:
        run = lambda: import_pair(paths, files["tmall"])  # noqa: E731
    assert killed_at(point, run) == -signal.SIGKILL
    again = run()
    # killed after the commit, the batch is complete: only then is the file already imported
    assert again["status"] == ("already_imported" if point == "after_commit" else "succeeded")
    assert_one_clean_import(paths, files["clean"][kind])


def test_fault_hook_does_nothing_unless_named(files: dict, tmp_path: Path) -> None:
    paths = CdpPaths(tmp_path / "cdp").ensure()
    assert killed_at("no_such_point", lambda: import_customers(paths, files["customers"])) == 0
    assert_one_clean_import(paths, files["clean"]["customers"])


# --- 2. through `cdp` and Dagster: a killed run does not block or count ---------------------------------


def dagster_runs(home: Path) -> list[dg.DagsterRun]:
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    try:
        instance = dg.DagsterInstance.get()
        return list(instance.get_runs())
    finally:
        os.environ.pop("DAGSTER_HOME", None)


def slots_held(home: Path) -> set[str]:
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    try:
        return dg.DagsterInstance.get().event_log_storage.get_concurrency_run_ids()
    finally:
        os.environ.pop("DAGSTER_HOME", None)


def test_cli_run_after_a_killed_run_is_not_blocked_and_imports_once(
    files: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGKILLed `cdp` leaves its Dagster run STARTED holding the "warehouse" pool slot; the
    next `cdp` marks it failed, frees the slot and imports the file (once)."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = tmp_path / "cdp"
    killed = cdp(home, *customer_args(files["customers"]), env={"CDP_FAULT_INJECT": "before_commit"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (dead,) = dagster_runs(home)
    assert dead.status == dg.DagsterRunStatus.STARTED and slots_held(home) == {dead.run_id}
    again = cdp(home, *customer_args(files["customers"]))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "succeeded"
    statuses = {run.run_id: run.status for run in dagster_runs(home)}
    assert statuses.pop(dead.run_id) == dg.DagsterRunStatus.FAILURE
    assert list(statuses.values()) == [dg.DagsterRunStatus.SUCCESS]
    assert slots_held(home) == set()
    assert_one_clean_import(CdpPaths(home), files["clean"]["customers"])


@pytest.mark.parametrize("seed", [1, 2])
def test_killed_after_a_random_delay_then_run_again(files: dict, tmp_path: Path, seed: int) -> None:
    """A larger file killed at a seeded random moment (whatever it was doing), then run again."""
    paths = CdpPaths(tmp_path / "cdp").ensure()
    process = multiprocessing.get_context("fork").Process(target=lambda: import_customers(paths, files["large"]))
    process.start()
    time.sleep(random.Random(seed).uniform(0.5, 4.0))
    os.kill(process.pid, signal.SIGKILL)
    process.join(30)
    assert import_customers(paths, files["large"])["status"] in ("succeeded", "already_imported")
    assert_one_clean_import(paths, files["clean"]["large"])


def test_only_a_completed_batch_counts_as_imported(files: dict, tmp_path: Path) -> None:
    from cdp_pipeline.batches import previous_import
    from cdp_pipeline.warehouse import connect

    paths = CdpPaths(tmp_path / "cdp").ensure()
    assert killed_at("before_commit", lambda: import_customers(paths, files["customers"])) == -signal.SIGKILL
    assert paths.warehouse.with_name("warehouse.duckdb.wal").stat().st_size > 0  # the killed run's log
    sha = file_sha256(files["customers"])
    with connect(paths.warehouse) as con:  # the killed process's WAL replays on open
        assert previous_import(con, "customers", sha) is None
    assert import_customers(paths, files["customers"])["status"] == "succeeded"
    with connect(paths.warehouse) as con:
        assert previous_import(con, "customers", sha) is not None


# --- 3. imports started together queue and all land --------------------------------------------------


def test_two_cli_imports_and_a_sensor_run_together_all_succeed(cdp_home: CdpPaths, tmp_path: Path) -> None:
    from dagster_project.defs.imports.definitions import IMPORTS

    customer_inbox_sensor = IMPORTS["customers"].sensor

    from dagster_project.definitions import defs
    from dagster_project.defs.shared.resources import WarehouseResource

    first = write_customers(tmp_path / "a.csv", 30, seed=11, prefix="171")
    second = write_customers(tmp_path / "b.csv", 30, seed=12, prefix="172")
    dropped = write_customers(cdp_home.inbox("customers") / "c.csv", 30, seed=13, prefix="173")
    instance = dg.DagsterInstance.get()

    def tick(cursor: str | None):
        context = dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            definitions=defs,
            resources={"warehouse": WarehouseResource(cdp_home=str(cdp_home.home))},
        )
        return customer_inbox_sensor(context)

    (request,) = tick(tick(None).cursor).run_requests
    instance.add_dynamic_partitions("customer_files", [request.partition_key])
    environment = {**os.environ, "CDP_HOME": str(cdp_home.home)}
    environment.pop("CDP_FAULT_INJECT", None)
    clis = [
        subprocess.Popen([CDP, "import", "customers", str(p), "--json"], env=environment, stdout=subprocess.PIPE)
        for p in (first, second)
    ]
    result = defs.resolve_job_def("customer_import").execute_in_process(
        partition_key=request.partition_key, run_config=request.run_config, instance=instance, tags=request.tags
    )
    assert result.success
    reports = [json.loads(process.communicate(timeout=240)[0]) for process in clis]
    assert [process.returncode for process in clis] == [0, 0]
    assert [r["status"] for r in reports] == ["succeeded", "succeeded"]
    con = duckdb.connect(str(cdp_home.warehouse), read_only=True)
    try:
        batches = con.execute("SELECT file_name, status, created FROM import_batches ORDER BY file_name").fetchall()
        # 30 rows each, of which a duplicate pair fails
        assert batches == [("a.csv", "succeeded", 29), ("b.csv", "succeeded", 29), ("c.csv", "succeeded", 29)]
        assert con.execute("SELECT count(*) FROM customers").fetchone() == (87,)
    finally:
        con.close()
    assert not dropped.exists()
    assert {run.status for run in instance.get_runs()} == {dg.DagsterRunStatus.SUCCESS}
    assert instance.event_log_storage.get_concurrency_run_ids() == set()


@pytest.fixture
def cdp_home(request: pytest.FixtureRequest) -> CdpPaths:
    """conftest's ``cdp`` fixture, by another name: in this module ``cdp`` runs the command."""
    return request.getfixturevalue("cdp")


def cdp_together(home: Path, args: list[str], times: int = 3) -> list[subprocess.CompletedProcess]:
    """The real ``cdp ARGS`` started ``times`` times at once; the finished processes."""
    environment = {**os.environ, "CDP_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    environment.pop("CDP_FAULT_INJECT", None)
    processes = [
        subprocess.Popen([CDP, *args], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(times)
    ]
    finished = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        finished.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return finished


@pytest.mark.parametrize("home_state", ["new", "existing"])
@pytest.mark.parametrize("kind", ["customers", "tmall"])
def test_same_bytes_imported_three_times_at_once_import_once(
    files: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, home_state: str
) -> None:
    """Issue 14 item 11: three `cdp import` of the same file at once, in a new CDP_HOME (nothing
    created yet: no Dagster storage, no warehouse) and in one in use: all exit 0, one imports,
    the two others wait and report already_imported with the first one's batch id. Before, two
    crashed: "table runs already exists", an IntegrityError on the dynamic partition, a
    CatalogException on the staging schema the other process had dropped."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = tmp_path / "cdp"
    if home_state == "existing":
        other = write_customers(tmp_path / "other.csv", 5, seed=51, prefix="177")
        assert cdp(home, "import", "customers", str(other), "--json").returncode == 0
    args = customer_args(files["customers"]) if kind == "customers" else [*tmall_args(files["tmall"]), "--json"]
    finished = cdp_together(home, args)
    assert [p.returncode for p in finished] == [0, 0, 0], [p.stderr[-2000:] for p in finished]
    reports = [json.loads(p.stdout) for p in finished]
    assert sorted(r["status"] for r in reports) == ["already_imported", "already_imported", "succeeded"]
    assert len({r["batch_id"] for r in reports}) == 1
    sha = file_sha256(files["customers"]) if kind == "customers" else content_sha256(files["tmall"])
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        batches = con.execute("SELECT batch_id, status FROM import_batches WHERE file_sha256 = $s", {"s": sha})
        assert batches.fetchall() == [(reports[0]["batch_id"], "succeeded")]
        assert con.execute("SELECT count(*) FROM import_batches").fetchone() == (1 if home_state == "new" else 2,)
        staging = con.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'stg_%'")
        assert staging.fetchone() == (0,)
    finally:
        con.close()
    assert not list((home / "work").glob("*.staging"))
    runs = dagster_runs(home)
    assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
    assert list((home / "work").iterdir()) == []  # no lock file left behind


def test_a_dagster_run_waits_for_the_import_lock_of_its_bytes(cdp_home: CdpPaths, tmp_path: Path) -> None:
    """Issue 14 item 11: a run launched by the sensor (or the UI) takes the same lock as `cdp`:
    while another process holds the lock of its partition the run waits, holding no pool slot;
    the holder killed with SIGKILL, the kernel lets go of the lock and the run imports."""
    import threading

    from cdp_pipeline.locks import import_lock
    from dagster_project.definitions import defs
    from dagster_project.defs.imports.definitions import IMPORTS

    source = write_customers(tmp_path / "a.csv", 10, seed=61, prefix="178")
    key = file_partition_key(source.name, file_sha256(source))
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("customer_files", [key])
    held, release = multiprocessing.get_context("fork").Event(), multiprocessing.get_context("fork").Event()

    def holder() -> None:
        with import_lock(cdp_home, "customers", key):
            held.set()
            release.wait(120)

    process = multiprocessing.get_context("fork").Process(target=holder)
    process.start()
    assert held.wait(30)
    results = []
    run = threading.Thread(
        target=lambda: results.append(
            defs.resolve_job_def("customer_import").execute_in_process(
                partition_key=key,
                instance=instance,
                run_config=IMPORTS["customers"].run_config([str(source)], CustomerImportSettings()),
            )
        )
    )
    run.start()
    run.join(5)
    assert run.is_alive() and not results  # waiting for the lock: no step has started
    (waiting,) = instance.get_runs()
    assert instance.all_logs(waiting.run_id, of_type=dg.DagsterEventType.STEP_START) == []
    assert instance.event_log_storage.get_concurrency_run_ids() == set()  # and holding no slot
    os.kill(process.pid, signal.SIGKILL)
    process.join(30)
    run.join(120)
    assert results and results[0].success
    con = duckdb.connect(str(cdp_home.warehouse), read_only=True)
    try:
        assert con.execute("SELECT status FROM import_batches").fetchall() == [("succeeded",)]
    finally:
        con.close()


def test_import_lock_is_exclusive_and_leaves_no_file(tmp_path: Path) -> None:
    """Issue 14 item 11: one holder at a time across processes, a waiter gets the lock when the
    holder lets go, and the lock file is gone once nobody holds it."""
    from cdp_pipeline.locks import import_lock, import_lock_path

    paths = CdpPaths(tmp_path / "cdp").ensure()
    log = tmp_path / "log"

    def worker(n: int) -> None:
        with import_lock(paths, "customers", "00ff"):
            with log.open("a") as handle:
                handle.write(f"in {n}\n")
            time.sleep(0.2)
            with log.open("a") as handle:
                handle.write(f"out {n}\n")

    workers = [multiprocessing.get_context("fork").Process(target=worker, args=(n,)) for n in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
    lines = log.read_text().split()
    pairs = list(zip(lines[0::4], lines[1::4], lines[2::4], lines[3::4], strict=True))
    assert len(pairs) == 4 and all(a == "in" and c == "out" and b == d for a, b, c, d in pairs)  # never interleaved
    assert not import_lock_path(paths, "customers", "00ff").exists()
    # a key that is not a hash (typed into the UI) cannot name a path outside work/
    assert import_lock_path(paths, "customers", "../../x").parent == paths.work


# --- 4. where the rules say order must not matter, it does not -----------------------------------------


def order_independent_files(folder: Path) -> list[tuple[str, object]]:
    """Two customer files of disjoint customers (own tags, one shared group) and three Tmall
    exports sharing orders whose later exports move them on (paid → shipped → success)."""
    base = random_orders(24, seed=31, statuses=[PAID])
    later = random_orders(12, seed=32)  # orders only the last export has, any status
    exports = []
    for stamp, status, extra in (
        ("201801010000", PAID, []),
        ("201803010000", SUCCESS, later),
        ("201802010000", SHIPPED, []),
    ):
        orders = [o for i, o in enumerate(base) if stamp == "201801010000" or i % 2 == 0]
        for order in orders:
            order.status = status
        exports.append(write_tmall_pair(folder / stamp, [*orders, *extra], stamp=stamp))
    return [
        ("customers", write_customers(folder / "user_2024-05-01.csv", 25, seed=41, prefix="174", tags="VIP,老客")),
        ("customers", write_customers(folder / "user_2024-05-02.csv", 25, seed=42, prefix="175", tags="新客")),
        *[("tmall", pair) for pair in exports],
    ]


def test_import_order_does_not_change_the_warehouse(tmp_path: Path) -> None:
    files = order_independent_files(tmp_path / "files")
    rng = random.Random(7)
    orders = [list(range(len(files)))] + [rng.sample(range(len(files)), len(files)) for _ in range(3)]
    assert len({tuple(o) for o in orders}) == 4
    results = []
    for n, order in enumerate(orders):
        paths = CdpPaths(tmp_path / f"cdp{n}").ensure()
        for index in order:
            kind, source = files[index]
            settings = {"tags": ("imported",), "group": "everyone"}
            if kind == "customers":
                summary = import_customer_file(source, CustomerImportSettings(**settings), paths)
            else:
                summary = import_tmall_export(*source, TmallImportSettings(**settings), paths)
            assert summary["status"] == "succeeded"
        results.append(snapshot(paths.warehouse, natural=True))
    assert results[0]["orders"] and results[0]["customer_tags"] and results[0]["group_members"]
    for other in results[1:]:
        for table in results[0]:
            assert other[table] == results[0][table], table


def test_export_dates_not_arrival_decide_an_orders_state(tmp_path: Path) -> None:
    files = order_independent_files(tmp_path / "files")
    paths = CdpPaths(tmp_path / "cdp").ensure()
    for _, pair in reversed([f for f in files if f[0] == "tmall"]):
        import_tmall_export(*pair, TmallImportSettings(), paths)
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        states = con.execute("SELECT export_at, status, count(*) FROM orders GROUP BY ALL ORDER BY ALL").fetchall()
    finally:
        con.close()
    # imported March, February, January: the 12 orders the March export lists end 交易成功 (its date
    # is the latest), the 12 only January lists stay paid; nothing is left as February showed it
    assert (dt.datetime(2018, 1, 1), PAID, 12) in states
    assert sum(n for at, status, n in states if status == SUCCESS and at == dt.datetime(2018, 3, 1)) >= 12
    assert not [s for s in states if s[0] == dt.datetime(2018, 2, 1)]


def test_sensor_tick_fails_a_killed_run_and_frees_its_slot(cdp_home: CdpPaths, tmp_path: Path) -> None:
    """With the daemon, nobody runs `cdp`: the inbox sensors recover dead runs on every tick."""
    from dagster_project.defs.imports.definitions import IMPORTS

    tmall_inbox_sensor = IMPORTS["tmall"].sensor

    from dagster_project.definitions import defs
    from dagster_project.defs.shared.resources import WarehouseResource

    source = write_customers(tmp_path / "a.csv", 10, seed=21, prefix="176")
    key = file_partition_key(source.name, file_sha256(source))
    dg.DagsterInstance.get().add_dynamic_partitions("customer_files", [key])

    def run() -> None:
        defs.resolve_job_def("customer_import").execute_in_process(
            partition_key=key,
            instance=dg.DagsterInstance.get(),
            run_config=IMPORTS["customers"].run_config([str(source)], CustomerImportSettings()),
        )

    assert killed_at("after_matching", run) == -signal.SIGKILL
    instance = dg.DagsterInstance.get()
    (dead,) = instance.get_runs()
    assert dead.status == dg.DagsterRunStatus.STARTED
    assert instance.event_log_storage.get_concurrency_run_ids() == {dead.run_id}
    assert staging_left(cdp_home) == [f"customers-{key}.staging"]
    context = dg.build_sensor_context(
        instance=instance, definitions=defs, resources={"warehouse": WarehouseResource(cdp_home=str(cdp_home.home))}
    )
    tmall_inbox_sensor(context)
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.event_log_storage.get_concurrency_run_ids() == set()
    assert staging_left(cdp_home) == []  # the dead run's scratch is removed, not left behind
    run()
    assert [r.status for r in instance.get_runs()] == [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]
