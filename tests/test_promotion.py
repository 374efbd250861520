"""Promotion under mocks: the approval event, the trigger, the pipeline's stages in order, IAM, sharing."""

from __future__ import annotations

import json
import subprocess
import sys

import boto3
import pytest
import yaml
from moto import mock_aws

from components.promotion import (DEPLOY_BUILDSPEC, PACKAGE_VARIABLE, TEST_BUILDSPEC, approved_package_event_pattern,
                                  trigger_definition)
from tests.conftest import as_list, policy_statements
from tools.mockrun import ROOT
from tools.tokens import Token

PIPELINE = Token.CODEPIPELINE_PIPELINE
PROJECT = Token.CODEBUILD_PROJECT
RULE = Token.CLOUDWATCH_EVENT_RULE
TARGET = Token.CLOUDWATCH_EVENT_TARGET
STATE_MACHINE = Token.SFN_STATE_MACHINE
GROUP_POLICY = Token.SAGEMAKER_MODEL_PACKAGE_GROUP_POLICY
ROLE = Token.IAM_ROLE
ROLE_POLICY = Token.IAM_ROLE_POLICY
NOTIFICATION_RULE = Token.CODESTARNOTIFICATIONS_NOTIFICATION_RULE
PACKAGE = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-models/7"
# DeployDev: the registry stack itself, for approved catalog packages (uploaded models) first.
STAGE_NAMES = ("Source", "DeployDev", "DeployStaging", "TestStaging", "PreviewProd", "ApproveProd", "DeployProd")
CATALOG_GROUPS = ("mlops-dev-byom-iris-xgboost-models", "mlops-dev-byom-iris-tree-models",
                  "mlops-dev-byom-iris-xgboost-batch-models")


def target_roles(run) -> dict[str, str]:
    return {t["environment"]: t["deployRoleArn"] for t in json.loads(run.config["mlops:promotionTargets"])}


def single_account_targets() -> str:
    return json.dumps([
        {"environment": "staging", "deployRoleArn": "arn:aws:iam::111111111111:role/mlops-staging-deployer",
         "integrationTests": True},
        {"environment": "prod", "deployRoleArn": "arn:aws:iam::111111111111:role/mlops-prod-deployer",
         "approval": True}])


def promo(run, role: str):
    return run.named(f"mlops-dev-promotion-{role}")


def statements(run, role: str) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy_statements(promo(run, f"{role}-policy").inputs["policy"])}


def state_change_event(status: str, group: str = "mlops-dev-models", detail_type: str = "SageMaker Model Package State Change",
                       source: str = "aws.sagemaker") -> dict:
    return {
        "Source": source, "DetailType": detail_type, "Resources": [PACKAGE],
        "Detail": json.dumps({"ModelPackageGroupName": group, "ModelPackageVersion": 7, "ModelPackageArn": PACKAGE,
                              "ModelApprovalStatus": status, "ModelPackageStatus": "Completed"}),
    }


def test_promotion_exists_only_in_the_registry_stack(stack_run):
    assert len(stack_run("dev").by_type(PIPELINE)) == 3  # training + promotion + the provisioning API's deploys
    assert stack_run("dev").outputs["promotionPipelineName"] == "mlops-dev-promotion"
    for stack in ("staging", "prod"):
        assert not [r for r in stack_run(stack).resources if "promotion" in r.name]


def test_no_promotion_without_targets(run_stack):
    run = run_stack("dev", overrides={"promotionTargets": "[]"})
    assert not [r for r in run.resources if "promotion" in r.name]


@pytest.fixture
def events(monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        yield boto3.client("events", region_name="eu-west-1"), boto3.client("sqs", region_name="eu-west-1")


def test_event_pattern_matches_approved_packages_of_the_platform_groups_only(stack_run, events):
    """The recorded rule's pattern, evaluated by moto's EventBridge: put_events -> rule -> queue. The trained
    group and every catalog entry's group (uploaded models) start the promotion; no other group does."""
    client, sqs = events
    pattern = promo(stack_run("dev"), "approved-rule").inputs["eventPattern"]
    assert json.loads(pattern) == approved_package_event_pattern("mlops-dev-models", *CATALOG_GROUPS)
    queue = sqs.create_queue(QueueName="matched")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client.put_rule(Name="promotion", EventPattern=pattern)
    client.put_targets(Rule="promotion", Targets=[{"Id": "q", "Arn": queue_arn}])

    def matched(event: dict) -> bool:
        client.put_events(Entries=[event])
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return bool(messages)

    assert matched(state_change_event("Approved"))
    for group in CATALOG_GROUPS:
        assert matched(state_change_event("Approved", group=group))
        assert not matched(state_change_event("PendingManualApproval", group=group))
    assert not matched(state_change_event("PendingManualApproval"))
    assert not matched(state_change_event("Rejected"))
    assert not matched(state_change_event("Approved", group="someone-elses-models"))
    assert not matched(state_change_event("Approved", detail_type="SageMaker Model Package Group State Change"))
    assert not matched(state_change_event("Approved", source="custom.fake"))


def test_rule_starts_the_trigger_which_starts_the_pipeline_with_the_package(stack_run):
    run = stack_run("dev")
    target = promo(run, "approved-target")
    trigger = promo(run, "trigger")
    assert target.inputs["arn"] == trigger.outputs["arn"]
    assert target.inputs["rule"] == promo(run, "approved-rule").outputs["name"]
    assert target.inputs["roleArn"] == promo(run, "events-role").outputs["arn"]
    (start,) = policy_statements(promo(run, "events-policy").inputs["policy"])
    assert start["Action"] == ["states:StartExecution"] and start["Resource"] == [trigger.outputs["arn"]]
    definition = json.loads(trigger.inputs["definition"])
    assert definition == trigger_definition("mlops-dev-promotion")
    task = definition["States"]["StartPromotion"]
    assert task["Resource"] == "arn:aws:states:::aws-sdk:codepipeline:startPipelineExecution"
    assert task["Parameters"]["Variables"] == [{"Name": PACKAGE_VARIABLE, "Value.$": "$.detail.ModelPackageArn"}]
    assert task["Parameters"]["ClientRequestToken.$"] == "$.id"  # EventBridge delivers at least once
    s = statements(run, "trigger")
    assert s["StartPromotion"]["Resource"] == ["arn:aws:codepipeline:eu-west-1:111111111111:mlops-dev-promotion"]
    assert trigger.inputs["loggingConfiguration"]["level"] in {"ERROR", "ALL"}
    assert trigger.inputs["tracingConfiguration"]["enabled"] is True


def test_trigger_definition_passes_statelint(tmp_path):
    path = tmp_path / "trigger.json"
    path.write_text(json.dumps(trigger_definition("mlops-dev-promotion")))
    result = subprocess.run([sys.executable, "-m", "statelint", str(path)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_stages_run_in_order_staging_tests_approval_prod(stack_run):
    pipeline = promo(stack_run("dev"), "pipeline").inputs
    assert pipeline["pipelineType"] == "V2" and pipeline["executionMode"] == "QUEUED"
    assert [s["name"] for s in pipeline["stages"]] == list(STAGE_NAMES)
    actions = [(s["name"], a["category"], a["provider"], a.get("configuration", {}).get("ProjectName"))
               for s in pipeline["stages"] for a in s["actions"]]
    assert actions == [
        ("Source", "Source", "CodeStarSourceConnection", None),
        ("DeployDev", "Build", "CodeBuild", "mlops-dev-promotion-deploy-dev"),
        ("DeployStaging", "Build", "CodeBuild", "mlops-dev-promotion-deploy-staging"),
        ("TestStaging", "Build", "CodeBuild", "mlops-dev-promotion-tests"),
        ("PreviewProd", "Build", "CodeBuild", "mlops-dev-promotion-deploy-prod"),
        ("ApproveProd", "Approval", "Manual", None),
        ("DeployProd", "Build", "CodeBuild", "mlops-dev-promotion-deploy-prod"),
    ]
    (variable,) = pipeline["variables"]
    assert variable["name"] == PACKAGE_VARIABLE and "defaultValue" not in variable  # a start must name a package
    for stage in pipeline["stages"][1:]:
        for action in stage["actions"]:
            if action["category"] == "Build":
                assert json.loads(action["configuration"]["EnvironmentVariables"])[0] == \
                    {"name": PACKAGE_VARIABLE, "value": f"#{{variables.{PACKAGE_VARIABLE}}}", "type": "PLAINTEXT"}


def test_source_is_the_promotion_branch_without_change_detection(stack_run, run_stack):
    source = promo(stack_run("dev"), "pipeline").inputs["stages"][0]["actions"][0]["configuration"]
    assert source["BranchName"] == "main" and source["DetectChanges"] == "false"
    run = run_stack("dev", overrides={"sourceProvider": "codecommit", "sourceRepository": "mlops-iris",
                                      "sourceConnectionArn": ""})
    action = promo(run, "pipeline").inputs["stages"][0]["actions"][0]
    assert action["provider"] == "CodeCommit"
    assert action["configuration"] == {"RepositoryName": "mlops-iris", "BranchName": "main",
                                       "PollForSourceChanges": "false", "OutputArtifactFormat": "CODE_ZIP"}


def test_manual_approval_notifies_the_topic_with_the_preview_and_the_report(stack_run):
    run = stack_run("dev")
    stages = {s["name"]: s for s in promo(run, "pipeline").inputs["stages"]}
    config = stages["ApproveProd"]["actions"][0]["configuration"]
    assert config["NotificationArn"] == run.outputs["notificationTopicArn"]
    assert config["ExternalEntityLink"] == "#{PreviewProd.PREVIEW_URL}"
    assert "(report: #{TestStaging.REPORT_URL})" in config["CustomData"]
    assert "pulumi preview --diff" in config["CustomData"]
    assert f"#{{variables.{PACKAGE_VARIABLE}}}" in config["CustomData"]
    assert "PREVIEW_URL" in yaml.safe_load(DEPLOY_BUILDSPEC)["env"]["exported-variables"]
    assert "REPORT_URL" in yaml.safe_load(TEST_BUILDSPEC)["env"]["exported-variables"]
    assert promo(run, "pipeline").inputs["stages"][3]["actions"][0]["namespace"] == "TestStaging"


def test_failed_and_finished_promotions_notify_the_topic(stack_run):
    run = stack_run("dev")
    rule = promo(run, "notifications")
    assert rule.inputs["resource"] == promo(run, "pipeline").outputs["arn"]
    assert "codepipeline-pipeline-pipeline-execution-failed" in rule.inputs["eventTypeIds"]
    assert "codepipeline-pipeline-pipeline-execution-succeeded" in rule.inputs["eventTypeIds"]
    assert rule.inputs["targets"] == [{"address": run.outputs["notificationTopicArn"], "type": "SNS"}]


def test_deploy_builds_run_pulumi_up_on_their_target_with_the_package_pinned(stack_run):
    run = stack_run("dev")
    spec = yaml.safe_load(DEPLOY_BUILDSPEC)
    commands = spec["phases"]["build"]["commands"]
    # pipeline/promotion_config.py says which key the package goes to (tests/test_promotion_config.py).
    pin = 'mapfile -t CONFIG < promotion/config.txt && pulumi config set-all --path "${CONFIG[@]}"'
    decide = next(c for c in commands if c.startswith("python3 pipeline/promotion_config.py deploy"))
    outputs = "pulumi stack output --json > promotion/outputs.json"
    up = next(c for c in commands if c.startswith("pulumi up"))
    verify = next(c for c in commands if c.startswith("python3 pipeline/promotion_config.py verify"))
    assert up == "pulumi up --yes --non-interactive $POLICY"
    assert 'export POLICY="--policy-pack policies --policy-pack-config policies/config/$TARGET_STACK.json"' in commands
    assert commands.index(outputs) < commands.index(decide) < commands.index(pin) < commands.index(up) \
        < commands.index(verify)
    assert '--package "$MODEL_PACKAGE_ARN" --environment "$TARGET_STACK"' in decide and "promotion/outputs.json" in decide
    for stack in ("dev", "staging", "prod"):
        project = promo(run, f"deploy-{stack}").inputs
        env = {v["name"]: v for v in project["environment"]["environmentVariables"]}
        assert env["TARGET_STACK"]["value"] == stack
        plan = json.loads(env["PROMOTION_PLAN"]["value"])
        assert plan["registry"] == "dev" and plan["trainedGroup"] == "mlops-dev-models"
        assert set(plan["catalogGroups"]) == set(CATALOG_GROUPS)
        assert env["PULUMI_ACCESS_TOKEN"] == {"name": "PULUMI_ACCESS_TOKEN", "type": "SECRETS_MANAGER",
                                              "value": run.config["mlops:promotionPulumiTokenSecretArn"]}
        assert project["encryptionKey"] == run.outputs["kmsKeyArn"]
        assert yaml.safe_load(project["source"]["buildspec"]) == spec


def test_deploy_roles_assume_only_their_own_target_role(stack_run):
    run = stack_run("dev")
    roles = target_roles(run)
    for stack, other in (("staging", "prod"), ("prod", "staging")):
        s = statements(run, f"deploy-{stack}")
        assert s["AssumeTargetDeployRole"]["Resource"] == [roles[stack]]
        assert roles[other] not in json.dumps(s)
        assert s["ReadPulumiToken"]["Resource"] == [run.config["mlops:promotionPulumiTokenSecretArn"]]
        role = promo(run, f"deploy-{stack}-role")
        (trust,) = policy_statements(role.inputs["assumeRolePolicy"])
        assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"}
        assert trust["Condition"]["ArnLike"]["aws:SourceArn"] == \
            f"arn:aws:codebuild:eu-west-1:111111111111:project/mlops-dev-promotion-deploy-{stack}"


def test_integration_tests_assume_the_staging_tester_role_named_by_the_staging_stack(stack_run):
    dev, staging = stack_run("dev"), stack_run("staging")
    (test_stage,) = [s for s in promo(dev, "pipeline").inputs["stages"] if s["name"] == "TestStaging"]
    env = {v["name"]: v["value"] for v in json.loads(test_stage["actions"][0]["configuration"]["EnvironmentVariables"])}
    tester = staging.one(ROLE, "mlops-staging-endpoint-tester-role")
    assert env["TESTER_ROLE_ARN"] == tester.outputs["arn"]
    assert env["ENDPOINT_NAME"] == staging.outputs["endpointName"]
    assert env["TARGET_STACK"] == "staging" and env["TARGET_REGION"] == "eu-west-1"
    s = statements(dev, "tests")
    assert s["AssumeTesterRoles"]["Resource"] == [tester.outputs["arn"]]
    # and the staging role trusts exactly this project's role
    (trust,) = policy_statements(tester.inputs["assumeRolePolicy"])
    assert trust["Principal"]["AWS"] == promo(dev, "tests-role").outputs["arn"]
    commands = yaml.safe_load(TEST_BUILDSPEC)["phases"]["build"]["commands"]
    assert any("integration/run.py" in c and '--expected-package "$MODEL_PACKAGE_ARN"' in c for c in commands)
    assert any(c.startswith("python3 pipeline/promotion_config.py tests") and '--endpoint "$ENDPOINT_NAME"' in c
               for c in commands)
    for path in ("integration/run.py", "integration/requirements.txt", "integration/cases"):
        assert (ROOT / path).exists(), path


def test_pipeline_role_is_limited_to_its_builds_artifacts_topic_and_connection(stack_run):
    run = stack_run("dev")
    s = statements(run, "pipeline")
    assert sorted(s["RunBuilds"]["Resource"]) == sorted(
        promo(run, key).outputs["arn"] for key in ("deploy-dev", "deploy-staging", "tests", "deploy-prod"))
    assert s["Artifacts"]["Resource"] == [f"arn:aws:s3:::{run.outputs['bucketName']}/mlops-dev-promotion/*"]
    assert s["NotifyApprovers"]["Resource"] == [run.outputs["notificationTopicArn"]]
    assert s["UseConnection"]["Resource"] == [run.config["mlops:sourceConnectionArn"]]
    for sid, statement in s.items():
        assert "*" not in as_list(statement["Resource"]), sid


def test_registry_is_shared_with_the_staging_and_prod_accounts_read_only(stack_run):
    run = stack_run("dev")
    policy = promo(run, "registry-policy")
    assert policy.inputs["modelPackageGroupName"] == "mlops-dev-models"
    group, packages = policy_statements(policy.inputs["resourcePolicy"])
    roots = ["arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"]
    assert group["Principal"] == packages["Principal"] == {"AWS": roots}
    assert group["Resource"] == "arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/mlops-dev-models"
    assert packages["Resource"] == "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-models/*"
    assert set(packages["Action"]) == {"sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages",
                                       "sagemaker:CreateModel"}


def test_single_account_layout_needs_no_registry_sharing(run_stack):
    run = run_stack("dev", overrides={"promotionTargets": single_account_targets()})
    assert not run.by_type(GROUP_POLICY)
    assert len([p for p in run.by_type(PIPELINE) if p.name == "mlops-dev-promotion-pipeline"]) == 1
