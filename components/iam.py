"""Small helpers for least-privilege IAM documents built from Outputs (never inside ``apply``)."""

from __future__ import annotations

from typing import Any, Sequence

import pulumi


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
