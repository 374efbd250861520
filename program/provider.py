"""The stack's explicit AWS provider: region, account guard, default tags and optional role to assume."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from program.settings import Settings


def create_provider(settings: Settings) -> aws.Provider:
    """One provider per stack. Every component receives it through ``ResourceOptions(providers=...)``.

    ``allowed_account_ids`` makes the provider refuse to act when the credentials belong to another
    account, so a prod stack can never deploy into the dev account. ``default_tags`` puts the five
    required tags on every taggable resource.
    """
    assume_roles = None
    if settings.deploy_role_arn:
        assume_roles = [aws.ProviderAssumeRoleArgs(
            role_arn=settings.deploy_role_arn,
            session_name=f"pulumi-{settings.project}-{settings.stack}",
        )]
    return aws.Provider(
        f"aws-{settings.environment}",
        region=settings.region,
        allowed_account_ids=list(settings.allowed_account_ids),
        assume_roles=assume_roles,
        default_tags=aws.ProviderDefaultTagsArgs(tags=settings.tags),
    )


def component_options(provider: aws.Provider) -> pulumi.ResourceOptions:
    """Resource options that hand the stack's provider to a component and all of its children."""
    return pulumi.ResourceOptions(providers={"aws": provider})
