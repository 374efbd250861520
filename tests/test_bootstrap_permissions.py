"""The deploy role's permissions (bootstrap/permissions.py): exactly the program's resource types, every
action real and scoped as the Service Authorization Reference allows, every name the program uses inside
the scope, no wildcard action."""

from __future__ import annotations

import fnmatch
import json
import re
from functools import cache
from pathlib import Path

import policy_sentry
import pytest

from bootstrap.permissions import AREAS, GRANTS, deployer_policies
from bootstrap.resources import MANAGED_POLICY_MAX_CHARACTERS, policy_sizes
from components.names import Names
from tests.conftest import PROD_TRAINING
from tools.mockrun import ProgramRun, run_program
from tools.tokens import Token

ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
REGION = "eu-west-1"

# Program configurations beyond the stack files that register other resource types.
VARIANTS = {
    "dev+codecommit": ("dev", {"sourceProvider": "codecommit", "sourceRepository": "mlops-iris",
                               "sourceConnectionArn": None}),
    "dev+s3-source": ("dev", {"sourceProvider": "s3", "sourceBucket": "mlops-sources", "sourceObjectKey": "src.zip",
                              "sourceConnectionArn": None}),
    "dev+iam-auth": ("dev", {"inferenceAuth": "iam"}),
    "prod+training": ("prod", PROD_TRAINING),
    "staging+api-key+canary": ("staging", {"inferenceAuth": "api-key", "endpointDeploymentStrategy": "canary"}),
}
_VARIANT_RUNS: dict[str, ProgramRun] = {}


def _variant(name: str) -> ProgramRun:
    if name not in _VARIANT_RUNS:
        stack, overrides = VARIANTS[name]
        _VARIANT_RUNS[name] = run_program(stack, overrides=overrides)
    return _VARIANT_RUNS[name]


def _names(environment: str) -> Names:
    return Names("mlops", environment, ACCOUNTS[environment], REGION)


def _statements(*environments: str) -> list[dict]:
    documents = deployer_policies([_names(e) for e in environments])
    return [s for document in documents.values() for s in document["Statement"]]


# --- the Service Authorization Reference, offline (policy_sentry's copy) ----------------------------

@cache
def _sar() -> dict:
    path = Path(policy_sentry.__file__).parent / "shared" / "data" / "iam-definition.json"
    return json.loads(path.read_text())


def _resource_types(action: str) -> list[str] | None:
    """The resource types of ``action`` ("" rows carry condition keys only); None: no such action."""
    prefix, name = action.split(":", 1)
    privileges = _sar().get(prefix, {}).get("privileges", {})
    if name not in privileges:
        return None
    return [t for t in privileges[name]["resource_types"] if t]


def _arn_formats(action: str) -> list[str]:
    prefix, _ = action.split(":", 1)
    service = _sar()[prefix]
    if prefix == "apigateway":
        # policy_sentry keeps one entry per prefix, and API Gateway's two services (REST, v1, and HTTP /
        # WebSocket, v2) share it: the v1 method rows are overwritten, the v1 resource types are kept.
        return [r["arn"] for r in service["resources"].values()]
    return [service["resources"][t]["arn"] for t in _resource_types(action) or []]


def _format_regex(arn_format: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\$\\\{[^}]+\\\}", ".+", re.escape(arn_format)) + "$")


# Actions AWS authorises against "*" at creation time although the reference gives them a resource type:
# CreateKey with Tags needs kms:TagResource before the key exists (KMS developer guide, "Permissions for
# tags"); the statement is bound to the environments' tag by aws:RequestTag.
CREATE_TIME = {("CreateTaggedKeys", "kms:TagResource")}


# --- tests ------------------------------------------------------------------------------------------


@cache
def _clarify_run() -> ProgramRun:
    """Staging with a bias and an explainability monitor entry on its own endpoint (the shipped catalog has
    none): their aws-native job definitions and baseline runs' model objects need grants too."""
    import json
    import tempfile
    from pathlib import Path

    from tests.catalog.monitor_bodies import monitor_body

    bodies = [monitor_body(kind, "BinaryClassification", endpoint="@trained")
              for kind in ("byom_model_bias_monitor", "byom_model_explainability_monitor")]
    catalog = Path(tempfile.mkdtemp()) / "catalog.json"
    catalog.write_text(json.dumps({"pipelines": bodies}))
    return run_program("staging", overrides={"catalogFile": str(catalog), "catalogPackages": "{}"})


def test_every_resource_type_the_program_creates_has_a_grant_and_nothing_else_does(stack_run):
    runs = [stack_run(s) for s in ("dev", "staging", "prod")] + [_variant(v) for v in VARIANTS] + [_clarify_run()]
    created = {r.type for run in runs for r in run.resources if r.custom and r.type.startswith(("aws:", "aws-native:"))}
    assert sorted(created - set(GRANTS)) == [], "resource types without a grant in bootstrap/permissions.py"
    assert sorted(set(GRANTS) - created) == [], "grants for resource types the program does not create"
    assert {area for areas in GRANTS.values() for area in areas} == set(AREAS)


def test_no_statement_allows_a_wildcard_action():
    for statement in _statements("dev", "staging", "prod"):
        actions = statement["Action"]
        assert isinstance(actions, list) and actions
        assert [a for a in actions if "*" in a or "?" in a] == [], statement["Sid"]
        assert "NotAction" not in statement and "NotResource" not in statement


def test_every_action_exists_in_the_service_authorization_reference():
    missing = sorted({a for s in _statements("dev") for a in s["Action"] if _resource_types(a) is None})
    assert missing == []


def test_actions_without_a_resource_type_stand_alone_on_star_and_the_others_name_their_resources():
    """Each action applies to every resource of its statement: nothing is granted on a resource the action
    cannot concern, and an action AWS only grants on "*" is not hidden among named resources."""
    problems = []
    for statement in _statements("dev", "staging"):
        sid, resources = statement["Sid"], statement["Resource"]
        for action in statement["Action"]:
            types = _resource_types(action)
            if not types:
                if resources != ["*"]:
                    problems.append(f"{sid}: {action} has no resource type, so only Resource '*' grants it")
                continue
            if (sid, action) in CREATE_TIME:
                continue
            if "*" in resources:
                problems.append(f"{sid}: {action} has resource types {types}: name them")
                continue
            formats = [_format_regex(f) for f in _arn_formats(action)]
            unmatched = [r for r in resources if not any(f.match(r) for f in formats)]
            if unmatched:
                problems.append(f"{sid}: {action} cannot apply to {unmatched} (its resource types: {types})")
    assert problems == [], "\n".join(problems)


# Statements that cannot carry the environment's name, and why (bootstrap/permissions.py says the same).
UNSCOPED = {
    "CreateTaggedKeys": "CreateKey has no resource type; bound to the environments' tag instead",
    "ManageTaggedKeys": "key ids are random; bound to the environments' tag instead",
    "ListAliases": "no resource type",
    "Subscriptions": "no resource type",
    "DescribeLogGroupsAndDeliveries": "no resource type",
    "DescribeScaling": "no resource type",
    "RandomPassword": "no resource type",
    "DescribeParameters": "no resource type",
    "ScalableTargets": "scalable target ids are random",
    "NotificationRules": "notification rule ids are random",
    "PassConnectionsToPipelines": "the connection is created by a person, any id; only to CodePipeline",
    "PassCodeConnectionsToPipelines": "the same, under the codeconnections prefix",
    "RestApis": "REST API, key and usage plan ids are random",
    "AccountLoggingSetting": "one setting per account and region",
    "EndpointAutoscalingServiceRole": "the service-linked role's name is AWS's",
    "CloudControlResources": "no resource type; Cloud Control calls SageMaker with the deployer's named rights",
}


def test_everything_else_is_scoped_to_the_accounts_environments_only():
    statements = _statements("staging")
    assert {s["Sid"] for s in statements} >= set(UNSCOPED)
    for statement in statements:
        text = json.dumps(statement)
        assert "mlops-dev" not in text and "mlops-prod" not in text, statement["Sid"]
        if statement["Sid"] in UNSCOPED:
            continue
        assert all("mlops-staging" in r for r in statement["Resource"]), statement
    tagged = next(s for s in statements if s["Sid"] == "ManageTaggedKeys")
    assert tagged["Condition"] == {"StringEquals": {"aws:ResourceTag/Environment": ["staging"]}}


def test_passrole_names_the_environments_roles_and_the_services():
    (passrole,) = [s for s in _statements("prod") if "iam:PassRole" in s["Action"]]
    assert passrole["Resource"] == ["arn:aws:iam::333333333333:role/mlops-prod-*"]
    assert "iam:PassedToService" in passrole["Condition"]["StringEquals"]


# The action that creates each named resource, and the ARN the recorded resource has (the mocks give real
# ARN formats for these types; alarms and aliases are built from their names).
CREATE_ACTION = {
    Token.IAM_ROLE: "iam:CreateRole", Token.IAM_POLICY: "iam:CreatePolicy",
    Token.LAMBDA_FUNCTION: "lambda:CreateFunction", Token.CLOUDWATCH_LOG_GROUP: "logs:CreateLogGroup",
    Token.SFN_STATE_MACHINE: "states:CreateStateMachine", Token.ECR_REPOSITORY: "ecr:CreateRepository",
    Token.CODEBUILD_PROJECT: "codebuild:CreateProject", Token.CODEPIPELINE_PIPELINE: "codepipeline:CreatePipeline",
    Token.SNS_TOPIC: "sns:CreateTopic", Token.DYNAMODB_TABLE: "dynamodb:CreateTable",
    Token.SECRETSMANAGER_SECRET: "secretsmanager:CreateSecret", Token.S3_BUCKET: "s3:CreateBucket",
    Token.SAGEMAKER_ENDPOINT: "sagemaker:CreateEndpoint", Token.SAGEMAKER_MODEL: "sagemaker:CreateModel",
    Token.SAGEMAKER_ENDPOINT_CONFIGURATION: "sagemaker:CreateEndpointConfig",
    Token.SAGEMAKER_MODEL_PACKAGE_GROUP: "sagemaker:CreateModelPackageGroup",
    Token.CLOUDWATCH_EVENT_RULE: "events:PutRule", Token.CLOUDWATCH_METRIC_ALARM: "cloudwatch:PutMetricAlarm",
    Token.KMS_ALIAS: "kms:CreateAlias",
    Token.NATIVE_SAGEMAKER_MODEL_BIAS_JOB_DEFINITION: "sagemaker:CreateModelBiasJobDefinition",
    Token.NATIVE_SAGEMAKER_MODEL_EXPLAINABILITY_JOB_DEFINITION: "sagemaker:CreateModelExplainabilityJobDefinition",
    Token.S3_BUCKET_OBJECTV2: "s3:PutObject",
}
NATIVE_ARN_TYPES = {Token.NATIVE_SAGEMAKER_MODEL_BIAS_JOB_DEFINITION: "model-bias-job-definition",
                    Token.NATIVE_SAGEMAKER_MODEL_EXPLAINABILITY_JOB_DEFINITION: "model-explainability-job-definition"}


def _arn(resource, names: Names) -> str:
    if resource.type in NATIVE_ARN_TYPES:
        return names.arn("sagemaker", f"{NATIVE_ARN_TYPES[resource.type]}/{resource.inputs['jobDefinitionName']}")
    if resource.type == Token.S3_BUCKET_OBJECTV2:
        return f"arn:aws:s3:::{resource.inputs['bucket']}/{resource.inputs['key']}"
    if resource.type == Token.CLOUDWATCH_METRIC_ALARM:
        return names.arn("cloudwatch", f"alarm:{resource.inputs['name']}")
    if resource.type == Token.KMS_ALIAS:
        return names.arn("kms", resource.inputs["name"])
    return resource.outputs["arn"]


def _names_inside(run: ProgramRun, stack: str) -> int:
    statements = _statements(stack)
    checked = 0
    for resource in run.resources:
        action = CREATE_ACTION.get(resource.type)
        if action is None:
            continue
        arn = _arn(resource, _names(stack))
        granted = [r for s in statements if action in s["Action"] for r in s["Resource"]]
        assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in granted), \
            f"{resource.name}: {action} on {arn} is outside the deploy role ({granted})"
        checked += 1
    return checked


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_name_the_program_gives_is_inside_its_accounts_deploy_role(stack, stack_run):
    assert _names_inside(stack_run(stack), stack) >= 15


def test_the_clarify_monitors_names_are_inside_the_deploy_role_and_created_only_with_kms_bias_isolated():
    run = _clarify_run()
    assert _names_inside(run, "staging") >= 2 + 2 + 2 + 2  # definitions, schedules, roles, alarms
    creates = {s["Sid"]: s for s in _statements("staging") if s["Sid"].endswith("MonitorsCreate")}
    assert sorted(creates) == ["SageMakerModelBiasMonitorsCreate", "SageMakerModelExplainabilityMonitorsCreate"]
    keys = {"Null": {"sagemaker:OutputKmsKey": "false", "sagemaker:VolumeKmsKey": "false"}}
    assert creates["SageMakerModelBiasMonitorsCreate"]["Condition"] == {
        "Bool": {"sagemaker:NetworkIsolation": "true"}, **keys}
    assert creates["SageMakerModelExplainabilityMonitorsCreate"]["Condition"] == keys  # it must call the model
    # what the condition asks for is what the monitors send
    for token in NATIVE_ARN_TYPES:
        isolated = token == Token.NATIVE_SAGEMAKER_MODEL_BIAS_JOB_DEFINITION
        for definition in run.by_type(token):
            assert definition.inputs["networkConfig"] == {"enableNetworkIsolation": isolated}
            assert definition.inputs["jobResources"]["clusterConfig"]["volumeKmsKeyId"]
            assert next(v for k, v in definition.inputs.items() if k.endswith("JobOutputConfig"))["kmsKeyId"]


@pytest.mark.parametrize("environments", [["dev"], ["dev", "staging", "prod"]], ids=["one", "single-account"])
def test_policies_fit_iams_managed_policy_limit(environments):
    sizes = policy_sizes(deployer_policies([Names("mlops", e, "111111111111", REGION) for e in environments]))
    assert max(sizes.values()) <= MANAGED_POLICY_MAX_CHARACTERS, sizes


def test_the_reference_checks_catch_what_they_are_for():
    assert _resource_types("s3:NoSuchAction") is None
    assert _resource_types("logs:DescribeLogGroups") == []  # grants nothing on an ARN (issue 15, item 13)
    model_formats = [_format_regex(f) for f in _arn_formats("sagemaker:CreateModel")]
    assert any(f.match("arn:aws:sagemaker:eu-west-1:111111111111:model/mlops-dev-*") for f in model_formats)
    assert not any(f.match("arn:aws:sagemaker:eu-west-1:111111111111:endpoint/mlops-dev-*") for f in model_formats)
    assert any(f.match("arn:aws:apigateway:eu-west-1::/restapis/*") for f in
               [_format_regex(f) for f in _arn_formats("apigateway:PATCH")])
