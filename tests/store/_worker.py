"""A separate process acting on a store file, for the cross-process tests.

python -m tests.store._worker park DB BELL_DIR    mint + park a key, print it, wait on stdin
python -m tests.store._worker resolve DB KEY_JSON RESOLUTION_JSON   print the outcome JSON
python -m tests.store._worker peek DB KEY_JSON     print the terminal JSON (or null)
"""

from __future__ import annotations

import sys

from lash_core.keys import AwaitEventKey
from lash_core.resolution import Resolution
from lash_core.scope import Custom, TurnScope
from lash_core.wire import from_json, to_json
from lash_sqlite import Doorbell, SqliteStore


def main(argv: list[str]) -> int:
    command, db = argv[0], argv[1]
    with SqliteStore(db) as store:
        if command == "park":
            bell = Doorbell(argv[2])
            key = store.mint(TurnScope("s1", "t1"), Custom("approval"))
            assert store.park(key, bell.address, deadline_ms=30_000) is None
            print(to_json(key), flush=True)
            sys.stdin.readline()  # killed here
            return 0
        key = from_json(argv[2], AwaitEventKey)
        if command == "resolve":
            resolution: Resolution = from_json(argv[3], Resolution)
            outcome = store.resolve(key, resolution)
            print(to_json(outcome), flush=True)
            return 0
        if command == "peek":
            terminal = store.peek(key)
            print("null" if terminal is None else to_json(terminal), flush=True)
            return 0
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
