"""What a stack's catalog entries run as, published for the registry's provisioning API to read live.

Every stack publishes one SSM parameter (``Names.catalog_status_parameter``), a SecureString encrypted
with the stack key (nothing in it is secret, but the house rule is KMS everywhere, and reading it then
needs the key through SSM only, for this parameter only):

    {"environment": "staging", "inference_url": "https://<api>.execute-api.<region>.amazonaws.com/v1/predict",
     "endpoints": {"<model_name>": {"endpoint_name": "mlops-staging-...", "url": ".../v1/models/<model_name>/predict"}},
     "batch": {"<model_name>": {"state_machine_arn": "arn:aws:states:...:stateMachine:mlops-staging-byom-...-batch"}}}

and one role (``Names.catalog_status_role``) that only the registry stack's provisioning API Lambda role
may assume: its account root is the principal, narrowed to that role by ``aws:PrincipalArn`` (so the
trust policy is valid before the registry stack creates the role, and grants nothing until then). The
role may read that parameter, describe exactly the stack's catalog endpoints and list the executions of
exactly its batch pipelines: every name is decided before any resource exists, so every ARN is exact.

The parameter's tier is ``Intelligent-Tiering``: standard (4 KB) while the document fits, advanced (8 KB)
beyond; ``MAX_DOCUMENT_BYTES`` is checked before any resource exists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.context import StackContext
from components.iam import policy_document, statement
from components.names import Names, account_of, account_root

MAX_DOCUMENT_BYTES = 8192
"""SSM's limit on an advanced parameter's value."""
URL_BOUND = 160
"""At most this many characters per URL when the document's size is checked (the URLs are not known yet)."""


@dataclass(frozen=True)
class CatalogStatusArgs:
    ctx: StackContext
    reader_role_arn: str
    """The registry stack's provisioning API Lambda role (``Names.provisioning_function_role_arn``)."""
    inference_url: pulumi.Input[str]
    """The stack's inference API (``InferenceApi.url``)."""
    endpoints: Mapping[str, str] = field(default_factory=dict)
    """Model name -> endpoint name of each real-time catalog entry the stack serves."""
    endpoint_urls: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Model name -> its route on the inference API (``InferenceApi.model_urls``)."""
    batch_state_machine_arns: Mapping[str, str] = field(default_factory=dict)
    """Model name -> the state machine of each batch pipeline the stack has."""

    def __post_init__(self):
        missing = sorted(set(self.endpoints) - set(self.endpoint_urls))
        if missing:
            raise ValueError(f"CatalogStatusArgs.endpoint_urls has no URL for {', '.join(missing)}: every endpoint "
                             "in endpoints needs its route on the inference API")
        size = len(json.dumps(status_document(self.ctx.names.environment, "x" * URL_BOUND, self.endpoints,
                                              dict.fromkeys(self.endpoints, "x" * URL_BOUND),
                                              self.batch_state_machine_arns)))
        if size > MAX_DOCUMENT_BYTES:
            raise ValueError(f"the catalog status of {self.ctx.prefix} would take up to {size} bytes "
                             f"({len(self.endpoints)} endpoints, {len(self.batch_state_machine_arns)} batch pipelines): "
                             f"an SSM parameter holds {MAX_DOCUMENT_BYTES}; serve fewer catalog entries in this stack")


def status_document(environment: str, inference_url: Any, endpoints: Mapping[str, str],
                    endpoint_urls: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, Any]:
    """The parameter's value (its Outputs resolved by ``Output.json_dumps``)."""
    return {"environment": environment, "inference_url": inference_url,
            "endpoints": {m: {"endpoint_name": e, "url": endpoint_urls[m]} for m, e in endpoints.items()},
            "batch": {m: {"state_machine_arn": arn} for m, arn in batch.items()}}


def status_trust(reader_role_arn: str) -> dict[str, Any]:
    """Only ``reader_role_arn`` may assume the status role."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "RegistryProvisioningApi", "Effect": "Allow", "Principal": {"AWS": account_root(account_of(reader_role_arn))},
        "Action": "sts:AssumeRole", "Condition": {"ArnEquals": {"aws:PrincipalArn": reader_role_arn}}}]}


def status_statements(names: Names, kms_key_arn: pulumi.Input[str], endpoints: Mapping[str, str],
                      batch_state_machine_arns: Mapping[str, str]) -> list[dict[str, Any]]:
    """What the status role may do: read the parameter (and decrypt it through SSM, for it only), describe
    the catalog endpoints, list the batch pipelines' executions; nothing else."""
    parameter = names.catalog_status_parameter_arn
    statements = [
        statement("ReadCatalogStatus", ["ssm:GetParameter"], [parameter]),
        statement("DecryptCatalogStatus", ["kms:Decrypt"], [kms_key_arn], condition={"StringEquals": {
            "kms:ViaService": f"ssm.{names.region}.amazonaws.com",
            "kms:EncryptionContext:PARAMETER_ARN": parameter}}),
    ]
    if endpoints:
        statements.append(statement("DescribeCatalogEndpoints", ["sagemaker:DescribeEndpoint"],
                                    [names.sagemaker_arn(f"endpoint/{e}") for e in sorted(set(endpoints.values()))]))
    if batch_state_machine_arns:
        statements.append(statement("ListBatchRuns", ["states:ListExecutions"],
                                    [batch_state_machine_arns[m] for m in sorted(batch_state_machine_arns)]))
    return statements


class CatalogStatus(pulumi.ComponentResource):
    parameter_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: CatalogStatusArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:catalog:CatalogStatus", name, None, opts)
        a, ctx = args, args.ctx
        names = ctx.names
        child = pulumi.ResourceOptions(parent=self)
        parameter = aws.ssm.Parameter(
            f"{name}-parameter", name=names.catalog_status_parameter, type="SecureString", key_id=ctx.kms_key_arn,
            tier="Intelligent-Tiering",
            description=f"What the {ctx.prefix} catalog entries run as (endpoints, batch pipelines); read by the "
                        "registry's provisioning API",
            value=pulumi.Output.json_dumps(status_document(names.environment, a.inference_url, a.endpoints,
                                                           a.endpoint_urls, a.batch_state_machine_arns)),
            opts=child)
        role = aws.iam.Role(
            f"{name}-role", name=names.catalog_status_role, assume_role_policy=json.dumps(status_trust(a.reader_role_arn)),
            description=f"Lets the registry's provisioning API read the {ctx.prefix} catalog status", opts=child)
        aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=policy_document(*status_statements(
            names, ctx.kms_key_arn, a.endpoints, a.batch_state_machine_arns)), opts=child)
        self.parameter_name = parameter.name
        self.role_arn = role.arn
        self.register_outputs({"parameter_name": self.parameter_name, "role_arn": self.role_arn})
