"""What the ``lash`` command prints, and how: wire values as text, a stream that degrades to
the characters its encoding can carry, the demo traces as text or JSON lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import attrs

from lash_core.canonical import canonical_text_of
from lash_core.demo_keys import DemoEvent as DemoEvent
from lash_core.demo_keys import run_demo as run_demo
from lash_core.demo_keys import tamper_signature as tamper_signature
from lash_core.wire import to_json, to_wire


def _wire_data(value: Any) -> Any:
    """Plain JSON data for a value: wire values by their wire form, the rest as they are."""
    if attrs.has(type(value)):
        return to_wire(value)
    return value


def _wire_text(value: Any) -> str:
    if attrs.has(type(value)):
        return to_json(value)
    return canonical_text_of(value)


# -- output ----------------------------------------------------------------------------------


class Output(Protocol):
    """Where the command writes: any text stream (``sys.stdout``, ``io.StringIO``)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class _Degrading:
    """Writes to ``stream`` what its encoding can carry, degrading every other character: to
    ``?`` in text, and to a ``\\uXXXX`` escape in JSON lines (which stay valid JSON and decode
    to the same values). So ``PYTHONIOENCODING=ascii`` or a legacy console never crashes the
    command."""

    def __init__(self, stream: Output, *, json_escapes: bool) -> None:
        self._stream = stream
        self._encoding = getattr(stream, "encoding", None) or "utf-8"
        self._json_escapes = json_escapes

    def _fits(self, text: str) -> bool:
        if text.isascii():  # every encoding a terminal or a file uses carries ASCII
            return True
        try:
            text.encode(self._encoding)
        except UnicodeEncodeError:
            return False
        except LookupError:  # an encoding Python does not know: keep to ASCII
            return text.isascii()
        return True

    def _degrade(self, char: str) -> str:
        if self._fits(char):
            return char
        if not self._json_escapes:
            return "?"
        code = ord(char)
        if code > 0xFFFF:  # JSON escapes a character beyond the BMP as a surrogate pair
            code -= 0x10000
            return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
        return f"\\u{code:04x}"

    def write(self, text: str, /) -> int:
        if not self._fits(text):
            text = "".join(self._degrade(char) for char in text)
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return _is_terminal(self._stream)


def _is_terminal(stream: object) -> bool:
    """Whether ``stream`` is an open terminal."""
    isatty = getattr(stream, "isatty", None)
    if not callable(isatty):
        return False
    try:
        return bool(isatty())
    except (OSError, ValueError):  # closed or detached
        return False


def _print_text(events: Sequence[DemoEvent], out: Output) -> None:
    out.write("lash demo: one await-event key, driven by hand through the registry\n")
    width = max(len(e.step) for e in events)
    for number, event in enumerate(events, 1):
        out.write(f"{number:2}. {event.step:<{width}}  {event.message}\n")
        indent = " " * (width + 6)
        for label, value in event.values:
            out.write(f"{indent}{label}: {_wire_text(value)}\n")


def _print_json_lines(events: Sequence[DemoEvent], out: Output) -> None:
    for event in events:
        line: dict[str, Any] = {"step": event.step, "message": event.message}
        for label, value in event.values:
            line[label] = _wire_data(value)
        out.write(canonical_text_of(line) + "\n")
