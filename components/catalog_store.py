"""The catalog store's grants, written once by its owner: who may list, read or write its records.

The store is the prefix ``CATALOG_STORE_PREFIX`` of the registry stack's bucket (versioned, SSE-KMS with
the stack key, TLS only: ``Foundation``), one record per pipeline the provisioning API accepted
(``catalog/store.py``). Why a bucket prefix rather than DynamoDB: S3 versioning keeps every revision of
every record (history, with the bucket's noncurrent-version expiry) while the current version of a
retired record stays; conditional writes (``If-None-Match`` / ``If-Match``) make each change atomic; and
``aws s3 sync`` gives the deploy and the offline preview a byte-identical local copy to read.

The deploys record the stack's outputs under ``CATALOG_DEPLOYS_PREFIX`` (``<stack>.json``).

Who reads the store: every run of the program (each stack's catalog is the file plus the store), so the
registry's promotion and provisioning deploys (``read_statements`` in their roles) and the GitHub
workflows' roles of every account (``bootstrap/``: ``read_statements`` and ``key_read_statement``; for
other accounts than the registry's, the registry stack's bucket and key policies add
``bucket_policy_statements`` and ``key_policy_statements``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from components.iam import statement
from components.names import CATALOG_DEPLOYS_PREFIX, CATALOG_STORE_PREFIX, account_roots


def records_arn(bucket_arn: pulumi.Input[str]) -> pulumi.Input[str]:
    """Every record of the store (a string for a string: ``bootstrap/`` writes plain JSON)."""
    suffix = f"/{CATALOG_STORE_PREFIX}/*"
    return bucket_arn + suffix if isinstance(bucket_arn, str) else pulumi.Output.concat(bucket_arn, suffix)


def deploy_outputs_arn(bucket_arn: pulumi.Input[str], stack: str) -> pulumi.Output[str]:
    """The outputs the provisioning deploy recorded for ``stack``."""
    return pulumi.Output.concat(bucket_arn, f"/{CATALOG_DEPLOYS_PREFIX}/{stack}.json")


def read_statements(bucket_arn: pulumi.Input[str], *, sid: str = "ReadCatalogStore") -> list[dict[str, Any]]:
    """List the store's prefix (only it) and read its records: what a deploy of the program needs."""
    return [
        statement(f"List{sid.removeprefix('Read')}", ["s3:ListBucket"], [bucket_arn],
                  condition={"StringLike": {"s3:prefix": [f"{CATALOG_STORE_PREFIX}/", f"{CATALOG_STORE_PREFIX}/*"]}}),
        statement(sid, ["s3:GetObject"], [records_arn(bucket_arn)]),
    ]


def key_read_statement(key_arn: str, region: str) -> dict[str, Any]:
    """Decrypt the store's records (SSE-KMS with the registry stack's key), through S3 only: the identity
    side, for readers outside the registry stack (``bootstrap/``'s GitHub roles)."""
    return statement("DecryptCatalogStore", ["kms:Decrypt"], [key_arn],
                     condition={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}})


def bucket_policy_statements(bucket_arn: pulumi.Input[str], reader_role_arns: Sequence[str]) -> list[dict[str, Any]]:
    """The bucket policy's side of ``read_statements`` for roles of other accounts (the GitHub workflows'
    roles that run the program there): their accounts as principals, narrowed to exactly these roles by
    ``aws:PrincipalArn`` (a role that does not exist yet is no invalid principal, and gets nothing)."""
    readers = sorted(reader_role_arns)
    return [{**s, "Sid": f"Other{s['Sid']}", "Principal": {"AWS": account_roots(readers)},
             "Condition": {**s.get("Condition", {}), "ArnEquals": {"aws:PrincipalArn": readers}}}
            for s in read_statements(bucket_arn)] if readers else []


def key_policy_statements(region: str, reader_role_arns: Sequence[str]) -> list[dict[str, Any]]:
    """The key policy's side of ``key_read_statement`` for the same roles: decrypt through S3 only."""
    readers = sorted(reader_role_arns)
    return [{"Sid": "OtherAccountsDecryptCatalogStore", "Effect": "Allow", "Principal": {"AWS": account_roots(readers)},
             "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"ArnEquals": {"aws:PrincipalArn": readers},
                           "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}}] if readers else []


def write_statements(bucket_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Read and write records (the provisioning Lambdas): ``PutObject`` on the store's prefix only."""
    return [*read_statements(bucket_arn), statement("WriteCatalogStore", ["s3:PutObject"], [records_arn(bucket_arn)])]
