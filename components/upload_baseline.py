"""The baseline of an uploaded model (a catalog entry's ``baseline_data``): what its job reads and writes, and
who may run it.

For an entry with ``baseline_data`` the upload registration (``components.upload_definition``) runs Model
Monitor's analyzer over that data before it registers the package, as the training workflow does over its
training data, and registers the package with the result. Per entry:

- its baseline job input (``baseline_job_input``): the job name prefix, the role, the data, the folder
  ``s3://<registry bucket>/workflow/baselines/byom/<model_name>`` (one folder below it per uploaded version);
- its job role (``baseline_role_statements``): lists and reads only the entry's ``baseline_data`` prefix,
  writes only its baseline folder, uses KMS only through S3, writes only its jobs' logs;
- what the registration's state machine may do for it (``baseline_run_statements``): create, describe and
  stop only the entry's baseline jobs, pass only the entries' baseline roles to SageMaker, manage the rule
  Step Functions uses for ``createProcessingJob.sync``, let SageMaker use the stack key for the job's volume
  and output.

Pure functions of plain values and Outputs, so a test compares them statement by statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from catalog.entries import S3Location
from components.iam import pass_role_statement, read_location_statements, statement, unique_inputs
from components.names import Names
from components.workflow.baseline import SYNC_RULE

__all__ = ["baseline_output_uri", "baseline_job_input", "baseline_role_statements", "baseline_run_statements"]


def baseline_output_uri(names: Names, model_name: str) -> str:
    """The entry's baseline folder in the registry bucket (the stack of ``names``)."""
    return f"s3://{names.bucket}/{names.catalog_baseline_folder(model_name)}"


def baseline_job_input(names: Names, model_name: str, data: S3Location) -> dict[str, str]:
    """The registration input's ``baselineJob`` for one entry (constant: the entry's rule carries it)."""
    return {"jobPrefix": names.catalog_baseline_job_prefix(model_name),
            "roleArn": names.catalog_baseline_role_arn(model_name),
            "data": data.uri, "output": baseline_output_uri(names, model_name)}


def _via_s3(names: Names) -> dict[str, Any]:
    return {"StringEquals": {"kms:ViaService": f"s3.{names.region}.amazonaws.com"}}


def baseline_role_statements(names: Names, model_name: str, data: S3Location,
                             data_key_arns: Sequence[pulumi.Input[str]],
                             output_key_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """The entry's baseline job role: ``data`` (every object under the prefix, as the job's S3Prefix input
    reads it) in, the entry's baseline folder out; ``data_key_arns`` may encrypt the data, ``output_key_arn``
    encrypts the output (the registry stack's key)."""
    logs = names.log_group_arn("/aws/sagemaker/ProcessingJobs")
    folder = names.catalog_baseline_folder(model_name)
    return [
        *read_location_statements("ListBaselineData", "ReadBaselineData", data),
        statement("WriteBaseline", ["s3:PutObject", "s3:AbortMultipartUpload"],
                  [names.s3_arn(names.bucket, f"{folder}/*")]),
        statement("DecryptThroughS3", ["kms:Decrypt"], unique_inputs([*data_key_arns, output_key_arn]),
                  condition=_via_s3(names)),
        statement("EncryptBaselineThroughS3", ["kms:GenerateDataKey"], [output_key_arn], condition=_via_s3(names)),
        statement("WriteJobLogs", ["logs:CreateLogStream", "logs:PutLogEvents"],
                  [f"{logs}:log-stream:{names.catalog_baseline_job_prefix(model_name)}-*"]),
        statement("FindJobLogGroup", ["logs:CreateLogGroup", "logs:DescribeLogStreams"], [f"{logs}:*"]),
    ]


def baseline_run_statements(names: Names, model_names: Sequence[str],
                            key_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """What the registration's state machine needs to baseline the entries ``model_names`` (those with
    ``baseline_data``); ``key_arn`` encrypts the jobs' volumes and output (the stack key)."""
    return [
        statement("RunBaselineJobs", ["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob",
                                      "sagemaker:StopProcessingJob", "sagemaker:AddTags"],
                  [names.catalog_baseline_job_arn_pattern(m) for m in model_names]),
        pass_role_statement("PassBaselineRoles", [names.catalog_baseline_role_arn(m) for m in model_names],
                            "sagemaker.amazonaws.com"),
        statement("SyncBaselineJobEvents", ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                  [names.event_rule_arn(SYNC_RULE)]),
        # SageMaker encrypts the job's volume and output with the stack key on the caller's behalf.
        statement("LetSageMakerUseStackKey", ["kms:CreateGrant"], [key_arn],
                  condition={"Bool": {"kms:GrantIsForAWSResource": "true"}}),
        statement("DescribeStackKey", ["kms:DescribeKey"], [key_arn]),
    ]

