"""KMS: customer managed symmetric keys rotate automatically."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._support import Resource, Severity, resource_rule

KEY_TYPE = "aws:kms/key:Key"

# Only symmetric encryption keys support automatic rotation; asymmetric and HMAC keys cannot.
_ROTATABLE_SPECS = {"SYMMETRIC_DEFAULT"}


def check_rotation(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    spec = resource.props.get("customerMasterKeySpec") or resource.props.get("keySpec") or "SYMMETRIC_DEFAULT"
    if str(spec) not in _ROTATABLE_SPECS:
        return
    if resource.props.get("enableKeyRotation") is not True:
        yield f"KMS key '{resource.name}' does not enable automatic key rotation."


rotation = resource_rule(
    name="aws-kms-key-enable-rotation",
    description="Symmetric KMS keys rotate their key material automatically.",
    severity=Severity.MEDIUM,
    remediation="Set `enable_key_rotation=True` (optionally `rotation_period_in_days`) on `aws.kms.Key`.",
    resource_types={KEY_TYPE},
    check=check_rotation,
)

POLICIES = [rotation]
