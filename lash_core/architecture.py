"""The package's architecture as data: its layers, and the path one envelope takes.

:data:`LAYERS` assigns every module of ``lash_core``, ``lash_trio`` and ``lash_asyncio`` to a
layer (the longest matching prefix in :attr:`Layer.modules` wins); a module imports only from
its own layer and the layers below it. :data:`ENVELOPE_PATH` lists, in order, the function or
class that makes each decision about one envelope, from the turn machine handing it out to the
machine taking its outcome back. Tests check both against the code (the imports, read with
``ast``, respect the layers; every step of the path names an attribute that exists), and that
``docs/architecture.md`` shows :func:`mermaid_layers` and :func:`mermaid_path`, so the documented
architecture is the code's.
"""

from __future__ import annotations

import itertools
from typing import Final

import attrs

__all__ = ["ENVELOPE_PATH", "LAYERS", "Layer", "Step", "layer_of", "mermaid_layers", "mermaid_path"]


@attrs.frozen
class Layer:
    """A layer: its name, what it is for, and the module prefixes it holds."""

    name: str
    role: str
    modules: tuple[str, ...]


LAYERS: Final[tuple[Layer, ...]] = (
    Layer(
        "values",
        "wire values and their rules: codes, errors, canonical JSON, keys, scopes, resolutions, "
        "envelopes, commands, outcomes and the table of effect kinds",
        (
            "lash_core.codes",
            "lash_core._fields",
            "lash_core._unchecked",
            "lash_core.errors",
            "lash_core.canonical",
            "lash_core._wire_types",
            "lash_core._wire_compile",
            "lash_core.wire",
            "lash_core.keys",
            "lash_core.scope",
            "lash_core.resolution",
            "lash_core.effects",
            "lash_core.replay",
            "lash_core.journal",
            "lash_core.process.records",
            "lash_core.process.events",
            "lash_core.process.grants",
            "lash_core.process.leases",
            "lash_core.process.lifecycle",
            "lash_core.process.results",
            "lash_core.process.rows",
            "lash_core.process.wakes",
            "lash_core.process.schemas",
            "lash_core.process.authority",
            "lash_core.process.owners",
        ),
    ),
    Layer(
        "machines",
        "pure state machines: the await-event registry, the process registry, the turn machine "
        "and the turn-control values",
        (
            "lash_core.promise",
            "lash_core._promise_rules",
            "lash_core._promise_state",
            "lash_core._promise_wait",
            "lash_core.process.registry",
            "lash_core.process._state",
            "lash_core.process._registry_grants",
            "lash_core.process._registry_leases",
            "lash_core.process._registry_wakes",
            "lash_core.process._registry_event_waits",
            "lash_core.process._registry_prune",
            "lash_core.process._changes",
            "lash_core.store",
            "lash_core.process.commands",
            "lash_core.turn.config",
            "lash_core.turn.events",
            "lash_core.turn.state",
            "lash_core.turn.gate",
            "lash_core.turn.lifecycle",
            "lash_core.turn._live",
            "lash_core.turn._transitions",
            "lash_core.turn.machine",
            "lash_core.architecture",
        ),
    ),
    Layer(
        "loop contract",
        "what a driver supplies: events, waits, the clock, task groups, cancel tokens",
        ("lash_core.loop",),
    ),
    Layer(
        "host",
        "the inline host: where an envelope goes, parked waits, the process service",
        ("lash_core.routing", "lash_core.host", "lash_core.process.service"),
    ),
    Layer(
        "running",
        "driving machines on a host: run_turn and its hooks, turn control, streams, the process "
        "runner, durable steps",
        (
            "lash_core.turn",
            "lash_core.process",
            "lash_core.durable",
            "lash_core.durable_turn",
            "lash_core.durable_host",
            "lash_core.store_memory",
            "lash_core.handlers",
            "lash_core.demo_turn",
        ),
    ),
    Layer(
        "drivers",
        "event loops bound to the host: trio, asyncio, the simulator, the conformance kit",
        ("lash_trio", "lash_asyncio", "lash_core.sim", "lash_core.testing"),
    ),
    Layer(
        "surface",
        "the package's re-exports and the command line",
        ("lash_core", "lash_cli"),
    ),
)
"""Bottom to top."""


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of ``module``'s layer (``ValueError`` if it has none)."""
    best: tuple[int, int] | None = None
    for index, layer in enumerate(LAYERS):
        for prefix in layer.modules:
            if module == prefix or module.startswith(prefix + "."):
                length = len(prefix)
                if best is None or length > best[0]:
                    best = (length, index)
    if best is None:
        raise ValueError(f"module {module!r} is in no layer")
    return best[1]


@attrs.frozen
class Step:
    """One decision on an envelope's path: who makes it (``module`` and the dotted
    ``attribute`` inside it) and what it decides."""

    module: str
    attribute: str
    decision: str


ENVELOPE_PATH: Final[tuple[Step, ...]] = (
    Step("lash_core.turn._transitions", "apply", "what the next effect is (its command)"),
    Step("lash_core.turn._live", "Live.emit", "its envelope and replay key, queued"),
    Step("lash_core.turn._live", "planned", "its relative deadline, paired with it"),
    Step("lash_core.turn.machine", "TurnMachine.next", "hand out the batch (RunEffects)"),
    Step(
        "lash_core.turn.run",
        "TurnHooks.before_effect",
        "observe or journal it, or supply a recorded outcome",
    ),
    Step(
        "lash_core.turn.run",
        "TurnRunner",
        "absolute deadline on the loop's clock, run inline or in a task",
    ),
    Step("lash_core.host", "InlineHost.run_envelope", "look its kind up, once"),
    Step(
        "lash_core.effects.kinds",
        "KINDS",
        "family (handler, sleep, registry, process), outcome class, error outcome",
    ),
    Step("lash_core.promise", "AwaitEventRegistry.park", "an await_event parks on its key"),
    Step("lash_core.turn.run", "TurnHooks.after_outcome", "observe or journal the outcome"),
    Step(
        "lash_core.turn.machine",
        "TurnMachine.send",
        "check the outcome against the kind (kinds.check_outcome) and apply it",
    ),
    Step("lash_core.turn.control", "commit_turn", "under turn control: settle the gate, publish"),
)
"""One envelope, from the machine back to the machine."""


def _node(name: str) -> str:
    return name.replace(".", "_").replace(" ", "_")


def mermaid_layers() -> str:
    """The layers, bottom to top, each with its modules, as a Mermaid flowchart."""
    lines = ["flowchart BT"]
    for layer in LAYERS:
        modules = "<br/>".join(layer.modules)
        lines.append(f'    {_node(layer.name)}["<b>{layer.name}</b><br/>{modules}"]')
    for lower, upper in itertools.pairwise(LAYERS):
        lines.append(f"    {_node(upper.name)} --> {_node(lower.name)}")
    return "\n".join(lines)


def mermaid_path() -> str:
    """The envelope's path as a Mermaid sequence diagram (one participant per module)."""
    lines = ["sequenceDiagram"]
    seen: list[str] = []
    for step in ENVELOPE_PATH:
        if step.module not in seen:
            seen.append(step.module)
            lines.append(f"    participant {_node(step.module)} as {step.module}")
    previous = ENVELOPE_PATH[0].module
    for number, step in enumerate(ENVELOPE_PATH, start=1):
        lines.append(
            f"    {_node(previous)}->>{_node(step.module)}: "
            f"{number}. {step.attribute}: {step.decision}"
        )
        previous = step.module
    return "\n".join(lines)
