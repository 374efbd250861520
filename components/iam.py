"""Small helpers for least-privilege IAM documents built from Outputs (never inside ``apply``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from catalog.entries import S3Location
from components.names import Names


def statement(sid: str, actions: Sequence[str], resources: Sequence[pulumi.Input[str]],
              condition: dict[str, Any] | None = None) -> dict[str, Any]:
    """An Allow statement with explicit actions and resources (no wildcards are added here)."""
    stmt: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}
    if condition:
        stmt["Condition"] = condition
    return stmt


def policy_document(*statements: dict[str, Any]) -> pulumi.Output[str]:
    """A JSON policy document; Outputs inside the statements are resolved by ``Output.json_dumps``."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def assume_role_policy(service: str, *, source_account: pulumi.Input[str] | None = None,
                       source_arn: pulumi.Input[str] | None = None) -> pulumi.Output[str]:
    """Trust policy for one AWS service principal, optionally pinned to our account / source ARN
    (prevents the confused-deputy problem)."""
    condition: dict[str, Any] = {}
    if source_account is not None:
        condition["StringEquals"] = {"aws:SourceAccount": source_account}
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    stmt: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition:
        stmt["Condition"] = condition
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [stmt]})


def pass_role_statement(sid: str, role_arns: Sequence[pulumi.Input[str]], service: str) -> dict[str, Any]:
    """``iam:PassRole`` for the named roles only, and only to the named service."""
    return statement(sid, ["iam:PassRole"], role_arns,
                     condition={"StringEquals": {"iam:PassedToService": service}})


def service_role(base: str, *, role_name: pulumi.Input[str], description: str, service: str,
                 account_id: pulumi.Input[str], statements: Sequence[dict[str, Any]],
                 opts: pulumi.ResourceOptions, source_arn: pulumi.Input[str] | None = None,
                 ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """A role that one AWS service assumes for this account only (``source_arn`` narrows it to one
    resource), with exactly ``statements`` as its inline policy.

    Logical names are ``<base>-role`` and ``<base>-policy``. Returns both: callers that act through the
    role right away (a Lambda, a CodeBuild project) depend on the policy, not only on the role.
    """
    role = aws.iam.Role(
        f"{base}-role", name=role_name, description=description,
        assume_role_policy=assume_role_policy(service, source_account=account_id, source_arn=source_arn),
        opts=opts)
    policy = aws.iam.RolePolicy(f"{base}-policy", role=role.id, policy=policy_document(*statements), opts=opts)
    return role, policy


def state_machine_logging_statements() -> list[dict[str, Any]]:
    """What a Step Functions role needs for logging to CloudWatch Logs and for X-Ray tracing. These
    actions have no resource-level permissions: AWS documents "*" as their only resource."""
    return [
        statement("DeliverLogs", ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                                  "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                                  "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"], ["*"]),
        statement("Tracing", ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                              "xray:GetSamplingTargets"], ["*"]),
    ]


def unique_inputs(items: Sequence[pulumi.Input[str]]) -> list[pulumi.Input[str]]:
    """``items`` without repeats: equal strings, or the same Output (different Outputs cannot be compared)."""
    seen: list[pulumi.Input[str]] = []
    for item in items:
        if not any(item is other or (isinstance(item, str) and item == other) for other in seen):
            seen.append(item)
    return seen


def read_location_statements(list_sid: str, read_sid: str, location: S3Location) -> list[dict[str, Any]]:
    """List and read one S3 location, one object (the framework's file form) or a prefix: ``s3:ListBucket``
    only for keys under it, ``s3:GetObject`` on it and below it."""
    bucket, prefix = location.bucket, location.prefix
    return [
        statement(list_sid, ["s3:ListBucket"], [Names.s3_arn(bucket)],
                  condition={"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}),
        statement(read_sid, ["s3:GetObject"], [Names.s3_arn(bucket, prefix), Names.s3_arn(bucket, f"{prefix}/*")]),
    ]
