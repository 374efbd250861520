"""The inference API: API Gateway (REST) ``POST /predict`` in front of the inference proxy Lambda.

Every stack has one, in front of the stack's stable endpoint (dev: the endpoint the training workflow
deploys; staging and prod: ``ModelEndpoint``), and ``POST /models/<model_name>/predict`` in front of each
real-time catalog entry's endpoint (``components.inference_routes``). The Lambda's environment names the
endpoints; callers never choose one. The URLs depend only on the API, its stage and the model names, so
they stay the same across model updates.

- Authorisation: ``iam`` (SigV4; callers need ``execute-api:Invoke``, the component creates a managed
  policy allowing exactly the API's ``POST`` methods on this stage) or ``api-key`` (an API key, a usage
  plan with the same throttling, ``x-api-key`` header).
- Request validation: the body must be a JSON object with ``data`` (a CSV string or a list of records);
  API Gateway answers 400 with a JSON error before the Lambda runs, which checks the rest.
- Stage: access logs (JSON, own log group with retention and KMS), X-Ray tracing, throttling on every
  method (MethodSettings ``*/*``), CloudWatch metrics.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.api_stage import logged_stage
from components.context import StackContext
from components.iam import policy_document, statement
from components.inference_routes import (
    MODEL_REQUEST_SCHEMA,
    MODELS_VARIABLE,
    PREDICT_PATH as RESOURCE_PATH,
    ModelRoute,
    RouteTarget,
    model_routes,
    models_environment,
    post_route,
)
from components.python_function import PythonFunction, PythonFunctionArgs
from components.specs import INFERENCE_AUTH_MODES as AUTH_MODES

MAX_RECORDS = 100


# JSON schema (draft-04, what API Gateway models speak) of the request body; the Lambda checks the
# records themselves (feature count, numbers) and says precisely what is wrong.
REQUEST_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "PredictRequest",
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": ["string", "array"],
            "minLength": 1,
            "minItems": 1,
            "maxItems": MAX_RECORDS,
            "items": {"type": ["string", "array"]},
        },
    },
}

BAD_BODY_MESSAGE = ('{"error": "the body must be a JSON object with a \\"data\\" field: one record as a CSV '
                    'string (\\"5.1,3.5,1.4,0.2\\") or a list of 1 to ' + str(MAX_RECORDS) +
                    ' records (CSV strings or lists of numbers)"}')


@dataclass(frozen=True)
class InferenceApiArgs:
    ctx: StackContext
    endpoint_name: str
    """The stack's stable endpoint (``Names.endpoint``)."""
    feature_count: int
    auth: str = "iam"
    throttle_rate_limit: int = 50
    throttle_burst_limit: int = 100
    stage_name: str = "v1"
    models: Sequence[ModelRoute] = ()
    """Real-time catalog entries served in the stack: ``POST /models/<model_name>/predict`` each."""

    def __post_init__(self):
        if self.auth not in AUTH_MODES:
            raise ValueError(f"InferenceApiArgs.auth = {self.auth!r} is invalid: expected one of {', '.join(AUTH_MODES)}")


class InferenceApi(pulumi.ComponentResource):
    url: pulumi.Output[str]
    """``https://<api>.execute-api.<region>.amazonaws.com/v1/predict``: stable across model updates."""
    model_urls: dict[str, pulumi.Output[str]]
    """``.../v1/models/<model_name>/predict`` of each catalog model."""
    function_arn: pulumi.Output[str]
    """The inference proxy; the dev training workflow invokes it directly as its smoke test."""
    function_name: pulumi.Output[str]
    rest_api_id: pulumi.Output[str]
    invoke_policy_arn: pulumi.Output[str] | None
    """IAM mode: managed policy allowing exactly the API's ``POST`` methods on this stage; attach it to callers."""
    api_key_id: pulumi.Output[str] | None
    """API-key mode: id of the key (``aws apigateway get-api-key --api-key <id> --include-value``)."""

    def __init__(self, name: str, args: InferenceApiArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:inference:InferenceApi", name, None, opts)
        a = args
        ctx = a.ctx
        child = pulumi.ResourceOptions(parent=self)
        endpoint_arn = ctx.names.sagemaker_arn(f"endpoint/{a.endpoint_name}")
        statements = [statement("InvokeStackEndpoint", ["sagemaker:InvokeEndpoint"], [endpoint_arn])]
        environment = {"ENDPOINT_NAME": a.endpoint_name, "FEATURE_COUNT": str(a.feature_count),
                       "MAX_RECORDS": str(MAX_RECORDS)}
        if a.models:
            statements.append(statement("InvokeCatalogEndpoints", ["sagemaker:InvokeEndpoint"], [
                ctx.names.sagemaker_arn(f"endpoint/{m.endpoint_name}") for m in a.models]))
            environment[MODELS_VARIABLE] = models_environment(a.models)

        function = PythonFunction(f"{name}-proxy", PythonFunctionArgs(
            ctx=ctx, function_name=ctx.names.inference_function, folder="inference_proxy",
            description=f"Inference API: validates records and invokes the {a.endpoint_name} endpoint"
                        + (" and the catalog models' endpoints" if a.models else ""),
            statements=statements, environment=environment,
            timeout_seconds=28,  # API Gateway REST integrations give up after 29 s
        ), opts=child)

        api = aws.apigateway.RestApi(
            f"{name}-api", name=f"{ctx.prefix}-inference",
            description=f"Predictions from the {a.endpoint_name} SageMaker endpoint",
            endpoint_configuration={"types": "REGIONAL"},
            api_key_source="HEADER", opts=child)
        predict = aws.apigateway.Resource(f"{name}-predict", rest_api=api.id, parent_id=api.root_resource_id,
                                          path_part=RESOURCE_PATH, opts=child)
        body_model = aws.apigateway.Model(
            f"{name}-request-model", rest_api=api.id, name="PredictRequest", content_type="application/json",
            schema=json.dumps(REQUEST_SCHEMA), description="Body of POST /predict", opts=child)
        validator = aws.apigateway.RequestValidator(
            f"{name}-validator", rest_api=api.id, name="body", validate_request_body=True,
            validate_request_parameters=False, opts=child)
        bad_body = aws.apigateway.Response(
            f"{name}-bad-body", rest_api_id=api.id, response_type="BAD_REQUEST_BODY", status_code="400",
            response_templates={"application/json": BAD_BODY_MESSAGE}, opts=child)

        target = RouteTarget(parent=self, rest_api=api, execution_arn=api.execution_arn, stage_name=a.stage_name,
                             auth=a.auth, validator_id=validator.id, function_name=function.function_name,
                             function_invoke_arn=function.invoke_arn)
        routes = [post_route(name, target, predict.id, RESOURCE_PATH, body_model.name),
                  *model_routes(name, target, api.root_resource_id, a.models)]

        deployment = aws.apigateway.Deployment(
            f"{name}-deployment", rest_api=api.id,
            # Redeploy whenever what the methods mean changes (auth mode, body schemas, error body, routes).
            triggers={"redeployment": _fingerprint(*_meaning(a))},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[
                *[r.method for r in routes], *[r.integration for r in routes], bad_body]))
        stage = logged_stage(
            name, ctx=ctx, parent=self, rest_api=api.id, deployment=deployment.id, stage_name=a.stage_name,
            log_group_name=f"/aws/apigateway/{ctx.prefix}-inference",
            throttle_rate_limit=a.throttle_rate_limit, throttle_burst_limit=a.throttle_burst_limit)

        self.invoke_policy_arn = None
        self.api_key_id = None
        if a.auth == "iam":
            policy = aws.iam.Policy(
                f"{name}-invoke-policy", name=f"{ctx.prefix}-inference-invoke",
                description=f"May call POST /{RESOURCE_PATH}"
                            + (" and POST /models/<model_name>/predict" if a.models else "")
                            + f" on the {ctx.prefix} inference API",
                policy=policy_document(statement("InvokePredict", ["execute-api:Invoke"],
                                                 [r.method_arn for r in routes])),
                opts=child)
            self.invoke_policy_arn = policy.arn
        else:
            key = aws.apigateway.ApiKey(f"{name}-key", name=f"{ctx.prefix}-inference",
                                        description="Key for the inference API (x-api-key header)", opts=child)
            plan = aws.apigateway.UsagePlan(
                f"{name}-usage-plan", name=f"{ctx.prefix}-inference",
                api_stages=[{"api_id": api.id, "stage": stage.stage_name}],
                throttle_settings={"rate_limit": a.throttle_rate_limit, "burst_limit": a.throttle_burst_limit},
                opts=child)
            aws.apigateway.UsagePlanKey(f"{name}-usage-plan-key", key_id=key.id, key_type="API_KEY",
                                        usage_plan_id=plan.id, opts=child)
            self.api_key_id = key.id

        self.url = pulumi.Output.concat(stage.invoke_url, f"/{RESOURCE_PATH}")
        self.model_urls = {m.model_name: pulumi.Output.concat(stage.invoke_url, f"/{m.path}") for m in a.models}
        self.function_arn = function.function_arn
        self.function_name = function.function_name
        self.rest_api_id = api.id
        self.register_outputs({"url": self.url, "function_arn": self.function_arn})


def _meaning(a: InferenceApiArgs) -> tuple[object, ...]:
    """What the deployed methods mean: auth mode, body schema, error body, and the catalog routes."""
    parts: tuple[object, ...] = (a.auth, REQUEST_SCHEMA, BAD_BODY_MESSAGE)
    if a.models:
        parts += (MODEL_REQUEST_SCHEMA, sorted(m.path for m in a.models))
    return parts


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
