"""What the CLI writes and prints from the warehouse: `cdp failures --out` never touches the
product's state or a file it was not asked to replace (issue 14 item 5), and `cdp sql` reads the
warehouse, for real read-only, masked, a bounded number of rows (issue 14 item 16)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from cdp_pipeline.failure_files import write_failure_csv, write_failure_xlsx
from cdp_pipeline.settings import CdpPaths
from cdp_pipeline.warehouse import connect, connect_query_only

CDP = str(Path(sys.executable).with_name("cdp"))
CUSTOMERS = (
    "姓名,手机号码,邮箱,微信openid\n"
    "张三,13800138000,zhang.san@example.com,oAbCdEfGhIjKlMnOpQrStUvWxYz1\n"
    "李四,12345,li.si@example.com,\n"
    "王五,13900139000,,\n"
)


def run_cdp(home: Path, *args: str | Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CDP_HOME": str(home)}
    environment.pop("DAGSTER_HOME", None)
    return subprocess.run([CDP, *map(str, args)], capture_output=True, text=True, env=environment, timeout=300)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A CDP_HOME with one customer import (one failed row), imported by the real `cdp`; the
    tests here only read it (each checks it is unchanged where that matters)."""
    folder = tmp_path_factory.mktemp("imported")
    source = folder / "customers.csv"
    source.write_text(CUSTOMERS, encoding="utf-8")
    home = folder / "cdp"
    result = run_cdp(home, "import", "customers", source, "--json")
    assert result.returncode == 0, result.stderr
    return home, json.loads(result.stdout)["batch_id"]


@pytest.fixture
def cli(imported: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """``cli(*args)`` → (exit code, stdout, stderr) of ``cdp`` run in this process on the imported home."""
    from dagster_project.cli import main

    home, _ = imported
    monkeypatch.setenv("CDP_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))

    def run(*args: str | Path) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def no_temporaries(*folders: Path) -> None:
    for folder in folders:
        leftovers = [p for p in folder.rglob("*.tmp") if "dagster" not in p.parts]
        assert leftovers == [], leftovers


# --- item 5: cdp failures --out --------------------------------------------------------------------


def test_failures_out_refuses_the_warehouse_and_leaves_it_whole(imported: tuple[Path, str]) -> None:
    """Issue 14 item 5: `--out $CDP_HOME/warehouse.duckdb` exited 0 and left a CSV in the
    warehouse's place; now it is refused in one line (exit 2) and the warehouse is untouched."""
    home, batch_id = imported
    warehouse = home / "warehouse.duckdb"
    before = sha256(warehouse)
    result = run_cdp(home, "failures", batch_id, "--out", warehouse)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert str(warehouse) in line and "product's own state" in line
    assert sha256(warehouse) == before
    assert run_cdp(home, "batches", "--json").returncode == 0  # still a warehouse
    no_temporaries(home)


@pytest.mark.parametrize(
    "target",
    [
        "warehouse.duckdb.wal",
        "cdp.yaml",
        "failures/{batch}.csv",
        "failures/new.csv",
        "archive/{batch}/customers.csv",
        "inbox/customers/x.csv",
        "work/x.xlsx",
        "dagster/dagster.yaml",
        "dagster/new.xlsx",
        "failures/../../cdp/failures",
        ".",
    ],
)
def test_failures_out_refuses_every_path_inside_cdp_home(cli, imported: tuple[Path, str], target: str) -> None:
    """Issue 14 item 5: nothing of CDP_HOME's own state is written by an export, new names
    inside it included (the warehouse, its WAL, cdp.yaml, failures, archive, inbox, work, dagster)."""
    home, batch_id = imported
    path = home / target.format(batch=batch_id)
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file() and "dagster" not in p.parts}
    code, out, err = cli("failures", batch_id, "--out", path, "--overwrite")
    assert code == 2 and out == ""
    assert "inside" in one_line(err) and "product's own state" in err
    after = {p: p.read_bytes() for p in home.rglob("*") if p.is_file() and "dagster" not in p.parts}
    assert after == before
    assert not (home / "cdp.yaml").exists() and not (home / "failures" / "new.csv").exists()


def test_failures_out_refuses_a_link_that_leads_into_cdp_home(cli, imported: tuple[Path, str], tmp_path: Path) -> None:
    """Issue 14 item 5: a symlink pointing into CDP_HOME is caught by resolving it, and so is
    a folder link on the way to it."""
    home, batch_id = imported
    (tmp_path / "to_warehouse").symlink_to(home / "warehouse.duckdb")
    (tmp_path / "to_home").symlink_to(home, target_is_directory=True)
    before = sha256(home / "warehouse.duckdb")
    for path in (tmp_path / "to_warehouse", tmp_path / "to_home" / "failures" / "x.csv"):
        code, _, err = cli("failures", batch_id, "--out", path, "--overwrite")
        assert code == 2 and "product's own state" in one_line(err)
    assert sha256(home / "warehouse.duckdb") == before
    assert (tmp_path / "to_warehouse").is_symlink()


def test_failures_out_never_replaces_an_existing_file_unless_asked(imported: tuple[Path, str], tmp_path: Path) -> None:
    """Issue 14 item 5: an existing file is kept (exit 2, one line) unless --overwrite; then it
    is replaced whole, and through a link its target is replaced, the link kept."""
    home, batch_id = imported
    existing = tmp_path / "report.csv"
    existing.write_text("keep me\n", encoding="utf-8")
    refused = run_cdp(home, "failures", batch_id, "--out", existing)
    assert refused.returncode == 2 and "--overwrite" in one_line(refused.stderr)
    assert existing.read_text(encoding="utf-8") == "keep me\n"

    replaced = run_cdp(home, "failures", batch_id, "--out", existing, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert existing.read_bytes().startswith(b"\xef\xbb\xbf") and "李四" in existing.read_text(encoding="utf-8-sig")

    link = tmp_path / "link.csv"
    link.symlink_to(existing)
    assert run_cdp(home, "failures", batch_id, "--out", link, "--overwrite").returncode == 0
    assert link.is_symlink() and link.resolve() == existing
    no_temporaries(tmp_path)


def test_failures_out_refuses_folders_devices_fifos_and_links_to_them(
    cli, imported: tuple[Path, str], tmp_path: Path
) -> None:
    """Issue 14 item 5: only regular files. A folder gave a traceback and left a .tmp; a link to
    a device (as /dev/stdout is) had its link replaced as root. Each is refused in one line, exit
    2, even with --overwrite, and nothing is left behind. /dev/stdout itself is tested through a
    link in tmp_path, so a regression could only ever replace that link."""
    home, batch_id = imported
    folder = tmp_path / "folder"
    folder.mkdir()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    to_null = tmp_path / "to_null"
    to_null.symlink_to("/dev/null")
    to_stdout = tmp_path / "to_stdout"
    to_stdout.symlink_to("/dev/stdout")
    to_fifo = tmp_path / "to_fifo"
    to_fifo.symlink_to(fifo)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere" / "x.csv")
    for path in (folder, fifo, to_null, to_stdout, to_fifo, dangling):
        for extra in ((), ("--overwrite",)):
            code, out, err = cli("failures", batch_id, "--out", path, *extra)
            assert code == 2 and out == "", (path, err)
            assert str(path) in one_line(err)
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert fifo.is_fifo() and to_null.is_symlink() and os.readlink(to_stdout) == "/dev/stdout"
    assert not (tmp_path / "nowhere").exists()
    no_temporaries(tmp_path)

    result = run_cdp(home, "failures", batch_id, "--out", folder)  # the real command, once
    assert result.returncode == 2 and "a folder" in one_line(result.stderr)
    no_temporaries(tmp_path)


def test_failures_out_dash_writes_to_standard_output(imported: tuple[Path, str], tmp_path: Path) -> None:
    """Issue 14 item 5: `--out -` prints what `cdp failures BATCH` prints (the CSV without BOM)."""
    home, batch_id = imported
    dash = run_cdp(home, "failures", batch_id, "--out", "-")
    assert dash.returncode == 0, dash.stderr
    assert dash.stdout == run_cdp(home, "failures", batch_id).stdout
    assert dash.stdout.splitlines()[0].endswith("row_number,reason_code,reason") and "李四" in dash.stdout
    assert not (tmp_path / "-").exists() and not Path("-").exists()


def test_failure_file_writers_keep_an_existing_file_and_leave_no_temporary(paths: CdpPaths, tmp_path: Path) -> None:
    """Issue 14 item 5, library: write_failure_csv/xlsx with overwrite=False never replace an
    existing file (FileExistsError, the file unchanged), and no temporary is left either way."""
    with connect(paths.warehouse) as con:
        con.execute(
            "INSERT INTO import_failures (batch_id, row_number, reason_code, reason, raw) "
            "VALUES ('b1', 2, 'invalid_mobile', 'bad', '[\"x\", \"=1+1\"]')"
        )
        for writer, name in ((write_failure_csv, "f.csv"), (write_failure_xlsx, "f.xlsx")):
            target = tmp_path / "out" / name
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(b"mine")
            with pytest.raises(FileExistsError):
                writer(con, "b1", ["a", "b"], target, overwrite=False)
            assert target.read_bytes() == b"mine"
            writer(con, "b1", ["a", "b"], target, overwrite=True)
            assert target.read_bytes() != b"mine"
            fresh = tmp_path / "out" / f"new-{name}"
            writer(con, "b1", ["a", "b"], fresh, overwrite=False)
            assert fresh.stat().st_size > 0
    no_temporaries(tmp_path / "out")


# --- item 16: cdp sql ----------------------------------------------------------------------------


def test_sql_prints_a_masked_table_and_json_records(imported: tuple[Path, str]) -> None:
    """Issue 14 item 16: `cdp sql` prints the result as a table or as JSON records, mobiles,
    emails and openids masked (in text, in numbers and inside lists); --unmasked shows them."""
    home, _ = imported
    query = "SELECT name, mobile, email FROM customers ORDER BY mobile"
    table = run_cdp(home, "sql", query)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["name", "mobile", "email"] and len(lines) == 3
    assert "138****8000" in table.stdout and "z***@example.com" in table.stdout and "NULL" in lines[2]
    assert "13800138000" not in table.stdout and "zhang.san" not in table.stdout

    records = json.loads(run_cdp(home, "sql", query, "--json").stdout)
    assert records == [
        {"name": "张三", "mobile": "138****8000", "email": "z***@example.com"},
        {"name": "王五", "mobile": "139****9000", "email": None},
    ]
    tricky = run_cdp(
        home,
        "sql",
        "SELECT CAST(mobile AS BIGINT) AS n, [mobile, email] AS l, raw FROM import_failures, customers "
        "WHERE mobile LIKE '138%'",
        "--json",
    )
    assert tricky.returncode == 0, tricky.stderr
    assert "13800138000" not in tricky.stdout and "li.si@" not in tricky.stdout
    assert json.loads(tricky.stdout)[0]["n"] == "138****8000"
    assert json.loads(tricky.stdout)[0]["l"] == ["138****8000", "z***@example.com"]
    assert "oAb****Yz1" in run_cdp(home, "sql", "SELECT identity_value FROM customer_identities").stdout

    unmasked = json.loads(run_cdp(home, "sql", query, "--json", "--unmasked").stdout)
    assert unmasked[0] == {"name": "张三", "mobile": "13800138000", "email": "zhang.san@example.com"}


def test_sql_refuses_writes_and_files_and_leaves_the_warehouse_unchanged(cli, imported: tuple[Path, str]) -> None:
    """Issue 14 item 16: read-only for real. A write, DDL, COPY, ATTACH, a file read, a second
    statement or a setting change is refused in one line (exit 2); the warehouse's bytes are
    the same afterwards."""
    home, _ = imported
    warehouse = home / "warehouse.duckdb"
    before = sha256(warehouse)
    for query in (
        "INSERT INTO tags (tag_id, name) VALUES (9, 'x')",
        "UPDATE customers SET name = 'x'",
        "DELETE FROM customers",
        "DROP TABLE customers",
        "CREATE TABLE x AS SELECT 1",
        f"COPY customers TO '{warehouse}'",
        f"ATTACH '{home / 'other.duckdb'}' AS other",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SET enable_external_access = true",
        "SELECT 1; DELETE FROM customers",
        "CHECKPOINT",
    ):
        code, out, err = cli("sql", query)
        assert code == 2 and out == "", (query, err)
        assert one_line(err).startswith("cdp: refused:")
    assert sha256(warehouse) == before
    assert not (home / "other.duckdb").exists()
    result = run_cdp(home, "sql", "DELETE FROM customers")
    assert result.returncode == 2 and "DELETE" in one_line(result.stderr)
    assert sha256(warehouse) == before
    code, _, err = cli("sql", "SELEC 1")
    assert code == 2 and "syntax error" in one_line(err).lower()


def test_sql_limits_rows_and_says_how_many_were_cut(cli) -> None:
    """Issue 14 item 16: at most 100 rows by default, with a line on stderr saying how many
    there were; --limit N and --limit 0 (all)."""
    code, out, err = cli("sql", "SELECT range AS n FROM range(250)")
    assert code == 0 and len(out.splitlines()) == 101
    assert "100 of 250 rows" in one_line(err)
    code, out, err = cli("sql", "SELECT range AS n FROM range(250)", "--limit", "0", "--json")
    assert code == 0 and len(json.loads(out)) == 250 and err == ""
    code, out, err = cli("sql", "SELECT range AS n FROM range(250)", "--limit", "7", "--json")
    assert [r["n"] for r in json.loads(out)] == list(range(7)) and "7 of 250" in err
    code, out, _ = cli("sql", "SELECT * FROM customers WHERE false")
    assert code == 0 and out.startswith("no rows (columns: customer_id")
    code, out, _ = cli("sql", "SHOW TABLES")
    assert code == 0 and "import_batches" in out


def test_sql_without_a_warehouse_says_so_and_creates_none(tmp_path: Path) -> None:
    """Issue 14 item 16: before any import there is nothing to query: one line, exit 3 (CDP_HOME
    is not ready, not the query's fault), and no warehouse is created."""
    home = tmp_path / "cdp"
    result = run_cdp(home, "sql", "SELECT 1")
    assert result.returncode == 3
    assert "no warehouse yet" in one_line(result.stderr)
    assert not (home / "warehouse.duckdb").exists()


def test_query_only_connection_refuses_writes_files_and_unlocking(paths: CdpPaths, tmp_path: Path) -> None:
    """Issue 14 item 16, library: connect_query_only opens the warehouse read-only, with no file
    access, and the query cannot turn that back on."""
    with connect(paths.warehouse) as con:
        con.execute("INSERT INTO tags (tag_id, name) VALUES (1, 'VIP')")
    with connect_query_only(paths.warehouse) as con:
        assert con.execute("SELECT name FROM tags").fetchall() == [("VIP",)]
        for statement in (
            "INSERT INTO tags (tag_id, name) VALUES (2, 'x')",
            f"COPY tags TO '{tmp_path / 'x.csv'}'",
            "SET enable_external_access = true",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(statement)
    assert not (tmp_path / "x.csv").exists()
