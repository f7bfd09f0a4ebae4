"""The DuckDB warehouse: connections, the contract schema and the SQL files in ``sql/``."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path

import duckdb

from cdp_pipeline.errors import environment_fault
from cdp_pipeline.owner_only import make_owner_folder, owner_only_umask
from cdp_pipeline.resources import sql_file
from data_contracts.over_merge_guard import over_merge_guard

LOCK_WAIT_SECONDS = 600.0


def quiet(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Every connection's first setting: DuckDB draws a progress bar on stdout for a long query,
    which broke the JSON `cdp --json` prints there (and no one reads it in a Dagster run)."""
    con.execute("SET enable_progress_bar = false")
    return con


# The most DuckDB's buffer manager may hold per database instance (its default is 80% of RAM,
# and a 10M-row import grew to 6.5 GiB): beyond it, joins, aggregates, sorts and a batch's temp
# tables spill to the database's spill folder (<database>.tmp, owner-only). One instance is open
# at a time in an import step (the write step attaches the scratch file to the warehouse's), so a
# process stays near this plus Python's own ~0.5 GiB. Not lower: sql/matching/customer_matches.sql
# runs out of memory below ~130 MB per 1M file rows (100 MB failed at 1M rows, 1 GB at 10M); a 1M
# import needs ~1.2 GiB in all, so the limit costs it nothing.
MEMORY_LIMIT = "2.5GB"


def limit_memory(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Bound what a connection's database instance holds in memory (``MEMORY_LIMIT``)."""
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    return con


@cache
def sql_text(name: str, folders: tuple[Path, ...] = ()) -> str:
    """``<name>.sql`` from the first of ``folders`` (a kind's own SQL) that has it, else the package's sql/."""
    for folder in folders:
        if (folder / f"{name}.sql").is_file():
            return (folder / f"{name}.sql").read_text(encoding="utf-8")
    return sql_file(name).read_text(encoding="utf-8")


def quote_ident(name: str) -> str:
    """A SQL identifier, quoted: the only way names from files or config reach SQL text."""
    return '"' + name.replace('"', '""') + '"'


def render_sql(name: str, folders: tuple[Path, ...] = (), **parts: str) -> str:
    """``sql/<name>.sql`` with its ``{placeholders}`` (identifiers and projections we build) filled."""
    template = sql_text(name, tuple(folders))
    missing = set(re.findall(r"\{(staging|batch|outcomes|[a-z_]+_cells?)\}", template)) - parts.keys()
    if missing:
        raise KeyError(f"sql/{name}.sql needs {sorted(missing)}")
    # One pass: a filled part is never searched again, so text such as {staging} inside a quoted
    # name stays text.
    return re.sub(r"\{([a-z_]+)\}", lambda found: parts.get(found.group(1), found.group(0)), template)


def run_sql(con: duckdb.DuckDBPyConnection, name: str, params: dict | None = None, **parts: str) -> None:
    con.execute(render_sql(name, **parts), params or {})


@cache
def macros_sql() -> str:
    """sql/warehouse/macros.sql with the lists it is given filled in: the empty markers and the
    placeholder values of data_contracts/over_merge_guard.yaml (declared there only)."""
    return render_sql("macros", **over_merge_guard().macro_parts())


@cache
def sql_fingerprint() -> str:
    """The SHA-256 of the schema and the macros as this code has them (the macros as rendered: a
    changed list in over_merge_guard.yaml applies them again, as a changed macro does)."""
    return hashlib.sha256((sql_text("schema") + macros_sql()).encode()).hexdigest()


def _applied_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    try:
        row = con.execute("SELECT max(fingerprint) FROM cdp_sql_version").fetchone()
    except duckdb.CatalogException:  # a new warehouse, or one from before the version table
        return None
    return row[0]


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Statements as one transaction: committed together, or rolled back on any error.

    Outside one, DuckDB commits every statement on its own, and a commit to a database file
    writes and syncs its WAL: a one-row file's staging (the 44 macros, the reason codes row by
    row) synced the scratch's WAL ~75 times. For small statements only: around a 1M-row
    staging's bulk statements one transaction was slower (0.9 s) and wrote more. Its statements
    may write one attached database besides temp (DuckDB's rule)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        # the error raised inside is the one to report, not a failed rollback (a connection
        # DuckDB invalidated has no transaction left to roll back)
        with suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    try:
        con.execute("COMMIT")
    except duckdb.Error as error:
        # the commit writes what the statements staged (and may checkpoint): a full disk or a
        # file-size limit strikes here now, and is no fault of the file being imported
        if fault := environment_fault(error):
            raise fault from None
        raise


def prepare_connection(con: duckdb.DuckDBPyConnection, create_schema: bool = True) -> duckdb.DuckDBPyConnection:
    """The contract tables and macros where the warehouse may be written (applied again only
    when their SQL text changed); the macros alone on a read-only or scratch connection (inside
    the caller's transaction, if it opened one: a scratch step's)."""
    if not create_schema:
        con.execute(macros_sql())
        return con
    if _applied_fingerprint(con) != sql_fingerprint():
        con.execute(sql_text("schema"))
        drop_old_keys(con)
        con.execute(macros_sql())
        con.execute(
            "DELETE FROM cdp_sql_version; INSERT INTO cdp_sql_version VALUES ($f, now())", {"f": sql_fingerprint()}
        )
    return con


# The tables schema.sql gave a PRIMARY KEY before issue 12 and no longer does (why: its header).
UNKEYED_TABLES = ("customers", "customer_identities", "customer_tags", "orders")


def _table_ddl(table: str) -> str:
    """The CREATE TABLE statement of ``table`` as schema.sql has it."""
    found = re.search(rf"^CREATE TABLE IF NOT EXISTS {table} \(.*?^\);", sql_text("schema"), re.MULTILINE | re.DOTALL)
    return found.group(0)


def drop_old_keys(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Recreate each of ``UNKEYED_TABLES`` that still has its old PRIMARY KEY (a warehouse made
    before issue 12) as schema.sql has it now, rows kept, in one transaction: DuckDB cannot drop a
    key in place. Runs where the schema is applied (once per changed SQL text) and finds nothing
    to do once done; returns the tables it recreated."""
    keyed = [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT table_name FROM duckdb_constraints() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND constraint_type = 'PRIMARY KEY' AND list_contains($t, table_name) "
            "ORDER BY table_name",
            {"t": list(UNKEYED_TABLES)},
        ).fetchall()
    ]
    if not keyed:
        return []
    with transaction(con):
        for table in keyed:
            fresh = f"cdp_unkeyed_{table}"
            con.execute(_table_ddl(table).replace(f"EXISTS {table} (", f"EXISTS {fresh} (", 1))
            columns = ", ".join(quote_ident(row[0]) for row in con.execute(f"DESCRIBE {fresh}").fetchall())
            con.execute(f"INSERT INTO {fresh} ({columns}) SELECT {columns} FROM {table}")
            con.execute(f"DROP TABLE {table}")
            con.execute(f"ALTER TABLE {fresh} RENAME TO {table}")
    return keyed


def _open_waiting(open_connection, lock_wait: float) -> duckdb.DuckDBPyConnection:
    """Open a connection, waiting (with backoff) while another process holds DuckDB's file lock."""
    deadline = time.monotonic() + lock_wait
    delay = 0.05
    while True:
        try:
            return open_connection()
        except (duckdb.IOException, duckdb.BinderException) as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


@contextmanager
def connect(path: Path, lock_wait: float = LOCK_WAIT_SECONDS) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse for writing, waiting while another process holds DuckDB's file lock.

    Dagster's pool keeps runs apart; this wait covers everything else (a CLI import beside a
    sensor run, a notebook left open), so concurrent imports queue instead of failing.
    DuckDB creates the warehouse, its WAL (again after every checkpoint) and its spill folder
    while the connection is open: owner-only, whatever the umask.
    """
    make_owner_folder(path.parent)
    with owner_only_umask():
        con = limit_memory(quiet(_open_waiting(lambda: duckdb.connect(str(path)), lock_wait)))
        try:
            yield prepare_connection(con)
        finally:
            con.close()


@contextmanager
def connect_read_only(
    path: Path, lock_wait: float = LOCK_WAIT_SECONDS, spill: Path | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory scratch database that reads the warehouse without writing to it (dry runs),
    with the import's memory limit. ``spill``: where it spills beyond that (DuckDB's default for
    an in-memory database is ./.tmp of whatever folder the command was started in)."""
    config = {"memory_limit": MEMORY_LIMIT, **({"temp_directory": str(spill)} if spill else {})}
    con = quiet(duckdb.connect(config=config))
    try:
        if path.exists():
            _open_waiting(lambda: con.execute("ATTACH $path AS warehouse (READ_ONLY)", {"path": str(path)}), lock_wait)
            con.execute("SET search_path = 'memory.main,warehouse.main'")
            prepare_connection(con, create_schema=False)
        else:
            prepare_connection(con)
        yield con
    finally:
        con.close()


@contextmanager
def connect_query_only(path: Path, lock_wait: float = LOCK_WAIT_SECONDS) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse itself, read-only for real (``cdp sql``): DuckDB refuses every write to it,
    no file outside it can be read or written (no COPY TO, read_csv, ATTACH, INSTALL) and the
    query cannot change that setting back."""
    config = {"enable_external_access": False}
    con = quiet(_open_waiting(lambda: duckdb.connect(str(path), read_only=True, config=config), lock_wait))
    con.execute("SET lock_configuration = true")
    try:
        yield con
    finally:
        con.close()


@contextmanager
def try_connect_query_only(path: Path) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """The warehouse read-only if it exists and no process is writing it right now, else None."""
    con = None
    if path.is_file():
        try:
            con = quiet(duckdb.connect(str(path), read_only=True, config={"enable_external_access": False}))
            con.execute("SELECT 1 FROM import_batches LIMIT 0")
        except (duckdb.IOException, duckdb.CatalogException) as error:
            # being written (its lock is held) or not yet a warehouse: nothing to look at now; any
            # other error (a damaged file) is raised here, before a whole file is staged for nothing
            if con is not None:
                con.close()
            if isinstance(error, duckdb.IOException) and "lock" not in str(error).lower():
                raise
            con = None
    try:
        yield con
    finally:
        if con is not None:
            con.close()


def table_descriptions() -> dict[str, str]:
    """Each warehouse table's description: the comment above its CREATE TABLE in schema.sql."""
    found = re.finditer(r"((?:^--[^\n]*\n)+)CREATE TABLE IF NOT EXISTS (\w+)", sql_text("schema"), re.MULTILINE)
    return {m.group(2): " ".join(line.removeprefix("--").strip() for line in m.group(1).splitlines()) for m in found}


@cache
def step_tables(name: str, folders: tuple[Path, ...] = ()) -> tuple[frozenset[str], frozenset[str]]:
    """The warehouse tables ``<name>.sql`` reads and writes (INSERT, UPDATE, DELETE, CREATE), read
    from its SQL with sqlglot: what the step declares by what it says. Staging and batch tables
    (``{staging}.x``, ``{batch}.x``, TEMP) are not the warehouse's and are left out. For tests and
    documentation: an import reads its targets with ``step_writes``, without sqlglot's 0.5 s."""
    import sqlglot
    from sqlglot import exp

    template = re.sub(r"\{(staging|batch)\}", r"__\1__.main", sql_text(name, folders))
    template = re.sub(r"\{[a-z_]+\}", "__placeholder__", template)
    reads, writes = set(), set()
    for statement in sqlglot.parse(template, read="duckdb"):
        if statement is None:
            continue
        targets = set()
        target = statement.this if isinstance(statement, exp.Insert | exp.Update | exp.Delete | exp.Create) else None
        if isinstance(target, exp.Schema):
            target = target.this
        if isinstance(target, exp.Table) and not (
            isinstance(statement, exp.Create) and statement.args.get("properties") and "TEMPORARY" in statement.sql()
        ):
            targets.add(target)
        named = {cte.alias for cte in statement.find_all(exp.CTE)}
        for table in statement.find_all(exp.Table):
            if table.catalog.startswith("__") or table.name.startswith("__") or table.catalog == "temp":
                continue
            if table.name in named and not table.db:
                continue
            (writes if table in targets else reads).add(table.name)
    return frozenset(reads - writes), frozenset(writes)


# A statement's target as every statement in sql/ begins (tests/test_engine.py holds this equal to
# step_tables for every SQL file): the warehouse tables a step writes, read in microseconds.
_WRITE_TARGET = re.compile(
    r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|CREATE\s+(?:OR\s+REPLACE\s+)?TABLE(?:\s+IF\s+NOT\s+EXISTS)?)"
    r"\s+([\w.{}]+)",
    re.IGNORECASE | re.MULTILINE,
)


@cache
def step_writes(name: str, folders: tuple[Path, ...] = ()) -> frozenset[str]:
    """The warehouse tables ``<name>.sql`` writes (its INSERT, UPDATE, DELETE and CREATE TABLE
    targets outside ``{staging}``, ``{batch}`` and temp)."""
    text = re.sub(r"--[^\n]*", "", sql_text(name, folders))
    targets = {m.group(1) for m in _WRITE_TARGET.finditer(text)}
    return frozenset(t for t in targets if "{" not in t and not t.lower().startswith("temp."))
