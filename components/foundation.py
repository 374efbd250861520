"""Shared, stateful foundation of a stack: the customer-managed KMS key and the encrypted bucket.

Every other component encrypts with this key and keeps its artifacts, data, model outputs and data
capture in this bucket, each under its own prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import catalog_store
from components.context import StackContext
from components.iam import policy_document, service_role, statement
from components.names import BASELINE_PREFIX, account_roots
from components.notifications import PUBLISHER_SERVICES


@dataclass(frozen=True)
class FoundationArgs:
    ctx: StackContext
    """The stack's names, protection and options (built before the shared resources exist)."""
    noncurrent_version_days: int = 90
    """How long older object versions are kept."""
    account_resources: bool = True
    """Create the account's API Gateway logging role and setting (once per account and region: the
    stack that owns them is a setting, so stacks sharing an account never overwrite one another)."""
    model_reader_role_arns: Sequence[str] = ()
    """Roles in other accounts (promoted endpoints) that may read model artifacts under ``workflow/``
    and decrypt them through S3. Each is matched by ``aws:PrincipalArn``, so a role that does not exist
    yet is not an invalid principal."""
    artifact_grants: Sequence[ArtifactGrant] = ()
    """Catalog entries' uploaded artifacts: each readable by that entry's roles in other accounts only."""
    key_reader_role_arns: Sequence[str] = ()
    """Other roles in other accounts that may decrypt through S3 and ECR (catalog models: their artifacts,
    built images); what they may read is limited by the bucket and repository policies."""
    baseline_reader_role_arns: Sequence[str] = ()
    """Monitor roles in other accounts that may read the data quality baselines under
    ``workflow/baselines/`` (the packages' drift check baselines) and decrypt them through S3 only."""
    catalog_store_reader_role_arns: Sequence[str] = ()
    """Roles in other accounts that run the program (the GitHub workflows'): they list and read the catalog
    store and decrypt it through S3 only (``components.catalog_store``'s grants)."""


@dataclass(frozen=True)
class ArtifactGrant:
    """Roles in other accounts that may read exactly these object keys (every version) of the bucket."""

    keys: tuple[str, ...]
    role_arns: tuple[str, ...]


class Foundation(pulumi.ComponentResource):
    """KMS key (rotating) and an S3 bucket that is encrypted, versioned, private and TLS-only, and sends
    its events to EventBridge."""

    kms_key_arn: pulumi.Output[str]
    kms_key_id: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    api_gateway_logging: aws.apigateway.Account | None
    """The account's API Gateway logging settings: API stages with access logs must depend on it. None
    where another stack of the account owns them."""

    def __init__(self, name: str, args: FoundationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:foundation:Foundation", name, None, opts)
        self._args = args
        ctx = args.ctx
        stateful = pulumi.ResourceOptions(parent=self, protect=ctx.protect)

        key = aws.kms.Key(
            f"{name}-key",
            description=f"{ctx.prefix}: encrypts the bucket, topics, logs, secrets and SageMaker volumes",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=self._key_policy(),
            opts=stateful,
        )
        aws.kms.Alias(f"{name}-key-alias", name=ctx.names.kms_alias, target_key_id=key.key_id,
                      opts=pulumi.ResourceOptions(parent=self))

        bucket = aws.s3.Bucket(f"{name}-bucket", bucket=ctx.names.bucket,
                               force_destroy=not ctx.protect, opts=stateful)
        child = pulumi.ResourceOptions(parent=self)
        aws.s3.BucketOwnershipControls(
            f"{name}-bucket-ownership", bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"}, opts=child)
        aws.s3.BucketPublicAccessBlock(
            f"{name}-bucket-public-access", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child)
        aws.s3.BucketVersioning(
            f"{name}-bucket-versioning", bucket=bucket.id,
            versioning_configuration={"status": "Enabled"}, opts=child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-bucket-encryption", bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                                "kms_master_key_id": key.arn},
                    "bucket_key_enabled": True}], opts=child)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-bucket-lifecycle", bucket=bucket.id,
            rules=[{"id": "expire-noncurrent-versions", "status": "Enabled", "filter": {},
                    "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_version_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7}}], opts=child)
        # Every upload the platform reacts to (catalog images, models, batch input) is routed by EventBridge
        # rules on "Object Created" events, so the bucket's one notification configuration sends all of its
        # events there and no component needs its own (S3 keeps one configuration per bucket).
        aws.s3.BucketNotification(f"{name}-bucket-events", bucket=bucket.id, eventbridge=True, opts=child)
        bucket_statements: list[dict[str, Any]] = [{
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [bucket.arn, pulumi.Output.concat(bucket.arn, "/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }]
        if args.model_reader_role_arns:
            bucket_statements.append({
                "Sid": "PromotedEndpointsReadModelArtifacts", "Effect": "Allow",
                "Principal": {"AWS": account_roots(args.model_reader_role_arns)},
                "Action": "s3:GetObject", "Resource": pulumi.Output.concat(bucket.arn, "/workflow/*"),
                "Condition": {"ArnEquals": {"aws:PrincipalArn": list(args.model_reader_role_arns)}},
            })
        for index, grant in enumerate(args.artifact_grants):
            bucket_statements.append({
                "Sid": f"CatalogModelsReadArtifact{index}", "Effect": "Allow",
                "Principal": {"AWS": account_roots(grant.role_arns)},
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": [pulumi.Output.concat(bucket.arn, "/", key) for key in grant.keys],
                "Condition": {"ArnEquals": {"aws:PrincipalArn": list(grant.role_arns)}},
            })
        if args.baseline_reader_role_arns:
            bucket_statements.append({
                "Sid": "PromotedMonitorsReadBaselines", "Effect": "Allow",
                "Principal": {"AWS": account_roots(args.baseline_reader_role_arns)},
                "Action": "s3:GetObject", "Resource": pulumi.Output.concat(bucket.arn, f"/{BASELINE_PREFIX}/*"),
                "Condition": {"ArnEquals": {"aws:PrincipalArn": list(args.baseline_reader_role_arns)}},
            })
        bucket_statements += catalog_store.bucket_policy_statements(bucket.arn, args.catalog_store_reader_role_arns)
        aws.s3.BucketPolicy(f"{name}-bucket-policy", bucket=bucket.id, policy=policy_document(*bucket_statements),
                            opts=child)

        self.api_gateway_logging = self._api_gateway_logging(name) if args.account_resources else None

        self.kms_key_arn = key.arn
        self.kms_key_id = key.key_id
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.register_outputs({"kms_key_arn": self.kms_key_arn, "bucket_name": self.bucket_name,
                               "bucket_arn": self.bucket_arn})

    def _api_gateway_logging(self, name: str) -> aws.apigateway.Account:
        """API Gateway writes access and execution logs through one role per account and region
        (``aws.apigateway.Account``). One stack per account owns it; the role may only write logs."""
        ctx = self._args.ctx
        child = pulumi.ResourceOptions(parent=self)
        role, _ = service_role(
            f"{name}-apigateway-logs", role_name=f"{ctx.prefix}-apigateway-cloudwatch",
            description="Lets API Gateway write access and execution logs to CloudWatch Logs",
            service="apigateway.amazonaws.com", account_id=ctx.account, opts=child,
            statements=[statement("WriteApiLogs", ["logs:CreateLogGroup", "logs:CreateLogStream",
                                                   "logs:DescribeLogStreams", "logs:PutLogEvents"],
                                  [f"{ctx.names.log_group_arn('*')}"]),
                        # No resource types in the Service Authorization Reference: "*" is the only grant.
                        statement("FindApiLogGroups", ["logs:DescribeLogGroups"], ["*"])])
        return aws.apigateway.Account(f"{name}-apigateway-account", cloudwatch_role_arn=role.arn, opts=child)

    def _key_policy(self) -> pulumi.Output[str]:
        """Key policy: the account administers the key through IAM; AWS services that encrypt on our
        behalf (CloudWatch Logs, SNS publishers) may use it for this account only."""
        a = self._args
        names = a.ctx.names
        readers = []
        model_readers = sorted({*a.model_reader_role_arns, *a.key_reader_role_arns})
        if model_readers:
            readers.append({
                "Sid": "PromotedEndpointsDecryptModelArtifacts",
                "Effect": "Allow",
                "Principal": {"AWS": account_roots(model_readers)},
                "Action": ["kms:Decrypt", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": model_readers},
                              "StringEquals": {"kms:ViaService": [f"s3.{names.region}.amazonaws.com",
                                                                  f"ecr.{names.region}.amazonaws.com"]}},
            })
        if a.baseline_reader_role_arns:
            readers.append({
                "Sid": "PromotedMonitorsDecryptBaselines",
                "Effect": "Allow",
                "Principal": {"AWS": account_roots(a.baseline_reader_role_arns)},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": list(a.baseline_reader_role_arns)},
                              "StringEquals": {"kms:ViaService": f"s3.{names.region}.amazonaws.com"}},
            })
        readers += catalog_store.key_policy_statements(names.region, a.catalog_store_reader_role_arns)
        return policy_document(
            {
                "Sid": "AccountAdministersKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": names.account_root},
                "Action": [
                    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                    "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
                    "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
                    "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant",
                ],
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchLogsEncryptLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{names.region}.amazonaws.com"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
                           "kms:GenerateDataKey", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                          names.log_group_arn("*")}},
            },
            {
                "Sid": "AwsServicesPublishToEncryptedTopics",
                "Effect": "Allow",
                "Principal": {"Service": list(PUBLISHER_SERVICES)},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": names.account}},
            },
            *readers,
        )

