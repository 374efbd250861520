"""policies/rules/_support.py: the rule builders and the value helpers every rule relies on."""

import pytest
from pulumi_policy import Severity

from policies.rules._support import (
    InvalidDocument,
    Resource,
    action_matches,
    as_list,
    as_number,
    parse_json_value,
    policy_statements,
    references,
    resource_rule,
)
from tests.policies.helpers import expect, run_resource_policy, urn
from tools.tokens import Token

AS_NUMBER_CASES = [
    # (label, value, expected)
    ("int", 300, 300),
    ("double from gRPC", 300.0, 300.0),
    ("bool is no number", True, None),
    ("numeric string is no number", "3", None),
    ("None", None, None),
]


@pytest.mark.parametrize("label,value,expected", AS_NUMBER_CASES, ids=[c[0] for c in AS_NUMBER_CASES])
def test_as_number(label, value, expected):
    assert as_number(value) == expected


AS_LIST_CASES = [
    ("None", None, []),
    ("scalar string", "s3:GetObject", ["s3:GetObject"]),
    ("single object", {"Effect": "Allow"}, [{"Effect": "Allow"}]),
    ("list", ["a", "b"], ["a", "b"]),
    ("tuple", ("a",), ["a"]),
]


@pytest.mark.parametrize("label,value,expected", AS_LIST_CASES, ids=[c[0] for c in AS_LIST_CASES])
def test_as_list(label, value, expected):
    assert as_list(value) == expected


ALLOW = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
STATEMENTS_CASES = [
    # (label, document, statements or the InvalidDocument message)
    ("JSON string, statement list", '{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}', [ALLOW]),
    ("single statement object", {"Statement": ALLOW}, [ALLOW]),
    ("no document", None, []),
    ("blank string", "  ", []),
    ("not JSON", "{nope", "is not valid JSON"),
    ("not an object", "[]", "is not a JSON object"),
    ("statement not an object", {"Statement": ["s3:*"]}, "has a Statement that is not an object"),
]


@pytest.mark.parametrize("label,document,expected", STATEMENTS_CASES, ids=[c[0] for c in STATEMENTS_CASES])
def test_policy_statements(label, document, expected):
    if isinstance(expected, str):
        with pytest.raises(InvalidDocument, match=expected):
            policy_statements(document)
    else:
        assert policy_statements(document) == expected


def test_parse_json_value_leaves_objects_alone():
    assert parse_json_value({"a": 1}) == {"a": 1}
    assert parse_json_value('{"a": 1}') == {"a": 1}


ACTION_CASES = [
    # (label, pattern, action, matches)
    ("prefix wildcard", "s3:Get*", "s3:GetObject", True),
    ("case-insensitive", "S3:*", "s3:putobject", True),
    ("single-character wildcard", "s3:Get?bject", "s3:GetObject", True),
    ("other action", "s3:Get*", "s3:PutObject", False),
]


@pytest.mark.parametrize("label,pattern,action,matches", ACTION_CASES, ids=[c[0] for c in ACTION_CASES])
def test_action_matches(label, pattern, action, matches):
    assert action_matches(pattern, action) is matches


BUCKET = Resource(Token.S3_BUCKET, "artifacts", urn(Token.S3_BUCKET, "artifacts"),
                  {"id": "bucket-id", "bucket": "mlops-prod-artifacts"})


def companion(bucket_value, deps=None):
    return Resource(Token.S3_BUCKET_VERSIONING, "v", urn(Token.S3_BUCKET_VERSIONING, "v"), {"bucket": bucket_value},
                    property_dependencies=deps or {})


REFERENCE_CASES = [
    # (label, child, name keys, refers to the bucket)
    ("by property dependency (ids unknown in a preview)", companion(None, {"bucket": [BUCKET.urn]}), (), True),
    ("by id", companion("bucket-id"), (), True),
    ("by a name key", companion("mlops-prod-artifacts"), ("bucket",), True),
    ("name without the name key", companion("mlops-prod-artifacts"), (), False),
    ("another bucket", companion("other-bucket"), ("bucket",), False),
]


@pytest.mark.parametrize("label,child,name_keys,expected", REFERENCE_CASES, ids=[c[0] for c in REFERENCE_CASES])
def test_references(label, child, name_keys, expected):
    assert references(child, "bucket", BUCKET, *name_keys) is expected


def _echo_limit(resource, config):
    yield f"{resource.name} limit {config['limit']}"


ECHO = resource_rule(
    name="aws-test-resource-configure-echo",
    description="Echoes its config.",
    severity=Severity.LOW,
    remediation="None needed; this rule exists only in this test.",
    resource_types={Token.SNS_TOPIC},
    check=_echo_limit,
    config_schema={"limit": {"type": "integer", "default": 5}},
)


def test_resource_rule_applies_schema_defaults_and_only_judges_its_types():
    expect(run_resource_policy(ECHO, Token.SNS_TOPIC, {}), "res limit 5")
    expect(run_resource_policy(ECHO, Token.SNS_TOPIC, {}, config={"limit": 7}), "res limit 7")
    expect(run_resource_policy(ECHO, Token.SQS_QUEUE, {}), None)
