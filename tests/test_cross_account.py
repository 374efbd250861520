"""Multi-account: the registry (dev) stack's resource policies let exactly the promoted endpoints' roles
read model artifacts and images; other stacks grant nothing cross-account."""

from __future__ import annotations

import json

from tests.conftest import as_list, policy_statements
from tools.tokens import Token

READERS = ["arn:aws:iam::222222222222:role/mlops-staging-endpoint-model",
           "arn:aws:iam::333333333333:role/mlops-prod-endpoint-model"]
# The shipped catalog's roles in staging and prod, as those stacks name them (tests below check they exist).
CATALOG_ROLE = {
    (model, env, account): f"arn:aws:iam::{account}:role/mlops-{env}-byom-{model}-{kind}"
    for model, kind in (("iris-xgboost", "endpoint-model"), ("iris-tree", "endpoint-model"),
                        ("iris-xgboost-batch", "batch-model"), ("iris-tree-batch", "batch-model"))
    for env, account in (("staging", "222222222222"), ("prod", "333333333333"))}
PACKAGE_READERS = [*READERS, CATALOG_ROLE[("iris-tree-batch", "staging", "222222222222")],
                   CATALOG_ROLE[("iris-tree-batch", "prod", "333333333333")]]


def _roles_of(model: str) -> list[str]:
    return [CATALOG_ROLE[(model, "staging", "222222222222")], CATALOG_ROLE[(model, "prod", "333333333333")]]
ROOTS = ["arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"]


def _by_sid(document) -> dict:
    return {s.get("Sid"): s for s in policy_statements(document)}


def test_registry_bucket_lets_promoted_endpoints_read_model_artifacts_only(stack_run):
    dev = stack_run("dev")
    statement = _by_sid(dev.one(Token.S3_BUCKET_POLICY).inputs["policy"])["PromotedEndpointsReadModelArtifacts"]
    bucket = dev.one(Token.S3_BUCKET).outputs["arn"]
    assert statement["Principal"] == {"AWS": ROOTS}
    # iris-tree-batch serves a registered package (model_package_name): its roles read models as endpoints do.
    assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": PACKAGE_READERS}}
    assert statement["Action"] == "s3:GetObject" and statement["Resource"] == f"{bucket}/workflow/*"


def test_registry_bucket_lets_each_catalog_entrys_roles_read_its_own_artifact_only(stack_run):
    dev = stack_run("dev")
    bucket = dev.one(Token.S3_BUCKET).outputs["arn"]
    grants = {s["Sid"]: s for s in policy_statements(dev.one(Token.S3_BUCKET_POLICY).inputs["policy"])
              if s["Sid"].startswith("CatalogModelsReadArtifact")}
    assert {(tuple(g["Resource"]), tuple(g["Condition"]["ArnEquals"]["aws:PrincipalArn"])) for g in grants.values()} == {
        ((f"{bucket}/models/iris-xgboost/model.tar.gz",), tuple(_roles_of("iris-xgboost"))),
        ((f"{bucket}/models/iris-tree/model.tar.gz",), tuple(_roles_of("iris-tree"))),
        ((f"{bucket}/models/iris-xgboost/model.tar.gz",), tuple(_roles_of("iris-xgboost-batch")))}
    assert all(g["Action"] == ["s3:GetObject", "s3:GetObjectVersion"] for g in grants.values())
    assert all(g["Principal"] == {"AWS": ROOTS} for g in grants.values())


def test_the_granted_catalog_roles_are_the_roles_staging_and_prod_create(stack_run):
    created = {r.outputs["arn"] for env in ("staging", "prod") for r in stack_run(env).by_type(Token.IAM_ROLE)}
    assert set(CATALOG_ROLE.values()) <= created


def test_registry_key_decrypts_for_them_only_through_s3_and_ecr(stack_run):
    key = _by_sid(stack_run("dev").one(Token.KMS_KEY).inputs["policy"])["PromotedEndpointsDecryptModelArtifacts"]
    assert key["Principal"] == {"AWS": ROOTS}
    assert set(as_list(key["Action"])) == {"kms:Decrypt", "kms:DescribeKey"}
    assert key["Condition"]["ArnEquals"] == {"aws:PrincipalArn": sorted({*READERS, *CATALOG_ROLE.values()})}
    assert key["Condition"]["StringEquals"]["kms:ViaService"] == ["s3.eu-west-1.amazonaws.com",
                                                                   "ecr.eu-west-1.amazonaws.com"]


def test_registry_image_repositories_let_them_pull(stack_run):
    """The training image's repository and each catalog image's (mlops-config.json builds mlops-dev-iris-tree)."""
    dev = stack_run("dev")
    policies = dev.by_type(Token.ECR_REPOSITORY_POLICY)
    assert sorted(p.inputs["repository"] for p in policies) == ["mlops-dev-iris-tree", "mlops-dev-model"]
    readers = {"mlops-dev-model": PACKAGE_READERS,  # the trained image: endpoints and package-serving entries
               "mlops-dev-iris-tree": [*READERS, *CATALOG_ROLE.values()]}  # a built image: any catalog model
    for policy in policies:
        (statement,) = json.loads(policy.inputs["policy"])["Statement"]
        assert statement["Principal"] == {"AWS": ROOTS}
        assert statement["Action"] == ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        assert sorted(statement["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == sorted(
            readers[policy.inputs["repository"]])


def test_reader_roles_are_the_ones_the_endpoints_create(stack_run):
    for stack in ("staging", "prod"):
        role = stack_run(stack).one(Token.IAM_ROLE, f"mlops-{stack}-endpoint-model-role")
        assert role.outputs["arn"] in READERS


def test_promoted_stacks_grant_nothing_cross_account(stack_run):
    for stack in ("staging", "prod"):
        run = stack_run(stack)
        assert run.by_type(Token.ECR_REPOSITORY_POLICY) == []
        for document in (run.one(Token.S3_BUCKET_POLICY).inputs["policy"],
                         run.one(Token.KMS_KEY).inputs["policy"]):
            assert "PromotedEndpoints" not in document
