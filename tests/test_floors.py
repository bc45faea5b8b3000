"""The package's floors: imports only go down (no circle), and torch stays above the floor that
reading, checking and describing a run needs.

The import graph is drawn from the code with `ast`: module-level and function-local imports both
count (a lazy import still ties two modules together); imports under `if TYPE_CHECKING:` do not
(they are read by type checkers only).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "textcls"


def module_names() -> dict[str, Path]:
    """'textcls.tasks.base' -> its file (a package by its __init__.py)."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(module: str, path: Path, modules: dict[str, Path], lazy: bool = True) -> set[str]:
    """The package's modules that `module` imports (the most specific module each import names:
    `from textcls.tasks import base` names textcls.tasks.base, `from textcls.tasks import TASKS`
    names textcls.tasks); without `lazy`, only those imported when `module` is (not inside functions)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def most_specific(name: str) -> str | None:
        parts = name.split(".")
        while parts and ".".join(parts) not in modules:
            parts.pop()
        return ".".join(parts) if parts else None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if not lazy and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return
        if isinstance(node, ast.Import):
            found.update(filter(None, (most_specific(a.name) for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                found.update(filter(None, [most_specific(f"{base}.{alias.name}")]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(module)
    return {m for m in found if m.split(".")[0] == "textcls"}


def import_graph(lazy: bool = True) -> dict[str, set[str]]:
    modules = module_names()
    return {name: imported(name, path, modules, lazy) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
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
            connect(v)
    return found


def test_the_cycle_finder_finds_a_circle_closed_by_a_lazy_import(tmp_path):
    """The checker itself, on a package made for it: a module-level import one way and a
    function-local one back is a circle; an import under TYPE_CHECKING is not."""
    pkg = tmp_path / "textcls"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from textcls.sub.low import X\n")
    (pkg / "sub" / "low.py").write_text("X = 1\ndef f():\n    from textcls import high\n")
    (pkg / "high.py").write_text(
        "from typing import TYPE_CHECKING\nfrom textcls.sub import X\n"
        "if TYPE_CHECKING:\n    from textcls import typed\n"
    )
    (pkg / "typed.py").write_text("from textcls import high\n")
    modules = {
        ".".join(p.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__"): p for p in pkg.rglob("*.py")
    }
    graph = {name: imported(name, path, modules) for name, path in modules.items()}
    assert graph["textcls.sub.low"] == {"textcls.high"}
    assert graph["textcls.high"] == {"textcls.sub"}  # the TYPE_CHECKING import is not an edge
    assert cycles(graph) == [["textcls.high", "textcls.sub", "textcls.sub.low"]]


def test_the_package_has_no_import_circle():
    graph = import_graph()
    assert len(graph) > 40  # (the whole package was read)
    assert cycles(graph) == []


# What reading, checking and describing a run needs, and the numpy predict path will: no torch.
TORCH_FREE = [
    "textcls.config",
    "textcls.sections",
    "textcls.data",
    "textcls.features",
    "textcls.encoded",
    "textcls.vocab",
    "textcls.tokenize",
    "textcls.sampling",
    "textcls.predictions",
    "textcls.metrics",
    "textcls.entities",
    "textcls.files",
    "textcls.run_folder",
    "textcls.checkpoint_files",
    "textcls.tasks",
    "textcls.tasks.base",
    "textcls.tasks.classification",
    "textcls.tasks.multilabel",
    "textcls.tasks.regression",
    "textcls.tasks.ranking",
    "textcls.tasks.tagging",
    "textcls.tasks.embedding",
    "textcls.models",
    "textcls.models.spec",
    "textcls.models.bow",
    "textcls.models.lstm",
    "textcls.models.cnn",
    "textcls.losses",
    "textcls.losses.spec",
    "textcls.losses.registry",
    "textcls.losses.classification",
    "textcls.losses.regression",
    "textcls.losses.ranking",
    "textcls.losses.embedding",
    "textcls.losses.crf",
    "textcls.engine",
    "textcls.engine.choice",
    "textcls.token_cache",
    "textcls.streaming",
    "textcls.numpy_bag",
    "textcls.onnx_bag",
    "textcls.backends",
    "textcls.jsonl",
    "textcls.predict",
    "textcls.serve",
    "textcls.serve.app",
    "textcls.serve.batcher",
    "textcls.serve.metrics",
    "textcls.serve.requests",
]


def test_config_data_features_and_task_output_import_no_torch():
    """Each module in a fresh interpreter: torch (and numba) must not be imported by it."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {TORCH_FREE!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in ('torch', 'numba') if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_each_torch_free_module_alone_imports_no_torch():
    """One interpreter per module would be slow; instead, what importing each module imports (its
    closure in the graph of imports made at import time, not inside functions: a model type's
    config builds its network with a lazy import) must not contain a module importing torch at its top."""
    graph = import_graph(lazy=False)
    torch_at_top = {
        name
        for name, path in module_names().items()
        if any(
            isinstance(n, (ast.Import, ast.ImportFrom))
            and any(
                (a.name if isinstance(n, ast.Import) else (n.module or "")).split(".")[0] == "torch" for a in n.names
            )
            for n in ast.parse(path.read_text()).body
        )
    }
    for name in TORCH_FREE:
        seen, todo = set(), [name]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(graph[current])
        assert not seen & torch_at_top, f"{name} reaches {sorted(seen & torch_at_top)}"
