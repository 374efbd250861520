"""S3 buckets: encrypted, versioned, all four public-access blocks, a TLS-only bucket policy.

In pulumi-aws 7 these settings are separate resources (``BucketServerSideEncryptionConfiguration``,
``BucketVersioning``, ``BucketPublicAccessBlock``, ``BucketPolicy``) that point at the bucket through
their ``bucket`` property, so these are stack rules: for every bucket they look for a companion
resource that references it (by the engine's property dependencies, else by the bucket's id or
name). The deprecated inline arguments of ``aws.s3.Bucket`` count too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._support import (
    InvalidDocument,
    Resource,
    Severity,
    as_list,
    parse_json_value,
    policy_statements,
    references,
    safe_get,
    stack_rule,
)

BUCKET_TYPES = {"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"}
SSE_TYPES = {
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
}
VERSIONING_TYPES = {"aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2"}
PUBLIC_ACCESS_BLOCK_TYPE = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ACCOUNT_PUBLIC_ACCESS_BLOCK_TYPE = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
BUCKET_POLICY_TYPE = "aws:s3/bucketPolicy:BucketPolicy"

PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
DEFAULT_SSE_ALGORITHMS = ["aws:kms", "aws:kms:dsse", "AES256"]


def _buckets(resources: list[Resource]) -> list[Resource]:
    return [r for r in resources if r.type in BUCKET_TYPES]


def _companions(resources: list[Resource], types: set[str], bucket: Resource) -> list[Resource]:
    return [r for r in resources if r.type in types and references(r, "bucket", bucket, "bucket")]


def _obj(value: Any) -> Mapping[str, Any]:
    value = parse_json_value(value)
    return value if isinstance(value, Mapping) else {}


def _first(value: Any) -> Mapping[str, Any]:
    items = as_list(parse_json_value(value))
    return items[0] if items and isinstance(items[0], Mapping) else {}


def _label(bucket: Resource) -> str:
    return f"bucket '{bucket.name}'"


# --- aws-s3-bucket-missing-encryption ---------------------------------------------------------


def _sse_algorithms(rules: Any) -> list[str]:
    algorithms = []
    for rule in as_list(parse_json_value(rules)):
        if isinstance(rule, Mapping):
            default = rule.get("applyServerSideEncryptionByDefault")
            default = _first(default) if not isinstance(default, Mapping) else default
            if default.get("sseAlgorithm"):
                algorithms.append(str(default["sseAlgorithm"]))
    return algorithms


def check_encryption(resources: list[Resource], config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    allowed = list(config["allowedAlgorithms"])
    for bucket in _buckets(resources):
        algorithms = []
        for sse in _companions(resources, SSE_TYPES, bucket):
            algorithms += _sse_algorithms(sse.props.get("rules"))
        inline = _obj(safe_get(bucket.props, "serverSideEncryptionConfiguration"))
        algorithms += _sse_algorithms(inline.get("rule") or inline.get("rules"))
        if not algorithms:
            yield bucket.urn, (
                f"{_label(bucket)} has no BucketServerSideEncryptionConfiguration with a default "
                f"encryption rule (allowed algorithms: {', '.join(allowed)})."
            )
        elif any(a not in allowed for a in algorithms):
            yield bucket.urn, (
                f"{_label(bucket)} encrypts with {', '.join(algorithms)}; allowed: {', '.join(allowed)}."
            )


# --- aws-s3-bucket-missing-versioning ---------------------------------------------------------


def check_versioning(resources: list[Resource], config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for bucket in _buckets(resources):
        statuses = []
        for versioning in _companions(resources, VERSIONING_TYPES, bucket):
            conf = versioning.props.get("versioningConfiguration")
            conf = conf if isinstance(conf, Mapping) else _first(conf)
            statuses.append(str(conf.get("status")))
        if _obj(safe_get(bucket.props, "versioning")).get("enabled") is True:
            statuses.append("Enabled")
        if "Enabled" not in statuses:
            found = f" (found status: {', '.join(statuses)})" if statuses else ""
            yield bucket.urn, f"{_label(bucket)} has no BucketVersioning with status Enabled{found}."


# --- aws-s3-bucket-missing-public-access-block ------------------------------------------------


def _all_blocked(props: Mapping[str, Any]) -> list[str]:
    return [flag for flag in PUBLIC_ACCESS_FLAGS if props.get(flag) is not True]


def check_public_access_block(resources: list[Resource], config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    account_blocked = any(
        not _all_blocked(r.props) for r in resources if r.type == ACCOUNT_PUBLIC_ACCESS_BLOCK_TYPE
    )
    if account_blocked:
        return
    for bucket in _buckets(resources):
        blocks = _companions(resources, {PUBLIC_ACCESS_BLOCK_TYPE}, bucket)
        if not blocks:
            yield bucket.urn, f"{_label(bucket)} has no BucketPublicAccessBlock."
            continue
        if all(_all_blocked(block.props) for block in blocks):
            off = _all_blocked(blocks[0].props)
            yield bucket.urn, f"{_label(bucket)} public access block leaves {', '.join(off)} off; set all four to true."


# --- aws-s3-bucket-missing-tls-only-policy ----------------------------------------------------


def _principal_is_everyone(principal: Any) -> bool:
    if isinstance(principal, Mapping):
        return any(str(v) == "*" for v in as_list(principal.get("AWS")))
    return any(str(p) == "*" for p in as_list(principal))


def _denies_insecure_transport(condition: Any) -> bool:
    if not isinstance(condition, Mapping):
        return False
    for operator, block in condition.items():
        if str(operator).lower() not in ("bool", "boolifexists") or not isinstance(block, Mapping):
            continue
        for key, value in block.items():
            if str(key).lower() == "aws:securetransport" and any(str(v).lower() == "false" for v in as_list(value)):
                return True
    return False


def _covers_bucket_and_objects(resources: list[str]) -> bool:
    if "*" in resources:
        return True
    objects = any(r.endswith("/*") for r in resources)
    bucket = any(":::" in r and "/" not in r.split(":::", 1)[1] for r in resources)
    return objects and bucket


def is_tls_only(document: Any) -> bool:
    """Has a Deny of s3:* for everyone when aws:SecureTransport is false, on bucket and objects?"""
    try:
        statements = policy_statements(document)
    except InvalidDocument:
        return False
    for statement in statements:
        if str(statement.get("Effect", "")).lower() != "deny":
            continue
        actions = [str(a) for a in as_list(statement.get("Action"))]
        if (
            _principal_is_everyone(statement.get("Principal"))
            and any(a.strip().lower() in ("*", "s3:*") for a in actions)
            and _denies_insecure_transport(statement.get("Condition"))
            and _covers_bucket_and_objects([str(r) for r in as_list(statement.get("Resource"))])
        ):
            return True
    return False


def check_tls_only_policy(resources: list[Resource], config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for bucket in _buckets(resources):
        documents = [p.props.get("policy") for p in _companions(resources, {BUCKET_POLICY_TYPE}, bucket)]
        documents.append(safe_get(bucket.props, "policy"))
        if not any(is_tls_only(document) for document in documents if document):
            yield bucket.urn, (
                f"{_label(bucket)} has no bucket policy denying s3:* to Principal \"*\" when "
                "aws:SecureTransport is false (on the bucket ARN and arn/*)."
            )


# --- the rules --------------------------------------------------------------------------------

encryption = stack_rule(
    name="aws-s3-bucket-missing-encryption",
    description="Every S3 bucket has default server-side encryption with an allowed algorithm.",
    severity=Severity.HIGH,
    remediation=(
        "Add `aws.s3.BucketServerSideEncryptionConfiguration(bucket=bucket.id, rules=[{"
        "'apply_server_side_encryption_by_default': {'sse_algorithm': 'aws:kms', 'kms_master_key_id': key.arn}, "
        "'bucket_key_enabled': True}])`."
    ),
    check=check_encryption,
    config_schema={
        "allowedAlgorithms": {
            "type": "array",
            "items": {"type": "string", "enum": ["aws:kms", "aws:kms:dsse", "AES256"]},
            "minItems": 1,
            "uniqueItems": True,
            "default": DEFAULT_SSE_ALGORITHMS,
            "description": "Accepted sse_algorithm values.",
        },
    },
)

versioning = stack_rule(
    name="aws-s3-bucket-missing-versioning",
    description="Every S3 bucket has versioning enabled.",
    severity=Severity.MEDIUM,
    remediation="Add `aws.s3.BucketVersioning(bucket=bucket.id, versioning_configuration={'status': 'Enabled'})`.",
    check=check_versioning,
)

public_access_block = stack_rule(
    name="aws-s3-bucket-missing-public-access-block",
    description="Every S3 bucket (or the account) blocks public ACLs and policies with all four settings.",
    severity=Severity.HIGH,
    remediation=(
        "Add `aws.s3.BucketPublicAccessBlock(bucket=bucket.id, block_public_acls=True, "
        "block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True)`."
    ),
    check=check_public_access_block,
)

tls_only_policy = stack_rule(
    name="aws-s3-bucket-missing-tls-only-policy",
    description="Every S3 bucket has a policy that denies requests not sent over TLS.",
    severity=Severity.HIGH,
    remediation=(
        "Add a BucketPolicy statement: Effect Deny, Principal \"*\", Action \"s3:*\", Resource "
        "[bucket.arn, bucket.arn + \"/*\"], Condition {\"Bool\": {\"aws:SecureTransport\": \"false\"}}."
    ),
    check=check_tls_only_policy,
)

POLICIES = [encryption, versioning, public_access_block, tls_only_policy]
