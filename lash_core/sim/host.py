"""The simulator's effect host: the core :class:`~lash_core.host.InlineHost` on a
:class:`~lash_core.sim.loop.SimLoop`."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable

from lash_core.host import InlineHost
from lash_core.process.service import ProcessService
from lash_core.sim.loop import SimLoop, SimPrimitives

__all__ = ["SimHost", "derived_secret"]


def derived_secret(label: str) -> bytes:
    """A 32-byte signing secret derived from ``label`` (simulations need no real randomness)."""
    return hashlib.sha256(b"lash-sim-secret\x00" + label.encode()).digest()


class SimHost(InlineHost):
    """An inline effect host on a simulated loop.

    It signs keys with ``secret`` (default: one derived from ``label``, so two hosts with
    different labels never share keys and a run is reproducible) and still accepts keys signed
    with the ``previous`` secrets.
    """

    def __init__(
        self,
        loop: SimLoop,
        secret: bytes | None = None,
        previous: Iterable[bytes] = (),
        *,
        label: str = "host",
        allow_process_lifetime_completion_keys: bool = False,
    ) -> None:
        super().__init__(
            SimPrimitives(loop),
            secret,
            previous,
            secret_source=functools.partial(derived_secret, label),
            processes=ProcessService,
            allow_process_lifetime_completion_keys=allow_process_lifetime_completion_keys,
        )
        self.loop = loop
