"""The stack's notification topic: KMS-encrypted SNS with e-mail subscriptions from config.

The topic owns who may publish to it: ``PUBLISHER_SERVICES`` (the stack key's policy lets the same
services encrypt for it) and ``publish_statements`` (what a role of this stack needs to publish).

Each e-mail subscription is named by its address (``subscription_name``), not by its position in
``notificationEmails``: removing the first address deletes that one subscription and leaves the others
alone. Named by position, every later subscription changed its endpoint, and replacing a subscription
is worse than a new confirmation e-mail: SNS answers ``Subscribe`` for an endpoint already subscribed
to the topic with the existing subscription, which the deletion of the old resource then unsubscribes,
so the address silently stops receiving mail while the stack says it is subscribed.

Stacks deployed with positional names: each subscription carries an alias to the name of its current
position (``<name>-email-<index>``), so the first deploy of this version renames every subscription in
place, without touching AWS, provided ``notificationEmails`` is unchanged in that deploy. Change the
list in a later deploy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.context import StackContext
from components.iam import policy_document, statement

PUBLISHER_SERVICES: tuple[str, ...] = ("events.amazonaws.com", "codestar-notifications.amazonaws.com",
                                       "cloudwatch.amazonaws.com")
"""AWS services allowed to publish (EventBridge rules, CodePipeline notification rules, CloudWatch
alarms on the endpoint), limited to this account by ``aws:SourceAccount``. The topic is encrypted, so
``Foundation``'s key policy lets exactly these services use the key."""


def publish_statements(topic_arn: pulumi.Input[str], kms_key_arn: pulumi.Input[str], *,
                       publish_sid: str = "Publish", key_sid: str = "EncryptForTopic") -> list[dict[str, Any]]:
    """What a role needs to publish to the stack's topic: ``sns:Publish`` on it and, because the topic
    is encrypted with the stack key, ``kms:GenerateDataKey`` and ``kms:Decrypt`` on that key."""
    return [
        statement(publish_sid, ["sns:Publish"], [topic_arn]),
        statement(key_sid, ["kms:Decrypt", "kms:GenerateDataKey"], [kms_key_arn]),
    ]


def subscription_name(name: str, email: str) -> str:
    """The logical name of an address's subscription: derived from the address alone, so adding or
    removing another address never touches it. Lower-cased, so that it does not change with the
    address's spelling; the settings refuse an address listed twice in any case, and accept no ``:``
    or space in one, so the name is a plain URN segment."""
    return f"{name}-email-{email.lower()}"


@dataclass(frozen=True)
class NotificationsArgs:
    ctx: StackContext
    kms_key_arn: pulumi.Input[str]
    """The stack's key (the topic is created before the context carries the shared resources)."""
    emails: Sequence[str]


class Notifications(pulumi.ComponentResource):
    """One SNS topic per stack: approvals, failures, deployments and pipeline events all go here."""

    topic_arn: pulumi.Output[str]
    topic_name: pulumi.Output[str]

    def __init__(self, name: str, args: NotificationsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:notifications:Notifications", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        topic = aws.sns.Topic(f"{name}-topic", name=args.ctx.names.topic,
                              kms_master_key_id=args.kms_key_arn, opts=child)
        aws.sns.TopicPolicy(f"{name}-topic-policy", arn=topic.arn, policy=policy_document(
            {
                "Sid": "AccountServicesPublish",
                "Effect": "Allow",
                "Principal": {"Service": list(PUBLISHER_SERVICES)},
                "Action": "sns:Publish",
                "Resource": topic.arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": args.ctx.account}},
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic.arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ), opts=child)
        for index, email in enumerate(args.emails):
            aws.sns.TopicSubscription(
                subscription_name(name, email), topic=topic.arn, protocol="email", endpoint=email,
                # Stacks deployed before subscriptions were named by address: the subscription at this
                # position keeps its resource (see the module docstring). Unused once renamed.
                opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=f"{name}-email-{index}")]))
        self.topic_arn = topic.arn
        self.topic_name = topic.name
        self.register_outputs({"topic_arn": self.topic_arn})
