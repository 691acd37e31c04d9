"""The simulator passes the whole conformance kit, under FIFO scheduling and under seeds that
shuffle same-instant tasks."""

from __future__ import annotations

import pytest

from lash_core.sim.testing import SimDriver
from lash_core.testing.conformance import Case, Driver


@pytest.fixture(params=[None, 1, 2], ids=["fifo", "seed1", "seed2"])
def lash_driver(request: pytest.FixtureRequest) -> Driver:
    return SimDriver(request.param)


def test_conformance(lash_driver: Driver, lash_conformance_case: Case) -> None:
    lash_conformance_case.run(lash_driver)
