"""Issue 11 probe: defects found by attacking the new engine (staging outside the warehouse,
readable partition keys). Each test fails on main as of c9a63be and passes once its defect is fixed."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cdp_pipeline.batches import file_partition_key, file_sha256
from cdp_pipeline.customer_import import CUSTOMERS
from cdp_pipeline.engine import import_files, stage_import, validate_import, write_import
from cdp_pipeline.errors import EnvironmentFault, FileRejected
from cdp_pipeline.settings import CdpPaths, CustomerImportSettings


def test_a_file_replaced_while_its_write_waits_is_not_lost(paths: CdpPaths) -> None:
    """Issue 11 item 2: staging no longer waits for the warehouse, so a run can stage an inbox
    file and then wait long for the write. If the next export arrives under the same name
    meanwhile, the write must not archive the new bytes under the old batch and delete them
    from the inbox unimported."""
    inbox_file = paths.inbox("customers") / "daily.csv"
    inbox_file.parent.mkdir(parents=True, exist_ok=True)
    inbox_file.write_text("姓名,手机号码\n张三,13900139000\n", encoding="utf-8")
    staged = stage_import(CUSTOMERS, [inbox_file], CustomerImportSettings(), paths, move_source=True)
    validate_import(CUSTOMERS, staged.key, paths)
    inbox_file.write_text("姓名,手机号码\n李四,13700137000\n王五,13600136000\n", encoding="utf-8")
    new_bytes = file_sha256(inbox_file)
    with pytest.raises(FileRejected, match="changed since it was staged"):
        write_import(CUSTOMERS, staged.key, paths)  # the batch is refused whole: nothing written
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM import_batches").fetchone() == (0,)
    finally:
        con.close()
    assert list(paths.work.glob("*.staging")) == []  # its scratch holds bytes no one can import now
    summary = import_files(CUSTOMERS, [inbox_file], CustomerImportSettings(), paths)  # the new export
    assert (summary["status"], summary["created"]) == ("succeeded", 2)
    archived = Path(summary["archive_file"]) if summary.get("archive_file") else None
    assert archived is None or file_sha256(archived) == new_bytes, "archive holds other bytes"
    assert inbox_file.is_file() and file_sha256(inbox_file) == new_bytes, "the new export was deleted unimported"


def test_a_file_name_near_the_length_limit_imports_or_is_refused_in_one_line(paths: CdpPaths, tmp_path: Path) -> None:
    """Issue 11 item 2: a 254-byte file name (the file system allows 255) must import, or be
    refused as a file / an environment fault: never an OSError (a traceback, exit 1), and
    never a scratch folder left behind."""
    folder = tmp_path / "files"
    folder.mkdir()
    source = folder / ("x" * 250 + ".csv")
    source.write_text("姓名,手机号码\n张三,13900139000\n", encoding="utf-8")
    with contextlib.suppress(FileRejected, EnvironmentFault):
        assert import_files(CUSTOMERS, [source], CustomerImportSettings(), paths)["status"] == "succeeded"
    assert list(paths.work.glob("*.staging")) == []


def test_a_partition_key_never_shows_a_mobile(tmp_path: Path) -> None:
    """Issue 11 item 3: partition keys mask personal data; a mobile split by zero-width spaces
    (format characters the project removes from every key it reads), underscores, dots or
    brackets is a mobile a reader sees, so the key must not spell it out."""
    sha = "0" * 64
    for name in ["138\u200b0013\u200b8000.csv", "138_0013_8000.csv", "138.0013.8000.csv", "138（0013）8000.csv"]:
        key = file_partition_key(name, sha)
        assert "0013" not in key, (name, key)


def test_a_renamed_inbox_file_is_not_blocked_by_its_failed_run(cdp: CdpPaths) -> None:
    """Issue 11 item 3: a file renamed in the inbox after the sensor requested its run fails that
    run ("is gone"), through no fault of its bytes. The renamed file must be imported on a later
    tick, not wait forever with "its import failed before ... drop a corrected file" (dropping
    the same bytes again gives the same run key, so nothing but new bytes would ever import)."""
    from dagster_project.definitions import defs
    from dagster_project.defs.imports.definitions import IMPORTS
    from dagster_project.defs.shared.resources import WarehouseResource

    def tick(cursor: str | None):
        context = dg.build_sensor_context(
            instance=dg.DagsterInstance.get(),
            cursor=cursor,
            definitions=defs,
            resources={"warehouse": WarehouseResource(cdp_home=str(cdp.home))},
        )
        return IMPORTS["customers"].sensor(context)

    inbox = cdp.inbox("customers")
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "good.csv").write_text("姓名,手机号码\n张三,13900139000\n", encoding="utf-8")
    second = tick(tick(None).cursor)
    [request] = second.run_requests
    (inbox / "good.csv").rename(inbox / "good_v2.csv")
    dg.DagsterInstance.get().add_dynamic_partitions("customer_files", [request.partition_key])
    run = defs.resolve_job_def("customer_import").execute_in_process(
        partition_key=request.partition_key,
        run_config=request.run_config,
        instance=dg.DagsterInstance.get(),
        tags={**request.tags, "dagster/run_key": request.run_key},
        raise_on_error=False,
    )
    assert not run.success
    settled = tick(tick(second.cursor).cursor)
    assert [r.tags.get("cdp/file_name") for r in settled.run_requests] == ["good_v2.csv"], (
        settled.skip_reason and settled.skip_reason.skip_message
    )


def test_a_failed_runs_scratch_is_kept_a_week_then_removed_by_a_later_write(paths: CdpPaths, tmp_path: Path) -> None:
    """Issue 11 item 2: a run whose write failed keeps its scratch (it can be re-executed from the
    write step); one left untouched for a week is removed by the next batch's write."""
    import os

    from cdp_pipeline.engine import SCRATCH_KEPT_SECONDS, scratch_folder

    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("姓名,手机号码\n张三,13900139000\n", encoding="utf-8")
    second.write_text("姓名,手机号码\n李四,13700137000\n", encoding="utf-8")
    left = stage_import(CUSTOMERS, [first], CustomerImportSettings(), paths)  # a run that stopped here
    folder = scratch_folder(paths, "customers", left.key)
    import_files(CUSTOMERS, [second], CustomerImportSettings(), paths)
    assert folder.is_dir()  # recent: kept for a re-execution
    week_ago = folder.stat().st_mtime - SCRATCH_KEPT_SECONDS - 60
    os.utime(folder, (week_ago, week_ago))
    third = tmp_path / "third.csv"
    third.write_text("姓名,手机号码\n王五,13600136000\n", encoding="utf-8")
    import_files(CUSTOMERS, [third], CustomerImportSettings(), paths)
    assert not folder.exists()


def test_a_damaged_warehouse_is_reported_before_a_file_is_staged(paths: CdpPaths, tmp_path: Path) -> None:
    """Issue 11 item 2: staging looks at the warehouse when it can (bytes imported before are not
    staged again); a damaged warehouse is an environment fault at once, not after staging the
    whole file, and leaves no scratch."""
    paths.warehouse.write_bytes(os.urandom(100_000))
    source = tmp_path / "a.csv"
    source.write_text("姓名,手机号码\n张三,13900139000\n", encoding="utf-8")
    with pytest.raises(Exception) as raised:
        stage_import(CUSTOMERS, [source], CustomerImportSettings(), paths)
    assert "DuckDB" in str(raised.value) or "database" in str(raised.value).lower()
    assert list(paths.work.glob("*.staging")) == []
