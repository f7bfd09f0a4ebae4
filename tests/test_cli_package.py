"""The shape of the ``cdp`` package: its import flags follow the kinds, ``cdp --help`` loads
nothing heavy, and its modules import each other without a cycle."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cdp_pipeline.kinds import KINDS
from cdp_pipeline.settings import setting_fields
from dagster_project.cli.parser import KIND_SETTINGS, build_parser, settings_from_args

CLI_PACKAGE = Path(__file__).resolve().parent.parent / "dagster_project" / "cli"
HEAVY_MODULES = ("dagster", "duckdb", "pandas", "pyarrow", "tqdm", "cdp_pipeline.engine", "cdp_pipeline.kinds")


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_each_kinds_import_command_takes_its_inputs_and_its_settings_models_flags(kind, capsys) -> None:
    """Issue 11 item 6: ``cdp import KIND`` has an argument per input the kind declares (the runner
    reads the files by those names) and a flag per field of the kind's own settings model, whose
    defaults give the model's defaults."""
    assert KIND_SETTINGS[kind.name] is kind.settings
    # one input is the positional FILE; a pair is named by flags (--orders, --items)
    given = (
        ["in.csv"] if len(kind.inputs) == 1 else [part for name in kind.inputs for part in (f"--{name}", f"{name}.csv")]
    )
    args = build_parser().parse_args(["import", kind.name, *given])
    assert [getattr(args, name) for name in kind.inputs] == [Path(p) for p in given if not p.startswith("--")]
    assert settings_from_args(kind.settings, args) == kind.settings()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["import", kind.name, "--help"])
    usage = capsys.readouterr().out
    for setting in setting_fields(kind.settings):
        assert re.search(rf"\[{re.escape(setting.flag)}[ \]]", usage), f"cdp import {kind.name}: no {setting.flag}"


def test_cdp_help_loads_no_heavy_module() -> None:
    """Issue 11 item 6: ``cdp --help`` and building the parser import the CLI package but none of
    DuckDB, pandas, pyarrow, tqdm, Dagster or the import kinds: those load inside the commands."""
    probe = (
        "import contextlib, io, json, sys\n"
        "from dagster_project.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        f"heavy = {HEAVY_MODULES!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in heavy))))\n"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    )
    assert loaded == []


def _cli_imports(path: Path) -> set[str]:
    """The modules of the CLI package (``__init__`` for the package) that ``path`` imports, at
    its top or inside a function."""
    submodules = {p.stem for p in CLI_PACKAGE.glob("*.py")}
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "dagster_project.cli":
            imported |= {alias.name if alias.name in submodules else "__init__" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dagster_project.cli."):
            imported.add(node.module.removeprefix("dagster_project.cli."))
        elif isinstance(node, ast.Import):
            imported |= {
                a.name.removeprefix("dagster_project.cli.")
                for a in node.names
                if a.name.startswith("dagster_project.cli.")
            }
    return imported - {path.stem}


def test_the_cli_modules_import_each_other_without_a_cycle() -> None:
    """Issue 11 item 6: the CLI package's modules form no import cycle (lazy imports included),
    and the parser, the rendering and the exit codes import none of the modules that run things."""
    graph = {path.stem: _cli_imports(path) for path in CLI_PACKAGE.glob("*.py")}
    assert set(graph) >= {"__init__", "parser", "runner", "rendering", "queries"}

    def cycle_from(module: str, trail: tuple[str, ...]) -> tuple[str, ...] | None:
        if module in trail:
            return (*trail, module)
        return next((c for m in sorted(graph[module]) if (c := cycle_from(m, (*trail, module)))), None)

    assert [cycle for module in graph if (cycle := cycle_from(module, ()))] == []
    for leaf in ("parser", "rendering", "exit_codes"):
        assert graph[leaf] & {"__init__", "runner", "queries"} == set(), leaf
