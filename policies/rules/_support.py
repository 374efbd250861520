"""Shared plumbing for the rules: rule builders, the resource view, IAM document helpers.

A rule is one pure function plus its metadata. Resource rules look like::

    def check(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
        ...yield a message per violation...

Stack rules take the list of all resources and yield ``(urn, message)`` pairs. The builders
below wrap them into pulumi-policy objects, apply the config schema's defaults (the SDK does not
do that, only the CLI does) and filter by resource type.

Only relative imports are used inside this package: the CLI runs the pack with ``policies/`` on
``sys.path`` (``import rules``) while the tests import it from the repository root
(``import policies.rules``).
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

__all__ = [
    "Resource",
    "resource_rule",
    "stack_rule",
    "as_list",
    "as_number",
    "parse_json_value",
    "policy_statements",
    "action_matches",
    "references",
    "Severity",
]

# --------------------------------------------------------------------------------------------
# The resource view handed to the pure functions.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """What a rule sees of one resource.

    ``props`` are the inputs for resource rules and the outputs for stack rules (that is what the
    engine sends). ``provider_props`` are the inputs of the resource's provider (``defaultTags``
    arrives there, often as a JSON string). ``property_dependencies`` maps a property name to the
    URNs it was computed from; the engine fills it, so stack rules can relate resources even when
    ids are still unknown during a preview.
    """

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    provider_props: Mapping[str, Any] | None = None
    property_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)


def _config_with_defaults(schema: Mapping[str, Mapping[str, Any]], given: Mapping[str, Any] | None) -> dict[str, Any]:
    config = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
    config.update(dict(given or {}))
    return config


def _stack_environment() -> str | None:
    # The CLI starts a pack with PULUMI_STACK set (and pulumi-policy configures the runtime from
    # it); outside the CLI there is no stack, and a rule that needs one must get it from config.
    return os.environ.get("PULUMI_STACK") or None


def _with_environment(config: dict[str, Any], wants_environment: bool) -> dict[str, Any]:
    if wants_environment and not config.get("environment"):
        config["environment"] = _stack_environment()
    return config


# --------------------------------------------------------------------------------------------
# Rule builders.
# --------------------------------------------------------------------------------------------

ResourceCheck = Callable[[Resource, Mapping[str, Any]], Iterable[str]]
StackCheck = Callable[[list[Resource], Mapping[str, Any]], Iterable[tuple[str, str]]]


def _schema(properties: Mapping[str, Mapping[str, Any]] | None) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(properties={key: dict(spec) for key, spec in properties.items()}) if properties else None


def resource_rule(
    *,
    name: str,
    description: str,
    severity: Severity,
    remediation: str,
    resource_types: Iterable[str] | Callable[[str], bool],
    check: ResourceCheck,
    config_schema: Mapping[str, Mapping[str, Any]] | None = None,
    uses_stack_environment: bool = False,
    enforcement_level: EnforcementLevel | None = None,
) -> ResourceValidationPolicy:
    """Build a resource policy from a pure ``check(resource, config)`` over one resource."""
    if callable(resource_types):
        applies = resource_types
    else:
        wanted = frozenset(resource_types)
        applies = wanted.__contains__
    schema_props = dict(config_schema or {})

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if not applies(args.resource_type):
            return
        provider_props = args.provider.props if args.provider is not None else None
        resource = Resource(args.resource_type, args.name, args.urn, args.props, provider_props)
        config = _with_environment(_config_with_defaults(schema_props, args.get_config()), uses_stack_environment)
        for message in check(resource, config):
            report(message, None)

    policy = ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement_level,
        config_schema=_schema(schema_props),
        severity=severity,
        remediation_steps=remediation,
    )
    policy.check = check  # type: ignore[attr-defined]  # the pure function, for tests and docs
    policy.resource_types = resource_types  # type: ignore[attr-defined]
    return policy


def stack_rule(
    *,
    name: str,
    description: str,
    severity: Severity,
    remediation: str,
    check: StackCheck,
    config_schema: Mapping[str, Mapping[str, Any]] | None = None,
    enforcement_level: EnforcementLevel | None = None,
) -> StackValidationPolicy:
    """Build a stack policy from a pure ``check(resources, config)`` yielding ``(urn, message)``."""
    schema_props = dict(config_schema or {})

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [
            Resource(
                r.resource_type,
                r.name,
                r.urn,
                r.props,
                r.provider.props if r.provider is not None else None,
                {key: [dep.urn for dep in deps] for key, deps in (r.property_dependencies or {}).items()},
            )
            for r in args.resources
        ]
        config = _config_with_defaults(schema_props, args.get_config())
        for urn, message in check(resources, config):
            report(message, urn or None)

    policy = StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement_level,
        config_schema=_schema(schema_props),
        severity=severity,
        remediation_steps=remediation,
    )
    policy.check = check  # type: ignore[attr-defined]
    return policy


# --------------------------------------------------------------------------------------------
# Value helpers. Props are Mappings/Sequences (pulumi-policy wraps them in proxies that raise
# UnknownValueError on unknown values during preview), never assume dict/list.
# --------------------------------------------------------------------------------------------


def as_number(value: Any) -> float | None:
    """A JSON number, or None. Numbers cross gRPC as doubles (``300`` arrives as ``300.0``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def as_list(value: Any) -> list[Any]:
    """IAM and friends allow a scalar or a list: normalise to a list (None -> [])."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping)):
        return [value]
    if isinstance(value, Sequence):
        return list(value)
    return [value]


class InvalidDocument(ValueError):
    """A JSON document that does not parse or is not an object."""


def parse_json_value(value: Any) -> Any:
    """Return ``value`` parsed if it is a JSON string, else unchanged (None stays None)."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidDocument(f"is not valid JSON ({exc.msg} at position {exc.pos})") from exc
    return value


def policy_statements(document: Any) -> list[Mapping[str, Any]]:
    """The statements of an IAM policy given as a JSON string or an object.

    ``Statement`` may be a single object or a list. Raises InvalidDocument for anything that is not
    a policy document.
    """
    parsed = parse_json_value(document)
    if parsed is None:
        return []
    if not isinstance(parsed, Mapping):
        raise InvalidDocument("is not a JSON object")
    statements = as_list(parsed.get("Statement"))
    for statement in statements:
        if not isinstance(statement, Mapping):
            raise InvalidDocument("has a Statement that is not an object")
    return statements


def is_allow(statement: Mapping[str, Any]) -> bool:
    return str(statement.get("Effect", "")).lower() == "allow"


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, ``*`` and ``?`` wildcards."""
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def statement_label(statement: Mapping[str, Any], index: int) -> str:
    sid = statement.get("Sid")
    return f"statement {index}" + (f" ({sid})" if sid else "")


# --------------------------------------------------------------------------------------------
# Relating resources in stack rules.
# --------------------------------------------------------------------------------------------


def safe_get(props: Mapping[str, Any], key: str) -> Any:
    """``props.get(key)`` that returns None for values unknown during preview."""
    try:
        return props.get(key)
    except UnknownValueError:
        return None


def as_object(value: Any) -> Mapping[str, Any]:
    """A nested block as an object: pulumi-aws sends some as one-element lists; anything else is ``{}``."""
    if isinstance(value, Mapping):
        return value
    first = next(iter(as_list(value)), None)
    return first if isinstance(first, Mapping) else {}


def prop_path(props: Mapping[str, Any], *keys: str) -> Any:
    """The value at ``keys`` through nested blocks (``as_object`` at each step); None where any is missing
    or unknown."""
    value: Any = props
    for key in keys:
        value = safe_get(as_object(value), key)
    return value


Where = str | tuple[str, ...]
"""Where a resource type keeps something: a property, or a path through nested blocks."""


def located(resource: Resource, where_by_type: Mapping[str, Where]) -> Any:
    """What ``resource`` keeps where ``where_by_type`` says for its type (None for another type): the walk
    the rules share, from a table of resource types to the places of the thing they judge."""
    where = where_by_type.get(resource.type)
    if where is None:
        return None
    return prop_path(resource.props, *((where,) if isinstance(where, str) else where))


def identities(resource: Resource, *name_keys: str) -> set[str]:
    """The values another resource may use to point at ``resource``: its id and names."""
    values = {resource.urn}
    for key in ("id", "arn", *name_keys):
        value = safe_get(resource.props, key)
        if isinstance(value, str) and value:
            values.add(value)
    return values


def references(child: Resource, key: str, target: Resource, *name_keys: str) -> bool:
    """Does ``child``'s property ``key`` point at ``target``?

    First by the engine's property dependencies (works in a preview where ids are unknown), then
    by value (the id, ARN or one of ``name_keys`` of the target).
    """
    if target.urn in child.property_dependencies.get(key, ()):
        return True
    value = safe_get(child.props, key)
    return isinstance(value, str) and value in identities(target, *name_keys)
