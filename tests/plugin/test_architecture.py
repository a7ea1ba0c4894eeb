"""The package's layers, checked from its source: no import cycle, no upward import, a pure core.

Every import counts: at module level, inside functions (lazy imports) and under ``TYPE_CHECKING``. The layers and
what each may use are described in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "fine_pytest"

# Bottom to top: a module may import from its own layer and the layers below it.
LAYERS = ("core", "backends", "judges", "pipeline", "reports", "dataset_tools", "plugin", "cli")
# Modules at the package's top: the examples users name in --model=py:..., and the package itself, which nothing
# imports (its version lives in core) and which imports the library entry point when it is first used.
TOP_LEVEL = {"fine_pytest.examples": len(LAYERS), "fine_pytest": len(LAYERS) + 1}
# The core is pure: the standard library and itself, nothing that runs a test, a model or a database.
CORE_MAY_IMPORT = {"__future__", "collections", "contextlib", "dataclasses", "enum", "functools", "hashlib", "json"}
CORE_MAY_IMPORT |= {"math", "os", "pathlib", "re", "stat", "string", "typing", "unicodedata", "urllib", "itertools"}
CORE_MAY_IMPORT |= {"codecs", "io", "operator", "bisect", "statistics", "textwrap", "datetime", "fractions", "abc"}
CORE_MAY_IMPORT |= {"types"}
CORE_MAY_IMPORT |= {"random"}  # seeded generators only (random.Random(seed)): a report is reproducible
# Over this many lines a module says at its top why it is not split.
MAX_LINES = 300
REASON = "Longer than"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """(modules of the package, top-level names of other packages) that ``path`` imports anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    inside: set[str] = set()
    outside: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (inside if alias.name.split(".")[0] == "fine_pytest" else outside).add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "fine_pytest":
                outside.add(source)
                continue
            for alias in node.names:
                # `from fine_pytest.backends import vllm` imports a module; `... import Sampling` a name.
                child = f"{source}.{alias.name}"
                inside.add(child if child in known else source)
    inside = {target for target in inside if target != name}
    return inside, {target.split(".")[0] for target in outside}


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    found = modules()
    known = set(found)
    edges: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for name, path in found.items():
        inside, outside = imports_of(name, path, known)
        unknown = inside - known
        assert not unknown, f"{name} imports modules that do not exist: {sorted(unknown)}"
        edges[name], external[name] = inside, outside
    return edges, external


def layer_of(name: str) -> int:
    if name in TOP_LEVEL:
        return TOP_LEVEL[name]
    return LAYERS.index(name.split(".")[1])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_is_in_a_layer() -> None:
    strays = [name for name in modules() if name not in TOP_LEVEL and name.split(".")[1] not in LAYERS]
    assert strays == [], f"modules outside the layer folders: {strays}"


def test_the_architecture_page_names_every_module_in_its_layers_row() -> None:
    """docs/ARCHITECTURE.md stays true: each module of a layer is named (in backticks) in that layer's table row."""
    page = (PACKAGE.parent / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rows = {
        line.split("|")[2].strip().strip("`/"): line
        for line in page.splitlines()
        if line.startswith("| ") and "`" in line
    }
    missing = []
    for name in modules():
        parts = name.split(".")
        if len(parts) != 3:
            continue  # the package, a layer's __init__, the examples
        layer, module = parts[1], parts[2]
        if f"`{module}`" not in rows.get(layer, ""):
            missing.append(name)
    assert not missing, f"docs/ARCHITECTURE.md does not name these modules in their layer's row: {missing}"


def test_no_import_cycle() -> None:
    edges, _ = graph()
    assert cycles(edges) == []


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    edges, _ = graph()
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in edges.items()
        for target in targets
        if layer_of(target) > layer_of(source)
    )
    assert upward == []


def test_the_core_imports_nothing_but_the_standard_library() -> None:
    _, external = graph()
    impure = {
        name: sorted(used - CORE_MAY_IMPORT) for name, used in external.items() if name.startswith("fine_pytest.core")
    }
    assert {name: used for name, used in impure.items() if used} == {}


def test_long_modules_say_why() -> None:
    unexplained = []
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if text.count("\n") > MAX_LINES and REASON not in docstring:
            unexplained.append(f"{name} ({text.count(chr(10))} lines)")
    assert unexplained == [], f"modules over {MAX_LINES} lines with no '{REASON} ...' reason in their docstring"


# The checker itself, on graphs small enough to read: it must find what it is meant to find.
@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_cycle_finder(edges: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert sorted(cycles(edges)) == expected


def test_import_reader_counts_type_checking_and_lazy_imports(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from fine_pytest.core.gate import Thresholds\n"
        "def f():\n    from fine_pytest.backends import vllm\n    import pytest\n"
        "from . import sibling\n"
    )
    known = {"fine_pytest.core.gate", "fine_pytest.backends", "fine_pytest.backends.vllm", "fine_pytest.core.sibling"}
    inside, outside = imports_of("fine_pytest.core.mod", source, known)
    assert inside == {"fine_pytest.core.gate", "fine_pytest.backends.vllm", "fine_pytest.core.sibling"}
    assert outside == {"typing", "pytest"}
