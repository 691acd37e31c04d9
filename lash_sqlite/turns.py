"""Turns and the process registry's rows in the SQLite file (turn writes are fenced by the
session lease, like the journal's): all in :class:`lash_sql.turns.TurnRows`, over SQLite's
transactions (a write transaction excludes every other writer: no lock to take).
"""

from __future__ import annotations

import sqlite3

from lash_sql.turns import TurnRows
from lash_sqlite.journal import JournalTables

__all__ = ["TurnTables"]


class TurnTables(TurnRows[sqlite3.Connection], JournalTables):
    """The ``turns`` table and the ``process_*`` tables."""
