"""What every monitor of an endpoint shares, whatever it checks (data quality, bias, explainability).

- ``monitor_statements``: the statements of a monitor role, built around what it reads: it lists and reads
  the endpoint's capture prefix (``read_prefix_statements``), reads what the caller names, writes only its
  reports prefix, uses the KMS keys only through S3 (and lets SageMaker encrypt the job's volume with the
  stack key), writes its job logs and publishes its metrics to its own namespace;
- ``monitor_alarm``: one CloudWatch alarm of a monitor, on the last execution's value, to the stack's topic;
- ``execution_events``: EventBridge rules on a schedule's executions (SageMaker processing jobs carrying the
  schedule's ARN) that fail or complete with violations, to the topic with the endpoint, the monitor type and
  links to the execution and its reports;
- ``ProcessingSettings``: what a monitoring (or baseline) processing job runs on: its cluster with the volume
  encrypted, network isolation, max runtime, in a job definition's shape or CreateProcessingJob's;
  ``monitoring_output_config``: a job definition's reports location, encrypted with a KMS key.

``components/endpoint_monitoring.py`` (data quality), ``components/model_quality_monitoring.py`` (model
quality) and ``components/clarify_monitoring.py`` (bias, explainability) build their monitors from these.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.context import StackContext
from components.iam import statement
from components.names import MonitorNames, s3_uri_arn
from components.specs import MonitorSpec

ALARM_PERIOD_SECONDS = 3600
"""An alarm looks at the last hour: schedules run at most hourly, so each period holds one execution."""
OUTPUT_PATH = "/opt/ml/processing/output"
"""Where a monitoring job writes its reports in its container (uploaded at the end of the job)."""


@dataclass(frozen=True)
class ProcessingSettings:
    """What a Model Monitor or Clarify processing job runs on: ``instance_count`` instances of ``instance_type``,
    a ``volume_gb`` ML storage volume encrypted with ``volume_key_arn``, at most ``max_runtime_seconds``, with
    network isolation or not. One source for a monitoring job definition's settings and a baseline job's."""

    instance_type: str
    instance_count: int
    volume_gb: int
    volume_key_arn: pulumi.Input[str]
    max_runtime_seconds: int
    network_isolation: bool = True

    @classmethod
    def of(cls, spec: MonitorSpec, volume_key_arn: pulumi.Input[str], *,
           network_isolation: bool) -> ProcessingSettings:
        """A monitor's: its spec's instance type and count, volume size and max runtime."""
        return cls(instance_type=spec.instance_type, instance_count=spec.instance_count,
                   volume_gb=spec.volume_size_gb, volume_key_arn=volume_key_arn,
                   max_runtime_seconds=spec.max_runtime_seconds, network_isolation=network_isolation)

    def job_definition_args(self) -> dict[str, Any]:
        """``job_resources``, ``network_config`` and ``stopping_condition``: keyword arguments of a monitoring job
        definition (pulumi-aws ``DataQualityJobDefinition``, aws-native ``Model*JobDefinition``)."""
        return {
            "job_resources": {"cluster_config": {
                "instance_type": self.instance_type, "instance_count": self.instance_count,
                "volume_size_in_gb": self.volume_gb, "volume_kms_key_id": self.volume_key_arn}},
            "network_config": {"enable_network_isolation": self.network_isolation},
            "stopping_condition": {"max_runtime_in_seconds": self.max_runtime_seconds},
        }

    def processing_job_parameters(self) -> dict[str, Any]:
        """``ProcessingResources``, ``StoppingCondition`` and ``NetworkConfig`` of SageMaker's CreateProcessingJob
        (a Step Functions task's ``Parameters``, as a baseline run writes them), in that order."""
        return {
            "ProcessingResources": {"ClusterConfig": {
                "InstanceCount": self.instance_count, "InstanceType": self.instance_type,
                "VolumeSizeInGB": self.volume_gb, "VolumeKmsKeyId": self.volume_key_arn}},
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_runtime_seconds},
            "NetworkConfig": {"EnableNetworkIsolation": self.network_isolation},
        }


def monitoring_output_config(kms_key_arn: pulumi.Input[str], s3_uri: pulumi.Input[str]) -> Any:
    """An aws-native monitoring job definition's output config: the reports under ``s3_uri``, uploaded at the end
    of the job, encrypted with ``kms_key_arn`` (Any: it is the input of every ``Model*JobDefinition`` type)."""
    return {"kms_key_id": kms_key_arn, "monitoring_outputs": [{"s3_output": {
        "s3_uri": s3_uri, "local_path": OUTPUT_PATH, "s3_upload_mode": "EndOfJob"}}]}


def read_prefix_statements(list_sid: str, read_sid: str, uri: pulumi.Input[str]) -> list[dict[str, Any]]:
    """List and read everything under ``s3://<bucket>/<prefix>`` and nothing else of the bucket."""
    arn = pulumi.Output.from_input(uri).apply(s3_uri_arn)
    bucket = arn.apply(lambda value: value.split("/", 1)[0])
    prefix = pulumi.Output.from_input(uri).apply(lambda value: value[len("s3://"):].partition("/")[2].rstrip("/"))
    return [
        statement(list_sid, ["s3:ListBucket"], [bucket],
                  condition={"StringLike": {"s3:prefix": [prefix.apply(lambda p: f"{p}/*")]}}),
        statement(read_sid, ["s3:GetObject"], [pulumi.Output.concat(arn, "/*")]),
    ]


def monitor_statements(ctx: StackContext, *, capture_uri: pulumi.Input[str], reads: Sequence[dict[str, Any]],
                       reports_arn: pulumi.Input[str], decrypt_keys: Sequence[pulumi.Input[str]],
                       metrics_namespace: str | Sequence[str], extra: Sequence[dict[str, Any]] = (),
                       ) -> list[dict[str, Any]]:
    """A monitor role's statements: the endpoint's captured data, ``reads`` (baselines, configuration, ground
    truth), ``s3:PutObject`` under ``reports_arn`` only, ``kms:Decrypt`` of the stack key and ``decrypt_keys``
    through S3, the job's logs and ``cloudwatch:PutMetricData`` to ``metrics_namespace`` (one, or the
    namespaces of every monitor type a shared role runs), then ``extra``."""
    via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{ctx.region}.amazonaws.com"}}
    namespaces = [metrics_namespace] if isinstance(metrics_namespace, str) else list(metrics_namespace)
    return [
        *read_prefix_statements("ListCapturedData", "ReadCapturedData", capture_uri),
        *reads,
        statement("WriteReports", ["s3:PutObject"], [pulumi.Output.concat(reports_arn, "/*")]),
        statement("DecryptThroughS3", ["kms:Decrypt"], [ctx.kms_key_arn, *decrypt_keys], condition=via_s3),
        statement("EncryptReportsThroughS3", ["kms:GenerateDataKey"], [ctx.kms_key_arn], condition=via_s3),
        # The job's ML storage volume: SageMaker asks for a grant on the stack key for the instance.
        statement("EncryptJobVolume", ["kms:CreateGrant"], [ctx.kms_key_arn], condition={
            "StringEquals": {"kms:ViaService": f"sagemaker.{ctx.region}.amazonaws.com"},
            "Bool": {"kms:GrantIsForAWSResource": "true"}}),
        statement("WriteJobLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                  [ctx.names.log_group_arn("/aws/sagemaker/ProcessingJobs:*")]),
        # PutMetricData has no resource-level permission; the namespace condition scopes it.
        statement("PublishMonitorMetrics", ["cloudwatch:PutMetricData"], ["*"],
                  condition={"StringEquals": {"cloudwatch:namespace": namespaces[0] if len(namespaces) == 1
                                              else namespaces}}),
        *extra,
    ]


def monitor_alarm(logical_name: str, ctx: StackContext, opts: pulumi.ResourceOptions, *, alarm_name: str,
                  description: pulumi.Input[str], comparison: str, threshold: float | None = None,
                  threshold_metric_id: str | None = None,
                  namespace: str | None = None, metric_name: str | None = None,
                  dimensions: dict[str, pulumi.Input[str]] | None = None, statistic: str | None = None,
                  metric_queries: Sequence[aws.cloudwatch.MetricAlarmMetricQueryArgs] | None = None,
                  ) -> aws.cloudwatch.MetricAlarm:
    """One alarm of a monitor, to the topic (and back to OK): on one metric (``namespace``, ``metric_name``,
    ``dimensions``, ``statistic``) or on ``metric_queries``, against ``threshold`` or (an anomaly-detection
    band) the query ``threshold_metric_id``. No data (no execution yet, nothing captured) is not an alarm: the
    rule on failed executions reports why."""
    return aws.cloudwatch.MetricAlarm(
        logical_name, name=alarm_name, alarm_description=description, namespace=namespace, metric_name=metric_name,
        dimensions=dimensions, statistic=statistic, metric_queries=metric_queries,
        period=None if metric_queries else ALARM_PERIOD_SECONDS,
        evaluation_periods=1, datapoints_to_alarm=1, comparison_operator=comparison, threshold=threshold,
        threshold_metric_id=threshold_metric_id,
        treat_missing_data="notBreaching", alarm_actions=[ctx.topic_arn], ok_actions=[ctx.topic_arn], opts=opts)


def execution_events(name: str, ctx: StackContext, opts: pulumi.ResourceOptions, *, endpoint: str,
                     monitors: MonitorNames, monitor_type: str, schedule_arn: pulumi.Input[str],
                     reports_uri: pulumi.Input[str], report_files: str) -> None:
    """Failed and violating executions of one schedule to the topic (a monitoring execution is a processing
    job that carries its schedule's ARN). ``reports_uri`` is the monitor type's reports folder, ``report_files``
    what an execution's folder holds."""
    console = ctx.names.processing_job_console_url()
    job = {"job": "$.detail.ProcessingJobName"}
    outcomes: dict[str, tuple[dict[str, Any], str, dict[str, str]]] = {
        "failed": ({"ProcessingJobStatus": ["Failed", "Stopped"]}, "ended <status>: <reason>",
                   {**job, "status": "$.detail.ProcessingJobStatus", "reason": "$.detail.FailureReason"}),
        "violations": ({"ProcessingJobStatus": ["Completed"], "ExitMessage": [{"prefix": "CompletedWithViolations"}]},
                       "found constraint violations: <exit>", {**job, "exit": "$.detail.ExitMessage"}),
    }
    for outcome, (match, what, paths) in outcomes.items():
        rule = aws.cloudwatch.EventRule(
            f"{name}-{monitor_type}-{outcome}", name=monitors.rule(monitor_type, outcome),
            description=f"Notify the stack's topic when a {monitor_type} monitoring execution of {endpoint} "
                        f"{'fails' if outcome == 'failed' else 'finds violations'}",
            event_pattern=pulumi.Output.json_dumps({
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Processing Job State Change"],
                "detail": {**match, "MonitoringScheduleArn": [schedule_arn]},
            }), opts=opts)
        message = pulumi.Output.concat(
            f"Model monitor {monitor_type} of endpoint {endpoint}: execution <job> {what}. Execution: "
            f"{console}<job> Reports: ", reports_uri, f"/ (this execution's folder holds {report_files}; "
            "docs/monitoring.md)")
        aws.cloudwatch.EventTarget(
            f"{name}-{monitor_type}-{outcome}-target", rule=rule.name, arn=ctx.topic_arn,
            target_id="notification-topic",
            input_transformer={"input_paths": paths, "input_template": message.apply(json.dumps)},
            opts=opts)
