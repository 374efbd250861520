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
