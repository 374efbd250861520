"""InferenceApi per stack under mocks: authorisation, the Lambda's endpoint, validation, logs, throttling."""

from __future__ import annotations

import json

import jsonschema
import pytest

from components.inference_api import InferenceApiArgs, REQUEST_SCHEMA
from tests.conftest import policy_statements
from tools.tokens import Token

METHOD = Token.APIGATEWAY_METHOD
FUNCTION = Token.LAMBDA_FUNCTION
PERMISSION = Token.LAMBDA_PERMISSION
STAGE = Token.APIGATEWAY_STAGE
SETTINGS = Token.APIGATEWAY_METHOD_SETTINGS
API_KEY = Token.APIGATEWAY_API_KEY
USAGE_PLAN = Token.APIGATEWAY_USAGE_PLAN
ROLE_POLICY = Token.IAM_ROLE_POLICY


def part(run, role: str):
    return run.named(f"mlops-{run.stack}-inference-{role}")


def test_every_stack_has_one_post_predict_method_behind_its_url(each_stack):
    api = part(each_stack, "api")
    method = part(each_stack, "post")
    assert method.inputs["httpMethod"] == "POST"
    assert part(each_stack, "predict").inputs["pathPart"] == "predict"
    integration = part(each_stack, "integration")
    assert integration.inputs["type"] == "AWS_PROXY" and integration.inputs["integrationHttpMethod"] == "POST"
    function = part(each_stack, "proxy-function")
    assert integration.inputs["uri"] == function.outputs["invokeArn"]
    assert each_stack.outputs["inferenceUrl"] == \
        f"https://{api.outputs['id']}.execute-api.eu-west-1.amazonaws.com/v1/predict"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_iam_authorisation_with_a_policy_for_exactly_this_method(stack_run, stack):
    run = stack_run(stack)
    method = part(run, "post")
    assert method.inputs["authorization"] == "AWS_IAM"
    assert not method.inputs.get("apiKeyRequired")
    assert not run.by_type(API_KEY) and not run.by_type(USAGE_PLAN)
    (grant,) = policy_statements(part(run, "invoke-policy").inputs["policy"])
    execution_arn = part(run, "api").outputs["executionArn"]
    assert grant["Action"] == ["execute-api:Invoke"]
    # exactly the methods that exist: the trained model's and one per catalog model served here
    served = sorted(run.outputs["catalogEndpoints"])
    assert served == ["iris-tree", "iris-xgboost"]
    assert sorted(grant["Resource"]) == sorted([f"{execution_arn}/v1/POST/predict"] + [
        f"{execution_arn}/v1/POST/models/{model}/predict" for model in served])
    methods = run.by_type(METHOD)
    assert sorted(m.name for m in methods) == sorted(
        [f"mlops-{stack}-inference-post"] + [f"mlops-{stack}-inference-models-{model}-post" for model in served])
    assert run.outputs["inferenceInvokePolicyArn"].endswith(f":policy/mlops-{stack}-inference-invoke")


def test_api_key_authorisation_with_a_usage_plan_where_configured(stack_run):
    dev = stack_run("dev")
    assert dev.config["mlops:inferenceAuth"] == "api-key"
    method = part(dev, "post")
    assert method.inputs["authorization"] == "NONE" and method.inputs["apiKeyRequired"] is True
    plan = part(dev, "usage-plan")
    (api_stage,) = plan.inputs["apiStages"]
    assert api_stage == {"apiId": part(dev, "api").outputs["id"], "stage": "v1"}
    assert plan.inputs["throttleSettings"] == {"rateLimit": 10, "burstLimit": 20}
    link = part(dev, "usage-plan-key")
    assert link.inputs["keyId"] == part(dev, "key").id and link.inputs["keyType"] == "API_KEY"
    assert dev.outputs["inferenceApiKeyId"] == part(dev, "key").id
    assert "inferenceInvokePolicyArn" not in dev.outputs


def test_switching_prod_to_api_keys_replaces_iam(run_stack):
    run = run_stack("prod", overrides={"inferenceAuth": "api-key"})
    assert part(run, "post").inputs["authorization"] == "NONE"
    assert len(run.by_type(API_KEY)) == 1 and len(run.by_type(USAGE_PLAN)) == 1
    assert not [r for r in run.resources if r.name.endswith("inference-invoke-policy")]


def test_unknown_auth_mode_is_refused():
    with pytest.raises(ValueError, match="auth = 'none' is invalid: expected one of iam, api-key"):
        InferenceApiArgs(None, endpoint_name="e", feature_count=4, auth="none")  # type: ignore[arg-type]


def test_lambda_environment_names_the_stacks_endpoints_only(each_stack):
    stack = each_stack.stack
    function = part(each_stack, "proxy-function")
    variables = function.inputs["environment"]["variables"]
    catalog = {"iris-tree": f"mlops-{stack}-iris-tree-{stack}", "iris-xgboost": f"mlops-{stack}-byom-iris-xgboost-endpoint"}
    assert variables == {"ENDPOINT_NAME": f"mlops-{stack}-endpoint",
                         "FEATURE_COUNT": each_stack.config["mlops:modelFeatureCount"], "MAX_RECORDS": "100",
                         "MODELS": json.dumps({model: {"endpoint": endpoint, "contentType": "text/csv", "accept": "text/csv"}
                                               for model, endpoint in catalog.items()}, separators=(",", ":"))}
    statements = policy_statements(part(each_stack, "proxy-policy").inputs["policy"])
    sagemaker = [s for s in statements if any(a.startswith("sagemaker:") for a in s["Action"])]
    account = json.loads(each_stack.config["mlops:allowedAccountIds"])[0]
    assert sagemaker == [
        {"Sid": "InvokeStackEndpoint", "Effect": "Allow", "Action": ["sagemaker:InvokeEndpoint"],
         "Resource": [f"arn:aws:sagemaker:eu-west-1:{account}:endpoint/mlops-{stack}-endpoint"]},
        {"Sid": "InvokeCatalogEndpoints", "Effect": "Allow", "Action": ["sagemaker:InvokeEndpoint"],
         "Resource": [f"arn:aws:sagemaker:eu-west-1:{account}:endpoint/{catalog[m]}" for m in ("iris-xgboost", "iris-tree")]}]
    assert function.inputs["timeout"] < 29  # answers before API Gateway's integration timeout


def test_lambda_permission_is_scoped_to_this_api_stage_and_method(each_stack):
    permission = part(each_stack, "permission")
    assert permission.inputs["principal"] == "apigateway.amazonaws.com"
    assert permission.inputs["function"] == part(each_stack, "proxy-function").outputs["name"]
    assert permission.inputs["sourceArn"] == f"{part(each_stack, 'api').outputs['executionArn']}/v1/POST/predict"


def test_body_is_validated_against_the_request_model(each_stack):
    method = part(each_stack, "post")
    model = part(each_stack, "request-model")
    validator = part(each_stack, "validator")
    assert method.inputs["requestModels"] == {"application/json": model.outputs["name"]}
    assert method.inputs["requestValidatorId"] == validator.id
    assert validator.inputs["validateRequestBody"] is True
    assert json.loads(model.inputs["schema"]) == REQUEST_SCHEMA
    bad_body = part(each_stack, "bad-body")
    assert bad_body.inputs["responseType"] == "BAD_REQUEST_BODY" and bad_body.inputs["statusCode"] == "400"
    assert json.loads(bad_body.inputs["responseTemplates"]["application/json"])["error"].startswith("the body must")


@pytest.mark.parametrize(("body", "valid"), [
    ({"data": "5.1,3.5,1.4,0.2"}, True),
    ({"data": ["5.1,3.5,1.4,0.2", "6.2,3.4,5.4,2.3"]}, True),
    ({"data": [[5.1, 3.5, 1.4, 0.2]]}, True),
    ({}, False),
    ({"data": ""}, False),
    ({"data": []}, False),
    ({"data": 5.1}, False),
    ({"data": [5.1, 3.5]}, False),
    ({"data": ["1,2,3,4"] * 101}, False),
    (["5.1,3.5,1.4,0.2"], False),
])
def test_request_schema_accepts_what_the_proxy_understands(body, valid):
    validator = jsonschema.Draft4Validator(REQUEST_SCHEMA)
    assert validator.is_valid(body) is valid


def test_stage_logs_access_traces_and_throttles(each_stack):
    stage = part(each_stack, "stage")
    logs = part(each_stack, "access-logs")
    assert stage.inputs["xrayTracingEnabled"] is True
    assert stage.inputs["accessLogSettings"]["destinationArn"] == logs.outputs["arn"]
    assert {"requestId", "status", "caller", "apiKeyId"} <= set(json.loads(stage.inputs["accessLogSettings"]["format"]))
    assert logs.inputs["retentionInDays"] == int(each_stack.config["mlops:logRetentionDays"])
    assert logs.inputs["kmsKeyId"] == each_stack.outputs["kmsKeyArn"]
    settings = part(each_stack, "throttling")
    assert settings.inputs["methodPath"] == "*/*" and settings.inputs["stageName"] == "v1"
    assert settings.inputs["settings"]["throttlingRateLimit"] == int(each_stack.config["mlops:inferenceThrottleRateLimit"])
    assert settings.inputs["settings"]["throttlingBurstLimit"] == int(each_stack.config["mlops:inferenceThrottleBurstLimit"])


def test_url_does_not_depend_on_the_model(stack_run, run_stack):
    other = run_stack("prod", overrides={
        "modelPackageArn": "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-models/11"})
    assert other.outputs["inferenceUrl"] == stack_run("prod").outputs["inferenceUrl"]
    for role in ("api", "post", "integration", "stage", "deployment"):
        assert part(other, role).inputs == part(stack_run("prod"), role).inputs, role
