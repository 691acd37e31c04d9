"""The deterministic simulator: a third driver, pure and synchronous.

* :mod:`lash_core.sim.loop`: :class:`SimLoop` steps coroutines itself on virtual time, with a
  seeded choice among tasks ready at the same instant; :class:`SimPrimitives` gives the core
  host its loop primitives.
* :mod:`lash_core.sim.host`: :class:`SimHost`, the core inline host on a simulated loop.
* :mod:`lash_core.sim.choices`: where every choice comes from (a seed or Hypothesis data).
* :mod:`lash_core.sim.world`: a world of sessions, turns, tools, resolvers, cancels,
  revocations and background processes drawn from a choice source, run on any host.
* :mod:`lash_core.sim.oracles`: the properties every world must satisfy, judged from its trace.
* :mod:`lash_core.sim.run`: :func:`simulate` / :func:`simulate_seed`, one judged world.
"""

from lash_core.sim.choices import ChoiceSource as ChoiceSource
from lash_core.sim.choices import DataChoices as DataChoices
from lash_core.sim.choices import SeededChoices as SeededChoices
from lash_core.sim.host import SimHost as SimHost
from lash_core.sim.loop import Cancelled as Cancelled
from lash_core.sim.loop import CancelScope as CancelScope
from lash_core.sim.loop import SimLoop as SimLoop
from lash_core.sim.loop import SimPrimitives as SimPrimitives
from lash_core.sim.oracles import ORACLES as ORACLES
from lash_core.sim.oracles import Violation as Violation
from lash_core.sim.oracles import check_all as check_all
from lash_core.sim.run import SimReport as SimReport
from lash_core.sim.run import simulate as simulate
from lash_core.sim.run import simulate_seed as simulate_seed
from lash_core.sim.world import WorldPlan as WorldPlan
from lash_core.sim.world import WorldShape as WorldShape
from lash_core.sim.world import draw_world as draw_world
from lash_core.sim.world import run_world as run_world

__all__ = [
    "ORACLES",
    "CancelScope",
    "Cancelled",
    "ChoiceSource",
    "DataChoices",
    "SeededChoices",
    "SimHost",
    "SimLoop",
    "SimPrimitives",
    "SimReport",
    "Violation",
    "WorldPlan",
    "WorldShape",
    "check_all",
    "draw_world",
    "run_world",
    "simulate",
    "simulate_seed",
]
