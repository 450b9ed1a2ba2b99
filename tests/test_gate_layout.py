"""The gate package's layout: its modules import one way, at the top, and nothing above the gate."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

from mlgate.gate.builtin import BUILTIN, BUILTIN_SPECS

GATE_DIR = Path(__file__).resolve().parent.parent / "mlgate" / "gate"
GATE_MODULES = sorted(
    ".".join(("mlgate", *p.relative_to(GATE_DIR.parent).with_suffix("").parts)).removesuffix(".__init__")
    for p in GATE_DIR.rglob("*.py")
)
ABOVE_THE_GATE = ("mlgate.api", "mlgate.cli", "mlgate.release", "mlgate.training", "mlgate.monitor", "mlgate.team")


class _MlgateImports(ast.NodeVisitor):
    """The mlgate modules a source file imports: at module level (incl. TYPE_CHECKING), and inside a def."""

    def __init__(self) -> None:
        self.depth = 0
        self.top_level: set[str] = set()
        self.nested: list[str] = []

    def _scope(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _scope

    def _found(self, targets: list[str]) -> None:
        targets = [t for t in targets if t.split(".")[0] == "mlgate"]
        (self.nested.extend if self.depth else self.top_level.update)(targets)

    def visit_Import(self, node: ast.Import) -> None:
        self._found([a.name for a in node.names])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module:  # `from mlgate.gate.checks import cicd` imports the module mlgate.gate.checks.cicd
            names = [f"{node.module}.{a.name}" for a in node.names]
            self._found([n if n in GATE_MODULES else node.module for n in names])


def _mlgate_imports(module: str) -> _MlgateImports:
    path = GATE_DIR.parent.parent.joinpath(*module.split(".")).with_suffix(".py")
    if not path.is_file():
        path = path.with_suffix("") / "__init__.py"
    found = _MlgateImports()
    found.visit(ast.parse(path.read_text()))
    return found


def test_gate_modules_import_one_way_all_at_the_top_and_nothing_above_the_gate() -> None:
    graph: dict[str, set[str]] = {}
    for module in GATE_MODULES:
        found = _mlgate_imports(module)
        imported, nested = found.top_level, found.nested
        assert nested == [], f"{module} imports {nested} inside a function: import it at the top"
        above = sorted(t for t in imported if t.startswith(ABOVE_THE_GATE))
        assert above == [], f"{module} imports {above}, which sit above the gate in the layers"
        graph[module] = {t for t in imported if t in GATE_MODULES}
    order = list(graphlib.TopologicalSorter(graph).static_order())  # raises CycleError on a cycle
    assert order.index("mlgate.gate.spec") < order.index("mlgate.gate.checks.cicd") < order.index("mlgate.gate.builtin")
    assert order.index("mlgate.gate.context") < order.index("mlgate.gate.checks.cicd")
    assert order.index("mlgate.gate.builtin") < order.index("mlgate.gate.policy") < order.index("mlgate.gate.engine")
    assert len(BUILTIN) == len(BUILTIN_SPECS)  # no two built-in checks share a name


@pytest.mark.parametrize("module", GATE_MODULES)
def test_each_gate_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
