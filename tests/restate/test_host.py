"""The Restate turn host's refusals that need no server (a stand-in for the workflow context)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("restate")

from lash_core import LashError, codes
from lash_core.effects import EffectEnvelope, ProcessEffectCommand
from lash_core.effects.process import ProcessList
from lash_core.effects.replay_keys import process_effect_invocation
from lash_core.host import ProcessExecutor
from lash_core.process.records import SessionScope
from lash_restate import RestateTurnHost
from lash_restate._host import RestateJournal


class _Promise:
    def value(self) -> None:
        return None


class _Context:
    """Just what the host's constructor asks of a workflow context."""

    def promise(self, name: str, type_hint: Any = None) -> _Promise:
        return _Promise()


def test_process_effects_without_an_ingress_url_are_refused_with_a_code_and_run_nothing() -> None:
    command = ProcessList(SessionScope("s"))
    envelope = EffectEnvelope.build(
        process_effect_invocation("s", command.effect_id), ProcessEffectCommand(command)
    )

    async def main() -> None:
        context: Any = _Context()
        host = RestateTurnHost(context, b"0123456789abcdef0123", (), RestateJournal())
        with pytest.raises(NotImplementedError) as caught:
            await host.execute_effect(envelope, ProcessExecutor())
        assert isinstance(caught.value, LashError)
        assert caught.value.code == codes.RESTATE_PROCESSES_UNSUPPORTED

    asyncio.run(main())
