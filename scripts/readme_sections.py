"""Write the README's generated sections from what the code declares, so the guide cannot drift:

- ``catalogue``: the demo file's header row, how the field catalogue maps each of its columns,
  and every column the catalogue knows (data_contracts/field_catalogue.yaml);
- ``checks``: the data-quality checks, from data_contracts/expectation_suites.yaml (cdp_pipeline.quality):
  each check, its table, whether it blocks, and what it guards;
- ``diagram``: "How it works", one Mermaid diagram of kind → steps → tables, from the import
  kinds (cdp_pipeline.kinds): each kind's match steps, its write plan's steps and the steps every
  batch shares, each linked to the warehouse tables its SQL writes (cdp_pipeline.warehouse.step_tables).

Each section sits between ``<!-- generated:NAME:begin -->`` and ``<!-- generated:NAME:end -->``.
``python scripts/readme_sections.py`` rewrites them in place; ``--check`` changes nothing and
exits 1 naming the stale sections (tests/test_readme.py runs the check).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

# The demo's files are made by a script of this checkout, not by the installed package.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cdp_pipeline.batch_writes import shared_steps  # noqa: E402
from cdp_pipeline.catalogue import Catalogue, map_headers  # noqa: E402
from cdp_pipeline.engine import ImportKind, possible_write_plans  # noqa: E402
from cdp_pipeline.kinds import KINDS  # noqa: E402
from cdp_pipeline.quality import check_declarations  # noqa: E402
from cdp_pipeline.resources import contract_text  # noqa: E402
from cdp_pipeline.warehouse import step_tables  # noqa: E402
from scripts.make_demo_files import HEADER as DEMO_HEADER  # noqa: E402

README = ROOT / "README.md"
DEMO_FILE = "user_2024-05-01.csv"
# The step that records the batch: write_batch runs it after every other step.
BATCH_RECORD_STEP = "import_batches"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- generated:{name}:begin -->", f"<!-- generated:{name}:end -->"


def aliases_cell(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names) or "-"


def catalogue_section() -> str:
    """The demo header, what each of its columns becomes, and the catalogue's columns."""
    catalogue = yaml.safe_load(contract_text("field_catalogue.yaml"))
    mapping = map_headers(DEMO_HEADER, Catalogue.load(), Path(DEMO_FILE))
    becomes = {position: f"field `{name}`" for name, position in mapping.fields.items()}
    becomes |= {position: f"identity `{name}`" for name, position in mapping.identities.items()}
    refused = set(mapping.refused)
    lines = [
        f"The demo's first file, `{DEMO_FILE}` (written by `scripts/make_demo_files.py`), starts with this header:",
        "",
        "```csv",
        ",".join(DEMO_HEADER),
        "```",
        "",
        "| column | becomes |",
        "| --- | --- |",
    ]
    for position, header in enumerate(DEMO_HEADER):
        fate = becomes.get(position) or (
            "refused: a column DM Hub does not import (listed in `refused_columns`)"
            if header in refused
            else "unknown: reported in `unknown_columns`, not imported"
        )
        lines.append(f"| `{header}` | {fate} |")
    lines += [
        "",
        "The columns the field catalogue knows (`data_contracts/field_catalogue.yaml`; a header matches",
        "its field's name or any alias, compared in NFKC, case-insensitively, without white space, invisible",
        "characters or an import template's 必填/选填 marker). A fallback alias maps only in a file with no",
        "column its field's aliases name:",
        "",
        "| field | kind | type | aliases | fallback aliases |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, spec in catalogue["fields"].items():
        lines.append(
            f"| `{name}` | {spec['kind']} | {spec['type']} | {aliases_cell(spec.get('aliases', []))} "
            f"| {aliases_cell(spec.get('fallback_aliases', []))} |"
        )
    lines += [
        "",
        "| identity type | compared | aliases |",
        "| --- | --- | --- |",
    ]
    for name, spec in catalogue["identity_types"].items():
        compared = "exactly (case kept)" if spec.get("case_sensitive") else "case-insensitively"
        lines.append(f"| `{name}` | {compared} | {aliases_cell(spec.get('aliases', []))} |")
    lines += [
        "",
        f"Refused by name (DM Hub does not import them): {aliases_cell(catalogue['refused'])}.",
        "More identity types and custom attributes are declared in `$CDP_HOME/cdp.yaml`"
        " (see `cdp_pipeline/catalogue.py`).",
    ]
    return "\n".join(lines)


def write_steps(kind: ImportKind) -> list[str]:
    """The kind's own write steps, as its write plan names them for a batch of default settings."""
    return list(possible_write_plans(kind)[0].steps)


def table_id(table: str) -> str:
    return f"table_{table}"


def step_label(step: str, reads: frozenset[str]) -> str:
    return step + (f"<br/>reads {', '.join(sorted(reads))}" if reads else "")


def diagram_section(kinds: tuple[ImportKind, ...] = KINDS) -> str:
    """One Mermaid flowchart: each kind's Dagster assets and SQL steps, then the steps every batch
    shares, then the warehouse tables each step writes."""
    lines = ["```mermaid", "flowchart LR"]
    # Edges come after every node and subgraph: Mermaid takes a name first seen in an edge for a node.
    flow: list[str] = []
    writes: list[str] = []

    def steps_box(identifier: str, title: str, steps: list[str], folders: tuple[Path, ...]) -> None:
        lines.append(f'  subgraph {identifier}["{title}"]')
        for number, step in enumerate(steps, start=1):
            reads, written = step_tables(step, folders)
            lines.append(f'    {identifier}_{step}["{number}. {step_label(step, reads)}"]')
            writes.extend(f"  {identifier}_{step} --> {table_id(table)}" for table in sorted(written))
        lines.append("  end")

    for kind in kinds:
        names, prefix = kind.names, kind.name
        lines += [
            f'  {prefix}(["{kind.name}: {kind.title}<br/>partitions {names.partitions}"])',
            f'  {prefix}_source["{names.source_asset}<br/>the files, hashed"]',
            f'  {prefix}_staging["{names.staging_asset}<br/>staged in a scratch DuckDB file"]',
            f'  {prefix}_validated["{names.validated_asset}<br/>the pandera contract"]',
            f'  subgraph {prefix}_batch["{names.batches}: the warehouse\'s one writer"]',
        ]
        steps_box(f"{prefix}_match", "match: every row's outcome", list(kind.match_steps), kind.sql_folders)
        steps_box(f"{prefix}_write", "write, in one transaction", write_steps(kind), kind.sql_folders)
        lines.append("  end")
        flow += [
            f"  {prefix} --> {prefix}_source --> {prefix}_staging --> {prefix}_validated --> {prefix}_match",
            f"  {prefix}_match --> {prefix}_write --> every_batch",
        ]
    steps_box(
        "every_batch", "then, in the same transaction, every batch", [*shared_steps(True), BATCH_RECORD_STEP], ()
    )
    tables = dict.fromkeys(table for kind in kinds for table in kind.tables)
    lines += [f'  {table_id(table)}[("{table}")]' for table in tables]
    lines += [*flow, *writes, "```"]
    return "\n".join(lines)


def checks_section() -> str:
    """One row per declared check: its name, table, kind (blocking, error or warning) and guard."""
    lines = ["| check | table | when it fails | what it guards |", "| --- | --- | --- | --- |"]
    for check in check_declarations():
        verdict = "blocks" if check.blocking else ("warns" if check.severity == "warn" else "reports")
        lines.append(f"| `{check.name}` | `{check.asset}` | {verdict} | {check.guards} |")
    return "\n".join(lines)


SECTIONS: dict[str, Callable[[], str]] = {
    "catalogue": catalogue_section,
    "checks": checks_section,
    "diagram": diagram_section,
}


def with_sections(text: str, sections: dict[str, str]) -> str:
    """``text`` with each section's lines between its markers replaced (the markers must be there)."""
    for name, body in sections.items():
        begin, end = markers(name)
        if text.count(begin) != 1 or text.count(end) != 1:
            raise SystemExit(f"README.md needs exactly one {begin} and one {end}")
        head, rest = text.split(begin, 1)
        text = f"{head}{begin}\n{body}\n{end}{rest.split(end, 1)[1]}"
    return text


def stale_sections(text: str, sections: dict[str, str]) -> list[str]:
    return [name for name in sections if with_sections(text, {name: sections[name]}) != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a section is out of date")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    sections = {name: build() for name, build in SECTIONS.items()}
    stale = stale_sections(text, sections)
    if args.check:
        if stale:
            print(f"{args.readme}: out of date: {', '.join(stale)} (run scripts/readme_sections.py)", file=sys.stderr)
        return 1 if stale else 0
    if stale:
        args.readme.write_text(with_sections(text, sections), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
