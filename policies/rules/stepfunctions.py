"""Step Functions state machines log executions and trace with X-Ray."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._support import Resource, Severity, as_list, resource_rule

STATE_MACHINE_TYPE = "aws:sfn/stateMachine:StateMachine"
_LOGGING_LEVELS = {"ALL", "ERROR", "FATAL"}


def _obj(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    first = next(iter(as_list(value)), None)
    return first if isinstance(first, Mapping) else {}


def check_logging(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    logging = _obj(resource.props.get("loggingConfiguration"))
    level = str(logging.get("level") or "OFF")
    if level not in _LOGGING_LEVELS:
        yield f"State machine '{resource.name}' has logging level {level}; use ALL, ERROR or FATAL."
    if not str(logging.get("logDestination") or "").strip():
        yield f"State machine '{resource.name}' has no logging destination (a log group ARN ending in ':*')."


def check_tracing(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    if _obj(resource.props.get("tracingConfiguration")).get("enabled") is not True:
        yield f"State machine '{resource.name}' does not enable X-Ray tracing."


logging = resource_rule(
    name="aws-sfn-statemachine-enable-logging",
    description="Step Functions state machines send execution logs to CloudWatch Logs.",
    severity=Severity.MEDIUM,
    remediation=(
        "Set `logging_configuration={'level': 'ALL', 'include_execution_data': False, "
        "'log_destination': log_group.arn.apply(lambda a: f'{a}:*')}` and grant the role the logs:*Delivery actions."
    ),
    resource_types={STATE_MACHINE_TYPE},
    check=check_logging,
)

tracing = resource_rule(
    name="aws-sfn-statemachine-enable-tracing",
    description="Step Functions state machines have X-Ray tracing enabled.",
    severity=Severity.LOW,
    remediation="Set `tracing_configuration={'enabled': True}` and allow the xray:Put* actions in the role.",
    resource_types={STATE_MACHINE_TYPE},
    check=check_tracing,
)

POLICIES = [logging, tracing]
