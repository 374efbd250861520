"""The training workflow: Step Functions state machine, its lambdas and least-privilege roles.

Train (.sync) -> create model -> batch transform on held-out data (.sync) -> score -> baseline the
training data (Model Monitor's analyzer, processing job .sync) -> register the package with the
baseline as its drift check baselines (PendingManualApproval) -> e-mail signed approval links and wait (.waitForTaskToken, timeout
from config) -> approve or reject the package -> deploy the stage's stable endpoint (create the first
time, update afterwards, wait for InService) -> smoke test -> notify. The definition is built in
Python by the ``components.workflow`` package; docs/workflow.md has the diagram.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.context import StackContext
from components.iam import pass_role_statement, service_role, state_machine_logging_statements, statement
from components.names import (
    DATA_PREFIX,
    TEST_DATA_PREFIX,
    TRAINING_DATA_PREFIX,
    VALIDATION_DATA_PREFIX,
    WORKFLOW_PREFIX,
)
from components.notifications import publish_statements
from components.python_function import PythonFunction, PythonFunctionArgs
from components.specs import TrainingSpec
from components.state_machine import logged_state_machine
from components.workflow.baseline import SYNC_RULE as PROCESSING_SYNC_RULE
from components.workflow.definition import build_definition
from components.workflow.params import WorkflowDefinitionParams


@dataclass(frozen=True)
class TrainingWorkflowArgs:
    ctx: StackContext
    """The state machine is ``ctx.names.state_machine``; the model package group is
    ``ctx.names.model_package_group``; data and outputs live in the stack bucket."""
    training: TrainingSpec
    image_repository_arn: pulumi.Input[str]
    """ECR repository the training image comes from (SageMaker pulls it with the execution role)."""
    approval_request_function_arn: pulumi.Input[str]
    smoke_test_function_arn: pulumi.Input[str]
    """The inference proxy Lambda; the workflow invokes it directly with a sample record."""
    inference_url: pulumi.Input[str]
    baseline_image_uri: str
    """Model Monitor's analyzer image in the stack's region (the composition resolves it once)."""
    approval_timeout_seconds: int
    endpoint_instance_type: str
    endpoint_instance_count: int
    deploy_endpoint: bool = True
    """True (``modelDeployment: workflow``): after approval the workflow deploys and smoke-tests the
    stage's endpoint. False (``promotion``): the run ends with the Approved package; the role gets no
    endpoint permissions and the smoke-test function is not invoked."""


class TrainingWorkflow(pulumi.ComponentResource):
    state_machine_arn: pulumi.Output[str]
    state_machine_name: pulumi.Output[str]
    sagemaker_role_arn: pulumi.Output[str]
    model_package_group_name: pulumi.Output[str]
    model_package_group_arn: pulumi.Output[str]
    notify_function_arn: pulumi.Output[str]
    """The success / failure notification function (the upload registration notifies through it too)."""

    def __init__(self, name: str, args: TrainingWorkflowArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:workflow:TrainingWorkflow", name, None, opts)
        a, t = args, args.training
        self._ctx = ctx = a.ctx
        self._image_repository_arn = a.image_repository_arn
        names = ctx.names
        child = pulumi.ResourceOptions(parent=self)
        job_prefix = ctx.prefix  # every per-run SageMaker name starts with "<prefix>-"
        bucket_uri = pulumi.Output.concat("s3://", ctx.bucket_name)
        output_prefix = pulumi.Output.concat("s3://", ctx.bucket_name, f"/{WORKFLOW_PREFIX}")

        group = aws.sagemaker.ModelPackageGroup(
            f"{name}-models", model_package_group_name=names.model_package_group,
            model_package_group_description=f"Models trained by {names.state_machine}",
            opts=pulumi.ResourceOptions(parent=self, protect=ctx.protect))

        sagemaker_role = self._sagemaker_role(name, job_prefix)

        evaluate_fn = PythonFunction(f"{name}-evaluate", PythonFunctionArgs(
            ctx=ctx, function_name=f"{ctx.prefix}-evaluate", folder="evaluate",
            description="Scores the evaluation batch transform output (accuracy on held-out data)",
            timeout_seconds=120, memory_mb=512,
            statements=[
                statement("ListEvaluationOutput", ["s3:ListBucket"], [ctx.bucket_arn],
                          condition={"StringLike": {"s3:prefix": [f"{WORKFLOW_PREFIX}/evaluation/*"]}}),
                statement("ReadEvaluationOutput", ["s3:GetObject"],
                          [pulumi.Output.concat(ctx.bucket_arn, f"/{WORKFLOW_PREFIX}/evaluation/*")]),
                statement("DecryptEvaluationOutput", ["kms:Decrypt"], [ctx.kms_key_arn]),
                statement("WriteEvaluationReport", ["s3:PutObject"],
                          [pulumi.Output.concat(ctx.bucket_arn, f"/{WORKFLOW_PREFIX}/reports/*")]),
                statement("EncryptEvaluationReport", ["kms:GenerateDataKey"], [ctx.kms_key_arn]),
            ],
            packages=("drawsvg",)), opts=child)
        notify_fn = PythonFunction(f"{name}-notify", PythonFunctionArgs(
            ctx=ctx, function_name=f"{ctx.prefix}-notify", folder="notify",
            description="Sends the workflow's success or failure notification",
            statements=publish_statements(ctx.topic_arn, ctx.kms_key_arn),
            environment={"TOPIC_ARN": ctx.topic_arn}), opts=child)

        functions = [a.approval_request_function_arn, evaluate_fn.function_arn, notify_fn.function_arn,
                     a.smoke_test_function_arn]
        definition = pulumi.Output.all(
            sagemaker_role_arn=sagemaker_role.arn, kms_key_arn=ctx.kms_key_arn, bucket_uri=bucket_uri,
            output_prefix=output_prefix, inference_url=a.inference_url,
            approval_request_function_arn=a.approval_request_function_arn,
            evaluate_function_arn=evaluate_fn.function_arn, notify_function_arn=notify_fn.function_arn,
            smoke_test_function_arn=a.smoke_test_function_arn,
        ).apply(lambda v: json.dumps(build_definition(WorkflowDefinitionParams(
            name_prefix=job_prefix,
            sagemaker_role_arn=v["sagemaker_role_arn"],
            kms_key_arn=v["kms_key_arn"],
            training_data_uri=f"{v['bucket_uri']}/{TRAINING_DATA_PREFIX}",
            validation_data_uri=f"{v['bucket_uri']}/{VALIDATION_DATA_PREFIX}",
            test_data_uri=f"{v['bucket_uri']}/{TEST_DATA_PREFIX}",
            output_prefix=v["output_prefix"],
            inference_url=v["inference_url"],
            baseline_image_uri=a.baseline_image_uri,
            approval_request_function_arn=v["approval_request_function_arn"],
            evaluate_function_arn=v["evaluate_function_arn"],
            notify_function_arn=v["notify_function_arn"],
            smoke_test_function_arn=v["smoke_test_function_arn"],
            model_package_group_name=names.model_package_group,
            endpoint_name=names.endpoint,
            default_hyperparameters=dict(t.hyperparameters),
            training_instance_type=t.instance_type,
            training_instance_count=t.instance_count,
            training_volume_gb=t.volume_size_gb,
            training_max_runtime_seconds=t.max_runtime_seconds,
            transform_instance_type=t.transform_instance_type,
            endpoint_instance_type=a.endpoint_instance_type,
            endpoint_instance_count=a.endpoint_instance_count,
            min_accuracy=t.min_accuracy,
            approval_timeout_seconds=a.approval_timeout_seconds,
            deploy_endpoint=a.deploy_endpoint,
        )), indent=2))

        invoked = functions if a.deploy_endpoint else functions[:3]
        # Execution data stays out of the logs: the approval task's input carries the task token.
        machine = logged_state_machine(
            name, ctx=ctx, machine_name=names.state_machine, definition=definition, role_base=name,
            role_name=f"{ctx.prefix}-training-workflow", role_description="Step Functions role of the training workflow",
            statements=self._state_machine_statements(a, job_prefix, sagemaker_role.arn, group.arn, invoked),
            parent=self)

        self.state_machine_arn = machine.arn
        self.state_machine_name = machine.name
        self.sagemaker_role_arn = sagemaker_role.arn
        self.model_package_group_name = group.model_package_group_name
        self.model_package_group_arn = group.arn
        self.notify_function_arn = notify_fn.function_arn
        self.register_outputs({"state_machine_arn": self.state_machine_arn,
                               "model_package_group_arn": self.model_package_group_arn})

    def _sagemaker_role(self, name: str, job_prefix: str) -> aws.iam.Role:
        """The role SageMaker assumes for training, the model, the batch transform and the baseline job
        (reads data/, writes workflow/, including workflow/baselines/)."""
        child = pulumi.ResourceOptions(parent=self)
        ctx = self._ctx
        logs = ctx.names.log_group_arn("/aws/sagemaker")
        data, workflow = DATA_PREFIX, WORKFLOW_PREFIX
        role, _ = service_role(
            f"{name}-sagemaker", role_name=f"{ctx.prefix}-sagemaker-execution",
            description="SageMaker training, model, batch transform and baseline of the training workflow",
            service="sagemaker.amazonaws.com", account_id=ctx.account, opts=child, statements=[
            statement("ListData", ["s3:ListBucket"], [ctx.bucket_arn],
                      condition={"StringLike": {"s3:prefix": [f"{data}/*", f"{workflow}/*"]}}),
            statement("ReadData", ["s3:GetObject"], [pulumi.Output.concat(ctx.bucket_arn, f"/{data}/*"),
                                                     pulumi.Output.concat(ctx.bucket_arn, f"/{workflow}/*")]),
            statement("WriteModelsAndEvaluation", ["s3:PutObject", "s3:AbortMultipartUpload"],
                      [pulumi.Output.concat(ctx.bucket_arn, f"/{workflow}/*")]),
            statement("UseStackKey", ["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant", "kms:DescribeKey"],
                      [ctx.kms_key_arn]),
            statement("PullTrainingImage", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                            "ecr:BatchCheckLayerAvailability"], [self._image_repository_arn]),
            # ECR authorization tokens are registry-wide: AWS offers no resource-level permission.
            statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            statement("WriteJobLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                                       "logs:DescribeLogStreams"],
                      [f"{logs}/TrainingJobs:*", f"{logs}/TransformJobs:*", f"{logs}/ProcessingJobs:*", f"{logs}/Endpoints/{ctx.names.endpoint}:*"]),
            # PutMetricData has no resource-level permission; the namespace condition scopes it.
            statement("PublishJobMetrics", ["cloudwatch:PutMetricData"], ["*"],
                      condition={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}),
            ])
        return role

    def _state_machine_statements(self, a: TrainingWorkflowArgs, job_prefix: str,
                                  sagemaker_role_arn: pulumi.Input[str], group_arn: pulumi.Input[str],
                                  functions: list) -> list[dict[str, Any]]:
        ctx, names = self._ctx, self._ctx.names
        arn = names.sagemaker_arn
        events = names.arn("events", "rule")
        return [
            statement("TrainAndEvaluate",
                      ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                       "sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob",
                       "sagemaker:AddTags"],
                      [arn(f"training-job/{job_prefix}-*"), arn(f"transform-job/{job_prefix}-*")]),
            statement("BaselineTrainingData",
                      ["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob",
                       "sagemaker:AddTags"],
                      [arn(f"processing-job/{job_prefix}-*")]),
            statement("CreateModels", ["sagemaker:CreateModel", "sagemaker:AddTags"], [arn(f"model/{job_prefix}-*")]),
            statement("RegisterAndDecideModelPackages",
                      ["sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage",
                       "sagemaker:DescribeModelPackage", "sagemaker:AddTags"],
                      [group_arn, arn(f"model-package/{names.model_package_group}/*")]),
            *([statement("DeployStageEndpoint",
                         ["sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint",
                          "sagemaker:DescribeEndpoint", "sagemaker:AddTags"],
                         [arn(f"endpoint-config/{job_prefix}-*"), names.endpoint_arn])]
              if a.deploy_endpoint else []),
            pass_role_statement("PassSageMakerExecutionRole", [sagemaker_role_arn], "sagemaker.amazonaws.com"),
            statement("SyncJobEvents", ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                      [f"{events}/StepFunctionsGetEventsForSageMakerTrainingJobsRule",
                       f"{events}/StepFunctionsGetEventsForSageMakerTransformJobsRule",
                       f"{events}/{PROCESSING_SYNC_RULE}"]),
            statement("InvokeWorkflowFunctions", ["lambda:InvokeFunction"], functions),
            statement("UseStackKey", ["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant", "kms:DescribeKey"],
                      [ctx.kms_key_arn]),
            *state_machine_logging_statements(),
        ]
