"""The package's import graph: no circle, and no import from a lower floor to a higher one.

Floors, lowest first: the base modules (errors, config, results, seeds, optimiser, replay, checkpoints,
theory) < tasks < nets < algos < experiments < bench and peer (harnesses that drive the experiments'
learners) < commands and cli. Every ``import`` counts, also one inside a function or under
``TYPE_CHECKING``: a deferred import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "mtrl_bench"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
FLOORS = {  # first dotted name after mtrl_bench -> floor
    "tasks": 1, "nets": 2, "algos": 3, "experiments": 4, "bench": 5, "peer": 5, "commands": 6, "cli": 6,
}  # anything else is a base module, floor 0


def floor(module: str) -> int:
    parts = module.split(".")
    return FLOORS.get(parts[1], 0) if len(parts) > 1 else 0


def module_names() -> dict[str, Path]:
    names = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported_modules(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports (a name imported from a package counts as its
    submodule when it is one)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found |= {f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                      for alias in node.names}
    edges = set()
    for name in found:
        while name and name not in known:  # `import a.b.c` names module a.b.c; a name in it is not one
            name = name.rpartition(".")[0]
        if name.startswith(PACKAGE) and name != module:
            edges.add(name)
    return edges


def import_graph() -> dict[str, set[str]]:
    known = module_names()
    return {module: imported_modules(module, path, known) for module, path in known.items()}


def test_the_graph_sees_the_package():
    graph = import_graph()
    assert f"{PACKAGE}.experiments.ddpg" in graph and f"{PACKAGE}.algos.ddpg" in graph[f"{PACKAGE}.experiments.ddpg"]


def test_no_module_imports_a_higher_floor():
    upward = sorted(f"{module} (floor {floor(module)}) imports {target} (floor {floor(target)})"
                    for module, targets in import_graph().items() for target in targets
                    if floor(target) > floor(module))
    assert not upward, "\n".join(upward)


def test_no_import_circle():
    graph = import_graph()
    circles, state, stack = [], {}, []  # state: 1 on the current path, 2 done

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not circles, "\n".join(circles)
