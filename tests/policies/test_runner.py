"""Round trip through the pack's real gRPC analyzer (tools.policy_runner), as the CLI runs it."""

import json

import pytest

from tools.policy_runner import PolicyConfigError, PolicyPackError, has_mandatory, run_policy_pack
from tools.tokens import AWS_PROVIDER, Token

pytestmark = pytest.mark.slow

TAGS = {"Environment": "prod", "Project": "mlops", "Owner": "ml-platform", "CostCenter": "cc-42", "ManagedBy": "pulumi"}
PROVIDER_URN = f"urn:pulumi:prod::mlops::{AWS_PROVIDER}::aws-prod"
BUCKET_NAME = "mlops-prod-artifacts"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET_NAME}"


def record(rtype, name, inputs, outputs=None, *, provider=True, parent=None):
    return {
        "type": rtype, "name": name, "urn": f"urn:pulumi:prod::mlops::{rtype}::{name}", "parent": parent,
        "custom": True, "provider": f"{PROVIDER_URN}::prov-id" if provider else None, "id": f"{name}-id",
        "inputs": inputs, "outputs": outputs if outputs is not None else dict(inputs),
    }


def aws_provider(tags=TAGS):
    # The provider's inputs arrive with nested values as JSON strings.
    provider = record(AWS_PROVIDER, "aws-prod", {"region": "eu-west-1",
                      "defaultTags": json.dumps({"tags": tags}), "allowedAccountIds": json.dumps(["111122223333"])},
                      provider=False)
    provider["urn"] = PROVIDER_URN
    return provider


def compliant_bucket():
    tls = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    return [
        record(Token.S3_BUCKET, "artifacts", {"bucket": BUCKET_NAME, "forceDestroy": False},
               {"id": BUCKET_NAME, "bucket": BUCKET_NAME, "arn": BUCKET_ARN}),
        record(Token.S3_BUCKET_SERVER_SIDE_ENCRYPTION_CONFIGURATION, "artifacts-sse",
               {"bucket": BUCKET_NAME, "rules": [{"applyServerSideEncryptionByDefault": {
                   "sseAlgorithm": "aws:kms", "kmsMasterKeyId": "arn:aws:kms:eu-west-1:111122223333:key/k"}}]}),
        record(Token.S3_BUCKET_VERSIONING, "artifacts-versioning",
               {"bucket": BUCKET_NAME, "versioningConfiguration": {"status": "Enabled"}}),
        record(Token.S3_BUCKET_PUBLIC_ACCESS_BLOCK, "artifacts-pab",
               {"bucket": BUCKET_NAME, "blockPublicAcls": True, "blockPublicPolicy": True,
                "ignorePublicAcls": True, "restrictPublicBuckets": True}),
        record(Token.S3_BUCKET_POLICY, "artifacts-policy", {"bucket": BUCKET_NAME, "policy": json.dumps(tls)}),
        # A component parent is in the list too; no rule applies to it.
        {"type": "mlops:storage:ArtifactStore", "name": "store", "urn": "urn:pulumi:prod::mlops::mlops:storage:ArtifactStore::store",
         "parent": None, "custom": False, "provider": None, "id": None, "inputs": {}, "outputs": {}},
    ]


def broken_resources():
    wildcard = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": BUCKET_ARN}}
    return [
        aws_provider(),
        record(Token.SNS_TOPIC, "untagged", {"kmsMasterKeyId": "alias/aws/sns"}, provider=False),
        record(Token.IAM_POLICY, "too-broad", {"policy": json.dumps(wildcard)}),
    ]


def by_policy(violations):
    return {v["policy"]: v for v in violations}


def test_broken_resources_are_mandatory_violations_under_prod_config():
    violations = run_policy_pack(broken_resources(), stack="prod")
    found = by_policy(violations)
    tags = found["aws-tagging-resource-missing-required-tags"]
    assert tags["enforcement"] == "mandatory"
    assert tags["name"] == "untagged" and tags["type"] == Token.SNS_TOPIC
    assert tags["urn"].endswith("::untagged") and tags["severity"] == "medium"
    assert "Environment, Project, Owner, CostCenter, ManagedBy" in tags["message"]
    wildcard = found["aws-iam-policy-disallow-wildcard-actions"]
    assert wildcard["enforcement"] == "mandatory" and wildcard["severity"] == "critical"
    assert "s3:*" in wildcard["message"] and wildcard["name"] == "too-broad"
    assert has_mandatory(violations)
    # The policy resource uses the provider, whose JSON-string defaultTags count: no tag violation.
    assert not any(v["name"] == "too-broad" and v["policy"].startswith("aws-tagging") for v in violations)


def test_dev_config_reports_the_same_violations_as_advisory():
    violations = run_policy_pack(broken_resources(), stack="dev")
    assert {"aws-tagging-resource-missing-required-tags", "aws-iam-policy-disallow-wildcard-actions"} <= set(by_policy(violations))
    assert {v["enforcement"] for v in violations} == {"advisory"}
    assert not has_mandatory(violations)
    # The stack is dev, the provider says prod: the pack knows the stack from PULUMI_STACK.
    env = by_policy(violations)["aws-tagging-resource-configure-environment-tag"]
    assert "this stack's environment is 'dev'" in env["message"]


def test_compliant_bucket_and_stack_level_relations_pass():
    violations = run_policy_pack([aws_provider(), *compliant_bucket()], stack="prod")
    assert violations == []


def test_stack_level_violation_points_at_the_bucket():
    resources = [aws_provider(), *[r for r in compliant_bucket() if "versioning" not in r["name"]]]
    violations = run_policy_pack(resources, stack="prod")
    assert [(v["policy"], v["name"], v["enforcement"]) for v in violations] == [
        ("aws-s3-bucket-missing-versioning", "artifacts", "mandatory")]


def test_explicit_config_mapping_and_disabled_rules():
    config = {"all": "mandatory", "aws-iam-policy-disallow-wildcard-actions": "disabled",
              "aws-tagging-resource-missing-required-tags": {"requiredTags": ["Project"]}}
    violations = run_policy_pack(broken_resources(), stack="prod", config=config)
    found = by_policy(violations)
    assert "aws-iam-policy-disallow-wildcard-actions" not in found
    assert "missing required tags: Project " in found["aws-tagging-resource-missing-required-tags"]["message"]


def test_invalid_config_is_rejected_before_analysis():
    with pytest.raises(PolicyConfigError, match="maxEndpointInstances"):
        run_policy_pack(broken_resources(), stack="prod",
                        config={"aws-sagemaker-endpoint-configure-instance-budget": {"maxEndpointInstances": -1}})


def test_bad_records_and_broken_packs_fail_clearly(tmp_path):
    with pytest.raises(PolicyPackError, match=r"resources\[0\] lacks .*urn"):
        run_policy_pack([{"type": Token.SNS_TOPIC, "name": "t"}], stack="prod")
    (tmp_path / "PulumiPolicy.yaml").write_text("name: broken\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("raise SystemExit('boom: pack failed to load')\n")
    with pytest.raises(PolicyPackError, match="did not print its port"):
        run_policy_pack([], stack="prod", pack_dir=tmp_path, config={})


def test_record_id_stands_in_for_the_missing_id_output():
    # Mocks keep the resource id beside the outputs; a bridged provider's state has it as "id".
    resources = compliant_bucket()
    bucket = resources[0]
    bucket["id"], bucket["outputs"] = "artifacts-mock-id", {"bucket": "physical-name", "arn": BUCKET_ARN}
    for companion in resources[1:5]:
        companion["inputs"]["bucket"] = companion["outputs"]["bucket"] = "artifacts-mock-id"
    assert run_policy_pack([aws_provider(), *resources], stack="prod") == []
