"""The provisioning API's deploy: a queued pipeline that runs ``pulumi up`` for the registry stack.

    POST / DELETE accepted -> the catalog store holds the record
      -> StartPipelineExecution (variables PIPELINE_ID, ACTION)
      -> provisioning pipeline (CodePipeline V2, execution mode QUEUED)
           Source   the repository's promotion branch (no change detection: only the API starts it)
           Deploy   CodeBuild: the pinned Pulumi CLI; the store synced to a local copy
                    (MLOPS_CATALOG_STORE); pulumi up for the registry stack with the policy pack; the
                    stack's outputs recorded in the store's bucket (GET reports them)
      -> execution and stage state changes -> EventBridge rule -> provisioning_events Lambda: the
         record becomes running / succeeded / failed (with the failed action's reason); a failure is
         published on the stack's topic with the entry and the reason
      -> a notification rule publishes failed executions on the topic too (if the Lambda itself fails)

Why a QUEUED pipeline: CodeBuild's project concurrency limit refuses builds over the limit ("new builds
are throttled and are not run", botocore's ``concurrentBuildLimit``), it does not queue them; a V2
pipeline in QUEUED mode processes executions one by one, in order, each stage holding one execution at a
time, so two accepted requests give one running deploy and one waiting, and none is lost. Each request
is its own execution, named by its ``PIPELINE_ID`` variable, so each record follows its own deploy.

The build's role is ``Names.provisioning_deploy_role`` (``mlops-<registry>-provisioning-deploy``), the name
``bootstrap/`` lets assume the stack's ``deployRoleArn`` and admits to the Pulumi state key. (The promotion's
deploy of catalog packages to the registry stack has a role of its own, ``promotion_deploy_role(<registry>)``.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_aws as aws

from components import catalog_store
from components.codebuild import pipeline_build_project
from components.context import StackContext
from components.iam import service_role, statement
from components.names import CATALOG_DEPLOYS_PREFIX, CATALOG_STORE_PREFIX
from components.notifications import publish_statements
from components.pipeline_source import SOURCE_ARTIFACT, source_action, source_statements
from components.promotion import BUILD_IMAGE, PULUMI_VERSION, pulumi_backend_statements, pulumi_build_variables
from components.promotion_buildspecs import pulumi_stack_buildspec
from components.python_function import PythonFunction, PythonFunctionArgs
from components.specs import PipelineSource

DEPLOY_STAGE = "Deploy"
PIPELINE_ID_VARIABLE = "PIPELINE_ID"
ACTION_VARIABLE = "ACTION"
ACTIONS = ("provision", "retire")
EVENT_DETAIL_TYPES = ("CodePipeline Pipeline Execution State Change", "CodePipeline Stage Execution State Change")

EVENTS_MODULES = ("catalog",)
"""What the deploy recorder's Lambda vendors from the repository."""


def state_change_pattern(pipeline_name: str) -> dict[str, Any]:
    """EventBridge pattern: this pipeline's execution and stage state changes."""
    return {"source": ["aws.codepipeline"], "detail-type": list(EVENT_DETAIL_TYPES),
            "detail": {"pipeline": [pipeline_name]}}


@dataclass(frozen=True)
class ProvisioningDeployArgs:
    ctx: StackContext
    """The registry stack's context: the stack this pipeline deploys."""
    deploy_role_arn: str
    """The stack's ``deployRoleArn``: its provider assumes it; the build may assume exactly it."""
    source: PipelineSource
    branch: str
    """The branch deployed (the promotion's: the released program and catalog file)."""
    pulumi_backend_url: str
    pulumi_token_secret_arn: str | None
    pulumi_version: str = PULUMI_VERSION
    build_timeout_minutes: int = 60


class ProvisioningDeploy(pulumi.ComponentResource):
    pipeline_name: pulumi.Output[str]
    pipeline_arn: pulumi.Output[str]
    project_name: pulumi.Output[str]
    events_function_arn: pulumi.Output[str]
    rule_name: pulumi.Output[str]

    def __init__(self, name: str, args: ProvisioningDeployArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:provisioning:ProvisioningDeploy", name, None, opts)
        a, ctx = args, args.ctx
        names = ctx.names
        child = pulumi.ResourceOptions(parent=self)
        pipeline_name = names.provisioning_pipeline
        pipeline_arn = names.provisioning_pipeline_arn
        # CodePipeline keeps artifacts under the first 20 characters of the pipeline name.
        artifacts = pulumi.Output.concat(ctx.bucket_arn, f"/{pipeline_name[:20]}/*")

        build = pipeline_build_project(
            ctx, f"{name}-build", parent=self, project_name=names.provisioning_deploy_project,
            description=f"pulumi up for the {names.environment} stack with the catalog store (provisioning API)",
            role_name=names.provisioning_deploy_role,
            role_description=f"CodeBuild role: deploys the {names.environment} stack for the provisioning API",
            statements=[
                statement("ReadSourceArtifact", ["s3:GetObject", "s3:GetObjectVersion"], [artifacts]),
                statement("UseStackKey", ["kms:Decrypt", "kms:GenerateDataKey"], [ctx.kms_key_arn]),
                statement("AssumeStackDeployRole", ["sts:AssumeRole"], [a.deploy_role_arn]),
                *pulumi_backend_statements(a.pulumi_backend_url, a.pulumi_token_secret_arn),
                *catalog_store.read_statements(ctx.bucket_arn),
                statement("RecordDeployOutputs", ["s3:PutObject"],
                          [catalog_store.deploy_outputs_arn(ctx.bucket_arn, names.environment)]),
            ],
            buildspec=DEPLOY_BUILDSPEC, build_timeout_minutes=a.build_timeout_minutes,
            environment={
                "compute_type": "BUILD_GENERAL1_SMALL", "image": BUILD_IMAGE, "type": "LINUX_CONTAINER",
                "image_pull_credentials_type": "CODEBUILD",
                "environment_variables": pulumi_build_variables({
                    "TARGET_STACK": names.environment, "PULUMI_BACKEND_URL": a.pulumi_backend_url,
                    "PULUMI_VERSION": a.pulumi_version, "PULUMI_SKIP_UPDATE_CHECK": "true",
                    "STORE_BUCKET": names.bucket, "STORE_PREFIX": CATALOG_STORE_PREFIX,
                    "DEPLOYS_PREFIX": CATALOG_DEPLOYS_PREFIX}, a.pulumi_token_secret_arn)},
        )

        pipeline_role, _ = service_role(
            f"{name}-pipeline", role_name=f"{ctx.prefix}-provisioning-pipeline",
            description="CodePipeline service role of the provisioning API's deploys",
            service="codepipeline.amazonaws.com", account_id=ctx.account, opts=child, statements=[
                statement("Artifacts", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], [artifacts]),
                statement("ArtifactBucket", ["s3:GetBucketVersioning", "s3:GetBucketLocation"], [ctx.bucket_arn]),
                statement("ArtifactKey", ["kms:Decrypt", "kms:GenerateDataKey"], [ctx.kms_key_arn]),
                statement("RunDeploy", ["codebuild:StartBuild", "codebuild:BatchGetBuilds"], [build.project.arn]),
                *source_statements(a.source, names),
            ])
        variables = [f"#{{variables.{v}}}" for v in (PIPELINE_ID_VARIABLE, ACTION_VARIABLE)]
        source = cast(aws.codepipeline.PipelineStageActionArgsDict,
                      source_action(a.source, branch=a.branch, detect_changes=False))
        deploy_action: aws.codepipeline.PipelineStageActionArgsDict = {
            "name": DEPLOY_STAGE, "category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1",
            "input_artifacts": [SOURCE_ARTIFACT],
            "configuration": {"ProjectName": build.project.name, "EnvironmentVariables": json.dumps([
                {"name": PIPELINE_ID_VARIABLE, "value": variables[0], "type": "PLAINTEXT"},
                {"name": ACTION_VARIABLE, "value": variables[1], "type": "PLAINTEXT"}])}}
        pipeline = aws.codepipeline.Pipeline(
            f"{name}-pipeline", name=pipeline_name, pipeline_type="V2", execution_mode="QUEUED",
            role_arn=pipeline_role.arn,
            artifact_stores=[{"location": ctx.bucket_name, "type": "S3",
                              "encryption_key": {"id": ctx.kms_key_arn, "type": "KMS"}}],
            variables=[
                {"name": PIPELINE_ID_VARIABLE, "default_value": "none",
                 "description": "The pipeline (catalog entry) whose request started this deploy"},
                {"name": ACTION_VARIABLE, "default_value": "provision", "description": " or ".join(ACTIONS)},
            ],
            stages=[{"name": "Source", "actions": [source]}, {"name": DEPLOY_STAGE, "actions": [deploy_action]}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pipeline_role]))
        aws.codestarnotifications.NotificationRule(
            f"{name}-notifications", name=f"{ctx.prefix}-provisioning", resource=pipeline.arn, detail_type="FULL",
            event_type_ids=["codepipeline-pipeline-pipeline-execution-failed"],
            targets=[{"address": ctx.topic_arn, "type": "SNS"}], opts=child)

        recorder = PythonFunction(f"{name}-events", PythonFunctionArgs(
            ctx=ctx, function_name=names.provisioning_events_function, folder="provisioning_events",
            description="Records the provisioning deploys' state in the catalog store; notifies failures",
            statements=[
                *catalog_store.write_statements(ctx.bucket_arn),
                statement("ReadDeploys", ["codepipeline:GetPipelineExecution", "codepipeline:ListActionExecutions"],
                          [pipeline_arn]),
                # The key statement also covers the store's objects, encrypted with the stack key.
                *publish_statements(ctx.topic_arn, ctx.kms_key_arn, publish_sid="NotifyFailures",
                                    key_sid="UseStackKey"),
            ],
            environment={"STORE_BUCKET": names.bucket, "STORE_PREFIX": CATALOG_STORE_PREFIX,
                         "PIPELINE_NAME": pipeline_name, "DEPLOY_STAGE": DEPLOY_STAGE, "TOPIC_ARN": ctx.topic_arn,
                         "STACK": names.environment},
            modules=EVENTS_MODULES,
        ), opts=child)
        rule = aws.cloudwatch.EventRule(
            f"{name}-state-rule", name=f"{ctx.prefix}-provisioning-state",
            description="The provisioning pipeline's executions and stages changed state: record it",
            event_pattern=json.dumps(state_change_pattern(pipeline_name)), opts=child)
        permission = aws.lambda_.Permission(
            f"{name}-events-permission", action="lambda:InvokeFunction", function=recorder.function_name,
            principal="events.amazonaws.com", source_arn=rule.arn, opts=child)
        aws.cloudwatch.EventTarget(
            f"{name}-state-target", rule=rule.name, arn=recorder.function_arn,
            retry_policy={"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 10},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]))

        self.pipeline_name = pipeline.name
        self.pipeline_arn = pipeline.arn
        self.project_name = build.project.name
        self.events_function_arn = recorder.function_arn
        self.rule_name = rule.name
        self.register_outputs({"pipeline_name": self.pipeline_name, "project_name": self.project_name})


# The deploy: the pinned Pulumi CLI and the program's requirements; a local copy of the catalog store for the
# program to read (MLOPS_CATALOG_STORE: the snapshot this deploy provisions); pulumi up for the registry stack
# with the policy pack (its provider assumes the stack's deployRoleArn); the stack's outputs recorded for GET.
DEPLOY_BUILDSPEC = pulumi_stack_buildspec(
    prepare="""\
      - echo "deploying $TARGET_STACK for pipeline $PIPELINE_ID ($ACTION)"
      - mkdir -p catalog-store && aws s3 sync --delete "s3://$STORE_BUCKET/$STORE_PREFIX/" catalog-store/
      - export MLOPS_CATALOG_STORE="$PWD/catalog-store"
""",
    deploy="""\
      - pulumi up --yes --non-interactive --policy-pack policies --policy-pack-config "policies/config/$TARGET_STACK.json"
      - pulumi stack output --json > stack-outputs.json
      - aws s3 cp stack-outputs.json "s3://$STORE_BUCKET/$DEPLOYS_PREFIX/$TARGET_STACK.json"
""",
)
