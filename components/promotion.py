"""Model promotion: an Approved model package travels through the promotion targets, in order.

Runs in the registry stack (``registryEnvironment``, dev):

    SageMaker "Model Package State Change", ModelApprovalStatus Approved, this group only
      -> EventBridge rule -> trigger state machine (one SDK call, no code): StartPipelineExecution with
         the pipeline variable MODEL_PACKAGE_ARN from the event, the event id as idempotency token
      -> promotion pipeline (CodePipeline V2, queued executions)
         Source          the repository's promotionBranch (no change detection: approvals start it)
         then, per target (``components.promotion_stages``), with the repository's stack files:
         DeployStaging   CodeBuild: pulumi up --stack staging --config modelPackageArn=<arn>
                         (the staging stack's provider assumes its deployRoleArn)
         TestStaging     CodeBuild: integration/run.py invokes the staging endpoint with the known
                         records of integration/cases/*.json; JUnit report + report URL; any failure
                         stops the pipeline
         ApproveProd     manual approval, notified on the stack's topic with the report link
         DeployProd      CodeBuild: pulumi up --stack prod --config modelPackageArn=<arn>
      failed / succeeded executions -> notification rule -> the stack's topic

Rolling back is promoting the previous package: start the pipeline with MODEL_PACKAGE_ARN set to it.
The model package group is shared with the targets' accounts by resource policy.
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
from components.promotion_stages import (
    PACKAGE_VARIABLE,
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


def pulumi_build_variables(environment: dict[str, str], token_secret_arn: str | None) -> list[dict[str, str]]:
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


def approved_package_event_pattern(group_name: str) -> dict[str, Any]:
    """EventBridge pattern: this group's packages becoming Approved; Pending and Rejected never match."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [EVENT_DETAIL_TYPE],
        "detail": {"ModelPackageGroupName": [group_name], "ModelApprovalStatus": ["Approved"]},
    }


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

        stages = stage_plan(a.targets)
        deploys = {t.environment: self._deploy_project(t) for t in a.targets}
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
            lambda group: json.dumps(approved_package_event_pattern(group)))
        rule = aws.cloudwatch.EventRule(
            f"{name}-approved-rule", name=f"{ctx.prefix}-model-approved",
            description="A model package in the group became Approved: start its promotion",
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
                 environment: dict[str, str], role_name: str) -> aws.codebuild.Project:
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
             "PULUMI_VERSION": a.pulumi_version, "PULUMI_SKIP_UPDATE_CHECK": "true"},
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
            {}, role_name=ctx.names.promotion_tests_role)

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


# The deploy build: the Pulumi CLI, the program's requirements, then, on the target stack with the package
# pinned for this run (the target stack's provider assumes its deployRoleArn):
#   MODE=preview  `pulumi preview --diff` (the approver's change set: the build log, PREVIEW_URL) and the
#                 changes as JSON, kept as the stage's output artifact;
#   MODE=up       where an approval preceded it (APPROVED_PREVIEW names the preview's artifact), a new
#                 preview must make exactly the approved changes, else nothing is deployed; then `pulumi up`.
DEPLOY_BUILDSPEC = """\
version: 0.2
env:
  shell: bash
  exported-variables: [MODEL_PACKAGE_ARN, TARGET_STACK, PREVIEW_URL]
phases:
  install:
    commands:
      - curl -fsSL https://get.pulumi.com | sh -s -- --version "$PULUMI_VERSION"
      - export PATH="$HOME/.pulumi/bin:$PATH"
      - python3 -m venv .venv && .venv/bin/pip install --quiet -r requirements.txt
  build:
    commands:
      - export PATH="$HOME/.pulumi/bin:$PATH"
      - |
        if [[ ! "$MODEL_PACKAGE_ARN" =~ ^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/.+/[0-9]+$ ]]; then
          echo "MODEL_PACKAGE_ARN='$MODEL_PACKAGE_ARN' is not a versioned model package ARN: start the promotion with the pipeline variable MODEL_PACKAGE_ARN set to an Approved package"
          exit 1
        fi
      - pulumi login "$PULUMI_BACKEND_URL"
      - pulumi stack select "$TARGET_STACK"
      - pulumi config set modelPackageArn "$MODEL_PACKAGE_ARN"
      - export POLICY="--policy-pack policies --policy-pack-config policies/config/$TARGET_STACK.json"
      - mkdir -p preview
      - |
        if [ "$MODE" = "preview" ]; then
          export PREVIEW_URL="$CODEBUILD_BUILD_URL"
          pulumi preview --diff --non-interactive $POLICY | tee preview/diff.txt
          pulumi preview --json --non-interactive $POLICY > preview/preview.json
          python3 tools/preview_steps.py steps preview/preview.json > preview/steps.json
          exit 0
        fi
      - |
        if [ -n "${APPROVED_PREVIEW:-}" ]; then
          approved_dir_var="CODEBUILD_SRC_DIR_${APPROVED_PREVIEW}"
          pulumi preview --json --non-interactive $POLICY > preview/now.json
          python3 tools/preview_steps.py compare "${!approved_dir_var}/preview/steps.json" preview/now.json
        fi
      - pulumi up --yes --non-interactive $POLICY
      - test "$(pulumi stack output modelPackageArn)" = "$MODEL_PACKAGE_ARN"
artifacts:
  files: [preview/**/*]
"""

# The integration tests: known records and expected answers from integration/cases/*.json, sent to the
# staging endpoint with the tester role; JUnit report in CodeBuild, the build URL exported for approvers.
TEST_BUILDSPEC = """\
version: 0.2
env:
  shell: bash
  exported-variables: [REPORT_URL]
phases:
  install:
    commands:
      - python3 -m venv .venv && .venv/bin/pip install --quiet -r integration/requirements.txt
  build:
    commands:
      - export REPORT_URL="$CODEBUILD_BUILD_URL"
      - .venv/bin/python integration/run.py --endpoint "$ENDPOINT_NAME" --region "$TARGET_REGION" --role-arn "$TESTER_ROLE_ARN" --cases integration/cases --report-dir integration-report --expected-package "$MODEL_PACKAGE_ARN"
reports:
  integration-tests:
    files: [junit.xml]
    base-directory: integration-report
    file-format: JUNITXML
"""
