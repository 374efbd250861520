"""policies/rules/s3.py: encryption, versioning, public access block, TLS-only policy (separate resources)."""

import json

import pytest
from pulumi_policy import Severity

from policies.rules import s3
from tests.policies.helpers import check_metadata, expect, run_stack_policy, stack_resource, urn
from tools.tokens import Token

METADATA = [
    # (rule, name, severity)
    (s3.encryption, "aws-s3-bucket-missing-encryption", Severity.HIGH),
    (s3.versioning, "aws-s3-bucket-missing-versioning", Severity.MEDIUM),
    (s3.public_access_block, "aws-s3-bucket-missing-public-access-block", Severity.HIGH),
    (s3.tls_only_policy, "aws-s3-bucket-missing-tls-only-policy", Severity.HIGH),
]


@pytest.mark.parametrize("rule,name,severity", METADATA, ids=[m[1] for m in METADATA])
def test_metadata(rule, name, severity):
    check_metadata(rule, name, severity)


BUCKET = Token.S3_BUCKET
NAME = "mlops-prod-artifacts"
ARN = f"arn:aws:s3:::{NAME}"


def bucket(props=None, rtype=BUCKET):
    return stack_resource(rtype, "artifacts", {"id": NAME, "bucket": NAME, "arn": ARN, **(props or {})})


def sse(algorithm="aws:kms", ref=NAME, deps=None):
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm, "kmsMasterKeyId": "k"}, "bucketKeyEnabled": True}]
    return stack_resource(Token.S3_BUCKET_SERVER_SIDE_ENCRYPTION_CONFIGURATION, "artifacts-sse", {"bucket": ref, "rules": rules}, deps)


ENCRYPTION_CASES = [
    ("kms by bucket name", [bucket(), sse()], None, None),
    ("bucketV2 matched by id", [bucket(rtype=Token.S3_BUCKET_V2), sse()], None, None),
    ("matched by property dependency while ids are unknown",
     [bucket({"id": None}), sse(ref=None, deps={"bucket": [urn(BUCKET, "artifacts")]})], None, None),
    ("missing", [bucket()], None, "no BucketServerSideEncryptionConfiguration"),
    ("config for another bucket", [bucket(), sse(ref="other-bucket")], None, "no BucketServerSideEncryptionConfiguration"),
    ("AES256 where only KMS is allowed", [bucket(), sse("AES256")], {"allowedAlgorithms": ["aws:kms"]}, "encrypts with AES256"),
    ("deprecated inline configuration", [bucket({"serverSideEncryptionConfiguration": {"rule": {
        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}}})], None, None),
]


@pytest.mark.parametrize("label,resources,config,expected", ENCRYPTION_CASES, ids=[c[0] for c in ENCRYPTION_CASES])
def test_encryption(label, resources, config, expected):
    expect(run_stack_policy(s3.encryption, resources, config=config), expected)


def versioning(status):
    return stack_resource(Token.S3_BUCKET_VERSIONING, "artifacts-versioning",
                          {"bucket": NAME, "versioningConfiguration": {"status": status}})


VERSIONING_CASES = [
    ("enabled", [bucket(), versioning("Enabled")], None),
    ("suspended", [bucket(), versioning("Suspended")], "found status: Suspended"),
    ("missing", [bucket()], "no BucketVersioning"),
]


@pytest.mark.parametrize("label,resources,expected", VERSIONING_CASES, ids=[c[0] for c in VERSIONING_CASES])
def test_versioning(label, resources, expected):
    expect(run_stack_policy(s3.versioning, resources), expected)


def pab(**overrides):
    flags = {flag: True for flag in s3.PUBLIC_ACCESS_FLAGS} | overrides
    return stack_resource(Token.S3_BUCKET_PUBLIC_ACCESS_BLOCK, "artifacts-pab", {"bucket": NAME, **flags})


PAB_CASES = [
    ("all four", [bucket(), pab()], None),
    ("one off", [bucket(), pab(restrictPublicBuckets=False)], "restrictPublicBuckets"),
    ("missing", [bucket()], "no BucketPublicAccessBlock"),
    ("account-level block covers buckets",
     [bucket(), stack_resource(Token.S3_ACCOUNT_PUBLIC_ACCESS_BLOCK, "account", {f: True for f in s3.PUBLIC_ACCESS_FLAGS})], None),
]


@pytest.mark.parametrize("label,resources,expected", PAB_CASES, ids=[c[0] for c in PAB_CASES])
def test_public_access_block(label, resources, expected):
    expect(run_stack_policy(s3.public_access_block, resources), expected)


def tls_statement(**overrides):
    statement = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [ARN, f"{ARN}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    return {**statement, **overrides}


def bucket_policy(*statements, single=False):
    document = {"Version": "2012-10-17", "Statement": statements[0] if single else list(statements)}
    return stack_resource(Token.S3_BUCKET_POLICY, "artifacts-policy", {"bucket": NAME, "policy": json.dumps(document)})


TLS_CASES = [
    ("TLS-only statement", [bucket(), bucket_policy(tls_statement())], None),
    ("single statement object, AWS principal, bool false", [bucket(), bucket_policy(
        tls_statement(Principal={"AWS": "*"}, Condition={"Bool": {"aws:SecureTransport": False}}), single=True)], None),
    ("missing policy", [bucket()], "no bucket policy denying"),
    ("allow instead of deny", [bucket(), bucket_policy(tls_statement(Effect="Allow"))], "no bucket policy denying"),
    ("only objects covered", [bucket(), bucket_policy(tls_statement(Resource=f"{ARN}/*"))], "no bucket policy denying"),
    ("no SecureTransport condition", [bucket(), bucket_policy(tls_statement(Condition={}))], "no bucket policy denying"),
]


@pytest.mark.parametrize("label,resources,expected", TLS_CASES, ids=[c[0] for c in TLS_CASES])
def test_tls_only_policy(label, resources, expected):
    expect(run_stack_policy(s3.tls_only_policy, resources), expected)


def test_violation_points_at_the_bucket():
    reported = run_stack_policy(s3.versioning, [bucket()])
    assert reported[0][0] == urn(BUCKET, "artifacts")
