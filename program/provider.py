"""The stack's explicit AWS providers: region, account guard, default tags and optional role to assume.

Two packages, configured alike: pulumi-aws for almost everything, and pulumi-aws-native (Cloud Control)
for SageMaker's model quality, bias and explainability job definitions, which pulumi-aws does not have
(README, "Why two AWS providers").
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from program.settings import Settings


def _session_name(settings: Settings) -> str:
    """The deploy role's session name (CloudTrail shows it): which program and stack acted."""
    return f"pulumi-{settings.project}-{settings.stack}"


def create_provider(settings: Settings) -> aws.Provider:
    """One provider per stack. Every component receives it through ``ResourceOptions(providers=...)``.

    ``allowed_account_ids`` makes the provider refuse to act when the credentials belong to another
    account, so a prod stack can never deploy into the dev account. ``default_tags`` puts the five
    required tags on every taggable resource.
    """
    assume_roles = None
    if settings.deploy_role_arn:
        assume_roles = [aws.ProviderAssumeRoleArgs(role_arn=settings.deploy_role_arn,
                                                   session_name=_session_name(settings))]
    return aws.Provider(
        f"aws-{settings.environment}",
        region=settings.region,
        allowed_account_ids=list(settings.allowed_account_ids),
        assume_roles=assume_roles,
        default_tags=aws.ProviderDefaultTagsArgs(tags=settings.tags),
    )


def create_native_provider(settings: Settings) -> aws_native.Provider:
    """The aws-native provider, with the same region, account guard, role and tags as ``create_provider``'s."""
    assume_role = None
    if settings.deploy_role_arn:
        assume_role = aws_native.ProviderAssumeRoleArgs(role_arn=settings.deploy_role_arn,
                                                        session_name=_session_name(settings))
    return aws_native.Provider(
        f"aws-native-{settings.environment}",
        region=settings.region,
        allowed_account_ids=list(settings.allowed_account_ids),
        assume_role=assume_role,
        default_tags=aws_native.ProviderDefaultTagsArgs(tags=settings.tags),
    )


def component_options(provider: aws.Provider, native: aws_native.Provider | None = None) -> pulumi.ResourceOptions:
    """Resource options that hand the stack's providers to a component and all of its children."""
    providers: dict[str, pulumi.ProviderResource] = {"aws": provider}
    if native is not None:
        providers["aws-native"] = native
    return pulumi.ResourceOptions(providers=providers)
