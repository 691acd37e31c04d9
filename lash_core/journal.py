"""The effect journal: what a durable host remembers so a replay never runs an effect twice.

An :class:`EffectJournal` holds one :class:`JournalEntry` per replay key: the canonical envelope
(its JSON and hash) and the outcome the effect produced. Asked about an envelope
(:meth:`EffectJournal.lookup`) it answers in one of three ways:

* the replay key was recorded with the same envelope: the recorded outcome;
* the replay key was recorded with a different envelope: a
  :class:`~lash_core.errors.ReplayMismatchError` naming the divergent JSON paths (the code
  changed between the run and its replay, or two different effects share an identity);
* the replay key is new: ``None``, and the effect must run.

The journal is pure data: it never runs anything (:func:`lash_core.durable.run_effect` does)
and never touches a file. It writes itself as JSON lines, one entry per line, through the wire
converter, so a host can append each new entry to durable storage as it is recorded
(``on_record``) and a restarted process can load them (:meth:`EffectJournal.from_json_lines`)
and replay.

Every refusal leaves the journal unchanged: recording a kind of outcome the envelope did not ask
for (``runtime_effect_wrong_outcome``), recording a key twice (``effect_journal_entry_exists``),
or loading text with any bad line (``effect_journal_corrupt_entry``, naming the line).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import attrs

from lash_core import codes
from lash_core.canonical import sha256_hex
from lash_core.effects.envelope import CanonicalEnvelope, EffectEnvelope
from lash_core.effects.outcomes import EffectOutcome
from lash_core.errors import LashError, LocalProtocolError
from lash_core.replay import EnvelopeDiff, envelope_diff, validate_replayed_effect_envelope
from lash_core.wire import canonical_json, from_json

__all__ = ["EffectJournal", "JournalEntry"]


@attrs.frozen
class JournalEntry:
    """One recorded effect: ``{"replay_key": ..., "envelope": {"json", "hash"}, "outcome"}``.

    ``envelope`` is the canonical pair durable stores keep as one unit; ``outcome`` is the
    effect's outcome, of the envelope's kind.
    """

    replay_key: str
    envelope: CanonicalEnvelope
    outcome: EffectOutcome

    def to_json(self) -> str:
        """This entry as one line of canonical JSON (no newline)."""
        return canonical_json(self)

    @classmethod
    def from_json(cls, text: str) -> JournalEntry:
        """Decode and check one line (see :meth:`EffectJournal.from_json_lines`); raises
        ``effect_journal_corrupt_entry``."""
        return _decode_line(text, "journal entry")


def _corrupt(where: str, detail: str) -> LashError:
    return LashError(codes.EFFECT_JOURNAL_CORRUPT_ENTRY, f"{where}: {detail}")


def _decode_line(text: str, where: str) -> JournalEntry:
    """Decode and check one entry; ``where`` names it in errors (``journal line 3``)."""
    try:
        entry = from_json(text, JournalEntry)
        pair = entry.envelope
        if sha256_hex(pair.json.encode("utf-8")) != pair.hash:
            raise _corrupt(where, "the envelope hash is not the SHA-256 of its json")
        envelope = from_json(pair.json, EffectEnvelope)
    except UnicodeEncodeError:
        raise _corrupt(where, "the envelope json holds a lone surrogate") from None
    except LashError as exc:
        if exc.code == codes.EFFECT_JOURNAL_CORRUPT_ENTRY:
            raise
        raise _corrupt(where, str(exc)) from None
    if envelope.replay_key != entry.replay_key:
        raise _corrupt(
            where,
            f"the entry's replay key {entry.replay_key!r} is not its envelope's "
            f"({envelope.replay_key!r})",
        )
    if entry.outcome.kind is not envelope.kind:
        raise _corrupt(
            where, f"expected {envelope.kind.value} outcome, got {entry.outcome.kind.value}"
        )
    return entry


def _replay_key(envelope: EffectEnvelope) -> str:
    key = envelope.replay_key
    if not key:
        raise LocalProtocolError(
            codes.RUNTIME_EFFECT_REPLAY_REQUIRED, "a journaled effect requires replay.key"
        )
    return key


class EffectJournal:
    """Recorded outcomes by replay key (see the module documentation).

    ``entries`` preloads the journal (checked as :meth:`load` checks them); ``on_record`` is
    called with each entry :meth:`record` adds, after it was added: append ``entry.to_json()``
    to durable storage there.

    A journal also knows which replay keys are running (:meth:`begin` / :meth:`abandon`), so
    two effects with the same identity never run at once against it. That part is not
    persisted: a restarted process starts with none running.
    """

    __slots__ = ("_entries", "_on_record", "_running")

    def __init__(
        self,
        entries: Iterable[JournalEntry] = (),
        *,
        on_record: Callable[[JournalEntry], None] | None = None,
    ) -> None:
        self._entries: dict[str, JournalEntry] = {}
        self._running: set[str] = set()
        self._on_record = on_record
        self.load(entries)

    # -- reading -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, replay_key: object) -> bool:
        return replay_key in self._entries

    def __iter__(self) -> Iterator[JournalEntry]:
        """The entries in the order they were recorded or loaded."""
        return iter(list(self._entries.values()))

    def get(self, replay_key: str) -> JournalEntry | None:
        """The entry recorded under ``replay_key``, if any."""
        return self._entries.get(replay_key)

    def lookup(self, envelope: EffectEnvelope) -> EffectOutcome | None:
        """The outcome recorded for ``envelope``, or ``None`` if its replay key is new.

        Raises :class:`~lash_core.errors.ReplayMismatchError`
        (``runtime_effect_replay_hash_mismatch``) if the key was recorded with another
        envelope, ``runtime_effect_replay_required`` if the envelope has no replay key, and
        ``runtime_effect_envelope_hash`` if it cannot be written as canonical JSON.
        """
        entry = self._entries.get(_replay_key(envelope))
        if entry is None:
            return None
        validate_replayed_effect_envelope(entry.envelope, envelope.canonical())
        return entry.outcome

    def diff(self, envelope: EffectEnvelope) -> EnvelopeDiff | None:
        """Both sides of every path where ``envelope`` differs from the one recorded under its
        replay key (``None`` if the key is new; an empty diff if they agree)."""
        entry = self._entries.get(_replay_key(envelope))
        if entry is None:
            return None
        return envelope_diff(entry.envelope, envelope.canonical())

    # -- recording ---------------------------------------------------------------------------

    def begin(self, envelope: EffectEnvelope) -> EffectOutcome | None:
        """:meth:`lookup`, and when the key is new, mark it running until :meth:`record` or
        :meth:`abandon` (``effect_journal_entry_in_flight`` if it already is)."""
        recorded = self.lookup(envelope)
        if recorded is not None:
            return recorded
        key = _replay_key(envelope)
        if key in self._running:
            raise LocalProtocolError(
                codes.EFFECT_JOURNAL_ENTRY_IN_FLIGHT,
                f"an effect with replay key {key!r} is already running against this journal",
            )
        self._running.add(key)
        return None

    def abandon(self, envelope: EffectEnvelope) -> None:
        """Forget that ``envelope``'s key is running (it failed; nothing is recorded)."""
        self._running.discard(_replay_key(envelope))

    def record(self, envelope: EffectEnvelope, outcome: EffectOutcome) -> JournalEntry:
        """Record ``outcome`` for ``envelope`` and return the entry.

        Raises (recording nothing) ``runtime_effect_wrong_outcome`` if the outcome is not of
        the envelope's kind and ``effect_journal_entry_exists`` if the key is recorded.
        """
        key = _replay_key(envelope)
        if outcome.kind is not envelope.kind:
            raise LocalProtocolError(
                codes.RUNTIME_EFFECT_WRONG_OUTCOME,
                f"expected {envelope.kind.value} outcome, got {outcome.kind.value}",
            )
        if key in self._entries:
            raise LocalProtocolError(
                codes.EFFECT_JOURNAL_ENTRY_EXISTS, f"replay key {key!r} is already recorded"
            )
        entry = JournalEntry(key, envelope.canonical(), outcome)
        entry.to_json()  # an outcome that cannot be written is refused before it is kept
        self._entries[key] = entry
        self._running.discard(key)
        if self._on_record is not None:
            self._on_record(entry)
        return entry

    # -- JSON lines --------------------------------------------------------------------------

    def load(self, entries: Iterable[JournalEntry]) -> None:
        """Add recorded entries (all or none): each must be consistent and new."""
        batch: dict[str, JournalEntry] = {}
        for index, entry in enumerate(entries, start=1):
            where = f"journal entry {index}"
            checked = _decode_line(entry.to_json(), where)
            self._check_new(checked.replay_key, where, batch)
            batch[checked.replay_key] = checked
        self._entries.update(batch)

    def load_json_lines(self, text: str) -> int:
        """Add the entries of ``text`` (one JSON entry per line; blank lines are skipped), all
        or none, and return how many. Raises ``effect_journal_corrupt_entry`` naming the first
        bad line, and ``effect_journal_entry_exists`` for a key this journal already holds.

        Lines end at ``\n`` (a ``\r`` before it is dropped) and nowhere else: canonical JSON
        writes U+2028 and other Unicode line breaks raw inside strings.
        """
        batch: dict[str, JournalEntry] = {}
        for number, raw in enumerate(text.split("\n"), start=1):
            if not raw.strip():
                continue
            where = f"journal line {number}"
            entry = _decode_line(raw, where)
            self._check_new(entry.replay_key, where, batch)
            batch[entry.replay_key] = entry
        self._entries.update(batch)
        return len(batch)

    def _check_new(self, key: str, where: str, batch: dict[str, JournalEntry]) -> None:
        if key in batch:
            raise _corrupt(where, f"replay key {key!r} appears twice")
        if key in self._entries:
            raise LashError(
                codes.EFFECT_JOURNAL_ENTRY_EXISTS,
                f"{where}: replay key {key!r} is already recorded",
            )

    @classmethod
    def from_json_lines(
        cls, text: str, *, on_record: Callable[[JournalEntry], None] | None = None
    ) -> EffectJournal:
        """A journal holding the entries of ``text`` (see :meth:`load_json_lines`)."""
        journal = cls(on_record=on_record)
        journal.load_json_lines(text)
        return journal

    def to_json_lines(self) -> str:
        """Every entry as one line of canonical JSON, each ending with a newline."""
        return "".join(entry.to_json() + "\n" for entry in self._entries.values())
