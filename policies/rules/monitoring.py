"""SageMaker Model Monitor: data-capturing endpoints are monitored where the environment requires it, and
monitoring jobs encrypt what they write and run without network access (but explainability jobs, which must
call the model: ``NETWORKED_BY_DESIGN``).

Monitoring jobs are declared by a job definition (pulumi-aws ``DataQualityJobDefinition``; pulumi-aws-native
``ModelQualityJobDefinition``, ``ModelBiasJobDefinition``, ``ModelExplainabilityJobDefinition``) referenced by a
``MonitoringSchedule``, or inline in a ``MonitoringSchedule``'s ``monitoringJobDefinition``; all are judged.
``JOB_FIELDS`` says where each type keeps its output key, volume key and network configuration.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._support import (
    Resource,
    Severity,
    Where,
    as_list,
    as_number,
    as_object,
    located,
    prop_path,
    references,
    resource_rule,
    safe_get,
    stack_rule,
)

ENDPOINT_TYPE = "aws:sagemaker/endpoint:Endpoint"
ENDPOINT_CONFIG_TYPE = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
DATA_QUALITY_TYPE = "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition"
SCHEDULE_TYPE = "aws:sagemaker/monitoringSchedule:MonitoringSchedule"
MODEL_QUALITY_TYPE = "aws-native:sagemaker:ModelQualityJobDefinition"
MODEL_BIAS_TYPE = "aws-native:sagemaker:ModelBiasJobDefinition"
MODEL_EXPLAINABILITY_TYPE = "aws-native:sagemaker:ModelExplainabilityJobDefinition"

_CLUSTER = ("jobResources", "clusterConfig", "volumeKmsKeyId")
_INLINE = ("monitoringScheduleConfig", "monitoringJobDefinition")
JOB_FIELDS: dict[str, dict[str, Where]] = {
    "output_key": {
        DATA_QUALITY_TYPE: ("dataQualityJobOutputConfig", "kmsKeyId"),
        MODEL_QUALITY_TYPE: ("modelQualityJobOutputConfig", "kmsKeyId"),
        MODEL_BIAS_TYPE: ("modelBiasJobOutputConfig", "kmsKeyId"),
        MODEL_EXPLAINABILITY_TYPE: ("modelExplainabilityJobOutputConfig", "kmsKeyId"),
        SCHEDULE_TYPE: (*_INLINE, "monitoringOutputConfig", "kmsKeyId"),
    },
    "volume_key": {
        DATA_QUALITY_TYPE: _CLUSTER, MODEL_QUALITY_TYPE: _CLUSTER, MODEL_BIAS_TYPE: _CLUSTER,
        MODEL_EXPLAINABILITY_TYPE: _CLUSTER,
        SCHEDULE_TYPE: (*_INLINE, "monitoringResources", "clusterConfig", "volumeKmsKeyId"),
    },
    "network": {
        DATA_QUALITY_TYPE: "networkConfig", MODEL_QUALITY_TYPE: "networkConfig", MODEL_BIAS_TYPE: "networkConfig",
        MODEL_EXPLAINABILITY_TYPE: "networkConfig", SCHEDULE_TYPE: (*_INLINE, "networkConfig"),
    },
}
"""Where each monitoring job type keeps what the rules judge: its output KMS key, its volume KMS key and its
network configuration (the schedule: of its inline job)."""
MONITORING_JOB_TYPES = set(JOB_FIELDS["network"])
NETWORKED_BY_DESIGN = {MODEL_EXPLAINABILITY_TYPE: (
    "Clarify's explainability job asks the model about synthetic records (Kernel SHAP); AWS: EnableNetworkIsolation "
    "must be False so that Clarify can invoke an endpoint for predictions")}
"""Monitoring job types the isolation rule leaves out, with the reason."""
ISOLATED_JOB_TYPES = MONITORING_JOB_TYPES - set(NETWORKED_BY_DESIGN)


def _job(resource: Resource) -> dict[str, Any] | None:
    """The monitoring job's output KMS key, volume KMS key and network config, whichever resource declares it;
    None for a schedule that only names a job definition (that definition is judged itself)."""
    if resource.type == SCHEDULE_TYPE and not as_object(prop_path(resource.props, *_INLINE)):
        return None
    return {field: located(resource, where) for field, where in JOB_FIELDS.items()}


def check_monitoring_kms(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    job = _job(resource)
    if job is None:
        return
    missing = [label for label, key in (("outputs", "output_key"), ("volumes", "volume_key"))
               if not str(job[key] or "").strip()]
    if missing:
        yield (f"Monitoring job '{resource.name}' does not encrypt its {' and '.join(missing)} with KMS "
               f"(output config kmsKeyId, cluster config volumeKmsKeyId).")


def check_monitoring_network_isolation(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    job = _job(resource)
    if job is not None and as_object(job["network"]).get("enableNetworkIsolation") is not True:
        yield f"Monitoring job '{resource.name}' runs with network access: set networkConfig.enableNetworkIsolation true."


def _captures(endpoint_config: Resource) -> bool:
    capture = as_object(safe_get(endpoint_config.props, "dataCaptureConfig"))
    percentage = as_number(capture.get("initialSamplingPercentage"))
    return capture.get("enableCapture") is True and percentage is not None and percentage > 0


def _monitored_endpoints(resources: list[Resource]) -> set[str]:
    """Names of the endpoints a DataQuality schedule watches (through a job definition or inline)."""
    definitions = [r for r in resources if r.type == DATA_QUALITY_TYPE]
    watched: set[str] = set()
    for schedule in (r for r in resources if r.type == SCHEDULE_TYPE):
        if prop_path(schedule.props, "monitoringScheduleConfig", "monitoringType") != "DataQuality":
            continue
        inline = as_object(prop_path(schedule.props, *_INLINE))
        for job_input in as_list(safe_get(inline, "monitoringInputs")):
            watched.add(str(prop_path(job_input, "endpointInput", "endpointName")))
        named = prop_path(schedule.props, "monitoringScheduleConfig", "monitoringJobDefinitionName")
        depends_on = schedule.property_dependencies.get("monitoringScheduleConfig", ())
        for definition in definitions:
            if definition.urn in depends_on or (named and named == safe_get(definition.props, "name")):
                watched.add(str(prop_path(definition.props, "dataQualityJobInput", "endpointInput", "endpointName")))
    return watched


def check_data_quality_monitor(resources: list[Resource], config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    if not config["requireDataQualityMonitor"]:
        return
    configs = [r for r in resources if r.type == ENDPOINT_CONFIG_TYPE and _captures(r)]
    watched = _monitored_endpoints(resources)
    for endpoint in (r for r in resources if r.type == ENDPOINT_TYPE):
        name = safe_get(endpoint.props, "name")
        if any(references(endpoint, "endpointConfigName", c, "name") for c in configs) and name not in watched:
            yield endpoint.urn, (f"Endpoint '{name or endpoint.name}' captures data but no DataQuality monitoring "
                                 f"schedule watches it; this environment requires one.")


data_quality_monitor = stack_rule(
    name="aws-sagemaker-endpoint-missing-data-quality-monitor",
    description="A data-capturing SageMaker endpoint has a data quality monitoring schedule where the environment requires it.",
    severity=Severity.MEDIUM,
    remediation=(
        "Set `monitoringDataQuality: true` in the stack file (the endpoint's package needs its baseline, "
        "docs/monitoring.md), or add an `aws.sagemaker.DataQualityJobDefinition` with the endpoint as input and an "
        "`aws.sagemaker.MonitoringSchedule` of type DataQuality for it."
    ),
    check=check_data_quality_monitor,
    config_schema={
        "requireDataQualityMonitor": {
            "type": "boolean",
            "default": False,
            "description": "Require a DataQuality monitoring schedule on every endpoint that captures data.",
        },
    },
)

monitoring_kms = resource_rule(
    name="aws-sagemaker-monitoring-configure-kms",
    description="SageMaker monitoring jobs encrypt their outputs and storage volumes with KMS.",
    severity=Severity.HIGH,
    remediation=(
        "Set the job definition's output config `kms_key_id` (`data_quality_job_output_config`, and in "
        "pulumi-aws-native `model_quality_job_output_config`, `model_bias_job_output_config`, "
        "`model_explainability_job_output_config`) and `job_resources.cluster_config.volume_kms_key_id` "
        "(inline: `monitoring_output_config.kms_key_id`, `monitoring_resources.cluster_config.volume_kms_key_id`) "
        "to the stack's key."
    ),
    resource_types=MONITORING_JOB_TYPES,
    check=check_monitoring_kms,
)

monitoring_network_isolation = resource_rule(
    name="aws-sagemaker-monitoring-enable-network-isolation",
    description=("SageMaker monitoring jobs run with network isolation (explainability jobs excepted: Clarify must "
                 "call the model)."),
    severity=Severity.HIGH,
    remediation=("Set `network_config={'enable_network_isolation': True}` on the job definition (data quality, "
                 "model quality, bias) or the inline one."),
    resource_types=ISOLATED_JOB_TYPES,
    check=check_monitoring_network_isolation,
)

POLICIES = [data_quality_monitor, monitoring_kms, monitoring_network_isolation]
