"""The shape of a Ledgerline source tree: import graph, cycles, forbidden edges, sizes.

Run `python -m tools.architecture_report [ROOT]` (ROOT defaults to this checkout). Reads the
files with `ast` only, so it works on any checkout (an old commit in a worktree included)
without importing it. `tests/test_architecture.py` holds the current tree to the two rules:
no cycle between packages and no forbidden edge.

A "package" is a node of the architecture, not a Python package: `billing_bridge`,
`recordings` and `agi_scripts` are one node each; `pbx` is split into its subpackages
(`pbx.acd`, `pbx.desk`, ...), its composition root (`pbx.root`: the modules that build and
start everything) and each of its other top-level modules (`pbx.audit`, `pbx.settings`, ...),
which are shared helpers that any layer may use.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

TOP_PACKAGES = ("pbx", "billing_bridge", "recordings", "agi_scripts")
# pbx's top-level modules that build, wire and start the processes: the composition root.
# (pbx.demo_centre and pbx.demo_data only seed rows; `ledgerline demo` is pbx.demo.)
ROOT_MODULES = frozenset({
    "pbx.bootstrap", "pbx.service", "pbx.cli", "pbx.demo", "pbx.agi_bin", "pbx.__main__",
})  # fmt: skip
ROOT = "pbx.root"
# Migrations are a frozen record of the schema (one long upgrade() each); sized apart.
MIGRATIONS = "pbx.db.migrations"
# Lower layers must not reach up into the call flow, the HTTP layer or the composition root.
LOWER_PACKAGES = frozenset({"billing_bridge", "recordings", "agi_scripts"})
FORBIDDEN_TARGETS = frozenset({"pbx.http", "pbx.callflow", ROOT})


@dataclass(frozen=True)
class Import:
    """One imported module, as written on one line of one file."""

    source: str
    target: str
    source_package: str
    target_package: str
    path: str
    line: int
    type_checking: bool  # inside `if TYPE_CHECKING:`: never executed
    deferred: bool  # inside a function: executed on first call, not at import time


@dataclass(frozen=True)
class Function:
    name: str
    path: str
    line: int
    lines: int


@dataclass(frozen=True)
class Report:
    imports: tuple[Import, ...]
    package_cycles: tuple[tuple[str, ...], ...]
    module_cycles: tuple[tuple[str, tuple[str, ...]], ...]  # (package, its modules)
    forbidden: tuple[Import, ...]
    largest: tuple[Function, ...]  # migrations left out
    over_50: int  # functions over 50 lines, migrations left out
    largest_migrations: tuple[Function, ...]
    lines: dict[str, tuple[int, int]]  # package -> (physical lines, code lines)


def discover_modules(root: Path) -> dict[str, Path]:
    """Every module of the top packages under root, by dotted name."""
    modules: dict[str, Path] = {}
    for top in TOP_PACKAGES:
        for path in sorted((root / top).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def package_of(module: str, modules: dict[str, Path]) -> str:
    """The architecture node a module belongs to (see the module docstring)."""
    parts = module.split(".")
    if parts[0] != "pbx":
        return parts[0]
    if len(parts) == 1 or module in ROOT_MODULES:
        return ROOT
    if len(parts) == 2 and modules[module].name != "__init__.py":
        return module
    return ".".join(parts[:2])


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of a dotted name that is one of our modules."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _from_base(source: str, node: ast.ImportFrom, modules: dict[str, Path]) -> str:
    if not node.level:
        return node.module or ""
    is_package = modules[source].name == "__init__.py"
    parts = source.split(".") if is_package else source.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, node.module] if node.module else parts)


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _walk_imports(
    node: ast.AST, type_checking: bool = False, deferred: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, type_checking, deferred
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk_imports(ast.Module(body=[stmt]), True, deferred)
            for stmt in child.orelse:
                yield from _walk_imports(ast.Module(body=[stmt]), type_checking, deferred)
        else:
            inner = deferred or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            yield from _walk_imports(child, type_checking, inner)


def imports_of(source: str, modules: dict[str, Path], root: Path) -> list[Import]:
    """The imports of one module that land on one of our modules (not itself)."""
    path = modules[source]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = str(path.relative_to(root))
    found: dict[tuple[str, int], Import] = {}
    for node, type_checking, deferred in _walk_imports(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = _from_base(source, node, modules)
            names = [f"{base}.{alias.name}" if base else alias.name for alias in node.names]
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target != source:
                packages = package_of(source, modules), package_of(target, modules)
                edge = Import(source, target, *packages, rel, node.lineno, type_checking, deferred)
                found.setdefault((target, node.lineno), edge)
    return list(found.values())


def strongly_connected(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Tarjan's components with more than one node (iterative: deep graphs are fine)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[tuple[str, ...]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(tuple(sorted(component)))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(components)


def runtime(imports: Iterable[Import]) -> list[Import]:
    return [edge for edge in imports if not edge.type_checking]


def package_graph(imports: Iterable[Import]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in imports:
        if edge.source_package != edge.target_package:
            graph[edge.source_package].add(edge.target_package)
    return graph


def module_cycles(imports: Iterable[Import]) -> list[tuple[str, tuple[str, ...]]]:
    """Cycles among the modules of one package (each package taken alone), by package."""
    graph: dict[str, set[str]] = defaultdict(set)
    package: dict[str, str] = {}
    for edge in imports:
        if edge.source_package == edge.target_package:
            graph[edge.source].add(edge.target)
            package[edge.source] = edge.source_package
    return [(package[members[0]], members) for members in strongly_connected(graph)]


def forbidden_edges(imports: Iterable[Import]) -> list[Import]:
    """Runtime imports from a lower package into the call flow, HTTP or the root."""
    return [
        edge
        for edge in runtime(imports)
        if edge.source_package in LOWER_PACKAGES and edge.target_package in FORBIDDEN_TARGETS
    ]


def functions(modules: dict[str, Path], root: Path, migrations: bool = False) -> list[Function]:
    """Every function (def line to last line), methods and nested ones included, longest first."""
    found = []
    for name, path in modules.items():
        if name.startswith(MIGRATIONS) != migrations:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = str(path.relative_to(root))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                found.append(Function(node.name, rel, node.lineno, size))
    return sorted(found, key=lambda f: (-f.lines, f.path, f.line))


def lines_per_package(modules: dict[str, Path]) -> dict[str, tuple[int, int]]:
    """Physical lines and code lines (not blank, not a comment) of each package."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for name, path in modules.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        code = [line for line in lines if line.strip() and not line.strip().startswith("#")]
        totals[package_of(name, modules)][0] += len(lines)
        totals[package_of(name, modules)][1] += len(code)
    return {package: (total[0], total[1]) for package, total in sorted(totals.items())}


def analyse(root: Path) -> Report:
    modules = discover_modules(root)
    imports = tuple(edge for name in modules for edge in imports_of(name, modules, root))
    live = runtime(imports)
    sized = functions(modules, root)
    return Report(
        imports=imports,
        package_cycles=tuple(strongly_connected(package_graph(live))),
        module_cycles=tuple(module_cycles(live)),
        forbidden=tuple(forbidden_edges(imports)),
        largest=tuple(sized[:15]),
        over_50=sum(1 for function in sized if function.lines > 50),
        largest_migrations=tuple(functions(modules, root, migrations=True)[:3]),
        lines=lines_per_package(modules),
    )


def edges_between(report: Report, members: tuple[str, ...]) -> list[Import]:
    inside = set(members)
    return [
        edge
        for edge in runtime(report.imports)
        if {edge.source_package, edge.target_package} <= inside
        and edge.source_package != edge.target_package
    ]


def _render_graph(report: Report) -> Iterator[str]:
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for edge in report.imports:
        pair = (edge.source_package, edge.target_package)
        if pair[0] != pair[1]:
            slot = 2 if edge.type_checking else 1 if edge.deferred else 0
            counts[pair][slot] += 1
    yield "## (a) Import graph between packages"
    yield "source -> target: runtime at import time / deferred (in a function) / TYPE_CHECKING"
    for (source, target), (now, later, typing_only) in sorted(counts.items()):
        yield f"  {source} -> {target}: {now} / {later} / {typing_only}"
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    yield f"  edges: {len(counts)}; imports: {total[0]} / {total[1]} / {total[2]}"


def _render_cycles(report: Report) -> Iterator[str]:
    yield "## (b) Cycles (runtime imports; TYPE_CHECKING imports left out)"
    yield f"Between packages: {len(report.package_cycles)} component(s)"
    for members in report.package_cycles:
        yield f"  {{{', '.join(members)}}}"
        for edge in edges_between(report, members):
            pair = f"{edge.source_package} -> {edge.target_package}"
            yield f"    {pair}: {edge.path}:{edge.line} imports {edge.target}"
    yield f"Between modules of one package: {len(report.module_cycles)} component(s)"
    for package, members in report.module_cycles:
        yield f"  {package}: {', '.join(members)}"


def render(report: Report) -> str:
    out = [*_render_graph(report), "", *_render_cycles(report), ""]
    out.append(f"## (c) Forbidden edges: {len(report.forbidden)}")
    out += [f"  {e.path}:{e.line} {e.source} imports {e.target}" for e in report.forbidden]
    out += ["", "## (d) The 15 largest functions (lines), migrations apart"]
    out += [f"  {f.lines:4d}  {f.name}  {f.path}:{f.line}" for f in report.largest]
    out.append(f"  functions over 50 lines: {report.over_50}; migrations' largest:")
    out += [f"  {f.lines:4d}  {f.name}  {f.path}:{f.line}" for f in report.largest_migrations]
    out += ["", "## (e) Lines per package (physical / code: not blank, not a comment)"]
    out += [f"  {p:32s} {n:6d} {c:6d}" for p, (n, c) in report.lines.items()]
    physical, code = (sum(v[i] for v in report.lines.values()) for i in range(2))
    out.append(f"  {'total':32s} {physical:6d} {code:6d}")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    sys.stdout.write(render(analyse(root)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
