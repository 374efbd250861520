"""What `pulumi config set` stores, so that documented commands can be tested against the program.

Follows pulumi/pulumi ``sdk/go/common/resource/config``: without ``--path`` the value is stored as the
string given; with ``--path`` the key is a path (``allowedAccountIds[0]``, ``promotionTargets[1].approval``)
and the value is coerced: ``true``/``false`` become booleans, base-10 digits that do not start with 0
become numbers (``123456789012``), anything else (``012345678901`` included) stays a string. An index one
past the end appends; a top-level value that is not a list or map is replaced by one.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PROJECT = "mlops"
_SEGMENT = re.compile(r"\[(\d+)\]|\.([A-Za-z0-9_-]+)|\[\"([^\"]+)\"\]")


@dataclass(frozen=True)
class ConfigSet:
    key: str
    """The full config key (``mlops:allowedAccountIds``, ``aws:region``)."""
    path: tuple[int | str, ...]
    """Where inside the key's value (``--path``); empty for the whole value."""
    value: Any
    """What the CLI stores: a string, or with ``--path`` possibly a bool or an int."""
    command: str
    stack: str | None = None
    """``--stack``/``-s``; None: the selected stack."""


def _coerce(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if len(text) > 1 and text[0] == "0":
        return text  # the CLI keeps leading zeros: a string
    if re.fullmatch(r"[-+]?[0-9]+", text) and -(2**63) <= int(text) < 2**64:
        return int(text)
    return text


def parse_config_set(command: str, project: str = PROJECT) -> ConfigSet:
    """Parse one ``pulumi config set [--path] [--secret] [-s STACK] KEY VALUE`` command line."""
    words = shlex.split(command, comments=True)
    if words[:3] != ["pulumi", "config", "set"]:
        raise ValueError(f"not a `pulumi config set` command: {command}")
    path, stack = False, None
    positional = []
    rest = iter(words[3:])
    for word in rest:
        if word == "--path":
            path = True
        elif word in ("--plaintext",):
            continue
        elif word in ("-s", "--stack"):
            stack = next(rest, None)
        elif word.startswith("-"):
            raise ValueError(f"flag {word} is not simulated here: {command}")
        else:
            positional.append(word)
    if len(positional) != 2:
        raise ValueError(f"expected KEY VALUE (the CLI would prompt for a missing value): {command}")
    raw_key, text = positional
    segments: tuple[int | str, ...] = ()
    name = raw_key
    if path:
        name, tail = re.match(r"([^\[.]+)(.*)", raw_key).groups()  # type: ignore[union-attr]
        found = list(_SEGMENT.finditer(tail))
        if "".join(m.group(0) for m in found) != tail:
            raise ValueError(f"cannot parse the path {raw_key!r}: {command}")
        segments = tuple(int(m.group(1)) if m.group(1) is not None else (m.group(2) or m.group(3)) for m in found)
    key = name if ":" in name else f"{project}:{name}"
    return ConfigSet(key=key, path=segments, value=_coerce(text) if path else text, command=command, stack=stack)


def _set(container: Any, path: tuple[int | str, ...], value: Any, command: str) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(container) if isinstance(container, list) else []
        if head > len(items):
            raise ValueError(f"array index out of range: {command}")
        if head == len(items):
            items.append(None)
        items[head] = _set(items[head], rest, value, command)
        return items
    mapping = dict(container) if isinstance(container, dict) else {}
    mapping[head] = _set(mapping.get(head), rest, value, command)
    return mapping


def apply(values: Mapping[str, Any], commands: list[ConfigSet]) -> dict[str, Any]:
    """The stack's typed values after running ``commands`` in order."""
    result = copy.deepcopy(dict(values))
    for command in commands:
        result[command.key] = _set(result.get(command.key), command.path, command.value, command.command)
    return result
