"""ECR: images are scanned on push and tags are immutable."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._support import Resource, Severity, as_list, resource_rule

REPOSITORY_TYPE = "aws:ecr/repository:Repository"


def check_scan_on_push(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    scanning = resource.props.get("imageScanningConfiguration")
    if not isinstance(scanning, Mapping):
        scanning = next(iter(as_list(scanning)), {}) or {}
    if scanning.get("scanOnPush") is not True:
        yield f"ECR repository '{resource.name}' does not scan images on push."


def check_immutable_tags(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    mutability = str(resource.props.get("imageTagMutability") or "MUTABLE")
    if not mutability.startswith("IMMUTABLE"):
        yield f"ECR repository '{resource.name}' has imageTagMutability {mutability}; tags must be IMMUTABLE."


scan_on_push = resource_rule(
    name="aws-ecr-repository-enable-scan-on-push",
    description="ECR repositories scan every image on push.",
    severity=Severity.HIGH,
    remediation="Set `image_scanning_configuration={'scan_on_push': True}` on `aws.ecr.Repository`.",
    resource_types={REPOSITORY_TYPE},
    check=check_scan_on_push,
)

immutable_tags = resource_rule(
    name="aws-ecr-repository-configure-immutable-tags",
    description="ECR image tags are immutable, so a tag (the commit SHA) always means the same image.",
    severity=Severity.MEDIUM,
    remediation="Set `image_tag_mutability='IMMUTABLE'` and tag images with the full commit SHA.",
    resource_types={REPOSITORY_TYPE},
    check=check_immutable_tags,
)

POLICIES = [scan_on_push, immutable_tags]
