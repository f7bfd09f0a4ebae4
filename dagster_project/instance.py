"""The Dagster instance the CLI and the UI share: $DAGSTER_HOME, default $CDP_HOME/dagster."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
from collections.abc import Iterator
from importlib.resources import as_file, files
from pathlib import Path

import dagster as dg

from cdp_pipeline.locks import exclusive_lock
from cdp_pipeline.owner_only import copy_owner_only, make_owner_folder
from cdp_pipeline.settings import CdpPaths

# Package data of dagster_project, read where the package was imported from (a wheel or a checkout).
DEFAULT_INSTANCE_YAML = files("dagster_project").joinpath("dagster.yaml")


def instance_lock(paths: CdpPaths):
    """Held while the instance's files are created (in CDP_HOME, which is ours to write, even when
    DAGSTER_HOME is a shared deployment folder)."""
    return exclusive_lock(paths.work / ".dagster-instance.lock")


def ensure_dagster_home(paths: CdpPaths) -> Path:
    """Point DAGSTER_HOME at $CDP_HOME/dagster unless set, with the pool config in place. A home
    we create is owner-only (0700): Dagster's storage under it (runs, event logs with the
    imports' metadata, compute logs) follows the umask of whichever process writes it."""
    os.environ.setdefault("CDP_HOME", str(paths.home))
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(paths.home / "dagster")))
    if not home.is_dir():
        make_owner_folder(home)
    config = home / "dagster.yaml"
    if not config.exists():
        with instance_lock(paths):
            if not config.exists():  # a process beside this one put it there meanwhile
                with as_file(DEFAULT_INSTANCE_YAML) as template:
                    copy_owner_only(template, config)
    return home


def local_instance(paths: CdpPaths) -> dg.DagsterInstance:
    """The instance of DAGSTER_HOME. Its SQLite storage is created on first use, one process at a
    time: processes creating it side by side fail ("table runs already exists")."""
    ensure_dagster_home(paths)
    with instance_lock(paths):
        return dg.DagsterInstance.get()


@contextlib.contextmanager
def storage_held_open(instance: dg.DagsterInstance, run_id: str) -> Iterator[None]:
    """Keep a connection open to each SQLite file of the default instance storage that run
    ``run_id`` writes ($DAGSTER_HOME/history: the runs, the cross-run index and the run's own
    event log) while it goes on in this process.

    Dagster's SQLite storage opens and closes a connection for every event it stores. The last
    connection to close a database in WAL mode checkpoints it (copies the WAL back, syncs the
    file, deletes the WAL): one checkpoint per event, ~20 ms each on a busy disk. With one idle
    connection of ours open, each event's connection is never the last: its commit appends to
    the WAL, and one checkpoint happens after the run (``_commits_synced_at_the_end``). Ours holds
    no lock between statements (it never leaves a transaction open), so other processes (the UI,
    another run) read and write as before.

    The run's own event log is created here, in WAL mode from the start: Dagster would create
    its tables in rollback-journal mode (a journal file made, synced and deleted per table)
    and switch to WAL after. Other storages (a configured PostgreSQL, another layout) have no
    such files, and nothing is held.
    """
    history = Path(os.environ.get("DAGSTER_HOME", "")) / "history"
    run_log = history / "runs" / f"{run_id}.db"
    held = []
    try:
        for path in (history / "runs.db", history / "runs" / "index.db", run_log):
            mode = "rwc" if path == run_log else "rw"
            if not path.parent.is_dir() or (mode == "rw" and not path.is_file()):
                continue
            try:
                con = sqlite3.connect(f"{path.as_uri()}?mode={mode}", uri=True, timeout=30, isolation_level=None)
                # WAL persists in the file (Dagster sets it too)
                con.execute("PRAGMA journal_mode=WAL").fetchall()
            except sqlite3.Error:
                continue
            held.append(con)
        with _commits_synced_at_the_end(history, held):
            if held:
                instance.all_logs(run_id)  # Dagster creates the run's event log tables, beside ours
                for con in held:  # a read now maps the WAL index Dagster's first write made
                    with contextlib.suppress(sqlite3.Error):  # then it is only not held
                        con.execute("SELECT count(*) FROM sqlite_master").fetchall()
            yield
    finally:
        for con in held:
            with contextlib.suppress(sqlite3.Error):
                con.close()


@contextlib.contextmanager
def _commits_synced_at_the_end(history: Path, held: list[sqlite3.Connection]) -> Iterator[None]:
    """While held open, Dagster's connections to the files under ``history`` commit with
    ``synchronous=NORMAL``: in WAL mode a commit is then written but not synced (a crash of the
    process loses nothing; a power cut during the run may lose its last events, never corrupt a
    file), and the checkpoint of each held file after the run syncs them all, once."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    if not held:
        yield
        return
    prefix = str(history.resolve()) + os.sep

    def on_connect(dbapi_connection, _record) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            files = [row[2] for row in dbapi_connection.execute("PRAGMA database_list")]
            if files and files[0].startswith(prefix):
                dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    event.listen(Pool, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Pool, "connect", on_connect)
        for con in held:  # synced (ours is synchronous=FULL) and copied back, without waiting on readers
            with contextlib.suppress(sqlite3.Error):
                con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


# Each run's own process records where it runs (an engine event, so a re-executed run does not
# inherit it, as it would a run tag), so a later `cdp` can tell a run whose process was killed
# (SIGKILL, OOM, reboot) from one still running. The record is the event's message, a prefix then
# JSON: the public ``report_engine_event`` takes a message, its metadata only through a class of
# Dagster's private modules.
PROCESS_EVENT = "cdp: run process: "


def _process_start(pid: int) -> str:
    """The start time of process ``pid`` in clock ticks since boot (Linux; else ""), so a reused
    pid is not taken for the process that recorded it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def record_run_process(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Record this process (host, pid, start time) as the one executing ``run``."""
    pid = os.getpid()
    process = {"host": socket.gethostname(), "pid": pid, "process_start": _process_start(pid)}
    instance.report_engine_event(PROCESS_EVENT + json.dumps(process), run)


def _run_process(instance: dg.DagsterInstance, run_id: str) -> tuple[str, int, str] | None:
    for record in reversed(instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)):
        message = record.message or ""
        if message.startswith(PROCESS_EVENT):
            process = json.loads(message.removeprefix(PROCESS_EVENT))
            return process["host"], process["pid"], process["process_start"]
    return None


def _process_alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not started or _process_start(pid) in (started, "")


def recover_dead_runs(instance: dg.DagsterInstance, paths: CdpPaths | None = None) -> list[str]:
    """Mark failed the unfinished runs whose process (on this host) is gone, and free the pool
    slots they held; free the slots any finished run still holds; with ``paths``, remove the
    scratch databases the dead runs left. Returns the runs marked failed.

    A SIGKILLed in-process run stays STARTED and keeps its "warehouse" slot, so every later run
    would wait for that slot forever. Its batch never committed (or committed whole), so
    importing the file again is safe and imports it once.
    """
    unfinished = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING])
    )
    host, recovered = socket.gethostname(), []
    for run in unfinished:
        process = _run_process(instance, run.run_id)
        if process is None or process[0] != host or _process_alive(process[1], process[2]):
            continue
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.is_finished:
            continue
        instance.report_run_failed(current, f"the process running it (pid {process[1]}) is gone: killed or crashed")
        recovered.append(run.run_id)
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id in storage.get_concurrency_run_ids():
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                storage.free_concurrency_slots_for_run(run_id)
    if recovered and paths is not None:
        remove_scratch_of(instance, [instance.get_run_by_id(run_id) for run_id in recovered], paths)
    return recovered


def remove_scratch_of(instance: dg.DagsterInstance, runs: list[dg.DagsterRun], paths: CdpPaths) -> None:
    """Remove the scratch database of each run's partition, unless a run of that partition is
    still going: only while holding the partition's import lock (a run holding it is at work on
    those bytes and stages afresh), so no run can begin the partition meanwhile."""
    from cdp_pipeline.engine import remove_scratch
    from cdp_pipeline.kinds import kind_of_job
    from cdp_pipeline.locks import import_lock

    for run in runs:
        kind, key = kind_of_job(run.job_name), run.tags.get("dagster/partition")
        if kind is None or not key:
            continue
        with import_lock(paths, kind.name, key, wait=False) as held:
            going = not held or instance.get_runs(
                filters=dg.RunsFilter(
                    job_name=run.job_name,
                    statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING],
                    tags={"dagster/partition": key},
                ),
                limit=1,
            )
            if not going:
                remove_scratch(paths, kind.name, key)
