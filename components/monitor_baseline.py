"""The baseline of one catalog monitor entry, made whenever its ``baseline_data`` is uploaded.

Like the upload registration of uploaded models (``components.model_upload``: the same event pattern)::

    EventBridge rule: "Object Created" in the stack bucket for exactly the entry's baseline_data key
      -> a Step Functions state machine (its own role):
         Baseline: a SageMaker processing job (.sync) with Model Monitor's analyzer over that CSV (with a
                   header), writing statistics.json and constraints.json into baseline_job_output_location
                   (data quality; model quality: analysis_type MODEL_QUALITY with the entry's problem type and
                   the baseline's inference / probability / ground truth columns)
         -> NotifySuccess (the topic: where the files are) -> Succeeded
         any error of the job -> NotifyFailure (the topic: BaselineFailed, the job's cause) -> BaselineFailed

The job runs as its own role (reads only that object, writes only the output prefix, KMS through S3, its
volume with the stack key), with network isolation, its volume and output encrypted, and the entry's
``instance_type``, ``instance_volume_size`` and ``baseline_max_runtime_seconds``. The monitor's job definition
reads the files at that output location (``program.catalog_monitoring.baseline_uris``): until the first
baseline run has written them, its executions fail and say so (docs/monitoring.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.context import StackContext
from components.iam import service_role, state_machine_logging_statements, statement
from components.model_upload import upload_event_pattern
from components.names import Names, s3_uri_arn
from components.notifications import publish_statements
from components.workflow.steps import format_literal

BASELINE_FAILED = "BaselineFailed"
"""The execution's error when the baseline job fails (the notification names it, with the cause)."""
_INPUT = "/opt/ml/processing/input/baseline_dataset_input"
_OUTPUT = "/opt/ml/processing/output"
DATASET_FORMAT = '{"csv": {"header": true}}'
"""The framework's baselines: CSV with a header (the attributes name its columns)."""


@dataclass(frozen=True)
class BaselineRun:
    """One monitor entry's baseline, resolved for this stack's environment."""

    label: str
    """How notifications name the entry: ``pipelines[5] (byom_data_quality_monitor 'iris-xgboost')``."""
    monitor_type: str
    """``data-quality`` or ``model-quality``."""
    data_key: str
    """``baseline_data``: an object key in the stack bucket."""
    output_uri: str
    """``baseline_job_output_location`` as ``s3://bucket/prefix``."""
    instance_type: str
    volume_gb: int
    max_runtime_seconds: int
    problem_type: str | None = None
    inference_attribute: str | None = None
    probability_attribute: str | None = None
    ground_truth_attribute: str | None = None
    data_key_arn: str | None = None
    """The entry's ``kms_key_arn`` (its locations' key), used through S3; None: the stack key only."""


@dataclass(frozen=True)
class BaselineNames:
    machine: str
    """The state machine's name, also its role's (``Names.catalog_name``), and the job names' start."""
    job_role: str
    events_role: str
    rule: str


@dataclass(frozen=True)
class MonitorBaselineArgs:
    ctx: StackContext
    run: BaselineRun
    names: BaselineNames
    image_uri: str
    """Model Monitor's analyzer image in the stack's region."""


def analyzer_environment(run: BaselineRun) -> dict[str, str]:
    """The analyzer's configuration (environment variables) for the run's monitor type."""
    env = {"dataset_format": DATASET_FORMAT, "dataset_source": _INPUT, "output_path": _OUTPUT,
           "publish_cloudwatch_metrics": "Disabled"}
    if run.monitor_type == "model-quality":
        env["analysis_type"] = "MODEL_QUALITY"
        extra = {"problem_type": run.problem_type, "inference_attribute": run.inference_attribute,
                 "probability_attribute": run.probability_attribute,
                 "ground_truth_attribute": run.ground_truth_attribute}
        env.update({k: v for k, v in extra.items() if v is not None})
    return env


def definition(run: BaselineRun, *, image_uri: str, bucket: str, job_prefix: str, job_role_arn: str, kms_key_arn: str,
               topic_arn: str) -> dict[str, Any]:
    """The state machine's Amazon States Language definition (plain values): the job runs ``image_uri`` (the
    analyzer), is named ``<job_prefix, at most 54 characters>-<the execution name's first part>``, runs as
    ``job_role_arn`` with ``kms_key_arn`` on its volume (and its output, unless the entry has its own key), and
    its outcome is published to ``topic_arn``."""
    job_name = (f"States.Format('{format_literal(job_prefix[:54])}-{{}}', "
                "States.ArrayGetItem(States.StringSplit($$.Execution.Name, '-'), 0))")
    source = f"s3://{bucket}/{run.data_key}"
    # Text in a States.Format template: the label quotes the model name ('iris-xgboost'), a key may hold ' { } \.
    failed = format_literal(f"{BASELINE_FAILED}: {run.label}: the {run.monitor_type} baseline of {source} failed")
    return {
        "Comment": f"The {run.monitor_type} baseline of {run.label} from {source}",
        "StartAt": "Baseline",
        "States": {
            "Baseline": {
                "Type": "Task", "Resource": "arn:aws:states:::sagemaker:createProcessingJob.sync",
                "Parameters": {
                    "ProcessingJobName.$": job_name, "RoleArn": job_role_arn,
                    "AppSpecification": {"ImageUri": image_uri},
                    "Environment": analyzer_environment(run),
                    "ProcessingInputs": [{"InputName": "baseline_dataset_input", "S3Input": {
                        "S3Uri": source, "LocalPath": _INPUT, "S3DataType": "S3Prefix", "S3InputMode": "File",
                        "S3DataDistributionType": "FullyReplicated"}}],
                    "ProcessingOutputConfig": {"Outputs": [{"OutputName": "monitoring_output", "S3Output": {
                        "S3Uri": run.output_uri, "LocalPath": _OUTPUT, "S3UploadMode": "EndOfJob"}}],
                        "KmsKeyId": run.data_key_arn or kms_key_arn},
                    "ProcessingResources": {"ClusterConfig": {
                        "InstanceCount": 1, "InstanceType": run.instance_type, "VolumeSizeInGB": run.volume_gb,
                        "VolumeKmsKeyId": kms_key_arn}},
                    "StoppingCondition": {"MaxRuntimeInSeconds": run.max_runtime_seconds},
                    "NetworkConfig": {"EnableNetworkIsolation": True},
                },
                "ResultPath": "$.baseline",
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}],
                "Next": "NotifySuccess",
            },
            "NotifySuccess": {
                "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": topic_arn, "Subject": f"Baseline made: {run.monitor_type}"[:100],
                               "Message": f"{run.label}: the {run.monitor_type} baseline of {source} is in "
                                          f"{run.output_uri}/ (statistics.json, constraints.json); the monitor "
                                          "compares with it from its next execution."},
                "ResultPath": None, "Next": "Succeeded"},
            "NotifyFailure": {
                "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": topic_arn, "Subject": f"{BASELINE_FAILED}: {run.monitor_type}"[:100],
                               "Message.$": f"States.Format('{failed} ({{}}): {{}}', $.error.Error, $.error.Cause)"},
                "ResultPath": None, "Next": BASELINE_FAILED},
            "Succeeded": {"Type": "Succeed"},
            BASELINE_FAILED: {"Type": "Fail", "Error": BASELINE_FAILED,
                              "Cause": f"The {run.monitor_type} baseline job of {run.label} failed (see the notification)"},
        },
    }


class MonitorBaseline(pulumi.ComponentResource):
    state_machine_arn: pulumi.Output[str]

    def __init__(self, name: str, args: MonitorBaselineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:monitoring:MonitorBaseline", name, None, opts)
        a, ctx, run, n = args, args.ctx, args.run, args.names
        child = pulumi.ResourceOptions(parent=self)
        names = ctx.names
        via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{ctx.region}.amazonaws.com"}}
        data_keys = [run.data_key_arn] if run.data_key_arn else []
        job_role, _ = service_role(
            f"{name}-job", role_name=n.job_role, description=f"The {run.monitor_type} baseline job of {run.label}",
            service="sagemaker.amazonaws.com", account_id=ctx.account, opts=child, statements=[
                statement("ReadBaselineData", ["s3:GetObject"], [Names.s3_arn(names.bucket, run.data_key)]),
                statement("WriteBaseline", ["s3:PutObject"], [s3_uri_arn(run.output_uri) + "/*"]),
                statement("DecryptThroughS3", ["kms:Decrypt"], [ctx.kms_key_arn, *data_keys], condition=via_s3),
                statement("EncryptThroughS3", ["kms:GenerateDataKey"], [ctx.kms_key_arn, *data_keys], condition=via_s3),
                statement("EncryptJobVolume", ["kms:CreateGrant"], [ctx.kms_key_arn], condition={
                    "StringEquals": {"kms:ViaService": f"sagemaker.{ctx.region}.amazonaws.com"},
                    "Bool": {"kms:GrantIsForAWSResource": "true"}}),
                statement("WriteJobLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                          [names.log_group_arn("/aws/sagemaker/ProcessingJobs:*")]),
            ])
        machine_arn = names.state_machine_arn_of(n.machine)
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/vendedlogs/states/{n.machine}", retention_in_days=ctx.log_retention_days,
            kms_key_id=ctx.kms_key_arn, opts=child)
        role, policy = service_role(
            f"{name}-run", role_name=n.machine, description=f"Runs the {run.monitor_type} baseline of {run.label}",
            service="states.amazonaws.com", account_id=ctx.account, source_arn=machine_arn, opts=child, statements=[
                statement("RunBaselineJob", ["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob",
                                             "sagemaker:StopProcessingJob", "sagemaker:AddTags"],
                          [names.sagemaker_arn(f"processing-job/{n.machine[:54]}-*")]),
                statement("PassJobRole", ["iam:PassRole"], [job_role.arn],
                          condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}),
                statement("WaitForJob", ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                          [names.arn("events", "rule/StepFunctionsGetEventsForSageMakerProcessingJobsRule")]),
                *publish_statements(ctx.topic_arn, ctx.kms_key_arn),
                *state_machine_logging_statements(),
            ])
        document = pulumi.Output.all(job_role.arn, ctx.kms_key_arn, ctx.topic_arn).apply(
            lambda v: json.dumps(definition(run, image_uri=a.image_uri, bucket=names.bucket, job_prefix=n.machine,
                                            job_role_arn=v[0], kms_key_arn=v[1], topic_arn=v[2]), indent=2))
        machine = aws.sfn.StateMachine(
            f"{name}-state-machine", name=n.machine, type="STANDARD", role_arn=role.arn, definition=document,
            logging_configuration={"level": "ALL", "include_execution_data": False,
                                   "log_destination": pulumi.Output.concat(logs.arn, ":*")},
            tracing_configuration={"enabled": True},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]))
        events_role, _ = service_role(
            f"{name}-events", role_name=n.events_role, description=f"An upload of {run.data_key} starts its baseline",
            service="events.amazonaws.com", account_id=ctx.account, opts=child,
            statements=[statement("StartBaseline", ["states:StartExecution"], [machine.arn])])
        rule = aws.cloudwatch.EventRule(
            f"{name}-rule", name=n.rule,
            description=f"An upload of {run.data_key}: make the {run.monitor_type} baseline of {run.label}"[:512],
            event_pattern=json.dumps(upload_event_pattern(names.bucket, run.data_key)), opts=child)
        aws.cloudwatch.EventTarget(
            f"{name}-target", rule=rule.name, arn=machine.arn, role_arn=events_role.arn,
            retry_policy={"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 10}, opts=child)
        self.state_machine_arn = machine.arn
        self.register_outputs({"state_machine_arn": self.state_machine_arn})
