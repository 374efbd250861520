"""The stack context: what every component of a stack shares, handed over as one frozen object.

Components take a ``StackContext`` instead of repeating ``prefix, account_id, region, kms_key_arn,
log_retention_days, protect, ...`` in every Args class. It carries the stack's ``Names``, its guard
rails and the resource options (the stack's provider), plus, once created, the shared pieces every
other component uses: the KMS key, the bucket, the notification topic and the account's API Gateway
logging settings (``with_shared``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pulumi

from components.names import Names


@dataclass(frozen=True)
class SharedResources:
    """Created first (``Foundation``, ``Notifications``); every later component builds on them."""

    kms_key_arn: pulumi.Input[str]
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    api_logging: pulumi.Resource | None = None
    """The account's API Gateway logging settings (``aws.apigateway.Account``): API stages with access
    logs depend on it. None where another stack of the account owns it."""


@dataclass(frozen=True)
class StackContext:
    names: Names
    protect: bool
    """Protect stateful resources (key, bucket, registry, endpoint, tables) from deletion."""
    log_retention_days: int
    opts: pulumi.ResourceOptions
    """Resource options every component receives (the stack's explicit AWS provider)."""
    shared: SharedResources | None = None

    def with_shared(self, shared: SharedResources) -> StackContext:
        return replace(self, shared=shared)

    @property
    def prefix(self) -> str:
        return self.names.prefix

    @property
    def account(self) -> str:
        return self.names.account

    @property
    def region(self) -> str:
        return self.names.region

    @property
    def resources(self) -> SharedResources:
        """The shared pieces; a component built before them is a composition error."""
        if self.shared is None:
            raise RuntimeError("the stack's shared resources (key, bucket, topic) are not created yet: "
                               "build Foundation and Notifications first and use ctx.with_shared(...)")
        return self.shared

    @property
    def kms_key_arn(self) -> pulumi.Input[str]:
        return self.resources.kms_key_arn

    @property
    def bucket_name(self) -> pulumi.Input[str]:
        return self.resources.bucket_name

    @property
    def bucket_arn(self) -> pulumi.Input[str]:
        return self.resources.bucket_arn

    @property
    def topic_arn(self) -> pulumi.Input[str]:
        return self.resources.topic_arn

    @property
    def api_logging(self) -> pulumi.Resource | None:
        return self.resources.api_logging
