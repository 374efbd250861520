"""policies/rules/ecr.py: images are scanned on push and tags are immutable."""

import pytest
from pulumi_policy import Severity

from policies.rules import ecr
from tests.policies.helpers import check_metadata, expect, run_resource_policy
from tools.tokens import Token

METADATA = [
    # (rule, name, severity)
    (ecr.scan_on_push, "aws-ecr-repository-enable-scan-on-push", Severity.HIGH),
    (ecr.immutable_tags, "aws-ecr-repository-configure-immutable-tags", Severity.MEDIUM),
]


@pytest.mark.parametrize("rule,name,severity", METADATA, ids=[m[1] for m in METADATA])
def test_metadata(rule, name, severity):
    check_metadata(rule, name, severity)


SCAN_CASES = [
    ("scan on push", {"imageScanningConfiguration": {"scanOnPush": True}}, None),
    ("no scanning", {}, "does not scan images on push"),
]


@pytest.mark.parametrize("label,props,expected", SCAN_CASES, ids=[c[0] for c in SCAN_CASES])
def test_scan_on_push(label, props, expected):
    expect(run_resource_policy(ecr.scan_on_push, Token.ECR_REPOSITORY, props), expected)


TAG_CASES = [
    ("immutable", {"imageTagMutability": "IMMUTABLE"}, None),
    ("mutable default", {}, "MUTABLE"),
]


@pytest.mark.parametrize("label,props,expected", TAG_CASES, ids=[c[0] for c in TAG_CASES])
def test_immutable_tags(label, props, expected):
    expect(run_resource_policy(ecr.immutable_tags, Token.ECR_REPOSITORY, props), expected)
