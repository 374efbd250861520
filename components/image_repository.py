"""An ECR repository for the training (and serving) image, or a catalog image: scanned, immutable tags,
bounded history.

Images are tagged with the full commit SHA by the training pipeline's build (``pipeline/build_image.py``),
so a tag always names exactly one commit and, because tags are immutable, exactly one image.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.context import StackContext
from components.names import account_roots


@dataclass(frozen=True)
class ModelImageRepositoryArgs:
    ctx: StackContext
    """The repository is ``names.image_repository``, encrypted with the stack's key (ECR creates its own
    grant on it); ``protect`` keeps it (unprotected repositories are deleted with their images)."""
    keep_images: int = 30
    """How many tagged images are kept; older ones expire (models in the registry name their image,
    so keep at least as many as you may want to roll back to)."""
    untagged_days: int = 1
    """Untagged images (failed or interrupted pushes) expire after this many days."""
    reader_role_arns: Sequence[str] = ()
    """Roles in other accounts (promoted endpoints' execution roles) that may pull images."""
    name: str | None = None
    """The repository's name; None: ``names.image_repository``, the training image's. A catalog image builder
    names its own (``ecr_repo_name``)."""


def lifecycle_policy(keep_images: int, untagged_days: int) -> str:
    """ECR lifecycle policy: expire untagged images first, then keep the newest ``keep_images``.

    The ``any`` rule must have the highest priority number (ECR evaluates rules in priority order).
    """
    if keep_images < 1 or untagged_days < 1:
        raise ValueError(f"keep_images ({keep_images}) and untagged_days ({untagged_days}) must be at least 1")
    return json.dumps({"rules": [
        {
            "rulePriority": 1,
            "description": f"Expire untagged images after {untagged_days} day(s)",
            "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                          "countNumber": untagged_days},
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": f"Keep the {keep_images} most recent images",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_images},
            "action": {"type": "expire"},
        },
    ]})


class ModelImageRepository(pulumi.ComponentResource):
    """ECR repository: scan on push, IMMUTABLE tags, KMS encryption with the stack's key, lifecycle."""

    repository_name: pulumi.Output[str]
    repository_arn: pulumi.Output[str]
    repository_url: pulumi.Output[str]
    """``<account>.dkr.ecr.<region>.amazonaws.com/<name>``; an image is ``<url>:<full commit sha>``."""

    def __init__(self, name: str, args: ModelImageRepositoryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:registry:ModelImageRepository", name, None, opts)
        repo = aws.ecr.Repository(
            f"{name}-repo",
            name=args.name or args.ctx.names.image_repository,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": args.ctx.kms_key_arn}],
            force_delete=not args.ctx.protect,
            opts=pulumi.ResourceOptions(parent=self, protect=args.ctx.protect),
        )
        if args.reader_role_arns:
            accounts = account_roots(args.reader_role_arns)
            aws.ecr.RepositoryPolicy(f"{name}-policy", repository=repo.name, policy=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "PromotedEndpointsPullModelImage", "Effect": "Allow", "Principal": {"AWS": accounts},
                    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    "Condition": {"ArnEquals": {"aws:PrincipalArn": list(args.reader_role_arns)}},
                }],
            }), opts=pulumi.ResourceOptions(parent=self))
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle", repository=repo.name,
            policy=lifecycle_policy(args.keep_images, args.untagged_days),
            opts=pulumi.ResourceOptions(parent=self))

        self.repository_name = repo.name
        self.repository_arn = repo.arn
        self.repository_url = repo.repository_url
        self.register_outputs({"repository_name": self.repository_name, "repository_arn": self.repository_arn,
                               "repository_url": self.repository_url})
