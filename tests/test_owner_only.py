"""Files the product writes are readable by their owner only, whatever the umask (issue 14
item 13, SPEC §7): the warehouse and its WAL, failure files, archive copies, reports, CDP_HOME's
folders and the Dagster home (with its storage, where cdp creates it)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp_pipeline.customer_import import import_customer_file
from cdp_pipeline.failure_files import write_failure_xlsx
from cdp_pipeline.owner_only import copy_owner_only, make_owner_folder, owner_only_umask
from cdp_pipeline.settings import CdpPaths, CustomerImportSettings
from cdp_pipeline.warehouse import connect

CDP = str(Path(sys.executable).with_name("cdp"))
CUSTOMERS = "姓名,手机号码\n张三,13800138000\n李四,12345\n"


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The umask most machines have (files 0644, folders 0755), set for the test and restored."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def shared_with_others(root: Path) -> list[tuple[str, str]]:
    """Every file or folder under ``root`` (itself included) that its group or others may use."""
    found = [root, *root.rglob("*")]
    return [(str(p), oct(mode(p))) for p in found if not p.is_symlink() and mode(p) & 0o077]


def source_file(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "customers.csv"
    path.parent.mkdir(parents=True)
    path.write_text(CUSTOMERS, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_library_import_writes_owner_only_files_under_umask_022(umask_022, tmp_path: Path) -> None:
    """Issue 14 item 13, library: an import under umask 022 leaves CDP_HOME 0700 with every
    folder 0700 and every file 0600 (warehouse, failure CSV, archive copy of a 0600 source,
    which used to become 0644)."""
    paths = CdpPaths(tmp_path / "cdp").ensure()
    summary = import_customer_file(source_file(tmp_path), CustomerImportSettings(), paths)
    archive_copy = paths.archive / summary["batch_id"] / "customers.csv"
    assert archive_copy.exists() and Path(summary["failure_file"]).exists()
    assert mode(paths.warehouse) == 0o600
    assert mode(archive_copy) == 0o600 and mode(archive_copy.parent) == 0o700
    assert mode(Path(summary["failure_file"])) == 0o600
    assert mode(paths.home) == 0o700 and mode(paths.inbox("customers")) == 0o700
    assert shared_with_others(paths.home) == []
    assert os.umask(0o022) == 0o022  # the process umask is given back as it was


def test_the_wal_duckdb_recreates_after_each_checkpoint_is_owner_only(umask_022, tmp_path: Path) -> None:
    """Issue 14 item 13: DuckDB creates warehouse.duckdb.wal itself, again after every
    checkpoint; while a warehouse connection is open, it is 0600 too."""
    warehouse = tmp_path / "cdp" / "warehouse.duckdb"
    with connect(warehouse) as con:
        for value in (1, 2):
            con.execute("INSERT INTO tags (tag_id, name) VALUES ($v, $n)", {"v": value, "n": f"t{value}"})
            wal = warehouse.with_name("warehouse.duckdb.wal")
            assert wal.exists() and mode(wal) == 0o600
            con.execute("CHECKPOINT")
    assert mode(warehouse) == 0o600 and mode(warehouse.parent) == 0o700


def test_failure_xlsx_report_and_dagster_home_are_owner_only(
    umask_022, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 item 13: a failure workbook, the overview chart (a report) and the Dagster home
    cdp creates, with its dagster.yaml, are owner-only under umask 022."""
    import pandas as pd

    from cdp_pipeline.profiles import overview_chart
    from dagster_project.instance import ensure_dagster_home

    paths = CdpPaths(tmp_path / "cdp").ensure()
    with connect(paths.warehouse) as con:
        con.execute("INSERT INTO import_failures (batch_id, row_number, reason_code, reason) VALUES ('b', 2, 'x', 'y')")
        workbook = write_failure_xlsx(con, "b", [], tmp_path / "exports" / "f.xlsx")
    assert mode(workbook) == 0o600 and mode(workbook.parent) == 0o700
    overview = pd.DataFrame(
        {"dimension": ["value", "activity", "spending_power"], "bucket": ["a", "b", "c"], "customers": [1, 2, 3]}
    )
    chart = overview_chart(overview, paths.home / "reports" / "overview.png")
    assert mode(chart) == 0o600 and mode(chart.parent) == 0o700
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("CDP_HOME", str(paths.home))
    home = ensure_dagster_home(paths)
    assert mode(home) == 0o700 and mode(home / "dagster.yaml") == 0o600


def test_cdp_import_and_export_under_umask_022_leave_nothing_readable_by_others(tmp_path: Path) -> None:
    """Issue 14 item 13, the real `cdp` under umask 022: after an import and `cdp failures
    --out`, nothing under CDP_HOME (the Dagster storage cdp created included) and not the
    export can be read by group or others."""
    home = tmp_path / "cdp"
    environment = {**os.environ, "CDP_HOME": str(home)}
    environment.pop("DAGSTER_HOME", None)

    def cdp(*args: str | Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [CDP, *map(str, args)],
            capture_output=True,
            text=True,
            env=environment,
            timeout=300,
            preexec_fn=lambda: os.umask(0o022),
        )

    imported = cdp("import", "customers", source_file(tmp_path), "--json")
    assert imported.returncode == 0, imported.stderr
    batch_id = json.loads(imported.stdout)["batch_id"]
    export = tmp_path / "exports" / "failures.csv"
    assert cdp("failures", batch_id, "--out", export).returncode == 0
    assert (home / "dagster" / "storage").is_dir() and (home / "archive" / batch_id).is_dir()
    assert shared_with_others(home) == []
    assert mode(export) == 0o600 and mode(export.parent) == 0o700


def test_owner_only_helpers_tighten_only_what_they_create(umask_022, tmp_path: Path) -> None:
    """Issue 14 item 13: folders that exist keep their mode (a team may share one on purpose);
    new ones and copies are owner-only; overlapping owner-only blocks in threads restore the
    umask only when the last one leaves."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    make_owner_folder(shared / "a" / "b")
    assert mode(shared) == 0o755 and mode(shared / "a") == 0o700 and mode(shared / "a" / "b") == 0o700
    source = tmp_path / "open.txt"
    source.write_text("x")
    source.chmod(0o644)
    copy = copy_owner_only(source, shared / "a" / "copy.txt")
    assert mode(copy) == 0o600 and copy.read_text() == "x"
    assert [p.name for p in (shared / "a").iterdir()] == ["b", "copy.txt"]  # no temporary left

    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with owner_only_umask():
            inside.set()
            leave.wait(10)

    worker = threading.Thread(target=hold)
    worker.start()
    inside.wait(10)
    with owner_only_umask():
        pass  # leaves first: the worker's block still needs the tight umask
    current = os.umask(0o077)
    os.umask(current)
    assert current == 0o077
    leave.set()
    worker.join()
    assert os.umask(0o022) == 0o022
