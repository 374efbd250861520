"""KMS, SNS, SQS, ECR, Lambda and Step Functions rules."""

import pytest

from policies.rules import awslambda, ecr, kms, messaging, stepfunctions
from tests.policies.helpers import expect, run_resource_policy, run_stack_policy, stack_resource, urn

CASES = [
    # (label, policy, type, props, config, expected)
    ("kms rotation on", kms.rotation, kms.KEY_TYPE, {"enableKeyRotation": True}, None, None),
    ("kms rotation off", kms.rotation, kms.KEY_TYPE, {}, None, "does not enable automatic key rotation"),
    ("kms asymmetric keys cannot rotate", kms.rotation, kms.KEY_TYPE, {"customerMasterKeySpec": "RSA_2048"}, None, None),
    ("sns with key", messaging.topic_encryption, messaging.TOPIC_TYPE, {"kmsMasterKeyId": "alias/aws/sns"}, None, None),
    ("sns without key", messaging.topic_encryption, messaging.TOPIC_TYPE, {"kmsMasterKeyId": ""}, None, "no kmsMasterKeyId"),
    ("sqs managed sse", messaging.queue_encryption, messaging.QUEUE_TYPE, {"sqsManagedSseEnabled": True}, None, None),
    ("sqs nothing", messaging.queue_encryption, messaging.QUEUE_TYPE, {}, None, "neither kmsMasterKeyId"),
    ("sqs managed sse where CMK required", messaging.queue_encryption, messaging.QUEUE_TYPE,
     {"sqsManagedSseEnabled": True}, {"requireCustomerManagedKey": True}, "customer managed key is required"),
    ("ecr scan on push", ecr.scan_on_push, ecr.REPOSITORY_TYPE, {"imageScanningConfiguration": {"scanOnPush": True}}, None, None),
    ("ecr no scanning", ecr.scan_on_push, ecr.REPOSITORY_TYPE, {}, None, "does not scan images on push"),
    ("ecr immutable", ecr.immutable_tags, ecr.REPOSITORY_TYPE, {"imageTagMutability": "IMMUTABLE"}, None, None),
    ("ecr mutable default", ecr.immutable_tags, ecr.REPOSITORY_TYPE, {}, None, "MUTABLE"),
    ("lambda timeout set", awslambda.timeout, awslambda.FUNCTION_TYPE, {"timeout": 30}, None, None),
    ("lambda timeout as double (gRPC)", awslambda.timeout, awslambda.FUNCTION_TYPE, {"timeout": 30.0}, None, None),
    ("lambda no timeout", awslambda.timeout, awslambda.FUNCTION_TYPE, {}, None, "sets no timeout"),
    ("lambda timeout above limit", awslambda.timeout, awslambda.FUNCTION_TYPE, {"timeout": 900},
     {"maxTimeoutSeconds": 60}, "allowed 1..60 s"),
    ("lambda tracing active", awslambda.tracing, awslambda.FUNCTION_TYPE, {"tracingConfig": {"mode": "Active"}}, None, None),
    ("lambda tracing passthrough", awslambda.tracing, awslambda.FUNCTION_TYPE, {"tracingConfig": {"mode": "PassThrough"}}, None, "PassThrough"),
    ("sfn logging", stepfunctions.logging, stepfunctions.STATE_MACHINE_TYPE,
     {"loggingConfiguration": {"level": "ALL", "logDestination": "arn:aws:logs:eu-west-1:1:log-group:sfn:*"}}, None, None),
    ("sfn logging off", stepfunctions.logging, stepfunctions.STATE_MACHINE_TYPE,
     {"loggingConfiguration": {"level": "OFF"}}, None, "logging level OFF"),
    ("sfn tracing", stepfunctions.tracing, stepfunctions.STATE_MACHINE_TYPE, {"tracingConfiguration": {"enabled": True}}, None, None),
    ("sfn no tracing", stepfunctions.tracing, stepfunctions.STATE_MACHINE_TYPE, {}, None, "does not enable X-Ray"),
]


@pytest.mark.parametrize("label,policy,rtype,props,config,expected", CASES, ids=[c[0] for c in CASES])
def test_resource_rules(label, policy, rtype, props, config, expected):
    expect(run_resource_policy(policy, rtype, props, config=config), expected)


FN = awslambda.FUNCTION_TYPE
LG = awslambda.LOG_GROUP_TYPE


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
def test_lambda_log_group(label, resources, expected):
    expect(run_stack_policy(awslambda.log_group, resources), expected)
