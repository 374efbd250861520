"""The stack's notification topic: KMS-encrypted SNS with e-mail subscriptions from config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_aws as aws

from components.context import StackContext
from components.iam import policy_document


@dataclass(frozen=True)
class NotificationsArgs:
    ctx: StackContext
    kms_key_arn: pulumi.Input[str]
    """The stack's key (the topic is created before the context carries the shared resources)."""
    emails: Sequence[str]
    publisher_services: Sequence[str] = ("events.amazonaws.com", "codestar-notifications.amazonaws.com",
                                         "cloudwatch.amazonaws.com")
    """AWS services allowed to publish (EventBridge rules, CodePipeline notification rules, CloudWatch
    alarms on the endpoint), limited to this account by ``aws:SourceAccount``."""


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
                "Principal": {"Service": list(args.publisher_services)},
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
