"""Model promotion: an Approved model package travels through the promotion targets, in order.

Runs in the registry stack (``registryEnvironment``, dev):

    SageMaker "Model Package State Change", ModelApprovalStatus Approved, in a platform group: the
    trained model's or a catalog entry's (uploaded models, ``components.model_upload``)
      -> EventBridge rule -> trigger state machine (one SDK call, no code): StartPipelineExecution with
         the pipeline variable MODEL_PACKAGE_ARN from the event, the event id as idempotency token
      -> promotion pipeline (CodePipeline V2, queued executions)
         Source          the repository's promotionBranch (no change detection: approvals start it)
         then, per target (``components.promotion_stages``), with the repository's stack files:
         DeployDev       with catalog groups: the registry stack itself first (a catalog package:
                         catalogPackages.<model_name>=<arn>; a trained one was deployed by its workflow)
         DeployStaging   CodeBuild: pulumi up --stack staging --config modelPackageArn=<arn>, or
                         catalogPackages.<model_name>=<arn> for a catalog package, everything else the
                         stack serves pinned as it is (``pipeline/promotion_config.py``)
                         (the staging stack's provider assumes its deployRoleArn)
         TestStaging     CodeBuild: integration/run.py invokes the staging endpoint with the known
                         records of integration/cases/*.json; JUnit report + report URL; any failure
                         stops the pipeline
         ApproveProd     manual approval, notified on the stack's topic with the report link
         DeployProd      CodeBuild: pulumi up --stack prod --config modelPackageArn=<arn>
      failed / succeeded executions -> notification rule -> the stack's topic

Rolling back is promoting the previous package: start the pipeline with MODEL_PACKAGE_ARN set to it.
The model package group is shared with the targets' accounts by resource policy (the catalog groups by
``components.model_upload``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import catalog_store
from components.codebuild import pipeline_build_project
from components.context import StackContext
from components.iam import service_role, state_machine_logging_statements, statement
from components.model_registry import registry_policy_document
from components.names import Names
from components.pipeline_source import source_action, source_statements
from components.promotion_buildspecs import DEPLOY_BUILDSPEC, TEST_BUILDSPEC
from components.promotion_stages import (
    PACKAGE_VARIABLE,
    CatalogGroup,
    PromotionTarget,
    Stage,
    approval_message,
    preview_artifact,
    stage_plan,
)
from components.specs import PipelineSource

EVENT_DETAIL_TYPE = "SageMaker Model Package State Change"
BUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
PULUMI_VERSION = "3.272.0"
"""The Pulumi CLI every deploy build installs (promotion's and the provisioning API's)."""


def pulumi_build_variables(environment: dict[str, pulumi.Input[str]],
                           token_secret_arn: str | None) -> list[dict[str, Any]]:
    """A deploy build's environment variables: ``environment`` as plain text, and the Pulumi access token
    from Secrets Manager where the backend needs one."""
    variables = [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in environment.items()]
    if token_secret_arn:
        variables.append({"name": "PULUMI_ACCESS_TOKEN", "value": token_secret_arn, "type": "SECRETS_MANAGER"})
    return variables


def pulumi_backend_statements(backend_url: str, token_secret_arn: str | None) -> list[dict[str, Any]]:
    """What a deploy build's role needs of the Pulumi backend: the access token, or the state bucket's
    ``.pulumi/`` objects."""
    statements = []
    if token_secret_arn:
        statements.append(statement("ReadPulumiToken", ["secretsmanager:GetSecretValue"], [token_secret_arn]))
    if backend_url.startswith("s3://"):
        bucket, _, path = backend_url[len("s3://"):].partition("/")
        statements += [
            statement("ListPulumiState", ["s3:ListBucket"], [Names.s3_arn(bucket)]),
            statement("ReadWritePulumiState", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                      [Names.s3_arn(bucket, f"{path.strip('/') + '/' if path.strip('/') else ''}.pulumi/*")]),
        ]
    return statements


__all__ = ["DEPLOY_BUILDSPEC", "TEST_BUILDSPEC", "Promotion", "PromotionArgs", "approved_package_event_pattern",
           "promotion_plan", "trigger_definition"]


def approved_package_event_pattern(*group_names: str) -> dict[str, Any]:
    """EventBridge pattern: packages of these groups becoming Approved; Pending and Rejected never match."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [EVENT_DETAIL_TYPE],
        "detail": {"ModelPackageGroupName": list(group_names), "ModelApprovalStatus": ["Approved"]},
    }


def promotion_plan(registry_environment: str, trained_group: str, catalog_groups: tuple[CatalogGroup, ...]) -> str:
    """``PROMOTION_PLAN``: which group is which and where each catalog entry goes, for the builds'
    ``pipeline/promotion_config.py``."""
    return json.dumps({
        "registry": registry_environment, "trainedGroup": trained_group,
        "catalogGroups": {g.group_name: {"model": g.model_name, "endpoints": dict(g.endpoints)}
                          for g in catalog_groups},
    }, separators=(",", ":"))


@dataclass(frozen=True)
class PromotionArgs:
    ctx: StackContext
    """The registry stack's context: the promotion runs there."""
    model_package_group_name: pulumi.Input[str]
    model_package_group_arn: pulumi.Input[str]
    targets: tuple[PromotionTarget, ...]
    """Where an Approved package travels, in order (``components.promotion_stages``)."""
    source: PipelineSource
    branch: str
    pulumi_backend_url: str
    pulumi_token_secret_arn: str | None
    catalog_groups: tuple[CatalogGroup, ...] = ()
    """The catalog entries' groups (uploaded models): their Approved packages are promoted too."""
    registry_deploy_role_arn: str | None = None
    """The registry stack's deployRoleArn: with catalog groups, the first stage deploys the registry stack
    itself (its catalog entries serve the package from there on)."""
    pulumi_version: str = PULUMI_VERSION
    build_timeout_minutes: int = 60
    approval_hours: int = 72


class Promotion(pulumi.ComponentResource):
    pipeline_name: pulumi.Output[str]
    pipeline_arn: pulumi.Output[str]
    rule_name: pulumi.Output[str]
    event_pattern: pulumi.Output[str]

    def __init__(self, name: str, args: PromotionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:promotion:Promotion", name, None, opts)
        self._args = a = args
        self._ctx = ctx = a.ctx
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        self._pipeline_name = f"{ctx.prefix}-promotion"
        self._pipeline_arn = ctx.names.codepipeline_arn(self._pipeline_name)
        # CodePipeline keeps artifacts under the first 20 characters of the pipeline name.
        self._artifacts = pulumi.Output.concat(ctx.bucket_arn, f"/{self._pipeline_name[:20]}/*")

        consumers = sorted({t.names.account for t in a.targets} - {ctx.account})
        if consumers:
            aws.sagemaker.ModelPackageGroupPolicy(
                f"{name}-registry-policy", model_package_group_name=a.model_package_group_name,
                resource_policy=registry_policy_document(a.model_package_group_arn, a.model_package_group_name,
                                                         consumers, ctx.names),
                opts=child)

        self._plan = pulumi.Output.from_input(a.model_package_group_name).apply(
            lambda group: promotion_plan(ctx.names.environment, group, a.catalog_groups))
        targets = (*self._registry_target(), *a.targets)
        stages = stage_plan(targets)
        deploys = {t.environment: self._deploy_project(t) for t in targets}
        tested = [t for t in a.targets if t.integration_tests]
        tests = self._test_project(tested) if tested else None
        pipeline_role = self._pipeline_role([*deploys.values(), *([tests] if tests else [])])
        pipeline = aws.codepipeline.Pipeline(
            f"{name}-pipeline", name=self._pipeline_name, pipeline_type="V2", execution_mode="QUEUED",
            role_arn=pipeline_role.arn,
            artifact_stores=[{"location": ctx.bucket_name, "type": "S3",
                              "encryption_key": {"id": ctx.kms_key_arn, "type": "KMS"}}],
            variables=[{"name": PACKAGE_VARIABLE,
                        "description": "ARN of the Approved model package to promote (set by the approval "
                                       "event; set it by hand to roll back to an earlier package)"}],
            stages=[{"name": "Source", "actions": [self._source_action()]},
                    *[{"name": stage.name, "actions": [self._stage_action(stages, index, deploys, tests)]}
                      for index, stage in enumerate(stages)]],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pipeline_role]))

        aws.codestarnotifications.NotificationRule(
            f"{name}-notifications", name=f"{ctx.prefix}-promotion",
            resource=pipeline.arn, detail_type="FULL",
            event_type_ids=["codepipeline-pipeline-pipeline-execution-failed",
                            "codepipeline-pipeline-pipeline-execution-succeeded",
                            "codepipeline-pipeline-manual-approval-failed"],
            targets=[{"address": ctx.topic_arn, "type": "SNS"}], opts=child)

        trigger = self._trigger_state_machine()
        pattern = pulumi.Output.from_input(a.model_package_group_name).apply(
            lambda group: json.dumps(approved_package_event_pattern(group, *(g.group_name for g in a.catalog_groups))))
        rule = aws.cloudwatch.EventRule(
            f"{name}-approved-rule", name=f"{ctx.prefix}-model-approved",
            description="A model package of a platform group became Approved: start its promotion",
            event_pattern=pattern, opts=child)
        events_role, _ = service_role(
            f"{name}-events", role_name=f"{ctx.prefix}-promotion-events",
            description="EventBridge starts the promotion trigger state machine",
            service="events.amazonaws.com", account_id=ctx.account, opts=child,
            statements=[statement("StartTrigger", ["states:StartExecution"], [trigger.arn])])
        aws.cloudwatch.EventTarget(
            f"{name}-approved-target", rule=rule.name, arn=trigger.arn, role_arn=events_role.arn,
            retry_policy={"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 10}, opts=child)

        self.pipeline_name = pipeline.name
        self.pipeline_arn = pipeline.arn
        self.rule_name = rule.name
        self.event_pattern = rule.event_pattern
        self.register_outputs({"pipeline_name": self.pipeline_name, "rule_name": self.rule_name})

    def _registry_target(self) -> tuple[PromotionTarget, ...]:
        """The registry stack as the first deploy stage, when catalog packages need it (its own entries
        serve an approved upload from there on); trained packages skip it (their workflow deployed them)."""
        a, ctx = self._args, self._ctx
        if not a.catalog_groups:
            return ()
        if not a.registry_deploy_role_arn:
            pulumi.log.warn(f"{ctx.prefix}: no deployRoleArn: the promotion cannot deploy approved catalog packages "
                            f"to {ctx.names.environment} itself; they reach it with its next `pulumi up`",
                            resource=self)
            return ()
        return (PromotionTarget(ctx.names.environment, ctx.names, a.registry_deploy_role_arn),)

    # ---------------------------------------------------------------------------------------------
    # Pipeline pieces

    def _source_action(self) -> dict[str, Any]:
        # The promotion's own branch; approvals start it, pushes do not.
        return source_action(self._args.source, branch=self._args.branch, detect_changes=False)

    def _stage_action(self, stages: list[Stage], index: int, deploys: dict[str, aws.codebuild.Project],
                      tests: aws.codebuild.Project | None) -> dict[str, Any]:
        stage = stages[index]
        target = stage.target
        if stage.kind == "approve":
            text, link = approval_message(stages, index)
            return {"name": "Approve", "category": "Approval", "owner": "AWS", "provider": "Manual",
                    "version": "1", "configuration": {"NotificationArn": self._ctx.topic_arn, "CustomData": text,
                                                      "ExternalEntityLink": link}}
        if stage.kind == "preview":
            action = self._build_action("Preview", deploys[target.environment], stage.name, {"MODE": "preview"})
            return {**action, "output_artifacts": [preview_artifact(target)]}
        if stage.kind == "deploy":
            if not target.approval:
                return self._build_action("Deploy", deploys[target.environment], stage.name, {"MODE": "up"})
            # After an approval the deploy compares against the approved preview before `pulumi up`.
            action = self._build_action("Deploy", deploys[target.environment], stage.name,
                                        {"MODE": "up", "APPROVED_PREVIEW": preview_artifact(target)})
            action["input_artifacts"] = ["source", preview_artifact(target)]
            action["configuration"]["PrimarySource"] = "source"
            return action
        assert tests is not None
        # One test project for every tested environment: the action says which endpoint and tester role.
        return self._build_action("RunIntegrationTests", tests, stage.name, {
            "ENDPOINT_NAME": target.names.endpoint, "TESTER_ROLE_ARN": target.names.endpoint_tester_role_arn,
            "TARGET_REGION": target.names.region, "TARGET_STACK": target.environment})

    @staticmethod
    def _build_action(name: str, project: aws.codebuild.Project, namespace: str,
                      variables: dict[str, str] | None = None) -> dict[str, Any]:
        environment = [{"name": PACKAGE_VARIABLE, "value": f"#{{variables.{PACKAGE_VARIABLE}}}", "type": "PLAINTEXT"},
                       *({"name": k, "value": v, "type": "PLAINTEXT"} for k, v in (variables or {}).items())]
        return {"name": name, "category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1",
                "input_artifacts": ["source"], "namespace": namespace,
                "configuration": {"ProjectName": project.name, "EnvironmentVariables": json.dumps(environment)}}

    def _pipeline_role(self, projects: list[aws.codebuild.Project]) -> aws.iam.Role:
        ctx, source = self._ctx, self._args.source
        child = pulumi.ResourceOptions(parent=self)
        statements = [
            statement("Artifacts", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], [self._artifacts]),
            statement("ArtifactBucket", ["s3:GetBucketVersioning", "s3:GetBucketLocation"], [ctx.bucket_arn]),
            statement("ArtifactKey", ["kms:Decrypt", "kms:GenerateDataKey"], [ctx.kms_key_arn]),
            statement("RunBuilds", ["codebuild:StartBuild", "codebuild:BatchGetBuilds"], [p.arn for p in projects]),
            statement("NotifyApprovers", ["sns:Publish"], [ctx.topic_arn]),
            *source_statements(source, ctx.names),
        ]
        role, _ = service_role(
            f"{self._name}-pipeline", role_name=f"{ctx.prefix}-promotion-pipeline",
            description="CodePipeline service role of the model promotion",
            service="codepipeline.amazonaws.com", account_id=ctx.account, statements=statements, opts=child)
        return role

    # ---------------------------------------------------------------------------------------------
    # CodeBuild projects

    def _project(self, key: str, description: str, buildspec: str, statements: list[dict[str, Any]],
                 environment: dict[str, pulumi.Input[str]], role_name: str) -> aws.codebuild.Project:
        a, ctx = self._args, self._ctx
        project_name = f"{ctx.prefix}-promotion-{key}"
        variables = pulumi_build_variables(environment, a.pulumi_token_secret_arn)
        return pipeline_build_project(
            ctx, f"{self._name}-{key}", parent=self, project_name=project_name, description=description,
            role_name=role_name,
            role_description=f"CodeBuild role: {description}",
            statements=[
                statement("ReadSourceArtifact", ["s3:GetObject", "s3:GetObjectVersion"], [self._artifacts]),
                statement("UseStackKey", ["kms:Decrypt", "kms:GenerateDataKey"], [ctx.kms_key_arn]),
                *statements,
            ],
            buildspec=buildspec, build_timeout_minutes=a.build_timeout_minutes,
            environment={"compute_type": "BUILD_GENERAL1_SMALL", "image": BUILD_IMAGE, "type": "LINUX_CONTAINER",
                         "image_pull_credentials_type": "CODEBUILD", "environment_variables": variables},
        ).project

    def _deploy_project(self, target: PromotionTarget) -> aws.codebuild.Project:
        a = self._args
        # A target behind an approval is previewed first: that build writes the preview as an artifact.
        writes_preview = [statement("WritePreviewArtifact", ["s3:PutObject"], [self._artifacts])] if target.approval else []
        return self._project(
            f"deploy-{target.environment}",
            f"previews and deploys an approved model package to the {target.environment} stack" if target.approval
            else f"deploys an approved model package to the {target.environment} stack",
            DEPLOY_BUILDSPEC,
            [statement("AssumeTargetDeployRole", ["sts:AssumeRole"], [target.deploy_role_arn]),
             *writes_preview, *pulumi_backend_statements(a.pulumi_backend_url, a.pulumi_token_secret_arn),
             # The program reads the catalog store (the provisioning API's entries) with the catalog file.
             *catalog_store.read_statements(self._ctx.bucket_arn)],
            {"TARGET_STACK": target.environment, "PULUMI_BACKEND_URL": a.pulumi_backend_url,
             "PULUMI_VERSION": a.pulumi_version, "PULUMI_SKIP_UPDATE_CHECK": "true", "PROMOTION_PLAN": self._plan},
            # The target's deploy role trusts exactly this name (bootstrap/ creates that trust).
            role_name=self._ctx.names.promotion_deploy_role(target.environment))

    def _test_project(self, tested: list[PromotionTarget]) -> aws.codebuild.Project:
        """Runs the integration tests; each test action names its environment's endpoint and tester role,
        and this project's role may assume exactly the tested environments' tester roles."""
        ctx = self._ctx
        report_group = ctx.names.arn("codebuild", f"report-group/{ctx.prefix}-promotion-tests-*")
        environments = ", ".join(t.environment for t in tested)
        return self._project(
            "tests", f"runs the integration tests against the endpoints of {environments}", TEST_BUILDSPEC,
            [statement("AssumeTesterRoles", ["sts:AssumeRole"], [t.names.endpoint_tester_role_arn for t in tested]),
             statement("PublishTestReports", ["codebuild:CreateReportGroup", "codebuild:CreateReport",
                                              "codebuild:UpdateReport", "codebuild:BatchPutTestCases"],
                       [report_group])],
            {"PROMOTION_PLAN": self._plan}, role_name=ctx.names.promotion_tests_role)

    # ---------------------------------------------------------------------------------------------
    # Trigger

    def _trigger_state_machine(self) -> aws.sfn.StateMachine:
        """One aws-sdk task: StartPipelineExecution with the package ARN as pipeline variable and the
        event id as idempotency token (EventBridge delivers at least once)."""
        ctx = self._ctx
        child = pulumi.ResourceOptions(parent=self)
        name = f"{ctx.prefix}-promotion-trigger"
        arn = ctx.names.state_machine_arn_of(name)
        logs = aws.cloudwatch.LogGroup(
            f"{self._name}-trigger-logs", name=f"/aws/vendedlogs/states/{name}",
            retention_in_days=ctx.log_retention_days, kms_key_id=ctx.kms_key_arn, opts=child)
        role, policy = service_role(
            f"{self._name}-trigger", role_name=name, description="Starts the promotion pipeline for an approved package",
            service="states.amazonaws.com", account_id=ctx.account, source_arn=arn, opts=child,
            statements=[
                statement("StartPromotion", ["codepipeline:StartPipelineExecution"], [self._pipeline_arn]),
                *state_machine_logging_statements(),
            ])
        definition = json.dumps(trigger_definition(self._pipeline_name), indent=2)
        return aws.sfn.StateMachine(
            f"{self._name}-trigger", name=name, role_arn=role.arn, definition=definition,
            logging_configuration={"level": "ERROR", "include_execution_data": False,
                                   "log_destination": pulumi.Output.concat(logs.arn, ":*")},
            tracing_configuration={"enabled": True},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]))


def trigger_definition(pipeline_name: str) -> dict[str, Any]:
    return {
        "Comment": "Start the promotion pipeline for the package in an Approved state-change event",
        "StartAt": "StartPromotion",
        "States": {
            "StartPromotion": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:codepipeline:startPipelineExecution",
                "Parameters": {
                    "Name": pipeline_name,
                    "ClientRequestToken.$": "$.id",
                    "Variables": [{"Name": PACKAGE_VARIABLE, "Value.$": "$.detail.ModelPackageArn"}],
                },
                # ConcurrentPipelineExecutionsLimitExceededException is in CodePipeline's API model; throttling
                # and internal errors are not, and arrive as the SDK's base exception, CodePipelineException.
                "Retry": [{"ErrorEquals": ["CodePipeline.ConcurrentPipelineExecutionsLimitExceededException",
                                           "CodePipeline.CodePipelineException", "States.Timeout"],
                           "IntervalSeconds": 30, "MaxAttempts": 5, "BackoffRate": 2.0}],
                "End": True,
            },
        },
    }
