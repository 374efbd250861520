"""SageMaker Model Monitor's model quality monitor of one endpoint: the job definition, its schedule and its alarm.

``EndpointMonitoring`` (``components/endpoint_monitoring.py``) calls these for an endpoint with a
``byom_model_quality_monitor`` catalog entry, under the endpoint's one monitor role (which then also reads
the entry's ground truth prefix and baseline constraints), and adds the same EventBridge rules on failed
and violating executions as for data quality.

- ``aws_native.sagemaker.ModelQualityJobDefinition`` (pulumi-aws has no model quality job definition; the
  stack's aws-native provider reaches it through ``ctx.opts``): the Model Monitor analyzer image with the
  entry's ``problem_type``, the baseline's ``constraints.json``, the endpoint as input with the attributes
  that hold its prediction / probability and the threshold, ground truth from ``monitor_ground_truth_input``,
  reports under ``monitoring/<endpoint>/model-quality`` encrypted with the stack key, the job volume with
  the stack key, network isolation and the entry's max runtime;
- ``aws.sagemaker.MonitoringSchedule`` of type ``ModelQuality`` on the entry's ``schedule_expression``;
- a CloudWatch anomaly-detection alarm on the problem type's headline metric, which Model Monitor
  publishes in ``aws/sagemaker/Endpoints/model-metrics`` (dimensions ``Endpoint`` and ``MonitoringSchedule``):
  the catalog gives no fixed threshold for a model's quality, so the alarm fires when the metric leaves the
  band CloudWatch learned from its own history (rmse above it for Regression, f1 / weighted_f1 below it for
  the classifications); the constraint violations of each execution are reported by the EventBridge rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from components.context import StackContext
from components.monitor_common import (
    ALARM_PERIOD_SECONDS,
    ProcessingSettings,
    monitor_alarm,
    monitoring_output_config,
)
from components.specs import MonitorSpec

MODEL_QUALITY = "model-quality"
"""The monitor type in names, prefixes and messages (SageMaker's MonitoringType ``ModelQuality``)."""
METRICS_NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"
"""Where Model Monitor publishes an endpoint's model quality metrics."""
HEADLINE_METRICS = {
    "Regression": ("rmse", "GreaterThanUpperThreshold"),
    "BinaryClassification": ("f1", "LessThanLowerThreshold"),
    "MulticlassClassification": ("weighted_f1", "LessThanLowerThreshold"),
}
"""Per problem type, the metric the alarm watches and on which side of its expected band it fires."""
ANOMALY_BAND_WIDTH = 2
"""Standard deviations of CloudWatch's anomaly-detection band."""
_INPUT_PATH = "/opt/ml/processing/input/endpoint"


@dataclass(frozen=True)
class ModelQualityMonitor:
    """A catalog ``byom_model_quality_monitor`` entry, resolved for one environment."""

    problem_type: str
    constraints_uri: str
    """``<baseline_job_output_location>/constraints.json``: written by the entry's baseline run."""
    ground_truth_uri: str
    """``s3://bucket/prefix`` of the ground truth records (``monitor_ground_truth_input``)."""
    spec: MonitorSpec
    """The entry's schedule, instance type, volume and max runtime (instance count: the stack's)."""
    inference_attribute: str | None = None
    probability_attribute: str | None = None
    probability_threshold: float | None = None


def model_quality_schedule(name: str, opts: pulumi.ResourceOptions, ctx: StackContext, monitor: ModelQualityMonitor, *,
                           endpoint: str, job_name: str, role_arn: pulumi.Input[str], image_uri: str,
                           report_uri: pulumi.Input[str], network_isolation: bool) -> aws.sagemaker.MonitoringSchedule:
    """The job definition (``job_name``, also the schedule's name) and its schedule."""
    spec, native = monitor.spec, aws_native.sagemaker
    definition = native.ModelQualityJobDefinition(
        f"{name}-model-quality", job_definition_name=job_name, role_arn=role_arn, endpoint_name=endpoint,
        model_quality_app_specification={"image_uri": image_uri, "problem_type": native.ModelQualityJobDefinitionProblemType(monitor.problem_type)},
        model_quality_baseline_config={"constraints_resource": {"s3_uri": monitor.constraints_uri}},
        model_quality_job_input={
            "endpoint_input": {
                "endpoint_name": endpoint, "local_path": _INPUT_PATH, "s3_input_mode": native.ModelQualityJobDefinitionEndpointInputS3InputMode.FILE,
                "s3_data_distribution_type": native.ModelQualityJobDefinitionEndpointInputS3DataDistributionType.FULLY_REPLICATED, "inference_attribute": monitor.inference_attribute,
                "probability_attribute": monitor.probability_attribute,
                "probability_threshold_attribute": monitor.probability_threshold},
            "ground_truth_s3_input": {"s3_uri": monitor.ground_truth_uri}},
        model_quality_job_output_config=monitoring_output_config(ctx.kms_key_arn, report_uri),
        **ProcessingSettings.of(spec, ctx.kms_key_arn, network_isolation=network_isolation).job_definition_args(),
        opts=opts)
    return aws.sagemaker.MonitoringSchedule(
        f"{name}-model-quality-schedule", name=job_name,
        monitoring_schedule_config={"monitoring_type": "ModelQuality",
                                    "monitoring_job_definition_name": definition.job_definition_name,
                                    "schedule_config": {"schedule_expression": spec.schedule}},
        opts=opts)


def model_quality_alarm(name: str, opts: pulumi.ResourceOptions, ctx: StackContext, monitor: ModelQualityMonitor, *,
                        endpoint: str, job_name: str, schedule: aws.sagemaker.MonitoringSchedule,
                        reports: pulumi.Input[str]) -> aws.cloudwatch.MetricAlarm:
    """The headline metric outside the band CloudWatch expects from its history, to the topic
    (``monitor_common.monitor_alarm``)."""
    metric, comparison = HEADLINE_METRICS[monitor.problem_type]
    side = "above" if comparison.startswith("Greater") else "below"
    return monitor_alarm(
        f"{name}-model-quality-{metric}", ctx, opts, alarm_name=f"{job_name}-{metric}",
        description=pulumi.Output.concat(
            f"{endpoint}: {MODEL_QUALITY} monitor: {metric} ({monitor.problem_type}) is {side} the band expected from "
            f"its history in the last execution. Reports: ", reports, f"/{MODEL_QUALITY}/ (statistics.json and "
            "constraint_violations.json of the latest execution); docs/monitoring.md"),
        comparison=comparison, threshold_metric_id="band",
        metric_queries=[
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="metric", return_data=True, metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace=METRICS_NAMESPACE, metric_name=metric, period=ALARM_PERIOD_SECONDS, stat="Maximum",
                    dimensions={"Endpoint": endpoint, "MonitoringSchedule": schedule.name})),
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="band", expression=f"ANOMALY_DETECTION_BAND(metric, {ANOMALY_BAND_WIDTH})",
                label=f"{metric} (expected)", return_data=True),
        ])
