import json

import pytest

from notify import handler as notify
from tests.lambdas.conftest import sns_messages

EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:training:run-7"


@pytest.fixture
def topic(boto, monkeypatch):
    arn = boto("sns").create_topic(Name="notifications")["TopicArn"]
    monkeypatch.setenv("TOPIC_ARN", arn)
    return arn


def send(topic, **event):
    result = notify.handler({"commitId": "abcdef0123456789abcdef0123456789abcdef01", "executionArn": EXECUTION, **event}, None)
    [sent] = sns_messages(topic)
    assert result["messageId"]
    assert len(sent["subject"]) <= 100 and sent["subject"].isascii() and "\n" not in sent["subject"]
    return sent


def test_success_mail_carries_the_inference_url(topic):
    sent = send(
        topic,
        status="SUCCEEDED",
        inferenceUrl="https://xyz.execute-api.eu-west-1.amazonaws.com/v1/predict",
        endpointName="mlops-dev-endpoint",
        modelPackageArn="arn:aws:sagemaker:eu-west-1:123456789012:model-package/iris/7",
    )
    assert sent["subject"] == "Model deployed: commit abcdef012345"
    message = sent["message"]
    assert "Inference API:  https://xyz.execute-api.eu-west-1.amazonaws.com/v1/predict" in message
    assert "curl -s -X POST 'https://xyz.execute-api.eu-west-1.amazonaws.com/v1/predict'" in message
    assert "mlops-dev-endpoint" in message and "model-package/iris/7" in message
    assert f"#/v2/executions/details/{EXECUTION}" in message
    assert "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1" in message


def test_failure_with_lambda_error_cause_is_readable(topic):
    cause = json.dumps(
        {
            "errorMessage": "no objects under s3://b/p/",
            "errorType": "NoTransformOutput",
            "requestId": "r-1",
            "stackTrace": ['  File "/var/task/handler.py", line 60, in handler\n    raise NoTransformOutput(...)\n'],
        }
    )
    sent = send(topic, status="FAILED", error="NoTransformOutput", cause=cause)
    assert sent["subject"] == "Model workflow failed (NoTransformOutput): commit abcdef012345"
    message = sent["message"]
    assert "NoTransformOutput: no objects under s3://b/p/" in message
    assert "line 60, in handler" in message
    assert '"requestId"' not in message  # summarised, not dumped


def test_failure_with_sagemaker_job_description_is_readable(topic):
    cause = json.dumps({"TrainingJobName": "iris-abcdef-run7", "TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: bad hyperparameter max_depth=-1", "HyperParameters": {"max_depth": "-1"}})
    message = send(topic, status="FAILED", error="States.TaskFailed", cause=cause)["message"]
    assert "Training job iris-abcdef-run7 ended Failed." in message
    assert "Failure reason: AlgorithmError: bad hyperparameter max_depth=-1" in message


def test_failure_with_json_wrapped_in_a_json_string(topic):
    inner = json.dumps({"TransformJobName": "t-1", "TransformJobStatus": "Failed", "FailureReason": "ClientError: no input"})
    message = send(topic, status="FAILED", error="States.TaskFailed", cause=json.dumps(inner))["message"]
    assert "Transform job t-1 ended Failed." in message and "ClientError: no input" in message


def test_rejection_names_approver_and_comment(topic):
    cause = json.dumps({"approver": "bob@example.com", "comment": "accuracy too low on versicolor", "decidedAt": "2025-01-01T10:00:00Z"})
    message = send(topic, status="FAILED", error="Rejected", cause=cause)["message"]
    assert "Rejected by bob@example.com at 2025-01-01T10:00:00Z: accuracy too low on versicolor" in message


def test_timeout_without_cause_says_so(topic):
    message = send(topic, status="FAILED", error="States.Timeout")["message"]
    assert "did not finish within its time limit" in message


def test_plain_text_cause_is_kept(topic):
    cause = "Could not find model data at s3://models/x/model.tar.gz. (Service: SageMaker, Status Code: 400)"
    message = send(topic, status="FAILED", error="SageMaker.AmazonSageMakerException", cause=cause)["message"]
    assert cause in message


def test_unknown_json_cause_is_pretty_printed_and_long_causes_truncated(topic):
    message = send(topic, status="FAILED", error="X", cause=json.dumps({"zeta": 1, "alpha": "x" * 10000}))["message"]
    assert '"alpha":' in message and "(truncated)" in message
    assert len(message) < 6000


def test_missing_fields_still_notify(topic):
    result = notify.handler({"status": "FAILED"}, None)
    [sent] = sns_messages(topic)
    assert result["messageId"] and "(unknown commit)" in sent["message"] and "unknown error" in sent["message"]


@pytest.mark.parametrize("event", [{}, {"status": "RUNNING"}, {"status": "succeeded"}, None, []])
def test_invalid_status_raises_named_error(topic, event):
    with pytest.raises(notify.InvalidNotification, match="SUCCEEDED, FAILED"):
        notify.handler(event, None)
    assert sns_messages(topic) == []


def test_missing_topic_setting_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TOPIC_ARN", raising=False)
    from common.aws import ConfigurationError

    with pytest.raises(ConfigurationError, match="TOPIC_ARN"):
        notify.handler({"status": "SUCCEEDED"}, None)


@pytest.mark.parametrize(
    "error, cause, expected",
    [
        ("Rejected", '{"approver": "a", "comment": ""}', "Rejected by a (no comment)."),
        ("E", '{"Message": "Access denied"}', "Access denied"),
        ("E", "[1, 2]", "[\n  1,\n  2\n]"),
        ("E", "{not json", "{not json"),
        ("E", "", "No further details were given."),
    ],
)
def test_readable_cause(error, cause, expected):
    assert notify.readable_cause(error, cause) == expected


def test_success_under_promotion_says_no_endpoint_changed(topic):
    sent = send(
        topic,
        status="SUCCEEDED",
        deployment="promotion",
        inferenceUrl="https://xyz.execute-api.eu-west-1.amazonaws.com/v1/predict",
        modelPackageArn="arn:aws:sagemaker:eu-west-1:123456789012:model-package/iris/7",
    )
    assert sent["subject"] == "Model approved: commit abcdef012345"
    assert "Model promotion deploys approved packages" in sent["message"]
    assert "curl" not in sent["message"] and "model-package/iris/7" in sent["message"]
