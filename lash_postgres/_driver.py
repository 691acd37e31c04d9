"""The Postgres store's one outside requirement, psycopg 3, checked before anything imports it."""

from __future__ import annotations

import importlib.util

from lash_core import codes
from lash_core.errors import LashError

__all__ = ["PostgresDriverMissing", "require_driver"]


class PostgresDriverMissing(LashError, ImportError):
    """``lash_postgres`` was imported without psycopg 3 (``store_driver_missing``); an
    ``ImportError`` too, so ``except ImportError`` around an optional import still works."""


def require_driver() -> None:
    """Raise :class:`PostgresDriverMissing`, naming the extra to install, when psycopg 3 is not
    importable."""
    if importlib.util.find_spec("psycopg") is None:
        raise PostgresDriverMissing(
            codes.STORE_DRIVER_MISSING,
            "lash_postgres needs psycopg 3, which is not installed; install it with "
            "pip install 'lash-effects[postgres]'",
        )
