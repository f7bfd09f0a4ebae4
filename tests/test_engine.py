"""Issue 11: one import engine and an honest Dagster model. A kind declared only here (loyalty
points) runs end to end through the engine and the Dagster factory; the tables each kind
declares are the tables its SQL writes; every table a run writes is materialized with its row
count; partition keys name their files; a rejected file's run fails with its reason; files stage
while another batch writes."""

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandera.pandas as pa
import pytest

from cdp_pipeline.batch_writes import SHARED_TABLES, WritePlan, plan_tables
from cdp_pipeline.batches import STAGING, content_sha256, file_partition_key
from cdp_pipeline.catalogue import header_key
from cdp_pipeline.customer_import import CUSTOMERS, import_customer_file
from cdp_pipeline.engine import ImportKind, KindNames, Staged, possible_write_plans, write_import
from cdp_pipeline.inbox import each_ready_file_alone
from cdp_pipeline.kinds import KINDS
from cdp_pipeline.readers import cell_parts, stage_file
from cdp_pipeline.settings import CdpPaths, CustomerImportSettings, setting
from cdp_pipeline.sidecars import sidecar_checks, sidecar_values
from cdp_pipeline.tmall_import import TMALL
from cdp_pipeline.warehouse import connect, render_sql
from data_contracts.customer_rows import collect_failures, parsed_when_filled
from samples.tmall import SUCCESS, random_orders, write_tmall_pair

POINTS_SQL = Path(__file__).parent / "kinds" / "points"


@dataclass(frozen=True)
class PointsImportSettings:
    tags: tuple[str, ...] = setting((), "tag every customer given points", flag="--tag", metavar="NAME")
    group: str | None = setting(None, "add every customer given points to this static group")


points_contract = pa.DataFrameSchema(
    columns={"cells_ok": pa.Column(bool, pa.Check(lambda s: s, name="malformed_row"))},
    checks=[pa.Check(parsed_when_filled("points", "points_text"), name="invalid_number")],
    index=pa.Index(int, name="row_number"),
    strict=False,
)


def stage_points_file(con: duckdb.DuckDBPyConnection, files, settings, paths: CdpPaths) -> Staged:
    (source,) = files
    known = frozenset(header_key(name) for name in ("客户ID", "积分"))
    staged = stage_file(con, source, f"{STAGING}.file_rows", paths.work, known)
    con.execute(render_sql("points_rows", folders=(POINTS_SQL,), staging=STAGING, **cell_parts(staged.width)))
    return Staged(staged.headers, staged.encoding)


POINTS = ImportKind(
    name="points",
    names=KindNames("points", "file", "rows"),
    title="loyalty points file",
    inputs=("file",),
    settings=PointsImportSettings,
    stage=stage_points_file,
    contract_rows="points_for_contract",
    contract=lambda batch: collect_failures(points_contract, batch),
    match_steps=("points_outcomes",),
    counts="points_counts",
    outcomes="points_outcomes",
    file_rows="file_rows",
    write_plan=lambda context, counts: WritePlan(steps=["points_added", "points_batch_customers"]),
    tables=("customers", *SHARED_TABLES),
    pair_files=lambda files: ([(f,) for f in sorted(files)], []),
    read_sidecar=lambda path: PointsImportSettings(**sidecar_values(path, sidecar_checks(PointsImportSettings))),
    group_ready=each_ready_file_alone,
    sql_folders=(POINTS_SQL,),
)


@pytest.fixture
def cdp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CdpPaths:
    from dagster_project.instance import ensure_dagster_home

    paths = CdpPaths(tmp_path / "cdp").ensure()
    monkeypatch.setenv("CDP_HOME", str(paths.home))
    monkeypatch.setenv("DAGSTER_HOME", str(paths.home / "dagster"))
    ensure_dagster_home(paths)
    return paths


def rows(paths: CdpPaths, sql: str) -> list[tuple]:
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def materialize(built, files: list[Path], settings, definitions: dg.Definitions | None = None):
    """One import run of ``built`` (an ImportDefinitions) on the on-disk instance."""
    from dagster_project.definitions import defs

    definitions = definitions or defs
    key = built.kind.partition_key(files, content_sha256(files))
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(built.partitions.name, [key])
    return definitions.resolve_job_def(built.kind.names.job).execute_in_process(
        partition_key=key,
        instance=instance,
        run_config=built.run_config([str(f) for f in files], settings),
        raise_on_error=False,
    )


def test_a_kind_declared_only_in_a_test_imports_end_to_end_through_dagster(cdp: CdpPaths, tmp_path: Path) -> None:
    """Issue 11 item 1: a kind is a declaration, its SQL and its contract, no new plumbing: the
    points kind above gets its partitions, assets, job, sensor, run config and CLI-free run from
    the one factory, and imports with the engine's rules (failures with reasons, counts adding up,
    the tables it wrote materialized)."""
    from dagster_project.defs.shared.imports import import_definitions
    from dagster_project.defs.shared.resources import IMPORT_LOCK, ImportLockResource, WarehouseResource
    from dagster_project.defs.warehouse.definitions import table_specs

    members = tmp_path / "members.csv"
    members.write_text("手机号码,姓名,积分\n13800138000,张三,5\n13900139000,李四,\n", encoding="utf-8")
    assert import_customer_file(members, CustomerImportSettings(), cdp)["created"] == 2
    first, second = (row[0] for row in rows(cdp, "SELECT customer_id FROM customers ORDER BY mobile"))
    built = import_definitions(POINTS)
    definitions = dg.Definitions(
        assets=[*built.assets, *table_specs((POINTS,))],
        jobs=[built.job],
        sensors=[built.sensor],
        resources={
            "warehouse": WarehouseResource(cdp_home=str(cdp.home)),
            IMPORT_LOCK: ImportLockResource(cdp_home=str(cdp.home)),
        },
    )
    dg.Definitions.validate_loadable(definitions)
    points = tmp_path / "points_2024-06-01.csv"
    points.write_text(f"客户ID,积分\n{first.lower()},10\n{second},abc\nNOBODY,3\n,\n{second},7\n", encoding="utf-8")
    result = materialize(built, [points], PointsImportSettings(tags=("points",)), definitions)
    assert result.success
    assert rows(cdp, "SELECT customer_id, points FROM customers ORDER BY mobile") == [(first, 15), (second, 7)]
    [(kind, scanned, skipped, updated, failed)] = rows(
        cdp, "SELECT kind, scanned, skipped, updated, failed FROM import_batches WHERE kind = 'points'"
    )
    assert (kind, scanned, skipped, updated, failed) == ("points", 5, 1, 2, 2)
    assert scanned == skipped + updated + failed
    assert rows(cdp, "SELECT row_number, reason_code FROM import_failures ORDER BY 1") == [
        (3, "invalid_number"),  # row numbers are the file's lines: the header is line 1
        (4, "unknown_customer_id"),
    ]
    assert rows(cdp, "SELECT count(*) FROM customer_tags JOIN tags USING (tag_id) WHERE name = 'points'") == [(2,)]
    assert rows(cdp, "SELECT count(*) FROM points_import_batches") == [(1,)]
    instance = dg.DagsterInstance.get()
    customers = instance.get_latest_materialization_event(dg.AssetKey("customers"))
    assert customers.run_id == result.run_id
    assert customers.asset_materialization.metadata["dagster/row_count"].value == 2
    batch = instance.get_latest_materialization_event(dg.AssetKey("points_import_batches"))
    assert batch.run_id == result.run_id and batch.dagster_event.partition == built.kind.partition_key(
        [points], content_sha256([points])
    )
    assert not list(cdp.work.glob("*.staging"))  # the scratch went with the commit


@pytest.mark.parametrize("kind", [*KINDS, POINTS], ids=lambda kind: kind.name)
def test_the_tables_a_kind_declares_are_the_tables_its_sql_writes(kind: ImportKind) -> None:
    """Issue 11 item 3: the tables of a kind's declaration (its Dagster table assets) equal the
    write targets (INSERT, UPDATE, DELETE, CREATE) sqlglot reads out of its write steps' SQL and
    the steps every batch shares, over every settings combination."""
    from cdp_pipeline.batch_writes import shared_steps
    from cdp_pipeline.warehouse import step_tables

    written = set()
    for plan in possible_write_plans(kind):
        for step in [*plan.steps, *shared_steps(plan.tag_events), "import_batches"]:
            written |= step_tables(step, kind.sql_folders)[1]
    assert written == set(kind.tables)
    assert set().union(*(plan_tables(plan, kind.sql_folders) for plan in possible_write_plans(kind))) == written


def test_the_quick_write_targets_are_the_ones_sqlglot_reads_in_every_sql_file() -> None:
    """Issue 11 item 3: an import finds the tables its steps write with a pattern (no sqlglot at
    run time); for every SQL file, the kinds' own included, it finds what sqlglot's parse finds."""
    from cdp_pipeline.resources import sql_files
    from cdp_pipeline.warehouse import step_tables, step_writes

    steps = [(stem, ()) for stem in sql_files()] + [(p.stem, (POINTS_SQL,)) for p in POINTS_SQL.glob("*.sql")]
    for stem, folders in steps:
        assert step_writes(stem, folders) == step_tables(stem, folders)[1], stem


def test_the_dagster_table_assets_are_the_tables_the_kinds_write(defs: dg.Definitions) -> None:
    """Issue 11 item 3: one asset per written table, unpartitioned, described by its schema.sql
    comment, with kinds, owners and a group; each downstream of the kinds writing it."""
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    tables = {table for kind in KINDS for table in kind.tables}
    for table in tables:
        spec = specs[table]
        assert spec.partitions_def is None
        assert spec.description and spec.kinds >= {"duckdb"} and spec.owners and spec.group_name
        writers = {k.names.validated_asset for k in KINDS if table in k.tables}
        assert {dep.asset_key.to_user_string() for dep in spec.deps} == writers
    descriptions = [specs[t].description for t in tables]
    assert len(set(descriptions)) == len(descriptions)  # no two tables share a description


def test_a_tmall_import_that_creates_customers_materializes_customers_with_its_row_count(
    cdp: CdpPaths, tmp_path: Path
) -> None:
    """Issue 11 item 3: a Tmall run writes customers (its buyers) and events: it materializes
    customers with dagster/row_count equal to the table's count after the run (before, the UI
    showed the count of the last customer-file import), and only the tables it wrote."""
    from dagster_project.defs.imports.definitions import IMPORTS

    members = tmp_path / "members.csv"
    members.write_text("手机号码,姓名\n13800138000,张三\n", encoding="utf-8")
    import_customer_file(members, CustomerImportSettings(), cdp)
    orders, items = write_tmall_pair(tmp_path / "tmall", random_orders(6, seed=3, statuses=[SUCCESS]))
    result = materialize(IMPORTS["tmall"], [orders, items], TMALL.settings())
    assert result.success
    created = rows(cdp, "SELECT count(*) FROM customers WHERE created_batch_id IN (SELECT batch_id FROM orders)")
    assert created[0][0] > 0
    written = {
        e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    assert written["customers"]["dagster/row_count"].value == rows(cdp, "SELECT count(*) FROM customers")[0][0]
    for table in ("orders", "order_items", "customer_events", "import_batches", "customer_profiles"):
        assert written[table]["dagster/row_count"].value == rows(cdp, f"SELECT count(*) FROM {table}")[0][0]
        columns = [c.name for c in written[table]["dagster/column_schema"].schema.columns]
        assert columns == [r[0] for r in rows(cdp, f"SELECT column_name FROM (DESCRIBE {table})")]
        assert written[table]["batch_id"].value == written["tmall_import_batches"]["batch_id"].value
    assert "customer_identities" not in written  # a Tmall batch does not write it
    preview = written["customers"]["preview"].value
    # the buyers' mobiles, masked (a bounded 11-digit run: batch ids and times hold longer ones)
    assert "****" in preview and not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", preview)


@pytest.mark.parametrize(
    ("name", "expected_stem"),
    [
        ("user_2024-05-01.csv", "user_2024-05-01"),
        ("会员名单 2024年5月.xlsx", "会员名单_2024年5月"),
        ("ExportOrderList201709010000.csv", "ExportOrderList201709010000"),
        ("13812345678的客户.csv", "138_5678的客户"),  # a mobile in a name is masked, as everything shown
        ("a,b[c]|d....e.csv", "a_b_c_d_e"),  # characters Dagster refuses in a key, and "..."
        ("ｕｓｅｒ\u200b名单.csv", "user名单"),  # NFKC, invisible characters out
        ("x" * 80 + ".csv", "x" * 40),
        ("....csv", "file"),
    ],
)
def test_partition_keys_name_the_file_and_end_with_its_content_hash(name: str, expected_stem: str) -> None:
    """Issue 11 item 3: a partition key is a readable stem plus 12 digits of the content hash:
    unique per content, stable per (name, bytes), accepted by Dagster."""
    sha = "0123456789abcdef" * 4
    key = file_partition_key(name, sha)
    assert key == f"{expected_stem}-0123456789ab"
    assert key == file_partition_key(name, sha)
    assert file_partition_key(name, "f" * 64) != key
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("files", [key])
    assert instance.get_dynamic_partitions("files") == [key]


def test_a_rejected_file_fails_its_run_with_a_failure_whose_description_is_the_reason(
    cdp: CdpPaths, tmp_path: Path
) -> None:
    """Issue 11 item 3: the run of a file rejected whole fails with a dg.Failure whose description
    is the one-line reason (file and reason), not a stack trace; nothing is staged or written."""
    from dagster_project.defs.imports.definitions import IMPORTS

    source = tmp_path / "no_key.csv"
    source.write_text("姓名,备注\n张三,x\n", encoding="utf-8")
    result = materialize(IMPORTS["customers"], [source], CustomerImportSettings())
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "customer_staging_rows"
    data = failure.step_failure_data
    assert data.user_failure_data is not None
    description = data.user_failure_data.description
    assert description.startswith("no_key.csv: ") and "no key column" in description
    assert "\n" not in description and "Traceback" not in description
    assert data.user_failure_data.metadata["file"].value == "no_key.csv"
    assert not list(cdp.work.glob("*.staging"))


STAGE_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from cdp_pipeline.customer_import import CUSTOMERS
    from cdp_pipeline.engine import stage_import, validate_import
    from cdp_pipeline.settings import CdpPaths, CustomerImportSettings

    home, source, barrier, me = map(Path, sys.argv[1:5])
    paths = CdpPaths(home)
    (barrier / me.name).touch()
    while len(list(barrier.iterdir())) < 2:
        time.sleep(0.01)
    started = time.time()
    context = stage_import(CUSTOMERS, [source], CustomerImportSettings(), paths)
    validate_import(CUSTOMERS, context.key, paths)
    print(json.dumps({"key": context.key, "started": started, "ended": time.time()}))
    """
)


def test_two_files_stage_at_the_same_time_while_a_third_batch_writes(cdp: CdpPaths, tmp_path: Path) -> None:
    """Issue 11 item 2: staging and validation never open the warehouse: two files stage and
    validate in two processes at once while a third batch holds the warehouse in an open write
    transaction; then each writes its batch, one after the other."""
    files = []
    for n in range(2):
        lines = [f"1{n + 3}{i:09d},客户{i}" for i in range(40_000)]
        files.append(tmp_path / f"file_{n}.csv")
        files[-1].write_text("手机号码,姓名\n" + "\n".join(lines) + "\n", encoding="utf-8")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    with connect(cdp.warehouse) as writer:
        writer.execute("BEGIN TRANSACTION")
        writer.execute("INSERT INTO tags VALUES (999, 'being written', 'static', now())")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        stagers = [
            subprocess.Popen(
                [sys.executable, "-c", STAGE_SCRIPT, str(cdp.home), str(f), str(barrier), f"p{n}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for n, f in enumerate(files)
        ]
        outputs = [p.communicate(timeout=300) for p in stagers]
        assert [p.returncode for p in stagers] == [0, 0], [err[-2000:] for _, err in outputs]
        spans = [json.loads(out) for out, _ in outputs]
        assert spans[0]["started"] < spans[1]["ended"] and spans[1]["started"] < spans[0]["ended"]  # overlapped
        writer.execute("COMMIT")
    for span in spans:
        assert write_import(CUSTOMERS, span["key"], cdp).summary["created"] == 40_000
    assert rows(cdp, "SELECT count(*) FROM customers") == [(80_000,)]


def test_the_sensor_says_why_each_file_waits(cdp: CdpPaths, tmp_path: Path) -> None:
    """Issue 11 item 3: a tick that requests nothing says, per file, why it waits: still being
    written (settling), no partner yet (a lone Tmall report), or rejected before (its run failed
    and Dagster would skip the same run key without a word)."""
    from dagster_project.definitions import defs
    from dagster_project.defs.imports.definitions import IMPORTS
    from dagster_project.defs.shared.resources import WarehouseResource

    def tick(kind: str, cursor: str | None = None):
        context = dg.build_sensor_context(
            instance=dg.DagsterInstance.get(),
            cursor=cursor,
            definitions=defs,
            resources={"warehouse": WarehouseResource(cdp_home=str(cdp.home))},
        )
        return IMPORTS[kind].sensor(context)

    inbox = cdp.inbox("customers")
    (inbox / "no_key.csv").write_text("姓名,备注\n张三,x\n", encoding="utf-8")
    first = tick("customers")
    assert "no_key.csv waits: it is still being written" in first.skip_reason.skip_message
    second = tick("customers", first.cursor)
    [request] = second.run_requests
    dg.DagsterInstance.get().add_dynamic_partitions("customer_files", [request.partition_key])
    run = defs.resolve_job_def("customer_import").execute_in_process(
        partition_key=request.partition_key,
        run_config=request.run_config,
        instance=dg.DagsterInstance.get(),
        tags={**request.tags, "dagster/run_key": request.run_key},
        raise_on_error=False,
    )
    assert not run.success
    third = tick("customers", second.cursor)
    assert third.run_requests == []
    assert "no_key.csv waits: its import failed before" in third.skip_reason.skip_message

    orders, _ = write_tmall_pair(tmp_path / "pair", random_orders(2, seed=1, statuses=[SUCCESS]))
    (cdp.inbox("tmall") / orders.name).write_bytes(orders.read_bytes())
    looked = tick("tmall")
    assert "still being written" in looked.skip_reason.skip_message
    time.sleep(0.01)
    alone = tick("tmall", looked.cursor)
    assert f"{orders.name} waits: no partner yet" in alone.skip_reason.skip_message


def test_the_accepted_statuses_are_declared_once_and_named_in_their_reason(macros) -> None:
    """Issue 11: the accepted Tmall statuses live in one macro (sql/macros.sql) that matching and
    the purchase profiles both call; the words of status_not_accepted name exactly those."""
    import yaml

    from cdp_pipeline.resources import contract_text, sql_files

    text = sql_files()["macros"].read_text(encoding="utf-8")
    statuses = re.search(r"accepted_order_status\(status\) AS\s+status IN \(([^)]*)\)", text)
    accepted = re.findall(r"'([^']+)'", statuses.group(1))
    assert [macros("accepted_order_status", status) for status in accepted] == [True] * 4
    assert macros("accepted_order_status", "交易关闭") is False
    for stem, path in sql_files().items():
        assert "交易成功" not in path.read_text(encoding="utf-8") or stem == "macros", path
    reasons = yaml.safe_load(contract_text("reason_codes.yaml"))
    entry = next(e for e in reasons if e["code"] == "status_not_accepted")
    assert re.findall(r"仅支持(.*) \(", entry["reason"])[0].split("、") == accepted


def test_no_connection_draws_duckdbs_progress_bar(cdp: CdpPaths, tmp_path: Path) -> None:
    """Issue 11: DuckDB draws a progress bar on stdout for a query over ~2 s (a 1M-row import's),
    which broke the JSON of `cdp import --json` (seen in the benchmark): every connection the
    pipeline opens (warehouse, read-only, query-only, scratch) has it off."""
    from cdp_pipeline.engine import open_scratch
    from cdp_pipeline.warehouse import connect_query_only, connect_read_only

    setting = "SELECT current_setting('enable_progress_bar')"
    with connect(cdp.warehouse) as con:
        assert con.execute(setting).fetchone() == (False,)
    for opened in (connect_read_only(cdp.warehouse), connect_query_only(cdp.warehouse)):
        with opened as con:
            assert con.execute(setting).fetchone() == (False,)
    with open_scratch(cdp, "customers", "k-000000000000", fresh=True) as con:
        assert con.execute(setting).fetchone() == (False,)


def test_a_failed_validation_leaves_the_scratch_as_staging_left_it(cdp: CdpPaths, tmp_path: Path) -> None:
    """Issue 12 item: the validation step is one transaction on the scratch file (a commit per
    statement synced its WAL each time), so a contract that fails part way commits nothing: the
    scratch is as staging left it, and the step runs again."""
    import dataclasses

    from cdp_pipeline.engine import stage_import, staged_scratch, validate_import

    source = tmp_path / "one.csv"
    source.write_text("手机号码,姓名\n13800138000,张三\n", encoding="utf-8")
    context = stage_import(CUSTOMERS, [source], CustomerImportSettings(), cdp)

    def scratch_tables() -> set[str]:
        con = duckdb.connect(str(staged_scratch(cdp, CUSTOMERS.name, context.key)), read_only=True)
        try:
            return {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        finally:
            con.close()

    staged = scratch_tables()

    def failing_contract(batch):
        raise RuntimeError("the contract failed part way")

    with pytest.raises(RuntimeError, match="part way"):
        validate_import(dataclasses.replace(CUSTOMERS, contract=failing_contract), context.key, cdp)
    assert scratch_tables() == staged  # no contract_failures table committed before the contract ran
    validate_import(CUSTOMERS, context.key, cdp)
    assert write_import(CUSTOMERS, context.key, cdp).summary["created"] == 1


def test_a_dry_run_spills_under_cdp_home_work_and_leaves_nothing(paths, make_csv, dry_run, monkeypatch) -> None:
    """Issue 12 item: a dry run's in-memory database has the import's memory limit and spills
    under CDP_HOME/work (DuckDB's default for an in-memory database is ./.tmp of whatever folder
    the command was started in); the spill folder is removed after the run."""
    from cdp_pipeline import engine

    seen = []
    original = engine.match_rows

    def spying(con, kind):
        seen.append(con.execute("SELECT current_setting('temp_directory'), current_setting('memory_limit')").fetchone())
        return original(con, kind)

    monkeypatch.setattr(engine, "match_rows", spying)
    plan = dry_run(make_csv([["手机号码"], ["13800138000"]]))
    assert plan["would_create"] == 1
    ((spill, limit),) = seen
    assert Path(spill).parent == paths.work and Path(spill).name.startswith("dry-run-")
    assert limit != "" and not Path(spill).exists()
    assert not any(paths.work.iterdir())
