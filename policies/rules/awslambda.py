"""Lambda functions: an explicit timeout, active X-Ray tracing, and a log group with retention."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._support import Resource, Severity, as_list, as_number, references, resource_rule, safe_get, stack_rule

FUNCTION_TYPE = "aws:lambda/function:Function"
LOG_GROUP_TYPE = "aws:cloudwatch/logGroup:LogGroup"


def _obj(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    first = next(iter(as_list(value)), None)
    return first if isinstance(first, Mapping) else {}


def check_timeout(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    timeout = as_number(resource.props.get("timeout"))
    limit = config["maxTimeoutSeconds"]
    if timeout is None:
        yield f"Lambda function '{resource.name}' sets no timeout (the 3 s default is rarely intended); set 1..{limit:g} s."
    elif not 1 <= timeout <= limit:
        yield f"Lambda function '{resource.name}' has timeout {timeout:g} s; allowed 1..{limit:g} s."


def check_tracing(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    mode = _obj(resource.props.get("tracingConfig")).get("mode")
    if mode != "Active":
        yield f"Lambda function '{resource.name}' has tracing mode {mode or 'unset'}; set it to Active."


def _log_group_for(function: Resource, log_groups: list[Resource]) -> Resource | None:
    configured = _obj(safe_get(function.props, "loggingConfig"))
    configured_name = safe_get(configured, "logGroup") if configured else None
    function_name = safe_get(function.props, "name")
    for group in log_groups:
        group_name = safe_get(group.props, "name")
        if configured_name and (group_name == configured_name or references(function, "loggingConfig", group)):
            return group
        if not configured_name and (
            (function_name and group_name == f"/aws/lambda/{function_name}")
            or function.urn in group.property_dependencies.get("name", ())
        ):
            return group
    return None


def check_log_group(resources: list[Resource], config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    log_groups = [r for r in resources if r.type == LOG_GROUP_TYPE]
    for function in (r for r in resources if r.type == FUNCTION_TYPE):
        group = _log_group_for(function, log_groups)
        if group is None:
            yield function.urn, (
                f"Lambda function '{function.name}' has no log group in the stack (named "
                "/aws/lambda/<function name> or set in logging_config.log_group); Lambda would create one "
                "that never expires."
            )
            continue
        retention = as_number(safe_get(group.props, "retentionInDays"))
        if retention is None or retention <= 0:
            yield function.urn, (
                f"Lambda function '{function.name}' logs to log group '{group.name}' without retention_in_days."
            )


timeout = resource_rule(
    name="aws-lambda-function-configure-timeout",
    description="Lambda functions set an explicit timeout within the allowed maximum.",
    severity=Severity.MEDIUM,
    remediation="Set `timeout=` on `aws.lambda_.Function` to the longest expected run plus margin.",
    resource_types={FUNCTION_TYPE},
    check=check_timeout,
    config_schema={
        "maxTimeoutSeconds": {
            "type": "integer",
            "minimum": 1,
            "maximum": 900,
            "default": 300,
            "description": "Largest allowed function timeout in seconds.",
        },
    },
)

tracing = resource_rule(
    name="aws-lambda-function-enable-tracing",
    description="Lambda functions have active X-Ray tracing.",
    severity=Severity.LOW,
    remediation="Set `tracing_config={'mode': 'Active'}` and allow xray:PutTraceSegments/PutTelemetryRecords.",
    resource_types={FUNCTION_TYPE},
    check=check_tracing,
)

log_group = stack_rule(
    name="aws-lambda-function-missing-log-group",
    description="Every Lambda function has a log group with a retention period in the stack.",
    severity=Severity.MEDIUM,
    remediation=(
        "Create `aws.cloudwatch.LogGroup(name=f'/aws/lambda/{function_name}', retention_in_days=...)` "
        "(or pass its name in the function's `logging_config.log_group`) and make the function depend on it."
    ),
    check=check_log_group,
)

POLICIES = [timeout, tracing, log_group]
