"""policies/rules/apigateway.py: methods are authorised and validate required parameters, stages log access
and throttle."""

import pytest
from pulumi_policy import Severity

from policies.rules import apigateway
from tests.policies.helpers import check_metadata, expect, run_resource_policy, run_stack_policy, stack_resource
from tools.tokens import Token

METADATA = [
    # (rule, name, severity)
    (apigateway.method_authorization, "aws-apigateway-method-configure-authorization", Severity.CRITICAL),
    (apigateway.method_parameter_validation, "aws-apigateway-method-missing-parameter-validator", Severity.MEDIUM),
    (apigateway.stage_access_logs, "aws-apigateway-stage-configure-access-logs", Severity.MEDIUM),
    (apigateway.stage_throttling, "aws-apigateway-stage-configure-throttling", Severity.MEDIUM),
]


@pytest.mark.parametrize("rule,name,severity", METADATA, ids=[m[1] for m in METADATA])
def test_metadata(rule, name, severity):
    check_metadata(rule, name, severity)


SIGNED = {"method.request.querystring.sig": True}

METHOD_CASES = [
    # (label, props, config, expected)
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
    expect(run_resource_policy(apigateway.method_authorization, Token.APIGATEWAY_METHOD, props, config=config), expected)


ACCESS_LOG_CASES = [
    ("logs", {"accessLogSettings": {"destinationArn": "arn:aws:logs:eu-west-1:1:log-group:api", "format": "{}"}}, None),
    ("no format", {"accessLogSettings": {"destinationArn": "arn:aws:logs:eu-west-1:1:log-group:api"}}, "lacks format"),
    ("none", {}, "lacks destinationArn, format"),
]


@pytest.mark.parametrize("label,props,expected", ACCESS_LOG_CASES, ids=[c[0] for c in ACCESS_LOG_CASES])
def test_stage_access_logs(label, props, expected):
    expect(run_resource_policy(apigateway.stage_access_logs, Token.APIGATEWAY_STAGE, props), expected)


def stage(api="api123", name="v1"):
    return stack_resource(Token.APIGATEWAY_STAGE, f"{api}-{name}", {"restApi": api, "stageName": name})


def method_settings(api="api123", name="v1", path="*/*", burst=50, rate=20.0):
    return stack_resource(Token.APIGATEWAY_METHOD_SETTINGS, f"{api}-{name}-settings", {
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


def method(name="get", required=True, validator_id=None, deps=None):
    props = {"httpMethod": "GET", "authorization": "NONE",
             "requestParameters": {"method.request.querystring.sig": required}}
    if validator_id is not None:
        props["requestValidatorId"] = validator_id
    return stack_resource(Token.APIGATEWAY_METHOD, name, props, deps)


def validator(name="params", parameters=True, body=False):
    return stack_resource(Token.APIGATEWAY_REQUEST_VALIDATOR, name, {
        "id": f"{name}-id", "validateRequestParameters": parameters, "validateRequestBody": body})


VALIDATOR_URN = validator().urn
PARAMETER_VALIDATION_CASES = [
    ("validator by id", [validator(), method(validator_id="params-id")], None),
    ("validator by dependency (id unknown in a preview)",
     [validator(), method(validator_id="", deps={"requestValidatorId": [VALIDATOR_URN]})], None),
    ("optional parameter needs no validator", [method(required=False)], None),
    ("required parameter without validator", [method()], "declares required request parameters "
                                                         "method.request.querystring.sig but has no request validator"),
    ("body-only validator", [validator("body", parameters=False, body=True), method(validator_id="body-id")],
     "request validator 'body', which does not validate parameters"),
    ("another method's validator does not count", [validator(), method(validator_id="other-id")], "no request validator"),
]


@pytest.mark.parametrize("label,resources,expected", PARAMETER_VALIDATION_CASES,
                         ids=[c[0] for c in PARAMETER_VALIDATION_CASES])
def test_method_parameter_validation(label, resources, expected):
    expect(run_stack_policy(apigateway.method_parameter_validation, resources), expected)
