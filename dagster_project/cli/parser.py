"""``cdp``'s arguments: every command and flag, the import settings' flags derived from each
kind's settings model. Light on purpose: ``cdp --help`` loads this module and no other of the CLI's
heavy dependencies (DuckDB, pandas, Dagster)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cdp_pipeline.settings import CustomerImportSettings, S, TmallImportSettings, setting_fields, settings_from_values

SQL_DEFAULT_LIMIT = 100

# The settings model of each kind's import flags: the ``settings`` of its ImportKind (a test holds
# them equal), named here rather than read from cdp_pipeline.kinds, because the kinds load DuckDB
# and pandas and building the parser must not.
KIND_SETTINGS: dict[str, type] = {"customers": CustomerImportSettings, "tmall": TmallImportSettings}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp", description="Customer data import pipeline (Dagster + DuckDB).")
    commands = parser.add_subparsers(dest="command", required=True)

    importing = commands.add_parser("import", help="import a file")
    kinds = importing.add_subparsers(dest="kind", required=True)
    customers = kinds.add_parser("customers", help="import a customer file (CSV or XLSX)")
    customers.add_argument("file", type=Path)
    add_setting_flags(customers, KIND_SETTINGS["customers"])
    customers.add_argument("--dry-run", action="store_true", help="check the whole file and write nothing")
    customers.add_argument("--force", action="store_true", help="import again even if these bytes were imported")
    customers.add_argument("--json", action="store_true", help="print one JSON object")

    tmall = kinds.add_parser("tmall", help="import a Tmall export: the order report and its item report")
    tmall.add_argument("--orders", type=Path, required=True, help="ExportOrderList*.csv")
    tmall.add_argument("--items", type=Path, required=True, help="ExportOrderDetailList*.csv")
    _add_tmall_options(tmall)

    backfill = commands.add_parser("backfill", help="import history in bulk")
    backfill_kinds = backfill.add_subparsers(dest="kind", required=True)
    tmall_backfill = backfill_kinds.add_parser("tmall", help="every export pair in a folder, oldest first")
    tmall_backfill.add_argument("folder", type=Path)
    _add_tmall_options(tmall_backfill)

    overview = commands.add_parser("overview", help="value, activity and spending-power distributions")
    overview.add_argument("--json", action="store_true")

    batches = commands.add_parser("batches", help="import history")
    batches.add_argument("--limit", type=int, default=50)
    batches.add_argument("--json", action="store_true")

    failures = commands.add_parser("failures", help="the failed rows of a batch")
    failures.add_argument("batch_id")
    failures.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write to FILE.csv (UTF-8 with BOM) or FILE.xlsx, outside CDP_HOME; - for standard output",
    )
    failures.add_argument("--overwrite", action="store_true", help="replace FILE if it exists (a regular file only)")

    check = commands.add_parser(
        "check", help="run every data-quality check on the warehouse (exit 4 when a blocking one fails)"
    )
    check.add_argument("--json", action="store_true", help="print the checks as JSON records")

    sql = commands.add_parser("sql", help="run a read-only query on the warehouse and print the result")
    sql.add_argument("query", help='one SELECT (or SHOW, DESCRIBE, EXPLAIN, PRAGMA), e.g. "SHOW TABLES"')
    sql.add_argument("--json", action="store_true", help="print the rows as JSON records")
    sql.add_argument(
        "--limit",
        type=_row_limit,
        default=SQL_DEFAULT_LIMIT,
        metavar="N",
        help=f"print at most N rows (default {SQL_DEFAULT_LIMIT}; 0 prints all)",
    )
    sql.add_argument(
        "--unmasked", action="store_true", help="print mobiles, emails and openids as stored (default: masked)"
    )
    return parser


def _row_limit(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (all rows) or more")
    return value


def add_setting_flags(parser: argparse.ArgumentParser, model: type) -> None:
    """One flag per field of the settings ``model``: its name, default, choices and help are the model's."""
    for setting in setting_fields(model):
        if setting.shape == "tags":
            parser.add_argument(
                setting.flag,
                action="append",
                default=list(setting.default),
                dest=setting.name,
                metavar=setting.metavar,
                help=setting.help,
            )
        elif setting.shape == "choice":
            parser.add_argument(
                setting.flag,
                choices=list(setting.choices),
                default=setting.default,
                dest=setting.name,
                metavar=setting.metavar,
                help=setting.help,
            )
        else:
            parser.add_argument(
                setting.flag, default=setting.default, dest=setting.name, metavar=setting.metavar, help=setting.help
            )


def settings_from_args(model: type[S], args: argparse.Namespace) -> S:
    """The settings object of ``model`` from the flags ``add_setting_flags`` added."""
    return settings_from_values(model, {setting.name: getattr(args, setting.name) for setting in setting_fields(model)})


def _add_tmall_options(parser: argparse.ArgumentParser) -> None:
    """What ``import tmall`` and ``backfill tmall`` share: the settings, --force and --json."""
    add_setting_flags(parser, KIND_SETTINGS["tmall"])
    parser.add_argument("--force", action="store_true", help="import again even if this pair was imported")
    parser.add_argument("--json", action="store_true", help="print JSON")
