"""The training pipeline under mocks: stages, sources, triggers, IAM scope, ECR, logs and failure alerts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from program.settings import SettingsError
from components.training_pipeline import (BUILDSPEC_PATH, DATA_MANIFEST_PATH, START_INPUT_FILE, TRIGGER_PATHS,
                                          artifact_prefix)
from tests.conftest import as_list, policy_statements
from tools.tokens import Token

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = Token.CODEPIPELINE_PIPELINE
PROJECT = Token.CODEBUILD_PROJECT
ROLE = Token.IAM_ROLE
ROLE_POLICY = Token.IAM_ROLE_POLICY
RULE = Token.CLOUDWATCH_EVENT_RULE
TARGET = Token.CLOUDWATCH_EVENT_TARGET
REPOSITORY = Token.ECR_REPOSITORY
COMPONENT = "mlops:pipeline:TrainingPipeline"

CODECOMMIT = {"sourceProvider": "codecommit", "sourceRepository": "mlops-iris", "sourceBranch": "main"}
S3_SOURCE = {"sourceProvider": "s3", "sourceBucket": "my-model-uploads", "sourceObjectKey": "sources/model.zip",
             "sourceRepository": "", "sourceConnectionArn": ""}


def pipeline_of(run):
    return run.one(PIPELINE, f"mlops-{run.stack}-training-pipeline-codepipeline")


def project_of(run):
    return run.one(PROJECT, f"mlops-{run.stack}-training-pipeline-build")


def repository_of(run):
    return run.one(REPOSITORY, f"mlops-{run.stack}-images-repo")


def account_region(run):
    return json.loads(run.config["mlops:allowedAccountIds"])[0], run.config["mlops:region"]


def pipeline_resources(run):
    """Every resource that belongs to the TrainingPipeline component."""
    component = run.one(COMPONENT)
    return [r for r in run.resources if r.parent == component.urn]


def stage_actions(run):
    stages = pipeline_of(run).inputs["stages"]
    return [(stage["name"], [action for action in stage["actions"]]) for stage in stages]


def glob_matches(pattern: str, path: str) -> bool:
    """CodePipeline's file path glob: ``**`` crosses directories, ``*`` does not."""
    regex = "".join(".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part)
                    for part in re.split(r"(\*\*|\*)", pattern))
    return re.fullmatch(regex, path) is not None


# --- stages and actions -----------------------------------------------------------------------------


def test_stages_run_source_build_train_in_order(training_stack):
    stages = stage_actions(training_stack)
    assert [name for name, _ in stages] == ["Source", "Build", "Train"]
    assert [[(a["name"], a["category"], a["provider"]) for a in actions] for _, actions in stages] == [
        [("Source", "Source", "CodeStarSourceConnection")],
        [("BuildImage", "Build", "CodeBuild")],
        [("StartTrainingWorkflow", "Invoke", "StepFunctions")],
    ]
    pipeline = pipeline_of(training_stack).inputs
    assert pipeline["pipelineType"] == "V2"
    assert pipeline["name"] == f"mlops-{training_stack.stack}-training"


def test_artifacts_flow_from_source_to_build_to_train(stack_run):
    (_, [source]), (_, [build]), (_, [train]) = stage_actions(stack_run("dev"))
    assert build["inputArtifacts"] == source["outputArtifacts"]
    assert train["inputArtifacts"] == build["outputArtifacts"]
    assert "outputArtifacts" not in train


def test_build_action_passes_the_source_commit_and_runs_the_project(stack_run):
    run = stack_run("dev")
    (_, [source]), (_, [build]), _ = stage_actions(run)
    assert build["configuration"]["ProjectName"] == project_of(run).inputs["name"]
    variables = json.loads(build["configuration"]["EnvironmentVariables"])
    assert variables == [{"name": "SOURCE_REVISION", "type": "PLAINTEXT",
                          "value": f"#{{{source['namespace']}.CommitId}}"}]


def test_train_action_starts_the_workflow_with_the_build_output_file(training_stack):
    account, region = account_region(training_stack)
    (_, _), (_, [build]), (_, [train]) = stage_actions(training_stack)
    config = train["configuration"]
    assert config["StateMachineArn"] == (f"arn:aws:states:{region}:{account}:stateMachine:"
                                         f"mlops-{training_stack.stack}-training")
    assert config["InputType"] == "FilePath"
    assert config["Input"] == START_INPUT_FILE
    assert config["ExecutionNamePrefix"] == f"#{{{build['namespace']}.EXECUTION_NAME_PREFIX}}"


def test_artifact_store_is_the_stacks_encrypted_bucket(training_stack):
    [store] = pipeline_of(training_stack).inputs["artifactStores"]
    assert store["location"] == training_stack.outputs["bucketName"]
    assert store["encryptionKey"] == {"type": "KMS", "id": training_stack.outputs["kmsKeyArn"]}


# --- sources and what starts a run ------------------------------------------------------------------


def test_codestar_source_reads_repository_branch_and_connection_from_config(training_stack):
    (_, [source]), _, _ = stage_actions(training_stack)
    config = training_stack.config
    assert source["configuration"] == {
        "ConnectionArn": config["mlops:sourceConnectionArn"],
        "FullRepositoryId": config["mlops:sourceRepository"],
        "BranchName": config["mlops:sourceBranch"],
        "OutputArtifactFormat": "CODE_ZIP",
    }
    assert not training_stack.by_type(RULE) or all("codecommit" not in r.inputs["eventPattern"]
                                               for r in training_stack.by_type(RULE))


def test_codestar_trigger_filters_branch_and_paths(training_stack):
    [trigger] = pipeline_of(training_stack).inputs["triggers"]
    assert trigger["providerType"] == "CodeStarSourceConnection"
    git = trigger["gitConfiguration"]
    assert git["sourceActionName"] == "Source"
    [push] = git["pushes"]
    assert push["branches"]["includes"] == [training_stack.config["mlops:sourceBranch"]]
    includes = push["filePaths"]["includes"]
    assert {"container/**", DATA_MANIFEST_PATH} <= set(includes)


@pytest.mark.parametrize("path, retrains", [
    ("container/Dockerfile", True),
    ("container/mlcontainer/train.py", True),
    (DATA_MANIFEST_PATH, True),
    (BUILDSPEC_PATH, True),
    ("README.md", False),
    ("docs/pipeline.md", False),
    ("components/training_pipeline.py", False),
    ("data/README.md", False),
])
def test_only_container_manifest_and_build_changes_retrain(stack_run, path, retrains):
    [trigger] = pipeline_of(stack_run("dev")).inputs["triggers"]
    includes = trigger["gitConfiguration"]["pushes"][0]["filePaths"]["includes"]
    assert any(glob_matches(pattern, path) for pattern in includes) is retrains


def test_trigger_paths_name_files_that_exist():
    assert (ROOT / DATA_MANIFEST_PATH).is_file()
    assert (ROOT / BUILDSPEC_PATH).is_file()
    for pattern in TRIGGER_PATHS:
        if pattern.endswith("/**"):
            assert (ROOT / pattern[:-3]).is_dir(), pattern


def test_codecommit_source_starts_on_its_branch_through_eventbridge(run_stack):
    run = run_stack("dev", overrides=CODECOMMIT)
    account, region = account_region(run)
    repo_arn = f"arn:aws:codecommit:{region}:{account}:mlops-iris"
    (_, [source]), (_, [build]), _ = stage_actions(run)
    assert source["provider"] == "CodeCommit"
    assert source["configuration"] == {"RepositoryName": "mlops-iris", "BranchName": "main",
                                       "PollForSourceChanges": "false", "OutputArtifactFormat": "CODE_ZIP"}
    assert "triggers" not in pipeline_of(run).inputs
    assert json.loads(build["configuration"]["EnvironmentVariables"])[0]["value"] == "#{SourceVariables.CommitId}"

    rule = run.one(RULE, "mlops-dev-training-pipeline-start")
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.codecommit"],
        "detail-type": ["CodeCommit Repository State Change"],
        "resources": [repo_arn],
        "detail": {"event": ["referenceCreated", "referenceUpdated"], "referenceType": ["branch"],
                   "referenceName": ["main"]},
    }
    target = run.one(TARGET, "mlops-dev-training-pipeline-start-target")
    pipeline_arn = pipeline_of(run).outputs["arn"]
    assert target.inputs["arn"] == pipeline_arn
    start_role = run.one(ROLE, "mlops-dev-training-pipeline-start-role")
    assert target.inputs["roleArn"] == start_role.outputs["arn"]
    [trust] = policy_statements(start_role.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": account}
    [allow] = policy_statements(run.one(ROLE_POLICY, "mlops-dev-training-pipeline-start-policy").inputs["policy"])
    assert allow["Action"] == ["codepipeline:StartPipelineExecution"]
    assert allow["Resource"] == [pipeline_arn]

    statements = policy_statements(run.one(ROLE_POLICY, "mlops-dev-training-pipeline-pipeline-policy").inputs["policy"])
    [codecommit] = [s for s in statements if any(a.startswith("codecommit:") for a in s["Action"])]
    assert codecommit["Resource"] == [repo_arn]
    assert not any(a.startswith(("codestar-connections:", "codeconnections:"))
                   for s in statements for a in s["Action"])


def test_s3_source_starts_on_object_upload_and_tags_by_etag(run_stack):
    run = run_stack("dev", overrides=S3_SOURCE)
    (_, [source]), (_, [build]), _ = stage_actions(run)
    assert source["provider"] == "S3"
    assert source["configuration"] == {"S3Bucket": "my-model-uploads", "S3ObjectKey": "sources/model.zip",
                                       "PollForSourceChanges": "false"}
    assert json.loads(build["configuration"]["EnvironmentVariables"])[0]["value"] == "#{SourceVariables.ETag}"
    env = {v["name"]: v["value"] for v in project_of(run).inputs["environment"]["environmentVariables"]}
    assert env["SOURCE_KIND"] == "s3"
    assert "triggers" not in pipeline_of(run).inputs
    rule = run.one(RULE, "mlops-dev-training-pipeline-start")
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.s3"], "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": ["my-model-uploads"]}, "object": {"key": ["sources/model.zip"]}},
    }
    statements = policy_statements(run.one(ROLE_POLICY, "mlops-dev-training-pipeline-pipeline-policy").inputs["policy"])
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["ReadSourceObject"]["Resource"] == ["arn:aws:s3:::my-model-uploads/sources/model.zip"]
    assert by_sid["CheckSourceBucketVersioning"]["Resource"] == ["arn:aws:s3:::my-model-uploads"]


# --- invalid source configuration -------------------------------------------------------------------


@pytest.mark.parametrize("overrides, message", [
    ({"sourceProvider": "svn"}, "mlops:sourceProvider = 'svn' is invalid: expected one of codestar, codecommit, s3"),
    ({"sourceConnectionArn": ""},
     "mlops:sourceConnectionArn is missing: it is required when sourceProvider is 'codestar'"),
    ({"sourceConnectionArn": "arn:aws:iam::111111111111:role/not-a-connection"},
     "mlops:sourceConnectionArn = 'arn:aws:iam::111111111111:role/not-a-connection' is invalid"),
    ({"sourceRepository": "mlops-iris"},
     "mlops:sourceRepository = 'mlops-iris' is invalid: expected owner/name"),
    ({**CODECOMMIT, "sourceRepository": "example-org/mlops-iris"},
     "mlops:sourceRepository = 'example-org/mlops-iris' is invalid: expected a CodeCommit repository name"),
    ({**S3_SOURCE, "sourceObjectKey": ""},
     "mlops:sourceObjectKey is missing: it is required when sourceProvider is 's3'"),
    ({**S3_SOURCE, "sourceObjectKey": "sources/model.tar.gz"},
     "mlops:sourceObjectKey = 'sources/model.tar.gz' is invalid: expected the key of a .zip object"),
])
def test_invalid_source_config_is_a_clear_settings_error(run_stack, overrides, message):
    with pytest.raises(SettingsError) as error:
        run_stack("dev", overrides=overrides)
    assert message in str(error.value)


# --- IAM: exact resources ---------------------------------------------------------------------------


def _own_arn(resource: str, account: str, region: str, bucket: str) -> bool:
    return (resource.startswith((f"arn:aws:logs:{region}:{account}:log-group:/aws/codebuild/",
                                 f"arn:aws:kms:{region}:{account}:key/",
                                 f"arn:aws:ecr:{region}:{account}:repository/",
                                 f"arn:aws:codebuild:{region}:{account}:project/",
                                 f"arn:aws:states:{region}:{account}:",
                                 f"arn:aws:codepipeline:{region}:{account}:",
                                 f"arn:aws:codestar-connections:{region}:{account}:connection/"))
            or resource in (f"arn:aws:s3:::{bucket}",)
            or resource.startswith(f"arn:aws:s3:::{bucket}/mlops-"))


@pytest.mark.parametrize("overrides", [{}, CODECOMMIT, S3_SOURCE], ids=["codestar", "codecommit", "s3"])
def test_role_policies_name_exact_resources(run_stack, overrides):
    run = run_stack("dev", overrides=overrides)
    account, region = account_region(run)
    bucket = run.outputs["bucketName"]
    policies = [r for r in pipeline_resources(run) if r.type == ROLE_POLICY]
    assert len(policies) == (2 if not overrides else 3)
    for policy in policies:
        for stmt in policy_statements(policy.inputs["policy"]):
            actions, resources = as_list(stmt["Action"]), as_list(stmt["Resource"])
            assert stmt["Effect"] == "Allow"
            assert all("*" not in action for action in actions), (policy.name, actions)
            assert "iam:PassRole" not in actions
            if "*" in resources:
                # The one action AWS offers no resource-level permission for.
                assert actions == ["ecr:GetAuthorizationToken"] and resources == ["*"], (policy.name, stmt)
                continue
            for resource in resources:
                if resource.startswith("arn:aws:s3:::") and bucket not in resource:
                    assert resource.startswith("arn:aws:s3:::my-model-uploads"), resource  # the S3 source
                elif resource.startswith("arn:aws:codecommit:"):
                    assert resource == f"arn:aws:codecommit:{region}:{account}:mlops-iris"
                else:
                    assert _own_arn(resource, account, region, bucket), (policy.name, resource)


def test_artifact_access_is_limited_to_the_pipelines_prefix(training_stack):
    bucket_arn = f"arn:aws:s3:::{training_stack.outputs['bucketName']}"
    prefix = artifact_prefix(pipeline_of(training_stack).inputs["name"])
    assert len(prefix) <= 20
    for name in ("pipeline-policy", "build-policy"):
        policy = training_stack.one(ROLE_POLICY, f"mlops-{training_stack.stack}-training-pipeline-{name}")
        object_statements = [s for s in policy_statements(policy.inputs["policy"])
                             if "s3:GetObject" in s["Action"] and bucket_arn in s["Resource"][0]]
        assert [s["Resource"] for s in object_statements] == [[f"{bucket_arn}/{prefix}/*"]]


def test_pipeline_role_reaches_only_its_workflow_and_build(training_stack):
    run, stack = training_stack, training_stack.stack
    account, region = account_region(run)
    statements = {s["Sid"]: s for s in policy_statements(
        run.one(ROLE_POLICY, f"mlops-{stack}-training-pipeline-pipeline-policy").inputs["policy"])}
    assert statements["StartTrainingWorkflow"]["Resource"] == [
        f"arn:aws:states:{region}:{account}:stateMachine:mlops-{stack}-training"]
    assert statements["WatchTrainingWorkflow"]["Resource"] == [
        f"arn:aws:states:{region}:{account}:execution:mlops-{stack}-training:*"]
    assert statements["RunBuild"]["Resource"] == [project_of(run).outputs["arn"]]
    assert statements["UseConnection"]["Resource"] == [run.config["mlops:sourceConnectionArn"]]


def test_build_role_pushes_only_to_the_stacks_repository(training_stack):
    statements = {s["Sid"]: s for s in policy_statements(
        training_stack.one(ROLE_POLICY, f"mlops-{training_stack.stack}-training-pipeline-build-policy").inputs["policy"])}
    assert statements["PushTrainingImage"]["Resource"] == [repository_of(training_stack).outputs["arn"]]
    assert "ecr:PutImage" in statements["PushTrainingImage"]["Action"]
    log_group = training_stack.one(Token.CLOUDWATCH_LOG_GROUP, f"mlops-{training_stack.stack}-training-pipeline-build-logs")
    assert statements["WriteBuildLogs"]["Resource"] == [f"{log_group.outputs['arn']}:log-stream:*"]


def test_service_roles_trust_one_service_in_this_account(training_stack):
    account, region = account_region(training_stack)
    expected = {"build-role": "codebuild.amazonaws.com", "pipeline-role": "codepipeline.amazonaws.com"}
    for suffix, service in expected.items():
        role = training_stack.one(ROLE, f"mlops-{training_stack.stack}-training-pipeline-{suffix}")
        [trust] = policy_statements(role.inputs["assumeRolePolicy"])
        assert trust["Principal"] == {"Service": service}
        assert trust["Action"] == "sts:AssumeRole"
        assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": account}
    build_role = training_stack.one(ROLE, f"mlops-{training_stack.stack}-training-pipeline-build-role")
    [trust] = policy_statements(build_role.inputs["assumeRolePolicy"])
    assert trust["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:codebuild:{region}:{account}:project/mlops-{training_stack.stack}-training-image"}


# --- CodeBuild, logs, ECR, notifications ------------------------------------------------------------


def test_build_project_runs_the_repository_buildspec_with_docker_layer_cache(training_stack):
    project = project_of(training_stack).inputs
    assert project["source"] == {"type": "CODEPIPELINE", "buildspec": BUILDSPEC_PATH}
    assert project["artifacts"] == {"type": "CODEPIPELINE"}
    assert project["cache"]["type"] == "LOCAL"
    assert "LOCAL_DOCKER_LAYER_CACHE" in project["cache"]["modes"]
    assert project["environment"]["privilegedMode"] is True
    assert project["encryptionKey"] == training_stack.outputs["kmsKeyArn"]
    env = {v["name"]: v for v in project["environment"]["environmentVariables"]}
    assert env["IMAGE_REPOSITORY_URI"]["value"] == training_stack.outputs["imageRepositoryUrl"]
    assert env["ALLOWED_DATA_BUCKETS"]["value"] == training_stack.outputs["bucketName"]
    assert all(v["type"] == "PLAINTEXT" and "SECRET" not in name and "PASSWORD" not in name
               for name, v in env.items())


def test_build_logs_use_the_stacks_retention_and_key(training_stack):
    log_group = training_stack.one(Token.CLOUDWATCH_LOG_GROUP,
                               f"mlops-{training_stack.stack}-training-pipeline-build-logs")
    assert log_group.inputs["retentionInDays"] == int(training_stack.config["mlops:logRetentionDays"])
    assert log_group.inputs["kmsKeyId"] == training_stack.outputs["kmsKeyArn"]
    logs = project_of(training_stack).inputs["logsConfig"]
    assert logs["cloudwatchLogs"] == {"status": "ENABLED", "groupName": log_group.inputs["name"]}


def test_image_repository_scans_is_immutable_encrypted_and_bounded(training_stack):
    repo = repository_of(training_stack).inputs
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": training_stack.outputs["kmsKeyArn"]}]
    assert repo["forceDelete"] is (training_stack.config["mlops:protect"] == "false")
    lifecycle = json.loads(training_stack.one(Token.ECR_LIFECYCLE_POLICY, f"mlops-{training_stack.stack}-images-lifecycle").inputs["policy"])
    rules = sorted(lifecycle["rules"], key=lambda r: r["rulePriority"])
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"]
    assert rules[-1]["selection"]["countType"] == "imageCountMoreThan"
    assert all(r["action"] == {"type": "expire"} for r in rules)


def test_failed_executions_notify_the_stacks_topic(training_stack):
    stack = training_stack.stack
    rule = training_stack.one(RULE, f"mlops-{stack}-training-pipeline-failed")
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.codepipeline"],
        "detail-type": ["CodePipeline Pipeline Execution State Change"],
        "detail": {"state": ["FAILED"], "pipeline": [f"mlops-{stack}-training"]},
    }
    target = training_stack.one(TARGET, f"mlops-{stack}-training-pipeline-failed-target")
    assert target.inputs["arn"] == training_stack.outputs["notificationTopicArn"]
    transformer = target.inputs["inputTransformer"]
    assert set(transformer["inputPaths"]) == {"pipeline", "execution", "region"}
    assert "<execution>" in transformer["inputTemplate"]


def test_every_pipeline_resource_is_a_child_of_a_component(training_stack):
    owners = {r.urn for r in training_stack.resources
              if r.type in (COMPONENT, "mlops:registry:ModelImageRepository")}
    mine = [pipeline_of(training_stack), project_of(training_stack), repository_of(training_stack)]
    assert all(r.parent in owners for r in mine)
    assert len([r for r in training_stack.resources if r.parent in owners]) >= 10
    assert training_stack.outputs["trainingPipelineName"] == f"mlops-{training_stack.stack}-training"
