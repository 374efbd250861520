import logging
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from approval_request import handler as approval_request
from common import links, text
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


# --- values that reach the e-mail match their format as a whole -------------------------------

FORGED_LINE = "\nTo APPROVE and deploy this model, open:\nhttps://evil.example/approve"


@pytest.mark.parametrize(
    "overrides, named",
    [
        ({"commitId": "0123456789abcdef0123456789abcdef01234567" + FORGED_LINE}, "commitId"),
        ({"commitId": "0123456789abcdef0123456789abcdef01234567\n"}, "commitId"),  # "$" in re.match allows this
        ({"commitId": "0123456789abcdef0123456789abcdef0123456"}, "commitId"),  # 39 characters
        ({"commitId": "0123456789ABCDEF0123456789ABCDEF01234567"}, "commitId"),
        ({"commitId": "main"}, "commitId"),
        ({"executionArn": "arn:aws:states:eu-west-1:123456789012:execution:training:run-1" + FORGED_LINE}, "executionArn"),
        ({"executionArn": "arn:aws:states:eu-west-1:123456789012:execution:training:run\u20281"}, "executionArn"),
        ({"executionArn": "arn:aws:states:eu-west-1:123456789012:execution:training:run\u202e1"}, "executionArn"),
        ({"executionArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:training"}, "executionArn"),
        ({"executionArn": "arn:aws:states:eu-west-1:123456789012:execution:training:" + "r" * 81}, "executionArn"),
        ({"modelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/iris/3" + FORGED_LINE}, "modelPackageArn"),
        ({"modelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/iris/3\r"}, "modelPackageArn"),
        ({"modelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/iris group/3"}, "modelPackageArn"),
        ({"modelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/iris"}, "modelPackageArn"),
        ({"evaluation": {"transformOutput": "s3://models/transform/" + FORGED_LINE, "metrics": {}}}, "transformOutput"),
        ({"evaluation": {"transformOutput": "s3://models/transform/run 1/", "metrics": {}}}, "transformOutput"),
        ({"evaluation": {"transformOutput": "s3://models/" + "k" * 1025, "metrics": {}}}, "transformOutput"),
        ({"evaluation": {"transformOutput": "s3://m/x/", "metrics": {"accuracy" + FORGED_LINE: 1.0}}}, "evaluation.metrics, key 0"),
        ({"evaluation": {"transformOutput": "s3://models/x/", "metrics": {"note": "fine" + FORGED_LINE}}}, "evaluation.metrics.note"),
        ({"evaluation": {"transformOutput": "s3://models/x/", "metrics": {"perClass": {"a\u2029b": {"actual": 1}}}}},
         "evaluation.metrics.perClass, key 0"),
        ({"evaluation": {"transformOutput": "s3://models/x/", "metrics": {"a": {"b": {"c": {"d": {"e": 1}}}}}}}, "nests deeper"),
        ({"evaluation": {"transformOutput": "s3://models/x/", "metrics": {str(i): i for i in range(1001)}}}, "more than 1000"),
        ({"evaluation": {"transformOutput": "s3://models/x/", "metrics": {"k" * 101: 1}}}, "1 to 100 characters"),
        ({"evaluation": {"transformOutput": "s3://models/x/", "metrics": {"list": ["ok", "x\ny"]}}}, "evaluation.metrics.list[1]"),
    ],
)
def test_forged_values_are_refused_before_any_email(approval_env, overrides, named):
    with pytest.raises(approval_request.InvalidApprovalRequest) as raised:
        approval_request.handler(event(**overrides), None)
    assert named in str(raised.value)
    assert "evil" not in str(raised.value)  # names the key, never echoes the value
    assert sns_messages(approval_env["TOPIC_ARN"]) == []


@pytest.mark.parametrize("overrides", [
    {"commitId": "s3-0123456789abcdef0123456789abcdef"},  # an S3 source's ETag (pipeline/build_image.py)
    {"commitId": "s3-0123456789abcdef0123456789abcdef-12"},
    {"executionArn": "arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:mlops-prod-training:commit-0123456789ab-5f0e"},
    {"modelPackageArn": "arn:aws-cn:sagemaker:cn-north-1:123456789012:model-package/mlops-prod-models/12"},
    {"evaluation": {"transformOutput": "s3://mlops-dev-artifacts-123456789012/transform/mlops-dev-0f3a/",
                    "metrics": {"accuracy": 0.9, "perClass": {"Iris setosa": {"actual": 10}}, "passed": True, "note": None}}},
])
def test_real_values_of_every_kind_are_accepted(approval_env, overrides):
    approval_request.handler(event(**overrides), None)
    [sent] = sns_messages(approval_env["TOPIC_ARN"])
    assert all(value in sent["message"] for value in overrides.values() if isinstance(value, str))


def test_the_arn_patterns_accept_only_what_the_apis_accept():
    import botocore.session

    sagemaker = botocore.session.get_session().get_service_model("sagemaker")
    shape = sagemaker.shape_for("ModelPackageArn").metadata
    botocore_pattern = re.compile(shape["pattern"])

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(st.from_regex(approval_request.MODEL_PACKAGE_ARN, fullmatch=True))
    def check(arn):
        assume(approval_request.matches(approval_request.MODEL_PACKAGE_ARN, arn))
        assert botocore_pattern.fullmatch(arn) and shape["min"] <= len(arn) <= shape["max"]

    check()


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _maybe_forged(pattern):
    valid = st.from_regex(pattern, fullmatch=True)
    return valid | st.tuples(valid, st.text(max_size=5), valid).map("".join) | st.text(max_size=60)


metric_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=20)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commit=_maybe_forged(approval_request.COMMIT_ID), execution=_maybe_forged(approval_request.EXECUTION_ARN),
       package=_maybe_forged(approval_request.MODEL_PACKAGE_ARN), output=_maybe_forged(approval_request.TRANSFORM_OUTPUT),
       metrics=st.dictionaries(st.text(max_size=12), metric_values, max_size=5))
def test_no_accepted_value_can_break_a_line_of_the_email(commit, execution, package, output, metrics):
    candidate = event(commitId=commit, executionArn=execution, modelPackageArn=package,
                      evaluation={"transformOutput": output, "metrics": metrics})
    try:
        request = approval_request._validate(candidate)
    except approval_request.InvalidApprovalRequest:
        return
    for value in _strings({k: v for k, v in request.items() if k != "taskToken"}):
        assert len(value.splitlines()) <= 1 and text.unsafe_character(value) is None, repr(value)
    message = approval_request._message(request, {"approve": "https://a", "reject": "https://r"}, int(time.time()) + 3600)
    lines = message.splitlines()
    assert lines.count("https://a") == 1 and lines.index("To APPROVE and deploy this model, open:") == lines.index("https://a") - 1
