"""The notification topic: one per stack, KMS-encrypted, e-mail subscriptions from config, TLS only."""

from __future__ import annotations

import json

from tests.conftest import policy_statements
from tools.tokens import Token


def test_one_encrypted_topic_per_stack(each_stack):
    (topic,) = each_stack.by_type(Token.SNS_TOPIC)
    assert topic.inputs["name"] == f"mlops-{each_stack.stack}-notifications"
    key = each_stack.one(Token.KMS_KEY)
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"]


def test_email_subscriptions_come_from_config(each_stack):
    emails = json.loads(each_stack.config["mlops:notificationEmails"])
    subscriptions = each_stack.by_type(Token.SNS_TOPIC_SUBSCRIPTION)
    assert sorted(s.inputs["endpoint"] for s in subscriptions) == sorted(emails)
    assert {s.inputs["protocol"] for s in subscriptions} == {"email"}


def test_topic_policy_limits_publishers_to_this_account_and_tls(each_stack):
    policy = each_stack.one(Token.SNS_TOPIC_POLICY)
    statements = {s["Sid"]: s for s in policy_statements(policy.inputs["policy"])}
    account = json.loads(each_stack.config["mlops:allowedAccountIds"])[0]
    allow = statements["AccountServicesPublish"]
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    assert "*" not in json.dumps(allow["Principal"])
    # the endpoint's CloudWatch alarms publish here too
    assert "cloudwatch.amazonaws.com" in allow["Principal"]["Service"]
    deny = statements["DenyInsecureTransport"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_stack_key_lets_exactly_the_topics_publishers_encrypt(each_stack):
    """An AWS service the topic accepts but the key refuses cannot publish: the two lists must agree."""
    topic = {s["Sid"]: s for s in policy_statements(each_stack.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"])}
    key = {s["Sid"]: s for s in policy_statements(each_stack.one("aws:kms/key:Key").inputs["policy"])}
    publishers = key["AwsServicesPublishToEncryptedTopics"]
    assert publishers["Principal"] == topic["AccountServicesPublish"]["Principal"]
    assert publishers["Condition"] == topic["AccountServicesPublish"]["Condition"]
    assert sorted(publishers["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
