"""The shape the code keeps: no module over 400 lines, no function over 60.

Past those sizes a module holds more than one noun and a function more than one step, and
both hide where things live; `make test` holds the line so that it cannot drift back. An
exception must be listed in `ALLOWED` with the reason it stays."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("service", "edge", "clients", "adapters", "app", "bench")
MODULE_LINES = 400
FUNCTION_LINES = 60

# "path" or "path:function" -> why it stays larger. Empty: nothing is excused today.
ALLOWED: dict[str, str] = {}


def _sources() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def oversized(path: Path, text: str) -> list[str]:
    """What in one source file passes the limits, as `ALLOWED` keys with their sizes."""
    name = path.relative_to(ROOT).as_posix() if path.is_absolute() else path.as_posix()
    found = []
    lines = len(text.splitlines())
    if lines > MODULE_LINES:
        found.append(f"{name} ({lines} lines)")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > FUNCTION_LINES:
                found.append(f"{name}:{node.name} ({length} lines)")
    return found


def _everything_oversized() -> dict[str, str]:
    found = (item for path in _sources() for item in oversized(path, path.read_text()))
    return {item.split(" (")[0]: item for item in found}


def test_no_module_or_function_passes_its_size() -> None:
    found = [item for key, item in _everything_oversized().items() if key not in ALLOWED]
    assert not found, "split these (or list them, with why, in ALLOWED):\n" + "\n".join(found)


def test_the_check_sees_long_modules_and_functions() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    text = f"def long():\n{body}\n" + "\n" * MODULE_LINES
    assert oversized(Path("service/x.py"), text) == [
        f"service/x.py ({MODULE_LINES + FUNCTION_LINES + 1} lines)",
        f"service/x.py:long ({FUNCTION_LINES + 1} lines)",
    ]
    assert oversized(Path("service/x.py"), "def short():\n    return 1\n") == []


def test_every_allowance_still_names_something_over_its_size() -> None:
    assert not set(ALLOWED) - set(_everything_oversized()), "drop these from ALLOWED: they fit"
