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

from components.codebuild import STANDARD_IMAGE, docker_build_environment, pipeline_build_project
from components.context import StackContext
from components.iam import service_role, statement
from components.pipeline_source import SOURCE_ARTIFACT, source_action, source_kind, source_statements
from components.specs import PipelineSource

BUILDSPEC_PATH = "pipeline/buildspec.yml"
DATA_MANIFEST_PATH = "data/manifest.json"
TRIGGER_PATHS = ("container/**", DATA_MANIFEST_PATH, "pipeline/**")
"""Changed files that start a run (CodeStar connection sources). Anything else does not retrain."""
START_INPUT_FILE = "sf_start_params.json"
SOURCE_NAMESPACE = "SourceVariables"
BUILD_NAMESPACE = "BuildVariables"
BUILD_ARTIFACT = "start_input"


@dataclass(frozen=True)
class TrainingPipelineArgs:
    ctx: StackContext
    """Names, the stack key (artifacts, build logs and the build's output are encrypted with it), the
    stack bucket (pipeline artifacts) and the topic (failures)."""
    source: PipelineSource
    state_machine_arn: pulumi.Input[str]
    """The training workflow the Train stage starts."""
    repository_name: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    repository_url: pulumi.Input[str]
    data_buckets: Sequence[pulumi.Input[str]] = field(default_factory=tuple)
    """Buckets the data manifest may point to (those the workflow can read). Empty: the artifact bucket."""
    trigger_paths: Sequence[str] = TRIGGER_PATHS
    build_image: str = STANDARD_IMAGE
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
        self._ctx = ctx = args.ctx
        self._child = pulumi.ResourceOptions(parent=self)
        self._pipeline_name = f"{ctx.prefix}-training"
        self._project_name = f"{ctx.prefix}-training-image"
        a = args

        project, log_group = self._create_build_project()
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
        return pulumi.Output.concat(self._ctx.bucket_arn, "/", artifact_prefix(self._pipeline_name), "/*")

    def _create_build_project(self) -> tuple[aws.codebuild.Project, aws.cloudwatch.LogGroup]:
        a, ctx = self._args, self._ctx
        statements = [
            statement("ReadSourceWriteStartInput", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                      [self._artifact_objects()]),
            statement("UseStackKeyForArtifacts", ["kms:Decrypt", "kms:GenerateDataKey"], [ctx.kms_key_arn]),
            # ecr:GetAuthorizationToken has no resource-level permissions: AWS only accepts "*" here.
            statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            statement("PushTrainingImage", [
                "ecr:DescribeImages", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
                "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage",
            ], [a.repository_arn]),
        ]
        data_buckets = list(a.data_buckets) or [ctx.bucket_name]
        build = pipeline_build_project(
            ctx, f"{self._name}-build", parent=self, project_name=self._project_name,
            description="Builds container/ into <ECR repository>:<full commit SHA> and writes the workflow input",
            role_name=f"{ctx.prefix}-training-build",
            role_description="CodeBuild: builds the training image and pushes it to the stack's ECR repository",
            statements=statements, buildspec=BUILDSPEC_PATH, build_timeout_minutes=a.build_timeout_minutes,
            own_logs_sid="WriteBuildLogs", own_log_streams=":log-stream:*", s3_logs={"status": "DISABLED"},
            queued_timeout=60,
            environment=docker_build_environment({
                "IMAGE_REPOSITORY_URI": a.repository_url,
                "SOURCE_KIND": source_kind(a.source).revision_kind,
                "ALLOWED_DATA_BUCKETS": pulumi.Output.all(*data_buckets).apply(lambda names: ",".join(names)),
            }, image=a.build_image, compute_type=a.build_compute_type),
            # Docker layer cache on the build host (best effort: it survives only while hosts are reused).
            cache={"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE"]},
        )
        return build.project, build.log_group

    # --- CodePipeline ---------------------------------------------------------------------------

    def _source_action(self) -> dict[str, Any]:
        return {**source_action(self._args.source, namespace=SOURCE_NAMESPACE), "run_order": 1}

    def _build_action(self, project: aws.codebuild.Project) -> dict[str, Any]:
        variable = source_kind(self._args.source).revision_variable
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

    def _create_pipeline(self, project: aws.codebuild.Project) -> aws.codepipeline.Pipeline:
        a, ctx = self._args, self._ctx
        state_machine_executions = pulumi.Output.from_input(a.state_machine_arn).apply(
            lambda arn: arn.replace(":stateMachine:", ":execution:", 1) + ":*")
        role, policy = service_role(
            f"{self._name}-pipeline", role_name=f"{ctx.prefix}-training-pipeline",
            description="CodePipeline: runs the training pipeline (source, build, start the workflow)",
            service="codepipeline.amazonaws.com", account_id=ctx.account, opts=self._child, statements=[
            *source_statements(a.source, ctx.names),
            statement("ArtifactObjects", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                      [self._artifact_objects()]),
            statement("ArtifactBucket", ["s3:GetBucketVersioning", "s3:GetBucketLocation"], [ctx.bucket_arn]),
            statement("UseStackKeyForArtifacts", ["kms:Decrypt", "kms:GenerateDataKey"], [ctx.kms_key_arn]),
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
            artifact_stores=[{"location": ctx.bucket_name, "type": "S3",
                              "encryption_key": {"id": ctx.kms_key_arn, "type": "KMS"}}],
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
        s = self._args.source
        if s.provider == "codecommit":
            return {
                "source": ["aws.codecommit"],
                "detail-type": ["CodeCommit Repository State Change"],
                "resources": [self._ctx.names.codecommit_arn(s.repository)],
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
        a, ctx = self._args, self._ctx
        role, _ = service_role(
            f"{self._name}-start", role_name=f"{ctx.prefix}-training-start",
            description="EventBridge: starts the training pipeline on a source change",
            service="events.amazonaws.com", account_id=ctx.account, opts=self._child,
            statements=[statement("StartTrainingPipeline", ["codepipeline:StartPipelineExecution"], [pipeline.arn])])
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-start", name=f"{ctx.prefix}-training-start",
            description=f"Start {self._pipeline_name} when its {a.source.provider} source changes",
            event_pattern=json.dumps(self._start_pattern()), opts=self._child)
        aws.cloudwatch.EventTarget(f"{self._name}-start-target", rule=rule.name, arn=pipeline.arn,
                                   role_arn=role.arn, target_id="training-pipeline", opts=self._child)

    def _create_failure_notification(self, pipeline: aws.codepipeline.Pipeline) -> None:
        ctx = self._ctx
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-failed", name=f"{ctx.prefix}-training-failed",
            description=f"Notify the stack's topic when {self._pipeline_name} fails",
            event_pattern=pulumi.Output.json_dumps({
                "source": ["aws.codepipeline"],
                "detail-type": ["CodePipeline Pipeline Execution State Change"],
                "detail": {"state": ["FAILED"], "pipeline": [pipeline.name]},
            }), opts=self._child)
        aws.cloudwatch.EventTarget(
            f"{self._name}-failed-target", rule=rule.name, arn=ctx.topic_arn,
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
