"""One catalog image build (``byom_image_builder``): a zip with a Dockerfile in the registry stack's bucket,
built by CodeBuild into ``<ecr_repo_name>:<image_tag>`` whenever it is uploaded.

::

    upload s3://<bucket>/<custom_algorithm_docker>      (EventBridge "Object Created", exactly that key)
      -> rule <...-start>: StartBuild with sourceVersion = the uploaded object's version
      -> CodeBuild: Dockerfile at the zip's root? tag not in ECR yet? ECR login, docker build, docker push
      -> a failed build: rule <...-failed> tells the stack's topic the project, the build and its log

The repository (``ModelImageRepository`` named ``ecr_repo_name``: scan on push, immutable tags, the stack's
key, lifecycle, pulls by the promoted accounts' model roles) is the composition's, one per repository name,
since several entries may build tags of one repository; this component is one entry's build, trigger and
failure notification.

IAM: the build role reads only that object (any version) and its bucket's location and ACL (CodeBuild checks
the source bucket's owner), uses the stack key only through S3 and ECR, pushes only to its repository and
writes only its log group; ``ecr:GetAuthorizationToken`` is the one ``*`` (no resource types in the Service
Authorization Reference). The start role may start only this project. EventBridge publishes to the topic
through the topic's policy (``Notifications``), so no role does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.codebuild import STANDARD_IMAGE, docker_build_environment, pipeline_build_project
from components.context import StackContext
from components.iam import service_role, statement

FAILED_STATUSES = ("FAILED", "FAULT", "TIMED_OUT")
"""CodeBuild's build statuses that mean the image was not pushed (botocore's ``StatusType``, without
``SUCCEEDED``, ``IN_PROGRESS`` and ``STOPPED``: a build someone stopped is not a failure to report)."""

# The build's commands. CodeBuild runs them in bash with the project's environment variables: SOURCE_BUCKET,
# SOURCE_KEY, REPOSITORY_NAME, IMAGE_TAG, IMAGE_URI; it unzips the source object (the version the start
# rule names) into the working directory. A failing pre_build command skips the build phase; every error
# says what happened and what to do, on one line, and the failure notification links to this log.
BUILDSPEC = """\
version: 0.2
env:
  shell: bash
phases:
  pre_build:
    commands:
      - |
        if [ ! -f Dockerfile ]; then
          echo "error: s3://$SOURCE_BUCKET/$SOURCE_KEY has no Dockerfile at the root of the zip (it holds: $(ls -A | head -20 | tr '\\n' ' ')): zip the build context itself, with the Dockerfile at its top, and upload it again" >&2
          exit 2
        fi
      - |
        describe_errors=$(mktemp)
        if existing=$(aws ecr describe-images --repository-name "$REPOSITORY_NAME" --image-ids "imageTag=$IMAGE_TAG" --query 'imageDetails[0].imageDigest' --output text 2>"$describe_errors"); then
          echo "error: $IMAGE_URI already exists ($existing) and the repository's tags are immutable, so this upload of s3://$SOURCE_BUCKET/$SOURCE_KEY was not built: give the byom_image_builder entry a new image_tag in mlops-config.json (and point custom_image_uri at it), deploy, then upload the zip again" >&2
          exit 1
        elif ! grep -q ImageNotFoundException "$describe_errors"; then
          echo "error: could not check whether $IMAGE_URI exists (aws ecr describe-images: $(tr '\\n' ' ' < "$describe_errors"))" >&2
          exit 1
        fi
        echo "$IMAGE_URI does not exist yet: building it from s3://$SOURCE_BUCKET/$SOURCE_KEY (version ${CODEBUILD_SOURCE_VERSION:-latest})"
      - |
        if ! aws ecr get-login-password | docker login --username AWS --password-stdin "${IMAGE_URI%%/*}"; then
          echo "error: docker login to ${IMAGE_URI%%/*} failed" >&2
          exit 1
        fi
  build:
    commands:
      - docker build --tag "$IMAGE_URI" --label "org.opencontainers.image.source=s3://$SOURCE_BUCKET/$SOURCE_KEY" --label "org.opencontainers.image.revision=${CODEBUILD_SOURCE_VERSION:-latest}" .
      - |
        if ! docker push "$IMAGE_URI"; then
          echo "error: docker push $IMAGE_URI failed; if another build pushed this tag meanwhile (tags are immutable), give the entry a new image_tag" >&2
          exit 1
        fi
        echo "pushed $IMAGE_URI"
"""


@dataclass(frozen=True)
class ImageBuildArgs:
    ctx: StackContext
    """The registry stack's: its bucket holds the zip, its key encrypts it, its topic hears of failures."""
    repository_name: str
    """``ecr_repo_name`` as the entry gives it (names the build's resources); the image is pushed to
    ``Names.catalog_repository`` of it."""
    repository_arn: pulumi.Input[str]
    image_tag: str
    image_uri: str
    """``<repository URL>:<image_tag>`` (``Names.catalog_image_uri``): what the build pushes."""
    source_key: str
    """``custom_algorithm_docker``: the object key of the zip in the stack's bucket."""
    build_image: str = STANDARD_IMAGE
    build_compute_type: str = "BUILD_GENERAL1_SMALL"
    build_timeout_minutes: int = 60


def start_pattern(bucket_name: pulumi.Input[str], key: str) -> pulumi.Output[str]:
    """Uploads of exactly ``key`` in the bucket (EventBridge matches strings exactly: no prefix, no suffix)."""
    return pulumi.Output.json_dumps({
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket_name]}, "object": {"key": [key]}},
    })


def failure_pattern(project_name: str) -> str:
    """The project's builds that ended without pushing the image."""
    return json.dumps({
        "source": ["aws.codebuild"],
        "detail-type": ["CodeBuild Build State Change"],
        "detail": {"project-name": [project_name], "build-status": list(FAILED_STATUSES)},
    })


class ImageBuild(pulumi.ComponentResource):
    """CodeBuild project, its role and log group, the upload trigger and the failure notification."""

    project_name: pulumi.Output[str]
    project_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ImageBuildArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:catalog:ImageBuild", name, None, opts)
        self._name, self._args, self._ctx = name, args, args.ctx
        self._child = pulumi.ResourceOptions(parent=self)
        names = args.ctx.names
        self._project_name = names.catalog_image_name(args.repository_name, args.image_tag, "build")

        project = self._create_project()
        self._create_start_rule(project)
        self._create_failure_notification()

        self.project_name = project.name
        self.project_arn = project.arn
        self.register_outputs({"project_name": self.project_name, "project_arn": self.project_arn})

    def _source_uri(self) -> pulumi.Output[str]:
        return pulumi.Output.concat("s3://", self._ctx.bucket_name, "/", self._args.source_key)

    def _source_object_arn(self) -> pulumi.Output[str]:
        return pulumi.Output.concat(self._ctx.bucket_arn, "/", self._args.source_key)

    def _build_statements(self) -> list[dict[str, Any]]:
        """The build role's statements after its own logs (``pipeline_build_project`` puts those first)."""
        a, ctx = self._args, self._ctx
        via = [f"{service}.{ctx.region}.amazonaws.com" for service in ("s3", "ecr")]
        return [
            statement("ReadImageSource", ["s3:GetObject", "s3:GetObjectVersion"], [self._source_object_arn()]),
            # CodeBuild checks who owns an S3 source's bucket and where it is before it downloads the object.
            statement("CheckSourceBucket", ["s3:GetBucketAcl", "s3:GetBucketLocation"], [ctx.bucket_arn]),
            statement("UseStackKeyThroughS3AndEcr", ["kms:Decrypt", "kms:GenerateDataKey"], [ctx.kms_key_arn],
                      condition={"StringEquals": {"kms:ViaService": via}}),
            # ecr:GetAuthorizationToken has no resource types in the Service Authorization Reference: "*" only.
            statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            statement("PushCatalogImage", [
                "ecr:DescribeImages", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
                "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage",
            ], [a.repository_arn]),
        ]

    def _create_project(self) -> aws.codebuild.Project:
        a, ctx = self._args, self._ctx
        image = f"{ctx.names.catalog_repository(a.repository_name)}:{a.image_tag}"
        build = pipeline_build_project(
            ctx, f"{self._name}-build", parent=self, project_name=self._project_name,
            # CodeBuild takes 255 characters of description, and an image name may be longer.
            description=f"Builds the catalog image {image} when its zip is uploaded"[:255],
            role_name=ctx.names.catalog_image_name(a.repository_name, a.image_tag, "build"),
            role_description=f"CodeBuild: builds the catalog image {image} from its zip and pushes it to ECR",
            statements=self._build_statements(), buildspec=BUILDSPEC, build_timeout_minutes=a.build_timeout_minutes,
            s3_logs={"status": "DISABLED"}, queued_timeout=60,
            source_location=pulumi.Output.concat(ctx.bucket_name, "/", a.source_key),
            environment=docker_build_environment({
                "SOURCE_BUCKET": ctx.bucket_name, "SOURCE_KEY": a.source_key, "REPOSITORY_NAME": ctx.names.catalog_repository(a.repository_name),
                "IMAGE_TAG": a.image_tag, "IMAGE_URI": a.image_uri,
            }, image=a.build_image, compute_type=a.build_compute_type),
        )
        return build.project

    def _create_start_rule(self, project: aws.codebuild.Project) -> None:
        a, ctx = self._args, self._ctx
        rule_name = ctx.names.catalog_image_name(a.repository_name, a.image_tag, "start")
        role, policy = service_role(
            f"{self._name}-start", role_name=rule_name,
            description=f"EventBridge: builds {a.repository_name}:{a.image_tag} when its zip is uploaded",
            service="events.amazonaws.com", account_id=ctx.account, source_arn=ctx.names.event_rule_arn(rule_name),
            opts=self._child, statements=[statement("StartImageBuild", ["codebuild:StartBuild"], [project.arn])])
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-start", name=rule_name,
            description=f"Build {a.repository_name}:{a.image_tag} when its zip is uploaded",
            event_pattern=start_pattern(ctx.bucket_name, a.source_key), opts=self._child)
        aws.cloudwatch.EventTarget(
            f"{self._name}-start-target", rule=rule.name, arn=project.arn, role_arn=role.arn, target_id="image-build",
            # The target's input is StartBuild's request: build exactly the version that was uploaded (a
            # placeholder inside a JSON string is replaced by the value's text; version ids need no escaping).
            input_transformer={"input_paths": {"version": "$.detail.object.version-id"},
                               "input_template": '{"sourceVersion": "<version>"}'},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]))

    def _create_failure_notification(self) -> None:
        a, ctx = self._args, self._ctx
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-failed", name=ctx.names.catalog_image_name(a.repository_name, a.image_tag, "failed"),
            description=f"Notify the stack's topic when the build of {a.repository_name}:{a.image_tag} fails",
            event_pattern=failure_pattern(self._project_name), opts=self._child)
        aws.cloudwatch.EventTarget(
            f"{self._name}-failed-target", rule=rule.name, arn=ctx.topic_arn, target_id="notification-topic",
            input_transformer={
                "input_paths": {"project": "$.detail.project-name", "status": "$.detail.build-status",
                                "build": "$.detail.build-id", "log": "$.detail.additional-information.logs.deep-link"},
                "input_template": pulumi.Output.concat(
                    f'"Catalog image build <project> ended <status>: {a.image_uri} was not pushed from ',
                    self._source_uri(), '. Build: <build>. Its log says why: <log>"'),
            },
            opts=self._child)
