"""The pack as a whole: rule metadata, per-environment config files, the taggable-type list."""

import json
import pathlib
import re

import pytest
from pulumi_policy import EnforcementLevel

from policies.rules import ALL_POLICIES
from tests.policies.derive_taggable_types import TARGET, derive
from tools.policy_runner import PolicyConfigError, PolicyDescriptor, parse_policy_config, reconcile_policy_config
from tools.tokens import Token

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[2] / "policies" / "config"
NAME = re.compile(r"^aws-[a-z0-9]+-[a-z0-9]+-(enable|disallow|configure|missing)-[a-z0-9-]+$")
PACK_DEFAULT = "mandatory"  # policies/__main__.py


def descriptors():
    return [
        PolicyDescriptor(
            name=p.name,
            enforcement_level=(p.enforcement_level or EnforcementLevel(PACK_DEFAULT)).value,
            config_properties=p.config_schema.properties if p.config_schema else {},
            config_required=tuple(p.config_schema.required or ()) if p.config_schema else (),
        )
        for p in ALL_POLICIES
    ]


@pytest.mark.parametrize("policy", ALL_POLICIES, ids=lambda p: p.name)
def test_rule_metadata(policy):
    assert NAME.match(policy.name), f"{policy.name} does not follow aws-<service>-<resource>-<verb>-<thing>"
    assert policy.description and policy.description.endswith(".")
    assert policy.severity is not None
    assert policy.remediation_steps and len(policy.remediation_steps) > 30
    assert callable(policy.check)


def test_rule_names_unique():
    names = [p.name for p in ALL_POLICIES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("env,level", [("dev", "advisory"), ("staging", "mandatory"), ("prod", "mandatory")])
def test_environment_config_is_valid_and_sets_the_level(env, level):
    reconciled = reconcile_policy_config(descriptors(), parse_policy_config(CONFIG_DIR / f"{env}.json"))
    assert set(reconciled) == {p.name for p in ALL_POLICIES}
    assert {c.enforcement_level for c in reconciled.values()} == {level}


def test_schema_defaults_are_applied_and_overridden():
    reconciled = reconcile_policy_config(descriptors(), parse_policy_config(CONFIG_DIR / "prod.json"))
    assert reconciled["aws-s3-bucket-missing-encryption"].properties == {"allowedAlgorithms": ["aws:kms", "aws:kms:dsse"]}
    assert reconciled["aws-lambda-function-configure-timeout"].properties == {"maxTimeoutSeconds": 300}
    dev = reconcile_policy_config(descriptors(), parse_policy_config(CONFIG_DIR / "dev.json"))
    assert dev["aws-sagemaker-endpoint-configure-instance-budget"].properties == {"maxEndpointInstances": 2}


def test_environments_differ_where_they_should():
    def props(env, policy):
        return json.loads((CONFIG_DIR / f"{env}.json").read_text())[policy]

    capture = "aws-sagemaker-endpointconfig-enable-data-capture"
    assert props("dev", capture)["requireDataCapture"] is False
    assert props("prod", capture)["requireDataCapture"] is True
    budget = "aws-sagemaker-endpoint-configure-instance-budget"
    assert props("dev", budget)["maxEndpointInstances"] < props("prod", budget)["maxEndpointInstances"]


BAD_CONFIGS = [
    ({"all": "strict"}, "'strict' is not an enforcement level"),
    ({"aws-no-such-rule": "advisory"}, "aws-no-such-rule: no such policy"),
    ({"aws-lambda-function-configure-timeout": {"maxTimeoutSeconds": 2000}}, "2000 is greater than the maximum of 900"),
    ({"aws-lambda-function-configure-timeout": {"maxTimeout": 60}}, "Additional properties are not allowed ('maxTimeout'"),
    ({"aws-sagemaker-endpointconfig-configure-instance-type": {"allowedInstanceTypes": ["m5.large"]}}, "does not match"),
    ({"aws-s3-bucket-missing-encryption": {"enforcementLevel": "off"}}, "enforcementLevel 'off'"),
]


@pytest.mark.parametrize("raw,message", BAD_CONFIGS, ids=[m for _, m in BAD_CONFIGS])
def test_bad_config_is_rejected_with_a_clear_message(raw, message):
    with pytest.raises(PolicyConfigError) as excinfo:
        reconcile_policy_config(descriptors(), parse_policy_config(raw))
    assert message in str(excinfo.value)


def test_taggable_types_match_the_pinned_pulumi_aws():
    shipped = json.loads(TARGET.read_text())
    assert shipped == derive(), "regenerate with: .venv/bin/python -m tests.policies.derive_taggable_types --write"
    assert Token.S3_BUCKET in shipped and Token.S3_BUCKET_POLICY not in shipped
