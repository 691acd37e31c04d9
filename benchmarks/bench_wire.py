"""Decoding hostile documents: ``from_json`` against ``json.loads`` of the same text.

Two pathological shapes, each 10 MB in a full run, decoded as a :data:`Resolution` (what a
webhook receives):

* ``long_keys``: objects nested 120 deep (under :data:`MAX_JSON_DEPTH`), each under its own
  long key. A decoder that builds the JSON path of every node as it goes pays the sum of all
  key lengths above each node: quadratic time and memory.
* ``long_array``: a flat array of a third of the size in elements, under a key of a third of the
  size. A path string per element copies the key once per element: quadratic time.

Each gets a time figure (median over repeats of one decode, paired with ``json.loads``; budget
5x) and a memory figure (peak bytes traced by ``tracemalloc`` during one decode, against the same
for ``json.loads``; budget 3x). Both ratios are measured in the same run.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable

from benchmarks.catalog import benchmark
from benchmarks.harness import Body, Context, Figure, require
from lash_core import Resolution, from_json
from lash_core.resolution import ResolutionOk
from lash_core.wire import MAX_JSON_DEPTH

FULL_BYTES = 10_000_000
SMOKE_BYTES = 30_000
LEVELS = 120
TIME_BUDGET = 5.0
MEMORY_BUDGET = 3.0


def long_keys_document(size: int) -> str:
    """``{"status":"ok","payload":{"0000kk…":{"0001kk…":…1…}}}`` of about ``size`` bytes."""
    key_chars = max(1, size // LEVELS - 8)
    opening = "".join('{"' + f"{i:04d}" + "k" * key_chars + '":' for i in range(LEVELS))
    return '{"status":"ok","payload":' + opening + "1" + "}" * LEVELS + "}"


def long_array_document(size: int) -> str:
    """``{"status":"ok","payload":{"kk…":[0,0,…]}}``: a key of ``size/3`` characters over an
    array of ``size/3`` elements."""
    third = max(1, size // 3)
    items = ",".join(["0"] * third)
    return '{"status":"ok","payload":{"' + "k" * third + '":[' + items + "]}}"


def _peak_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes traced while ``fn()`` runs (its result dropped before tracing stops)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _figures(ctx: Context, name: str, text: str) -> list[Figure]:
    def decode() -> object:
        return from_json(text, Resolution)

    def parse() -> object:
        return json.loads(text)

    decoded = decode()
    require(isinstance(decoded, ResolutionOk), "the document decodes to an ok resolution")
    del decoded

    def subject(n: int) -> Body:
        def body() -> None:
            for _ in range(n):
                decode()

        return body

    def baseline(n: int) -> Body:
        def body() -> None:
            for _ in range(n):
                parse()

        return body

    sub, base = ctx.compare(subject, baseline, loops=1)
    detail: dict[str, float | int | str] = {
        "document_bytes": len(text),
        "max_json_depth": MAX_JSON_DEPTH,
    }
    timing = ctx.figure(
        f"wire_decode_{name}",
        sub,
        "json.loads(same text)",
        base,
        budget=TIME_BUDGET,
        detail=detail,
    )
    decode_peak = _peak_bytes(decode)
    parse_peak = _peak_bytes(parse)
    memory = Figure(
        name=f"wire_decode_{name}_memory",
        median_us=float(decode_peak),
        baseline_name="json.loads(same text)",
        baseline_us=float(parse_peak),
        ratio=decode_peak / max(parse_peak, 1),
        budget=MEMORY_BUDGET,
        unit="B",
        detail={**detail, "measured_by": "tracemalloc peak during one call"},
    )
    return [timing, memory]


@benchmark("wire_decode_long_keys")
def wire_decode_long_keys(ctx: Context) -> list[Figure]:
    """from_json(10 MB of objects nested 120 deep under long keys) vs json.loads: time, memory."""
    return _figures(ctx, "long_keys", long_keys_document(ctx.size(FULL_BYTES, SMOKE_BYTES)))


@benchmark("wire_decode_long_array")
def wire_decode_long_array(ctx: Context) -> list[Figure]:
    """from_json(10 MB: a long array under a long key) vs json.loads: time, memory."""
    return _figures(ctx, "long_array", long_array_document(ctx.size(FULL_BYTES, SMOKE_BYTES)))
