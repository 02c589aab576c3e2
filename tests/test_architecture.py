"""The layer order of docs/architecture.md, enforced: every import of every module (module-level and
inside functions) either stays in its package or points down the layers, and no two modules
import each other, directly or through others.

    cli -> pipeline -> services -> backends -> stores -> config, errors, workspace (the base)

Services are ordered by the data flow, each may use the ones before it:
data -> features -> training -> serving -> monitoring. Backends may use stores (the local
infrastructure prepares them); stores use only the base.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import salesops

SRC = Path(salesops.__file__).parent

#: a module's layer is the first entry naming it or a package above it; higher may import lower
LAYERS: dict[str, int] = {
    "salesops": 0, "salesops.config": 0, "salesops.config_sources": 0, "salesops.errors": 0,
    "salesops.workspace": 0, "salesops.masking": 0, "salesops.faults": 0,
    "salesops.teardown": 0, "salesops.polling": 0, "salesops.kserve_import": 0,
    "salesops.stores": 1,
    "salesops.backends": 2,
    "salesops.data": 3, "salesops.features": 4, "salesops.training": 5, "salesops.serving": 6,
    "salesops.monitoring": 7,
    "salesops.pipeline": 8,
    "salesops.cli": 9, "salesops.__main__": 10,
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".")
            if MODULES[module].name != "__init__.py":
                base.pop()
            base = base[: len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix
                 for a in node.names]
    resolved = []
    for name in names:
        while name not in MODULES and "." in name:
            name = name.rsplit(".", 1)[0]
        if name in MODULES and name != module:
            resolved.append(name)
    return resolved


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges[module].update(_targets(module, node))
    return edges


def _layer(module: str) -> int:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in LAYERS:
            return LAYERS[name]
    raise AssertionError(f"{module} has no layer: add its package to LAYERS")


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_every_import_points_down_the_layers():
    wrong = sorted(
        f"{source} (layer {_layer(source)}) imports {target} (layer {_layer(target)})"
        for source, targets in _graph().items() for target in targets
        if _package(source) != _package(target) and _layer(target) > _layer(source)
        or _package(source) != _package(target) and _layer(target) == _layer(source)
        and _layer(source) != 0
    )
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_import_cycle():
    edges = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
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
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_lazy_imports_and_cycles():
    """The two checks above read imports inside functions too (where cycles hide)."""
    tree = ast.parse("def f():\n    from salesops.cli import main\n")
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom))
    assert _targets("salesops.config", node) == ["salesops.cli"]
    assert _layer("salesops.cli.output") > _layer("salesops.training.loop") > _layer(
        "salesops.backends.local") > _layer("salesops.stores") > _layer("salesops.config")
