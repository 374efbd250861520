"""SageMaker Clarify monitors of one served endpoint: model bias or model explainability (feature attribution).

Built from plain values (``ClarifyMonitoringArgs``: the endpoint, its capture URI, the analysis in the AWS MLOps
Framework's terms, the baseline's constraints), so any caller can attach one: the catalog's
``byom_model_bias_monitor`` / ``byom_model_explainability_monitor`` entries do. Per monitor:

- its analysis configuration (``components/clarify_config.py``) at ``monitoring-config/<endpoint>/<type>/
  analysis_config.json`` in the stack bucket (``config_keys``): the job definition's ``ConfigUri``. It needs the
  baseline dataset's header row, so the monitor's baseline run writes it (``components/monitor_baseline.py``,
  lambdas/clarify_config), together with the baseline constraints; until that run, executions fail and say so;
- one role (``MonitorNames.role_of``) that reads only the endpoint's capture prefix, the ground-truth prefix
  (bias), the baseline's constraints and this configuration, writes only ``monitoring/<endpoint>/<type>/``,
  uses the keys through S3 only (and lets SageMaker encrypt the job's volume with the stack key), writes its
  job logs and publishes to its own metrics namespace; the explainability role may also create, ask and delete
  Clarify's shadow endpoints (``shadow_endpoint_statements``), on which Kernel SHAP asks the served model:
  never the served endpoint, whose data capture would record the synthetic records;
- the job definition (pulumi-aws-native ``ModelBiasJobDefinition`` / ``ModelExplainabilityJobDefinition``:
  the Clarify image, the endpoint input with its attributes, the ground truth for bias, the baseline
  constraints, KMS on the output and the volume, network isolation for bias (``NETWORK_ISOLATION``), max
  runtime) and its
  ``aws.sagemaker.MonitoringSchedule`` (``ModelBias`` / ``ModelExplainability``, cron at most hourly);
- what happened, to the stack's topic: one CloudWatch alarm per ``ClarifyAlarm`` on the metrics Clarify
  publishes (``aws/sagemaker/Endpoints/bias-metrics``: ``bias_metric_<metric>``;
  ``aws/sagemaker/Endpoints/explainability-metrics``: ``feature_<feature>``), as a Metrics Insights query over
  this endpoint's and schedule's series (Clarify adds facet, label and stage dimensions), and the EventBridge
  rules on failed and violating executions (``components/monitor_common.py``).

docs/monitoring.md says what is checked, where the reports land and how to read an alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from components.clarify_config import (
    ANALYSIS_FILE,
    BIAS,
    EXPLAINABILITY,
    MONITORING_TYPES,
    ClarifyAnalysis,
    analysis_problems,
)
from components.context import StackContext
from components.iam import service_role, statement
from components.monitor_common import (
    ALARM_PERIOD_SECONDS,
    ProcessingSettings,
    execution_events,
    monitor_alarm,
    monitor_statements,
    monitoring_output_config,
    read_prefix_statements,
)
from components.names import MONITORING_CONFIG_PREFIX, MONITORING_PREFIX, MonitorNames, Names, s3_uri_arn
from components.specs import MonitorSpec

METRICS_NAMESPACES = {BIAS: "aws/sagemaker/Endpoints/bias-metrics",
                      EXPLAINABILITY: "aws/sagemaker/Endpoints/explainability-metrics"}
"""Where Clarify publishes a real-time endpoint's metrics, per monitor type."""
NETWORK_ISOLATION = {BIAS: True, EXPLAINABILITY: False}
"""Bias compares captured predictions with ground truth: no model call, isolated. Explainability asks the model
about synthetic records (Kernel SHAP), which AWS says needs the network: "EnableNetworkIsolation must be set to
False (default) so that Clarify can invoke an endpoint, if necessary, for predictions" (SageMaker developer
guide, "Configure a SageMaker Clarify Processing Job")."""
CONFIG_FILE = "analysis_config.json"
_INPUT_PATH = "/opt/ml/processing/input/endpoint"


@dataclass(frozen=True)
class ConfigKeys:
    """Where one Clarify monitor's analysis configurations are, in the stack bucket."""

    live: str
    """The monitoring job's (the job definition's ``ConfigUri``)."""
    staged: str
    """The monitoring job's, written before the baseline job; copied to ``live`` once the job succeeded."""
    baseline: str
    """The baseline job's."""
    model: str
    """The served model the configurations name (written by the program at each deploy: a new model starts a
    new baseline run)."""


def config_keys(endpoint: str, monitor_type: str) -> ConfigKeys:
    """``monitoring-config/<endpoint>/<type>/``: ``analysis_config.json`` (live) and ``baseline/`` (the others)."""
    folder = f"{MONITORING_CONFIG_PREFIX}/{endpoint}/{monitor_type}"
    return ConfigKeys(live=f"{folder}/{CONFIG_FILE}", staged=f"{folder}/baseline/monitoring_{CONFIG_FILE}",
                      baseline=f"{folder}/baseline/{CONFIG_FILE}", model=f"{folder}/baseline/model.json")


def shadow_endpoint_statements(names: Names, prefix: str) -> list[dict[str, Any]]:
    """What a Clarify job needs to ask a model on a shadow endpoint (``ShadowModel``): create, describe and
    delete the endpoint configuration and endpoint it names ``<prefix>-...``, tag them, invoke that endpoint;
    nothing of any other endpoint."""
    if not prefix:
        raise ValueError("a Clarify job that asks the model needs its shadow endpoints' name prefix")
    return [
        statement("ShadowEndpointConfig", ["sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig",
                                           "sagemaker:DeleteEndpointConfig", "sagemaker:AddTags"],
                  [names.sagemaker_arn(f"endpoint-config/{prefix}-*")]),
        statement("ShadowEndpoint", ["sagemaker:CreateEndpoint", "sagemaker:DescribeEndpoint",
                                     "sagemaker:InvokeEndpoint", "sagemaker:DeleteEndpoint", "sagemaker:AddTags"],
                  [names.sagemaker_arn(f"endpoint/{prefix}-*")]),
    ]


@dataclass(frozen=True)
class ClarifyAlarm:
    """An alarm on one Clarify metric of the last execution: its maximum above ``threshold``, or (``above``
    False) its minimum below it, over every facet, label value and bias stage Clarify reports."""

    metric: str
    """``bias_metric_DPPL``, ``feature_<name>`` (the name CloudWatch shows)."""
    threshold: float
    above: bool = True


DEFAULT_ALARMS: dict[str, tuple[ClarifyAlarm, ...]] = {
    # Difference in positive proportions in predicted labels, in [-1, 1]: 0 is parity; 0.1 a starting point.
    BIAS: (ClarifyAlarm("bias_metric_DPPL", 0.1), ClarifyAlarm("bias_metric_DPPL", -0.1, above=False)),
    # Attribution drift is a ranking score (nDCG below 0.9) Clarify reports as a violation, not as a metric:
    # the rule on violating executions announces it. Alarms on feature_<name> need the model's own thresholds.
    EXPLAINABILITY: (),
}


@dataclass(frozen=True)
class ClarifyMonitoringArgs:
    ctx: StackContext
    """Config and reports go to ``ctx.bucket_name``, alarms and events to ``ctx.topic_arn``."""
    endpoint: str
    monitors: MonitorNames
    capture_uri: pulumi.Input[str]
    """``s3://<bucket>/<prefix>``: where the endpoint captures requests and responses."""
    analysis: ClarifyAnalysis
    """Checked here without its headers (the baseline run checks it with them)."""
    constraints_uri: str
    """The Clarify baseline job's ``analysis.json`` (the framework's ``baseline_job_output_location``)."""
    image_uri: str
    """Clarify's processing image in the stack's region (``program.images.clarify_image_uri``)."""
    spec: MonitorSpec
    ground_truth_uri: str | None = None
    """``monitor_ground_truth_input``: the labels of captured requests; required for bias."""
    keys: tuple[pulumi.Input[str], ...] = ()
    """KMS keys other than the stack's that encrypt the capture, the ground truth or the baseline (a catalog
    entry's ``kms_key_arn``, the registry's key): decrypted through S3 only."""
    shadow_endpoint_prefix: str | None = None
    """Where Clarify's shadow endpoints are named (``ShadowModel.endpoint_name_prefix``; explainability); None:
    the stack's (``Names.clarify_endpoint_prefix``)."""
    alarms: tuple[ClarifyAlarm, ...] | None = None
    """None: ``DEFAULT_ALARMS`` of the monitor type."""
    network_isolation: bool | None = None
    """None: ``NETWORK_ISOLATION`` of the monitor type."""


class ClarifyMonitoring(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    schedule_name: pulumi.Output[str]
    config_uri: pulumi.Output[str]
    report_uri: pulumi.Output[str]
    """``s3://<bucket>/monitoring/<endpoint>/<type>``: the reports, one folder per execution."""
    alarm_names: list[pulumi.Output[str]]

    def __init__(self, name: str, args: ClarifyMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        problems = analysis_problems(args.analysis)
        if args.analysis.monitor_type == BIAS and not args.ground_truth_uri:
            problems.append("monitor_ground_truth_input: missing (a bias monitor compares predictions with it)")
        if problems:
            raise ValueError(f"{args.endpoint}: {args.analysis.monitor_type} monitor: " + "; ".join(problems))
        super().__init__("mlops:monitoring:ClarifyMonitoring", name, None, opts)
        self._args = a = args
        self._ctx = ctx = a.ctx
        self._child = pulumi.ResourceOptions(parent=self)
        self._type = kind = a.analysis.monitor_type
        self._reports = pulumi.Output.concat("s3://", ctx.bucket_name, f"/{MONITORING_PREFIX}/{a.endpoint}/{kind}")
        self._config_key = config_keys(a.endpoint, kind).live
        self.config_uri = pulumi.Output.concat("s3://", ctx.bucket_name, f"/{self._config_key}")
        role = self._role(name)
        definition = self._definition(name, role)
        schedule = aws.sagemaker.MonitoringSchedule(
            f"{name}-schedule", name=a.monitors.monitor(kind),
            monitoring_schedule_config={"monitoring_type": MONITORING_TYPES[kind],
                                        "monitoring_job_definition_name": definition.job_definition_name,
                                        "schedule_config": {"schedule_expression": a.spec.schedule}},
            opts=self._child)
        self.alarm_names = [alarm.name for alarm in self._alarms(name)]
        execution_events(name, ctx, self._child, endpoint=a.endpoint, monitors=a.monitors, monitor_type=kind,
                         schedule_arn=schedule.arn, reports_uri=self._reports,
                         report_files=f"constraint_violations.json and {ANALYSIS_FILE}")

        self.role_arn = role.arn
        self.schedule_name = schedule.name
        self.report_uri = self._reports
        self.register_outputs({"role_arn": self.role_arn, "schedule_name": self.schedule_name,
                               "config_uri": self.config_uri, "report_uri": self.report_uri})

    # -----------------------------------------------------------------------------------------------

    def _role(self, name: str) -> aws.iam.Role:
        a, ctx, kind = self._args, self._ctx, self._type
        shap_baseline = a.analysis.shap_config.get("baseline")  # rows, or the S3 URI of a file of them
        shap_file = [s3_uri_arn(shap_baseline)] if isinstance(shap_baseline, str) else []
        reads = [statement("ReadBaselineAndConfig", ["s3:GetObject"], [
            s3_uri_arn(a.constraints_uri), pulumi.Output.concat(ctx.bucket_arn, f"/{self._config_key}"), *shap_file])]
        if kind == BIAS and a.ground_truth_uri:
            reads = [*read_prefix_statements("ListGroundTruth", "ReadGroundTruth", a.ground_truth_uri), *reads]
        # Kernel SHAP asks the model, on a shadow endpoint Clarify creates from it (the configuration's predictor).
        invoke = [] if kind == BIAS else shadow_endpoint_statements(
            ctx.names, a.shadow_endpoint_prefix or ctx.names.clarify_endpoint_prefix)
        role, _ = service_role(
            f"{name}-monitor", role_name=a.monitors.role_of(kind),
            description=f"Clarify {kind} monitoring executions of {a.endpoint}", service="sagemaker.amazonaws.com",
            account_id=ctx.account, opts=self._child, statements=monitor_statements(
                ctx, capture_uri=a.capture_uri, reads=reads,
                reports_arn=pulumi.Output.concat(ctx.bucket_arn, f"/{MONITORING_PREFIX}/{a.endpoint}/{kind}"),
                decrypt_keys=list(a.keys), metrics_namespace=METRICS_NAMESPACES[kind], extra=invoke))
        return role

    def _definition(self, name: str, role: aws.iam.Role) -> aws_native.sagemaker.ModelBiasJobDefinition | \
            aws_native.sagemaker.ModelExplainabilityJobDefinition:
        a, ctx, kind, spec = self._args, self._ctx, self._type, self._args.spec
        app: Any = {"image_uri": a.image_uri, "config_uri": self.config_uri,
               "environment": {"publish_cloudwatch_metrics": "Enabled"}}
        endpoint_input: Any = {"endpoint_name": a.endpoint, "local_path": _INPUT_PATH, "s3_input_mode": "File",
                          "s3_data_distribution_type": "FullyReplicated", **a.analysis.endpoint_attributes()}
        job_input: Any = {"endpoint_input": endpoint_input}
        common: dict[str, Any] = {
            "job_definition_name": a.monitors.monitor(kind), "role_arn": role.arn,
            **ProcessingSettings.of(spec, ctx.kms_key_arn, network_isolation=NETWORK_ISOLATION[kind]
                                    if a.network_isolation is None else a.network_isolation).job_definition_args(),
        }
        output = monitoring_output_config(ctx.kms_key_arn, self._reports)
        baseline: Any = {"constraints_resource": {"s3_uri": a.constraints_uri}}
        # The name is fixed (the schedule and the rules name it): a change replaces it, deleting it first.
        opts = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        if kind == BIAS:
            return aws_native.sagemaker.ModelBiasJobDefinition(
                f"{name}-definition", model_bias_app_specification=app, model_bias_baseline_config=baseline,
                model_bias_job_input=job_input | {"ground_truth_s3_input": {"s3_uri": a.ground_truth_uri}},
                model_bias_job_output_config=output, opts=opts, **common)
        return aws_native.sagemaker.ModelExplainabilityJobDefinition(
            f"{name}-definition", model_explainability_app_specification=app,
            model_explainability_baseline_config=baseline,
            model_explainability_job_input=job_input,
            model_explainability_job_output_config=output, opts=opts, **common)

    def _alarms(self, name: str) -> list[aws.cloudwatch.MetricAlarm]:
        a, kind = self._args, self._type
        schedule = a.monitors.monitor(kind)
        alarms = DEFAULT_ALARMS[kind] if a.alarms is None else a.alarms
        created = []
        for alarm in alarms:
            side, statistic = ("above", "MAX") if alarm.above else ("below", "MIN")
            query = (f'SELECT {statistic}({alarm.metric}) FROM "{METRICS_NAMESPACES[kind]}" '
                     f"WHERE Endpoint = '{a.endpoint}' AND MonitoringSchedule = '{schedule}'")
            created.append(monitor_alarm(
                f"{name}-{alarm.metric}-{side}", self._ctx, self._child,
                alarm_name=f"{schedule}-{alarm.metric}-{side}",
                description=pulumi.Output.concat(
                    f"{a.endpoint}: {kind} monitor: {alarm.metric} {side} {alarm.threshold} in the last execution "
                    "(any facet, label value or stage). Reports: ", self._reports,
                    f"/ ({ANALYSIS_FILE} and constraint_violations.json of the latest execution); docs/monitoring.md"),
                threshold=alarm.threshold, comparison="GreaterThanThreshold" if alarm.above else "LessThanThreshold",
                metric_queries=[aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="clarify", expression=query, period=ALARM_PERIOD_SECONDS, return_data=True,
                    label=f"{alarm.metric} ({statistic})")]))
        return created
