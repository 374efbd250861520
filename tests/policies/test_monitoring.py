"""policies/rules/monitoring.py: data-capturing endpoints have a data quality schedule where required;
monitoring jobs encrypt outputs and volumes with KMS and run with network isolation."""

import pytest
from pulumi_policy import Severity

from policies.rules import monitoring
from tests.policies.helpers import (
    check_metadata,
    expect,
    run_resource_policy,
    run_stack_policy,
    stack_resource,
    urn,
)
from tools.tokens import Token

METADATA = [
    # (rule, name, severity)
    (monitoring.data_quality_monitor, "aws-sagemaker-endpoint-missing-data-quality-monitor", Severity.MEDIUM),
    (monitoring.monitoring_kms, "aws-sagemaker-monitoring-configure-kms", Severity.HIGH),
    (monitoring.monitoring_network_isolation, "aws-sagemaker-monitoring-enable-network-isolation", Severity.HIGH),
]


@pytest.mark.parametrize("rule,name,severity", METADATA, ids=[m[1] for m in METADATA])
def test_metadata(rule, name, severity):
    check_metadata(rule, name, severity)


DQ = Token.SAGEMAKER_DATA_QUALITY_JOB_DEFINITION
SCHEDULE = Token.SAGEMAKER_MONITORING_SCHEDULE
KEY = "arn:aws:kms:eu-west-1:1:key/k"
DEFINITION = {
    "name": "ep-data-quality",
    "dataQualityJobInput": {"endpointInput": {"endpointName": "ep"}},
    "dataQualityJobOutputConfig": {"kmsKeyId": KEY, "monitoringOutputs": {"s3Output": {"s3Uri": "s3://b/monitoring/ep"}}},
    "jobResources": {"clusterConfig": {"instanceType": "ml.m5.large", "instanceCount": 1, "volumeSizeInGb": 20,
                                       "volumeKmsKeyId": KEY}},
    "networkConfig": {"enableNetworkIsolation": True},
}
INLINE = {"monitoringScheduleConfig": {"monitoringType": "DataQuality", "monitoringJobDefinition": {
    "monitoringInputs": [{"endpointInput": {"endpointName": "ep"}}],
    "monitoringOutputConfig": {"kmsKeyId": KEY},
    "monitoringResources": {"clusterConfig": {"volumeKmsKeyId": KEY}},
    "networkConfig": {"enableNetworkIsolation": True}}}}
BY_NAME = {"monitoringScheduleConfig": {"monitoringType": "DataQuality", "monitoringJobDefinitionName": "ep-data-quality"}}


def without(props, *path):
    """`props` with the last key of `path` removed (copies along the path)."""
    copy = dict(props)
    if len(path) == 1:
        copy.pop(path[0], None)
    else:
        copy[path[0]] = without(props[path[0]], *path[1:])
    return copy


# The pulumi-aws-native job definitions (bias, explainability, model quality): the same fields, under their
# own output config.
NATIVE = {token: prefix for token, prefix in (
    (Token.NATIVE_SAGEMAKER_MODEL_BIAS_JOB_DEFINITION, "modelBias"),
    (Token.NATIVE_SAGEMAKER_MODEL_EXPLAINABILITY_JOB_DEFINITION, "modelExplainability"),
    (Token.NATIVE_SAGEMAKER_MODEL_QUALITY_JOB_DEFINITION, "modelQuality"))}


def native_definition(prefix):
    return {
        "jobDefinitionName": f"ep-{prefix}",
        f"{prefix}JobInput": {"endpointInput": {"endpointName": "ep", "localPath": "/opt/ml/processing/input"}},
        f"{prefix}JobOutputConfig": {"kmsKeyId": KEY, "monitoringOutputs": [{"s3Output": {"s3Uri": "s3://b/m"}}]},
        "jobResources": {"clusterConfig": {"instanceType": "ml.m5.large", "instanceCount": 1, "volumeSizeInGb": 20,
                                           "volumeKmsKeyId": KEY}},
        "networkConfig": {"enableNetworkIsolation": True},
    }


NATIVE_KMS_CASES = [case for token, prefix in NATIVE.items() for case in (
    (f"{prefix} with both keys", token, native_definition(prefix), None),
    (f"{prefix}, outputs unencrypted", token, without(native_definition(prefix), f"{prefix}JobOutputConfig", "kmsKeyId"),
     "does not encrypt its outputs with KMS"),
    (f"{prefix}, volume unencrypted", token, without(native_definition(prefix), "jobResources", "clusterConfig",
                                                     "volumeKmsKeyId"), "does not encrypt its volumes with KMS"),
)]
NATIVE_NETWORK_CASES = [case for token, prefix in NATIVE.items() if token != Token.NATIVE_SAGEMAKER_MODEL_EXPLAINABILITY_JOB_DEFINITION
                        for case in (
    (f"{prefix} isolated", token, native_definition(prefix), None),
    (f"{prefix} without network config", token, without(native_definition(prefix), "networkConfig"),
     "runs with network access"),
    (f"{prefix} isolation off", token, {**native_definition(prefix), "networkConfig": {"enableNetworkIsolation": False}},
     "enableNetworkIsolation true"),
)]

KMS_CASES = [
    # (label, type, props, expected)
    ("job definition with both keys", DQ, DEFINITION, None),
    ("job definition, outputs unencrypted", DQ, without(DEFINITION, "dataQualityJobOutputConfig", "kmsKeyId"),
     "does not encrypt its outputs with KMS"),
    ("job definition, volume unencrypted", DQ, without(DEFINITION, "jobResources", "clusterConfig", "volumeKmsKeyId"),
     "does not encrypt its volumes with KMS"),
    ("job definition, neither", DQ, without(without(DEFINITION, "jobResources"), "dataQualityJobOutputConfig"),
     "outputs and volumes"),
    ("inline job with both keys", SCHEDULE, INLINE, None),
    ("inline job, volume unencrypted", SCHEDULE, without(INLINE, "monitoringScheduleConfig", "monitoringJobDefinition",
                                                         "monitoringResources"), "its volumes"),
    ("schedule naming a job definition (judged itself)", SCHEDULE, BY_NAME, None),
    *NATIVE_KMS_CASES,
]


@pytest.mark.parametrize("label,resource_type,props,expected", KMS_CASES, ids=[c[0] for c in KMS_CASES])
def test_monitoring_kms(label, resource_type, props, expected):
    expect(run_resource_policy(monitoring.monitoring_kms, resource_type, props), expected)


NETWORK_CASES = [
    # (label, type, props, expected)
    ("isolated", DQ, DEFINITION, None),
    ("no network config", DQ, without(DEFINITION, "networkConfig"), "runs with network access"),
    ("isolation off", DQ, {**DEFINITION, "networkConfig": {"enableNetworkIsolation": False}}, "enableNetworkIsolation true"),
    ("inline isolated", SCHEDULE, INLINE, None),
    ("inline not isolated", SCHEDULE, without(INLINE, "monitoringScheduleConfig", "monitoringJobDefinition", "networkConfig"),
     "runs with network access"),
    ("schedule naming a job definition (judged itself)", SCHEDULE, BY_NAME, None),
    *NATIVE_NETWORK_CASES,
]


@pytest.mark.parametrize("label,resource_type,props,expected", NETWORK_CASES, ids=[c[0] for c in NETWORK_CASES])
def test_monitoring_network_isolation(label, resource_type, props, expected):
    expect(run_resource_policy(monitoring.monitoring_network_isolation, resource_type, props), expected)


def test_the_rules_judge_every_monitoring_job_type():
    # Each type's failing cases above prove the rule applies to it; this says no type is left out.
    assert monitoring.MONITORING_JOB_TYPES == set(NATIVE) | {DQ, SCHEDULE}
    assert monitoring.ISOLATED_JOB_TYPES == monitoring.MONITORING_JOB_TYPES - {
        Token.NATIVE_SAGEMAKER_MODEL_EXPLAINABILITY_JOB_DEFINITION}


def test_an_explainability_job_may_reach_the_model_it_explains():
    props = {**native_definition("modelExplainability"), "networkConfig": {"enableNetworkIsolation": False}}
    expect(run_resource_policy(monitoring.monitoring_network_isolation,
                               Token.NATIVE_SAGEMAKER_MODEL_EXPLAINABILITY_JOB_DEFINITION, props), None)


CAPTURE = {"enableCapture": True, "initialSamplingPercentage": 20, "destinationS3Uri": "s3://b/data-capture"}
EPC = Token.SAGEMAKER_ENDPOINT_CONFIGURATION


def endpoint(capture=CAPTURE):
    """An endpoint config (capturing per `capture`) and the endpoint `ep` that uses it (by dependency)."""
    config = stack_resource(EPC, "cfg", {"name": "cfg-1", **({"dataCaptureConfig": capture} if capture else {})})
    ep = stack_resource(Token.SAGEMAKER_ENDPOINT, "ep", {"name": "ep", "endpointConfigName": "cfg-1"},
                        deps={"endpointConfigName": [urn(EPC, "cfg")]})
    return [config, ep]


def definition(endpoint_name="ep"):
    return stack_resource(DQ, "dq", {**DEFINITION, "dataQualityJobInput": {"endpointInput": {"endpointName": endpoint_name}}})


def schedule(props=BY_NAME, deps=True):
    return stack_resource(SCHEDULE, "schedule", props, deps={"monitoringScheduleConfig": [urn(DQ, "dq")]} if deps else None)


REQUIRED = {"requireDataQualityMonitor": True}
MONITOR_CASES = [
    # (label, resources, config, expected)
    ("monitored through a job definition", [*endpoint(), definition(), schedule()], REQUIRED, None),
    ("monitored, the schedule names the definition", [*endpoint(), definition(), schedule(deps=False)], REQUIRED, None),
    ("monitored by an inline job", [*endpoint(), stack_resource(SCHEDULE, "inline", INLINE)], REQUIRED, None),
    ("capturing, no monitor", endpoint(), REQUIRED, "Endpoint 'ep' captures data but no DataQuality monitoring schedule"),
    ("a definition without a schedule", [*endpoint(), definition()], REQUIRED, "no DataQuality monitoring schedule"),
    ("the schedule watches another endpoint", [*endpoint(), definition("other"), schedule()], REQUIRED,
     "Endpoint 'ep' captures data"),
    ("a schedule of another type", [*endpoint(), definition(), schedule(
        {"monitoringScheduleConfig": {**BY_NAME["monitoringScheduleConfig"], "monitoringType": "ModelQuality"}})],
     REQUIRED, "no DataQuality monitoring schedule"),
    ("capture at 0 percent needs no monitor", endpoint({**CAPTURE, "initialSamplingPercentage": 0}), REQUIRED, None),
    ("no capture, no monitor needed", endpoint(None), REQUIRED, None),
    ("not required (dev)", endpoint(), {"requireDataQualityMonitor": False}, None),
]


@pytest.mark.parametrize("label,resources,config,expected", MONITOR_CASES, ids=[c[0] for c in MONITOR_CASES])
def test_data_quality_monitor(label, resources, config, expected):
    expect(run_stack_policy(monitoring.data_quality_monitor, resources, config=config), expected)
