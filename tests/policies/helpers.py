"""Run one rule the way the analyzer does, without a server (pulumi-policy has no test helpers).

``run_resource_policy`` builds ``ResourceValidationArgs`` with props wrapped in the SDK's
``unknown_checking_proxy`` and returns the reported messages; ``run_stack_policy`` does the same
with ``StackValidationArgs`` and returns ``(urn, message)`` pairs. ``check_metadata`` is the
metadata part of every rule's spec (tests/policies/test_<area>.py mirrors policies/rules/<area>.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from tools.tokens import AWS_PROVIDER

STACK = "prod"
PROVIDER_URN = f"urn:pulumi:{STACK}::mlops::{AWS_PROVIDER}::aws"


def urn(resource_type: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::mlops::{resource_type}::{name}"


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def provider(default_tags: Mapping[str, str] | None, *, as_json: bool = True) -> PolicyProviderResource:
    props: dict[str, Any] = {"region": "eu-west-1"}
    if default_tags is not None:
        tags = {"tags": dict(default_tags)}
        props["defaultTags"] = json.dumps(tags) if as_json else tags
    return PolicyProviderResource(AWS_PROVIDER, unknown_checking_proxy(props), PROVIDER_URN, "aws")


def run_resource_policy(
    policy: Any,
    resource_type: str,
    props: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | None = None,
    provider_resource: PolicyProviderResource | None = None,
    name: str = "res",
) -> list[str]:
    messages: list[str] = []
    args = ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(dict(props)),
        urn(resource_type, name),
        name,
        _opts(),
        provider_resource,
        dict(config or {}),
    )
    policy.validate(args, lambda message, _urn=None: messages.append(message))
    return messages


def check_metadata(policy: Any, name: str, severity: Severity) -> None:
    """What every rule's spec checks first: its name, severity, enforcement and remediation."""
    assert policy.name == name
    assert policy.severity == severity
    # No rule fixes its own enforcement level: the pack's default (mandatory) and the environment's
    # config file (policies/config/<env>.json) decide it.
    assert policy.enforcement_level is None
    assert policy.description and policy.description.endswith(".")
    assert policy.remediation_steps and len(policy.remediation_steps) > 30


def stack_resource(
    resource_type: str, name: str, props: Mapping[str, Any], deps: Mapping[str, list[str]] | None = None
) -> PolicyResource:
    resource = PolicyResource(
        resource_type, unknown_checking_proxy(dict(props)), urn(resource_type, name), name, _opts(), None, None, [], {}
    )
    resource._deps = dict(deps or {})  # resolved to PolicyResources in run_stack_policy
    return resource


def run_stack_policy(
    policy: Any, resources: list[PolicyResource], *, config: Mapping[str, Any] | None = None
) -> list[tuple[str | None, str]]:
    by_urn = {r.urn: r for r in resources}
    for r in resources:
        r.property_dependencies = {k: [by_urn[u] for u in urns] for k, urns in getattr(r, "_deps", {}).items()}
    reported: list[tuple[str | None, str]] = []
    policy.validate(StackValidationArgs(resources, dict(config or {})), lambda m, u=None: reported.append((u, m)))
    return reported


def expect(messages: list[Any], expected: str | None) -> None:
    """``expected`` None: no violation; else one message containing ``expected``."""
    texts = [m[1] if isinstance(m, tuple) else m for m in messages]
    if expected is None:
        assert texts == [], f"unexpected violations: {texts}"
    else:
        assert texts, f"expected a violation containing {expected!r}, got none"
        assert any(expected in t for t in texts), f"no violation contains {expected!r}: {texts}"
