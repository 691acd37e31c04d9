"""The trio driver passes the whole conformance kit."""

from __future__ import annotations

import pytest

from lash_core.testing.conformance import Case, Driver
from lash_trio.testing import TrioDriver


@pytest.fixture
def lash_driver() -> Driver:
    return TrioDriver()


def test_conformance(lash_driver: Driver, lash_conformance_case: Case) -> None:
    lash_conformance_case.run(lash_driver)
