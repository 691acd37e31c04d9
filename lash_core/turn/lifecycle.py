"""The turn's lifecycle: which phase follows which, and why.

:data:`TRANSITIONS` lists every change of phase the machine makes (self-loops such as a model
retry are left out). A test drives generated turns and checks that every change of phase it
observes is listed here, and that ``docs/turns.md`` shows :func:`mermaid`'s output, so the
documented diagram is the machine's.
"""

from __future__ import annotations

from typing import Final

__all__ = ["START", "TRANSITIONS", "mermaid"]

START: Final = "start"

TRANSITIONS: Final[tuple[tuple[str, str, str], ...]] = (
    (START, "CheckingGate", "under turn control: read the cancel gate first"),
    ("CheckingGate", "WaitingSync", "no cancel, sync_execution_environment is on"),
    ("CheckingGate", "WaitingLlm", "no cancel, model call"),
    ("CheckingGate", "TurnDone", "cancel requested before start / sealed / cancelled"),
    (START, "WaitingSync", "sync_execution_environment is on"),
    (START, "WaitingLlm", "model call"),
    (START, "TurnDone", "no iteration left"),
    ("WaitingSync", "WaitingLlm", "environment synced"),
    ("WaitingSync", "TurnDone", "sync failed / cancelled"),
    ("WaitingLlm", "WaitingTools", "tool calls"),
    ("WaitingLlm", "WaitingCheckpoint", "final answer, checkpoint before completion"),
    ("WaitingLlm", "TurnDone", "final answer / stop reason / provider error / cancelled"),
    ("WaitingTools", "WaitingCheckpoint", "round settled, checkpoint after work"),
    ("WaitingTools", "WaitingSync", "round settled, next iteration synced first"),
    ("WaitingTools", "WaitingLlm", "round settled, next iteration"),
    ("WaitingTools", "TurnDone", "fail_turn / max iterations / cancelled"),
    ("WaitingCheckpoint", "WaitingSync", "delivery, next iteration synced first"),
    ("WaitingCheckpoint", "WaitingLlm", "delivery or after work, next iteration"),
    ("WaitingCheckpoint", "TurnDone", "empty delivery before completion / failed / cancelled"),
)


def mermaid() -> str:
    """The lifecycle as a Mermaid state diagram."""
    lines = ["stateDiagram-v2"]
    for source, target, label in TRANSITIONS:
        a = "[*]" if source == START else source
        lines.append(f"    {a} --> {target}: {label}")
    lines.append("    TurnDone --> [*]")
    return "\n".join(lines)
