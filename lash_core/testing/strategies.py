"""Hypothesis strategies for every lash wire type.

:func:`wire_values` derives a strategy from any wire type (an attrs class or a registered
union) the same way the converter derives its JSON form, so every value it draws round-trips:
``from_wire(to_wire(x), T) == x`` and the canonical bytes are stable. Named strategies for the
main types are thin wrappers.

Example::

    from hypothesis import given
    from lash_core.testing import strategies as lst

    @given(lst.resolutions())
    def test_round_trip(resolution):
        ...
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Annotated, Any, Union

import attrs
import hypothesis.strategies as st

from lash_core import wire
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.resolution import Resolution, ResolveOutcome
from lash_core.scope import ExecutionScope, WaitIdentity

__all__ = [
    "await_event_keys",
    "execution_scopes",
    "json_values",
    "resolutions",
    "resolve_outcomes",
    "signed_await_event_keys",
    "wait_identities",
    "wire_values",
]

_I64_MIN = -(2**63)
_U64_MAX = 2**64 - 1


def json_values(*, max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Free-form JSON in the reference's model (finite floats, 64-bit integers)."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=_I64_MIN, max_value=_U64_MAX)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=12)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def _ids() -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=16).filter(lambda s: bool(s.strip()))


_cache: dict[Any, st.SearchStrategy[Any]] = {}


def wire_values(tp: Any) -> st.SearchStrategy[Any]:
    """A strategy for any wire type (attrs class, registered union, or field annotation)."""
    cached = _cache.get(tp)
    if cached is None:
        cached = _cache[tp] = st.deferred(lambda: _derive(tp))
    return cached


def _derive(tp: Any) -> st.SearchStrategy[Any]:
    if wire._is_json_value(tp):
        return json_values()
    if tp is str:
        return st.text(max_size=16)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(min_value=0, max_value=_U64_MAX)
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *meta = typing.get_args(tp)
        rng = next((m for m in meta if isinstance(m, wire._IntRange)), None)
        if base is int and rng is not None:
            return st.integers(min_value=rng.lo, max_value=rng.hi)
        return wire_values(base)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(wire_values(args[0]), max_size=3).map(tuple)
        return st.tuples(*(wire_values(a) for a in args))
    if origin is Union or origin is types.UnionType:
        inner, optional = wire._strip_none(tp)
        if optional:
            return st.none() | wire_values(inner)
        args = typing.get_args(tp)
        if {typing.get_origin(a) or a for a in args} == {wire.Ok, wire.Err}:
            return st.one_of(*(wire_values(a) for a in args))
        spec = wire._unions.get(frozenset(args))
        if spec is None:
            raise TypeError(f"union {tp!r} is not registered with tagged_union()")
        return st.one_of(*(wire_values(cls) for cls in spec.by_tag.values()))
    cls = origin or tp
    if isinstance(cls, type) and attrs.has(cls):
        return _derive_record(tp)
    raise TypeError(f"no strategy for {tp!r}")


def _derive_record(tp: Any) -> st.SearchStrategy[Any]:
    cls = typing.get_origin(tp) or tp
    hints = typing.get_type_hints(cls, include_extras=True)
    type_args = typing.get_args(tp)
    params = getattr(cls, "__parameters__", ())
    subst = dict(zip(params, type_args, strict=False)) if type_args else {}
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for f in attrs.fields(cls):
        ftp = hints[f.name]
        if isinstance(ftp, typing.TypeVar):
            ftp = subst.get(ftp, Any)
        kwargs[f.name] = json_values() if ftp is Any else wire_values(ftp)
    return st.builds(cls, **kwargs)


# -- named strategies ------------------------------------------------------------------------


def execution_scopes(*, valid: bool = True) -> st.SearchStrategy[ExecutionScope]:
    """Execution scopes; with ``valid`` (the default) every id is non-blank."""
    if not valid:
        return wire_values(ExecutionScope)
    from lash_core import scope as s

    return st.one_of(
        st.builds(s.TurnScope, _ids(), _ids()),
        st.builds(s.ProcessScope, _ids()),
        st.builds(s.QueueDrainScope, _ids(), _ids()),
        st.builds(s.SessionDeleteScope, _ids()),
        st.builds(s.RuntimeOperationScope, _ids()),
    )


def wait_identities(*, valid: bool = True) -> st.SearchStrategy[WaitIdentity]:
    """Wait identities; with ``valid`` every field is non-blank and ordinals start at 1."""
    if not valid:
        return wire_values(WaitIdentity)
    from lash_core import scope as s

    return st.one_of(
        st.builds(s.ToolCompletion, _ids()),
        st.builds(s.ProcessSignal, _ids(), _ids(), st.integers(1, _U64_MAX)),
        st.just(s.TurnCancelGate()),
        st.just(s.TurnTerminal()),
        st.builds(s.Custom, _ids()),
    )


def await_event_keys() -> st.SearchStrategy[AwaitEventKey]:
    """Keys with arbitrary (not necessarily valid) signatures: the shape, not the trust."""
    return wire_values(AwaitEventKey)


def signed_await_event_keys(secret: bytes) -> st.SearchStrategy[AwaitEventKey]:
    """Keys properly signed under ``secret`` for valid scopes and waits."""
    signer = KeySigner(secret)
    return st.builds(signer.mint, execution_scopes(), wait_identities())


def resolutions() -> st.SearchStrategy[Resolution]:
    """Every resolution: ``ok`` (any JSON), ``err``, ``timeout``, ``cancelled``."""
    return wire_values(Resolution)


def resolve_outcomes() -> st.SearchStrategy[ResolveOutcome]:
    """``accepted``, ``already_resolved`` (with any terminal) and ``unknown_or_revoked``."""
    return wire_values(ResolveOutcome)
