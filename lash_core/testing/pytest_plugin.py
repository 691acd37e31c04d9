"""A pytest plugin that parametrizes the conformance kit over its cases.

Load it (``pytest_plugins = ["lash_core.testing.pytest_plugin"]`` in a ``conftest.py``), provide
a ``lash_driver`` fixture returning your :class:`~lash_core.testing.conformance.Driver`, and
write one test::

    def test_conformance(lash_driver, lash_conformance_case):
        lash_conformance_case.run(lash_driver)
"""

from __future__ import annotations

import pytest

from lash_core.testing.conformance import CASES


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "lash_conformance_case" in metafunc.fixturenames:
        metafunc.parametrize("lash_conformance_case", CASES, ids=[c.name for c in CASES])
