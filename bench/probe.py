"""Measurements that run inside the project's venv, each in its own process (``run.py`` times and
samples the process): ``python bench/probe.py COMMAND ...``; each prints one JSON object.

- ``init-home HOME``: create the Dagster instance of a CDP_HOME (done once on the template home).
- ``floor CSV DB``: DuckDB's own floor: ``CREATE TABLE AS SELECT * FROM read_csv(CSV)`` into DB.
- ``steps HOME FILE [EXPORT_DIR]``: the engine's import steps for a customer file timed one by
  one, without Dagster; with EXPORT_DIR, the cleaned keys of both sides go to Parquet for Splink.
- ``tmall-steps HOME ORDERS ITEMS``: the same for a Tmall export pair.
- ``dagster-steps``: step durations of the newest run on ``$DAGSTER_HOME``, from its event log.
- ``sensor HOME``: two ticks of ``customer_inbox_sensor`` over ``HOME/inbox/customers``.
- ``baseline CSV DB``: the hand-written DuckDB import (``bench/baseline.sql``) of CSV into DB, a
  copy of the base warehouse; timed inside the process, with its counts.
- ``checks HOME``: the data-quality suites (issue 13) on HOME's warehouse, one suite at a time
  in one process: great-expectations' import, then each suite's seconds and its frame's rows.
- ``inbox-drop HOME FILE...``: the files dropped together into ``HOME/inbox/customers``, imported
  as production does (``dagster-daemon``: the sensor requests the runs, the queue launches them);
  wall time from the first launch to the last run's end, and each run's steps from its event log.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def init_home(home: str) -> dict:
    from cdp_pipeline.settings import CdpPaths
    from dagster_project.instance import local_instance

    instance = local_instance(CdpPaths(Path(home)).ensure())
    instance.get_runs(limit=1)
    return {"home": home}


def floor(csv_path: str, db_path: str) -> dict:
    import duckdb

    Path(db_path).unlink(missing_ok=True)
    con = duckdb.connect(db_path)
    try:
        started = time.perf_counter()
        con.execute("CREATE TABLE file_rows AS SELECT * FROM read_csv($path)", {"path": csv_path})
        con.execute("CHECKPOINT")
        seconds = time.perf_counter() - started
        rows = con.execute("SELECT count(*) FROM file_rows").fetchone()[0]
    finally:
        con.close()
        Path(db_path).unlink(missing_ok=True)
    return {"seconds": seconds, "rows": rows}


BASELINE_SQL = Path(__file__).resolve().parent / "baseline.sql"


def baseline(csv_path: str, db_path: str) -> dict:
    """``bench/baseline.sql`` on DB (a copy of the base, made and removed by run.py), each statement
    timed; ``seconds`` is the whole script, BEGIN to CHECKPOINT. The counts are read afterwards
    from its temp tables, outside the timing."""
    import duckdb

    text = BASELINE_SQL.read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    statements = [s.strip().rstrip(";") for s in body.split(";\n") if s.strip()]
    con = duckdb.connect(db_path)
    statement_seconds: dict[str, float] = {}
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET VARIABLE csv_path = $path", {"path": str(Path(csv_path).resolve())})
        customers_before = con.execute("SELECT count(*) FROM customers").fetchone()[0]
        started = time.perf_counter()
        for statement in statements:
            began = time.perf_counter()
            con.execute(statement)
            label = " ".join(statement.split())[:60]
            statement_seconds[label] = round(time.perf_counter() - began, 3)
        seconds = time.perf_counter() - started
        counts = con.execute(
            """
            SELECT (SELECT count(*) FROM baseline_file) AS file_rows,
                   (SELECT count(*) FROM baseline_rows) AS kept_rows,
                   count(*) FILTER (WHERE matched_by = 'mobile') AS matched_by_mobile,
                   count(*) FILTER (WHERE matched_by = 'email') AS matched_by_email,
                   count(DISTINCT customer_id) AS customers_updated,
                   count(*) FILTER (WHERE customer_id IS NULL) AS inserted
            FROM baseline_matches
            """
        ).fetchone()
        names = ["file_rows", "kept_rows", "matched_by_mobile", "matched_by_email", "customers_updated", "inserted"]
        result = dict(zip(names, counts, strict=True))
        result["skipped_no_key_or_duplicate"] = result["file_rows"] - result["kept_rows"]
        result["matched"] = result["matched_by_mobile"] + result["matched_by_email"]
        customers_after = con.execute("SELECT count(*) FROM customers").fetchone()[0]
    finally:
        con.close()
    if customers_after - customers_before != result["inserted"]:
        raise RuntimeError(f"customers grew by {customers_after - customers_before}, not {result['inserted']}")
    return {"seconds": seconds, "counts": result, "statements": statement_seconds}


SPLINK_BASE_SQL = """
COPY (
    SELECT c.customer_id AS unique_id, c.customer_id, c.mobile, c.email, i.identity_value AS openid
    FROM customers c
    LEFT JOIN customer_identities i ON i.customer_id = c.customer_id AND i.identity_type = 'wechat_openid'
) TO '{path}' (FORMAT parquet)
"""
SPLINK_FILE_SQL = """
COPY (
    SELECT 'row' || r.row_number AS unique_id, r.customer_id, r.mobile, r.email, i.identity_value AS openid
    FROM {staging}.customer_rows r
    LEFT JOIN {staging}.customer_row_identities i
           ON i.row_number = r.row_number AND i.identity_type = 'wechat_openid'
    WHERE NOT r.is_empty AND r.row_number NOT IN (SELECT row_number FROM {staging}.contract_failures)
) TO '{path}' (FORMAT parquet)
"""


class TimedConnection:
    """A DuckDB connection that times each ``execute``, labelled by the ``sql/`` file it came from."""

    def __init__(self, con, names: dict[str, str], timings: dict[str, float]):
        self._con, self._names, self._timings = con, names, timings

    def __getattr__(self, name):
        return getattr(self._con, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._con.close()

    def execute(self, query, *args, **kwargs):
        began = time.perf_counter()
        try:
            return self._con.execute(query, *args, **kwargs)
        finally:
            label = self._names.get(query) or "sql: " + " ".join(str(query).split())[:70]
            self._timings[label] = self._timings.get(label, 0.0) + time.perf_counter() - began


def _instrument(timings: dict[str, float], names: dict[str, str]) -> None:
    """Time the Python work of an import (decoding, pandera, failure file, archive copy), every
    DuckDB statement (each connection the engine opens is wrapped) and remember which ``sql/``
    file each rendered statement came from. Only this process is patched."""
    import duckdb

    from cdp_pipeline import batch_writes, batches, customer_import, engine, readers, tmall_import, warehouse

    def timed(module, attribute: str, label: str) -> None:
        original = getattr(module, attribute)

        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timings[label] = timings.get(label, 0.0) + time.perf_counter() - began

        setattr(module, attribute, wrapper)

    timed(readers, "write_normalized_csv", "python: decode + normalise CSV (streaming pass)")
    timed(readers, "detect_encoding", "python: detect encoding")
    timed(readers, "_stage_xlsx", "python: read XLSX")
    timed(batches, "file_sha256", "python: sha256 of the file")
    timed(engine, "run_contract", "python: pandera contract (with its DuckDB reads)")
    timed(batch_writes, "write_failure_csv", "write failure file")
    timed(batch_writes, "copy_owner_only", "python: copy source to archive")

    original_connect = duckdb.connect
    duckdb.connect = lambda *args, **kwargs: TimedConnection(original_connect(*args, **kwargs), names, timings)

    original_render = warehouse.render_sql

    def render(name: str, folders: tuple = (), **parts: str) -> str:
        text = original_render(name, folders, **parts)
        names[text] = f"sql/{name}.sql"
        return text

    for module in (warehouse, engine, customer_import, batch_writes, tmall_import):
        module.render_sql = render


def _first_cause(error: BaseException) -> str:
    """The exception that started it (a failed ROLLBACK raises again while handling the first)."""
    while error.__context__ is not None:
        error = error.__context__
    return f"{type(error).__name__}: {str(error).splitlines()[0]}"


def kind_steps(kind, home: str, files: list[str], export_dir: str | None = None) -> dict:
    """The engine's steps for one import, one after another as ``import_files`` runs them: stage,
    validate, match and write (the last two on the warehouse's connection), with the time of every
    SQL statement and Python pass inside them (``detail``)."""
    from cdp_pipeline import engine
    from cdp_pipeline.batches import STAGING
    from cdp_pipeline.settings import CdpPaths
    from cdp_pipeline.warehouse import connect

    paths = CdpPaths(Path(home)).ensure()
    detail: dict[str, float] = {}
    names: dict[str, str] = {}  # rendered SQL text → its sql/ file, filled as statements are rendered
    _instrument(detail, names)
    timings: dict[str, float] = {}
    result: dict = {"timings": timings}

    def timed(name, function, *args, **kwargs):
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - began

    match_rows = engine.match_rows
    engine.match_rows = lambda con, kind: timed("match", match_rows, con, kind)
    context = timed("stage", engine.stage_import, kind, [Path(f) for f in files], kind.settings(), paths, force=True)
    timed("validate", engine.validate_import, kind, context.key, paths)
    if export_dir:
        folder = Path(export_dir)
        folder.mkdir(parents=True, exist_ok=True)
        with connect(paths.warehouse) as con, engine.attached_scratch(con, paths, kind.name, context.key):
            con.execute(SPLINK_BASE_SQL.format(path=folder / "base.parquet"))
            con.execute(SPLINK_FILE_SQL.format(path=folder / "file.parquet", staging=STAGING))
    try:
        written = timed("write", engine.write_import, kind, context.key, paths)
        result["counts"], result["summary"] = written.counts, written.summary
        timings["write"] -= timings.get("match", 0.0)  # the write step's own part, after matching
    except Exception as error:  # reported, not raised: the earlier steps' figures still count
        result["error"] = f"write step: {_first_cause(error)}"
    result["detail"] = dict(sorted(detail.items(), key=lambda item: -item[1]))
    return result


def steps(home: str, file: str, export_dir: str | None = None) -> dict:
    """A customer file's import, step by step (``kind_steps``)."""
    started = time.perf_counter()
    from cdp_pipeline.customer_import import CUSTOMERS

    imported = time.perf_counter() - started
    result = kind_steps(CUSTOMERS, home, [file], export_dir)
    result["timings"] = {"python_imports": imported, **result["timings"]}
    return result


def tmall_steps(home: str, orders: str, items: str) -> dict:
    """A Tmall export's import, step by step (``kind_steps``)."""
    started = time.perf_counter()
    from cdp_pipeline.tmall_import import TMALL

    imported = time.perf_counter() - started
    result = kind_steps(TMALL, home, [orders, items])
    result["timings"] = {"python_imports": imported, **result["timings"]}
    return result


def dagster_steps() -> dict:
    """The newest run: seconds before it started (planning), per step, and the whole run."""
    import dagster as dg

    instance = dg.DagsterInstance.get()
    runs = instance.get_runs(limit=1)
    if not runs:
        return {}
    logs = instance.all_logs(runs[0].run_id)
    first = logs[0].timestamp
    marks: dict[str, float] = {}
    started: dict[str, float] = {}
    result: dict[str, float] = {}
    events = 0
    for entry in logs:
        if not entry.is_dagster_event:
            continue
        events += 1
        kind = entry.dagster_event.event_type_value
        if kind in ("PIPELINE_START", "PIPELINE_SUCCESS", "PIPELINE_FAILURE"):
            marks[kind] = entry.timestamp
        elif kind == "STEP_START":
            started[entry.step_key] = entry.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key in started:
            result[f"step:{entry.step_key}"] = entry.timestamp - started[entry.step_key]
    end = marks.get("PIPELINE_SUCCESS") or marks.get("PIPELINE_FAILURE") or logs[-1].timestamp
    return {
        "run_id": runs[0].run_id,
        "status": runs[0].status.value,
        "events": events,
        "before_run_start": marks.get("PIPELINE_START", first) - first,
        "run": end - marks.get("PIPELINE_START", first),
        "first_event_to_end": end - first,
        **result,
    }


def checks(home: str) -> dict:
    """Each suite of data_contracts/expectation_suites.yaml run alone on HOME's warehouse, after
    great-expectations' import and its first validation (both timed apart)."""
    from cdp_pipeline.quality import run_checks, suite_declarations
    from cdp_pipeline.settings import CdpPaths

    began = time.perf_counter()
    import great_expectations  # noqa: F401

    result: dict = {"import_seconds": round(time.perf_counter() - began, 3), "suites": {}}
    # great-expectations' first validation loads its expectations and renderers (~1.5 s): paid
    # once per check run, timed apart on the smallest suite
    began = time.perf_counter()
    run_checks(CdpPaths(Path(home)), ["import_batches"])
    result["first_validation_seconds"] = round(time.perf_counter() - began, 3)
    for suite in suite_declarations():
        began = time.perf_counter()
        outcomes = run_checks(CdpPaths(Path(home)), [suite.suite])
        result["suites"][suite.suite] = {
            "seconds": round(time.perf_counter() - began, 3),
            "rows": outcomes[0].metadata["rows"],
            "passed": all(o.passed for o in outcomes),
        }
    return result


def sensor(home: str) -> dict:
    """Tick 1 looks at the files; tick 2 (size and mtime unchanged) hashes them and requests runs."""
    began = time.perf_counter()
    import dagster as dg

    from dagster_project.defs.imports.definitions import IMPORTS

    customer_inbox_sensor = IMPORTS["customers"].sensor

    from cdp_pipeline.settings import CdpPaths
    from dagster_project.definitions import defs
    from dagster_project.defs.shared.resources import WarehouseResource
    from dagster_project.instance import ensure_dagster_home

    paths = CdpPaths(Path(home)).ensure()
    ensure_dagster_home(paths)
    instance = dg.DagsterInstance.get()
    loaded = time.perf_counter() - began

    def tick(cursor: str | None):
        context = dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            definitions=defs,
            resources={"warehouse": WarehouseResource(cdp_home=str(paths.home))},
        )
        began = time.perf_counter()
        result = customer_inbox_sensor(context)
        return result, time.perf_counter() - began

    files = sum(1 for _ in paths.inbox("customers").iterdir())
    first, first_seconds = tick(None)
    second, second_seconds = tick(first.cursor)
    return {
        "files": files,
        "imports_and_definitions": loaded,
        "tick1_seconds": first_seconds,
        "tick1_run_requests": len(first.run_requests),
        "tick2_seconds": second_seconds,
        "tick2_run_requests": len(second.run_requests),
    }


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            stack += children
    return found


def _stop(process, grace: float = 60.0) -> None:
    """SIGTERM to the daemon this probe started, then to what it started (its code server) if
    that outlives it; SIGKILL what is left after ``grace`` seconds."""
    import os
    import signal
    import subprocess

    spawned = _descendants(process.pid)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for pid in spawned:
        try:  # still one of the daemon's (a pid is not reused by another program meanwhile)
            if b"dagster" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
        except OSError:
            continue
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            time.sleep(1.0 if sig == signal.SIGTERM else 0)


def _run_timeline(instance, run, names) -> dict:
    """One run from its event log: when it was launched, started and ended, and its steps."""
    marks: dict[str, float] = {}
    started: dict[str, float] = {}
    steps: dict[str, float] = {}
    for entry in instance.all_logs(run.run_id):
        if not entry.is_dagster_event:
            continue
        kind = entry.dagster_event.event_type_value
        if kind in ("PIPELINE_STARTING", "PIPELINE_START", "PIPELINE_SUCCESS", "PIPELINE_FAILURE",
                    "PIPELINE_CANCELED"):  # fmt: skip
            marks.setdefault(kind, entry.timestamp)
        elif kind == "STEP_START":
            started[entry.step_key] = entry.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key in started:
            steps[entry.step_key] = entry.timestamp - started[entry.step_key]
    ended = marks.get("PIPELINE_SUCCESS") or marks.get("PIPELINE_FAILURE") or marks.get("PIPELINE_CANCELED")
    config = run.run_config.get("ops", {}).get(names.source_asset, {}).get("config", {})
    return {
        "run_id": run.run_id,
        "status": run.status.value,
        "file": Path(config.get("file_path") or "?").name,
        "launched": marks.get("PIPELINE_STARTING", marks.get("PIPELINE_START")),
        "started": marks.get("PIPELINE_START"),
        "ended": ended,
        "staging_seconds": steps.get(names.staging_asset, 0.0) + steps.get(names.validated_asset, 0.0),
        "write_seconds": steps.get(names.batches),
        "steps": steps,
    }


def inbox_drop(home: str, timeout: str, *files: str) -> dict:
    """FILES dropped together into HOME's customer inbox, imported as in production: ``dagster-daemon
    run`` with the project's workspace and the instance's own config (the queued run coordinator,
    the default run launcher: each run in its own process; the "warehouse" pool of one slot), so
    the inbox sensor requests the runs, the queue launches them, their staging runs side by side
    and their writes one at a time. Waits until every import run has ended, stops the daemon, then
    reads each run's event log and the warehouse's import_batches."""
    import os
    import shutil
    import subprocess

    import dagster as dg
    import duckdb

    from cdp_pipeline.customer_import import CUSTOMERS
    from cdp_pipeline.settings import CdpPaths
    from dagster_project.instance import ensure_dagster_home

    paths = CdpPaths(Path(home)).ensure()
    ensure_dagster_home(paths)
    instance = dg.DagsterInstance.get()
    names = CUSTOMERS.names
    inbox = paths.inbox(CUSTOMERS.name)
    inbox.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copy2(file, inbox / Path(file).name)
    daemon_bin = Path(sys.executable).with_name("dagster-daemon")
    jobs = dg.RunsFilter(job_name=names.job)
    began = time.time()
    with (Path(home) / "daemon.log").open("wb") as log:
        daemon = subprocess.Popen([str(daemon_bin), "run", "-w", str(REPO / "workspace.yaml")], cwd=REPO,
                                  env=os.environ, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        error = None
        try:
            while True:
                runs = instance.get_runs(filters=jobs)
                if len(runs) >= len(files) and all(run.is_finished for run in runs):
                    break
                if daemon.poll() is not None:
                    error = f"dagster-daemon exited with {daemon.returncode} (see {home}/daemon.log)"
                    break
                if time.time() - began > float(timeout):
                    error = f"timed out after {timeout} s: {len(runs)} runs, {sum(r.is_finished for r in runs)} ended"
                    break
                time.sleep(0.5)
        finally:
            _stop(daemon)
    records = instance.get_run_records(filters=jobs)
    runs = [_run_timeline(instance, record.dagster_run, names) for record in records]
    requested = {record.dagster_run.run_id: record.create_timestamp.timestamp() for record in records}
    for run in runs:  # when the sensor's request became a queued run, for the gaps between launches
        run["requested"] = requested[run["run_id"]]
    runs.sort(key=lambda r: r["launched"] or 0)
    others = [
        {"job": run.job_name, "status": run.status.value} for run in instance.get_runs() if run.job_name != names.job
    ]
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        batches = con.execute(
            "SELECT file_name, status, created, updated, failed, skipped FROM import_batches WHERE kind = $kind",
            {"kind": CUSTOMERS.name},
        ).fetchall()
    finally:
        con.close()
    by_file = {row[0]: dict(zip(["status", "created", "updated", "failed", "skipped"], row[1:], strict=True))
               for row in batches}  # fmt: skip
    dropped = [Path(f).name for f in files]
    problems = [error] if error else []
    problems += [f"run {r['run_id'][:8]} ({r['file']}): {r['status']}" for r in runs if r["status"] != "SUCCESS"]
    problems += [f"{name}: no batch in import_batches" for name in dropped if name not in by_file]
    if len(runs) != len(files):
        problems.append(f"{len(runs)} import runs for {len(files)} files")
    result: dict = {"files": len(files), "runs": runs, "batches": by_file, "other_runs": others}
    ended = [r["ended"] for r in runs if r["ended"]]
    launched = [r["launched"] for r in runs if r["launched"]]
    if not problems and ended and launched:
        slowest = max(r["staging_seconds"] for r in runs)
        writes = sum(r["write_seconds"] or 0.0 for r in runs)
        wall = max(ended) - min(launched)
        result.update(
            wall_seconds=wall,
            slowest_staging_seconds=slowest,
            sum_write_seconds=writes,
            bound_seconds=slowest + writes,
            ratio=wall / (slowest + writes),
            daemon_start_to_first_launch=min(launched) - began,
            launch_spread_seconds=max(launched) - min(launched),
            request_spread_seconds=max(requested.values()) - min(requested.values()),
            first_request_to_last_end=max(ended) - min(requested.values()),
        )  # fmt: skip
    if problems:
        result["error"] = "; ".join(problems)[:600]
    return result


def main(argv: list[str]) -> None:
    command, *args = argv
    functions = {
        "init-home": init_home,
        "floor": floor,
        "steps": steps,
        "tmall-steps": tmall_steps,
        "dagster-steps": dagster_steps,
        "sensor": sensor,
        "baseline": baseline,
        "inbox-drop": inbox_drop,
        "checks": checks,
    }
    print(json.dumps(functions[command](*args), ensure_ascii=False, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
