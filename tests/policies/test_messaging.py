"""policies/rules/messaging.py: SNS topics and SQS queues are encrypted at rest."""

import pytest
from pulumi_policy import Severity

from policies.rules import messaging
from tests.policies.helpers import check_metadata, expect, run_resource_policy
from tools.tokens import Token

METADATA = [
    # (rule, name, severity)
    (messaging.topic_encryption, "aws-sns-topic-enable-encryption", Severity.HIGH),
    (messaging.queue_encryption, "aws-sqs-queue-enable-encryption", Severity.HIGH),
]


@pytest.mark.parametrize("rule,name,severity", METADATA, ids=[m[1] for m in METADATA])
def test_metadata(rule, name, severity):
    check_metadata(rule, name, severity)


TOPIC_CASES = [
    ("with key", {"kmsMasterKeyId": "alias/aws/sns"}, None),
    ("without key", {"kmsMasterKeyId": ""}, "no kmsMasterKeyId"),
]


@pytest.mark.parametrize("label,props,expected", TOPIC_CASES, ids=[c[0] for c in TOPIC_CASES])
def test_topic_encryption(label, props, expected):
    expect(run_resource_policy(messaging.topic_encryption, Token.SNS_TOPIC, props), expected)


QUEUE_CASES = [
    # (label, props, config, expected)
    ("managed sse", {"sqsManagedSseEnabled": True}, None, None),
    ("nothing", {}, None, "neither kmsMasterKeyId"),
    ("managed sse where CMK required", {"sqsManagedSseEnabled": True}, {"requireCustomerManagedKey": True},
     "customer managed key is required"),
]


@pytest.mark.parametrize("label,props,config,expected", QUEUE_CASES, ids=[c[0] for c in QUEUE_CASES])
def test_queue_encryption(label, props, config, expected):
    expect(run_resource_policy(messaging.queue_encryption, Token.SQS_QUEUE, props, config=config), expected)
