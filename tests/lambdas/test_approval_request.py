import logging
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from approval_request import handler as approval_request
from common import links
from tests.lambdas.conftest import APPROVAL_API_URL, SIGNING_KEY, sns_messages

TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf+secret/task+token=="


def event(**overrides):
    base = {
        "taskToken": TOKEN,
        "executionArn": "arn:aws:states:eu-west-1:123456789012:execution:training:run-1",
        "commitId": "0123456789abcdef0123456789abcdef01234567",
        "modelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/iris/3",
        "evaluation": {
            "transformOutput": "s3://models/transform/run-1/",
            "metrics": {"accuracy": 0.9666666, "records": 30, "perClass": {"setosa": {"actual": 10, "correct": 10}}},
        },
        "timeoutSeconds": 86400,
    }
    base.update(overrides)
    return base


def link_params(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def links_in(message: str) -> dict[str, str]:
    found = [line for line in message.splitlines() if line.startswith(APPROVAL_API_URL)]
    return {link_params(url)["decision"]: url for url in found}


def test_stores_pending_record_and_returns_its_id(approval_env, boto):
    before = int(time.time())
    result = approval_request.handler(event(), None)

    item = boto("dynamodb").get_item(TableName="approvals", Key={"id": {"S": result["approvalId"]}})["Item"]
    assert item["status"]["S"] == "pending"
    assert item["taskToken"]["S"] == TOKEN
    assert item["commitId"]["S"] == event()["commitId"]
    assert item["modelPackageArn"]["S"] == event()["modelPackageArn"]
    assert item["executionArn"]["S"] == event()["executionArn"]
    # LINK_TTL_SECONDS (3600) is shorter than the task timeout (86400), so it wins.
    assert before + 3600 <= result["expiresAt"] <= int(time.time()) + 3600
    assert int(item["expiresAt"]["N"]) == result["expiresAt"]
    assert int(item["ttl"]["N"]) > result["expiresAt"]
    assert len(result["approvalId"]) == 22


def test_link_expiry_never_outlives_the_task_timeout(approval_env):
    result = approval_request.handler(event(timeoutSeconds=600), None)
    assert result["expiresAt"] <= int(time.time()) + 600


def test_email_has_signed_links_and_evaluation_but_no_token(approval_env, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    result = approval_request.handler(event(), None)

    [sent] = sns_messages(approval_env["TOPIC_ARN"])
    message, subject = sent["message"], sent["subject"]
    assert "0123456789ab" in subject and len(subject) <= 100
    assert "s3://models/transform/run-1/" in message
    assert "Accuracy:  0.9667 (30 records)" in message and "setosa" in message
    urls = links_in(message)
    assert set(urls) == {"approve", "reject"}
    for decision, url in urls.items():
        params = link_params(url)
        assert set(params) == {"id", "decision", "expires", "sig"}
        assert params["id"] == result["approvalId"]
        assert int(params["expires"]) == result["expiresAt"]
        assert params["sig"] == links.sign(SIGNING_KEY.encode(), TOKEN, decision, result["expiresAt"])
        assert links.verify(SIGNING_KEY.encode(), TOKEN, links.parse_params(params))
    assert urls["approve"] != urls["reject"]

    logged = caplog.text + capsys.readouterr().out
    assert result["approvalId"] in logged  # the log line is there ...
    for place in (message, subject, logged, *urls.values()):
        assert TOKEN not in place  # ... and the token is in none of them
        assert "secret/task" not in place


@pytest.mark.parametrize(
    "overrides, named",
    [
        ({"taskToken": None}, "taskToken"),
        ({"taskToken": ""}, "taskToken"),
        ({"executionArn": "run-1"}, "executionArn"),
        ({"commitId": 42}, "commitId"),
        ({"modelPackageArn": None}, "modelPackageArn"),
        ({"evaluation": None}, "evaluation"),
        ({"evaluation": {"transformOutput": "/local/path", "metrics": {}}}, "transformOutput"),
        ({"evaluation": {"transformOutput": "s3://b/p/", "metrics": 0.9}}, "metrics"),
        ({"timeoutSeconds": 0}, "timeoutSeconds"),
        ({"timeoutSeconds": "86400"}, "timeoutSeconds"),
    ],
)
def test_invalid_event_raises_named_error_without_echoing_values(approval_env, overrides, named):
    with pytest.raises(approval_request.InvalidApprovalRequest) as raised:
        approval_request.handler(event(**overrides), None)
    assert named in str(raised.value)
    assert TOKEN not in str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert sns_messages(approval_env["TOPIC_ARN"]) == []


def test_missing_keys_are_all_listed(approval_env):
    with pytest.raises(approval_request.InvalidApprovalRequest) as raised:
        approval_request.handler({}, None)
    for key in ("taskToken", "executionArn", "commitId", "modelPackageArn", "evaluation"):
        assert key in str(raised.value)


def test_short_signing_key_is_refused(approval_env, boto):
    boto("secretsmanager").put_secret_value(SecretId=approval_env["SIGNING_SECRET_ARN"], SecretString="too-short")
    from common.aws import ConfigurationError

    with pytest.raises(ConfigurationError, match="at least 32"):
        approval_request.handler(event(), None)


@pytest.mark.parametrize("value", ["", "abc", "10"])
def test_bad_link_ttl_setting_is_refused(approval_env, monkeypatch, value):
    monkeypatch.setenv("LINK_TTL_SECONDS", value)
    from common.aws import ConfigurationError

    with pytest.raises(ConfigurationError, match="LINK_TTL_SECONDS"):
        approval_request.handler(event(), None)
