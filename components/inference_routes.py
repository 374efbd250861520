"""The inference API's routes: ``POST /predict`` (the stack's trained model) and one ``POST
/models/<model_name>/predict`` per real-time catalog entry served in the stack.

Every route is a static resource path with one ``POST`` method (so an IAM policy can name exactly the
methods that exist, and API Gateway refuses any other path), integrated with the inference proxy Lambda
(AWS_PROXY), which may be invoked by that method of that stage only. The Lambda learns which endpoint
serves which model from ``MODELS`` in its environment (``models_environment``); callers never name an
endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

PREDICT_PATH = "predict"
MODELS_PATH = "models"
MODELS_VARIABLE = "MODELS"
MODELS_VARIABLE_MAX = 3072
"""Lambda allows 4 KB of environment variables in all; the model map may take this much of it (about 25
entries with long names)."""

# The catalog models' bodies: API Gateway checks only the envelope (its BAD_REQUEST_BODY answer names
# "data"); the Lambda checks the records against the model's content type and says what is wrong.
MODEL_REQUEST_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "ModelPredictRequest",
    "type": "object",
    "required": ["data"],
}


@dataclass(frozen=True)
class ModelRoute:
    """A real-time catalog entry as the inference API serves it."""

    model_name: str
    endpoint_name: str
    content_type: str
    """Sent to the model (``Content-Type`` of InvokeEndpoint)."""
    accept: str
    """Asked of the model (``Accept``)."""

    @property
    def path(self) -> str:
        """The resource path below the stage: ``models/<model_name>/predict``."""
        return f"{MODELS_PATH}/{self.model_name}/{PREDICT_PATH}"


def models_environment(routes: Sequence[ModelRoute]) -> str:
    """``{"<model_name>": {"endpoint": ..., "contentType": ..., "accept": ...}}`` for the proxy Lambda."""
    value = json.dumps({r.model_name: {"endpoint": r.endpoint_name, "contentType": r.content_type, "accept": r.accept}
                        for r in sorted(routes, key=lambda r: r.model_name)}, separators=(",", ":"))
    if len(value) > MODELS_VARIABLE_MAX:
        raise ValueError(f"the inference API serves {len(routes)} catalog models, whose map takes {len(value)} "
                         f"characters of the Lambda's environment; at most {MODELS_VARIABLE_MAX} fit (4 KB in all)")
    return value


@dataclass(frozen=True)
class PostRoute:
    method: aws.apigateway.Method
    integration: aws.apigateway.Integration
    method_arn: pulumi.Output[str]
    """``<execution arn>/<stage>/POST/<path>``: what ``execute-api:Invoke`` and the Lambda permission name."""
    path: str


@dataclass(frozen=True)
class RouteTarget:
    """What every route of one API shares."""

    parent: pulumi.Resource
    rest_api: aws.apigateway.RestApi
    execution_arn: pulumi.Output[str]
    stage_name: str
    auth: str
    """``iam`` or ``api-key``."""
    validator_id: pulumi.Input[str]
    function_name: pulumi.Input[str]
    function_invoke_arn: pulumi.Input[str]


def post_route(base: str, target: RouteTarget, resource_id: pulumi.Input[str], path: str,
               request_model: pulumi.Input[str]) -> PostRoute:
    """``POST`` on an existing resource: the method (auth, body model, validator), its Lambda integration
    and the permission for exactly this method of this stage (``<base>-post``, ``-integration``,
    ``-permission``)."""
    child = pulumi.ResourceOptions(parent=target.parent)
    api_id = target.rest_api.id
    method = aws.apigateway.Method(
        f"{base}-post", rest_api=api_id, resource_id=resource_id, http_method="POST",
        authorization="AWS_IAM" if target.auth == "iam" else "NONE",
        api_key_required=target.auth == "api-key",
        request_models={"application/json": request_model},
        request_validator_id=target.validator_id, opts=child)
    integration = aws.apigateway.Integration(
        f"{base}-integration", rest_api=api_id, resource_id=resource_id, http_method=method.http_method,
        type="AWS_PROXY", integration_http_method="POST", uri=target.function_invoke_arn, opts=child)
    method_arn = pulumi.Output.concat(target.execution_arn, f"/{target.stage_name}/POST/{path}")
    aws.lambda_.Permission(
        f"{base}-permission", action="lambda:InvokeFunction", function=target.function_name,
        principal="apigateway.amazonaws.com", source_arn=method_arn, opts=child)
    return PostRoute(method, integration, method_arn, path)


def model_routes(name: str, target: RouteTarget, root_id: pulumi.Input[str],
                 routes: Sequence[ModelRoute]) -> list[PostRoute]:
    """``/models/<model_name>/predict`` for each catalog model (``<name>-models-<model_name>-*``); none
    (and no ``/models`` resource) without catalog models."""
    if not routes:
        return []
    child = pulumi.ResourceOptions(parent=target.parent)
    api_id = target.rest_api.id
    models = aws.apigateway.Resource(f"{name}-models", rest_api=api_id, parent_id=root_id, path_part=MODELS_PATH,
                                     opts=child)
    request_model = aws.apigateway.Model(
        f"{name}-model-request-model", rest_api=api_id, name="ModelPredictRequest", content_type="application/json",
        schema=json.dumps(MODEL_REQUEST_SCHEMA), description="Body of POST /models/<model_name>/predict",
        opts=child)
    made = []
    for route in routes:
        base = f"{name}-models-{route.model_name}"
        model = aws.apigateway.Resource(base, rest_api=api_id, parent_id=models.id, path_part=route.model_name,
                                        opts=child)
        predict = aws.apigateway.Resource(f"{base}-predict", rest_api=api_id, parent_id=model.id,
                                          path_part=PREDICT_PATH, opts=child)
        made.append(post_route(base, target, predict.id, route.path, request_model.name))
    return made
