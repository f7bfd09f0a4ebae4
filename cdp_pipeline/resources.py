"""The files the package ships and reads: the SQL (package ``sql``, one folder per layer) and the
contracts' YAML (package ``data_contracts``). They are read through ``importlib.resources``, so an
installed wheel, an editable install and a checkout on ``PYTHONPATH`` all find them where the
package itself was imported from, whatever the working directory."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable

SQL_PACKAGE = "sql"
CONTRACTS_PACKAGE = "data_contracts"


def _sql_files_under(folder: Traversable) -> list[Traversable]:
    found = []
    for entry in folder.iterdir():
        if entry.is_dir():
            found.extend(_sql_files_under(entry))
        elif entry.name.endswith(".sql"):
            found.append(entry)
    return found


@cache
def sql_files() -> dict[str, Traversable]:
    """Every SQL file by its stem, wherever it sits under ``sql/`` (``sql/<layer>/<stem>.sql``):
    callers name a file, not its layer. Two files with one stem are refused, naming both."""
    by_stem: dict[str, Traversable] = {}
    for file in sorted(_sql_files_under(files(SQL_PACKAGE)), key=str):
        stem = file.name.removesuffix(".sql")
        if stem in by_stem:
            raise RuntimeError(f"two SQL files are named {file.name}: {by_stem[stem]} and {file}")
        by_stem[stem] = file
    return by_stem


def sql_file(name: str) -> Traversable:
    """The SQL file whose stem is ``name``."""
    try:
        return sql_files()[name]
    except KeyError:
        raise KeyError(f"no SQL file {name}.sql under sql/") from None


def contract_text(name: str) -> str:
    """The text of ``data_contracts/<name>`` (the field catalogue, reason codes, Tmall templates)."""
    return files(CONTRACTS_PACKAGE).joinpath(name).read_text(encoding="utf-8")
