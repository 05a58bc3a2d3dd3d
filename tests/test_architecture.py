"""The package's layering (docs/architecture.md), read from its own imports with ``ast``: every module sits in one
layer, imports only from its own layer or those below, and no chain of imports — at module level or inside a
function — comes back to where it started."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "cdlpose"

#: Bottom to top. A module belongs to the layer whose longest entry names it or a package above it.
LAYERS = [
    ("foundations", ["cdlpose", "cdlpose.errors", "cdlpose.skeletons", "cdlpose.geometry", "cdlpose.smoothing",
                     "cdlpose.metrics", "cdlpose.codec", "cdlpose.losses", "cdlpose.checkpoint",
                     "cdlpose.config_files", "cdlpose.vis", "cdlpose.outputs", "cdlpose.resnet"]),
    ("data", ["cdlpose.data"]),
    ("model", ["cdlpose.model", "cdlpose.config", "cdlpose.loading"]),
    ("inference", ["cdlpose.inference", "cdlpose.detection"]),
    ("evaluation", ["cdlpose.evaluation"]),
    ("training", ["cdlpose.engine", "cdlpose.train_log", "cdlpose.stages"]),
    ("apps", ["cdlpose.predict", "cdlpose.demo", "cdlpose.export", "cdlpose.posenet", "cdlpose.viewer",
              "cdlpose.cli", "cdlpose.help_examples", "cdlpose.demo_command", "cdlpose.__main__"]),
]


def module_files(src: Path = SRC) -> dict[str, Path]:
    """{dotted module name: file} for every module of the package (a package is its ``__init__``)."""
    out = {}
    for f in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(f.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name a ``from … import`` refers to (relative levels resolved against ``module``)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(files: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """{module: modules of the package it imports}, every import statement counted (also those inside
    functions). ``from pkg import name`` counts as importing ``pkg.name`` where that is a module, else ``pkg``."""
    files = module_files() if files is None else files
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, is_pkg, node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for t in targets:
                while t and t not in files and "." in t:  # ``import cdlpose.data.x.y`` → the module it names
                    t = t.rsplit(".", 1)[0]
                if t in files and t != mod:
                    graph[mod].add(t)
    return graph


def layer_of(module: str, layers=LAYERS) -> int | None:
    best = None
    for k, (_, prefixes) in enumerate(layers):
        for p in prefixes:
            # the package itself (its __init__) is a module of its own, not a prefix of every module
            if module == p or (p != PACKAGE and module.startswith(p + ".")):
                if best is None or len(p) > best[1]:
                    best = (k, len(p))
    return None if best is None else best[0]


def layering_problems(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    """Modules in no layer, and imports that run up from a lower layer to a higher one, in words."""
    problems = [f"{m} is in no layer of tests/test_architecture.py LAYERS (and docs/architecture.md)"
                for m in sorted(graph) if layer_of(m, layers) is None]
    for m in sorted(graph):
        lm = layer_of(m, layers)
        for t in sorted(graph[m]):
            lt = layer_of(t, layers)
            if lm is not None and lt is not None and lt > lm:
                problems.append(f"upward import: {m} ({layers[lm][0]}) imports {t} ({layers[lt][0]})")
    return problems


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, …, a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m):
        state[m] = 1
        path.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                return path[path.index(t):] + [t]
            if t not in state:
                found = visit(t)
                if found:
                    return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_every_module_sits_in_a_layer_and_imports_only_downwards():
    problems = layering_problems(import_graph())
    assert not problems, "\n".join(problems)


def test_the_graph_sees_relative_function_level_and_package_imports(tmp_path):
    """The reader must see the imports that made the old circles: a relative import inside a function, and
    ``from .. import module``. Built on a throwaway package so the check does not depend on today's code."""
    pkg = tmp_path / PACKAGE
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "geometry.py").write_text("def f():\n    from .engine import Trainer\n")
    (pkg / "engine.py").write_text("from . import geometry\nfrom .data import synthetic\n")
    (pkg / "data" / "synthetic.py").write_text("from .. import geometry\nimport cdlpose.engine\n")
    graph = import_graph(module_files(tmp_path))
    assert graph["cdlpose.geometry"] == {"cdlpose.engine"}
    assert graph["cdlpose.engine"] == {"cdlpose.geometry", "cdlpose.data.synthetic"}
    assert graph["cdlpose.data.synthetic"] == {"cdlpose.geometry", "cdlpose.engine"}
    problems = layering_problems(graph)
    assert not any("cdlpose.geometry is in no layer" in p for p in problems)
    assert "upward import: cdlpose.geometry (foundations) imports cdlpose.engine (training)" in problems
    assert "upward import: cdlpose.data.synthetic (data) imports cdlpose.engine (training)" in problems
    assert find_cycle(graph) is not None


@pytest.mark.parametrize("module, target", [
    ("cdlpose.inference", "cdlpose.engine"),  # the old circle: inference took load_model from the trainer
    ("cdlpose.detection", "cdlpose.inference"),  # allowed (same layer) but, with the edge below, a circle
    ("cdlpose.data.render_crop", "cdlpose.data.synthetic"),
])
def test_a_deliberate_bad_import_is_named(module, target):
    graph = import_graph()
    graph[module].add(target)
    if module == "cdlpose.detection":
        graph["cdlpose.inference"].add("cdlpose.detection")
        cycle = find_cycle(graph)
        assert cycle is not None and "cdlpose.detection" in cycle and "cdlpose.inference" in cycle
    elif module == "cdlpose.inference":
        assert f"upward import: {module} (inference) imports {target} (training)" in layering_problems(graph)
    else:
        graph["cdlpose.data.synthetic"].add("cdlpose.data.render_crop")
        cycle = find_cycle(graph)
        assert cycle is not None and " → ".join(cycle).count("render_crop") >= 1


def test_a_module_in_no_layer_is_named():
    graph = import_graph()
    graph["cdlpose.newthing"] = set()
    assert "cdlpose.newthing is in no layer of tests/test_architecture.py LAYERS (and docs/architecture.md)" in (
        layering_problems(graph))


def test_no_module_is_much_over_500_lines():
    long = {m: n for m, f in module_files().items() if (n := len(f.read_text().splitlines())) > 520}
    assert not long, f"modules over ~500 lines (split them by concern): {long}"


def test_names_that_moved_still_import_from_where_they_were():
    """Code written against the old layout keeps working: the same objects under the old names."""
    from cdlpose import engine, errors, evaluation, loading
    from cdlpose.checkpoint import CheckpointError, OutputError
    from cdlpose.config import ConfigError
    from cdlpose.data.sample import DataError
    from cdlpose.inference import InputError

    assert engine.load_model is loading.load_model and engine.build_model is loading.build_model
    assert engine.codec_for is loading.codec_for and engine.CHECKPOINT_FORMAT == loading.CHECKPOINT_FORMAT
    assert engine.evaluate_checkpoint is evaluation.evaluate_checkpoint
    assert (CheckpointError, OutputError, ConfigError, DataError, InputError) == (
        errors.CheckpointError, errors.OutputError, errors.ConfigError, errors.DataError, errors.InputError)
