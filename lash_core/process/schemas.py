"""Payload schemas: the small JSON Schema subset an event type may declare for its payloads.

A declared ``payload_schema`` is checked when the process is registered
(:func:`schema_problem`; a malformed one is ``process_registration_invalid``) and every new
event of that type is checked against it before anything is appended (:func:`violation`; a
payload that does not match is ``process_event_payload_schema_mismatch`` and nothing changes).

The subset, each keyword optional:

* ``type``: one of ``object``, ``array``, ``string``, ``number``, ``integer``, ``boolean``,
  ``null``, or a list of them (``integer`` is a number with no fraction; ``true`` is not a
  number);
* ``properties`` (an object of schemas), ``required`` (a list of names) and
  ``additionalProperties`` (``false`` refuses names not in ``properties``), for objects;
* ``items`` (one schema every element matches), for arrays;
* ``enum`` (the list of allowed values) and ``const`` (the one allowed value).

Any other keyword is refused at registration, so a schema never silently checks less than its
author meant. Pure functions; nothing here holds state.
"""

from __future__ import annotations

import json
from typing import Final

from lash_core import codes
from lash_core.errors import LocalProtocolError
from lash_core.process.records import ProcessEventType
from lash_core.wire import JsonValue

__all__ = ["check_payload", "schema_problem", "violation"]

_TYPES: Final = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
_KEYWORDS: Final = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "enum", "const"}
)


def schema_problem(schema: JsonValue, at: str = "") -> str | None:
    """What is wrong with ``schema`` (``None`` when it is a well-formed schema of the subset)."""
    where = at or "the schema"
    if not isinstance(schema, dict):
        return f"{where} is not an object"
    unknown = sorted(set(schema) - _KEYWORDS)
    if unknown:
        return f"{where} uses unsupported keywords {unknown}"
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not kinds or any(not isinstance(k, str) or k not in _TYPES for k in kinds):
            return f"{where}: `type` names {kind!r}, not among {sorted(_TYPES)}"
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            return f"{where}: `properties` is not an object"
        for name, sub in properties.items():
            problem = schema_problem(sub, f"{at}/properties/{name}")
            if problem is not None:
                return problem
    required = schema.get("required")
    if required is not None and (
        not isinstance(required, list) or any(not isinstance(r, str) for r in required)
    ):
        return f"{where}: `required` is not a list of names"
    extra = schema.get("additionalProperties")
    if extra is not None and not isinstance(extra, bool):
        return f"{where}: `additionalProperties` is not a boolean"
    if "items" in schema:
        problem = schema_problem(schema["items"], f"{at}/items")
        if problem is not None:
            return problem
    if "enum" in schema and not isinstance(schema["enum"], list):
        return f"{where}: `enum` is not a list"
    return None


def _type_of(value: JsonValue) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _same(a: JsonValue, b: JsonValue) -> bool:
    # JSON equality: `true` is not `1`, and key order does not matter.
    if _type_of(a) in ("integer", "number") and _type_of(b) in ("integer", "number"):
        return a == b
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def violation(schema: JsonValue, value: JsonValue, at: str = "") -> str | None:
    """Where and how ``value`` fails ``schema`` (a well-formed schema), or ``None``."""
    assert isinstance(schema, dict)
    where = at or "the payload"
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        actual = _type_of(value)
        ok = actual in kinds or (actual == "integer" and "number" in kinds)
        if not ok:
            return f"{where} is {actual}, expected {' or '.join(map(str, kinds))}"
    if "const" in schema and not _same(schema["const"], value):
        return f"{where} is not {json.dumps(schema['const'])}"
    allowed = schema.get("enum")
    if isinstance(allowed, list) and not any(_same(a, value) for a in allowed):
        return f"{where} is not one of {json.dumps(allowed)}"
    if isinstance(value, dict):
        properties = schema.get("properties")
        props = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        for name in required if isinstance(required, list) else ():
            if isinstance(name, str) and name not in value:
                return f"{where} lacks the required property {name!r}"
        for name, item in value.items():
            if name in props:
                problem = violation(props[name], item, f"{at}/{name}")
                if problem is not None:
                    return problem
            elif schema.get("additionalProperties") is False:
                return f"{where} has the property {name!r}, which the schema does not allow"
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problem = violation(schema["items"], item, f"{at}/{index}")
            if problem is not None:
                return problem
    return None


def check_payload(pid: str, declared: ProcessEventType, payload: JsonValue) -> None:
    """Raise ``process_event_payload_schema_mismatch`` unless ``payload`` matches the schema
    ``declared`` (an event type of process ``pid``) declares, if it declares one."""
    if declared.payload_schema is None:
        return
    problem = violation(declared.payload_schema, payload)
    if problem is not None:
        raise LocalProtocolError(
            codes.PROCESS_EVENT_PAYLOAD_SCHEMA_MISMATCH,
            f"process `{pid}`: a {declared.name} payload does not match its schema: {problem}",
        )
