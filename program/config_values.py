"""What the program's settings (``program/settings.py``) and the bootstrap's (``bootstrap/settings.py``)
share: the error that lists every problem, the declared key, the parsers (raw config string -> typed
value, or ``Invalid(what is allowed)``), the loop that applies them to every key, the values both
programs accept alike (account ids, environment names, regions, tag values) and the tags they derive.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ACCOUNT = re.compile(r"^\d{12}$")
ENVIRONMENT = re.compile(r"^[a-z][a-z0-9-]{1,15}$")
ENVIRONMENT_ALLOWED = "an environment name: 2 to 16 lowercase letters, digits or '-', starting with a letter"
REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{1,256}$")


class ConfigError(ValueError):
    """A configuration is invalid. ``problems`` holds one line per bad key; ``configuration`` names what
    was read ("stack", "bootstrap")."""

    configuration = "stack"

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"invalid {self.configuration} configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class Invalid(Exception):
    def __init__(self, allowed: str):
        self.allowed = allowed


@dataclass(frozen=True)
class Key:
    """One config key: how to parse it, and whether it may be absent (empty string) or is required."""

    parse: Callable[[str], Any]
    optional: bool = False
    """Absent or empty means "not set" (None)."""
    is_list: bool = False
    """Set item by item: ``pulumi config set --path '<key>[0]' <value>``."""


def parse_keys(raw: Mapping[str, str | None], keys: Mapping[str, Key],
               project: str) -> tuple[dict[str, Any], list[str]]:
    """Every key of ``keys`` parsed from ``raw`` (an optional key absent or empty: None), and one line per
    key that is missing or invalid. Keys of ``raw`` that ``keys`` does not declare are the caller's."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, spec in keys.items():
        text = raw.get(key)
        if text is None or (spec.optional and text.strip() == ""):
            if spec.optional:
                values[key] = None
            else:
                command = (f"pulumi config set --path '{key}[0]' <value>" if spec.is_list
                           else f"pulumi config set {key} <value>")
                problems.append(f"{project}:{key} is missing: it is required (set it with `{command}`)")
            continue
        try:
            values[key] = spec.parse(text)
        except Invalid as invalid:
            problems.append(f"{project}:{key} = {text!r} is invalid: expected {invalid.allowed}")
    return values, problems


def string_value(pattern: re.Pattern[str] | None = None, allowed: str = "a non-empty string") -> Callable[[str], str]:
    """A non-empty string (stripped) that ``pattern`` matches."""
    def parse(raw: str) -> str:
        value = raw.strip()
        if not value or (pattern is not None and not pattern.match(value)):
            raise Invalid(allowed)
        return value

    return parse


def one_of(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in options:
            raise Invalid("one of " + ", ".join(options))
        return raw

    return parse


def json_value(raw: str, type_: type, allowed: str) -> Any:
    """``raw`` parsed as JSON, which must be a ``type_`` (list, dict); else Invalid(allowed)."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise Invalid(allowed) from None
    if not isinstance(value, type_):
        raise Invalid(allowed)
    return value


environment_name = string_value(ENVIRONMENT, ENVIRONMENT_ALLOWED)
region_name = string_value(REGION, "an AWS region name such as eu-west-1")
owner_name = string_value(TAG_VALUE, "a team or person name (letters, digits, spaces and _.:/=+-@)")
cost_center = string_value(TAG_VALUE, "a cost-center code (letters, digits, spaces and _.:/=+-@)")


def resource_tags(*, environment: str, project: str, owner: str, cost_center: str) -> dict[str, str]:
    """The tags every resource carries (the provider's ``default_tags``; the policy pack requires them)."""
    return {"Environment": environment, "Project": project, "Owner": owner, "CostCenter": cost_center,
            "ManagedBy": "pulumi"}
