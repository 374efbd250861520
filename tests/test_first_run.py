"""tools/first_run.py: the sample data lands where the deployed workflow reads it, and the workflow starts
with the pipeline's input; under moto (S3, ECR, Step Functions) and as a dry run."""

from __future__ import annotations

import json
import subprocess
import sys

import boto3
import pytest
from moto import mock_aws

from pipeline.build_image import Revision, parse_repository_uri, start_input
from tools import first_run
from tools.mockrun import ROOT
from tools.tokens import Token

SHA = "0123456789abcdef0123456789abcdef01234567"
REGION = "eu-west-1"


@pytest.fixture
def dev_outputs(stack_run, tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(stack_run("dev").outputs))
    return path


def _workflow_defaults(run) -> dict[str, str]:
    """The data locations the deployed state machine reads when the input names none (its own definition)."""
    definition = json.loads(run.one(Token.SFN_STATE_MACHINE, "mlops-dev-workflow-state-machine").inputs["definition"])
    (defaults,) = [s["Parameters"]["defaults"] for s in definition["States"].values()
                   if "defaults" in s.get("Parameters", {})]
    return {key: defaults[key] for key in ("trainingData", "validationData", "testData")}


@pytest.fixture
def aws(monkeypatch, stack_run):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": "/dev/null",
                       "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "MOTO_ACCOUNT_ID": "111111111111"}.items():
        monkeypatch.setenv(key, value)
    outputs = stack_run("dev").outputs
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=outputs["bucketName"], CreateBucketConfiguration={"LocationConstraint": REGION})
        ecr = boto3.client("ecr", region_name=REGION)
        ecr.create_repository(repositoryName="mlops-dev-model")
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name="mlops-dev-training", roleArn="arn:aws:iam::111111111111:role/mlops-dev-training-workflow",
            definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}))
        assert machine["stateMachineArn"] == outputs["stateMachineArn"]
        yield ecr


def _push_image(ecr, tag: str = SHA) -> None:
    ecr.put_image(repositoryName="mlops-dev-model", imageTag=tag, imageManifest=json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": "sha256:" + "a" * 64},
        "layers": []}))


def test_uploads_the_sample_data_where_the_workflow_reads_and_starts_it_with_the_pipelines_input(
        aws, dev_outputs, stack_run, capsys):
    _push_image(aws)
    assert first_run.main(["--stack", "dev", "--outputs", str(dev_outputs), "--image-tag", SHA]) == 0
    outputs = stack_run("dev").outputs
    bucket = outputs["bucketName"]
    keys = sorted(o["Key"] for o in boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=bucket)["Contents"])
    defaults = _workflow_defaults(stack_run("dev"))
    for field, channel in (("trainingData", "training"), ("validationData", "validation"), ("testData", "test")):
        prefix = defaults[field].removeprefix(f"s3://{bucket}/")
        expected = sorted(f"{prefix}/{p.name}" for p in (first_run.SAMPLE_DATA / channel).glob("*.csv"))
        assert expected and [k for k in keys if k.startswith(prefix + "/")] == expected, (field, keys)
    assert len(keys) == 3
    sfn = boto3.client("stepfunctions", region_name=REGION)
    (execution,) = sfn.list_executions(stateMachineArn=outputs["stateMachineArn"])["executions"]
    sent = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    pipeline_would_send = start_input(Revision(SHA, f"commit-{SHA[:12]}"),
                                      parse_repository_uri(outputs["imageRepositoryUrl"]), {})
    assert sent == pipeline_would_send == {"commitId": SHA, "imageUri": f"{outputs['imageRepositoryUrl']}:{SHA}"}
    assert execution["name"].startswith(f"first-run-{SHA[:12]}-")
    assert f"started {execution['executionArn']}" in capsys.readouterr().out


def test_dry_run_prints_the_plan_and_touches_nothing(aws, dev_outputs, stack_run, capsys):
    assert first_run.main(["--stack", "dev", "--outputs", str(dev_outputs), "--image-tag", SHA, "--dry-run"]) == 0
    out = capsys.readouterr().out
    bucket = stack_run("dev").outputs["bucketName"]
    for location in _workflow_defaults(stack_run("dev")).values():
        assert f"-> {location}/" in out
    assert '"commitId": "0123456789abcdef0123456789abcdef01234567"' in out
    assert "dry run: nothing uploaded, no execution started" in out
    assert boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    sfn = boto3.client("stepfunctions", region_name=REGION)
    assert sfn.list_executions(stateMachineArn=stack_run("dev").outputs["stateMachineArn"])["executions"] == []


def test_an_image_the_pipeline_has_not_built_is_refused_before_any_upload(aws, dev_outputs, stack_run, capsys):
    assert first_run.main(["--stack", "dev", "--outputs", str(dev_outputs), "--image-tag", SHA]) == 2
    assert f"image mlops-dev-model:{SHA} is not in ECR: push that commit" in capsys.readouterr().err
    bucket = stack_run("dev").outputs["bucketName"]
    assert boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_stack_that_does_not_train_is_refused(stack_run, tmp_path, capsys):
    path = tmp_path / "staging.json"
    path.write_text(json.dumps(stack_run("staging").outputs))
    assert first_run.main(["--stack", "staging", "--outputs", str(path), "--image-tag", SHA, "--dry-run"]) == 2
    assert "stack staging has no output stateMachineArn, imageRepositoryUrl" in capsys.readouterr().err


@pytest.mark.parametrize(("manifest", "expected"), [
    ({"trainingData": "s3://mlops-dev-111111111111-eu-west-1/other/train/"}, "sets trainingData: runs read"),
    ({"hyperparameters": {"max_depth": 3}}, "hyperparameters = {'max_depth': 3} is invalid"),
])
def test_a_manifest_the_first_run_cannot_honour_is_refused(stack_run, tmp_path, manifest, expected):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(first_run.FirstRunError, match=expected.replace("{", r"\{").replace("}", r"\}")):
        first_run.make_plan("dev", stack_run("dev").outputs, SHA, manifest_path=path)


def test_the_manifests_hyperparameters_travel_in_the_input(stack_run, tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"hyperparameters": {"max_depth": "3"}}))
    plan = first_run.make_plan("dev", stack_run("dev").outputs, SHA, manifest_path=path)
    assert plan.execution_input["hyperparameters"] == {"max_depth": "3"}


def test_a_short_commit_is_refused(stack_run, dev_outputs, capsys):
    assert first_run.main(["--stack", "dev", "--outputs", str(dev_outputs), "--image-tag", "abc123", "--dry-run"]) == 2
    assert "is not a full 40-character git commit SHA" in capsys.readouterr().err


def test_help_and_unknown_flags():
    ran = subprocess.run([sys.executable, "-m", "tools.first_run", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert ran.returncode == 0 and "--dry-run" in ran.stdout
    ran = subprocess.run([sys.executable, "-m", "tools.first_run", "--stack", "dev", "--dryrun"], cwd=ROOT,
                         capture_output=True, text=True)
    assert ran.returncode == 2 and "unrecognized arguments: --dryrun" in ran.stderr


def test_make_first_run_is_documented_in_make_help():
    out = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "first-run" in out
