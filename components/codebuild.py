"""A CodeBuild project with its own encrypted log group and service role, run by a CodePipeline action or
started on one S3 object.

Every build of the program has the same frame: the project takes its source from and hands its
artifacts to the pipeline (or builds one S3 object and hands over nothing), encrypts with the stack key,
logs to ``/aws/codebuild/<project>`` (stack retention, stack key), and runs as a role that only CodeBuild
may assume, only for this project, which may write its own logs and do what the caller lists. The frame
is written here once; the components say only what their build does (buildspec, environment, statements).
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
STANDARD_IMAGE = "aws/codebuild/standard:7.0"
"""The build image of the Docker builds (Ubuntu, Docker, the AWS CLI, Python 3)."""


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
    own_logs_sid: str = OWN_LOGS_SID, own_log_streams: str = ":*",
    source_location: pulumi.Input[str] | None = None, **project_settings: Any,
) -> PipelineBuild:
    """The project ``project_name`` (logical name ``base``), its log group ``<base>-logs`` and its role
    ``<base>-role`` / ``<base>-policy``: the own-logs statement first, then ``statements``.

    ``environment`` and ``project_settings`` (``queued_timeout``, ``cache``, ...) are the project's own
    settings, passed to ``aws.codebuild.Project`` as they are. ``own_logs_sid`` and ``own_log_streams``
    keep the training build's own-logs statement as deployed (``WriteBuildLogs`` on ``:log-stream:*``);
    changing them changes that role's policy. ``source_location`` (``<bucket>/<key>`` of a zip): the project
    builds that S3 object instead of a pipeline's input, started directly (``StartBuild``, ``sourceVersion``
    an object version), and produces no artifacts; the caller grants the role read access to the object.
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
    source: dict[str, Any] = ({"type": "CODEPIPELINE", "buildspec": buildspec} if source_location is None
                              else {"type": "S3", "location": source_location, "buildspec": buildspec})
    project = aws.codebuild.Project(
        base, name=project_name, description=description, service_role=role.arn,
        encryption_key=ctx.kms_key_arn, build_timeout=build_timeout_minutes,
        source=source, artifacts={"type": "CODEPIPELINE" if source_location is None else "NO_ARTIFACTS"},
        environment=dict(environment), logs_config=logs_config,
        # The build acts through the role as soon as it runs: wait for its policy, not only the role.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy]),
        **project_settings)
    return PipelineBuild(project=project, role=role, log_group=log_group)


def docker_build_environment(variables: Mapping[str, pulumi.Input[str]], *, image: str = STANDARD_IMAGE,
                             compute_type: str = "BUILD_GENERAL1_SMALL") -> dict[str, Any]:
    """The environment of a build that runs ``docker build``: a Linux container in privileged mode (the
    Docker daemon runs inside the build container; the build runs only the buildspec the project names and
    the Dockerfile it builds) with ``variables`` as plain-text environment variables, in this order."""
    return {
        "type": "LINUX_CONTAINER",
        "compute_type": compute_type,
        "image": image,
        "image_pull_credentials_type": "CODEBUILD",
        "privileged_mode": True,
        "environment_variables": [{"name": name, "value": value, "type": "PLAINTEXT"}
                                  for name, value in variables.items()],
    }
