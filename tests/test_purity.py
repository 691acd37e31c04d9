"""lash_core does no I/O, reads no clock and draws no randomness.

Every module under ``lash_core`` (except ``testing/``, the test
kit) is parsed and any import of an I/O, time, randomness or concurrency module fails the test:
``import x``, ``import x.y``, ``from x import y`` and ``from x.y import z``, at module level or
nested in a function or class, and ``__import__("x")`` / ``importlib.import_module("x")`` with a
literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lash_core"

BANNED = frozenset(
    {
        "asyncio",
        "trio",
        "socket",
        "time",
        "random",
        "secrets",
        "threading",
        "os",
        "subprocess",
        "sqlite3",
        "selectors",
        "datetime",
        "uuid",
        "multiprocessing",
        "concurrent",
        "signal",
    }
)


def _exempt(relative: str) -> bool:
    """The ``testing`` package (the pytest plugin and conformance kit) may do I/O."""
    return relative.startswith("testing/")


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _dynamic_import_name(node: ast.Call) -> str | None:
    """The literal module name of ``__import__("x")`` or ``importlib.import_module("x")``."""
    func = node.func
    is_dynamic = (isinstance(func, ast.Name) and func.id in ("__import__", "import_module")) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )
    if not is_dynamic or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def impure_imports(source: str, filename: str = "<source>") -> list[str]:
    """Every banned import in ``source``, as ``file:line: module`` strings."""
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Import | ast.ImportFrom | ast.Call):
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module is not None:
                names = [node.module]
        else:
            dynamic = _dynamic_import_name(node)
            if dynamic is not None:
                names = [dynamic]
        for name in names:
            if _top(name) in BANNED:
                found.append((node.lineno, node.col_offset, name))
    return [f"{filename}:{line}: {name}" for line, _, name in sorted(found)]


def core_modules() -> list[Path]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if not _exempt(relative):
            modules.append(path)
    return modules


def test_core_modules_are_found() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in core_modules()}
    assert {"__init__.py", "keys.py", "promise.py", "wire.py"} <= names
    assert not any(n.startswith("testing/") for n in names)


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_module_is_pure(path: Path) -> None:
    found = impure_imports(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    assert not found, "lash_core must not do I/O, read clocks or draw randomness:\n" + "\n".join(
        found
    )


def test_check_bites() -> None:
    source = """
import json
import os
import os.path as osp
from time import monotonic
from concurrent.futures import ThreadPoolExecutor
from . import secrets
from .random import choice
from lash_core import wire

class Holder:
    import threading

def later():
    import asyncio.events
    from datetime import datetime
    return __import__("socket"), importlib.import_module("uuid")
"""
    found = impure_imports(source, "synthetic.py")
    assert found == [
        "synthetic.py:3: os",
        "synthetic.py:4: os.path",
        "synthetic.py:5: time",
        "synthetic.py:6: concurrent.futures",
        "synthetic.py:12: threading",
        "synthetic.py:15: asyncio.events",
        "synthetic.py:16: datetime",
        "synthetic.py:17: socket",
        "synthetic.py:17: uuid",
    ]


def test_clean_source_passes() -> None:
    source = "import hashlib\nimport hmac\nfrom lash_core.keys import KeySigner\nimport timeit_x\n"
    assert impure_imports(source) == []
