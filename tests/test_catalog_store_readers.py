"""The catalog store's readers in other accounts: every run of the program reads the store (the registry stack's
bucket) with the credentials it runs as, so the registry's bucket and key policies let the GitHub workflows'
roles of the accounts it promotes to read it (bootstrap/ gives those roles the identity side:
tests/test_bootstrap.py), and nobody else."""

from __future__ import annotations

import pytest

from tests.conftest import policy_statements

BUCKET = "arn:aws:s3:::mlops-dev-111111111111-eu-west-1"
READERS = ["arn:aws:iam::222222222222:role/mlops-github-deploy", "arn:aws:iam::222222222222:role/mlops-github-preview",
           "arn:aws:iam::333333333333:role/mlops-github-deploy", "arn:aws:iam::333333333333:role/mlops-github-preview"]
ROOTS = ["arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"]


def by_sid(document) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy_statements(document)}


def test_the_registry_bucket_lets_the_other_accounts_github_roles_list_and_read_the_store_only(stack_run):
    run = stack_run("dev")
    bucket = by_sid(run.named("mlops-dev-foundation-bucket-policy").inputs["policy"])
    assert bucket["OtherListCatalogStore"] == {
        "Sid": "OtherListCatalogStore", "Effect": "Allow", "Principal": {"AWS": ROOTS}, "Action": ["s3:ListBucket"],
        "Resource": [BUCKET], "Condition": {
            "StringLike": {"s3:prefix": ["catalog/pipelines/", "catalog/pipelines/*"]},
            "ArnEquals": {"aws:PrincipalArn": READERS}}}
    assert bucket["OtherReadCatalogStore"] == {
        "Sid": "OtherReadCatalogStore", "Effect": "Allow", "Principal": {"AWS": ROOTS}, "Action": ["s3:GetObject"],
        "Resource": [f"{BUCKET}/catalog/pipelines/*"], "Condition": {"ArnEquals": {"aws:PrincipalArn": READERS}}}


def test_the_registry_key_lets_them_decrypt_through_s3_only(stack_run):
    run = stack_run("dev")
    key = by_sid(run.named("mlops-dev-foundation-key").inputs["policy"])
    assert key["OtherAccountsDecryptCatalogStore"] == {
        "Sid": "OtherAccountsDecryptCatalogStore", "Effect": "Allow", "Principal": {"AWS": ROOTS},
        "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"ArnEquals": {"aws:PrincipalArn": READERS},
                      "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_other_stacks_grant_nothing_on_their_buckets(stack_run, stack):
    run = stack_run(stack)
    assert not [sid for sid in by_sid(run.named(f"mlops-{stack}-foundation-bucket-policy").inputs["policy"])
                if "CatalogStore" in sid]
    assert not [sid for sid in by_sid(run.named(f"mlops-{stack}-foundation-key").inputs["policy"]) if "CatalogStore" in sid]
