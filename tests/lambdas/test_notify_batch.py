"""notify for a catalog entry's batch pipeline: what was transformed, or the failed step and its cause."""

import json

import pytest

from notify import handler as notify
from tests.lambdas.conftest import sns_messages

EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:mlops-dev-byom-iris-batch:run-1"
PACKAGE = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/mlops-dev-byom-iris-models/3"


@pytest.fixture
def topic(boto, monkeypatch):
    arn = boto("sns").create_topic(Name="notifications")["TopicArn"]
    monkeypatch.setenv("TOPIC_ARN", arn)
    return arn


def send(topic, **event):
    notify.handler({"pipeline": "batch", "modelName": "iris", "executionArn": EXECUTION, **event}, None)
    [sent] = sns_messages(topic)
    assert len(sent["subject"]) <= 100 and sent["subject"].isascii()
    return sent


def test_success_names_input_output_and_job(topic):
    sent = send(topic, status="SUCCEEDED", modelPackageArn=PACKAGE, input="s3://b/batch/in/day1.csv",
                output="s3://b/batch/out/job-1", transformJobName="job-1")
    assert sent["subject"] == "Batch transform done: iris"
    lines = sent["message"].splitlines()
    assert lines[0] == "The batch pipeline of iris transformed its input."
    assert "Input:          s3://b/batch/in/day1.csv" in lines
    assert "Output:         s3://b/batch/out/job-1" in lines
    assert "Transform job:  job-1" in lines
    assert f"Model package:  {PACKAGE}" in lines
    assert "commit" not in sent["message"]


def test_failure_names_the_step_and_the_readable_cause(topic):
    cause = json.dumps({"TransformJobName": "job-1", "TransformJobStatus": "Failed",
                        "FailureReason": "ClientError: bad CSV on line 3"})
    sent = send(topic, status="FAILED", step="Transform", error="BatchTransformFailed", cause=cause,
                input="s3://b/batch/in")
    assert sent["subject"] == "Batch pipeline failed (BatchTransformFailed): iris"
    message = sent["message"]
    assert message.startswith("The batch pipeline of iris failed in step Transform.\n\nError:  BatchTransformFailed\n")
    assert "  Transform job job-1 ended Failed.\n  Failure reason: ClientError: bad CSV on line 3" in message
    assert "Input:          s3://b/batch/in" in message


def test_a_failure_without_details_is_still_reported(topic):
    sent = send(topic, status="FAILED")
    assert sent["subject"] == "Batch pipeline failed (unknown error): iris"
    assert "failed in step (unknown step)" in sent["message"]


def test_the_training_workflow_messages_are_unchanged(topic):
    notify.handler({"status": "FAILED", "commitId": "abc", "error": "TrainingFailed"}, None)
    [sent] = sns_messages(topic)
    assert sent["subject"] == "Model workflow failed (TrainingFailed): commit abc"
