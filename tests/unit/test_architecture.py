"""The import drawing: data flows one way, and no import runs back up.

Every module of `streams/` has a layer, declared once in LAYERS (a package's entry covers
its modules); a module may import its own layer's modules and lower layers only:

    events, plumbing.ratelog, plumbing.kafka_crc  →  core  →  wire, config, engine
      →  metrics, sources  →  plumbing, worker parts  →  worker.runtime  →  worker.agents
      →  worker.app, worker.process  →  commands  →  cli

The commands (report, replay, ingest, demo...) sit above the worker so that the worker never
depends on an offline command. The core is pure: no Faust, Kafka, Prometheus or
JSON-library import. A new module without a layer fails `test_every_module_has_a_layer`.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

import streams

ROOT = Path(streams.__file__).parent

LAYERS: dict[str, int] = {
    # the event model and leaf utilities (standard library only)
    "streams.events": 0, "streams.plumbing.ratelog": 0, "streams.plumbing.kafka_crc": 0,
    "streams.plumbing": 0, "streams.worker": 0, "streams.commands": 0,  # package docstrings
    # the pure domain
    "streams.core": 1,
    # codecs, configuration, the engine over the core
    "streams.wire": 2, "streams.config": 2, "streams.engine": 2,
    # what the worker and the connectors report, and the connectors
    "streams.metrics": 3, "streams.sources": 3,
    # the plumbing over configuration and metrics
    "streams.plumbing.broker": 4, "streams.plumbing.web": 4,
    # the worker: its parts, then the runtime, the agents, the app and the process
    "streams.worker.health": 4, "streams.worker.ownership": 4, "streams.worker.state": 4,
    "streams.worker.gauges": 4, "streams.worker.api": 4, "streams.worker.lean_faust": 4,
    "streams.worker.runtime": 5,
    "streams.worker.agents": 6,
    "streams.worker.app": 7, "streams.worker.process": 7,
    # the commands: offline tools and the live ingest, over everything but the command line
    "streams.commands.replay": 8, "streams.commands.report": 8, "streams.commands.scoring": 8,
    "streams.commands.ml": 8, "streams.commands.spikes": 8, "streams.commands.check_client": 8,
    "streams.commands.control": 8, "streams.commands.ingest": 8, "streams.commands.demo": 8,
    "streams.cli": 9,
}
#: The package's own __init__ (its version): importable from anywhere.
ROOT_LAYER = 0
PURE_FORBIDDEN = ("faust", "aiokafka", "kafka", "prometheus_client", "orjson", "mode")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = ROOT) -> Iterator[str]:
    """Every module imported anywhere in the file: deferred imports, `from streams import
    x` as streams.x, relative imports, and `import_module("streams.x")` strings."""
    package = module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[:len(base) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield module
            for alias in node.names:  # `from streams import engine` imports a module
                if (root.parent / (module + "." + alias.name).replace(".", "/")).with_suffix(
                        ".py").exists():
                    yield f"{module}.{alias.name}"
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__")):
            yield node.args[0].value


def layer(module: str) -> int | None:
    if module == "streams":
        return ROOT_LAYER
    matches = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(matches, key=len)] if matches else None  # the most specific entry


def modules(root: Path = ROOT) -> dict[str, list[str]]:
    return {module_name(p, root): list(imports(p, root)) for p in sorted(root.rglob("*.py"))}


def upward_imports(graph: Mapping[str, list[str]]) -> list[str]:
    """Every import of a module from a higher layer than the importer's."""
    upward = []
    for module, imported in graph.items():
        own = layer(module)
        for target in imported:
            level = layer(target)
            if own is not None and level is not None and level > own:
                upward.append(f"{module} → {target}")
    return upward


def test_every_module_has_a_layer() -> None:
    missing = [m for m in modules() if layer(m) is None]
    assert not missing, f"declare the layer of {missing} in LAYERS"


def test_no_import_runs_back_up() -> None:
    upward = upward_imports(modules())
    assert not upward, upward


def test_an_import_back_up_is_caught_in_a_synthetic_graph() -> None:
    graph = {"streams.events": [], "streams.core.text": ["streams.events"],
             "streams.sources.base": ["streams.commands.ingest"]}
    assert upward_imports(graph) == ["streams.sources.base → streams.commands.ingest"]


def test_an_import_back_up_planted_in_a_copy_of_the_tree_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "streams"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("data", "__pycache__"))
    assert not upward_imports(modules(copy))
    engine = copy / "engine.py"
    engine.write_text(engine.read_text(encoding="utf-8")
                      + "\n\ndef late() -> None:\n    from streams.commands import ingest\n",
                      encoding="utf-8")
    events = copy / "events.py"
    events.write_text(events.read_text(encoding="utf-8") + "\nfrom .core import text\n",
                      encoding="utf-8")
    assert upward_imports(modules(copy)) == ["streams.engine → streams.commands.ingest",
                                             "streams.events → streams.core",
                                             "streams.events → streams.core.text"]


def test_events_is_a_leaf_and_the_core_is_pure() -> None:
    for module, imported in modules().items():
        if module == "streams.events":
            assert not [t for t in imported if t.startswith("streams")], imported
        if module.startswith("streams.core"):
            assert not [t for t in imported if t.split(".")[0] in PURE_FORBIDDEN], module
            assert all(t == "streams.events" or t.startswith("streams.core")
                       for t in imported if t.startswith("streams")), (module, imported)


def test_no_import_cycle_between_modules() -> None:
    graph = {m: {t for t in imported if t.startswith("streams") and t != m}
             for m, imported in modules().items()}
    # An import of a package runs its __init__, so it stands for the package's modules.
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if state.get(target) == 1:
                cycle.extend([*path, node, target])
                return True
            if state.get(target) is None and visit(target, [*path, node]):
                return True
        state[node] = 2
        return False

    for node in graph:
        if state.get(node) is None and visit(node, []):
            break
    assert not cycle, " → ".join(cycle)


def test_the_future_skew_rule_has_one_home() -> None:
    """One constant and one predicate (streams.events): no module defines its own bound."""
    homes = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, ast.AnnAssign) else [])
            value = getattr(node, "value", None)
            for target in targets:
                name = getattr(target, "id", "")
                if "skew" in name.lower() and isinstance(value, ast.Constant):
                    homes.append(f"{module_name(path)}.{name}")
    assert homes == ["streams.events.MAX_FUTURE_SKEW_SECONDS"]
