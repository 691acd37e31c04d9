"""`import lash_postgres` without psycopg: a coded error that is also an ImportError."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
sys.modules["psycopg"] = None  # as if psycopg were not installed
try:
    import lash_postgres
except ImportError as error:
    print(type(error).__name__, error.code, isinstance(error, Exception))
    print(error.message)
"""


def test_import_without_psycopg_names_the_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    first, message = done.stdout.strip().splitlines()
    assert first == "PostgresDriverMissing store_driver_missing True"
    assert "pip install 'lash-effects[postgres]'" in message
