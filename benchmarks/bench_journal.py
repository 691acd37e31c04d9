"""The effect journal: what a replay pays to answer an effect from it, and to load its lines.

``journal_replay_hit`` is :meth:`EffectJournal.lookup` of a recorded ``durable_step`` envelope
(canonical JSON and hash of the rebuilt envelope, checked against the recorded pair) against
``envelope.stable_hash()`` alone, the least any hash-checking replay must compute. The ratio is
the price of the check itself.

``journal_load_line`` is decoding one journal line (the entry, then the envelope inside it,
with every consistency check) against ``json.loads`` of the same line.
"""

from __future__ import annotations

import json

from benchmarks.bench_envelope import envelope
from benchmarks.catalog import benchmark
from benchmarks.harness import Body, Context, Figure, require
from lash_core import JsonValue
from lash_core.effects import DurableStepOutcome
from lash_core.journal import EffectJournal, JournalEntry

VALUE: JsonValue = {"forecast": [21.5, 22.0, 19.25], "source": "station-7", "ok": True}


@benchmark("journal_replay_hit")
def journal_replay_hit(ctx: Context) -> list[Figure]:
    """EffectJournal.lookup(recorded envelope) vs envelope.stable_hash()."""
    env = envelope()
    journal = EffectJournal()
    journal.record(env, DurableStepOutcome(VALUE))
    require(journal.lookup(env) == DurableStepOutcome(VALUE), "the envelope is recorded")

    def subject(n: int) -> Body:
        lookup = journal.lookup

        def body() -> None:
            for _ in range(n):
                lookup(env)

        return body

    def baseline(n: int) -> Body:
        stable_hash = env.stable_hash

        def body() -> None:
            for _ in range(n):
                stable_hash()

        return body

    sub, base = ctx.compare(subject, baseline)
    return [ctx.figure("journal_replay_hit", sub, "envelope.stable_hash()", base, budget=1.5)]


@benchmark("journal_load_line")
def journal_load_line(ctx: Context) -> list[Figure]:
    """JournalEntry.from_json(line) vs json.loads(line)."""
    journal = EffectJournal()
    entry = journal.record(envelope(), DurableStepOutcome(VALUE))
    line = entry.to_json()
    require(JournalEntry.from_json(line) == entry, "the line decodes to the entry")

    def subject(n: int) -> Body:
        decode = JournalEntry.from_json

        def body() -> None:
            for _ in range(n):
                decode(line)

        return body

    def baseline(n: int) -> Body:
        loads = json.loads

        def body() -> None:
            for _ in range(n):
                loads(line)

        return body

    sub, base = ctx.compare(subject, baseline)
    return [ctx.figure("journal_load_line", sub, "json.loads(line)", base)]
