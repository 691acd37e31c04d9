"""The asyncio driver passes the whole conformance kit."""

from __future__ import annotations

import pytest

from lash_asyncio.testing import AsyncioDriver
from lash_core.testing.conformance import Case, Driver


@pytest.fixture
def lash_driver() -> Driver:
    return AsyncioDriver()


def test_conformance(lash_driver: Driver, lash_conformance_case: Case) -> None:
    lash_conformance_case.run(lash_driver)
