"""Tagging: every taggable AWS resource carries the required tags, and Environment is the stack's.

Tags count from two places, like AWS applies them: the provider's ``defaultTags`` (the provider's
inputs arrive with nested values as JSON strings) and the resource's own ``tags`` (which win).
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator, Mapping
from typing import Any

from ._support import Resource, Severity, as_list, parse_json_value, resource_rule

TAGGABLE_TYPES: frozenset[str] = frozenset(
    json.loads((pathlib.Path(__file__).parent / "taggable_types.json").read_text(encoding="utf-8"))
)

DEFAULT_REQUIRED_TAGS = ["Environment", "Project", "Owner", "CostCenter", "ManagedBy"]


def _tag_map(value: Any) -> dict[str, Any]:
    """Tags as a dict, from a map, a JSON string, or a list of ``{key, value}`` (autoscaling)."""
    value = parse_json_value(value)
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    tags: dict[str, Any] = {}
    for item in as_list(value):
        if isinstance(item, Mapping) and "key" in item:
            tags[str(item["key"])] = item.get("value")
    return tags


def effective_tags(resource: Resource) -> dict[str, Any]:
    """The provider's default tags overlaid with the resource's own tags."""
    tags: dict[str, Any] = {}
    if resource.provider_props is not None:
        default_tags = parse_json_value(resource.provider_props.get("defaultTags"))
        if isinstance(default_tags, Mapping):
            tags.update(_tag_map(default_tags.get("tags")))
    tags.update(_tag_map(resource.props.get("tags")))
    return tags


def check_required_tags(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    tags = effective_tags(resource)
    missing = [key for key in config["requiredTags"] if not str(tags.get(key) or "").strip()]
    if missing:
        yield (
            f"{resource.type} '{resource.name}' is missing required tags: {', '.join(missing)} "
            f"(it has: {', '.join(sorted(tags)) or 'none'}; the provider's defaultTags count)."
        )


def check_environment_tag(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    expected = config.get("environment")
    if not expected:
        return  # no stack and no configured environment: nothing to compare against
    key = config["environmentTag"]
    actual = effective_tags(resource).get(key)
    if actual != expected:
        shown = f"'{actual}'" if actual is not None else "missing"
        yield (
            f"{resource.type} '{resource.name}' has tag {key}={shown}; this stack's environment is "
            f"'{expected}'."
        )


required_tags = resource_rule(
    name="aws-tagging-resource-missing-required-tags",
    description="Every taggable AWS resource carries the required tags (provider default tags count).",
    severity=Severity.MEDIUM,
    remediation=(
        "Set the missing keys in the stack's AWS provider `default_tags` (preferred: one place for "
        "Environment, Project, Owner, CostCenter, ManagedBy) or in the resource's `tags`, and create "
        "the resource with that explicit provider (`opts=ResourceOptions(provider=...)` or a parent "
        "component that carries it)."
    ),
    resource_types=TAGGABLE_TYPES,
    check=check_required_tags,
    config_schema={
        "requiredTags": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "uniqueItems": True,
            "default": DEFAULT_REQUIRED_TAGS,
            "description": "Tag keys every taggable resource must carry with a non-empty value.",
        },
    },
)

environment_tag = resource_rule(
    name="aws-tagging-resource-configure-environment-tag",
    description="The Environment tag of every taggable AWS resource equals the stack's environment.",
    severity=Severity.MEDIUM,
    remediation=(
        "Derive the provider's `default_tags` Environment from the stack (the settings object), never "
        "hard-code it, and do not override it in a resource's own `tags`."
    ),
    resource_types=TAGGABLE_TYPES,
    check=check_environment_tag,
    uses_stack_environment=True,
    config_schema={
        "environmentTag": {
            "type": "string",
            "minLength": 1,
            "default": "Environment",
            "description": "The tag key that names the environment.",
        },
        "environment": {
            "type": "string",
            "minLength": 1,
            "description": "Expected environment; defaults to the stack name the CLI passes (PULUMI_STACK).",
        },
    },
)

POLICIES = [required_tags, environment_tag]
