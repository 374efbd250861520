"""API Gateway (REST): methods are authorised and validate their required parameters, stages log access
and throttle.

Opt-out marker. A method may have ``authorization="NONE"`` only when it declares the signed-link
request parameter ``method.request.querystring.sig`` in its ``request_parameters`` (required
or not). It states, in the API definition itself, that the integration authorises every request
by an HMAC-signed link (the approval API's approve/reject links), and reviewers can grep for it.
The parameter name is configurable per environment (``signedLinkParameter``). CORS preflight
(``OPTIONS``) methods are exempt by default; API keys count as authorisation unless
``acceptApiKeys`` is false.

Required request parameters. ``request_parameters={"method.request.querystring.sig": True}`` only
documents the parameter: API Gateway enforces it when the method's request validator validates
parameters (``validate_request_parameters``); without one a request lacking it reaches the integration.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._support import Resource, Severity, as_list, as_number, references, resource_rule, safe_get, stack_rule

METHOD_TYPE = "aws:apigateway/method:Method"
STAGE_TYPE = "aws:apigateway/stage:Stage"
METHOD_SETTINGS_TYPE = "aws:apigateway/methodSettings:MethodSettings"
REQUEST_VALIDATOR_TYPE = "aws:apigateway/requestValidator:RequestValidator"

SIGNED_LINK_PARAMETER = "method.request.querystring.sig"
_AUTHORISED = {"AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS"}


def _obj(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    first = next(iter(as_list(value)), None)
    return first if isinstance(first, Mapping) else {}


def check_method_authorization(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    props = resource.props
    authorization = str(props.get("authorization") or "NONE").upper()
    if authorization in _AUTHORISED:
        return
    if str(props.get("httpMethod") or "").upper() in {m.upper() for m in config["exemptHttpMethods"]}:
        return
    if config["acceptApiKeys"] and props.get("apiKeyRequired") is True:
        return
    if config["signedLinkParameter"] in _obj(props.get("requestParameters")):
        return
    yield (
        f"API method '{resource.name}' ({props.get('httpMethod')}) has authorization {authorization}; use "
        f"AWS_IAM, a Lambda/Cognito authorizer, or declare the signed-link marker request parameter "
        f"'{config['signedLinkParameter']}' if the integration verifies a signed link."
    )


def check_stage_access_logs(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    settings = _obj(resource.props.get("accessLogSettings"))
    missing = [key for key in ("destinationArn", "format") if not str(settings.get(key) or "").strip()]
    if missing:
        yield f"API stage '{resource.name}' access logging lacks {', '.join(missing)}."


def _same_rest_api(settings: Resource, stage: Resource) -> bool:
    settings_deps = set(settings.property_dependencies.get("restApi", ()))
    if settings_deps and settings_deps & set(stage.property_dependencies.get("restApi", ())):
        return True
    api = safe_get(settings.props, "restApi")
    return api is not None and api == safe_get(stage.props, "restApi")


def _for_stage(settings: Resource, stage: Resource) -> bool:
    if stage.urn in settings.property_dependencies.get("stageName", ()):
        return True
    name = safe_get(settings.props, "stageName")
    return name is not None and name == safe_get(stage.props, "stageName") and _same_rest_api(settings, stage)


def _positive(value: Any) -> bool:
    number = as_number(value)
    return number is not None and number > 0


def check_stage_throttling(resources: list[Resource], config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    all_settings = [r for r in resources if r.type == METHOD_SETTINGS_TYPE]
    for stage in (r for r in resources if r.type == STAGE_TYPE):
        throttled = False
        for settings in all_settings:
            if not _for_stage(settings, stage) or safe_get(settings.props, "methodPath") != "*/*":
                continue
            values = _obj(safe_get(settings.props, "settings"))
            if _positive(values.get("throttlingBurstLimit")) and _positive(values.get("throttlingRateLimit")):
                throttled = True
        if not throttled:
            yield stage.urn, (
                f"API stage '{stage.name}' has no MethodSettings for method_path '*/*' with positive "
                "throttling_burst_limit and throttling_rate_limit."
            )


def _required_parameters(method: Resource) -> list[str]:
    parameters = _obj(safe_get(method.props, "requestParameters"))
    return sorted(str(name) for name, required in parameters.items() if required is True)


def check_parameter_validation(resources: list[Resource], config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    validators = [r for r in resources if r.type == REQUEST_VALIDATOR_TYPE]
    for method in (r for r in resources if r.type == METHOD_TYPE):
        required = _required_parameters(method)
        if not required:
            continue
        validator = next((v for v in validators if references(method, "requestValidatorId", v)), None)
        if validator is None:
            problem = "has no request validator"
        elif safe_get(validator.props, "validateRequestParameters") is not True:
            problem = f"has request validator '{validator.name}', which does not validate parameters"
        else:
            continue
        yield method.urn, (
            f"API method '{method.name}' ({safe_get(method.props, 'httpMethod')}) declares required request "
            f"parameters {', '.join(required)} but {problem}, so API Gateway does not enforce them."
        )


method_authorization = resource_rule(
    name="aws-apigateway-method-configure-authorization",
    description="API Gateway methods are authorised (IAM, an authorizer, an API key) unless explicitly marked as signed-link methods.",
    severity=Severity.CRITICAL,
    remediation=(
        "Set `authorization='AWS_IAM'` (or CUSTOM/COGNITO_USER_POOLS with an authorizer). Only for methods "
        "whose integration verifies an HMAC-signed link, keep NONE and declare "
        "`request_parameters={'method.request.querystring.sig': True}` (see policies/README.md)."
    ),
    resource_types={METHOD_TYPE},
    check=check_method_authorization,
    config_schema={
        "signedLinkParameter": {
            "type": "string",
            "pattern": r"^method\.request\.(querystring|header|path)\.[A-Za-z0-9_.-]+$",
            "default": SIGNED_LINK_PARAMETER,
            "description": "Request parameter whose declaration marks a signed-link (self-authorising) method.",
        },
        "exemptHttpMethods": {
            "type": "array",
            "items": {"type": "string", "enum": ["OPTIONS", "HEAD"]},
            "uniqueItems": True,
            "default": ["OPTIONS"],
            "description": "HTTP methods that may stay unauthenticated (CORS preflight).",
        },
        "acceptApiKeys": {
            "type": "boolean",
            "default": True,
            "description": "Whether api_key_required=True counts as authorisation.",
        },
    },
)

method_parameter_validation = stack_rule(
    name="aws-apigateway-method-missing-parameter-validator",
    description="API Gateway methods with required request parameters have a validator that validates parameters.",
    severity=Severity.MEDIUM,
    remediation=(
        "Create `aws.apigateway.RequestValidator(rest_api=api.id, validate_request_parameters=True)` and set "
        "`request_validator_id=validator.id` on the method (then redeploy the API), or declare the parameter "
        "optional (`False`) if the integration copes without it."
    ),
    check=check_parameter_validation,
)

stage_access_logs = resource_rule(
    name="aws-apigateway-stage-configure-access-logs",
    description="API Gateway stages write access logs.",
    severity=Severity.MEDIUM,
    remediation=(
        "Set `access_log_settings={'destination_arn': log_group.arn, 'format': json.dumps({...})}` on the "
        "stage (the account needs an API Gateway CloudWatch role)."
    ),
    resource_types={STAGE_TYPE},
    check=check_stage_access_logs,
)

stage_throttling = stack_rule(
    name="aws-apigateway-stage-configure-throttling",
    description="API Gateway stages throttle every method (MethodSettings for */*).",
    severity=Severity.MEDIUM,
    remediation=(
        "Add `aws.apigateway.MethodSettings(rest_api=api.id, stage_name=stage.stage_name, method_path='*/*', "
        "settings={'throttling_burst_limit': ..., 'throttling_rate_limit': ..., 'metrics_enabled': True})`."
    ),
    check=check_stage_throttling,
)

POLICIES = [method_authorization, method_parameter_validation, stage_access_logs, stage_throttling]
