"""Entry point: ``python -m benchmarks [--smoke] [--only NAME] [--out PATH]``."""

from __future__ import annotations

from benchmarks.runner import main

if __name__ == "__main__":
    raise SystemExit(main())
