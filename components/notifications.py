"""The stack's notification topic: KMS-encrypted SNS with e-mail subscriptions from config."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import policy_document


@dataclass(frozen=True)
class NotificationsArgs:
    prefix: str
    kms_key_arn: pulumi.Input[str]
    emails: Sequence[str]
    account_id: str
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
        topic = aws.sns.Topic(f"{name}-topic", name=f"{args.prefix}-notifications",
                              kms_master_key_id=args.kms_key_arn, opts=child)
        aws.sns.TopicPolicy(f"{name}-topic-policy", arn=topic.arn, policy=policy_document(
            {
                "Sid": "AccountServicesPublish",
                "Effect": "Allow",
                "Principal": {"Service": list(args.publisher_services)},
                "Action": "sns:Publish",
                "Resource": topic.arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}},
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
