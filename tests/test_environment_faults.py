"""Errors that blame the right thing (issue 14 item 14): a full disk, a file-size limit, a
damaged or read-only warehouse and a failing Dagster storage are faults of the machine or
CDP_HOME, reported in one line naming the path and the cause (exit 3), never as a rejected file
(exit 2) or a traceback; an import that committed before Dagster's storage failed succeeded.

How the faults are made real: a file-size limit is RLIMIT_FSIZE (`ulimit -f`) set in the `cdp`
subprocess only (Python ignores SIGXFSZ, so a write past the limit fails with EFBIG, the way a
full disk fails with ENOSPC: DuckDB, SQLite and Python see a failed write). A full disk is a
small tmpfs when the tests run as root (skipped otherwise), and /dev/full for single writes. A
read-only warehouse is chmod 0400 for a normal user; root ignores file modes, so as root it is a
read-only tmpfs mount instead (skipped where mounting is not allowed). Dagster's storage failing
after the commit is a sitecustomize in the `cdp` subprocess that makes every event write fail
with SQLite's "database or disk is full" from the first materialization of the write step on.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from cdp_pipeline.errors import EnvironmentFault, FileRejected, environment_fault
from cdp_pipeline.settings import CdpPaths
from cdp_pipeline.warehouse import connect

CDP = str(Path(sys.executable).with_name("cdp"))
SMALL = "姓名,手机号码\n张三,13800138000\n李四,12345\n"


def run_cdp(home: Path, *args: str | Path, env: dict | None = None, file_size_limit: int | None = None):
    environment = {**os.environ, "CDP_HOME": str(home), **(env or {})}
    if "DAGSTER_HOME" not in (env or {}):
        environment.pop("DAGSTER_HOME", None)

    def limit() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [CDP, *map(str, args)], capture_output=True, text=True, env=environment, timeout=300, preexec_fn=limit
    )


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def customers_csv(path: Path, rows: int, encoding: str = "utf-8") -> Path:
    """``rows`` valid customers: a file no reader can fault, a few MB for 60,000 rows (mobiles
    from 13900000001: 13900000000 is a placeholder, refused since issue 13)."""
    lines = ["姓名,手机号码,邮箱", *(f"客户{i},139{i + 1:08d},c{i}@example.com" for i in range(rows))]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def batch_count(warehouse: Path) -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM import_batches").fetchone()[0]
    finally:
        con.close()


# --- a full disk ---------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_a_file_size_limit_while_importing_is_the_machines_fault_not_the_files(tmp_path: Path, encoding: str) -> None:
    """Issue 14 item 14: a write that fails for lack of room (here RLIMIT_FSIZE just above the
    warehouse's size) was "rejected FILE: unreadable CSV" (exit 2) for a file read in place, and
    a traceback for one transcoded first. Now: one line naming the path in CDP_HOME and the
    file-size limit, exit 3, nothing imported; without the limit the same file imports."""
    home = tmp_path / "cdp"
    paths = CdpPaths(home).ensure()
    with connect(paths.warehouse):
        pass
    source = customers_csv(tmp_path / "in" / f"customers_{encoding}.csv", 60_000, encoding)
    limit = paths.warehouse.stat().st_size + (1 << 20)
    assert source.stat().st_size > 2 << 20  # staging it needs more than the 1 MB of room

    result = run_cdp(home, "import", "customers", source, file_size_limit=limit)
    assert result.returncode == 3, result.stderr
    line = one_line(result.stderr)
    assert line.startswith("cdp: error:") and "file-size limit" in line and str(home) in line
    assert "rejected" not in line and "unreadable" not in line and source.name not in line
    assert batch_count(paths.warehouse) == 0

    again = run_cdp(home, "import", "customers", source, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["created"] == 60_000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MB file system (tmpfs) at tmp_path/disk: root only."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_while_importing_says_the_disk_is_full(small_disk: Path, tmp_path: Path) -> None:
    """Issue 14 item 14: CDP_HOME on a real file system with 256 KB left (Dagster's storage
    elsewhere): the import ends in one line, "the disk is full", naming the path, exit 3."""
    home = small_disk / "cdp"
    paths = CdpPaths(home).ensure()
    with connect(paths.warehouse):
        pass
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    with (small_disk / "filler").open("wb") as filler:
        filler.truncate(0)
        filler.write(b"\0" * (free - (256 << 10)))
    source = customers_csv(tmp_path / "in" / "customers.csv", 60_000)

    result = run_cdp(home, "import", "customers", source, env={"DAGSTER_HOME": str(tmp_path / "dagster")})
    assert result.returncode == 3, result.stderr
    line = one_line(result.stderr)
    assert "the disk is full" in line and str(home) in line and "rejected" not in line
    assert batch_count(paths.warehouse) == 0


def test_environment_fault_names_the_real_cause_of_real_errors(tmp_path: Path) -> None:
    """Issue 14 item 14, library: errors raised by DuckDB, Python and SQLite for a full disk,
    a damaged warehouse and a read-only database are environment faults naming the path; a
    file's own errors (a bad CSV) and a rejected file are not."""
    with pytest.raises(duckdb.Error) as copied:
        duckdb.connect().execute("COPY (SELECT 1) TO '/dev/full'")
    fault = environment_fault(copied.value)
    assert fault is not None and fault.what == "/dev/full" and "the disk is full" in fault.cause

    with pytest.raises(OSError) as written, open("/dev/full", "wb", buffering=0) as full:
        full.write(b"x" * 10)
    assert written.value.errno == errno.ENOSPC
    fault = environment_fault(written.value, where="a file in CDP_HOME")
    assert fault is not None and "the disk is full" in str(fault)

    garbage = tmp_path / "warehouse.duckdb"
    garbage.write_bytes(os.urandom(40_000))
    with pytest.raises(duckdb.Error) as opened:
        duckdb.connect(str(garbage))
    fault = environment_fault(opened.value)
    assert fault is not None and fault.what == str(garbage) and "not a DuckDB warehouse" in fault.cause

    database = tmp_path / "runs.db"
    sqlite3.connect(database).execute("CREATE TABLE t (x)").connection.commit()
    read_only = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as storage:
        read_only.execute("INSERT INTO t VALUES (1)")
    fault = environment_fault(storage.value)
    assert fault is not None and "Dagster's storage" in fault.what and "read-only" in fault.cause

    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text('a,b\n"x,1\n')
    with pytest.raises(duckdb.Error) as parsed:
        duckdb.connect().execute("SELECT * FROM read_csv($p, strict_mode=true, quote='\"')", {"p": str(bad_csv)})
    assert environment_fault(parsed.value) is None
    assert environment_fault(FileRejected(bad_csv, "no key column")) is None
    assert environment_fault(ValueError("x")) is None


def test_library_import_under_a_file_size_limit_raises_an_environment_fault(tmp_path: Path) -> None:
    """Issue 14 item 14, library: import_customer_file itself raises EnvironmentFault (not
    FileRejected) when the warehouse cannot grow, for a file read in place."""
    home = tmp_path / "cdp"
    paths = CdpPaths(home).ensure()
    with connect(paths.warehouse):
        pass
    source = customers_csv(tmp_path / "in" / "customers.csv", 60_000)
    limit = paths.warehouse.stat().st_size + (1 << 20)
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from cdp_pipeline.customer_import import import_customer_file
        from cdp_pipeline.settings import CdpPaths, CustomerImportSettings
        try:
            import_customer_file(Path({str(source)!r}), CustomerImportSettings(), CdpPaths(Path({str(home)!r})))
        except Exception as error:
            print(type(error).__name__, error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
    )
    assert result.stdout.startswith(f"{EnvironmentFault.__name__} "), result.stdout + result.stderr
    assert "file-size limit" in result.stdout


# --- Dagster's storage fails after the commit -------------------------------------------------------

STORAGE_FULL = """
import os
import sqlite3

import dagster as dg

_handle_new_event = dg.DagsterInstance.handle_new_event
_failures = []


def handle_new_event(self, event, *args, **kwargs):
    # From the trigger on, Dagster's event writes fail as SQLite's do on a full disk: every one
    # ("always"), or only the trigger's own ("once", a storage that recovers).
    dagster_event = getattr(event, "dagster_event", None)
    trigger = os.environ["CDP_TEST_STORAGE_FULL"]
    triggered = trigger == "start" or (
        dagster_event is not None
        and dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        and dagster_event.asset_key.path[-1] == trigger
    )
    if triggered and not _failures:
        _failures.append(True)
        raise sqlite3.OperationalError("database or disk is full")
    if _failures and os.environ["CDP_TEST_STORAGE_FAILS"] == "always":
        raise sqlite3.OperationalError("database or disk is full")
    return _handle_new_event(self, event, *args, **kwargs)


dg.DagsterInstance.handle_new_event = handle_new_event
"""


def storage_full_env(tmp_path: Path, trigger: str, fails: str = "always") -> dict[str, str]:
    shim = tmp_path / "storage_full"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(STORAGE_FULL, encoding="utf-8")
    path = os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "CDP_TEST_STORAGE_FULL": trigger, "CDP_TEST_STORAGE_FAILS": fails}


@pytest.mark.parametrize("fails", ["always", "once"])
def test_dagster_storage_failing_after_the_commit_reports_the_import_as_done(tmp_path: Path, fails: str) -> None:
    """Issue 14 item 14: the warehouse committed, then Dagster could not store the run's events
    (for good: the run ends in an exception; once: the write step fails, its failure stored).
    That exited 1 with a traceback for an import that had succeeded. Now: exit 0, the summary
    on stdout, one warning line on stderr naming Dagster's storage and the cause; the same file
    again is already_imported."""
    home = tmp_path / "cdp"
    source = tmp_path / "customers.csv"
    source.write_text(SMALL, encoding="utf-8")
    result = run_cdp(
        home, "import", "customers", source, "--json", env=storage_full_env(tmp_path, "customer_import_batches", fails)
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["created"], summary["failed"]) == ("succeeded", 1, 1)
    line = one_line(result.stderr)
    assert line.startswith("cdp: warning: imported") and summary["batch_id"] in line
    assert "Dagster's storage" in line and "the disk is full" in line
    assert batch_count(home / "warehouse.duckdb") == 1

    again = run_cdp(home, "import", "customers", source, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "already_imported"


def test_dagster_storage_failing_before_anything_is_written_is_an_environment_fault(tmp_path: Path) -> None:
    """Issue 14 item 14: when Dagster's storage fails before the commit nothing was imported:
    one line naming Dagster's storage and the cause, exit 3, no batch."""
    home = tmp_path / "cdp"
    source = tmp_path / "customers.csv"
    source.write_text(SMALL, encoding="utf-8")
    result = run_cdp(home, "import", "customers", source, env=storage_full_env(tmp_path, "start"))
    assert result.returncode == 3, result.stderr
    line = one_line(result.stderr)
    assert "Dagster's storage" in line and "the disk is full" in line and "nothing was imported" in line
    assert not (home / "warehouse.duckdb").exists() or batch_count(home / "warehouse.duckdb") == 0


# --- a damaged or read-only warehouse ----------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """``cli(*args)`` → (exit code, stdout, stderr) of ``cdp`` in this process on tmp_path/cdp."""
    from dagster_project.cli import main

    monkeypatch.setenv("CDP_HOME", str(tmp_path / "cdp"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "cdp" / "dagster"))

    def run(*args: str | Path) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_a_damaged_warehouse_is_one_line_for_every_command(tmp_path: Path, cli) -> None:
    """Issue 14 item 14: a warehouse file of garbage bytes gave tracebacks even for `cdp
    batches`. Every command now says in one line that the file is not a DuckDB warehouse,
    naming it (exit 3), and leaves its bytes as they were."""
    home = tmp_path / "cdp"
    warehouse = CdpPaths(home).ensure().warehouse
    garbage = os.urandom(64 << 10)
    warehouse.write_bytes(garbage)
    source = tmp_path / "customers.csv"
    source.write_text(SMALL, encoding="utf-8")
    for args in (("overview",), ("failures", "x"), ("sql", "SELECT 1"), ("batches", "--json")):
        code, out, err = cli(*args)
        assert code == 3 and out == "", (args, err)
        assert "not a DuckDB warehouse" in one_line(err) and str(warehouse) in err
    for args in (("batches",), ("import", "customers", source)):
        result = run_cdp(home, *args)
        assert result.returncode == 3, result.stderr
        line = one_line(result.stderr)
        assert "not a DuckDB warehouse" in line and str(warehouse) in line and "rejected" not in line
    assert warehouse.read_bytes() == garbage


@pytest.fixture
def read_only_warehouse(tmp_path: Path) -> Iterator[Path]:
    """CDP_HOME (tmp_path/cdp) with one import whose warehouse cannot be written: mode 0400 for
    a normal user; as root (whom modes do not stop) the file on a read-only tmpfs, linked from
    CDP_HOME, skipped where mounting is not allowed."""
    home = tmp_path / "cdp"
    source = tmp_path / "customers.csv"
    source.write_text(SMALL, encoding="utf-8")
    assert run_cdp(home, "import", "customers", source).returncode == 0
    warehouse = home / "warehouse.duckdb"
    if os.geteuid() != 0:
        warehouse.chmod(0o400)
        yield home
        warehouse.chmod(0o600)
        return
    disk = tmp_path / "read_only"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("as root, a read-only warehouse needs a read-only mount, and mounting is not allowed here")
    try:
        (disk / "warehouse.duckdb").write_bytes(warehouse.read_bytes())
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        warehouse.unlink()
        warehouse.symlink_to(disk / "warehouse.duckdb")
        yield home
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_read_only_warehouse_can_be_read_and_refuses_imports_in_one_line(read_only_warehouse: Path) -> None:
    """Issue 14 item 14: with a warehouse that cannot be written, the read commands work (they
    open it read-only) and an import says in one line that the warehouse is not writable
    (exit 3, naming it), instead of a traceback."""
    home = read_only_warehouse
    history = run_cdp(home, "batches", "--json")
    assert history.returncode == 0, history.stderr
    assert [b["file_name"] for b in json.loads(history.stdout)] == ["customers.csv"]
    counted = run_cdp(home, "sql", "SELECT count(*) AS n FROM customers", "--json")
    assert counted.returncode == 0 and json.loads(counted.stdout) == [{"n": 1}]

    source = home.parent / "customers.csv"
    result = run_cdp(home, "import", "customers", source, "--force")
    assert result.returncode == 3, result.stderr
    line = one_line(result.stderr)
    assert "warehouse.duckdb" in line and ("read-only" in line or "not writable" in line)
    assert "rejected" not in line
