"""The one signed-link approval, asked for an uploaded model: the request, the page and the notifications."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from approval_decision import handler as decision
from approval_request import handler as approval_request
from notify import handler as notify
from tests.lambdas.conftest import sns_messages

TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf+secret/task+token=="
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:mlops-dev-byom-registration:upload-1"
PACKAGE = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/mlops-dev-byom-iris-tree-models/2"
UPLOAD = {"modelName": "iris-tree", "artifact": "s3://mlops-dev-123456789012-eu-west-1/models/iris-tree/model.tar.gz",
          "versionId": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nrjfkd"}


def upload_event(**overrides):
    return {"taskToken": TOKEN, "executionArn": EXECUTION, "modelPackageArn": PACKAGE, "upload": dict(UPLOAD),
            "timeoutSeconds": 3600, **overrides}


def test_an_uploaded_model_is_described_by_its_entry_artifact_and_version(approval_env, boto):
    result = approval_request.handler(upload_event(), None)

    item = boto("dynamodb").get_item(TableName="approvals", Key={"id": {"S": result["approvalId"]}})["Item"]
    assert {k: item[k]["S"] for k in ("modelName", "artifact", "artifactVersion", "modelPackageArn", "status")} == {
        "modelName": "iris-tree", "artifact": UPLOAD["artifact"], "artifactVersion": UPLOAD["versionId"],
        "modelPackageArn": PACKAGE, "status": "pending"}
    assert "commitId" not in item and "evaluation" not in item
    [sent] = sns_messages(approval_env["TOPIC_ARN"])
    assert sent["subject"] == "Approval needed: uploaded model iris-tree"
    message = sent["message"]
    for line in (f"Artifact:       {UPLOAD['artifact']}", f"S3 version:     {UPLOAD['versionId']}",
                 f"Model package:  {PACKAGE}", "To APPROVE and promote this model, open:"):
        assert line in message
    assert "Evaluation" not in message and "Commit" not in message and TOKEN not in message


@pytest.mark.parametrize("overrides, named", [
    ({"commitId": "0123456789abcdef0123456789abcdef01234567"}, "commitId cannot come with upload"),
    ({"upload": "models/iris-tree/model.tar.gz"}, "upload must be an object"),
    ({"upload": {**UPLOAD, "versionId": "v1\nApprove: https://evil.example"}}, "upload.versionId"),
    ({"upload": {**UPLOAD, "artifact": "models/iris-tree/model.tar.gz"}}, "upload.artifact"),
    ({"upload": {**UPLOAD, "modelName": "iris tree"}}, "upload.modelName"),
    ({"upload": {**UPLOAD, "imageUri": "x"}}, "unknown keys ['imageUri']"),
])
def test_a_malformed_upload_is_refused_by_name_before_any_email(approval_env, overrides, named):
    with pytest.raises(approval_request.InvalidApprovalRequest) as raised:
        approval_request.handler(upload_event(**overrides), None)
    assert named in str(raised.value) and "evil" not in str(raised.value)
    assert sns_messages(approval_env["TOPIC_ARN"]) == []


def test_the_page_shows_the_upload_and_the_approval_resumes_the_waiting_registration(approval_env, waiting_task):
    task = waiting_task()
    approval_request.handler(upload_event(taskToken=task.token, executionArn=task.execution_arn), None)
    links = {}
    for line in sns_messages(approval_env["TOPIC_ARN"])[-1]["message"].splitlines():
        if line.startswith("https://"):
            params = {k: v[0] for k, v in parse_qs(urlsplit(line).query).items()}
            links[params["decision"]] = params

    page = decision.handler({"httpMethod": "GET", "queryStringParameters": links["approve"], "headers": {}}, None)
    assert page["statusCode"] == 200
    for shown in ("<dt>Model</dt><dd>iris-tree</dd>", "<dt>S3 version</dt>", "The model will be promoted."):
        assert shown in page["body"]
    assert "Commit" not in page["body"]
    form = urlencode({**links["approve"], "approver": "ada", "comment": "ok"})
    done = decision.handler({"httpMethod": "POST", "headers": {"content-type": "application/x-www-form-urlencoded"},
                             "body": form, "isBase64Encoded": False}, None)
    assert done["statusCode"] == 200, done["body"]
    assert "The model uploaded for iris-tree (S3 version" in done["body"] and "will now be promoted" in done["body"]
    assert task.finished()["status"] == "SUCCEEDED"


@pytest.fixture
def topic(boto, monkeypatch):
    arn = boto("sns").create_topic(Name="notifications")["TopicArn"]
    monkeypatch.setenv("TOPIC_ARN", arn)
    return arn


def test_notifications_of_a_registration_name_the_model_and_its_version(topic):
    notify.handler({"status": "SUCCEEDED", "executionArn": EXECUTION, "upload": UPLOAD, "modelPackageArn": PACKAGE},
                   None)
    notify.handler({"status": "FAILED", "executionArn": EXECUTION, "upload": UPLOAD,
                    "error": "ModelRegistrationFailed", "cause": '{"Message": "Group not found"}'}, None)
    approved, failed = sns_messages(topic)
    assert approved["subject"] == "Uploaded model approved: iris-tree"
    assert f"S3 version:     {UPLOAD['versionId']}" in approved["message"] and PACKAGE in approved["message"]
    assert failed["subject"] == "Model upload failed (ModelRegistrationFailed): iris-tree"
    assert "Group not found" in failed["message"] and "nothing is promoted" in failed["message"]
