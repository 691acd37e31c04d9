"""Every error code is declared once in ``lash_core.codes`` and documented in docs/errors.md.

* every code in ``CODES`` appears verbatim in backticks as a heading or a table cell of
  ``docs/errors.md``, and every code the page lists in a table is a real code;
* every ``Final`` string constant of ``lash_core/codes.py`` is a key of ``CODES``, and every
  key has its constant;
* every code passed to ``LashError``, ``LocalProtocolError``, ``WireDecodeError`` or
  ``ReplayMismatchError`` anywhere in the lash packages (a literal, a ``codes.X`` constant, a name
  imported from ``lash_core.codes`` or a module-level string constant) is a key of ``CODES``;
* every ``codes.NAME`` reference in ``lash_core`` names a code of ``CODES``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from lash_core import codes
from lash_core.codes import CODES

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lash_core"
ERRORS_PAGE = ROOT / "docs" / "errors.md"
ERROR_CLASSES = frozenset(
    {"LashError", "LocalProtocolError", "WireDecodeError", "ReplayMismatchError"}
)


def documented_codes(markdown: str) -> tuple[set[str], set[str]]:
    """(codes named in headings or table cells, codes in the first cell of a table row)."""
    anywhere: set[str] = set()
    first_cells: set[str] = set()
    for line in markdown.splitlines():
        stripped = line.strip()
        heading = re.fullmatch(r"#{1,6}\s+`([a-z][a-z0-9_]*)`\s*", stripped)
        if heading:
            anywhere.add(heading.group(1))
            continue
        if not stripped.startswith("|"):
            continue
        cells = [c.strip() for c in stripped.strip("|").split("|")]
        for index, cell in enumerate(cells):
            match = re.fullmatch(r"`([a-z][a-z0-9_]*)`", cell)
            if match:
                anywhere.add(match.group(1))
                if index == 0:
                    first_cells.add(match.group(1))
    return anywhere, first_cells


def test_every_code_is_documented() -> None:
    anywhere, _ = documented_codes(ERRORS_PAGE.read_text(encoding="utf-8"))
    missing = sorted(set(CODES) - anywhere)
    assert not missing, f"codes missing from docs/errors.md (as a heading or table cell): {missing}"


def test_documented_codes_exist() -> None:
    _, listed = documented_codes(ERRORS_PAGE.read_text(encoding="utf-8"))
    assert listed, "docs/errors.md lists no codes in its tables"
    unknown = sorted(listed - set(CODES))
    assert not unknown, f"docs/errors.md lists codes that lash_core.codes does not: {unknown}"


def final_string_constants(source: str) -> dict[str, str]:
    """Module-level ``NAME: Final = "text"`` (or ``Final[str]``) constants of ``source``."""
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        annotation = node.annotation
        base = annotation.value if isinstance(annotation, ast.Subscript) else annotation
        if not (isinstance(base, ast.Name) and base.id == "Final"):
            continue
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found[node.target.id] = node.value.value
    return found


def test_every_code_constant_is_in_codes() -> None:
    constants = final_string_constants((PACKAGE / "codes.py").read_text(encoding="utf-8"))
    assert len(constants) >= 10
    for name, value in constants.items():
        assert value in CODES, f"codes.{name} = {value!r} is not a key of CODES"
        assert getattr(codes, name) == value
    assert set(CODES) == set(constants.values()), "every key of CODES needs its constant"


def test_codes_are_snake_case_and_explained() -> None:
    for code, meaning in CODES.items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", code), code
        assert meaning.strip(), f"{code} has no meaning"


# -- codes raised in lash_core ---------------------------------------------------------------


class _Unresolved:
    """A code argument that is not a constant (a variable passed through)."""


UNRESOLVED = _Unresolved()


def _module_string_constants(tree: ast.Module) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if (
            isinstance(target, ast.Name)
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            out[target.id] = value.value
    return out


def _names_from_codes(tree: ast.Module) -> dict[str, str]:
    """Local name -> constant name for ``from lash_core.codes import X [as Y]``."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "lash_core.codes":
            for alias in node.names:
                out[alias.asname or alias.name] = alias.name
    return out


def _error_class(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name) and func.id in ERROR_CLASSES:
        return func.id
    if isinstance(func, ast.Attribute) and func.attr in ERROR_CLASSES:
        return func.attr
    return None


def raised_codes(source: str, filename: str) -> list[tuple[str, str | _Unresolved]]:
    """(``file:line``, code) for every error-class call in ``source``.

    Raises ``AssertionError`` for a ``codes.X`` that does not exist.
    """
    tree = ast.parse(source, filename)
    constants = _module_string_constants(tree)
    from_codes = _names_from_codes(tree)
    found: list[tuple[int, str, str | _Unresolved]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _error_class(node.func) is None:
            continue
        arg: ast.expr | None = node.args[0] if node.args else None
        for keyword in node.keywords:
            if keyword.arg == "code":
                arg = keyword.value
        if arg is None:
            continue
        where = f"{filename}:{node.lineno}"
        code: str | _Unresolved = UNRESOLVED
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            code = arg.value
        elif (
            isinstance(arg, ast.Attribute)
            and isinstance(arg.value, ast.Name | ast.Attribute)
            and (arg.value.id if isinstance(arg.value, ast.Name) else arg.value.attr) == "codes"
        ):
            assert hasattr(codes, arg.attr), f"{where}: codes.{arg.attr} does not exist"
            code = getattr(codes, arg.attr)
        elif isinstance(arg, ast.Name) and arg.id in from_codes:
            name = from_codes[arg.id]
            assert hasattr(codes, name), f"{where}: lash_core.codes has no {name}"
            code = getattr(codes, name)
        elif isinstance(arg, ast.Name) and arg.id in constants:
            code = constants[arg.id]
        found.append((node.lineno, where, code))
    return [(where, code) for _, where, code in sorted(found, key=lambda item: item[0])]


PACKAGES = (
    "lash_core",
    "lash_cli",
    "lash_trio",
    "lash_asyncio",
    "lash_sqlite",
    "lash_postgres",
    "lash_restate",
    "lash_providers",
)
"""Every package whose raised codes must be declared in ``lash_core.codes``."""


def _core_sources() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _core_sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_raised_codes_are_known(path: Path) -> None:
    found = raised_codes(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    bad = [
        f"{where}: {code!r}" for where, code in found if isinstance(code, str) and code not in CODES
    ]
    assert not bad, "codes raised but missing from lash_core.codes.CODES:\n" + "\n".join(bad)


def test_scan_finds_the_registry_codes() -> None:
    # The registry's modules: its lookups and sessions, and its parked waits.
    resolved = {
        code
        for name in ("promise.py", "_promise_wait.py")
        for _, code in raised_codes((PACKAGE / name).read_text(encoding="utf-8"), name)
        if isinstance(code, str)
    }
    assert {
        codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED,
        codes.AWAIT_EVENT_WAITER_UNKNOWN,
        codes.TURN_CONTROL_WAIT_CANCELLED,
    } <= resolved


def test_scan_bites() -> None:
    source = """
from lash_core import codes
from lash_core.codes import WIRE_DECODE as DECODE
from lash_core.errors import LashError, LocalProtocolError
from lash_core import errors

LOCAL: str = "made_up_local"

def f(code):
    raise LashError("made_up_literal", "x")

def g():
    raise errors.LocalProtocolError(codes.WIRE_DECODE, "x")

def h():
    raise LocalProtocolError(code=DECODE, message="x")

def i(code):
    raise LashError(code, "passed through")

def j():
    raise LashError(LOCAL, "x")
"""
    found = raised_codes(source, "synthetic.py")
    assert found == [
        ("synthetic.py:10", "made_up_literal"),
        ("synthetic.py:13", "wire_decode"),
        ("synthetic.py:16", "wire_decode"),
        ("synthetic.py:19", UNRESOLVED),
        ("synthetic.py:22", "made_up_local"),
    ]
    with pytest.raises(AssertionError, match=r"codes\.NO_SUCH_CODE does not exist"):
        raised_codes("raise LashError(codes.NO_SUCH_CODE, 'x')\n", "bad.py")


def codes_references(source: str, filename: str) -> list[tuple[str, str]]:
    """(``file:line``, name) for every ``codes.NAME`` in ``source`` (helpers such as
    ``_fail(codes.X, ...)`` pass codes on without naming an error class)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "codes"
        ):
            found.append((node.lineno, f"{filename}:{node.lineno}", node.attr))
    return [(where, name) for _, where, name in sorted(found)]


@pytest.mark.parametrize("path", _core_sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_codes_references_exist(path: Path) -> None:
    found = codes_references(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    bad = [
        f"{where}: codes.{name}"
        for where, name in found
        if name != "CODES" and getattr(codes, name, None) not in CODES
    ]
    assert not bad, "references to codes that are not in CODES:\n" + "\n".join(bad)


def test_codes_references_bite() -> None:
    source = "from lash_core import codes\nraise _fail(codes.NOT_A_CODE, 'x')\nx = codes.CODES\n"
    assert codes_references(source, "s.py") == [("s.py:2", "NOT_A_CODE"), ("s.py:3", "CODES")]
