"""policies/rules/awslambda.py: an explicit timeout, active X-Ray tracing, a log group with retention."""

import pytest
from pulumi_policy import Severity

from policies.rules import awslambda
from tests.policies.helpers import check_metadata, expect, run_resource_policy, run_stack_policy, stack_resource, urn
from tools.tokens import Token

METADATA = [
    # (rule, name, severity)
    (awslambda.timeout, "aws-lambda-function-configure-timeout", Severity.MEDIUM),
    (awslambda.tracing, "aws-lambda-function-enable-tracing", Severity.LOW),
    (awslambda.log_group, "aws-lambda-function-missing-log-group", Severity.MEDIUM),
]


@pytest.mark.parametrize("rule,name,severity", METADATA, ids=[m[1] for m in METADATA])
def test_metadata(rule, name, severity):
    check_metadata(rule, name, severity)


FN = Token.LAMBDA_FUNCTION
LG = Token.CLOUDWATCH_LOG_GROUP

TIMEOUT_CASES = [
    # (label, props, config, expected)
    ("set", {"timeout": 30}, None, None),
    ("as double (gRPC)", {"timeout": 30.0}, None, None),
    ("none", {}, None, "sets no timeout"),
    ("above limit", {"timeout": 900}, {"maxTimeoutSeconds": 60}, "allowed 1..60 s"),
]


@pytest.mark.parametrize("label,props,config,expected", TIMEOUT_CASES, ids=[c[0] for c in TIMEOUT_CASES])
def test_timeout(label, props, config, expected):
    expect(run_resource_policy(awslambda.timeout, FN, props, config=config), expected)


TRACING_CASES = [
    ("active", {"tracingConfig": {"mode": "Active"}}, None),
    ("passthrough", {"tracingConfig": {"mode": "PassThrough"}}, "PassThrough"),
]


@pytest.mark.parametrize("label,props,expected", TRACING_CASES, ids=[c[0] for c in TRACING_CASES])
def test_tracing(label, props, expected):
    expect(run_resource_policy(awslambda.tracing, FN, props), expected)


def fn(name="approve", **props):
    return stack_resource(FN, "approve", {"name": name, **props})


LOG_GROUP_CASES = [
    ("conventional name with retention", [fn(), stack_resource(LG, "lg", {"name": "/aws/lambda/approve", "retentionInDays": 30})], None),
    ("logging_config names the group", [fn(loggingConfig={"logGroup": "/mlops/approve", "logFormat": "JSON"}),
                                        stack_resource(LG, "lg", {"name": "/mlops/approve", "retentionInDays": 14.0})], None),
    ("group name computed from the function (property dependency)",
     [fn(name=None), stack_resource(LG, "lg", {"name": None, "retentionInDays": 7}, {"name": [urn(FN, "approve")]})], None),
    ("no log group", [fn()], "has no log group"),
    ("log group without retention", [fn(), stack_resource(LG, "lg", {"name": "/aws/lambda/approve"})], "without retention_in_days"),
]


@pytest.mark.parametrize("label,resources,expected", LOG_GROUP_CASES, ids=[c[0] for c in LOG_GROUP_CASES])
def test_log_group(label, resources, expected):
    expect(run_stack_policy(awslambda.log_group, resources), expected)
