"""policies/rules/tagging.py: every taggable resource carries the required tags, and Environment is the stack's."""

import pytest
from pulumi_policy import Severity

from policies.rules import tagging
from tests.policies.helpers import check_metadata, expect, provider, run_resource_policy
from tools.tokens import Token

METADATA = [
    # (rule, name, severity)
    (tagging.required_tags, "aws-tagging-resource-missing-required-tags", Severity.MEDIUM),
    (tagging.environment_tag, "aws-tagging-resource-configure-environment-tag", Severity.MEDIUM),
]


@pytest.mark.parametrize("rule,name,severity", METADATA, ids=[m[1] for m in METADATA])
def test_metadata(rule, name, severity):
    check_metadata(rule, name, severity)


ALL = {"Environment": "prod", "Project": "mlops", "Owner": "ml-platform", "CostCenter": "cc-42", "ManagedBy": "pulumi"}
BUCKET = Token.S3_BUCKET

REQUIRED_CASES = [
    ("all tags from provider defaultTags (JSON string)", {}, provider(ALL), None),
    ("all tags from provider defaultTags (object)", {}, provider(ALL, as_json=False), None),
    ("all tags on the resource, no provider", {"tags": ALL}, None, None),
    ("split between provider and resource", {"tags": {"Owner": "x", "CostCenter": "y"}},
     provider({k: v for k, v in ALL.items() if k not in ("Owner", "CostCenter")}), None),
    ("no tags anywhere", {}, None, "missing required tags: Environment, Project, Owner, CostCenter, ManagedBy"),
    ("provider without defaultTags", {"tags": {"Project": "mlops"}}, provider(None), "Environment"),
    ("empty value does not count", {"tags": {"Owner": " "}}, provider({**ALL, "Owner": "x"}), "Owner"),
    ("tag key case matters", {}, provider({**{k: v for k, v in ALL.items() if k != "Owner"}, "owner": "x"}), "Owner"),
    ("resource tags as JSON string", {"tags": '{"Environment": "prod"}'},
     provider({k: v for k, v in ALL.items() if k != "Environment"}), None),
]


@pytest.mark.parametrize("label,props,prov,expected", REQUIRED_CASES, ids=[c[0] for c in REQUIRED_CASES])
def test_required_tags(label, props, prov, expected):
    expect(run_resource_policy(tagging.required_tags, BUCKET, props, provider_resource=prov), expected)


def test_required_tags_configurable_and_untaggable_types_skipped():
    config = {"requiredTags": ["DataClass"]}
    expect(run_resource_policy(tagging.required_tags, BUCKET, {}, config=config, provider_resource=provider(ALL)),
           "missing required tags: DataClass")
    # A resource type without tags (a bucket policy) is not judged at all.
    expect(run_resource_policy(tagging.required_tags, Token.S3_BUCKET_POLICY, {}), None)


def test_autoscaling_style_tag_lists_count():
    tags = [{"key": k, "value": v, "propagateAtLaunch": True} for k, v in ALL.items()]
    expect(run_resource_policy(tagging.required_tags, Token.AUTOSCALING_GROUP, {"tags": tags}), None)


ENV_CASES = [
    ("matches the stack", {}, provider(ALL), {"environment": "prod"}, None),
    ("provider says dev in prod", {}, provider({**ALL, "Environment": "dev"}), {"environment": "prod"},
     "Environment='dev'; this stack's environment is 'prod'"),
    ("resource overrides to a wrong value", {"tags": {"Environment": "staging"}}, provider(ALL),
     {"environment": "prod"}, "Environment='staging'"),
    ("missing", {}, provider({}), {"environment": "prod"}, "Environment=missing"),
    ("custom tag key", {"tags": {"Stage": "prod"}}, None, {"environment": "prod", "environmentTag": "Stage"}, None),
]


@pytest.mark.parametrize("label,props,prov,config,expected", ENV_CASES, ids=[c[0] for c in ENV_CASES])
def test_environment_tag(label, props, prov, config, expected):
    got = run_resource_policy(tagging.environment_tag, BUCKET, props, config=config, provider_resource=prov)
    expect(got, expected)


def test_environment_defaults_to_the_stack_the_cli_passes(monkeypatch):
    monkeypatch.setenv("PULUMI_STACK", "staging")
    got = run_resource_policy(tagging.environment_tag, BUCKET, {}, provider_resource=provider(ALL))
    expect(got, "this stack's environment is 'staging'")
    monkeypatch.delenv("PULUMI_STACK")
    expect(run_resource_policy(tagging.environment_tag, BUCKET, {}, provider_resource=provider(ALL)), None)
