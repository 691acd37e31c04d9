"""Testing support.

* the driver conformance kit (:mod:`lash_core.testing.conformance`, re-exported here): the
  :data:`CASES` every driver must pass, run through a :class:`Harness` on a :class:`Driver`;
* :mod:`lash_core.testing.strategies`: Hypothesis strategies for the wire types (needs the
  ``test`` extra, so it is imported on its own);
* :mod:`lash_core.testing.pytest_plugin`: a pytest plugin that parametrizes the conformance
  kit over its cases.
"""

from lash_core.testing.conformance import CASES as CASES
from lash_core.testing.conformance import Case as Case
from lash_core.testing.conformance import Driver as Driver
from lash_core.testing.conformance import Harness as Harness
from lash_core.testing.conformance import Schedule as Schedule
from lash_core.testing.conformance import TaskHandle as TaskHandle
from lash_core.testing.conformance import TaskResult as TaskResult
from lash_core.testing.conformance import WaiterPlan as WaiterPlan
from lash_core.testing.conformance import expected_log as expected_log
from lash_core.testing.conformance import run_schedule as run_schedule

__all__ = [
    "CASES",
    "Case",
    "Driver",
    "Harness",
    "Schedule",
    "TaskHandle",
    "TaskResult",
    "WaiterPlan",
    "expected_log",
    "run_schedule",
]
