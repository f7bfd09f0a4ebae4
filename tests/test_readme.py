"""Issue 11 item 7: the README reads as a guide, and its generated sections (the field catalogue's
columns, the "How it works" diagram) are what the code declares today."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from cdp_pipeline.customer_import import CUSTOMERS
from cdp_pipeline.kinds import KINDS
from scripts import readme_sections

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# bench/run.py writes this part of the README from a benchmark run, paths as they were then.
RESULTS = re.compile(r"<!-- results:begin -->.*?<!-- results:end -->", re.DOTALL)


def readme_text() -> str:
    return README.read_text(encoding="utf-8")


def test_generated_sections_are_up_to_date():
    """Issue 11 item 7: every generated section of README.md is what scripts/readme_sections.py
    builds from the catalogue and the kinds now (run the script when this fails)."""
    sections = {name: build() for name, build in readme_sections.SECTIONS.items()}
    assert readme_sections.stale_sections(readme_text(), sections) == []


def test_check_fails_on_a_stale_section_and_the_script_repairs_it(tmp_path):
    """Issue 11 item 7: `scripts/readme_sections.py --check` exits 1 when a generated section
    was edited by hand, and a run without --check writes it back."""
    copy = tmp_path / "README.md"
    text = readme_text()
    copy.write_text(text.replace("| `mobile` | attribute | mobile |", "| `mobile` | attribute | phone |", 1))
    assert copy.read_text(encoding="utf-8") != text
    assert readme_sections.main(["--check", "--readme", str(copy)]) == 1
    assert readme_sections.main(["--readme", str(copy)]) == 0
    assert copy.read_text(encoding="utf-8") == text
    assert readme_sections.main(["--check", "--readme", str(copy)]) == 0


def test_diagram_follows_the_kind_declarations():
    """Issue 11 item 7: the diagram is built from the kinds: every kind's assets, match steps and
    tables appear in it, and a kind declared with one step fewer makes the README's diagram stale."""
    diagram = readme_sections.diagram_section()
    assert diagram.startswith("```mermaid\nflowchart") and diagram.count("```") == 2
    for kind in KINDS:
        for name in (kind.names.staging_asset, kind.names.validated_asset, kind.names.batches):
            assert name in diagram
        for step in kind.match_steps:
            assert f"{kind.name}_match_{step}[" in diagram
        for table in kind.tables:
            assert f'table_{table}[("{table}")]' in diagram
    assert "--> table_customers" in diagram
    fewer = dataclasses.replace(CUSTOMERS, match_steps=CUSTOMERS.match_steps[:-1])
    changed = readme_sections.diagram_section(tuple(fewer if kind is CUSTOMERS else kind for kind in KINDS))
    assert readme_sections.stale_sections(readme_text(), {"diagram": changed}) == ["diagram"]


def test_first_two_commands_are_make_demo_and_make_test():
    """Issue 11 item 7: the first two commands in the README's fenced blocks are `make demo` and
    `make test`, exactly (comments aside), before any other command."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", readme_text(), re.DOTALL | re.MULTILINE)
    commands = [
        line.split("  #")[0].strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[:2] == ["make demo", "make test"]


def test_paths_the_readme_names_exist():
    """Issue 11 item 7: every file of sql/, tests/, cdp_pipeline/ and data_contracts/ the README
    names exists where it says (sql/ is laid out by layer: sql/<layer>/<step>.sql)."""
    text = RESULTS.sub("", readme_text())
    named = set(re.findall(r"`((?:sql|tests|cdp_pipeline|data_contracts)/[^`:\s]*)", text))
    assert named
    missing = sorted(path for path in named if not any(ROOT.glob(path)))
    assert missing == []
