"""The `cdp` command as a data team calls it: a real subprocess, a real CDP_HOME, the JSON
contract of issue 3, exit codes, and the same run on PostgreSQL instance storage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import pytest

CDP = str(Path(sys.executable).with_name("cdp"))
IMPORT_KEYS = {"batch_id", "status", "scanned", "skipped", "created", "updated", "failed", "failure_file"}
DRY_RUN_KEYS = {
    "status",
    "scanned",
    "empty",
    "duplicate",
    "invalid",
    "expected",
    "would_create",
    "would_update",
    "preview",
}
CUSTOMERS = (
    "姓名,手机号码,邮箱,客户标签\n"
    "张三,+86 138 0013 8000,ZS@example.com,VIP\n"
    "李四,13900139000,,\n"
    "王五,12345,,\n"
    "钱七,13600136000,,\n"
    "孙八,136-0013-6000,,\n"
    ",,,\n"
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "cdp"


def cdp(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CDP_HOME": str(home), **(env or {})}
    environment.pop("DAGSTER_HOME", None) if not env or "DAGSTER_HOME" not in env else None
    return subprocess.run([CDP, *args], capture_output=True, text=True, env=environment, timeout=300)


def customer_file(tmp_path: Path, text: str = CUSTOMERS, name: str = "user_2024-05-01.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_import_json_reports_the_contract_keys_and_counts_close(tmp_path: Path, home: Path) -> None:
    result = cdp(home, "import", "customers", str(customer_file(tmp_path)), "--tag", "demo", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report.keys() >= IMPORT_KEYS
    assert report["status"] == "succeeded"
    assert (report["scanned"], report["created"], report["updated"], report["failed"], report["skipped"]) == (
        6,
        2,
        0,
        3,
        1,
    )
    assert report["scanned"] == report["created"] + report["updated"] + report["failed"] + report["skipped"]
    failure_file = Path(report["failure_file"])
    assert failure_file.read_bytes().startswith(b"\xef\xbb\xbf")
    # the run is on the embedded default instance, under $CDP_HOME/dagster
    assert (home / "dagster" / "dagster.yaml").exists()
    assert (home / "warehouse.duckdb").exists()


def test_cli_same_bytes_again_is_already_imported_and_force_reimports(tmp_path: Path, home: Path) -> None:
    path = customer_file(tmp_path)
    first = json.loads(cdp(home, "import", "customers", str(path), "--json").stdout)
    again = cdp(home, "import", "customers", str(path), "--json")
    assert again.returncode == 0
    second = json.loads(again.stdout)
    assert second["status"] == "already_imported"
    assert (second["batch_id"], second["scanned"], second["created"]) == (first["batch_id"], 6, 2)
    forced = json.loads(cdp(home, "import", "customers", str(path), "--force", "--json").stdout)
    assert forced["status"] == "succeeded" and forced["batch_id"] != first["batch_id"]
    assert (forced["created"], forced["updated"]) == (0, 2)


def test_cli_rejected_file_exits_2_with_one_line_naming_file_and_reason(tmp_path: Path, home: Path) -> None:
    path = customer_file(tmp_path, "姓名,备注\n张三,x\n", name="no_key.csv")
    result = cdp(home, "import", "customers", str(path), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no_key.csv" in lines[0] and "no key column" in lines[0]
    assert "Traceback" not in result.stderr
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM import_batches").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM customers").fetchone() == (0,)


def test_cli_header_only_file_is_rejected_as_no_data_rows(tmp_path: Path, home: Path) -> None:
    result = cdp(home, "import", "customers", str(customer_file(tmp_path, "姓名,手机号码\n", "empty.csv")))
    assert result.returncode == 2 and "no data rows" in result.stderr


def test_cli_dry_run_reports_whole_file_and_writes_nothing(tmp_path: Path, home: Path) -> None:
    result = cdp(home, "import", "customers", str(customer_file(tmp_path)), "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report.keys() >= DRY_RUN_KEYS and report["status"] == "dry_run"
    assert (report["scanned"], report["empty"], report["duplicate"], report["invalid"], report["expected"]) == (
        6,
        1,
        2,
        1,
        2,
    )
    assert report["scanned"] == report["empty"] + report["duplicate"] + report["invalid"] + report["expected"]
    assert report["expected"] == report["would_create"] + report["would_update"] == 2
    assert report["preview"][0]["mobile"] == "138****8000"
    assert not (home / "warehouse.duckdb").exists()


def test_cli_batches_and_failures_export_csv_and_xlsx(tmp_path: Path, home: Path) -> None:
    report = json.loads(cdp(home, "import", "customers", str(customer_file(tmp_path)), "--json").stdout)
    history = json.loads(cdp(home, "batches", "--json").stdout)
    assert [b["batch_id"] for b in history] == [report["batch_id"]]
    as_csv = cdp(home, "failures", report["batch_id"])
    assert as_csv.returncode == 0
    lines = as_csv.stdout.strip().splitlines()
    assert lines[0] == "姓名,手机号码,邮箱,客户标签,row_number,reason_code,reason"
    assert len(lines) == 4 and lines[1].startswith("王五,12345")
    out = tmp_path / "failures.xlsx"
    assert cdp(home, "failures", report["batch_id"], "--out", str(out)).returncode == 0
    from openpyxl import load_workbook

    rows = list(load_workbook(out).active.iter_rows(values_only=True))
    assert rows[0][-3:] == ("row_number", "reason_code", "reason") and len(rows) == 4
    assert cdp(home, "failures", "no-such-batch").returncode == 2


def test_cli_output_into_a_closed_pipe_exits_141_without_a_traceback(tmp_path: Path, home: Path) -> None:
    """`cdp batches | head -1`: the reader leaves first; cdp exits as a tool killed by SIGPIPE."""
    assert cdp(home, "import", "customers", str(customer_file(tmp_path))).returncode == 0
    environment = {**os.environ, "CDP_HOME": str(home)}
    environment.pop("DAGSTER_HOME", None)
    process = subprocess.Popen([CDP, "batches"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
    process.stdout.close()  # before cdp has started up, so its first write meets a closed pipe
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_cli_help_lists_the_commands() -> None:
    result = subprocess.run([CDP, "import", "customers", "--help"], capture_output=True, text=True, timeout=60)
    for flag in (
        "--tag",
        "--group",
        "--initial-source",
        "--initial-source-content",
        "--campaign",
        "--source-policy",
        "--mode",
        "--encoding",
        "--dry-run",
        "--force",
        "--json",
    ):
        assert flag in result.stdout


def _postgres_database() -> str | None:
    try:
        import psycopg2
    except ImportError:
        return None
    name = f"cdp_test_{uuid.uuid4().hex[:12]}"
    try:
        con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
    except psycopg2.OperationalError:
        return None
    con.autocommit = True
    con.cursor().execute(f'CREATE DATABASE "{name}"')
    con.close()
    return name


def test_cli_import_on_postgres_instance_storage(tmp_path: Path, home: Path) -> None:
    """Production instance storage: dagster-postgres on the machine's PostgreSQL."""
    database = _postgres_database()
    if database is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required in CI")
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    dagster_home = tmp_path / "dagster_pg"
    dagster_home.mkdir()
    shutil.copyfile(Path(__file__).parents[1] / "deploy" / "dagster.postgres.yaml", dagster_home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(dagster_home),
        "CDP_PG_HOST": "127.0.0.1",
        "CDP_PG_PORT": "5432",
        "CDP_PG_USER": "postgres",
        "CDP_PG_PASSWORD": "",
        "CDP_PG_DB": database,
    }
    result = cdp(home, "import", "customers", str(customer_file(tmp_path)), "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["created"] == 2
    import psycopg2

    con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=database)
    cursor = con.cursor()
    cursor.execute("SELECT count(*) FROM runs WHERE pipeline_name = 'customer_import' AND status = 'SUCCESS'")
    assert cursor.fetchone() == (1,)
    con.close()


TMALL_KEYS = {
    "batch_id",
    "status",
    "orders_scanned",
    "orders_imported",
    "orders_failed",
    "items_imported",
    "customers_created",
    "customers_matched",
    "failure_file",
}


def test_cli_import_tmall_json_keys_and_unknown_template_exit_2(tmp_path: Path, home: Path) -> None:
    from samples.tmall import CLOSED, SUCCESS, random_orders, write_tmall_pair

    orders = random_orders(10, seed=11, statuses=[SUCCESS])
    orders[0].status = CLOSED
    orders_csv, items_csv = write_tmall_pair(tmp_path / "in", orders)
    result = cdp(
        home, "import", "tmall", "--orders", str(orders_csv), "--items", str(items_csv), "--tag", "tm", "--json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report.keys() >= TMALL_KEYS
    assert (report["orders_scanned"], report["orders_imported"], report["orders_failed"]) == (10, 9, 1)
    assert report["failure_file"] and Path(report["failure_file"]).exists()
    swapped = cdp(home, "import", "tmall", "--orders", str(items_csv), "--items", str(orders_csv))
    assert swapped.returncode == 2
    assert "missing:" in swapped.stderr and "extra:" in swapped.stderr and "Traceback" not in swapped.stderr


def test_cli_backfill_tmall_imports_every_pair_oldest_first(tmp_path: Path, home: Path) -> None:
    from samples.tmall import SUCCESS, random_orders, write_tmall_pair

    folder = tmp_path / "history"
    for stamp, seed in (("201803010000", 3), ("201801010000", 1), ("201802010000", 2)):
        write_tmall_pair(folder, random_orders(4, seed=seed, statuses=[SUCCESS]), stamp=stamp)
    (folder / "ExportOrderList201804010000.csv").write_bytes((folder / "ExportOrderList201801010000.csv").read_bytes())
    result = cdp(home, "backfill", "tmall", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [e["file_name"] for e in report["exports"]] == [
        "ExportOrderList201801010000.csv",
        "ExportOrderList201802010000.csv",
        "ExportOrderList201803010000.csv",
    ]
    assert all(e["status"] == "succeeded" for e in report["exports"])
    assert report["alone"] == [str(folder / "ExportOrderList201804010000.csv")]


def test_cli_a_300000_character_name_cell_imports_in_seconds_and_dry_run_cells_are_cut(
    tmp_path: Path, home: Path
) -> None:
    """Issue 14 item 6: `cdp import customers` of a file with a 300,000-character name cell (a
    created and a failed row) finishes in seconds; the dry run's preview (JSON and table) shows
    each cell cut to the preview width, masked."""
    import time

    from cdp_pipeline.masking import ELLIPSIS, PREVIEW_CELL_WIDTH

    long_name = "zhang.san@example.com " + "a" * 300_000
    path = customer_file(tmp_path, f"姓名,手机号码\n{long_name},13800138000\n{'1' * 300_000},12345\n", "long.csv")
    planned = cdp(home, "import", "customers", str(path), "--dry-run", "--json")
    assert planned.returncode == 0, planned.stderr
    preview = json.loads(planned.stdout)["preview"]
    assert [len(p["name"]) for p in preview] == [PREVIEW_CELL_WIDTH, PREVIEW_CELL_WIDTH]
    assert preview[0]["name"].startswith("z***@example.com aaa") and preview[1]["name"].endswith("1" + ELLIPSIS)
    table = cdp(home, "import", "customers", str(path), "--dry-run")
    assert table.returncode == 0 and max(map(len, table.stdout.splitlines())) < 2 * PREVIEW_CELL_WIDTH
    assert "zhang.san" not in table.stdout
    started = time.monotonic()
    result = cdp(home, "import", "customers", str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60
    report = json.loads(result.stdout)
    assert (report["created"], report["failed"]) == (1, 1)


def test_cli_demo_files_are_the_same_bytes_every_run_so_a_second_demo_imports_nothing(
    tmp_path: Path, home: Path
) -> None:
    """Issue 14 item 15: scripts/make_demo_files.py writes the same bytes on every run (the XLSX
    carried the time of the run in docProps/core.xml and its ZIP entries), so the second `make
    demo` finds its XLSX already imported."""
    import hashlib
    import time

    script = Path(__file__).resolve().parents[1] / "scripts" / "make_demo_files.py"
    first, second = tmp_path / "first", tmp_path / "second"
    assert subprocess.run([sys.executable, str(script), str(first)], capture_output=True).returncode == 0
    time.sleep(2.1)  # past the 2-second resolution of ZIP entry times and the second of core.xml
    assert subprocess.run([sys.executable, str(script), str(second)], capture_output=True).returncode == 0
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(files) == 5 and Path("user_2024-05-03.xlsx") in files
    digests = [{str(f): hashlib.sha256((run / f).read_bytes()).hexdigest() for f in files} for run in (first, second)]
    assert digests[0] == digests[1]
    imported = json.loads(cdp(home, "import", "customers", str(first / "user_2024-05-03.xlsx"), "--json").stdout)
    again = json.loads(cdp(home, "import", "customers", str(second / "user_2024-05-03.xlsx"), "--json").stdout)
    assert (imported["status"], imported["created"]) == ("succeeded", 50)
    assert (again["status"], again["batch_id"]) == ("already_imported", imported["batch_id"])


def test_cli_import_reports_unchanged_in_json_and_the_summary_line(tmp_path: Path, home: Path) -> None:
    """Issue 14 item 15: `cdp import customers` reports `unchanged` (the updated rows that changed
    nothing) in its JSON and after its summary line, which stays as it was; a warehouse from
    before the column gains it on the next import."""
    path = customer_file(tmp_path)
    first = cdp(home, "import", "customers", str(path))
    assert first.returncode == 0, first.stderr
    assert "  scanned 6 = created 2 + updated 0 + failed 3 + skipped 1 (unchanged 0)\n" in first.stdout
    # the warehouse as older code left it: no unchanged column, other SQL text applied
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("ALTER TABLE import_batches DROP COLUMN unchanged")
        con.execute("UPDATE cdp_sql_version SET fingerprint = 'older'")
    forced = cdp(home, "import", "customers", str(path), "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    report = json.loads(forced.stdout)
    assert (report["updated"], report["unchanged"]) == (2, 2)
    changed = customer_file(tmp_path, CUSTOMERS.replace("李四,", "李四四,"), "changed.csv")
    again = cdp(home, "import", "customers", str(changed))
    assert "  scanned 6 = created 0 + updated 2 + failed 3 + skipped 1 (unchanged 1)\n" in again.stdout
    history = json.loads(cdp(home, "batches", "--json").stdout)
    assert len(history) == 3
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT unchanged FROM import_batches ORDER BY started_at").fetchall() == [
            (None,),
            (2,),
            (1,),
        ]
