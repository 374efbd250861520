"""The stack's notification topic: KMS-encrypted SNS with e-mail subscriptions from config.

The topic owns who may publish to it: ``PUBLISHER_SERVICES`` (the stack key's policy lets the same
services encrypt for it) and ``publish_statements`` (what a role of this stack needs to publish).
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
            aws.sns.TopicSubscription(f"{name}-email-{index}", topic=topic.arn, protocol="email",
                                      endpoint=email, opts=child)
        self.topic_arn = topic.arn
        self.topic_name = topic.name
        self.register_outputs({"topic_arn": self.topic_arn})
