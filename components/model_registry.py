"""Which registered model a stack serves, and who may read the model registry.

The model package group lives in the stack that runs the training workflow (``modelDeployment:
workflow``, the dev / tooling account). Staging and prod serve a package from it:

- the package pinned in config (``modelPackageArn``): promotion passes it with ``--config`` for its
  ``pulumi up``; the stack file pins one for the offline preview and for rollbacks;
- otherwise the newest Approved package of the group, newest by creation time (``SortOrder=Descending``:
  without it the *oldest* approved package is returned first, a trap of the systems we replace).

``registry_policy_document`` is the group's resource policy that lets the staging and prod accounts
read packages and create models from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from components.iam import policy_document
from components.settings import Settings

# The stack whose training workflow registers models (its prefix names the group).
REGISTRY_ENVIRONMENT = "dev"

# What the staging and prod accounts may do with the shared group (AWS cross-account model registry).
GROUP_READ_ACTIONS = ("sagemaker:DescribeModelPackageGroup",)
PACKAGE_READ_ACTIONS = ("sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages", "sagemaker:CreateModel")


class NoApprovedModelPackage(LookupError):
    """The group has no Approved package, so a promotion-managed stack has nothing to serve."""


def model_package_group_name(settings: Settings) -> str:
    """``mlops-dev-models``: the group the training workflow registers packages in."""
    return f"{settings.project}-{REGISTRY_ENVIRONMENT}-models"


def registry_account_id(settings: Settings) -> str:
    return settings.endpoint.registry_account_id or settings.account_id


def model_package_group_arn(settings: Settings) -> str:
    return (f"arn:aws:sagemaker:{settings.region}:{registry_account_id(settings)}:model-package-group/"
            f"{model_package_group_name(settings)}")


def newest_approved_package_arn(sagemaker_client: Any, group: str) -> str:
    """ARN of the newest Approved package in ``group`` (a group name, or its ARN when cross-account).

    Raises ``NoApprovedModelPackage`` naming the group when none is approved yet.
    """
    response = sagemaker_client.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        ModelPackageType="Versioned",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )
    summaries = response.get("ModelPackageSummaryList") or []
    if not summaries:
        raise NoApprovedModelPackage(
            f"model package group {group} has no Approved package: approve one in the training workflow "
            f"(or the SageMaker console), or pin one with `pulumi config set modelPackageArn <arn>`")
    return summaries[0]["ModelPackageArn"]


def resolve_model_package_arn(settings: Settings, sagemaker_client: Any = None) -> str:
    """The package this stack serves: the pinned one, else the newest Approved (needs AWS credentials
    that may list the registry; the client defaults to boto3 in the stack's region)."""
    if settings.endpoint.model_package_arn:
        return settings.endpoint.model_package_arn
    if sagemaker_client is None:
        import boto3

        sagemaker_client = boto3.client("sagemaker", region_name=settings.region)
    group = (model_package_group_name(settings) if registry_account_id(settings) == settings.account_id
             else model_package_group_arn(settings))
    return newest_approved_package_arn(sagemaker_client, group)


def registry_policy_document(group_arn: pulumi.Input[str], group_name: pulumi.Input[str],
                             consumer_account_ids: Sequence[str], region: str,
                             registry_account: str) -> pulumi.Output[str]:
    """Resource policy of the group: the consumer accounts (staging, prod) may describe the group, list
    and describe its packages and create models from them; nothing else (no approving, no deleting)."""
    principals = [f"arn:aws:iam::{account}:root" for account in sorted(set(consumer_account_ids))]
    return policy_document(
        {
            "Sid": "ConsumerAccountsDescribeGroup",
            "Effect": "Allow",
            "Principal": {"AWS": principals},
            "Action": list(GROUP_READ_ACTIONS),
            "Resource": group_arn,
        },
        {
            "Sid": "ConsumerAccountsUsePackages",
            "Effect": "Allow",
            "Principal": {"AWS": principals},
            "Action": list(PACKAGE_READ_ACTIONS),
            "Resource": pulumi.Output.concat(
                f"arn:aws:sagemaker:{region}:{registry_account}:model-package/", group_name, "/*"),
        },
    )


def registry_bucket_name(settings: Settings) -> str:
    """The registry stack's bucket (``Foundation`` naming), where the workflow keeps model artifacts."""
    return f"{settings.project}-{REGISTRY_ENVIRONMENT}-{registry_account_id(settings)}-{settings.region}"


def model_reader_role_arns(settings: Settings) -> tuple[str, ...]:
    """Execution roles of the staging and prod endpoints that live in other accounts than the registry.

    The registry stack grants exactly these roles read access to model artifacts (bucket and key) and
    to the model image (ECR): cross-account access needs both the reader's identity policy (set by
    ``ModelEndpoint``) and the owner's resource policies (set here). Empty unless this stack owns the
    registry and promotion targets another account.
    """
    if settings.environment != REGISTRY_ENVIRONMENT:
        return ()
    readers = []
    for environment, deploy_role in (("staging", settings.promotion.staging_role_arn),
                                     ("prod", settings.promotion.prod_role_arn)):
        account = deploy_role.split(":")[4] if deploy_role else None
        if account and account != settings.account_id:
            readers.append(f"arn:aws:iam::{account}:role/{settings.project}-{environment}-endpoint-model")
    return tuple(readers)
