"""Validate a value against a botocore shape the way the AWS service does: types, required members,
enums, min/max (lengths in UTF-16 code units, sizes, ranges) and patterns.

botocore's own ParamValidator checks types, required members and minimums only; the services also
enforce maximums, enums and patterns, with Java's regular expressions: matched against the whole
value, ``.`` matching no line terminator (\\n \\r \\u0085 \\u2028 \\u2029), ``\\s``/``\\d``/``\\w``
ASCII-only, ``\\p{L}`` and friends Unicode properties. `java_pattern` translates such a pattern for
the ``regex`` module.

`validate(shape, value)` returns one message per problem (path, value, constraint). A key ending in
``.$`` (a Step Functions path resolved at run time) counts as its member being present, its value is
not checked: pass ``dynamic=True`` to accept those in definitions that were not executed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import botocore.session
import regex

_LINE_TERMINATORS = r"[^\n\r\u0085\u2028\u2029]"


@functools.cache
def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def input_shape(service: str, operation: str) -> Any:
    """The input shape of an operation, by its API name (``CreateTrainingJob``) or camelCase (``createTrainingJob``)."""
    model = service_model(service)
    name = operation[0].upper() + operation[1:]
    return model.operation_model(name).input_shape


def java_pattern(pattern: str) -> regex.Pattern[str]:
    """A Java regex (as botocore models carry them) compiled with Java's semantics for ``regex.fullmatch``."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        elif ch == "." and not in_class:
            out.append(_LINE_TERMINATORS)
            i += 1
            continue
        elif ch == "$" and not in_class and pattern[i + 1:i + 2] == "{":
            # Java accepts a quantified end anchor ("$" + "{1,256}"): it is just "$".
            out.append("$")
            i = pattern.index("}", i) + 1
            continue
        out.append(ch)
        i += 1
    return regex.compile("".join(out), flags=regex.ASCII | regex.V0)


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def validate(shape: Any, value: Any, path: str = "", *, dynamic: bool = False) -> list[str]:
    """Every way `value` breaks `shape` (empty when the service would accept it)."""
    problems: list[str] = []
    md = shape.metadata
    where = path or shape.name
    kind = shape.type_name

    def bad(what: str) -> None:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        problems.append(f"{where}={shown}: {what}")

    if kind == "structure":
        if not isinstance(value, Mapping):
            bad("expected an object")
            return problems
        present = {k[:-2] if k.endswith(".$") else k for k in value}
        for name in md.get("required", []):
            if name not in present:
                problems.append(f"{where}: required member {name} is missing")
        for key, member_value in value.items():
            name = key[:-2] if key.endswith(".$") else key
            if name not in shape.members:
                problems.append(f"{where}: {name} is not a member of {shape.name}")
            elif key.endswith(".$"):
                if not dynamic:
                    problems.append(f"{where}.{key}: unresolved path in resolved parameters")
            else:
                problems += validate(shape.members[name], member_value, f"{where}.{name}", dynamic=dynamic)
        return problems
    if kind == "list":
        if not isinstance(value, list):
            bad("expected a list")
            return problems
        if len(value) < md.get("min", 0) or len(value) > md.get("max", len(value)):
            bad(f"needs {md.get('min', 0)}-{md.get('max', '...')} items")
        for index, item in enumerate(value):
            problems += validate(shape.member, item, f"{where}[{index}]", dynamic=dynamic)
        return problems
    if kind == "map":
        if not isinstance(value, Mapping):
            bad("expected an object (map)")
            return problems
        if len(value) < md.get("min", 0) or len(value) > md.get("max", len(value)):
            bad(f"needs {md.get('min', 0)}-{md.get('max', '...')} entries")
        for key, item in value.items():
            if key.endswith(".$"):
                problems += validate(shape.key, key[:-2], f"{where} key {key[:-2]!r}", dynamic=dynamic)
                if not dynamic:
                    problems.append(f"{where}[{key!r}]: unresolved path in resolved parameters")
                continue
            problems += validate(shape.key, key, f"{where} key {key!r}", dynamic=dynamic)
            problems += validate(shape.value, item, f"{where}[{key!r}]", dynamic=dynamic)
        return problems
    if kind == "string":
        if not isinstance(value, str):
            bad("expected a string")
            return problems
        length = _utf16_length(value)
        if length < md.get("min", 0) or length > md.get("max", length):
            bad(f"length {length} is outside {md.get('min', 0)}-{md.get('max', '...')}")
        if shape.enum and value not in shape.enum:
            bad(f"not one of {shape.enum[:8]}{' ...' if len(shape.enum) > 8 else ''}")
        if "pattern" in md and not java_pattern(md["pattern"]).fullmatch(value):
            bad(f"does not match the pattern {md['pattern']}")
        return problems
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            bad("expected an integer")
        elif value < md.get("min", value) or value > md.get("max", value):
            bad(f"outside {md.get('min', '...')}-{md.get('max', '...')}")
        return problems
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            bad("expected a number")
        elif value < md.get("min", value) or value > md.get("max", value):
            bad(f"outside {md.get('min', '...')}-{md.get('max', '...')}")
        return problems
    if kind == "boolean":
        if not isinstance(value, bool):
            bad("expected true or false")
        return problems
    if kind == "timestamp":
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            bad("expected a timestamp")
        return problems
    if kind == "blob":
        if not isinstance(value, str):
            bad("expected base64 text")
        return problems
    bad(f"unknown shape type {kind}")
    return problems
