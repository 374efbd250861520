"""SNS topics and SQS queues are encrypted at rest."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._support import Resource, Severity, resource_rule

TOPIC_TYPE = "aws:sns/topic:Topic"
QUEUE_TYPE = "aws:sqs/queue:Queue"


def _has_key(props: Mapping[str, Any]) -> bool:
    return bool(str(props.get("kmsMasterKeyId") or "").strip())


def check_topic_encryption(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    if not _has_key(resource.props):
        yield f"SNS topic '{resource.name}' has no kmsMasterKeyId."


def check_queue_encryption(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    if _has_key(resource.props):
        return
    if config["requireCustomerManagedKey"]:
        yield f"SQS queue '{resource.name}' has no kmsMasterKeyId (a customer managed key is required here)."
    elif resource.props.get("sqsManagedSseEnabled") is not True:
        yield f"SQS queue '{resource.name}' sets neither kmsMasterKeyId nor sqsManagedSseEnabled=true."


topic_encryption = resource_rule(
    name="aws-sns-topic-enable-encryption",
    description="SNS topics are encrypted with a KMS key.",
    severity=Severity.HIGH,
    remediation=(
        "Set `kms_master_key_id` to the stack's key (its key policy must let the publishing services "
        "use it) or to `alias/aws/sns`."
    ),
    resource_types={TOPIC_TYPE},
    check=check_topic_encryption,
)

queue_encryption = resource_rule(
    name="aws-sqs-queue-enable-encryption",
    description="SQS queues are encrypted (SSE-KMS, or SSE-SQS where allowed).",
    severity=Severity.HIGH,
    remediation="Set `kms_master_key_id` to the stack's key, or `sqs_managed_sse_enabled=True` where allowed.",
    resource_types={QUEUE_TYPE},
    check=check_queue_encryption,
    config_schema={
        "requireCustomerManagedKey": {
            "type": "boolean",
            "default": False,
            "description": "Require SSE-KMS (kmsMasterKeyId); SSE-SQS is not enough.",
        },
    },
)

POLICIES = [topic_encryption, queue_encryption]
