"""JSON schemas from Python type hints, and the validator that goes with each.

:func:`signature_of` reads a function's parameters (their annotations, defaults and the
``Args:``/``Parameters`` section of its docstring) into a :class:`Signature`: the JSON schema of
its arguments (what a model is shown) and :meth:`Signature.bind`, which checks a model's
argument object against the same rules and converts it into the call's arguments (a dict into
its dataclass, a value into its enum member). The schema and the validator are built from one
tree of :class:`Shape` nodes, so they accept the same argument objects.

Supported annotations: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``/``object``,
``list[T]``, ``tuple[T, ...]``, ``dict[str, T]``, ``X | Y`` and ``Optional[X]``,
``Literal[...]`` (of str, int, bool, None), ``enum.Enum`` subclasses with str or int values,
``TypedDict`` classes, dataclasses and ``Annotated[T, "description"]``.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from lash_core import codes
from lash_core.errors import LashError
from lash_core.wire import JsonValue

__all__ = ["ArgumentsInvalid", "Shape", "Signature", "parse_docstring", "shape_of", "signature_of"]


class ArgumentsInvalid(Exception):
    """The problems found in an argument object, as ``path: problem`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Invalid(Exception):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Shape:
    """One node of a type's tree: its JSON schema and how a JSON value is checked and
    converted (raising with the path of the first problem)."""

    def schema(self) -> dict[str, JsonValue]:
        raise NotImplementedError

    def convert(self, value: object, path: str) -> Any:
        raise NotImplementedError


class _Scalar(Shape):
    def __init__(self, json_type: str, check: Callable[[object], bool], cast: Callable[..., Any]):
        self.json_type, self.check, self.cast = json_type, check, cast

    def schema(self) -> dict[str, JsonValue]:
        return {"type": self.json_type}

    def convert(self, value: object, path: str) -> Any:
        if not self.check(value):
            raise _Invalid(path, f"expected {_ARTICLE[self.json_type]}, got {_describe(value)}")
        return self.cast(value)


_ARTICLE = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


def _is_integer(value: object) -> bool:
    # JSON Schema: an integer is a number with no fractional part (1.0 is one).
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_STR = _Scalar("string", lambda v: isinstance(v, str), lambda v: v)
_INT = _Scalar("integer", _is_integer, int)
_FLOAT = _Scalar("number", _is_number, float)
_BOOL = _Scalar("boolean", lambda v: isinstance(v, bool), lambda v: v)
_NULL = _Scalar("null", lambda v: v is None, lambda v: v)


class _Any(Shape):
    def schema(self) -> dict[str, JsonValue]:
        return {}

    def convert(self, value: object, path: str) -> Any:
        return value


class _Array(Shape):
    def __init__(self, item: Shape, as_tuple: bool) -> None:
        self.item, self.as_tuple = item, as_tuple

    def schema(self) -> dict[str, JsonValue]:
        items = self.item.schema()
        return {"type": "array"} if not items else {"type": "array", "items": items}

    def convert(self, value: object, path: str) -> Any:
        if not isinstance(value, list | tuple):
            raise _Invalid(path, f"expected an array, got {_describe(value)}")
        items = [self.item.convert(item, f"{path}[{i}]") for i, item in enumerate(value)]
        return tuple(items) if self.as_tuple else items


class _Map(Shape):
    def __init__(self, value: Shape) -> None:
        self.value = value

    def schema(self) -> dict[str, JsonValue]:
        values = self.value.schema()
        return (
            {"type": "object"} if not values else {"type": "object", "additionalProperties": values}
        )

    def convert(self, value: object, path: str) -> Any:
        if not isinstance(value, dict):
            raise _Invalid(path, f"expected an object, got {_describe(value)}")
        return {k: self.value.convert(v, f"{path}.{k}") for k, v in value.items()}


def _literal_match(value: object, literal: object) -> bool:
    """JSON equality: ``true`` is not ``1``, and ``1.0`` is ``1``."""
    if isinstance(literal, bool) or isinstance(value, bool):
        return isinstance(literal, bool) and isinstance(value, bool) and literal == value
    if literal is None:
        return value is None
    if isinstance(literal, int):
        return _is_number(value) and value == literal
    return isinstance(value, str) and value == literal


class _Choice(Shape):
    """``Literal[...]`` (converted to the literal) or an enum (converted to its member)."""

    def __init__(self, values: tuple[Any, ...], results: tuple[Any, ...]) -> None:
        self.values, self.results = values, results

    def schema(self) -> dict[str, JsonValue]:
        return {"enum": list(self.values)}

    def convert(self, value: object, path: str) -> Any:
        for literal, result in zip(self.values, self.results, strict=True):
            if _literal_match(value, literal):
                return result
        choices = ", ".join(repr(v) for v in self.values)
        raise _Invalid(path, f"expected one of {choices}, got {_describe(value)}")


class _Union(Shape):
    def __init__(self, options: tuple[Shape, ...]) -> None:
        self.options = options

    def schema(self) -> dict[str, JsonValue]:
        return {"anyOf": [option.schema() for option in self.options]}

    def convert(self, value: object, path: str) -> Any:
        problems = []
        for option in self.options:
            try:
                return option.convert(value, path)
            except _Invalid as exc:
                problems.append(str(exc).split(": ", 1)[1])
        raise _Invalid(path, " or ".join(problems))


_NO_DEFAULT: Any = object()


@attrs.frozen
class _Field:
    name: str
    shape: Shape
    required: bool
    description: str | None = None
    default: object = _NO_DEFAULT


def _field_schema(field: _Field) -> dict[str, JsonValue]:
    schema = dict(field.shape.schema())
    if field.description:
        schema["description"] = field.description
    default = field.default
    if default is None or isinstance(default, str | int | float | bool):
        schema["default"] = default
    return schema


class _Object(Shape):
    """A closed object (a dataclass, a ``TypedDict``, a function's arguments)."""

    def __init__(self, fields: tuple[_Field, ...], build: Callable[[dict[str, Any]], Any]) -> None:
        self.fields, self.build = fields, build

    def schema(self) -> dict[str, JsonValue]:
        schema: dict[str, JsonValue] = {
            "type": "object",
            "properties": {field.name: _field_schema(field) for field in self.fields},
        }
        required: list[JsonValue] = [field.name for field in self.fields if field.required]
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        return schema

    def problems(self, value: object, path: str) -> tuple[dict[str, Any], list[str]]:
        """The converted fields and every problem found (top level: each field's first)."""
        where = path or "arguments"
        if not isinstance(value, dict):
            return {}, [f"{where}: expected an object, got {_describe(value)}"]
        out: dict[str, Any] = {}
        found: list[str] = []
        names = [field.name for field in self.fields]
        for key in value:
            if key not in names:
                expected = ", ".join(names) or "none"
                found.append(f"{path}{key}: unexpected argument (expected: {expected})")
        for field in self.fields:
            if field.name not in value:
                if field.required:
                    found.append(f"{path}{field.name}: missing required argument")
                continue
            try:
                out[field.name] = field.shape.convert(value[field.name], f"{path}{field.name}")
            except _Invalid as exc:
                found.append(str(exc))
        return out, found

    def convert(self, value: object, path: str) -> Any:
        out, found = self.problems(value, f"{path}.")
        if found:
            where, problem = found[0].split(": ", 1)
            raise _Invalid(where, problem)
        try:
            return self.build(out)
        except (TypeError, ValueError) as exc:  # a dataclass refusing its values
            raise _Invalid(path.rstrip(".") or "arguments", f"{type(exc).__name__}: {exc}") from exc


# -- docstrings ----------------------------------------------------------------------------

_GOOGLE_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters|"
    r"Returns?|Yields?|Raises|Examples?|Notes?|Attributes|See Also|Warnings?|Todo):\s*$"
)
_NUMPY_RULE = re.compile(r"^-{3,}\s*$")
_ARG_SECTIONS = {"Args", "Arguments", "Parameters", "Params", "Keyword Args", "Keyword Arguments"}


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The description (the text before the first section) and each parameter's description,
    from a Google-style (``Args:``) or NumPy-style (``Parameters`` over ``----------``)
    docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    description: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    numpy = False
    current: str | None = None
    entry_indent: int | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        index += 1
        if indent == 0 and stripped:
            google = _GOOGLE_SECTION.match(stripped)
            ruled = index < len(lines) and _NUMPY_RULE.match(lines[index].strip()) is not None
            if google or ruled:
                section = google.group(1) if google else stripped
                numpy = ruled and not google
                index += 1 if numpy else 0
                current, entry_indent = None, None
                continue
        if section is None:
            description.append(line)
            continue
        if section not in _ARG_SECTIONS or not stripped:
            continue
        if entry_indent is None:
            entry_indent = indent
        entry = _ENTRY.match(stripped) if indent <= entry_indent else None
        if entry is not None:
            current = entry.group(1)
            # NumPy writes "name : type"; the description follows on indented lines.
            params[current] = "" if numpy else (entry.group(2) or "").strip()
        elif current is not None:
            params[current] = (params[current] + " " + stripped).strip()
    return "\n".join(description).strip(), params


_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*(?::\s*(.*))?$")


# -- annotations ---------------------------------------------------------------------------


def _definition_error(where: str, problem: str) -> LashError:
    return LashError(codes.TOOL_DEFINITION_INVALID, f"{where}: {problem}")


def shape_of(annotation: Any, where: str, seen: frozenset[type] = frozenset()) -> Shape:
    """The :class:`Shape` of a type annotation; ``where`` names it in errors
    (``tool_definition_invalid``)."""
    if annotation is Any or annotation is object:
        return _Any()
    if annotation is None or annotation is type(None):
        return _NULL
    simple = {str: _STR, bool: _BOOL, int: _INT, float: _FLOAT}.get(annotation)
    if simple is not None:
        return simple
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return shape_of(args[0], where, seen)
    if origin is typing.Literal:
        for value in args:
            if value is not None and not isinstance(value, str | int | bool):
                raise _definition_error(where, f"Literal value {value!r} is not a JSON scalar")
        return _Choice(args, args)
    if origin is typing.Union or origin is types.UnionType:
        return _Union(tuple(shape_of(arg, where, seen) for arg in args))
    if annotation is list or origin is list:
        return _Array(shape_of(args[0], where, seen) if args else _Any(), as_tuple=False)
    if annotation is tuple or origin is tuple:
        if args and not (len(args) == 2 and args[1] is Ellipsis):
            raise _definition_error(where, "only tuple[T, ...] has a JSON schema")
        return _Array(shape_of(args[0], where, seen) if args else _Any(), as_tuple=True)
    if annotation is dict or origin is dict:
        if args and args[0] is not str:
            raise _definition_error(where, "dict keys must be str (JSON object keys)")
        return _Map(shape_of(args[1], where, seen) if args else _Any())
    if isinstance(annotation, type):
        return _class_shape(annotation, where, seen)
    raise _definition_error(where, f"{annotation!r} has no JSON schema")


def _class_shape(cls: type, where: str, seen: frozenset[type]) -> Shape:
    if cls in seen:
        raise _definition_error(where, f"{cls.__name__} refers to itself (recursive types)")
    seen = seen | {cls}
    if issubclass(cls, enum.Enum):
        members = tuple(cls)
        for member in members:
            if isinstance(member.value, bool) or not isinstance(member.value, str | int):
                raise _definition_error(where, f"{cls.__name__}'s values must be str or int")
        return _Choice(tuple(m.value for m in members), members)
    docs = parse_docstring(cls.__doc__)[1]
    if typing.is_typeddict(cls):
        hints = typing.get_type_hints(cls, include_extras=True)
        required = cls.__required_keys__  # type: ignore[attr-defined]
        fields = tuple(
            _Field(
                name,
                shape_of(_strip_required(hint), f"{where}.{name}", seen),
                _typed_dict_required(hint, name in required),
                docs.get(name) or _annotated_doc(hint),
            )
            for name, hint in hints.items()
        )
        return _Object(fields, dict)
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls, include_extras=True)
        built: list[_Field] = []
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            missing = field.default is dataclasses.MISSING
            missing = missing and field.default_factory is dataclasses.MISSING
            hint = hints[field.name]
            built.append(
                _Field(
                    field.name,
                    shape_of(hint, f"{where}.{field.name}", seen),
                    missing,
                    docs.get(field.name) or _annotated_doc(hint),
                    _NO_DEFAULT if field.default is dataclasses.MISSING else field.default,
                )
            )
        return _Object(tuple(built), lambda values: cls(**values))
    raise _definition_error(where, f"{cls.__name__} has no JSON schema")


def _typed_dict_required(hint: Any, declared: bool) -> bool:
    # ``__required_keys__`` misses ``NotRequired`` written as a string annotation (``from
    # __future__ import annotations``); the resolved hint still carries it.
    origin = typing.get_origin(hint)
    if origin is typing.NotRequired:
        return False
    return True if origin is typing.Required else declared


def _strip_required(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Required or origin is typing.NotRequired:
        return typing.get_args(hint)[0]
    return hint


def _annotated_doc(hint: Any) -> str | None:
    if typing.get_origin(hint) is typing.Annotated:
        for meta in typing.get_args(hint)[1:]:
            if isinstance(meta, str):
                return meta
    return None


# -- signatures ----------------------------------------------------------------------------


@attrs.frozen(eq=False)
class Signature:
    """A function's arguments as a JSON schema, and how a model's arguments become a call.

    ``context`` names the parameter that receives the tool's context (left out of the
    schema), if there is one; ``positional`` the positional-only parameters, in order.
    """

    description: str
    shape: _Object
    context: str | None
    positional: tuple[str, ...]

    def schema(self) -> dict[str, JsonValue]:
        """The JSON schema of the argument object."""
        return self.shape.schema()

    def bind(self, args: object, context: object = None) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments of the call for ``args`` (the model's
        argument object); raises :class:`ArgumentsInvalid` listing every problem."""
        values, problems = self.shape.problems(args, "")
        if problems:
            raise ArgumentsInvalid(problems)
        if self.context is not None:
            values[self.context] = context
        positional = [values.pop(name) for name in self.positional if name in values]
        return positional, values


def _is_context(hint: Any, context_type: type) -> bool:
    """``hint`` is the context type, or it or ``None`` (``ctx: ToolContext | None = None``)."""
    if hint is context_type:
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        args = set(typing.get_args(hint))
        return args == {context_type, type(None)}
    return False


def signature_of(fn: Callable[..., Any], where: str, context_type: type | None = None) -> Signature:
    """The :class:`Signature` of ``fn``; a parameter annotated ``context_type`` (or
    ``context_type | None``) receives the context. Raises ``tool_definition_invalid`` naming
    ``where`` and the parameter."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # an annotation that does not resolve (a typo, a missing import)
        raise _definition_error(where, f"its annotations do not resolve: {exc}") from exc
    description, docs = parse_docstring(inspect.getdoc(fn))
    fields: list[_Field] = []
    context: str | None = None
    positional: list[str] = []
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise _definition_error(where, f"*{name} / **{name} cannot be described to a model")
        hint = hints.get(name, param.empty)
        if context_type is not None and _is_context(hint, context_type):
            context = name
            if param.kind is param.POSITIONAL_ONLY:
                positional.append(name)
            continue
        if hint is param.empty:
            raise _definition_error(where, f"parameter {name!r} has no type annotation")
        if param.kind is param.POSITIONAL_ONLY:
            positional.append(name)
        required = param.default is param.empty
        fields.append(
            _Field(
                name,
                shape_of(hint, f"{where}: parameter {name!r}"),
                required,
                docs.get(name) or _annotated_doc(hint),
                _NO_DEFAULT if required else param.default,
            )
        )
    shape = _Object(tuple(fields), lambda values: values)
    return Signature(description, shape, context, tuple(positional))


_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})


def plain_json(value: object) -> object:
    """A tool's return value as JSON data: a dataclass as its fields, an enum as its value, a
    tuple as a list (anything else as it is; the host checks it is JSON)."""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return value
    if kind is dict:
        return {key: plain_json(item) for key, item in value.items()}  # type: ignore[attr-defined]
    if kind is list or kind is tuple:
        return [plain_json(item) for item in value]  # type: ignore[attr-defined]
    if isinstance(value, enum.Enum):
        return plain_json(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_json(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(item) for item in value]
    return value
