"""policies/rules/stepfunctions.py: state machines log executions and trace with X-Ray."""

import pytest
from pulumi_policy import Severity

from policies.rules import stepfunctions
from tests.policies.helpers import check_metadata, expect, run_resource_policy
from tools.tokens import Token

METADATA = [
    # (rule, name, severity)
    (stepfunctions.logging, "aws-sfn-statemachine-enable-logging", Severity.MEDIUM),
    (stepfunctions.tracing, "aws-sfn-statemachine-enable-tracing", Severity.LOW),
]


@pytest.mark.parametrize("rule,name,severity", METADATA, ids=[m[1] for m in METADATA])
def test_metadata(rule, name, severity):
    check_metadata(rule, name, severity)


LOGGING_CASES = [
    ("logging", {"loggingConfiguration": {"level": "ALL", "logDestination": "arn:aws:logs:eu-west-1:1:log-group:sfn:*"}}, None),
    ("logging off", {"loggingConfiguration": {"level": "OFF"}}, "logging level OFF"),
]


@pytest.mark.parametrize("label,props,expected", LOGGING_CASES, ids=[c[0] for c in LOGGING_CASES])
def test_logging(label, props, expected):
    expect(run_resource_policy(stepfunctions.logging, Token.SFN_STATE_MACHINE, props), expected)


TRACING_CASES = [
    ("tracing", {"tracingConfiguration": {"enabled": True}}, None),
    ("no tracing", {}, "does not enable X-Ray"),
]


@pytest.mark.parametrize("label,props,expected", TRACING_CASES, ids=[c[0] for c in TRACING_CASES])
def test_tracing(label, props, expected):
    expect(run_resource_policy(stepfunctions.tracing, Token.SFN_STATE_MACHINE, props), expected)
