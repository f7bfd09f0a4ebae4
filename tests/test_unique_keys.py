"""The keys customers, customer_identities and customer_tags no longer hold as PRIMARY KEYs
(issue 12: DuckDB's index per key cost most of the write): the import keeps them unique, and a
warehouse made with the keys loses them once, its rows kept."""

from __future__ import annotations

from pathlib import Path

import duckdb

from cdp_pipeline.settings import CdpPaths
from cdp_pipeline.warehouse import UNKEYED_TABLES, _table_ddl, connect, drop_old_keys

KEYS = {
    "customers": "customer_id",
    "customer_identities": "identity_type, identity_value",
    "customer_tags": "customer_id, tag_id",
    # not a key, a rule (seed 000 §2.2): one value per identity type and customer
    "customer_identities_per_type": "customer_id, identity_type",
}


def duplicated_keys(query) -> dict[str, int]:
    found = {}
    for name, key in KEYS.items():
        table = name.removesuffix("_per_type")
        sql = f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)"
        found[name] = query(sql)[0][0]
    return found


HEADER = ["客户ID", "手机号码", "邮箱", "微信openid", "客户标签"]


def test_overlapping_files_leave_every_key_unique(seed, make_csv, run_import, query):
    """Issue 12 item: files sharing mobiles, emails, openids, customer IDs and tags with the base,
    with each other and within themselves, imported one after another (one twice, forced), leave
    no key of customers, customer_identities or customer_tags twice."""
    seed(
        [{"customer_id": "C0000000001", "mobile": "13800000001"}, {"customer_id": "C0000000002", "email": "b@x.cn"}],
        [("C0000000001", "wechat_openid", "oBase1")],
    )
    first = make_csv(
        [
            HEADER,
            ["", "13800000001", "", "oNew1", "VIP|a"],  # base customer by mobile: its openid type is held
            ["", "", "b@x.cn", "oNew2", "VIP"],  # base customer by email: gains an openid
            ["", "13800000003", "", "oNew3", "b"],  # new
            ["", "13800000004", "", "oNew3", "b"],  # same openid as the row above: both fail
            ["", "13800000005", "c@x.cn", "", "VIP,vip"],
        ]
    )
    second = make_csv(
        [
            HEADER,
            ["", "13800000005", "", "oNew5", "VIP|c"],  # the first file's new customer, by mobile
            ["", "13900000006", "", "oNew2", "a"],  # by the openid the first file gave C0000000002
            ["C0000000001", "", "", "oNew2", ""],  # customer ID with another customer's openid
            ["", "13800000003", "d@x.cn", "", "b"],
            ["", "13900000007", "", "oBase1", "a"],  # by the base's openid
            ["", "13900000008", "", "oNew8", ""],
            ["", "13900000008", "", "oNew9", ""],  # same mobile twice in the file
        ]
    )
    summaries = [
        run_import(first, tags=["t1"]),
        run_import(second, tags=["t1", "T2"], group="g"),
        run_import(first, force=True, tags=["T1"], group="g"),
        run_import(second, force=True),
    ]
    assert [s["status"] for s in summaries] == ["succeeded"] * 4
    assert sum(s["created"] for s in summaries) == query("SELECT count(*) FROM customers")[0][0] - 2
    assert all(s["failed"] >= 2 for s in summaries)  # the in-file duplicates and conflicts
    assert duplicated_keys(query) == dict.fromkeys(KEYS, 0)
    assert query("SELECT count(*) FROM customer_tags")[0][0] > 10


def keyed_warehouse(path: Path) -> None:
    """A warehouse as the code before issue 12 made it: the three tables with their PRIMARY
    KEYs, a customer, an identity and a tag in them, and the fingerprint of older SQL text."""
    keys = {
        "customers": None,
        "customer_identities": "identity_type, identity_value",
        "customer_tags": "customer_id, tag_id",
    }
    with connect(path) as con:
        for table, key in keys.items():
            ddl = _table_ddl(table)
            if key is None:
                ddl = ddl.replace("customer_id VARCHAR NOT NULL,", "customer_id VARCHAR PRIMARY KEY,", 1)
            else:
                ddl = ddl.removesuffix("\n);") + f",\n    PRIMARY KEY ({key})\n);"
            con.execute(f"DROP TABLE {table}; {ddl}")
        con.execute(
            "INSERT INTO customers (customer_id, mobile, created_at, updated_at) "
            "VALUES ('C0000000001', '13800000001', now(), now())"
        )
        con.execute("INSERT INTO customer_identities VALUES ('C0000000001', 'wechat_openid', 'oOld', 'b0')")
        con.execute("INSERT INTO tags (tag_id, name) VALUES (1, 'VIP')")
        con.execute("INSERT INTO customer_tags VALUES ('C0000000001', 1, 'b0')")
        con.execute("UPDATE cdp_sql_version SET fingerprint = 'the sql/ text before issue 12'")


def primary_keys(path: Path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
                "AND list_contains($t, table_name) ORDER BY 1",
                {"t": list(UNKEYED_TABLES)},
            ).fetchall()
        ]


def test_a_keyed_warehouse_loses_its_keys_once_and_keeps_its_rows(tmp_path: Path, make_csv) -> None:
    """Issue 12 item: a warehouse made with the PRIMARY KEYs of customers, customer_identities
    and customer_tags is recreated without them the first time the new code opens it for
    writing, every row and column kept; the next opening finds nothing to do, and imports work."""
    from cdp_pipeline.customer_import import import_customer_file
    from cdp_pipeline.settings import CustomerImportSettings

    paths = CdpPaths(tmp_path / "cdp").ensure()
    keyed_warehouse(paths.warehouse)
    assert primary_keys(paths.warehouse) == ["customer_identities", "customer_tags", "customers"]
    with connect(paths.warehouse) as con:
        assert con.execute("SELECT customer_id, mobile FROM customers").fetchall() == [("C0000000001", "13800000001")]
        assert con.execute("SELECT * FROM customer_identities").fetchall() == [
            ("C0000000001", "wechat_openid", "oOld", "b0")
        ]
        assert con.execute("SELECT * FROM customer_tags").fetchall() == [("C0000000001", 1, "b0")]
        assert con.execute(
            "SELECT \"null\" FROM (DESCRIBE customers) WHERE column_name = 'customer_id'"
        ).fetchall() == [("NO",)]
        assert drop_old_keys(con) == []  # done: nothing left to recreate
    assert primary_keys(paths.warehouse) == []
    summary = import_customer_file(
        make_csv([["手机号码", "微信openid", "客户标签"], ["13800000001", "", "VIP"], ["13800000002", "oNew", "VIP"]]),
        CustomerImportSettings(),
        paths,
    )
    assert (summary["created"], summary["updated"]) == (1, 1)
