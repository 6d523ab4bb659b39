"""The shape of chalicelib, held by tests: no import cycle (function-level imports included), the layers of
records/ and storage/, and every write to a video (or outbox) record inside its records module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "chalicelib"
# what records/ and storage/ may never import: the use cases and entry points built on them
UPPER = ("pipeline", "ops", "api", "telegram", "cli", "local")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _runtime_imports(tree: ast.AST):
    """Every import statement that runs (at module level or inside a function), not those under TYPE_CHECKING."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph() -> dict[str, set[str]]:
    """Module -> the chalicelib modules importing it runs, with the non-empty package ``__init__``s on the way
    (a module's own packages excluded: Python has them half-imported already)."""
    graph = {}
    for name, path in MODULES.items():
        targets = set()
        for imported in _runtime_imports(ast.parse(path.read_text())):
            if imported not in MODULES:
                continue
            targets.add(imported)
            targets.update(package for package in _ancestors(imported)
                           if package not in _ancestors(name) and MODULES[package].stat().st_size)
        graph[name] = targets - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*stack[stack.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_cycle_through_function_level_imports():
    # GIVEN a graph where c imports a inside a function (the observability -> ... -> observability shape)
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    # THEN the cycle is found, and a graph without one passes
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "d": {"a"}}) is None


def test_chalicelib_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 60 and graph["chalicelib.pipeline.runner"]  # the walk sees the package
    assert find_cycle(graph) is None


@pytest.mark.parametrize("layer", ["records", "storage"])
def test_records_and_storage_import_nothing_built_on_them(layer):
    graph = import_graph()
    offending = {name: sorted(t for t in targets if t.split(".")[1] in UPPER)
                 for name, targets in graph.items() if name.startswith(f"chalicelib.{layer}")}
    assert {name: targets for name, targets in offending.items() if targets} == {}


VIDEO_WRITE = re.compile(r"\bVideo\.\w+(\[[^\]]*\])?\.(set|remove|add|delete)\("  # an update action
                         r"|(?<!class )\bVideo\("  # a record made to be saved
                         r"|\bvideo\.(update|save|delete)\(")


def test_every_video_record_write_lives_in_the_video_records_module():
    writers = {name for name, path in MODULES.items() if VIDEO_WRITE.search(path.read_text())}
    assert writers == {"chalicelib.records.videos"}


EVENT_WRITE = re.compile(r"\bEvent\.\w+\.(set|remove|add|append)\("  # an update action
                         r"|(?<!class )(?<![.\w])Event\("  # a record made to be saved (not threading.Event())
                         r"|\bevent\.(update|save|delete)\(")


def test_every_outbox_record_write_lives_in_the_event_records_module():
    writers = {name for name, path in MODULES.items() if EVENT_WRITE.search(path.read_text())}
    assert writers == {"chalicelib.records.events"}
