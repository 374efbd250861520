"""The training workflow: Step Functions state machine, its lambdas and least-privilege roles.

Train (.sync) -> create model -> batch transform on held-out data (.sync) -> score -> register the
package (PendingManualApproval) -> e-mail signed approval links and wait (.waitForTaskToken, timeout
from config) -> approve or reject the package -> deploy the stage's stable endpoint (create the first
time, update afterwards, wait for InService) -> smoke test -> notify. The definition is built in
Python by ``components.workflow_definition``; docs/workflow.md has the diagram.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.iam import pass_role_statement, service_role, state_machine_logging_statements, statement
from components.python_function import PythonFunction, PythonFunctionArgs
from components.workflow_definition import WorkflowDefinitionParams, build_definition


def state_machine_name(prefix: str) -> str:
    return f"{prefix}-training"


def state_machine_arn(prefix: str, account_id: str, region: str) -> str:
    """Known before the state machine exists, which breaks the workflow <-> approval API cycle."""
    return f"arn:aws:states:{region}:{account_id}:stateMachine:{state_machine_name(prefix)}"


@dataclass(frozen=True)
class TrainingWorkflowArgs:
    prefix: str
    account_id: str
    region: str
    kms_key_arn: pulumi.Input[str]
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    image_repository_arn: pulumi.Input[str]
    """ECR repository the training image comes from (SageMaker pulls it with the execution role)."""
    approval_request_function_arn: pulumi.Input[str]
    smoke_test_function_arn: pulumi.Input[str]
    """The inference proxy Lambda; the workflow invokes it directly with a sample record."""
    inference_url: pulumi.Input[str]
    endpoint_name: str
    model_package_group_name: str
    log_retention_days: int
    approval_timeout_seconds: int
    training_instance_type: str
    training_instance_count: int
    training_volume_gb: int
    training_max_runtime_seconds: int
    transform_instance_type: str
    endpoint_instance_type: str
    endpoint_instance_count: int
    min_accuracy: float
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    deploy_endpoint: bool = True
    """True (``modelDeployment: workflow``): after approval the workflow deploys and smoke-tests the
    stage's endpoint. False (``promotion``): the run ends with the Approved package; the role gets no
    endpoint permissions and the smoke-test function is not invoked."""
    protect: bool = False


class TrainingWorkflow(pulumi.ComponentResource):
    state_machine_arn: pulumi.Output[str]
    state_machine_name: pulumi.Output[str]
    sagemaker_role_arn: pulumi.Output[str]
    model_package_group_name: pulumi.Output[str]
    model_package_group_arn: pulumi.Output[str]

    def __init__(self, name: str, args: TrainingWorkflowArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:workflow:TrainingWorkflow", name, None, opts)
        a = args
        child = pulumi.ResourceOptions(parent=self)
        arn = f"arn:aws:sagemaker:{a.region}:{a.account_id}"
        job_prefix = a.prefix  # every per-run SageMaker name starts with "<prefix>-"
        data_prefix = pulumi.Output.concat("s3://", a.bucket_name, "/data")
        output_prefix = pulumi.Output.concat("s3://", a.bucket_name, "/workflow")

        group = aws.sagemaker.ModelPackageGroup(
            f"{name}-models", model_package_group_name=a.model_package_group_name,
            model_package_group_description=f"Models trained by {state_machine_name(a.prefix)}",
            opts=pulumi.ResourceOptions(parent=self, protect=a.protect))

        sagemaker_role = self._sagemaker_role(name, a, arn, job_prefix)

        evaluate_fn = PythonFunction(f"{name}-evaluate", PythonFunctionArgs(
            function_name=f"{a.prefix}-evaluate", folder="evaluate",
            description="Scores the evaluation batch transform output (accuracy on held-out data)",
            account_id=a.account_id, region=a.region, kms_key_arn=a.kms_key_arn,
            log_retention_days=a.log_retention_days, timeout_seconds=120, memory_mb=512,
            statements=[
                statement("ListEvaluationOutput", ["s3:ListBucket"], [a.bucket_arn],
                          condition={"StringLike": {"s3:prefix": ["workflow/evaluation/*"]}}),
                statement("ReadEvaluationOutput", ["s3:GetObject"],
                          [pulumi.Output.concat(a.bucket_arn, "/workflow/evaluation/*")]),
                statement("DecryptEvaluationOutput", ["kms:Decrypt"], [a.kms_key_arn]),
            ]), opts=child)
        notify_fn = PythonFunction(f"{name}-notify", PythonFunctionArgs(
            function_name=f"{a.prefix}-notify", folder="notify",
            description="Sends the workflow's success or failure notification",
            account_id=a.account_id, region=a.region, kms_key_arn=a.kms_key_arn,
            log_retention_days=a.log_retention_days,
            statements=[
                statement("Publish", ["sns:Publish"], [a.topic_arn]),
                statement("EncryptForTopic", ["kms:Decrypt", "kms:GenerateDataKey"], [a.kms_key_arn]),
            ],
            environment={"TOPIC_ARN": a.topic_arn}), opts=child)

        functions = [a.approval_request_function_arn, evaluate_fn.function_arn, notify_fn.function_arn,
                     a.smoke_test_function_arn]
        definition = pulumi.Output.all(
            sagemaker_role.arn, a.kms_key_arn, data_prefix, output_prefix, a.inference_url, *functions,
        ).apply(lambda v: json.dumps(build_definition(WorkflowDefinitionParams(
            name_prefix=job_prefix,
            sagemaker_role_arn=v[0],
            kms_key_arn=v[1],
            training_data_uri=f"{v[2]}/train",
            validation_data_uri=f"{v[2]}/validation",
            test_data_uri=f"{v[2]}/test",
            output_prefix=v[3],
            inference_url=v[4],
            approval_request_function_arn=v[5],
            evaluate_function_arn=v[6],
            notify_function_arn=v[7],
            smoke_test_function_arn=v[8],
            model_package_group_name=a.model_package_group_name,
            endpoint_name=a.endpoint_name,
            default_hyperparameters=dict(a.hyperparameters),
            training_instance_type=a.training_instance_type,
            training_instance_count=a.training_instance_count,
            training_volume_gb=a.training_volume_gb,
            training_max_runtime_seconds=a.training_max_runtime_seconds,
            transform_instance_type=a.transform_instance_type,
            endpoint_instance_type=a.endpoint_instance_type,
            endpoint_instance_count=a.endpoint_instance_count,
            min_accuracy=a.min_accuracy,
            approval_timeout_seconds=a.approval_timeout_seconds,
            deploy_endpoint=a.deploy_endpoint,
        )), indent=2))

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/vendedlogs/states/{state_machine_name(a.prefix)}",
            retention_in_days=a.log_retention_days, kms_key_id=a.kms_key_arn, opts=child)
        invoked = functions if a.deploy_endpoint else functions[:3]
        role = self._state_machine_role(name, a, arn, job_prefix, sagemaker_role.arn, group.arn, invoked)
        machine = aws.sfn.StateMachine(
            f"{name}-state-machine", name=state_machine_name(a.prefix), type="STANDARD",
            role_arn=role.arn, definition=definition,
            # Execution data stays out of the logs: the approval task's input carries the task token.
            logging_configuration={"level": "ALL", "include_execution_data": False,
                                   "log_destination": pulumi.Output.concat(log_group.arn, ":*")},
            tracing_configuration={"enabled": True},
            opts=child)

        self.state_machine_arn = machine.arn
        self.state_machine_name = machine.name
        self.sagemaker_role_arn = sagemaker_role.arn
        self.model_package_group_name = group.model_package_group_name
        self.model_package_group_arn = group.arn
        self.register_outputs({"state_machine_arn": self.state_machine_arn,
                               "model_package_group_arn": self.model_package_group_arn})

    def _sagemaker_role(self, name: str, a: TrainingWorkflowArgs, arn: str, job_prefix: str) -> aws.iam.Role:
        """The role SageMaker assumes for training, the model and the batch transform."""
        child = pulumi.ResourceOptions(parent=self)
        logs = f"arn:aws:logs:{a.region}:{a.account_id}:log-group:/aws/sagemaker"
        role, _ = service_role(
            f"{name}-sagemaker", role_name=f"{a.prefix}-sagemaker-execution",
            description="SageMaker training, model and batch transform of the training workflow",
            service="sagemaker.amazonaws.com", account_id=a.account_id, opts=child, statements=[
            statement("ListData", ["s3:ListBucket"], [a.bucket_arn],
                      condition={"StringLike": {"s3:prefix": ["data/*", "workflow/*"]}}),
            statement("ReadData", ["s3:GetObject"], [pulumi.Output.concat(a.bucket_arn, "/data/*"),
                                                     pulumi.Output.concat(a.bucket_arn, "/workflow/*")]),
            statement("WriteModelsAndEvaluation", ["s3:PutObject", "s3:AbortMultipartUpload"],
                      [pulumi.Output.concat(a.bucket_arn, "/workflow/*")]),
            statement("UseStackKey", ["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant", "kms:DescribeKey"],
                      [a.kms_key_arn]),
            statement("PullTrainingImage", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                            "ecr:BatchCheckLayerAvailability"], [a.image_repository_arn]),
            # ECR authorization tokens are registry-wide: AWS offers no resource-level permission.
            statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            statement("WriteJobLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                                       "logs:DescribeLogStreams"],
                      [f"{logs}/TrainingJobs:*", f"{logs}/TransformJobs:*", f"{logs}/Endpoints/{a.endpoint_name}:*"]),
            # PutMetricData has no resource-level permission; the namespace condition scopes it.
            statement("PublishJobMetrics", ["cloudwatch:PutMetricData"], ["*"],
                      condition={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}),
            ])
        return role

    def _state_machine_role(self, name: str, a: TrainingWorkflowArgs, arn: str, job_prefix: str,
                            sagemaker_role_arn: pulumi.Input[str], group_arn: pulumi.Input[str],
                            functions: list) -> aws.iam.Role:
        child = pulumi.ResourceOptions(parent=self)
        machine_arn = state_machine_arn(a.prefix, a.account_id, a.region)
        events = f"arn:aws:events:{a.region}:{a.account_id}:rule"
        role, _ = service_role(
            name, role_name=f"{a.prefix}-training-workflow", description="Step Functions role of the training workflow",
            service="states.amazonaws.com", account_id=a.account_id, source_arn=machine_arn, opts=child, statements=[
            statement("TrainAndEvaluate",
                      ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                       "sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob",
                       "sagemaker:AddTags"],
                      [f"{arn}:training-job/{job_prefix}-*", f"{arn}:transform-job/{job_prefix}-*"]),
            statement("CreateModels", ["sagemaker:CreateModel", "sagemaker:AddTags"], [f"{arn}:model/{job_prefix}-*"]),
            statement("RegisterAndDecideModelPackages",
                      ["sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage",
                       "sagemaker:DescribeModelPackage", "sagemaker:AddTags"],
                      [group_arn, f"{arn}:model-package/{a.model_package_group_name}/*"]),
            *([statement("DeployStageEndpoint",
                         ["sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint",
                          "sagemaker:DescribeEndpoint", "sagemaker:AddTags"],
                         [f"{arn}:endpoint-config/{job_prefix}-*", f"{arn}:endpoint/{a.endpoint_name}"])]
              if a.deploy_endpoint else []),
            pass_role_statement("PassSageMakerExecutionRole", [sagemaker_role_arn], "sagemaker.amazonaws.com"),
            statement("SyncJobEvents", ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                      [f"{events}/StepFunctionsGetEventsForSageMakerTrainingJobsRule",
                       f"{events}/StepFunctionsGetEventsForSageMakerTransformJobsRule"]),
            statement("InvokeWorkflowFunctions", ["lambda:InvokeFunction"], functions),
            statement("UseStackKey", ["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant", "kms:DescribeKey"],
                      [a.kms_key_arn]),
            *state_machine_logging_statements(),
            ])
        return role
