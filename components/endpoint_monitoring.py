"""SageMaker Model Monitor for one served endpoint: its role, its monitors, and what they report.

Built for any endpoint from plain values (`MonitoredEndpoint`: the endpoint's name, the names of its
monitors, its data capture URI and key, and the served package's baseline), so the trained model's endpoint
and the catalog's real-time endpoints share it. Per endpoint:

- one role (`MonitorNames.role`), which SageMaker assumes for every monitoring execution of that endpoint:
  it lists and reads only the endpoint's capture prefix, reads only the baseline's two files, writes only
  ``monitoring/<endpoint>/``, uses the KMS keys only through S3 (and lets SageMaker encrypt the job's
  volume with the stack key), writes its job logs and publishes the monitor's metrics;
- the data quality monitor: ``aws.sagemaker.DataQualityJobDefinition`` (the Model Monitor analyzer image,
  the baseline's statistics and constraints, the endpoint as input, reports under
  ``s3://<bucket>/monitoring/<endpoint>/data-quality``, instance type / count / volume with the stack
  key, max runtime, network isolation) and its ``aws.sagemaker.MonitoringSchedule`` (cron, at most hourly);
- a model quality monitor where asked (`ModelQualityMonitor`, a catalog monitor entry:
  ``components.model_quality_monitoring``), under the same role, which then also reads the entry's ground
  truth prefix and its baseline's constraints;
- what happened, to the stack's topic: one CloudWatch alarm per feature named in ``features`` (none
  where the model's features are not known, as for catalog entries) on the drift the monitor publishes (``feature_baseline_drift_<feature>`` in ``aws/sagemaker/Endpoints/data-metrics``, dimensions
  ``Endpoint`` and ``MonitoringSchedule``), and EventBridge rules on the executions (SageMaker processing
  jobs whose ``MonitoringScheduleArn`` is this schedule's) that fail or complete with violations, with the
  endpoint, the monitor type and links to the execution and its report.

docs/monitoring.md says what is checked, where the reports land and how to read an alarm.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.context import StackContext
from components.iam import service_role, statement
from components.model_quality_monitoring import (
    METRICS_NAMESPACE as MODEL_METRICS_NAMESPACE,
    MODEL_QUALITY,
    ModelQualityMonitor,
    model_quality_alarm,
    model_quality_schedule,
)
from components.monitor_common import (
    OUTPUT_PATH,
    ProcessingSettings,
    execution_events,
    monitor_alarm,
    monitor_statements,
    read_prefix_statements,
)
from components.names import MONITORING_PREFIX, MonitorNames, s3_uri_arn
from components.specs import MonitorSpec

DATA_QUALITY = "data-quality"
"""The monitor type in names, prefixes and messages (SageMaker's MonitoringType ``DataQuality``)."""
METRICS_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
"""Where Model Monitor publishes an endpoint's data quality metrics (``emit_metrics`` in constraints.json)."""
REPORT_FILES = {DATA_QUALITY: "statistics.json", MODEL_QUALITY: "statistics.json with the model's metrics"}
"""What an execution's report folder holds besides constraint_violations.json, per monitor type."""
_INPUT_PATH = "/opt/ml/processing/input/endpoint"


def feature_columns(feature_count: int) -> tuple[str, ...]:
    """The names Model Monitor gives the model's input features: the baseline is headerless CSV with the
    output first (``output_columns_position: START``), so ``_c0`` is the label / prediction and the
    features are ``_c1`` to ``_c<feature_count>``."""
    return tuple(f"_c{i}" for i in range(1, feature_count + 1))


@dataclass(frozen=True)
class MonitoredEndpoint:
    """One endpoint to monitor, as plain values."""

    name: str
    monitors: MonitorNames
    """``Names.endpoint_monitor`` of the stack's endpoint, ``Names.catalog_monitor`` of a catalog entry's."""
    capture_uri: pulumi.Input[str]
    """``s3://<bucket>/<prefix>``: where the endpoint captures requests and responses."""
    statistics_uri: str | None
    """The data quality baseline (the served package's ``DriftCheckBaselines.ModelDataQuality``, or a monitor
    entry's baseline run's): ``.../statistics.json``; None: no data quality monitor."""
    constraints_uri: str | None
    """... and ``.../constraints.json``."""
    baseline_key_arn: pulumi.Input[str] | None
    """The KMS key of the baseline's bucket (the registry stack's key, ``key/*`` of its account when it is
    another stack's): decrypted through S3 only; None: the stack key (a monitor entry's baseline)."""
    capture_key_arn: str | None = None
    """The key the endpoint encrypts its captured data with, where it is not the stack's (a catalog entry's
    ``kms_key_arn``): decrypted through S3 only."""
    data_key_arns: tuple[str, ...] = ()
    """Keys of a monitor entry's own locations (its ``kms_key_arn``): decrypted through S3 only."""

    @property
    def data_quality(self) -> bool:
        return self.statistics_uri is not None and self.constraints_uri is not None


@dataclass(frozen=True)
class EndpointMonitoringArgs:
    ctx: StackContext
    """Reports go to ``ctx.bucket_name`` under ``monitoring/<endpoint>/``, alarms and events to ``ctx.topic_arn``."""
    endpoint: MonitoredEndpoint
    image_uri: str
    """Model Monitor's analyzer image in the stack's region (sagemaker-core's ``image_uris``)."""
    spec: MonitorSpec
    features: tuple[str, ...]
    """The baseline's feature columns that get a drift alarm (`feature_columns`); empty: no drift alarms (the
    rule on violating executions still reports every violated feature)."""
    network_isolation: bool = True
    model_quality: ModelQualityMonitor | None = None
    """The endpoint's model quality monitor (a catalog monitor entry), under the same role; None: none."""


class EndpointMonitoring(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    schedule_name: pulumi.Output[str]
    """The data quality schedule's (the model quality one's where the endpoint has no data quality monitor)."""
    report_uri: pulumi.Output[str]
    """``s3://<bucket>/monitoring/<endpoint>/data-quality``: the data quality reports, one folder per execution."""
    schedule_names: dict[str, pulumi.Output[str]]
    """Per monitor type (``data-quality``, ``model-quality``) its schedule's name."""
    alarm_names: list[pulumi.Output[str]]

    def __init__(self, name: str, args: EndpointMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:monitoring:EndpointMonitoring", name, None, opts)
        self._args = a = args
        self._ctx = ctx = a.ctx
        self._child = pulumi.ResourceOptions(parent=self)
        endpoint = a.endpoint.name
        self._reports = pulumi.Output.concat("s3://", ctx.bucket_name, f"/{MONITORING_PREFIX}/{endpoint}")

        role = self._role(name)
        schedules: dict[str, aws.sagemaker.MonitoringSchedule] = {}
        self.alarm_names = []
        if a.endpoint.data_quality:
            schedules[DATA_QUALITY] = schedule = self._data_quality(name, role)
            self.alarm_names += [alarm.name for alarm in self._drift_alarms(name, schedule)]
        if a.model_quality is not None:
            schedules[MODEL_QUALITY] = schedule = model_quality_schedule(
                name, self._child, ctx, a.model_quality, endpoint=endpoint, job_name=a.endpoint.monitors.monitor(MODEL_QUALITY),
                role_arn=role.arn, image_uri=a.image_uri, report_uri=pulumi.Output.concat(self._reports, f"/{MODEL_QUALITY}"),
                network_isolation=a.network_isolation)
            self.alarm_names.append(model_quality_alarm(
                name, self._child, ctx, a.model_quality, endpoint=endpoint, job_name=a.endpoint.monitors.monitor(MODEL_QUALITY),
                schedule=schedule, reports=self._reports).name)
        for monitor_type, schedule in schedules.items():
            self._execution_events(name, schedule, monitor_type)

        self.role_arn = role.arn
        self.schedule_names = {monitor_type: schedule.name for monitor_type, schedule in schedules.items()}
        self.schedule_name = next(iter(schedules.values())).name
        self.report_uri = pulumi.Output.concat(self._reports, f"/{next(iter(schedules))}")
        self.register_outputs({"role_arn": self.role_arn, "schedule_name": self.schedule_name,
                               "report_uri": self.report_uri})

    # -----------------------------------------------------------------------------------------------

    def _role(self, name: str) -> aws.iam.Role:
        """``monitor_common.monitor_statements``: reads the ground truth (model quality) and the baselines'
        files, publishes to the namespaces of the endpoint's monitor types."""
        a, ctx = self._args, self._ctx
        endpoint, quality = a.endpoint.name, a.model_quality
        baseline_files = [uri for uri in (a.endpoint.statistics_uri, a.endpoint.constraints_uri,
                                          quality.constraints_uri if quality else None) if uri]
        reads = [statement("ReadBaseline", ["s3:GetObject"], [s3_uri_arn(uri) for uri in baseline_files])]
        namespaces = [METRICS_NAMESPACE] if a.endpoint.data_quality else []
        if quality is not None:
            namespaces.append(MODEL_METRICS_NAMESPACE)
            reads = [*read_prefix_statements("ListGroundTruth", "ReadGroundTruth", quality.ground_truth_uri), *reads]
        capture_keys = [a.endpoint.capture_key_arn] if a.endpoint.capture_key_arn else []
        baseline_keys = [a.endpoint.baseline_key_arn] if a.endpoint.baseline_key_arn is not None else []
        role, _ = service_role(
            f"{name}-monitor", role_name=a.endpoint.monitors.role,
            description=f"Model Monitor executions of {endpoint}", service="sagemaker.amazonaws.com",
            account_id=ctx.account, opts=self._child, statements=monitor_statements(
                ctx, capture_uri=a.endpoint.capture_uri, reads=reads,
                reports_arn=pulumi.Output.concat(ctx.bucket_arn, f"/{MONITORING_PREFIX}/{endpoint}"),
                decrypt_keys=[*capture_keys, *baseline_keys, *a.endpoint.data_key_arns],
                metrics_namespace=namespaces))
        return role

    def _data_quality(self, name: str, role: aws.iam.Role) -> aws.sagemaker.MonitoringSchedule:
        a, ctx = self._args, self._ctx
        endpoint, spec = a.endpoint.name, a.spec
        monitor = a.endpoint.monitors.monitor(DATA_QUALITY)
        assert a.endpoint.statistics_uri and a.endpoint.constraints_uri  # data_quality
        definition = aws.sagemaker.DataQualityJobDefinition(
            f"{name}-data-quality", name=monitor, role_arn=role.arn,
            data_quality_app_specification={"image_uri": a.image_uri},
            data_quality_baseline_config={"statistics_resource": {"s3_uri": a.endpoint.statistics_uri},
                                          "constraints_resource": {"s3_uri": a.endpoint.constraints_uri}},
            data_quality_job_input={"endpoint_input": {
                "endpoint_name": endpoint, "local_path": _INPUT_PATH,
                "s3_input_mode": "File", "s3_data_distribution_type": "FullyReplicated"}},
            data_quality_job_output_config={
                "kms_key_id": ctx.kms_key_arn,
                "monitoring_outputs": {"s3_output": {"s3_uri": pulumi.Output.concat(self._reports, f"/{DATA_QUALITY}"),
                                                     "local_path": OUTPUT_PATH, "s3_upload_mode": "EndOfJob"}}},
            **ProcessingSettings.of(spec, ctx.kms_key_arn, network_isolation=a.network_isolation).job_definition_args(),
            opts=self._child)
        return aws.sagemaker.MonitoringSchedule(
            f"{name}-data-quality-schedule", name=monitor,
            monitoring_schedule_config={"monitoring_type": "DataQuality",
                                        "monitoring_job_definition_name": definition.name,
                                        "schedule_config": {"schedule_expression": spec.schedule}},
            opts=self._child)

    def _drift_alarms(self, name: str, schedule: aws.sagemaker.MonitoringSchedule) -> list[aws.cloudwatch.MetricAlarm]:
        """One alarm per feature (``monitor_common.monitor_alarm``): its baseline drift, as the last execution
        measured it, above the threshold."""
        a, ctx = self._args, self._ctx
        endpoint, spec = a.endpoint.name, a.spec
        monitor = a.endpoint.monitors.monitor(DATA_QUALITY)
        return [monitor_alarm(
            f"{name}-drift-{feature}", ctx, self._child, alarm_name=f"{monitor}-drift-{feature}",
            description=pulumi.Output.concat(
                f"{endpoint}: {DATA_QUALITY} monitor: feature {feature} drifted from the served package's "
                f"baseline by more than {spec.drift_threshold} in the last execution. Reports: ",
                self._reports, f"/{DATA_QUALITY}/ (constraint_violations.json of the latest execution); "
                "docs/monitoring.md"),
            threshold=spec.drift_threshold, comparison="GreaterThanThreshold",
            namespace=METRICS_NAMESPACE, metric_name=f"feature_baseline_drift_{feature}",
            dimensions={"Endpoint": endpoint, "MonitoringSchedule": schedule.name}, statistic="Maximum")
            for feature in a.features]

    def _execution_events(self, name: str, schedule: aws.sagemaker.MonitoringSchedule, monitor_type: str) -> None:
        """Failed and violating executions to the topic (``monitor_common.execution_events``)."""
        a = self._args
        execution_events(name, self._ctx, self._child, endpoint=a.endpoint.name, monitors=a.endpoint.monitors,
                         monitor_type=monitor_type, schedule_arn=schedule.arn,
                         reports_uri=pulumi.Output.concat(self._reports, f"/{monitor_type}"),
                         report_files=f"constraint_violations.json and {REPORT_FILES[monitor_type]}")
