"""No module of the packages is over 600 lines: a file that grows past it is split by concern."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "lash_core",
    "lash_trio",
    "lash_asyncio",
    "lash_sqlite",
    "lash_restate",
    "lash_providers",
    "lash_postgres",
    "lash_cli",
    "lash_sql",
)
LIMIT = 600

MODULES = sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_the_packages_have_modules() -> None:
    assert len(MODULES) > 50


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_is_over_600_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= LIMIT
