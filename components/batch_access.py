"""The IAM statements of one batch pipeline, each scoped to that catalog entry alone.

- SageMaker's execution role (the model and the transform jobs run as it): reads its input object or
  prefix, writes under its output prefix, reads the served package's artifact, pulls only the package's
  image, uses KMS only through S3, writes the logs of its own jobs.
- The state machine's role: describes and creates only its model (from the served package), runs,
  describes and stops only its transform jobs, passes only its execution role to SageMaker, manages the
  EventBridge rule Step Functions uses for ``createTransformJob.sync``, invokes only the notify function,
  and lets SageMaker use the job's key for its volumes and output.

Pure functions of plain values and Outputs, so a test compares them statement by statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from catalog.entries import S3Location
from components.iam import (
    pass_role_statement,
    read_location_statements,
    state_machine_logging_statements,
    statement,
    unique_inputs,
)
from components.names import Names

SYNC_RULE = "StepFunctionsGetEventsForSageMakerTransformJobsRule"
"""The rule Step Functions creates in the account to learn when a ``.sync`` transform job ends (AWS's
"IAM policies for Amazon SageMaker AI" for Step Functions: PutTargets, PutRule, DescribeRule on it)."""


@dataclass(frozen=True)
class BatchAccess:
    """What one entry's roles may touch."""

    names: Names
    model_name: str
    """The catalog entry's ``model_name``."""
    model_package_arn: str
    input: S3Location
    output: S3Location
    job_key_arn: pulumi.Input[str]
    """Encrypts the job's output and volumes: the entry's ``kms_key_arn`` or the stack key."""
    data_key_arns: Sequence[pulumi.Input[str]]
    """Keys that may encrypt the input (the job key, the stack key): decrypted through S3 only."""
    artifact_arns: Sequence[str]
    """S3 object ARNs (or ``.../prefix/*``) of the served package's model artifact."""
    artifact_key_arns: Sequence[pulumi.Input[str]]
    """Keys of the artifact's bucket (the registry stack's key)."""
    image_repository_arns: Sequence[str]
    """ECR repositories of the package's image; empty for SageMaker's built-in algorithm images, which
    SageMaker pulls from AWS's registries without permissions of the role."""

    def _via_s3(self) -> dict[str, Any]:
        return {"StringEquals": {"kms:ViaService": f"s3.{self.names.region}.amazonaws.com"}}

    def execution_role_statements(self) -> list[dict[str, Any]]:
        names, source, target = self.names, self.input, self.output
        logs = names.log_group_arn("/aws/sagemaker/TransformJobs")
        job_prefix = names.catalog_batch_job_prefix(self.model_name)
        statements = [
            # The input location may be one object (the framework's file form) or a prefix.
            *read_location_statements("ListInput", "ReadInput", source),
            statement("WriteOutput", ["s3:PutObject", "s3:AbortMultipartUpload"],
                      [names.s3_arn(target.bucket, f"{target.prefix}/*")]),
            statement("ReadModelArtifact", ["s3:GetObject"], list(self.artifact_arns)),
            statement("DecryptThroughS3", ["kms:Decrypt"],
                      unique_inputs([*self.data_key_arns, *self.artifact_key_arns]), condition=self._via_s3()),
            statement("EncryptOutputThroughS3", ["kms:GenerateDataKey", "kms:Encrypt"], [self.job_key_arn],
                      condition=self._via_s3()),
        ]
        if self.image_repository_arns:
            statements += [
                statement("PullModelImage", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                             "ecr:BatchCheckLayerAvailability"], list(self.image_repository_arns)),
                # ECR authorization tokens are registry-wide: the reference gives the action no resource type.
                statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            ]
        return [
            *statements,
            statement("WriteJobLogs", ["logs:CreateLogStream", "logs:PutLogEvents"],
                      [f"{logs}:log-stream:{job_prefix}-*"]),
            statement("FindJobLogGroup", ["logs:CreateLogGroup", "logs:DescribeLogStreams"], [f"{logs}:*"]),
            # PutMetricData has no resource type; the namespace condition scopes it.
            statement("PublishJobMetrics", ["cloudwatch:PutMetricData"], ["*"],
                      condition={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}),
        ]

    def state_machine_statements(self, execution_role_arn: pulumi.Input[str],
                                 notify_function_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
        names, model = self.names, self.model_name
        model_arn = names.catalog_batch_model_arn(model, self.model_package_arn)
        jobs = names.catalog_batch_job_arn_pattern(model)
        return [
            statement("FindAndCreateOwnModel", ["sagemaker:DescribeModel", "sagemaker:CreateModel"], [model_arn]),
            # Creating a model from a package is authorised on the package too (the registry's resource policy
            # grants consumer accounts the same pair): only the package this pipeline serves.
            statement("UseServedPackage", ["sagemaker:CreateModel", "sagemaker:DescribeModelPackage"],
                      [self.model_package_arn]),
            statement("RunOwnTransformJobs", ["sagemaker:CreateTransformJob"], [jobs],
                      condition={"ArnEquals": {"sagemaker:ModelArn": model_arn}}),
            statement("WatchOwnTransformJobs", ["sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"],
                      [jobs]),
            pass_role_statement("PassOwnExecutionRole", [execution_role_arn], "sagemaker.amazonaws.com"),
            statement("SyncTransformJobEvents", ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                      [names.arn("events", f"rule/{SYNC_RULE}")]),
            statement("Notify", ["lambda:InvokeFunction"], [notify_function_arn]),
            # SageMaker encrypts the job's volumes and output with the job key on the caller's behalf.
            statement("LetSageMakerUseJobKey", ["kms:CreateGrant"], [self.job_key_arn],
                      condition={"Bool": {"kms:GrantIsForAWSResource": "true"}}),
            statement("DescribeJobKey", ["kms:DescribeKey"], [self.job_key_arn]),
            *state_machine_logging_statements(),
        ]


def events_role_statements(state_machine_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """What the upload and schedule rules' role may do: start this pipeline, nothing else."""
    return [statement("StartPipeline", ["states:StartExecution"], [state_machine_arn])]
