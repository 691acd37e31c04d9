"""Test configuration: the conformance kit's pytest plugin."""

pytest_plugins = ["lash_core.testing.pytest_plugin"]
