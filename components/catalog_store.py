"""The catalog store's grants, written once by its owner: who may list, read or write its records.

The store is the prefix ``CATALOG_STORE_PREFIX`` of the registry stack's bucket (versioned, SSE-KMS with
the stack key, TLS only: ``Foundation``), one record per pipeline the provisioning API accepted
(``catalog/store.py``). Why a bucket prefix rather than DynamoDB: S3 versioning keeps every revision of
every record (history, with the bucket's noncurrent-version expiry) while the current version of a
retired record stays; conditional writes (``If-None-Match`` / ``If-Match``) make each change atomic; and
``aws s3 sync`` gives the deploy and the offline preview a byte-identical local copy to read.

The deploys record the stack's outputs under ``CATALOG_DEPLOYS_PREFIX`` (``<stack>.json``).
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.iam import statement
from components.names import CATALOG_DEPLOYS_PREFIX, CATALOG_STORE_PREFIX


def records_arn(bucket_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """Every record of the store."""
    return pulumi.Output.concat(bucket_arn, f"/{CATALOG_STORE_PREFIX}/*")


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


def write_statements(bucket_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Read and write records (the provisioning Lambdas): ``PutObject`` on the store's prefix only."""
    return [*read_statements(bucket_arn), statement("WriteCatalogStore", ["s3:PutObject"], [records_arn(bucket_arn)])]
