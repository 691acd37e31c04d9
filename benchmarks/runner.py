"""``python -m benchmarks``: run the benchmarks, print a table, write a JSON report.

Budgets are reported (``ok`` / ``OVER``) but never change the exit code; only a benchmark that
crashes does (exit 1). ``--smoke`` runs everything with tiny sizes so the code cannot rot.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from benchmarks.catalog import Benchmark, all_benchmarks
from benchmarks.harness import Context, Figure, Settings

__all__ = ["DEFAULT_REPORT", "main", "run"]

DEFAULT_REPORT = Path(__file__).resolve().parent / "report.json"


def _parse(argv: Sequence[str] | None, names: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure lash_core against stdlib baselines (medians of repeats).",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes and loop counts; only checks they run"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these benchmarks (repeatable or comma-separated): {', '.join(names)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_REPORT,
        metavar="PATH",
        help=f"where to write the JSON report (default: {DEFAULT_REPORT})",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser.parse_args(argv)


def _select(benchmarks: list[Benchmark], only: list[str]) -> list[Benchmark]:
    wanted = [n.strip() for item in only for n in item.split(",") if n.strip()]
    if not wanted:
        return benchmarks
    by_name = {b.name: b for b in benchmarks}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(by_name)}"
        )
    return [b for b in benchmarks if b.name in wanted]


def _fmt_us(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def format_table(figures: Sequence[Figure]) -> str:
    """The figures as an aligned text table."""
    header = ("figure", "median", "baseline", "base", "unit", "ratio", "budget", "status")
    rows = [header]
    for f in figures:
        budgets = [] if f.budget is None else [f"<={f.budget:g}x"]
        if f.excess_budget is not None:
            budgets.append(f"+<={f.excess_budget:g} {f.unit}")
        if f.max_budget is not None:
            budgets.append(f"<={f.max_budget:g} {f.unit}")
        rows.append(
            (
                f.name,
                _fmt_us(f.median_us),
                f.baseline_name,
                _fmt_us(f.baseline_us),
                f.unit,
                f"{f.ratio:.2f}x",
                ", ".join(budgets) or "-",
                f.status,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    right = {1, 3, 5, 6}
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(
    benchmarks: Sequence[Benchmark], settings: Settings, *, log: TextIO = sys.stderr
) -> tuple[list[Figure], dict[str, str], dict[str, float]]:
    """Run benchmarks; returns the figures, the errors by benchmark, and seconds per benchmark."""
    ctx = Context(settings)
    figures: list[Figure] = []
    errors: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for bench in benchmarks:
        print(f"running {bench.name} ...", file=log, flush=True)
        started = time.perf_counter()
        try:
            figures.extend(bench.fn(ctx))
        except Exception as exc:
            errors[bench.name] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc(file=log)
        seconds[bench.name] = round(time.perf_counter() - started, 3)
    return figures, errors, seconds


def main(argv: Sequence[str] | None = None) -> int:
    benchmarks = all_benchmarks()
    args = _parse(argv, [b.name for b in benchmarks])
    if args.list:
        for b in benchmarks:
            print(f"{b.name:22} {b.summary}")
        return 0
    selected = _select(benchmarks, args.only)
    settings = Settings.smoke_mode() if args.smoke else Settings.full()
    started = time.perf_counter()
    figures, errors, seconds = run(selected, settings)
    elapsed = time.perf_counter() - started

    mode = "smoke" if settings.smoke else "full"
    print(f"\nlash benchmarks ({mode} mode, {elapsed:.1f} s)")
    print(format_table(figures))
    over = [f.name for f in figures if f.status == "OVER"]
    if over:
        note = " (smoke mode: sizes too small to judge)" if settings.smoke else ""
        print(f"\nover budget: {', '.join(over)}{note}")
    for name, message in errors.items():
        print(f"\nCRASHED {name}: {message}")

    report = {
        "mode": mode,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "settings": {
            "repeats": settings.repeats,
            "target_ms": settings.target_ns / 1e6,
            "smoke_loops": settings.smoke_loops,
        },
        "elapsed_s": round(elapsed, 3),
        "seconds": seconds,
        "figures": [f.to_json() for f in figures],
        "errors": errors,
    }
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nreport: {out}")
    return 1 if errors else 0
