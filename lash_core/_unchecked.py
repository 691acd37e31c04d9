"""Constructors that skip the validators, for values the core builds itself on its hot paths.

``unchecked(cls)`` is a function taking ``cls``'s fields positionally, in order, and returning
an instance built without running its ``__init__``: each field is written through its slot's
own descriptor. Use it only where every field is known good (parts of values that were
validated when they were built, ints the core counted, constants): the public constructors
keep checking what users build.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__ = ["slot_setters", "unchecked"]

T = TypeVar("T")


def unchecked(cls: type[T]) -> Callable[..., T]:
    """A constructor of the slotted, frozen attrs class ``cls`` that takes every field
    positionally and runs no validator (``cls`` must have no converter, factory nor
    post-init hook)."""
    fields = attrs.fields(cls)  # type: ignore[arg-type]
    assert getattr(cls, "__attrs_post_init__", None) is None, f"{cls.__name__} has a post-init"
    assert all(f.converter is None and f.init for f in fields), f"{cls.__name__} converts"
    names = [f.name for f in fields]
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    body = ["    self = _new(_cls)"]
    for i, name in enumerate(names):
        scope[f"_set{i}"] = getattr(cls, name).__set__  # the slot's member descriptor
        body.append(f"    _set{i}(self, a{i})")
    body.append("    return self")
    params = ", ".join(f"a{i}" for i in range(len(names)))
    source = f"def build({params}):\n" + "\n".join(body) + "\n"
    exec(compile(source, f"<unchecked {cls.__qualname__}>", "exec"), scope)
    build: Callable[..., T] = scope["build"]
    build.__qualname__ = build.__name__ = f"unchecked_{cls.__name__}"
    return build


def slot_setters(cls: type[Any], *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of the slots of ``cls``'s fields ``names`` (which must be all its fields,
    in any order), for a builder that makes several values in one frame: it takes
    ``object.__new__(cls)`` and writes each field once, as :func:`unchecked`'s builders do
    (same conditions)."""
    fields = attrs.fields(cls)
    assert getattr(cls, "__attrs_post_init__", None) is None, f"{cls.__name__} has a post-init"
    assert all(f.converter is None and f.init for f in fields), f"{cls.__name__} converts"
    assert sorted(names) == sorted(f.name for f in fields), f"{cls.__name__}: not every field"
    return tuple(getattr(cls, name).__set__ for name in names)
