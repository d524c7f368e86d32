"""The house rules of auxpix/, checked on its source: no import cycle, no module over 450
lines, no function over 80, and no path computed from the repository's layout outside the
book (the library takes paths; the scripts and the book supply them)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "auxpix"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
    """``auxpix/book/tables.py`` as "auxpix.book.tables", a package's ``__init__.py`` as its name."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, node: ast.AST) -> list[str]:
    """The auxpix modules that ``node`` (an import anywhere in module ``name``) imports."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: from the module's package, one level up per extra dot
            package = name.split(".")
            package = package[: len(package) - node.level + (MODULES[name].name == "__init__.py")]
            base = ".".join(package + ([node.module] if node.module else []))
        # ``from .x import y``: y is a module when one has that name, else a name in x
        names = [f"{base}.{alias.name}" for alias in node.names]
        targets = [target if target in MODULES else base for target in names]
    else:
        return []
    return [target for target in targets if target in MODULES]


def import_graph() -> dict[str, set[str]]:
    """{module: the auxpix modules it imports, at module level or inside a function}."""
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        graph[name] = {target for node in ast.walk(tree) for target in imported(name, node)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph``, each as a path a -> ... -> a (one per edge that closes one)."""
    found, finished = [], set()

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph.get(module, ())):
            if target in path:
                found.append(path[path.index(target) :] + [target])
            elif target not in finished:
                visit(target, [*path, target])
        finished.add(module)

    for start in sorted(graph):
        if start not in finished:
            visit(start, [start])
    return found


def test_no_import_cycle_inside_auxpix():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in found)


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_over_450_lines_and_no_function_over_80():
    too_long = []
    for name, path in MODULES.items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"module {name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"function {name}.{node.name}: {lines} lines")
    assert not too_long, "over the limits: " + "; ".join(too_long)


def levels_up(node: ast.AST) -> int:
    """How many folders above a file an expression built on ``__file__`` climbs: one per
    ``.parent``, k + 1 per ``.parents[k]``, one per ``os.path.dirname``."""
    climbs = 0
    for inner in ast.walk(node):
        if isinstance(inner, ast.Attribute) and inner.attr == "parent":
            climbs += 1
        elif isinstance(inner, ast.Subscript) and getattr(inner.value, "attr", "") == "parents":
            index = inner.slice
            climbs += index.value + 1 if isinstance(index, ast.Constant) else 2
        elif isinstance(inner, ast.Call) and getattr(inner.func, "attr", "") == "dirname":
            climbs += 1
    return climbs


def uses_file(node: ast.AST) -> bool:
    return any(isinstance(inner, ast.Name) and inner.id == "__file__" for inner in ast.walk(node))


def test_the_library_computes_no_path_from_the_repository_root():
    """Outside auxpix/book/, a path built on ``__file__`` stays inside the module's own folder
    (``Path(__file__).parent``, the package): two levels up is the repository."""
    offenders = []
    for name, path in MODULES.items():
        if name.startswith("auxpix.book"):
            continue
        lines = {
            node.lineno
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.expr) and uses_file(node) and levels_up(node) >= 2
        }
        offenders += [f"{name}, line {line}" for line in sorted(lines)]
    assert not offenders, "paths from the repository root: " + "; ".join(offenders)


def test_the_path_check_sees_the_usual_spellings():
    for source in (
        "ROOT = Path(__file__).resolve().parent.parent",
        "ROOT = Path(__file__).parents[1] / 'data'",
        "ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))",
    ):
        assert levels_up(ast.parse(source)) >= 2, source
    assert levels_up(ast.parse("HERE = Path(__file__).parent / 'weights'")) == 1
