"""SageMaker Model Monitor: data-capturing endpoints are monitored where the environment requires it, and
monitoring jobs encrypt what they write and run without network access.

Monitoring jobs are declared by ``aws.sagemaker.DataQualityJobDefinition`` (referenced by a
``MonitoringSchedule``), by pulumi-aws-native's job definitions (``aws-native:sagemaker:ModelQualityJobDefinition``
and its data quality, model bias and explainability siblings: pulumi-aws has no model quality, bias or
explainability job definition) or inline in a ``MonitoringSchedule``'s ``monitoringJobDefinition``; all are judged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._support import Resource, Severity, as_list, as_number, references, resource_rule, safe_get, stack_rule

ENDPOINT_TYPE = "aws:sagemaker/endpoint:Endpoint"
ENDPOINT_CONFIG_TYPE = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
DATA_QUALITY_TYPE = "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition"
SCHEDULE_TYPE = "aws:sagemaker/monitoringSchedule:MonitoringSchedule"
MONITORING_JOB_TYPES = {DATA_QUALITY_TYPE, SCHEDULE_TYPE}
NATIVE_JOB_DEFINITIONS = {
    "aws-native:sagemaker:DataQualityJobDefinition": "dataQualityJobOutputConfig",
    "aws-native:sagemaker:ModelQualityJobDefinition": "modelQualityJobOutputConfig",
    "aws-native:sagemaker:ModelBiasJobDefinition": "modelBiasJobOutputConfig",
    "aws-native:sagemaker:ModelExplainabilityJobDefinition": "modelExplainabilityJobOutputConfig",
}
"""pulumi-aws-native's monitoring job definitions (Cloud Control types, not pulumi-aws tokens) -> the property
holding their output configuration; all have ``jobResources.clusterConfig`` and ``networkConfig``."""


def _obj(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    first = next(iter(as_list(value)), None)
    return first if isinstance(first, Mapping) else {}


def _path(props: Mapping[str, Any], *keys: str) -> Any:
    value: Any = props
    for key in keys:
        value = safe_get(_obj(value), key)
    return value


def _job(resource: Resource) -> dict[str, Any] | None:
    """The monitoring job's output KMS key, volume KMS key and network config, whichever resource declares it;
    None for a schedule that only names a job definition (that definition is judged itself)."""
    props = resource.props
    if resource.type in NATIVE_JOB_DEFINITIONS:
        return {"output_key": _path(props, NATIVE_JOB_DEFINITIONS[resource.type], "kmsKeyId"),
                "volume_key": _path(props, "jobResources", "clusterConfig", "volumeKmsKeyId"),
                "network": _obj(safe_get(props, "networkConfig"))}
    if resource.type == DATA_QUALITY_TYPE:
        return {"output_key": _path(props, "dataQualityJobOutputConfig", "kmsKeyId"),
                "volume_key": _path(props, "jobResources", "clusterConfig", "volumeKmsKeyId"),
                "network": _obj(safe_get(props, "networkConfig"))}
    inline = _obj(_path(props, "monitoringScheduleConfig", "monitoringJobDefinition"))
    if not inline:
        return None
    return {"output_key": _path(inline, "monitoringOutputConfig", "kmsKeyId"),
            "volume_key": _path(inline, "monitoringResources", "clusterConfig", "volumeKmsKeyId"),
            "network": _obj(safe_get(inline, "networkConfig"))}


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
    if job is not None and job["network"].get("enableNetworkIsolation") is not True:
        yield f"Monitoring job '{resource.name}' runs with network access: set networkConfig.enableNetworkIsolation true."


def _captures(endpoint_config: Resource) -> bool:
    capture = _obj(safe_get(endpoint_config.props, "dataCaptureConfig"))
    percentage = as_number(capture.get("initialSamplingPercentage"))
    return capture.get("enableCapture") is True and percentage is not None and percentage > 0


def _monitored_endpoints(resources: list[Resource]) -> set[str]:
    """Names of the endpoints a DataQuality schedule watches (through a job definition or inline)."""
    definitions = [r for r in resources if r.type == DATA_QUALITY_TYPE]
    watched: set[str] = set()
    for schedule in (r for r in resources if r.type == SCHEDULE_TYPE):
        if _path(schedule.props, "monitoringScheduleConfig", "monitoringType") != "DataQuality":
            continue
        inline = _obj(_path(schedule.props, "monitoringScheduleConfig", "monitoringJobDefinition"))
        for job_input in as_list(safe_get(inline, "monitoringInputs")):
            watched.add(str(_path(job_input, "endpointInput", "endpointName")))
        named = _path(schedule.props, "monitoringScheduleConfig", "monitoringJobDefinitionName")
        depends_on = schedule.property_dependencies.get("monitoringScheduleConfig", ())
        for definition in definitions:
            if definition.urn in depends_on or (named and named == safe_get(definition.props, "name")):
                watched.add(str(_path(definition.props, "dataQualityJobInput", "endpointInput", "endpointName")))
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
        "Set `data_quality_job_output_config.kms_key_id` and `job_resources.cluster_config.volume_kms_key_id` "
        "(inline: `monitoring_output_config.kms_key_id`, `monitoring_resources.cluster_config.volume_kms_key_id`) "
        "to the stack's key."
    ),
    resource_types={*MONITORING_JOB_TYPES, *NATIVE_JOB_DEFINITIONS},
    check=check_monitoring_kms,
)

monitoring_network_isolation = resource_rule(
    name="aws-sagemaker-monitoring-enable-network-isolation",
    description="SageMaker monitoring jobs run with network isolation.",
    severity=Severity.HIGH,
    remediation="Set `network_config={'enable_network_isolation': True}` on the job definition (or the inline one).",
    resource_types={*MONITORING_JOB_TYPES, *NATIVE_JOB_DEFINITIONS},
    check=check_monitoring_network_isolation,
)

POLICIES = [data_quality_monitor, monitoring_kms, monitoring_network_isolation]
