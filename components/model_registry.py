"""Which registered model a stack serves, and who may read the model registry.

The model package group lives in the stack that runs the training workflow (the registry stack, the
dev / tooling account). Stacks deployed by promotion serve a package from it:

- the package pinned in config (``modelPackageArn``): promotion passes it with ``--config`` for its
  ``pulumi up``; the stack file pins one for the offline preview and for rollbacks;
- otherwise the newest Approved package of the group, newest by creation time (``SortOrder=Descending``:
  without it the *oldest* approved package is returned first, a trap of the systems we replace).

``registry_policy_document`` is the group's resource policy that lets the consumer accounts read
packages and create models from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from components.iam import policy_document
from components.names import Names, account_root

# What the consumer accounts may do with the shared group (AWS cross-account model registry).
GROUP_READ_ACTIONS = ("sagemaker:DescribeModelPackageGroup",)
PACKAGE_READ_ACTIONS = ("sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages", "sagemaker:CreateModel")


class NoApprovedModelPackage(LookupError):
    """The group has no Approved package, so a promotion-managed stack has nothing to serve."""


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


def resolve_model_package_arn(pinned: str | None, registry: Names, consumer: Names,
                              sagemaker_client: Any = None) -> str:
    """The package the ``consumer`` stack serves: the pinned one, else the newest Approved in the
    ``registry`` stack's group (needs AWS credentials that may list the registry; the client defaults
    to boto3 in the consumer's region). Cross-account, the group is addressed by its ARN."""
    if pinned:
        return pinned
    if sagemaker_client is None:
        import boto3

        sagemaker_client = boto3.client("sagemaker", region_name=consumer.region)
    group = (registry.model_package_group if registry.account == consumer.account
             else registry.model_package_group_arn)
    return newest_approved_package_arn(sagemaker_client, group)


def registry_policy_document(group_arn: pulumi.Input[str], group_name: pulumi.Input[str],
                             consumer_account_ids: Sequence[str], registry: Names) -> pulumi.Output[str]:
    """Resource policy of the group: the consumer accounts may describe the group, list and describe
    its packages and create models from them; nothing else (no approving, no deleting)."""
    principals = [account_root(account) for account in sorted(set(consumer_account_ids))]
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
            "Resource": pulumi.Output.concat(registry.sagemaker_arn("model-package/"), group_name, "/*"),
        },
    )
