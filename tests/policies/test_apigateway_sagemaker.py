"""API Gateway and SageMaker rules."""

import pytest

from policies.rules import apigateway, sagemaker
from tests.policies.helpers import expect, run_resource_policy, run_stack_policy, stack_resource

METHOD = apigateway.METHOD_TYPE
SIGNED = {"method.request.querystring.sig": True}

METHOD_CASES = [
    ("IAM", {"httpMethod": "POST", "authorization": "AWS_IAM"}, None, None),
    ("custom authorizer", {"httpMethod": "GET", "authorization": "CUSTOM", "authorizerId": "a"}, None, None),
    ("open method", {"httpMethod": "POST", "authorization": "NONE"}, None, "has authorization NONE"),
    ("signed-link marker", {"httpMethod": "GET", "authorization": "NONE", "requestParameters": SIGNED}, None, None),
    ("marker declared optional still counts", {"httpMethod": "POST", "authorization": "NONE",
                                               "requestParameters": {"method.request.querystring.sig": False}}, None, None),
    ("other parameter is no marker", {"httpMethod": "GET", "authorization": "NONE",
                                      "requestParameters": {"method.request.querystring.token": True}}, None, "signed-link marker"),
    ("CORS preflight exempt", {"httpMethod": "OPTIONS", "authorization": "NONE"}, None, None),
    ("API key counts", {"httpMethod": "POST", "authorization": "NONE", "apiKeyRequired": True}, None, None),
    ("API key refused where configured", {"httpMethod": "POST", "authorization": "NONE", "apiKeyRequired": True},
     {"acceptApiKeys": False}, "has authorization NONE"),
    ("custom marker name", {"httpMethod": "GET", "authorization": "NONE", "requestParameters": SIGNED},
     {"signedLinkParameter": "method.request.header.X-Signature"}, "method.request.header.X-Signature"),
]


@pytest.mark.parametrize("label,props,config,expected", METHOD_CASES, ids=[c[0] for c in METHOD_CASES])
def test_method_authorization(label, props, config, expected):
    expect(run_resource_policy(apigateway.method_authorization, METHOD, props, config=config), expected)


ACCESS_LOG_CASES = [
    ("logs", {"accessLogSettings": {"destinationArn": "arn:aws:logs:eu-west-1:1:log-group:api", "format": "{}"}}, None),
    ("no format", {"accessLogSettings": {"destinationArn": "arn:aws:logs:eu-west-1:1:log-group:api"}}, "lacks format"),
    ("none", {}, "lacks destinationArn, format"),
]


@pytest.mark.parametrize("label,props,expected", ACCESS_LOG_CASES, ids=[c[0] for c in ACCESS_LOG_CASES])
def test_stage_access_logs(label, props, expected):
    expect(run_resource_policy(apigateway.stage_access_logs, apigateway.STAGE_TYPE, props), expected)


def stage(api="api123", name="v1"):
    return stack_resource(apigateway.STAGE_TYPE, f"{api}-{name}", {"restApi": api, "stageName": name})


def method_settings(api="api123", name="v1", path="*/*", burst=50, rate=20.0):
    return stack_resource(apigateway.METHOD_SETTINGS_TYPE, f"{api}-{name}-settings", {
        "restApi": api, "stageName": name, "methodPath": path,
        "settings": {"throttlingBurstLimit": burst, "throttlingRateLimit": rate, "metricsEnabled": True}})


THROTTLING_CASES = [
    ("throttled", [stage(), method_settings()], None),
    ("no settings", [stage()], "no MethodSettings"),
    ("unlimited (-1)", [stage(), method_settings(burst=-1, rate=-1)], "no MethodSettings"),
    ("only one method path", [stage(), method_settings(path="approve/GET")], "no MethodSettings"),
    ("settings for another API's stage of the same name", [stage(), method_settings(api="other")], "no MethodSettings"),
]


@pytest.mark.parametrize("label,resources,expected", THROTTLING_CASES, ids=[c[0] for c in THROTTLING_CASES])
def test_stage_throttling(label, resources, expected):
    expect(run_stack_policy(apigateway.stage_throttling, resources), expected)


EPC = sagemaker.ENDPOINT_CONFIG_TYPE
VARIANT = {"variantName": "AllTraffic", "modelName": "m", "instanceType": "ml.m5.large", "initialInstanceCount": 1}
CAPTURE = {"enableCapture": True, "initialSamplingPercentage": 20, "destinationS3Uri": "s3://b/capture",
           "kmsKeyId": "arn:aws:kms:eu-west-1:1:key/k", "captureOptions": [{"captureMode": "Input"}]}

SAGEMAKER_CASES = [
    ("kms set", sagemaker.kms, {"kmsKeyArn": "arn:aws:kms:eu-west-1:1:key/k", "productionVariants": [VARIANT]}, None, None),
    ("kms missing", sagemaker.kms, {"productionVariants": [VARIANT]}, None, "no kmsKeyArn"),
    ("kms not required", sagemaker.kms, {"productionVariants": [VARIANT]}, {"requireKms": False}, None),
    ("serverless variants need no volume key", sagemaker.kms,
     {"productionVariants": [{"variantName": "s", "serverlessConfig": {"maxConcurrency": 5, "memorySizeInMb": 2048}}]}, None, None),
    ("capture without key", sagemaker.kms, {"kmsKeyArn": "k", "productionVariants": [VARIANT],
                                            "dataCaptureConfig": {**CAPTURE, "kmsKeyId": ""}}, None, "dataCaptureConfig.kmsKeyId"),
    ("capture required and on", sagemaker.data_capture, {"dataCaptureConfig": CAPTURE}, {"requireDataCapture": True}, None),
    ("capture required, missing", sagemaker.data_capture, {}, {"requireDataCapture": True}, "enableCapture is not true"),
    ("capture required, 0 percent", sagemaker.data_capture, {"dataCaptureConfig": {**CAPTURE, "initialSamplingPercentage": 0}},
     {"requireDataCapture": True}, "initialSamplingPercentage"),
    ("capture not required (dev)", sagemaker.data_capture, {}, {"requireDataCapture": False}, None),
    ("allowed instance type", sagemaker.instance_types, {"productionVariants": [VARIANT]}, {"allowedInstanceTypes": ["ml.m5.large"]}, None),
    ("instance type not allowed", sagemaker.instance_types, {"productionVariants": [{**VARIANT, "instanceType": "ml.p4d.24xlarge"}]},
     {"allowedInstanceTypes": ["ml.m5.large"]}, "ml.p4d.24xlarge"),
    ("shadow variant judged too", sagemaker.instance_types, {"productionVariants": [VARIANT],
     "shadowProductionVariants": [{**VARIANT, "variantName": "shadow", "instanceType": "ml.g5.xlarge"}]},
     {"allowedInstanceTypes": ["ml.m5.large"]}, "variant 'shadow'"),
]


@pytest.mark.parametrize("label,policy,props,config,expected", SAGEMAKER_CASES, ids=[c[0] for c in SAGEMAKER_CASES])
def test_sagemaker_endpoint_config(label, policy, props, config, expected):
    expect(run_resource_policy(policy, EPC, props, config=config), expected)


def endpoint_config(name, count, variant="AllTraffic"):
    return stack_resource(EPC, name, {"productionVariants": [{**VARIANT, "variantName": variant, "initialInstanceCount": count}]})


def scaling_target(max_capacity, variant="AllTraffic"):
    return stack_resource(sagemaker.SCALABLE_TARGET_TYPE, f"scaling-{variant}", {
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
