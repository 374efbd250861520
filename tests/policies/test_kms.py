"""policies/rules/kms.py: customer managed symmetric keys rotate automatically."""

import pytest
from pulumi_policy import Severity

from policies.rules import kms
from tests.policies.helpers import check_metadata, expect, run_resource_policy
from tools.tokens import Token

METADATA = [
    # (rule, name, severity)
    (kms.rotation, "aws-kms-key-enable-rotation", Severity.MEDIUM),
]


@pytest.mark.parametrize("rule,name,severity", METADATA, ids=[m[1] for m in METADATA])
def test_metadata(rule, name, severity):
    check_metadata(rule, name, severity)


ROTATION_CASES = [
    ("rotation on", {"enableKeyRotation": True}, None),
    ("rotation off", {}, "does not enable automatic key rotation"),
    ("asymmetric keys cannot rotate", {"customerMasterKeySpec": "RSA_2048"}, None),
]


@pytest.mark.parametrize("label,props,expected", ROTATION_CASES, ids=[c[0] for c in ROTATION_CASES])
def test_rotation(label, props, expected):
    expect(run_resource_policy(kms.rotation, Token.KMS_KEY, props), expected)
