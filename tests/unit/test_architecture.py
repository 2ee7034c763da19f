"""The import drawing: data flows one way, and no import runs back up.

Layers, lowest first; a module may import its own layer's modules and lower layers only
(plus the standard library and third-party packages the layer is allowed):

    events  →  core  →  engine, wire, config  →  metrics  →  worker parts  →  app  →  cli

The core is pure: no Faust, Kafka, Prometheus or JSON-library import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import streams

ROOT = Path(streams.__file__).parent

LAYERS: dict[str, int] = {
    "streams.events": 0,
    "streams.core": 1,
    "streams.engine": 2, "streams.wire": 2, "streams.config": 2,
    "streams.metrics": 3,
    "streams.ownership": 4, "streams.state": 4, "streams.gauges": 4, "streams.api": 4,
    "streams.health": 4, "streams.web": 4, "streams.broker": 4,
    "streams.runtime": 5,
    "streams.agents": 6,
    "streams.app": 7,
}
PURE_FORBIDDEN = ("faust", "aiokafka", "kafka", "prometheus_client", "orjson", "mode")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[str]:
    """Every module imported anywhere in the file (deferred imports included)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def layer(module: str) -> int | None:
    for prefix, level in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return level
    return None


def modules() -> dict[str, list[str]]:
    return {module_name(p): list(imports(p)) for p in sorted(ROOT.rglob("*.py"))}


def test_no_import_runs_back_up() -> None:
    upward = []
    for module, imported in modules().items():
        own = layer(module)
        if own is None:
            continue
        for target in imported:
            level = layer(target)
            if level is not None and level > own:
                upward.append(f"{module} → {target}")
    assert not upward, upward


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
