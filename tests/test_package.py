"""The project as a package: what a wheel holds, and a `cdp` installed from it into a fresh venv
importing a file with nothing of the checkout in reach."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from cdp_pipeline.resources import sql_file, sql_files

REPO = Path(__file__).resolve().parents[1]
# What the wheel is built from: the packages, samples/ (to see it left out) and the metadata.
SOURCES = ("cdp_pipeline", "dagster_project", "data_contracts", "sql", "samples", "pyproject.toml", "README.md")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout, built from a copy so no build/ or egg-info lands in it."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", root, source],
        check=True,
        capture_output=True,
    )
    return next(root.glob("cdp_pipeline-*.whl"))


def test_the_wheel_holds_the_sql_the_contracts_and_the_instance_template_but_not_the_samples(wheel: Path) -> None:
    """Issue 11 item 6: SQL, contract YAML and dagster.yaml are package data of the wheel; the
    sample generators are no package of it."""
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped_sql = {name for name in names if name.startswith("sql/") and name.endswith(".sql")}
    assert {str(path.relative_to(REPO)) for path in (REPO / "sql").rglob("*.sql")} == shipped_sql
    assert {"sql/warehouse/schema.sql", "sql/warehouse/macros.sql"} <= shipped_sql
    contracts = {f"data_contracts/{p.name}" for p in (REPO / "data_contracts").glob("*.yaml")}
    assert contracts and contracts <= names
    assert "dagster_project/dagster.yaml" in names
    assert not any(name.startswith("samples/") for name in names)


def test_sql_stems_are_unique_across_the_layers() -> None:
    """Issue 11 item 6: ``render_sql(name)`` finds a file by its stem wherever it is under sql/, so no
    two files share one; every file sits in a layer folder, none at the top."""
    paths = sorted((REPO / "sql").rglob("*.sql"))
    assert len({path.stem for path in paths}) == len(paths) == len(sql_files())
    assert {path.parent.relative_to(REPO) for path in paths} == {
        Path("sql", layer) for layer in ("warehouse", "staging", "matching", "writes", "queries", "checks")
    }
    assert sql_file("customer_matches") == sql_files()["customer_matches"]
    with pytest.raises(KeyError, match="no SQL file nowhere.sql"):
        sql_file("nowhere")


def _fresh_venv(root: Path, wheel: Path) -> Path:
    """A venv holding only the wheel; the dependencies (already installed beside this test's
    Python) are made visible by a .pth line instead of being installed again. The line adds a
    folder to the path without running its .pth files, so this checkout's editable install does
    not come along."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    site = Path(
        subprocess.run(
            [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet", "--no-deps", wheel],
        check=True,
        capture_output=True,
    )
    return venv


def test_cdp_installed_from_the_wheel_imports_a_file_from_another_folder(tmp_path: Path, wheel: Path) -> None:
    """Issue 11 item 6: `pip install` of the package into a fresh venv gives a `cdp` that imports
    a customer file lying in another folder, run from a folder that holds no checkout, with
    CDP_HOME elsewhere again: SQL, YAML and the Dagster instance come from the installed package."""
    venv = _fresh_venv(tmp_path, wheel)
    elsewhere, files, home = tmp_path / "elsewhere", tmp_path / "files", tmp_path / "state" / "cdp"
    elsewhere.mkdir()
    files.mkdir()
    customers = files / "members.csv"
    customers.write_text("姓名,手机号码\n张三,13800138000\n李四,13900139000\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "DAGSTER_HOME")}
    env["CDP_HOME"] = str(home)

    where = subprocess.run(
        [
            venv / "bin" / "python",
            "-c",
            "import json, cdp_pipeline, dagster_project, data_contracts, sql, importlib.util;"
            "print(json.dumps({'modules': [m.__file__ for m in (cdp_pipeline, dagster_project, data_contracts, sql)],"
            " 'samples': importlib.util.find_spec('samples') is not None}))",
        ],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    found = json.loads(where.stdout)
    assert all(Path(module).is_relative_to(venv) for module in found["modules"]), found
    assert found["samples"] is False
    assert not any(elsewhere.iterdir()) and not (elsewhere / "sql").exists()

    run = subprocess.run(
        [venv / "bin" / "cdp", "import", "customers", customers, "--json"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert (summary["status"], summary["created"]) == ("succeeded", 2), summary
    assert (home / "warehouse.duckdb").is_file() and (home / "dagster" / "dagster.yaml").is_file()
    count = subprocess.run(
        [venv / "bin" / "cdp", "sql", "SELECT count(*) AS n FROM customers", "--json"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert count.returncode == 0, count.stderr
    assert '"n": 2' in count.stdout or json.loads(count.stdout) == [{"n": 2}]
