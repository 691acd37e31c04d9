"""The SQL both stores share (lash_sql): each dialect's statements are in its own style, and the
shared package needs nothing beyond the standard library and lash_core (so lash_sqlite does
not either)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from lash_sql.dialect import POSTGRES, SQLITE, Dialect, Statements

ROOT = Path(__file__).resolve().parents[2]
SHARED = sorted((ROOT / "lash_sql").glob("*.py"))


def statements(dialect: Dialect) -> list[str]:
    """Every statement text of the dialect's :class:`Statements`."""
    found: list[str] = []
    for value in vars(Statements(dialect)).values():
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, tuple):
            found.extend(v for v in value if isinstance(v, str))
    return found


def test_sqlite_statements_use_question_marks_and_sqlite_literals() -> None:
    texts = statements(SQLITE)
    assert len(texts) > 40
    assert not [t for t in texts if "%s" in t]
    assert not [t for t in texts if "ON CONFLICT DO NOTHING" in t or " = false" in t]
    assert Statements(SQLITE).insert_blob == "INSERT OR IGNORE INTO blobs(hash, body) VALUES (?, ?)"


def test_postgres_statements_use_percent_s_and_postgres_literals() -> None:
    texts = statements(POSTGRES)
    assert not [t for t in texts if "?" in t]
    assert not [t for t in texts if "INSERT OR IGNORE" in t or "rowid" in t]
    sql = Statements(POSTGRES)
    assert sql.insert_blob == "INSERT INTO blobs(hash, body) VALUES (%s, %s) ON CONFLICT DO NOTHING"
    assert sql.pending_wakes.endswith("WHERE acknowledged = false ORDER BY seq")


def test_the_dialects_bind_a_flag_as_their_columns_hold_it() -> None:
    assert SQLITE.flag(True) == 1 and type(SQLITE.flag(True)) is int
    assert POSTGRES.flag(True) is True


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", SHARED, ids=lambda p: p.name)
def test_the_shared_sql_needs_only_the_standard_library_and_lash_core(path: Path) -> None:
    outside = _imports(path) - set(sys.stdlib_module_names) - {"lash_core", "lash_sql"}
    assert outside == set(), path


@pytest.mark.parametrize("first", ["lash_sql.journal", "lash_sql.turns", "lash_sql.await_events"])
def test_a_shared_module_imported_first_leaves_the_stores_importable(first: str) -> None:
    code = f"import {first}; import lash_sqlite; lash_sqlite.SqliteStore"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
