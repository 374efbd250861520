"""Catalog image builds (``byom_image_builder``): the registry bucket's uploads reach EventBridge, the
repository, the build project, its buildspec (executed with stand-ins for ``aws`` and ``docker``), exact IAM,
the upload trigger and the failure notification (their patterns and inputs evaluated by moto's EventBridge),
and where the program builds them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from components.image_builder import BUILDSPEC, FAILED_STATUSES
from components.image_repository import lifecycle_policy
from components.names import Names
from program.catalog_images import built_image, image_uri
from tests.catalog.bodies import catalog, framework_body
from tests.conftest import policy_statements
from tools.mockrun import run_components
from tools.policy_runner import run_policy_pack
from tools.tokens import Token

ACCOUNT, REGION = "111111111111", "eu-west-1"
DEV = Names("mlops", "dev", ACCOUNT, REGION)
BUCKET = DEV.bucket
KEY = "images/iris-tree.zip"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-dev-iris-tree:1.0"
BUILD = "mlops-dev-byom-image-iris-tree:1.0"
PROJECT = DEV.catalog_image_name("iris-tree", "1.0", "build")
READERS = ["arn:aws:iam::222222222222:role/mlops-staging-endpoint-model",
           "arn:aws:iam::333333333333:role/mlops-prod-endpoint-model"]


def write(tmp_path, document) -> str:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(document))
    return str(path)


def child(run, component: str, suffix: str):
    return run.named(f"{component}-{suffix}")


# --- the bucket and the names ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_stack_bucket_sends_its_events_to_eventbridge(stack, stack_run):
    run = stack_run(stack)
    bucket = run.one(Token.S3_BUCKET)
    notification = run.one(Token.S3_BUCKET_NOTIFICATION)
    assert notification.inputs == {"bucket": bucket.id, "eventbridge": True}
    assert notification.parent == run.one("mlops:foundation:Foundation").urn


def test_the_image_uri_is_the_registry_accounts_repository_and_tag():
    assert DEV.catalog_image_uri("iris-tree", "1.0") == IMAGE
    assert DEV.catalog_image_uri("team/iris", "v2_b") == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-dev-team/iris:v2_b"
    assert DEV.catalog_image_uri("mlops-dev-iris", "1") == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-dev-iris:1"


def test_build_names_are_valid_and_keep_look_alike_images_apart():
    look_alikes = [("a.b", "1"), ("a-b", "1"), ("a_b", "1"), ("a-b", "c"), ("a", "b-c"), ("a/b", "c")]
    names = [DEV.catalog_image_name(repo, tag, "build") for repo, tag in look_alikes]
    assert len(set(names)) == len(names)
    assert PROJECT.startswith("mlops-dev-byom-iris-tree-1-0-") and PROJECT.endswith("-build")
    long = DEV.catalog_image_name("team/" + "r" * 250, "T" * 128, "start")
    assert len(long) == 64 and long != DEV.catalog_image_name("team/" + "r" * 250, "T" * 128, "failed")
    for name in (*names, long):  # CodeBuild project, IAM role and EventBridge rule names
        assert all(c.isalnum() or c == "-" for c in name) and len(name) <= 64


# --- the components in the registry stack (dev) ---------------------------------------------------


def test_the_repository_is_named_by_the_entry_scanned_immutable_encrypted_and_bounded(stack_run):
    run = stack_run("dev")
    repo = child(run, "mlops-dev-byom-image-iris-tree", "repo")
    key = run.one(Token.KMS_KEY).outputs["arn"]
    assert repo.inputs["name"] == "mlops-dev-iris-tree"  # ecr_repo_name inside the stack's prefix
    assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key}]
    lifecycle = child(run, "mlops-dev-byom-image-iris-tree", "lifecycle")
    assert lifecycle.inputs == {"repository": "mlops-dev-iris-tree", "policy": lifecycle_policy(30, 1)}
    (pull,) = json.loads(child(run, "mlops-dev-byom-image-iris-tree", "policy").inputs["policy"])["Statement"]
    # the promoted endpoints' roles and every catalog model's role in those accounts (tests/test_cross_account.py)
    assert set(READERS) < set(pull["Condition"]["ArnEquals"]["aws:PrincipalArn"])


def test_the_project_builds_the_zip_in_privileged_mode_with_the_buildspec(stack_run):
    run = stack_run("dev")
    project = child(run, BUILD, "build")
    assert project.inputs["name"] == PROJECT
    assert project.inputs["source"] == {"type": "S3", "location": f"{BUCKET}/{KEY}", "buildspec": BUILDSPEC}
    assert project.inputs["artifacts"] == {"type": "NO_ARTIFACTS"}
    environment = project.inputs["environment"]
    assert environment["privilegedMode"] is True and environment["type"] == "LINUX_CONTAINER"
    assert {v["name"]: v["value"] for v in environment["environmentVariables"]} == {
        "SOURCE_BUCKET": BUCKET, "SOURCE_KEY": KEY, "REPOSITORY_NAME": "mlops-dev-iris-tree", "IMAGE_TAG": "1.0",
        "IMAGE_URI": IMAGE}
    assert {v["type"] for v in environment["environmentVariables"]} == {"PLAINTEXT"}
    assert project.inputs["encryptionKey"] == run.one(Token.KMS_KEY).outputs["arn"]
    logs = child(run, BUILD, "build-logs")
    assert logs.inputs["name"] == f"/aws/codebuild/{PROJECT}"
    assert project.inputs["logsConfig"]["cloudwatchLogs"] == {"status": "ENABLED", "groupName": logs.inputs["name"]}


def test_the_build_role_reads_its_zip_pushes_its_repository_and_writes_its_logs_only(stack_run):
    run = stack_run("dev")
    key = run.one(Token.KMS_KEY).outputs["arn"]
    [trust] = policy_statements(child(run, BUILD, "build-role").inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert trust["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{PROJECT}"}
    assert policy_statements(child(run, BUILD, "build-policy").inputs["policy"]) == [
        {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/codebuild/{PROJECT}:*"]},
        {"Sid": "ReadImageSource", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": [f"arn:aws:s3:::{BUCKET}/{KEY}"]},
        {"Sid": "CheckSourceBucket", "Effect": "Allow", "Action": ["s3:GetBucketAcl", "s3:GetBucketLocation"],
         "Resource": [f"arn:aws:s3:::{BUCKET}"]},
        {"Sid": "UseStackKeyThroughS3AndEcr", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
         "Resource": [key], "Condition": {"StringEquals": {"kms:ViaService": [
             f"s3.{REGION}.amazonaws.com", f"ecr.{REGION}.amazonaws.com"]}}},
        # the one "*": ecr:GetAuthorizationToken has no resource types
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": ["*"]},
        {"Sid": "PushCatalogImage", "Effect": "Allow", "Action": [
            "ecr:DescribeImages", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"],
         "Resource": [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/mlops-dev-iris-tree"]},
    ]


def test_the_start_role_may_start_only_this_project_for_only_its_rule(stack_run):
    run = stack_run("dev")
    rule = child(run, BUILD, "start")
    [trust] = policy_statements(child(run, BUILD, "start-role").inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                                  "ArnLike": {"aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule.inputs['name']}"}}
    assert policy_statements(child(run, BUILD, "start-policy").inputs["policy"]) == [
        {"Sid": "StartImageBuild", "Effect": "Allow", "Action": ["codebuild:StartBuild"],
         "Resource": [f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{PROJECT}"]}]
    target = child(run, BUILD, "start-target")
    assert target.inputs["arn"] == f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{PROJECT}"
    assert target.inputs["roleArn"] == child(run, BUILD, "start-role").outputs["arn"]


@pytest.fixture
def eventbridge(monkeypatch):
    """moto's EventBridge: a rule with the recorded pattern and target input, delivering to a queue."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)

        def deliver(rule, target):
            queue = sqs.create_queue(QueueName=rule.inputs["name"])["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.put_rule(Name=rule.inputs["name"], EventPattern=rule.inputs["eventPattern"])
            transformer = target.inputs["inputTransformer"]
            events.put_targets(Rule=rule.inputs["name"], Targets=[{"Id": "q", "Arn": arn, "InputTransformer": {
                "InputPathsMap": transformer["inputPaths"], "InputTemplate": transformer["inputTemplate"]}}])

            def send(source: str, detail_type: str, detail: dict) -> list[str]:
                events.put_events(Entries=[{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}])
                messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
                for message in messages:
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
                return [m["Body"] for m in messages]

            return send

        yield deliver


def s3_event(key: str, bucket: str = BUCKET, version: str = "v3") -> dict:
    return {"bucket": {"name": bucket}, "object": {"key": key, "size": 1024, "etag": "e", "version-id": version}}


def test_an_upload_of_exactly_the_zip_starts_a_build_of_that_version(stack_run, eventbridge):
    run = stack_run("dev")
    send = eventbridge(child(run, BUILD, "start"), child(run, BUILD, "start-target"))
    # the target's input is StartBuild's request: the uploaded version, nothing else
    assert [json.loads(body) for body in send("aws.s3", "Object Created", s3_event(KEY, version="3HL4kqtJlcpX"))] \
        == [{"sourceVersion": "3HL4kqtJlcpX"}]
    for key in (f"{KEY}.bak", "images/iris-tree", f"x/{KEY}", "images/IRIS-TREE.zip", "images/iris-tree.zip/"):
        assert send("aws.s3", "Object Created", s3_event(key)) == [], key
    assert send("aws.s3", "Object Created", s3_event(KEY, bucket="someone-elses-bucket")) == []
    assert send("aws.s3", "Object Deleted", s3_event(KEY)) == []
    assert send("custom.fake", "Object Created", s3_event(KEY)) == []


def codebuild_event(status: str, project: str = PROJECT) -> dict:
    return {"build-status": status, "project-name": project,
            "build-id": f"arn:aws:codebuild:{REGION}:{ACCOUNT}:build/{project}:0f1e", "current-phase": "COMPLETED",
            "additional-information": {"logs": {"deep-link": "https://console.aws.amazon.com/cloudwatch/home#logs"}}}


def test_a_failed_build_tells_the_topic_which_image_and_where_its_log_is(stack_run, eventbridge):
    run = stack_run("dev")
    target = child(run, BUILD, "failed-target")
    assert target.inputs["arn"] == run.one(Token.SNS_TOPIC).outputs["arn"]
    send = eventbridge(child(run, BUILD, "failed"), target)
    for status in FAILED_STATUSES:
        (message,) = send("aws.codebuild", "CodeBuild Build State Change", codebuild_event(status))
        assert json.loads(message) == (
            f"Catalog image build {PROJECT} ended {status}: {IMAGE} was not pushed from s3://{BUCKET}/{KEY}. "
            f"Build: arn:aws:codebuild:{REGION}:{ACCOUNT}:build/{PROJECT}:0f1e. "
            "Its log says why: https://console.aws.amazon.com/cloudwatch/home#logs")
    for status in ("SUCCEEDED", "IN_PROGRESS", "STOPPED"):
        assert send("aws.codebuild", "CodeBuild Build State Change", codebuild_event(status)) == []
    assert send("aws.codebuild", "CodeBuild Build State Change", codebuild_event("FAILED", "another-project")) == []


# --- the buildspec, executed ------------------------------------------------------------------------

FAKE_AWS = """#!/bin/bash
echo "aws $*" >> "$CALLS"
case "$1 $2" in
  "ecr describe-images")
    case "$FAKE_IMAGE" in
      exists) echo "sha256:0123abcd"; exit 0 ;;
      missing) echo "An error occurred (ImageNotFoundException) when calling the DescribeImages operation: The image with imageId {imageTag:'$IMAGE_TAG'} does not exist within the repository" >&2; exit 254 ;;
      *) echo "An error occurred (AccessDeniedException) when calling the DescribeImages operation: not authorized" >&2; exit 254 ;;
    esac ;;
  "ecr get-login-password") echo "token-123" ;;
  *) echo "unexpected aws call" >&2; exit 99 ;;
esac
"""
FAKE_DOCKER = """#!/bin/bash
echo "docker $*" >> "$CALLS"
case "$1" in
  login) read -r password; [ "$password" = "token-123" ] ;;
  build) exit "${FAKE_BUILD_EXIT:-0}" ;;
  push) exit "${FAKE_PUSH_EXIT:-0}" ;;
  *) exit 99 ;;
esac
"""


def run_buildspec(tmp_path: Path, *, files: dict[str, str], **fakes: str) -> tuple[int, str, list[str]]:
    """The buildspec's phases in CodeBuild's order, each command in bash, in a directory holding the unzipped
    source; a failing command ends its phase, and a failing pre_build skips build (as CodeBuild does)."""
    source, bin_dir = tmp_path / "src", tmp_path / "bin"
    source.mkdir(parents=True)
    bin_dir.mkdir()
    for name, text in files.items():
        (source / name).write_text(text)
    for name, script in (("aws", FAKE_AWS), ("docker", FAKE_DOCKER)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(stat.S_IRWXU)
    calls = tmp_path / "calls.log"
    calls.touch()
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls), "SOURCE_BUCKET": BUCKET, "SOURCE_KEY": KEY,
           "REPOSITORY_NAME": "mlops-dev-iris-tree", "IMAGE_TAG": "1.0", "IMAGE_URI": IMAGE,
           "CODEBUILD_SOURCE_VERSION": "3HL4kqtJlcpX", **fakes}
    spec = yaml.safe_load(BUILDSPEC)
    assert spec["version"] == 0.2 and spec["env"]["shell"] == "bash" and list(spec["phases"]) == ["pre_build", "build"]
    output = []
    for phase in ("pre_build", "build"):
        for command in spec["phases"][phase]["commands"]:
            result = subprocess.run(["bash", "-c", command], cwd=source, env=env, capture_output=True, text=True,
                                    timeout=30)
            output.append(result.stdout + result.stderr)
            if result.returncode != 0:
                return result.returncode, "".join(output), calls.read_text().splitlines()
    return 0, "".join(output), calls.read_text().splitlines()


DOCKERFILE = {"Dockerfile": "FROM python:3.12-slim\n"}


def test_a_new_tag_is_built_and_pushed(tmp_path):
    code, output, calls = run_buildspec(tmp_path, files=DOCKERFILE, FAKE_IMAGE="missing")
    assert code == 0, output
    # the two ends of the login pipe run at once, so they log in either order
    assert calls[0] == ("aws ecr describe-images --repository-name mlops-dev-iris-tree --image-ids imageTag=1.0 --query "
                        "imageDetails[0].imageDigest --output text")
    assert sorted(calls[1:3]) == ["aws ecr get-login-password",
                                  f"docker login --username AWS --password-stdin {ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"]
    assert calls[3:] == [
        f"docker build --tag {IMAGE} --label org.opencontainers.image.source=s3://{BUCKET}/{KEY} "
        "--label org.opencontainers.image.revision=3HL4kqtJlcpX .",
        f"docker push {IMAGE}",
    ]
    assert f"pushed {IMAGE}" in output and "token-123" not in output


def test_an_existing_tag_is_refused_clearly_and_nothing_is_built(tmp_path):
    code, output, calls = run_buildspec(tmp_path, files=DOCKERFILE, FAKE_IMAGE="exists")
    assert code == 1
    assert (f"error: {IMAGE} already exists (sha256:0123abcd) and the repository's tags are immutable, so this "
            f"upload of s3://{BUCKET}/{KEY} was not built: give the byom_image_builder entry a new image_tag") in output
    assert not [c for c in calls if c.startswith("docker")]


def test_a_failure_to_check_the_tag_is_not_taken_for_a_missing_tag(tmp_path):
    code, output, calls = run_buildspec(tmp_path, files=DOCKERFILE, FAKE_IMAGE="denied")
    assert code == 1
    assert f"error: could not check whether {IMAGE} exists (aws ecr describe-images: An error occurred " \
           "(AccessDeniedException)" in output
    assert not [c for c in calls if c.startswith("docker")]


def test_a_zip_without_a_dockerfile_at_its_root_is_refused_before_anything_else(tmp_path):
    code, output, calls = run_buildspec(tmp_path, files={"README.md": "x", "train.py": "x"}, FAKE_IMAGE="missing")
    assert code == 2
    assert (f"error: s3://{BUCKET}/{KEY} has no Dockerfile at the root of the zip (it holds: README.md train.py ): "
            "zip the build context itself") in output
    assert calls == []


def test_failed_builds_and_pushes_fail_the_build(tmp_path):
    code, _, calls = run_buildspec(tmp_path / "build", files=DOCKERFILE, FAKE_IMAGE="missing", FAKE_BUILD_EXIT="1")
    assert code == 1 and not [c for c in calls if c.startswith("docker push")]
    code, output, _ = run_buildspec(tmp_path / "push", files=DOCKERFILE, FAKE_IMAGE="missing", FAKE_PUSH_EXIT="1")
    assert code == 1 and f"error: docker push {IMAGE} failed" in output


# --- the program ------------------------------------------------------------------------------------


def test_dev_builds_the_shipped_image_and_passes_the_pack(stack_run):
    run = stack_run("dev")
    (build,) = run.by_type("mlops:catalog:ImageBuild")
    assert build.name == BUILD
    assert run.outputs["catalogImages"] == {"iris-tree:1.0": {
        "imageUri": IMAGE, "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-dev-iris-tree",
        "buildProject": PROJECT}}
    assert run_policy_pack(run.resources, stack="dev") == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_other_stacks_build_no_image(stack, stack_run):
    run = stack_run(stack)
    assert run.by_type("mlops:catalog:ImageBuild") == []
    assert [r.inputs["name"] for r in run.by_type(Token.ECR_REPOSITORY)] == []
    assert "catalogImages" not in run.outputs


def test_the_frameworks_image_builder_body_builds_its_image(run_stack, tmp_path):
    body = framework_body("byom_image_builder")
    run = run_stack("dev", overrides={"catalogFile": write(tmp_path, catalog(body)), "catalogPackages": "{}"})
    component = "mlops-dev-byom-image-mlops-ecrrep:tree"
    assert child(run, "mlops-dev-byom-image-mlops-ecrrep", "repo").inputs["name"] == "mlops-dev-mlops-ecrrep"
    project = child(run, component, "build")
    assert project.inputs["source"]["location"] == f"{BUCKET}/custom/custom_image.zip"
    pattern = json.loads(child(run, component, "start").inputs["eventPattern"])
    assert pattern["detail"]["object"] == {"key": ["custom/custom_image.zip"]}
    assert run.outputs["catalogImages"] == {"mlops-ecrrep:tree": {
        "imageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-dev-mlops-ecrrep:tree",
        "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-dev-mlops-ecrrep", "buildProject": project.inputs["name"]}}


def test_tags_of_one_repository_share_it(run_stack, tmp_path):
    first = framework_body("byom_image_builder")
    second = first | {"image_tag": "tree-2", "custom_algorithm_docker": "custom/custom_image_2.zip"}
    run = run_stack("dev", overrides={"catalogFile": write(tmp_path, catalog(first, second)), "catalogPackages": "{}"})
    assert sorted(r.inputs["name"] for r in run.by_type(Token.ECR_REPOSITORY)) == ["mlops-dev-mlops-ecrrep", "mlops-dev-model"]
    builds = sorted(run.by_type("mlops:catalog:ImageBuild"), key=lambda b: b.name)
    assert [b.name for b in builds] == ["mlops-dev-byom-image-mlops-ecrrep:tree", "mlops-dev-byom-image-mlops-ecrrep:tree-2"]
    statements = [policy_statements(child(run, b.name, "build-policy").inputs["policy"]) for b in builds]
    assert [s[1]["Resource"] for s in statements] == [[f"arn:aws:s3:::{BUCKET}/custom/custom_image.zip"],
                                                       [f"arn:aws:s3:::{BUCKET}/custom/custom_image_2.zip"]]
    assert sorted(run.outputs["catalogImages"]) == ["mlops-ecrrep:tree", "mlops-ecrrep:tree-2"]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_shipped_custom_entry_uses_the_built_image_in_every_stack(stack):
    """iris-tree (byom_realtime_custom) names the image pipelines[4] builds in the registry (dev) account."""
    def check(settings):
        tree = settings.catalog.catalog.model("iris-tree")
        builder = built_image(settings, tree.value_for("custom_image_uri", stack))
        assert builder is not None and builder.label == "pipelines[4] (image builder iris-tree:1.0)"
        assert image_uri(settings, builder) == IMAGE
        # an image no entry builds is an external image: allowed, just not built here
        assert built_image(settings, f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-dev-iris-tree:2.0") is None
        assert built_image(settings, f"222222222222.dkr.ecr.{REGION}.amazonaws.com/mlops-dev-iris-tree:1.0") is None
        return {}

    run_components(stack, check)
