"""policies/rules/sagemaker.py: endpoint configs use KMS, capture data where required, allowed
instance types, and the stack's endpoints stay within the instance budget."""

import pytest
from pulumi_policy import Severity

from policies.rules import sagemaker
from tests.policies.helpers import check_metadata, expect, run_resource_policy, run_stack_policy, stack_resource
from tools.tokens import Token

METADATA = [
    # (rule, name, severity)
    (sagemaker.kms, "aws-sagemaker-endpointconfig-configure-kms", Severity.HIGH),
    (sagemaker.data_capture, "aws-sagemaker-endpointconfig-enable-data-capture", Severity.MEDIUM),
    (sagemaker.instance_types, "aws-sagemaker-endpointconfig-configure-instance-type", Severity.MEDIUM),
    (sagemaker.instance_budget, "aws-sagemaker-endpoint-configure-instance-budget", Severity.MEDIUM),
]


@pytest.mark.parametrize("rule,name,severity", METADATA, ids=[m[1] for m in METADATA])
def test_metadata(rule, name, severity):
    check_metadata(rule, name, severity)


EPC = Token.SAGEMAKER_ENDPOINT_CONFIGURATION
VARIANT = {"variantName": "AllTraffic", "modelName": "m", "instanceType": "ml.m5.large", "initialInstanceCount": 1}
CAPTURE = {"enableCapture": True, "initialSamplingPercentage": 20, "destinationS3Uri": "s3://b/capture",
           "kmsKeyId": "arn:aws:kms:eu-west-1:1:key/k", "captureOptions": [{"captureMode": "Input"}]}

KMS_CASES = [
    # (label, props, config, expected)
    ("set", {"kmsKeyArn": "arn:aws:kms:eu-west-1:1:key/k", "productionVariants": [VARIANT]}, None, None),
    ("missing", {"productionVariants": [VARIANT]}, None, "no kmsKeyArn"),
    ("not required", {"productionVariants": [VARIANT]}, {"requireKms": False}, None),
    ("serverless variants need no volume key",
     {"productionVariants": [{"variantName": "s", "serverlessConfig": {"maxConcurrency": 5, "memorySizeInMb": 2048}}]}, None, None),
    ("capture without key", {"kmsKeyArn": "k", "productionVariants": [VARIANT],
                             "dataCaptureConfig": {**CAPTURE, "kmsKeyId": ""}}, None, "dataCaptureConfig.kmsKeyId"),
]


@pytest.mark.parametrize("label,props,config,expected", KMS_CASES, ids=[c[0] for c in KMS_CASES])
def test_kms(label, props, config, expected):
    expect(run_resource_policy(sagemaker.kms, EPC, props, config=config), expected)


DATA_CAPTURE_CASES = [
    # (label, props, config, expected)
    ("required and on", {"dataCaptureConfig": CAPTURE}, {"requireDataCapture": True}, None),
    ("required, missing", {}, {"requireDataCapture": True}, "enableCapture is not true"),
    ("required, 0 percent", {"dataCaptureConfig": {**CAPTURE, "initialSamplingPercentage": 0}},
     {"requireDataCapture": True}, "initialSamplingPercentage"),
    ("not required (dev)", {}, {"requireDataCapture": False}, None),
]


@pytest.mark.parametrize("label,props,config,expected", DATA_CAPTURE_CASES, ids=[c[0] for c in DATA_CAPTURE_CASES])
def test_data_capture(label, props, config, expected):
    expect(run_resource_policy(sagemaker.data_capture, EPC, props, config=config), expected)


ALLOWED = {"allowedInstanceTypes": ["ml.m5.large"]}
INSTANCE_TYPE_CASES = [
    # (label, props, config, expected)
    ("allowed", {"productionVariants": [VARIANT]}, ALLOWED, None),
    ("not allowed", {"productionVariants": [{**VARIANT, "instanceType": "ml.p4d.24xlarge"}]}, ALLOWED, "ml.p4d.24xlarge"),
    ("shadow variant judged too", {"productionVariants": [VARIANT], "shadowProductionVariants": [
        {**VARIANT, "variantName": "shadow", "instanceType": "ml.g5.xlarge"}]}, ALLOWED, "variant 'shadow'"),
]


@pytest.mark.parametrize("label,props,config,expected", INSTANCE_TYPE_CASES, ids=[c[0] for c in INSTANCE_TYPE_CASES])
def test_instance_types(label, props, config, expected):
    expect(run_resource_policy(sagemaker.instance_types, EPC, props, config=config), expected)


def endpoint_config(name, count, variant="AllTraffic"):
    return stack_resource(EPC, name, {"productionVariants": [{**VARIANT, "variantName": variant, "initialInstanceCount": count}]})


def scaling_target(max_capacity, variant="AllTraffic"):
    return stack_resource(Token.APPAUTOSCALING_TARGET, f"scaling-{variant}", {
        "serviceNamespace": "sagemaker", "scalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "resourceId": f"endpoint/mlops-prod/variant/{variant}", "minCapacity": 1, "maxCapacity": max_capacity})


BUDGET_CASES = [
    ("within budget", [endpoint_config("a", 2)], {"maxEndpointInstances": 2}, None),
    ("initial counts over budget", [endpoint_config("a", 2), endpoint_config("b", 1, "B")], {"maxEndpointInstances": 2},
     "may run 3 instances"),
    ("autoscaling maximum counts", [endpoint_config("a", 1), scaling_target(4)], {"maxEndpointInstances": 3}, "may run 4 instances"),
    ("autoscaling within budget", [endpoint_config("a", 1), scaling_target(3.0)], {"maxEndpointInstances": 3}, None),
]


@pytest.mark.parametrize("label,resources,config,expected", BUDGET_CASES, ids=[c[0] for c in BUDGET_CASES])
def test_instance_budget(label, resources, config, expected):
    expect(run_stack_policy(sagemaker.instance_budget, resources, config=config), expected)


def served_endpoint(name, count, min_capacity, max_capacity, by_dependency=False):
    """A config, the endpoint using it (linked as the engine does) and its scaling target, linked to the
    endpoint by property dependency or only by the name in its resourceId."""
    config = endpoint_config(f"{name}-config", count)
    endpoint = stack_resource(Token.SAGEMAKER_ENDPOINT, name, {"name": name, "endpointConfigName": f"{name}-config-1"},
                              deps={"endpointConfigName": [config.urn]})
    target = stack_resource(Token.APPAUTOSCALING_TARGET, f"{name}-scaling", {
        "serviceNamespace": "sagemaker", "scalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "resourceId": f"endpoint/{name if not by_dependency else 'unknown'}/variant/AllTraffic",
        "minCapacity": min_capacity, "maxCapacity": max_capacity},
        deps={"resourceId": [endpoint.urn]} if by_dependency else None)
    return [config, endpoint, target]


@pytest.mark.parametrize("by_dependency", [False, True])
def test_endpoints_sharing_a_variant_name_are_each_counted_to_their_maximum(by_dependency):
    """Every endpoint's variant is AllTraffic: each target is matched to its own endpoint's configuration."""
    resources = [*served_endpoint("trained", 2, 2, 4, by_dependency), *served_endpoint("catalog", 1, 1, 4, by_dependency)]
    assert counted(resources) == 8  # 4 + 4, not 2 + 1 + (4 - 2) + (4 - 2)
    expect(run_stack_policy(sagemaker.instance_budget, resources, config={"maxEndpointInstances": 7}), "may run 8 instances")
    expect(run_stack_policy(sagemaker.instance_budget, resources, config={"maxEndpointInstances": 8}), None)


def test_an_initial_count_above_the_minimum_is_counted_once():
    assert counted(served_endpoint("e", 3, 1, 4)) == 4
    # without the endpoint the target counts max - min beyond the initial counts: never too few
    config, _, target = served_endpoint("e", 3, 1, 4)
    assert counted([config, target]) == 6


def counted(resources) -> int:
    """The instances the rule counts (its message at a budget of 0)."""
    [(_, message)] = run_stack_policy(sagemaker.instance_budget, resources, config={"maxEndpointInstances": 0})
    return int(message.split("may run ")[1].split(" instances")[0])
