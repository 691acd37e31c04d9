"""The documented architecture is the code's: every module is in a layer, no import goes up a
layer, every step of the envelope's path names something that exists, and
``docs/architecture.md`` shows the generated diagrams."""

from __future__ import annotations

import importlib

import pytest

from lash_core.architecture import (
    ENVELOPE_PATH,
    LAYERS,
    Step,
    layer_of,
    mermaid_layers,
    mermaid_path,
)
from tests.imports import ROOT, import_graph


def test_every_module_is_in_a_layer_and_imports_only_downwards() -> None:
    upward = []
    for module, deps in sorted(import_graph().items()):
        here = layer_of(module)
        for dep in sorted(deps):
            if layer_of(dep) > here:
                upward.append(f"{module} ({LAYERS[here].name}) imports {dep}")
    assert upward == []


def test_a_module_of_no_layer_is_refused() -> None:
    with pytest.raises(ValueError):
        layer_of("elsewhere.module")
    assert LAYERS[layer_of("lash_core.turn.machine")].name == "machines"
    assert LAYERS[layer_of("lash_core.turn.run")].name == "running"


@pytest.mark.parametrize("step", ENVELOPE_PATH, ids=lambda s: f"{s.module}:{s.attribute}")
def test_each_step_of_the_path_exists(step: Step) -> None:
    target: object = importlib.import_module(step.module)
    for part in step.attribute.split("."):
        target = getattr(target, part)
    assert target is not None


def test_the_docs_show_the_generated_diagrams() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    assert f"```mermaid\n{mermaid_layers()}\n```" in page
    assert f"```mermaid\n{mermaid_path()}\n```" in page
    assert "architecture.md" in (ROOT / "mkdocs.yml").read_text("utf-8")
