"""No import cycle between labelport's modules, read from the source with ast.

Every import counts, a function's deferred one too (a circle hidden by importing inside a
function is still a circle: web/app.py and its pages were one), except those under
`if TYPE_CHECKING:`, which never run. Importing `a.b.c` also runs the packages `a.b`'s
`__init__`, so that is an edge to the package as well, unless the importer is inside it.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

# Cycles known and left, each by the import that closes it, with why. The test takes these edges
# out and fails on any cycle left, and on an entry here that no longer closes a cycle.
ALLOWED: dict[tuple[str, str], str] = {
    ("labelport.media.fetch", "labelport.media.sources"): (
        "Fetcher.fetch/probe/open hand file:// and s3:// URLs to sources, which reads http(s)"
        " through the Fetcher; fetch.py defers its imports of sources. Untangling it means"
        " moving the scheme dispatch out of Fetcher."
    ),
}


def modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (its file, whether it is a package's __init__)."""
    found = {}
    for path in sorted((SRC / "labelport").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


def _type_checking_only(tree: ast.Module) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for inner in node.body:
                    skipped.update(id(n) for n in ast.walk(inner))
    return skipped


def import_graph() -> dict[str, set[str]]:
    """Module -> the labelport modules its imports run."""
    mods = modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in mods.items():
        package = name if is_package else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        skipped = _type_checking_only(tree)
        targets: list[str] = []
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                # `from pkg import sub` imports the module pkg.sub; `from mod import name`, mod.
                targets += [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in mods else base
                    for alias in node.names
                ]
        edges: set[str] = set()
        for target in targets:
            parts = target.split(".")
            for i in range(2, len(parts) + 1):
                run = ".".join(parts[:i])  # a.b's __init__ runs before a.b.c
                inside = f"{name}.".startswith(f"{run}.")
                if run in mods and run != name and (i == len(parts) or not inside):
                    edges.add(run)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def shortest_loop(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One cycle through the component's first module, as a path back to it."""
    start, members = component[0], set(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph[v] & members):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if w not in came_from:
                came_from[w] = v
                queue.append(w)
    raise AssertionError(f"{component} is not a cycle")


def reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        for w in graph[todo.pop()]:
            if w == goal:
                return True
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return False


def test_no_import_cycle() -> None:
    graph = import_graph()
    for importer, imported in ALLOWED:
        graph[importer].discard(imported)
    found = [" -> ".join(shortest_loop(graph, c)) for c in cycles(graph)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_allowed_cycles_still_exist() -> None:
    graph = import_graph()
    stale = [
        f"{importer} -> {imported}"
        for importer, imported in ALLOWED
        if imported not in graph[importer] or not reaches(graph, imported, importer)
    ]
    assert not stale, f"no longer closes a cycle, delete from ALLOWED: {stale}"


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c", "a"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ],
)
def test_a_cycle_is_found_and_named(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert [shortest_loop(graph, c) for c in cycles(graph)] == expected


def test_the_graph_sees_deferred_and_package_imports() -> None:
    graph = import_graph()
    # api/app.py mounts the pages with a deferred `from labelport.web import mount`, and
    # importing labelport.store.coltypes runs the labelport.store package first.
    assert "labelport.web" in graph["labelport.api.app"]  # a function's import
    assert "labelport.store" in graph["labelport.web.sessions"]  # the package of store.coltypes
    assert "labelport.store.coltypes" in graph["labelport.web.sessions"]
    assert "labelport.api" not in graph["labelport.web.sessions"]
    assert "labelport.service" not in graph["labelport.web.state"]  # TYPE_CHECKING only
