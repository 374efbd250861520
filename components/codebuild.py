"""A CodeBuild project run by a CodePipeline action, with its own encrypted log group and service role.

Every build of the program has the same frame: the project takes its source from and hands its
artifacts to the pipeline, encrypts with the stack key, logs to ``/aws/codebuild/<project>`` (stack
retention, stack key), and runs as a role that only CodeBuild may assume, only for this project, which
may write its own logs and do what the caller lists. The frame is written here once; the components say
only what their build does (buildspec, environment, statements).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.context import StackContext
from components.iam import service_role, statement

OWN_LOGS_SID = "WriteOwnLogs"


@dataclass(frozen=True)
class PipelineBuild:
    project: aws.codebuild.Project
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup


def log_group_name(project_name: str) -> str:
    """Where CodeBuild writes a project's logs (the project names it in ``logs_config``)."""
    return f"/aws/codebuild/{project_name}"


def pipeline_build_project(
    ctx: StackContext, base: str, *, parent: pulumi.Resource, project_name: str, description: str,
    role_name: str, role_description: str, statements: Sequence[dict[str, Any]], buildspec: str,
    environment: Mapping[str, Any], build_timeout_minutes: int, s3_logs: Mapping[str, str] | None = None,
    own_logs_sid: str = OWN_LOGS_SID, own_log_streams: str = ":*", **project_settings: Any,
) -> PipelineBuild:
    """The project ``project_name`` (logical name ``base``), its log group ``<base>-logs`` and its role
    ``<base>-role`` / ``<base>-policy``: the own-logs statement first, then ``statements``.

    ``environment`` and ``project_settings`` (``queued_timeout``, ``cache``, ...) are the project's own
    settings, passed to ``aws.codebuild.Project`` as they are. ``own_logs_sid`` and ``own_log_streams``
    keep the training build's own-logs statement as deployed (``WriteBuildLogs`` on ``:log-stream:*``);
    changing them changes that role's policy.
    """
    child = pulumi.ResourceOptions(parent=parent)
    log_group = aws.cloudwatch.LogGroup(
        f"{base}-logs", name=log_group_name(project_name),
        retention_in_days=ctx.log_retention_days, kms_key_id=ctx.kms_key_arn, opts=child)
    role, policy = service_role(
        base, role_name=role_name, description=role_description, service="codebuild.amazonaws.com",
        account_id=ctx.account, source_arn=ctx.names.codebuild_project_arn(project_name), opts=child,
        statements=[
            statement(own_logs_sid, ["logs:CreateLogStream", "logs:PutLogEvents"],
                      [pulumi.Output.concat(log_group.arn, own_log_streams)]),
            *statements,
        ])
    logs_config: dict[str, Any] = {"cloudwatch_logs": {"status": "ENABLED", "group_name": log_group.name}}
    if s3_logs is not None:
        logs_config["s3_logs"] = dict(s3_logs)
    project = aws.codebuild.Project(
        base, name=project_name, description=description, service_role=role.arn,
        encryption_key=ctx.kms_key_arn, build_timeout=build_timeout_minutes,
        source={"type": "CODEPIPELINE", "buildspec": buildspec}, artifacts={"type": "CODEPIPELINE"},
        environment=dict(environment), logs_config=logs_config,
        # The build acts through the role as soon as it runs: wait for its policy, not only the role.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy]),
        **project_settings)
    return PipelineBuild(project=project, role=role, log_group=log_group)
