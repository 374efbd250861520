"""The decision page behind the approval links, against moto (DynamoDB, Secrets Manager, Step Functions).

The happy paths and "already used"/"timed out" cases resume a real moto execution that waits in a
`.waitForTaskToken` task. moto cannot produce TaskTimedOut / TaskDoesNotExist or a throttled
SendTask*, so those few cases put a botocore Stubber on the function's Step Functions client only.
moto also drops the `cause` of SendTaskFailure, so the rejection test reads the request parameters
from the client's provide-client-params event as well as checking the execution's error.
"""

import base64
import html
import json
import logging
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from botocore.stub import Stubber

from approval_decision import handler as decision
from approval_request import handler as approval_request
from common import aws, links
from tests.lambdas.conftest import SIGNING_KEY, sns_messages

EXPECTED_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class Flow:
    """One approval request for a waiting execution, and helpers to click its links."""

    def __init__(self, task, env, boto):
        self.task, self.env, self.boto = task, env, boto
        result = approval_request.handler(
            {
                "taskToken": task.token,
                "executionArn": task.execution_arn,
                "commitId": "c0ffee0123456789c0ffee0123456789c0ffee01",
                "modelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/iris/7",
                "evaluation": {"transformOutput": "s3://models/transform/x/", "metrics": {"accuracy": 0.95}},
                "timeoutSeconds": 3600,
            },
            None,
        )
        self.approval_id = result["approvalId"]
        [sent] = sns_messages(env["TOPIC_ARN"])
        self.links = {}
        for line in sent["message"].splitlines():
            if line.startswith("https://"):
                params = {k: v[0] for k, v in parse_qs(urlsplit(line).query).items()}
                self.links[params["decision"]] = params

    def record(self) -> dict:
        item = self.boto("dynamodb").get_item(TableName="approvals", Key={"id": {"S": self.approval_id}})["Item"]
        return {k: next(iter(v.values())) for k, v in item.items()}


@pytest.fixture
def flow(approval_env, waiting_task, boto):
    return Flow(waiting_task(), approval_env, boto)


def get(params) -> dict:
    return decision.handler({"httpMethod": "GET", "queryStringParameters": params, "headers": {}}, None)


def post(params, approver="Ada Lovelace <ada@example.com>", comment="looks good", extra=None, headers=None, raw_body=None, b64=False):
    form = dict(params)
    if approver is not None:
        form["approver"] = approver
    if comment is not None:
        form["comment"] = comment
    form.update(extra or {})
    body = raw_body if raw_body is not None else urlencode(form)
    if b64:
        body = base64.b64encode(body.encode()).decode()
    return decision.handler(
        {
            "httpMethod": "POST",
            "headers": headers if headers is not None else {"content-type": "application/x-www-form-urlencoded"},
            "body": body,
            "isBase64Encoded": b64,
            "queryStringParameters": None,
        },
        None,
    )


def assert_page(response, status, *phrases):
    assert response["statusCode"] == status, response["body"]
    for name, value in EXPECTED_HEADERS.items():
        assert response["headers"][name] == value
    assert "default-src 'none'" in response["headers"]["Content-Security-Policy"]
    assert response["headers"]["Content-Type"].startswith("text/html")
    for phrase in phrases:
        assert phrase in response["body"] or phrase in html.unescape(response["body"]), f"{phrase!r} not in page"


def assert_unchanged(flow):
    assert flow.record()["status"] == "pending"
    assert "approver" not in flow.record()
    assert flow.task.status() == "RUNNING"


# --- happy paths -------------------------------------------------------------------------------


def test_get_shows_confirmation_form_and_changes_nothing(flow):
    response = get(flow.links["approve"])
    assert_page(response, 200, '<form method="post">', 'name="approver"', "required", "c0ffee0123456789", "Approve")
    for name in ("id", "decision", "expires", "sig"):
        assert f'name="{name}" value="{flow.links["approve"][name]}"' in response["body"]
    time.sleep(0.1)
    assert_unchanged(flow)
    # HEAD (what some scanners send) is treated like GET.
    head = decision.handler({"httpMethod": "HEAD", "queryStringParameters": flow.links["reject"]}, None)
    assert head["statusCode"] == 200
    assert_unchanged(flow)


def test_post_approve_resumes_execution_with_approver_and_comment(flow):
    response = post(flow.links["approve"])
    assert_page(response, 200, "Approved", "Ada Lovelace &lt;ada@example.com&gt;")
    execution = flow.task.finished()
    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    assert output["decision"] == "approved"
    assert output["approver"] == "Ada Lovelace <ada@example.com>"
    assert output["comment"] == "looks good"
    assert output["decidedAt"].endswith("Z") and output["decidedAt"][:4].isdigit()
    assert set(output) == {"decision", "approver", "comment", "decidedAt"}
    record = flow.record()
    assert (record["status"], record["approver"], record["comment"]) == ("approved", output["approver"], "looks good")


def test_post_reject_fails_the_task_with_error_rejected(flow):
    sent = []
    sfn = aws.client("stepfunctions")
    sfn.meta.events.register("provide-client-params.sfn.SendTaskFailure", lambda params, **_: sent.append(dict(params)))
    response = post(flow.links["reject"], approver="bob", comment="")
    assert_page(response, 200, "Rejected", "bob")
    execution = flow.task.finished()
    assert execution["status"] == "FAILED"
    assert execution["error"] == "Rejected"
    [params] = sent
    assert params["error"] == "Rejected"
    cause = json.loads(params["cause"])
    assert cause["approver"] == "bob" and cause["comment"] == "" and cause["decidedAt"]
    assert flow.record()["status"] == "rejected"


def test_post_accepts_base64_body_and_content_type_with_charset(flow):
    response = post(flow.links["approve"], headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}, b64=True)
    assert_page(response, 200, "Approved")
    assert flow.task.finished()["status"] == "SUCCEEDED"


def test_user_input_is_escaped_on_pages(flow):
    response = post(flow.links["reject"], approver="<script>alert(1)</script>", comment="x")
    assert "<script>" not in response["body"]
    assert "&lt;script&gt;" in response["body"]


def test_token_never_appears_in_links_pages_or_logs(flow, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    pages = [get(flow.links["approve"]), post(flow.links["approve"]), post(flow.links["approve"]), get({"id": "x"})]
    logged = caplog.text + capsys.readouterr().out
    assert flow.approval_id in logged
    haystacks = [json.dumps(flow.links), logged] + [json.dumps(p) for p in pages]
    assert all(flow.task.token not in h for h in haystacks)


# --- refused links: 4xx, clear message, nothing changes ----------------------------------------


def forged(params, **changes):
    return {**params, **changes}


@pytest.mark.parametrize("method", [get, post])
def test_forged_signature_is_refused(flow, method):
    response = method(forged(flow.links["approve"], sig="0" * 64))
    assert_page(response, 403, "signature does not match")
    assert_unchanged(flow)


@pytest.mark.parametrize("method", [get, post])
def test_tampered_decision_is_refused(flow, method):
    # the approve link's signature with decision switched to reject, and vice versa
    for params in (forged(flow.links["approve"], decision="reject"), forged(flow.links["reject"], decision="approve")):
        assert_page(method(params), 403, "signature does not match")
    assert_unchanged(flow)


@pytest.mark.parametrize("method", [get, post])
def test_tampered_expiry_is_refused(flow, method):
    later = str(int(flow.links["approve"]["expires"]) + 86400)
    assert_page(method(forged(flow.links["approve"], expires=later)), 403, "signature does not match")
    assert_unchanged(flow)


def test_signature_from_another_key_is_refused(flow):
    params = dict(flow.links["approve"])
    params["sig"] = links.sign(b"another-key-of-sufficient-length!!", flow.task.token, "approve", int(params["expires"]))
    assert_page(post(params), 403, "signature does not match")
    assert_unchanged(flow)


@pytest.mark.parametrize("method", [get, post])
def test_expired_link_is_refused(flow, method):
    past = int(time.time()) - 5
    params = forged(flow.links["approve"], expires=str(past), sig=links.sign(SIGNING_KEY.encode(), flow.task.token, "approve", past))
    assert_page(method(params), 410, "expired")
    assert_unchanged(flow)


def test_link_works_once(flow):
    assert post(flow.links["approve"])["statusCode"] == 200
    assert flow.task.finished()["status"] == "SUCCEEDED"
    for response in (post(flow.links["approve"]), post(flow.links["reject"]), get(flow.links["approve"])):
        assert_page(response, 409, "already approved", "Ada Lovelace")
    record = flow.record()
    assert record["status"] == "approved" and record["comment"] == "looks good"


def test_unknown_id_is_refused(flow):
    params = forged(flow.links["approve"], id="A" * 22)
    assert_page(get(params), 404, "does not match any approval request")
    assert_page(post(params), 404)
    assert_unchanged(flow)


@pytest.mark.parametrize("missing", ["id", "decision", "expires", "sig"])
@pytest.mark.parametrize("method", [get, post])
def test_missing_parameter_is_refused(flow, missing, method):
    params = {k: v for k, v in flow.links["approve"].items() if k != missing}
    assert_page(method(params), 400, f"missing {missing}")
    assert_unchanged(flow)


def test_no_parameters_at_all(flow):
    response = decision.handler({"httpMethod": "GET", "queryStringParameters": None}, None)
    assert_page(response, 400, "missing id, decision, expires, sig")


@pytest.mark.parametrize(
    "change, phrase",
    [
        ({"id": "short"}, "id is malformed"),
        ({"id": "x" * 21 + "!"}, "id is malformed"),
        ({"decision": "maybe"}, "'approve' or 'reject'"),
        ({"decision": "APPROVE"}, "'approve' or 'reject'"),
        ({"expires": "tomorrow"}, "expiry is malformed"),
        ({"expires": "-5"}, "expiry is malformed"),
        ({"expires": "9" * 40}, "expiry is malformed"),
        ({"sig": "xyz"}, "signature is malformed"),
        ({"sig": "A" * 64}, "signature is malformed"),
    ],
)
@pytest.mark.parametrize("method", [get, post])
def test_malformed_parameter_is_refused(flow, change, phrase, method):
    assert_page(method(forged(flow.links["approve"], **change)), 400, phrase)
    assert_unchanged(flow)


def test_repeated_query_parameter_is_refused(flow):
    params = flow.links["approve"]
    response = decision.handler(
        {
            "httpMethod": "GET",
            "queryStringParameters": params,
            "multiValueQueryStringParameters": {**{k: [v] for k, v in params.items()}, "decision": ["approve", "reject"]},
        },
        None,
    )
    assert_page(response, 400, "repeats")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", ""])
def test_wrong_method_is_refused(flow, method):
    response = decision.handler({"httpMethod": method, "queryStringParameters": flow.links["approve"]}, None)
    assert_page(response, 405)
    assert response["headers"]["Allow"] == "GET, HEAD, POST"
    assert_unchanged(flow)


def test_non_dict_event_is_a_4xx(flow):
    assert decision.handler(None, None)["statusCode"] == 405


@pytest.mark.parametrize(
    "kwargs, status, phrase",
    [
        ({"headers": {"content-type": "application/json"}}, 415, "x-www-form-urlencoded"),
        ({"headers": {}}, 415, "x-www-form-urlencoded"),
        ({"raw_body": "!!!not base64!!!", "b64": False, "headers": {"content-type": "application/x-www-form-urlencoded"}}, 400, "missing"),
        ({"raw_body": "a" * 70000}, 413, "at most"),
        ({"approver": None}, 400, "Enter your name"),
        ({"approver": "   "}, 400, "Enter your name"),
        ({"approver": "x" * 201}, 400, "longer than 200"),
        ({"comment": "y" * 601}, 400, "longer than 600"),
        ({"comment": "\"" * 500}, 400, "too long together"),
        ({"approver": "eve\x00"}, 400, "control characters"),
        ({"extra": {"approver": "a"}, "raw_body": None}, 200, "Approved"),
    ],
)
def test_bad_form_body_is_refused(flow, kwargs, status, phrase):
    kwargs = dict(kwargs)
    if kwargs.get("raw_body", "") is None:
        kwargs.pop("raw_body")
    response = post(flow.links["approve"], **kwargs)
    assert_page(response, status, phrase)
    if status != 200:
        assert_unchanged(flow)


def test_invalid_base64_body_is_refused(flow):
    response = decision.handler(
        {"httpMethod": "POST", "headers": {"Content-Type": "application/x-www-form-urlencoded"}, "body": "%%%", "isBase64Encoded": True},
        None,
    )
    assert_page(response, 400, "base64")
    assert_unchanged(flow)


def test_repeated_form_field_is_refused(flow):
    body = urlencode(flow.links["approve"]) + "&approver=a&approver=b"
    response = post({}, approver=None, comment=None, raw_body=body)
    assert_page(response, 400, "repeats the field(s) approver")
    assert_unchanged(flow)


def test_missing_approver_redisplays_the_form_with_the_comment(flow):
    response = post(flow.links["approve"], approver="", comment="kept <text>")
    assert_page(response, 400, "Enter your name", '<form method="post">', "kept &lt;text&gt;")
    assert_unchanged(flow)


# --- the workflow is no longer waiting, or Step Functions is unavailable -----------------------


def test_post_after_the_task_timed_out_is_refused_and_nothing_changes(approval_env, waiting_task, boto):
    flow = Flow(waiting_task(timeout_seconds=1, name="short"), approval_env, boto)
    assert flow.task.finished()["status"] == "FAILED"  # States.Timeout
    response = post(flow.links["approve"])  # moto answers InvalidToken here
    assert_page(response, 410, "no longer waiting")
    assert flow.record()["status"] == "pending" and "approver" not in flow.record()


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_task_gone_errors_are_4xx_and_restore_the_record(flow, code):
    # Stubber: moto cannot produce TaskTimedOut / TaskDoesNotExist.
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_client_error("send_task_success", service_error_code=code, http_status_code=400)
        response = post(flow.links["approve"])
    assert_page(response, 410, "no longer waiting", "Nothing was changed")
    assert_unchanged(flow)


def test_transient_step_functions_failure_keeps_the_link_usable(flow):
    # Stubber: moto does not throttle.
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_client_error("send_task_failure", service_error_code="ThrottlingException", http_status_code=400)
        response = post(flow.links["reject"])
    assert_page(response, 503, "try again")
    assert response["headers"]["Retry-After"] == "60"
    assert_unchanged(flow)
    # the same link then works
    assert_page(post(flow.links["reject"]), 200, "Rejected")
    assert flow.task.finished()["error"] == "Rejected"


def test_dynamodb_unavailable_is_503_not_500(flow, monkeypatch):
    monkeypatch.setenv("APPROVALS_TABLE", "no-such-table")
    response = get(flow.links["approve"])
    assert_page(response, 503, "Nothing was changed")


def _approval_description_shape():
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.operation_model("UpdateModelPackage").input_shape.members["ApprovalDescription"]


def test_the_description_limit_is_sagemakers():
    shape = _approval_description_shape()
    assert decision.APPROVAL_DESCRIPTION_MAX_LENGTH == shape.metadata["max"]
    assert shape.metadata["pattern"] == ".*"  # Java: one line, see LINE_BREAKS


@pytest.mark.parametrize("character", ["\u00e9", "\U0001F600"], ids=["accented", "emoji"])
def test_accepted_inputs_fit_the_model_registrys_approval_description(character):
    """Whatever the decision function accepts, the texts the workflow writes to ApprovalDescription fit:
    at most 1024 UTF-16 code units (an emoji counts twice), on one line."""
    approver = character * decision.MAX_APPROVER_LENGTH
    longest = ""
    for length in range(decision.MAX_COMMENT_LENGTH + 1):
        comment = (character * length)[:length]
        if decision._clean_inputs({"approver": approver, "comment": comment})[2] == "":
            longest = comment
    assert longest, "no comment accepted at all"
    rejected = decision.REJECTED_DESCRIPTION_PREFIX + decision._cause(approver, longest, decision.DECIDED_AT_EXAMPLE)
    approved = f"Approved by {approver} at {decision.DECIDED_AT_EXAMPLE}: {json.dumps(longest, ensure_ascii=False)}"
    for text in (rejected, approved):
        assert len(text.encode("utf-16-le")) // 2 <= 1024
    if len(longest) < decision.MAX_COMMENT_LENGTH:  # refused for the description, with a reason
        too_long = decision._clean_inputs({"approver": approver, "comment": longest + character})
        assert "too long together" in too_long[2]


@pytest.mark.parametrize("line_break", ["\r\n", "\r", "\n", "\u0085", "\u2028", "\u2029"],
                         ids=["crlf", "cr", "lf", "nel", "line-separator", "paragraph-separator"])
def test_a_comment_with_a_line_break_is_accepted_and_reaches_the_workflow_as_newline(flow, line_break):
    response = post(flow.links["approve"], comment=f"looks good{line_break}ship it")
    assert_page(response, 200, "Approved")
    output = json.loads(flow.task.finished()["output"])
    assert output["comment"] == "looks good\nship it"
