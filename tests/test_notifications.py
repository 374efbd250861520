"""The notification topic: one per stack, KMS-encrypted, e-mail subscriptions from config, TLS only."""

from __future__ import annotations

import json

import pytest

from program.compose import shared_context
from program.settings import Settings, SettingsError
from tests.conftest import policy_statements
from tools.mockrun import run_components
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


# --- subscriptions are named by address, so changing the list touches only what changed --------------

EMAILS = ["ml-dev@example.com", "oncall@example.com", "Lead.Person@Example.com"]


def _subscriptions(emails: list[str]) -> dict[str, tuple[str, list]]:
    """endpoint -> (logical name, aliases) of the dev stack's subscriptions for ``emails``."""
    run = run_components("dev", lambda settings: shared_context(settings) and None,
                         overrides={"notificationEmails": json.dumps(emails)})
    return {s.inputs["endpoint"]: (s.name, s.aliases) for s in run.by_type(Token.SNS_TOPIC_SUBSCRIPTION)}


@pytest.fixture(scope="module")
def three_addresses():
    return _subscriptions(EMAILS)


def test_a_subscription_is_named_by_its_address(three_addresses):
    assert {email: name for email, (name, _) in three_addresses.items()} == {
        "ml-dev@example.com": "mlops-dev-notifications-email-ml-dev@example.com",
        "oncall@example.com": "mlops-dev-notifications-email-oncall@example.com",
        "Lead.Person@Example.com": "mlops-dev-notifications-email-lead.person@example.com",
    }


def test_removing_the_first_address_leaves_the_other_subscriptions_alone(three_addresses):
    after = _subscriptions(EMAILS[1:])
    assert set(after) == set(EMAILS[1:])
    for email, (name, _) in after.items():
        assert name == three_addresses[email][0], email
    # and reordering renames nothing either
    assert {e: n for e, (n, _) in _subscriptions(EMAILS[::-1]).items()} == {
        e: n for e, (n, _) in three_addresses.items()}


def test_stacks_deployed_with_positional_names_keep_their_subscriptions(three_addresses):
    """Each subscription is aliased to the name of its position: the first deploy renames in place."""
    for index, email in enumerate(EMAILS):
        (_, aliases) = three_addresses[email]
        (alias,) = aliases
        # only the name differs: same type, stack, project and parent ("" means the resource's own parent)
        spec = dict(alias["spec"])
        assert spec.pop("parentUrn", "") == "" and spec == {"name": f"mlops-dev-notifications-email-{index}"}, aliases


@pytest.mark.parametrize("emails", [["ops@example.com", "ops@example.com"], ["ops@example.com", "OPS@example.com"]])
def test_an_address_listed_twice_is_refused(emails):
    from tests.test_settings import raw_settings

    with pytest.raises(SettingsError, match="listed twice"):
        Settings.from_raw(raw_settings(notificationEmails=json.dumps(emails)), stack="dev")
