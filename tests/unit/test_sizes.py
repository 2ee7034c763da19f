"""No module of `streams/` over 600 lines, no function over 80 (issue #25's targets).

Declarative tables are module-level assignments, not functions, so they count towards a
module's lines only (a module of tables, e.g. sources/synthetic_texts.py, stays under 600
too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import streams

ROOT = Path(streams.__file__).parent
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80



def oversized(root: Path = ROOT) -> list[str]:
    """'path (N lines)' for each module and 'path:function (N lines)' for each function
    over its limit, paths relative to `root`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        if (lines := text.count("\n")) > MAX_MODULE_LINES:
            found.append(f"{name} ({lines} lines)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                where = f"{name}:{node.name}"
                if lines > MAX_FUNCTION_LINES:
                    found.append(f"{where} ({lines} lines)")
    return found


def test_no_module_over_600_lines_and_no_function_over_80() -> None:
    assert oversized() == []


def test_the_check_finds_a_long_module_and_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def f() -> None:\n{body}\n" + "\n" * 600)
    (tmp_path / "short.py").write_text("def g() -> int:\n    return 1\n")
    assert oversized(tmp_path) == ["long.py (681 lines)", "long.py:f (81 lines)"]
