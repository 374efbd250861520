"""The training pipeline: a git push (or an S3 upload) builds the training image and starts the workflow.

CodePipeline V2 with three stages (docs/pipeline.md has the details)::

    Source  CodeStar connection (GitHub, GitLab, Bitbucket) | CodeCommit | S3 object
    Build   CodeBuild runs pipeline/buildspec.yml: docker build container/ -> ECR <repo>:<full commit SHA>
            (skipped when the tag exists), writes sf_start_params.json
    Train   Step Functions invoke action: starts the training workflow with sf_start_params.json

What starts it: for a CodeStar connection, a V2 trigger on pushes to the branch that touch
``container/**``, ``data/manifest.json`` or ``pipeline/**`` (a README edit does not retrain); for
CodeCommit, an EventBridge rule on the branch; for S3, an EventBridge rule on the object. Failed
executions notify the stack's topic through an EventBridge rule.

Every role names the exact resources it uses. The only ``*`` resource is ``ecr:GetAuthorizationToken``,
which has no resource-level permissions. No role passes another role, so there is no ``iam:PassRole``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import service_role, statement
from components.settings import SourceSettings

BUILDSPEC_PATH = "pipeline/buildspec.yml"
DATA_MANIFEST_PATH = "data/manifest.json"
TRIGGER_PATHS = ("container/**", DATA_MANIFEST_PATH, "pipeline/**")
"""Changed files that start a run (CodeStar connection sources). Anything else does not retrain."""
START_INPUT_FILE = "sf_start_params.json"
SOURCE_NAMESPACE = "SourceVariables"
BUILD_NAMESPACE = "BuildVariables"
SOURCE_ARTIFACT = "source"
BUILD_ARTIFACT = "start_input"

# Source action type and the pipeline variable that names the source revision, per provider.
_SOURCE_ACTION = {
    "codestar": ("CodeStarSourceConnection", "CommitId", "git"),
    "codecommit": ("CodeCommit", "CommitId", "git"),
    "s3": ("S3", "ETag", "s3"),
}


@dataclass(frozen=True)
class TrainingPipelineArgs:
    prefix: str
    """Physical name prefix, e.g. ``mlops-dev``."""
    account_id: str
    region: str
    source: SourceSettings
    state_machine_arn: pulumi.Input[str]
    """The training workflow the Train stage starts."""
    kms_key_arn: pulumi.Input[str]
    """The stack's key: artifacts, build logs and the build's output are encrypted with it."""
    artifact_bucket_name: pulumi.Input[str]
    artifact_bucket_arn: pulumi.Input[str]
    repository_name: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    repository_url: pulumi.Input[str]
    notification_topic_arn: pulumi.Input[str]
    log_retention_days: int
    data_buckets: Sequence[pulumi.Input[str]] = field(default_factory=tuple)
    """Buckets the data manifest may point to (those the workflow can read). Empty: the artifact bucket."""
    trigger_paths: Sequence[str] = TRIGGER_PATHS
    build_image: str = "aws/codebuild/standard:7.0"
    build_compute_type: str = "BUILD_GENERAL1_SMALL"
    build_timeout_minutes: int = 30


def artifact_prefix(pipeline_name: str) -> str:
    """CodePipeline keeps a pipeline's artifacts under the first 20 characters of its name."""
    return pipeline_name[:20]


class TrainingPipeline(pulumi.ComponentResource):
    """CodePipeline V2 (Source, Build, Train), its CodeBuild project, roles, triggers and failure alerts."""

    pipeline_name: pulumi.Output[str]
    pipeline_arn: pulumi.Output[str]
    build_project_name: pulumi.Output[str]
    build_log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: TrainingPipelineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:pipeline:TrainingPipeline", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self._pipeline_name = f"{args.prefix}-training"
        self._project_name = f"{args.prefix}-training-image"
        a = args

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-build-logs", name=f"/aws/codebuild/{self._project_name}",
            retention_in_days=a.log_retention_days, kms_key_id=a.kms_key_arn, opts=self._child)
        project = self._create_build_project(log_group)
        pipeline = self._create_pipeline(project)
        if a.source.provider in ("codecommit", "s3"):
            self._create_start_rule(pipeline)
        self._create_failure_notification(pipeline)

        self.pipeline_name = pipeline.name
        self.pipeline_arn = pipeline.arn
        self.build_project_name = project.name
        self.build_log_group_name = log_group.name
        self.register_outputs({"pipeline_name": self.pipeline_name, "pipeline_arn": self.pipeline_arn,
                               "build_project_name": self.build_project_name,
                               "build_log_group_name": self.build_log_group_name})

    # --- CodeBuild ------------------------------------------------------------------------------

    def _artifact_objects(self) -> pulumi.Output[str]:
        return pulumi.Output.concat(self._args.artifact_bucket_arn, "/", artifact_prefix(self._pipeline_name), "/*")

    def _create_build_project(self, log_group: aws.cloudwatch.LogGroup) -> aws.codebuild.Project:
        a = self._args
        project_arn = f"arn:aws:codebuild:{a.region}:{a.account_id}:project/{self._project_name}"
        role, policy = service_role(
            f"{self._name}-build", role_name=f"{a.prefix}-training-build",
            description="CodeBuild: builds the training image and pushes it to the stack's ECR repository",
            service="codebuild.amazonaws.com", account_id=a.account_id, source_arn=project_arn,
            opts=self._child, statements=[
            statement("WriteBuildLogs", ["logs:CreateLogStream", "logs:PutLogEvents"],
                      [pulumi.Output.concat(log_group.arn, ":log-stream:*")]),
            statement("ReadSourceWriteStartInput", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                      [self._artifact_objects()]),
            statement("UseStackKeyForArtifacts", ["kms:Decrypt", "kms:GenerateDataKey"], [a.kms_key_arn]),
            # ecr:GetAuthorizationToken has no resource-level permissions: AWS only accepts "*" here.
            statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            statement("PushTrainingImage", [
                "ecr:DescribeImages", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
                "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage",
            ], [a.repository_arn]),
            ])
        data_buckets = list(a.data_buckets) or [a.artifact_bucket_name]
        return aws.codebuild.Project(
            f"{self._name}-build",
            name=self._project_name,
            description="Builds container/ into <ECR repository>:<full commit SHA> and writes the workflow input",
            service_role=role.arn,
            build_timeout=a.build_timeout_minutes,
            queued_timeout=60,
            encryption_key=a.kms_key_arn,
            source={"type": "CODEPIPELINE", "buildspec": BUILDSPEC_PATH},
            artifacts={"type": "CODEPIPELINE"},
            environment={
                "type": "LINUX_CONTAINER",
                "compute_type": a.build_compute_type,
                "image": a.build_image,
                "image_pull_credentials_type": "CODEBUILD",
                # Required by `docker build` (the Docker daemon runs inside the build container); the
                # build runs only this repository's buildspec and Dockerfile.
                "privileged_mode": True,
                "environment_variables": [
                    {"name": "IMAGE_REPOSITORY_URI", "value": a.repository_url, "type": "PLAINTEXT"},
                    {"name": "SOURCE_KIND", "value": _SOURCE_ACTION[a.source.provider][2], "type": "PLAINTEXT"},
                    {"name": "ALLOWED_DATA_BUCKETS", "type": "PLAINTEXT",
                     "value": pulumi.Output.all(*data_buckets).apply(lambda names: ",".join(names))},
                ],
            },
            # Docker layer cache on the build host (best effort: it survives only while hosts are reused).
            cache={"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE"]},
            logs_config={"cloudwatch_logs": {"status": "ENABLED", "group_name": log_group.name},
                         "s3_logs": {"status": "DISABLED"}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

    # --- CodePipeline ---------------------------------------------------------------------------

    def _source_action(self) -> dict[str, Any]:
        s = self._args.source
        provider = _SOURCE_ACTION[s.provider][0]
        configuration: dict[str, str]
        if s.provider == "codestar":
            configuration = {"ConnectionArn": s.connection_arn, "FullRepositoryId": s.repository,
                             "BranchName": s.branch, "OutputArtifactFormat": "CODE_ZIP"}
        elif s.provider == "codecommit":
            configuration = {"RepositoryName": s.repository, "BranchName": s.branch,
                             "PollForSourceChanges": "false", "OutputArtifactFormat": "CODE_ZIP"}
        else:
            configuration = {"S3Bucket": s.bucket, "S3ObjectKey": s.object_key, "PollForSourceChanges": "false"}
        return {"name": "Source", "category": "Source", "owner": "AWS", "provider": provider, "version": "1",
                "output_artifacts": [SOURCE_ARTIFACT], "namespace": SOURCE_NAMESPACE,
                "configuration": configuration, "run_order": 1}

    def _build_action(self, project: aws.codebuild.Project) -> dict[str, Any]:
        variable = _SOURCE_ACTION[self._args.source.provider][1]
        environment = json.dumps([{"name": "SOURCE_REVISION", "type": "PLAINTEXT",
                                   "value": f"#{{{SOURCE_NAMESPACE}.{variable}}}"}])
        return {"name": "BuildImage", "category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1",
                "input_artifacts": [SOURCE_ARTIFACT], "output_artifacts": [BUILD_ARTIFACT],
                "namespace": BUILD_NAMESPACE, "run_order": 1,
                "configuration": {"ProjectName": project.name, "EnvironmentVariables": environment}}

    def _train_action(self) -> dict[str, Any]:
        return {"name": "StartTrainingWorkflow", "category": "Invoke", "owner": "AWS", "provider": "StepFunctions",
                "version": "1", "input_artifacts": [BUILD_ARTIFACT], "run_order": 1,
                "configuration": {"StateMachineArn": self._args.state_machine_arn, "InputType": "FilePath",
                                  "Input": START_INPUT_FILE,
                                  "ExecutionNamePrefix": f"#{{{BUILD_NAMESPACE}.EXECUTION_NAME_PREFIX}}"}}

    def _source_statements(self) -> list[dict[str, Any]]:
        a, s = self._args, self._args.source
        if s.provider == "codestar":
            # The service was renamed CodeConnections; both prefixes authorize the same call.
            return [statement("UseConnection", ["codestar-connections:UseConnection", "codeconnections:UseConnection"],
                              [s.connection_arn])]
        if s.provider == "codecommit":
            return [statement("ReadCodeCommitBranch", [
                "codecommit:GetBranch", "codecommit:GetCommit", "codecommit:UploadArchive",
                "codecommit:GetUploadArchiveStatus", "codecommit:CancelUploadArchive",
            ], [f"arn:aws:codecommit:{a.region}:{a.account_id}:{s.repository}"])]
        return [
            statement("ReadSourceObject", ["s3:GetObject", "s3:GetObjectVersion"],
                      [f"arn:aws:s3:::{s.bucket}/{s.object_key}"]),
            statement("CheckSourceBucketVersioning", ["s3:GetBucketVersioning"], [f"arn:aws:s3:::{s.bucket}"]),
        ]

    def _create_pipeline(self, project: aws.codebuild.Project) -> aws.codepipeline.Pipeline:
        a = self._args
        state_machine_executions = pulumi.Output.from_input(a.state_machine_arn).apply(
            lambda arn: arn.replace(":stateMachine:", ":execution:", 1) + ":*")
        role, policy = service_role(
            f"{self._name}-pipeline", role_name=f"{a.prefix}-training-pipeline",
            description="CodePipeline: runs the training pipeline (source, build, start the workflow)",
            service="codepipeline.amazonaws.com", account_id=a.account_id, opts=self._child, statements=[
            *self._source_statements(),
            statement("ArtifactObjects", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                      [self._artifact_objects()]),
            statement("ArtifactBucket", ["s3:GetBucketVersioning", "s3:GetBucketLocation"], [a.artifact_bucket_arn]),
            statement("UseStackKeyForArtifacts", ["kms:Decrypt", "kms:GenerateDataKey"], [a.kms_key_arn]),
            statement("RunBuild", ["codebuild:StartBuild", "codebuild:BatchGetBuilds", "codebuild:StopBuild"],
                      [project.arn]),
            statement("StartTrainingWorkflow", ["states:StartExecution", "states:DescribeStateMachine"],
                      [a.state_machine_arn]),
            statement("WatchTrainingWorkflow", ["states:DescribeExecution"],
                      [state_machine_executions]),
            ])

        triggers = None
        if a.source.provider == "codestar":
            triggers = [{
                "provider_type": "CodeStarSourceConnection",
                "git_configuration": {
                    "source_action_name": "Source",
                    "pushes": [{"branches": {"includes": [a.source.branch]},
                                "file_paths": {"includes": list(a.trigger_paths)}}],
                },
            }]
        return aws.codepipeline.Pipeline(
            f"{self._name}-codepipeline",
            name=self._pipeline_name,
            pipeline_type="V2",
            # A newer commit replaces older ones waiting for a stage; a running workflow is never cut short.
            execution_mode="SUPERSEDED",
            role_arn=role.arn,
            artifact_stores=[{"location": a.artifact_bucket_name, "type": "S3",
                              "encryption_key": {"id": a.kms_key_arn, "type": "KMS"}}],
            stages=[
                {"name": "Source", "actions": [self._source_action()]},
                {"name": "Build", "actions": [self._build_action(project)]},
                {"name": "Train", "actions": [self._train_action()]},
            ],
            triggers=triggers,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

    # --- EventBridge ----------------------------------------------------------------------------

    def _start_pattern(self) -> dict[str, Any]:
        a, s = self._args, self._args.source
        if s.provider == "codecommit":
            return {
                "source": ["aws.codecommit"],
                "detail-type": ["CodeCommit Repository State Change"],
                "resources": [f"arn:aws:codecommit:{a.region}:{a.account_id}:{s.repository}"],
                "detail": {"event": ["referenceCreated", "referenceUpdated"], "referenceType": ["branch"],
                           "referenceName": [s.branch]},
            }
        # Needs EventBridge notifications on the source bucket (docs/pipeline.md, "S3 source").
        return {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": [s.bucket]}, "object": {"key": [s.object_key]}},
        }

    def _create_start_rule(self, pipeline: aws.codepipeline.Pipeline) -> None:
        a = self._args
        role, _ = service_role(
            f"{self._name}-start", role_name=f"{a.prefix}-training-start",
            description="EventBridge: starts the training pipeline on a source change",
            service="events.amazonaws.com", account_id=a.account_id, opts=self._child,
            statements=[statement("StartTrainingPipeline", ["codepipeline:StartPipelineExecution"], [pipeline.arn])])
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-start", name=f"{a.prefix}-training-start",
            description=f"Start {self._pipeline_name} when its {a.source.provider} source changes",
            event_pattern=json.dumps(self._start_pattern()), opts=self._child)
        aws.cloudwatch.EventTarget(f"{self._name}-start-target", rule=rule.name, arn=pipeline.arn,
                                   role_arn=role.arn, target_id="training-pipeline", opts=self._child)

    def _create_failure_notification(self, pipeline: aws.codepipeline.Pipeline) -> None:
        a = self._args
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-failed", name=f"{a.prefix}-training-failed",
            description=f"Notify the stack's topic when {self._pipeline_name} fails",
            event_pattern=pulumi.Output.json_dumps({
                "source": ["aws.codepipeline"],
                "detail-type": ["CodePipeline Pipeline Execution State Change"],
                "detail": {"state": ["FAILED"], "pipeline": [pipeline.name]},
            }), opts=self._child)
        aws.cloudwatch.EventTarget(
            f"{self._name}-failed-target", rule=rule.name, arn=a.notification_topic_arn,
            target_id="notification-topic",
            input_transformer={
                "input_paths": {"pipeline": "$.detail.pipeline", "execution": "$.detail.execution-id",
                                "region": "$.region"},
                "input_template": (
                    '"Training pipeline <pipeline> failed (execution <execution>). Details: '
                    "https://<region>.console.aws.amazon.com/codesuite/codepipeline/pipelines/<pipeline>/"
                    'executions/<execution>/timeline?region=<region>"'),
            },
            opts=self._child)
