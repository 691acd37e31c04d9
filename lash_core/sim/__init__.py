"""The deterministic simulator: a third driver, pure and synchronous.

* :mod:`lash_core.sim.loop`: :class:`SimLoop` steps coroutines itself on virtual time, with a
  seeded choice among tasks ready at the same instant; :class:`SimPrimitives` gives the core
  host its loop primitives.
* :mod:`lash_core.sim.host`: :class:`SimHost`, the core inline host on a simulated loop.
* :mod:`lash_core.sim.choices`: where every choice comes from (a seed or Hypothesis data).
"""

from lash_core.sim.choices import ChoiceSource as ChoiceSource
from lash_core.sim.choices import DataChoices as DataChoices
from lash_core.sim.choices import SeededChoices as SeededChoices
from lash_core.sim.host import SimHost as SimHost
from lash_core.sim.loop import Cancelled as Cancelled
from lash_core.sim.loop import CancelScope as CancelScope
from lash_core.sim.loop import SimLoop as SimLoop
from lash_core.sim.loop import SimPrimitives as SimPrimitives
