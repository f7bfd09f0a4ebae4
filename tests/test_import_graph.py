"""The project's own modules import each other without a cycle, counting imports inside
functions too: a function-level import only hides a cycle until the module is split or the
function runs at import time."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("cdp_pipeline", "dagster_project", "data_contracts")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))}


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The project modules an import statement in ``module`` loads: the deepest known module of
    each name (``from pkg import name`` is the submodule ``pkg.name`` when there is one)."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
            base = ".".join([*anchor, base] if base else anchor)
        targets = [f"{base}.{alias.name}" for alias in node.names]
    found = set()
    for target in targets:
        parts = target.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in known:
                found.add(".".join(parts[:end]))
                break
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _imported(node, module, path.name == "__init__.py", known)
        graph[module] = edges - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules in order, the first repeated at the end), or None."""
    done: set[str] = set()
    for root in sorted(graph):
        if root in done:
            continue
        path, on_path = [root], {root}
        stack = [iter(sorted(graph[root]))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            if child in on_path:
                return [*path[path.index(child) :], child]
            if child not in done:
                path.append(child)
                on_path.add(child)
                stack.append(iter(sorted(graph[child])))
    return None


def test_the_packages_import_without_a_cycle() -> None:
    """Issue 11 item 6: no import cycle among cdp_pipeline, dagster_project and data_contracts,
    module-level and function-level imports alike (errors.py and masking.py imported each other)."""
    graph = import_graph()
    assert {"cdp_pipeline.errors", "cdp_pipeline.masking", "dagster_project.cli"} <= graph.keys()
    assert "cdp_pipeline.masking" in graph["cdp_pipeline.errors"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_function_level_cycle() -> None:
    """Issue 11 item 6: the check sees a cycle closed by an import inside a function, and resolves
    relative and ``from package import module`` imports."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"b"}}) is None
    known = {"pkg", "pkg.one", "pkg.two"}
    function_level = ast.parse("def f():\n    from pkg import two, helper\n    from . import one\n")
    imports = [node for node in ast.walk(function_level) if isinstance(node, ast.ImportFrom)]
    assert _imported(imports[0], "pkg.one", False, known) == {"pkg.two", "pkg"}
    assert _imported(imports[1], "pkg.two", False, known) == {"pkg.one"}
