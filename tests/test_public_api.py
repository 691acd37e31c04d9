"""The public surface: ``lash_core`` exports a curated set of names, and every package facade
(``lash_core.effects``, ``lash_core.turn``, ...) and public module lists its names in an
``__all__`` whose every entry resolves and none of which is private."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import lash_core

ROOT = Path(__file__).resolve().parent.parent

# What a newcomer imports: run a turn on a host, mint and resolve keys, handle errors, use the
# wire format. Adding a name here is a decision; docs/api.md lists the rest.
TOP_LEVEL = [
    "Accepted",
    "AlreadyResolved",
    "AwaitEventKey",
    "AwaitEventRegistry",
    "CANCELLED",
    "CancelToken",
    "EffectEnvelope",
    "EffectKind",
    "EffectOutcome",
    "Err",
    "ExecutionScope",
    "InlineHost",
    "JsonValue",
    "KeySigner",
    "LashError",
    "LlmCallOutcome",
    "LlmResponse",
    "LocalProtocolError",
    "Message",
    "NeedOutcomes",
    "Ok",
    "PendingCompletion",
    "ReplayMismatchError",
    "Resolution",
    "ResolveOutcome",
    "Role",
    "RunEffects",
    "ScriptedModel",
    "StopReason",
    "TIMEOUT",
    "TextPart",
    "ToolAttemptOutcome",
    "ToolCallPart",
    "ToolCompletion",
    "ToolContext",
    "ToolLaunchPending",
    "ToolSpec",
    "Toolbox",
    "TurnCompleted",
    "TurnConfig",
    "TurnEvent",
    "TurnFinished",
    "TurnHandlers",
    "TurnHooks",
    "TurnMachine",
    "TurnResult",
    "TurnRunner",
    "TurnScope",
    "TurnStopped",
    "UnknownOrRevoked",
    "Usage",
    "WaitIdentity",
    "WireDecodeError",
    "call",
    "codes",
    "direct_call",
    "durable_step",
    "err",
    "error_reply",
    "from_json",
    "from_wire",
    "ok",
    "reply",
    "run_turn",
    "to_json",
    "to_wire",
    "tool",
]

# The subpackage facades: each re-exports its names explicitly and lists them in __all__.
FACADES = [
    "lash_core",
    "lash_core.effects",
    "lash_core.handlers",
    "lash_core.turn",
    "lash_core.process",
    "lash_core.store",
    "lash_core.sim",
    "lash_core.testing",
    "lash_trio",
    "lash_asyncio",
    "lash_sqlite",
    "lash_providers",
    "lash_postgres",
    "lash_cli",
]


def _public_modules() -> list[str]:
    """Every importable module of the packages whose dotted path has no private part."""
    names: list[str] = []
    for package_name in (
        "lash_core",
        "lash_trio",
        "lash_asyncio",
        "lash_sqlite",
        "lash_providers",
        "lash_postgres",
        "lash_cli",
        "lash_sql",
    ):
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, package_name + "."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return sorted(names)


def test_the_top_level_exports_the_curated_set() -> None:
    assert sorted(lash_core.__all__) == TOP_LEVEL
    assert len(lash_core.__all__) == len(set(lash_core.__all__))


def test_the_top_level_names_are_the_facades_objects() -> None:
    """A top-level name is the same object as in the module that owns it (no copies)."""
    for name in TOP_LEVEL:
        value = getattr(lash_core, name)
        owner = getattr(value, "__module__", None)
        if isinstance(value, ModuleType) or owner is None or not owner.startswith("lash_core."):
            continue
        home = importlib.import_module(owner)
        if name in vars(home):
            assert getattr(home, name) is value, name


def test_every_facade_has_an_all() -> None:
    for name in FACADES:
        assert isinstance(importlib.import_module(name).__all__, list), name


@pytest.mark.parametrize("module_name", _public_modules())
def test_every_exported_name_resolves_and_none_is_private(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        assert module_name not in FACADES
        return
    assert len(exported) == len(set(exported)), module_name
    for name in exported:
        assert not name.startswith("_"), f"{module_name} exports private {name}"
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name}"


def test_the_public_modules_are_found() -> None:
    modules = _public_modules()
    assert "lash_core.turn.machine" in modules
    assert "lash_core.sim" in modules
    assert "lash_trio" in modules
    assert not any(name.startswith("lash_core._") for name in modules)


def test_the_api_map_lists_exactly_the_top_level_names() -> None:
    """docs/api.md's first table is the top level, name for name."""
    page = (ROOT / "docs" / "api.md").read_text("utf-8")
    table = page.split("## The top level", 1)[1].split("\n## ", 1)[0]
    listed: set[str] = set()
    for row in table.splitlines()[3:]:
        if row.startswith("|"):
            names_cell = row.split("|")[2]
            listed.update(re.findall(r"`([A-Za-z_]+)`", names_cell))
    assert sorted(listed) == TOP_LEVEL
