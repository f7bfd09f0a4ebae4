"""Dagster 1.13's conventions: the defs folder loaded per area, public Dagster APIs only, and
declarative automation in place of hand-made sensors."""

from __future__ import annotations

import ast
from pathlib import Path

import dagster as dg

from cdp_pipeline.settings import CdpPaths

ROOT = Path(__file__).resolve().parent.parent
AREAS = ("imports", "warehouse", "profiles", "shared")


def is_private_dagster(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "dagster" and any(part.startswith("_") for part in parts[1:])


def private_dagster_imports(package: Path, root: Path = ROOT) -> list[str]:
    """``file:line module`` for every import of a private Dagster module (``dagster._…``, or a
    private name from ``dagster``) in the package's Python files."""
    found = []
    for source in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), filename=str(source))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [alias.name for alias in node.names] if node.module == "dagster" else []
                modules = [node.module, *(f"dagster.{name}" for name in names)]
            else:
                continue
            where = f"{source.relative_to(root)}:{node.lineno}"
            found += [f"{where} {module}" for module in modules if is_private_dagster(module)]
    return found


def test_no_module_imports_private_dagster_apis() -> None:
    """Issue 11 item 4: no module of cdp_pipeline/, dagster_project/ or data_contracts/ imports
    ``dagster._…`` (dagster_project/instance.py imported ``dagster._core.events``)."""
    packages = [ROOT / name for name in ("cdp_pipeline", "dagster_project", "data_contracts")]
    assert all(package.is_dir() for package in packages)
    assert [hit for package in packages for hit in private_dagster_imports(package)] == []


def test_private_import_scan_finds_every_spelling(tmp_path: Path) -> None:
    """Issue 11 item 4: the scan above sees each way of importing a private Dagster module."""
    (tmp_path / "m.py").write_text(
        "import dagster._core.events\nfrom dagster._core import events\nfrom dagster import _check\n"
        "import dagster as dg\nfrom dagster_project._x import y\nfrom . import _dagster\n",
        encoding="utf-8",
    )
    hits = private_dagster_imports(tmp_path, root=tmp_path)
    assert hits == ["m.py:1 dagster._core.events", "m.py:2 dagster._core", "m.py:3 dagster._check"]


def test_each_area_folder_contributes_its_definitions(cdp: CdpPaths) -> None:
    """Issue 11 item 4: the code location is the defs folder loaded per area (``dg`` layout):
    each area folder contributes its own definitions, the resources are bound once, by shared,
    and ``[tool.dg]`` names the package the definitions module builds it from."""
    import tomllib

    from dagster_project.definitions import defs, defs_tree

    def names(area_defs: dg.Definitions) -> set[str]:
        keys = {
            key.to_user_string()
            for asset in area_defs.assets or []
            for key in (asset.keys if isinstance(asset, dg.AssetsDefinition) else [asset.key])
        }
        return keys | {job.name for job in area_defs.jobs or []} | {sensor.name for sensor in area_defs.sensors or []}

    areas = {area: defs_tree.build_defs_at_path(area) for area in AREAS}
    assert {"customer_import", "customer_inbox_sensor", "tmall_import", "tmall_inbox_sensor"} <= names(areas["imports"])
    assert {"customers", "orders", "import_batches"} <= names(areas["warehouse"])
    assert names(areas["profiles"]) == {"customer_overview"}
    assert names(areas["shared"]) == {"automation_condition_sensor"}
    resources = [sorted(area_defs.resources or {}) for area_defs in areas.values()]
    assert resources == [[], [], [], ["import_lock", "warehouse"]]
    assert set().union(*map(names, areas.values())) == names(defs)
    dg.Definitions.validate_loadable(defs)

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["dg"]["project"]
    assert (project["root_module"], project["defs_module"]) == ("dagster_project", defs_tree.defs_module_name)


def test_overview_follows_each_profiles_materialization(cdp: CdpPaths) -> None:
    """Issue 11 item 4: ``customer_overview`` is requested by its automation condition once a
    materialization of ``customer_profiles`` (which every import run makes) is recorded in a
    real instance, and not again until the next one; the sensor that evaluates the condition
    runs from the first start, and no run-status sensor or refresh job is left. Issue 13: it
    waits for the blocking checks of ``customers``, which its tick requests with it (one run:
    a blocking check that fails there keeps the overview from being materialized)."""
    from dagster_project.definitions import defs

    instance = dg.DagsterInstance.get()
    overview = dg.AssetKey("customer_overview")
    graph = defs.resolve_asset_graph()
    on_customers = [key for key in graph.asset_check_keys if key.asset_key == dg.AssetKey("customers")]
    assert any(graph.get_check_spec(key).blocking for key in on_customers)

    def tick(cursor=None) -> dg.EvaluateAutomationConditionsResult:
        return dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)

    first = tick()
    assert first.get_requested_partitions(overview) == set() and first.total_requested == 0
    instance.report_runless_asset_event(dg.AssetMaterialization("customers"))
    instance.report_runless_asset_event(dg.AssetMaterialization("customer_profiles"))
    second = tick(first.cursor)
    assert second.get_num_requested(overview) == 1 and second.total_requested == 1 + len(on_customers)
    for key in on_customers:  # what the requested run records
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(asset_key=key.asset_key, check_name=key.name, passed=True)
        )
    third = tick(second.cursor)
    assert third.total_requested == 0
    instance.report_runless_asset_event(dg.AssetMaterialization("customer_profiles"))
    assert tick(third.cursor).get_num_requested(overview) == 1

    sensor = defs.resolve_sensor_def("automation_condition_sensor")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert overview in sensor.asset_selection.resolve(defs.resolve_asset_graph())
    assert not any(isinstance(s, dg.RunStatusSensorDefinition) for s in defs.sensors or [])
    assert sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")) == [
        "customer_import",
        "tmall_import",
        "warehouse_checks",
    ]


@dg.op
def noop() -> None:
    pass


@dg.job
def plain_job() -> None:
    noop()


def test_a_run_process_record_is_the_runs_own_and_not_inherited(cdp: CdpPaths) -> None:
    """Issue 11 item 4: the process executing a run is recorded through public Dagster APIs, as
    an event of that run: a run whose recorded process is gone is marked failed, and a
    re-execution of it (created with its parent's tags) is not taken for that dead process."""
    import subprocess
    import sys

    from dagster_project.instance import recover_dead_runs

    instance = dg.DagsterInstance.get()
    parent = instance.create_run_for_job(plain_job, status=dg.DagsterRunStatus.STARTED, tags={"cdp/x": "1"})
    record = (
        "import dagster as dg\nfrom dagster_project.instance import record_run_process\n"
        "instance = dg.DagsterInstance.get()\n"
        f"record_run_process(instance, instance.get_run_by_id({parent.run_id!r}))\n"
    )
    subprocess.run([sys.executable, "-c", record], check=True)  # that process is gone once it returns
    child = instance.create_run_for_job(
        plain_job,
        status=dg.DagsterRunStatus.STARTED,
        tags=instance.get_run_by_id(parent.run_id).tags,
        parent_run_id=parent.run_id,
        root_run_id=parent.run_id,
    )
    assert recover_dead_runs(instance) == [parent.run_id]
    assert instance.get_run_by_id(parent.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(child.run_id).status == dg.DagsterRunStatus.STARTED


def test_cli_runs_the_code_locations_jobs(cdp: CdpPaths) -> None:
    """Issue 12 item: the CLI builds its run's job from the defs areas without the component
    library's description (~0.1 s of a one-row import); its jobs, assets, sensors and resources
    are the code location's, each job with the same snapshot."""
    from dagster_project.definitions import defs
    from dagster_project.loading import run_defs

    cli_defs = run_defs()
    graph, cli_graph = defs.resolve_asset_graph(), cli_defs.resolve_asset_graph()
    assert cli_graph.get_all_asset_keys() == graph.get_all_asset_keys()
    assert sorted(s.name for s in cli_defs.sensors or []) == sorted(s.name for s in defs.sensors or [])
    assert sorted(cli_defs.resources or {}) == sorted(defs.resources or {})
    for job in defs.resolve_all_job_defs():
        assert cli_defs.resolve_job_def(job.name).get_job_snapshot_id() == job.get_job_snapshot_id()
    assert "plugin_component_types_json" in (defs.metadata or {})
    assert "plugin_component_types_json" not in (cli_defs.metadata or {})


def test_a_cli_run_holds_the_sqlite_storage_open(cdp: CdpPaths) -> None:
    """Issue 12 item: while a CLI run goes on, Dagster's SQLite files stay open, so a connection
    of Dagster's closing does not checkpoint its file after every event, and their commits are
    not synced one by one (synchronous NORMAL, in WAL mode); after the run one checkpoint leaves
    every commit in the file, and connections are back to Dagster's own setting."""
    import os
    import sqlite3

    import sqlalchemy
    from sqlalchemy.pool import NullPool

    from dagster_project.instance import local_instance, storage_held_open

    instance = local_instance(cdp)
    run_id = "12121212-1212-4121-8121-121212121212"
    run_log = Path(os.environ["DAGSTER_HOME"]) / "history" / "runs" / f"{run_id}.db"
    wal = Path(f"{run_log}-wal")

    def synchronous_and_journal() -> tuple[int, str]:
        engine = sqlalchemy.create_engine(f"sqlite:///{run_log}", poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return (
                    conn.exec_driver_sql("PRAGMA synchronous").scalar(),
                    conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
                )
        finally:
            engine.dispose()

    with storage_held_open(instance, run_id):
        assert synchronous_and_journal() == (1, "wal")
        engine = sqlalchemy.create_engine(f"sqlite:///{run_log}", poolclass=NullPool)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE probe (x)")
            conn.exec_driver_sql("INSERT INTO probe VALUES (1)")
        engine.dispose()
        assert wal.stat().st_size > 0  # that connection's close did not checkpoint the file
    assert not wal.exists() or wal.stat().st_size == 0
    con = sqlite3.connect(run_log)
    try:
        assert con.execute("SELECT x FROM probe").fetchall() == [(1,)]
        assert con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'event_logs'").fetchone() == (1,)
    finally:
        con.close()
    assert synchronous_and_journal() == (2, "wal")
