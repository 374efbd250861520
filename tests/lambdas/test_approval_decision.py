"""The decision page behind the approval links, against moto (DynamoDB, Secrets Manager, Step Functions).

The happy paths and "already used"/"timed out" cases resume a real moto execution that waits in a
`.waitForTaskToken` task. moto cannot produce TaskTimedOut / TaskDoesNotExist, so those cases put a
botocore Stubber on the function's Step Functions client. Failures of the call itself (a lost answer
after the workflow resumed, a connection that never opened, throttling, a 5xx) are injected at the HTTP
layer by `FaultySendTask`, before or after moto has acted on the call, so botocore's own handling
(retries included) runs as it would against AWS. moto also drops the `cause` of SendTaskFailure, so the
rejection test reads the request parameters from the client's provide-client-params event as well as
checking the execution's error.
"""

import base64
import html
import json
import logging
import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from approval_decision import handler as decision
from approval_request import handler as approval_request
from common import aws, links, text, web
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
        sent = sns_messages(env["TOPIC_ARN"])[-1]  # this request's e-mail: the latest on the topic
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


def sfn_client():
    """The decision function's own Step Functions client (cached per Config object)."""
    return aws.client("stepfunctions", decision.STEP_FUNCTIONS_CONFIG)


def test_post_reject_fails_the_task_with_error_rejected(flow):
    sent = []
    sfn = sfn_client()
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
        ({"approver": "eve\x00"}, 400, "control or text-direction character (U+0000)"),
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


# --- forged form fields and link parameters: refused where they enter --------------------------


@pytest.mark.parametrize("field", ["approver", "comment"])
@pytest.mark.parametrize("forged, named", [
    ("Ada\nApproved by: the CEO", "U+000A"), ("Ada\r\nBcc: everyone@example.com", "U+000D"),
    ("Ada\u2028line two", "U+2028"), ("Ada\u2029para", "U+2029"), ("Ada\x85next", "U+0085"),
    ("Ada\x0bvtab", "U+000B"), ("Ada\x0cff", "U+000C"), ("Ada\x1cfs", "U+001C"), ("Ada\x7f", "U+007F"),
    ("Ada\x1b[31mred", "U+001B"), ("Ada\tBob", "U+0009"), ("evil\u202egnp.exe", "U+202E"), ("a\u2066b", "U+2066"),
])
def test_forged_approver_or_comment_is_refused(flow, field, forged, named):
    kwargs = {"approver": "Ada", "comment": "ok", field: forged}
    response = post(flow.links["approve"], **kwargs)
    assert_page(response, 400, "line break, control or text-direction character", named, '<form method="post">')
    assert_unchanged(flow)


@pytest.mark.parametrize("approver, comment", [
    ("Zoë Ñúñez-O'Brien", "très bien"), ("李雷 <li@example.com>", "好"), ("👩\u200d💻 dev", "ok \u200c zwnj"),
    ("  Ada  ", "  spaces around are dropped  "),
])
def test_names_and_comments_in_any_script_are_accepted(flow, approver, comment):
    assert_page(post(flow.links["approve"], approver=approver, comment=comment), 200, "Approved")
    output = json.loads(flow.task.finished()["output"])
    assert (output["approver"], output["comment"]) == (approver.strip(), comment.strip())


@settings(max_examples=500, deadline=None)
@given(approver=st.text(max_size=250), comment=st.text(max_size=700))
def test_accepted_inputs_are_one_line_and_fit_the_registry(approver, comment):
    kept_approver, kept_comment, problem = decision._clean_inputs({"approver": approver, "comment": comment})
    if problem:
        return
    for value in (kept_approver, kept_comment):
        assert len(value.splitlines()) <= 1 and text.unsafe_character(value) is None
    assert kept_approver and len(kept_approver) <= decision.MAX_APPROVER_LENGTH
    assert len(f"Rejected by the approver: {decision._cause(kept_approver, kept_comment, decision.DECIDED_AT_EXAMPLE)}") <= 1024


@pytest.mark.parametrize("change", [
    {"id": "A" * 22 + "\n"}, {"expires": "1999999999\n"}, {"sig": "0" * 64 + "\n"}, {"decision": "approve\n"},
    {"id": "\u0661" * 22}, {"expires": "\u0661\u0662\u0663"},  # Arabic-Indic digits: int() takes them, the format does not
])
@pytest.mark.parametrize("method", [get, post])
def test_link_parameters_match_their_whole_value(flow, change, method):
    response = method(forged(flow.links["approve"], **change))
    assert_page(response, 400, "malformed")
    assert_unchanged(flow)


# --- hostile requests: a 4xx with a short page, never a 5xx ------------------------------------

MAX_PAGE_CHARS = 8_000  # the longest page: the form redisplayed with an error, every field at its maximum


@pytest.mark.parametrize("kwargs, status", [
    ({"comment": "x" * 60_000}, 400), ({"approver": "<" * 15_000}, 400), ({"comment": "\"" * 600}, 400),
    ({"extra": {"x" * 60_000: "1"}}, 200), ({"raw_body": "a=" + "%FF" * 21_000}, 400),
    ({"raw_body": "&".join(f"f{i}=1" for i in range(5_000))}, 400), ({"raw_body": "x" * (6 * 1024 * 1024)}, 413),
    ({"headers": {"content-type": "application/" + "x" * 8_000}}, 415),
])
def test_pages_stay_short_whatever_was_sent(flow, kwargs, status):
    response = post(flow.links["approve"], **kwargs)
    assert_page(response, status)
    assert len(response["body"]) <= MAX_PAGE_CHARS


def test_a_form_of_exactly_the_size_limit_is_read(flow):
    form = urlencode({**flow.links["approve"], "approver": "Ada", "comment": "ok"}) + "&pad="
    body = form + "x" * (web.MAX_BODY_BYTES - len(form))
    assert_page(post({}, approver=None, comment=None, raw_body=body + "x"), 413, "65537 bytes; at most 65536")
    assert_unchanged(flow)
    assert_page(post({}, approver=None, comment=None, raw_body=body), 200, "Approved")


def test_repeated_parameter_names_are_not_echoed_at_length(flow):
    names = {f"{'n' * 1000}{i}": ["a", "b"] for i in range(50)}
    response = decision.handler({"httpMethod": "GET", "queryStringParameters": {}, "multiValueQueryStringParameters": names}, None)
    assert_page(response, 400, "and 45 more")
    assert len(response["body"]) <= MAX_PAGE_CHARS


link_like = st.fixed_dictionaries({}, optional={
    "id": st.from_regex(r"[A-Za-z0-9_-]{22}", fullmatch=True) | st.text(max_size=30),
    "decision": st.sampled_from(["approve", "reject"]) | st.text(max_size=10),
    "expires": st.from_regex(r"[0-9]{1,12}", fullmatch=True) | st.text(max_size=15),
    "sig": st.from_regex(r"[0-9a-f]{64}", fullmatch=True) | st.text(max_size=70),
    "approver": st.text(max_size=300), "comment": st.text(max_size=800),
})
hostile_events = st.fixed_dictionaries({
    "httpMethod": st.sampled_from(["GET", "HEAD", "POST", "PUT", ""]) | st.text(max_size=12),
    "headers": st.none() | st.dictionaries(st.sampled_from(["content-type", "Content-Type", "X-Other"]),
                                           st.sampled_from(["application/x-www-form-urlencoded"]) | st.text(max_size=60), max_size=2),
    "queryStringParameters": st.none() | link_like,
    "body": (st.none() | link_like.map(urlencode) | st.text(max_size=400) | st.text(max_size=20).map(lambda t: t + "\ud800")
             | st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode())),
    "isBase64Encoded": st.booleans(),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(event=hostile_events)
def test_no_request_gets_a_5xx(approval_env, event):
    response = decision.handler(event, None)
    assert 200 <= response["statusCode"] < 500, response["body"][-400:]
    assert len(response["body"]) <= MAX_PAGE_CHARS


# --- the workflow is no longer waiting --------------------------------------------------------


def test_post_after_the_task_timed_out_closes_the_record(approval_env, waiting_task, boto):
    flow = Flow(waiting_task(timeout_seconds=1, name="short"), approval_env, boto)
    assert flow.task.finished()["status"] == "FAILED"  # States.Timeout
    response = post(flow.links["approve"])  # moto answers InvalidToken here
    assert_page(response, 410, "no longer waiting", "Nothing was decided")
    record = flow.record()
    assert record["status"] == "closed" and record["closedReason"] == "InvalidToken"
    assert "approver" not in record and "decision" not in record
    # the links now say so at once, without calling Step Functions
    assert_page(get(flow.links["reject"]), 410, "no longer waiting")


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_task_gone_on_the_first_attempt_closes_the_record(flow, code):
    # Stubber: moto cannot produce TaskTimedOut / TaskDoesNotExist.
    with Stubber(sfn_client()) as stub:
        stub.add_client_error("send_task_success", service_error_code=code, http_status_code=400)
        response = post(flow.links["approve"])
    assert_page(response, 410, "no longer waiting", "Nothing was decided")
    assert flow.record()["status"] == "closed"
    assert flow.task.status() == "RUNNING"  # (the stub stood in for a task that had gone)


# --- delivery: the record ends true whatever happens to the SendTask* call ---------------------


class FakeClock:
    """Replaces the decision function's clock and sleep: waits cost no real time, and the injected
    failures advance it by what they would have cost (a timeout waits for its whole timeout)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(decision, "_clock", fake)
    monkeypatch.setattr(decision, "_sleep", fake.sleep)
    return fake


# What happens to one SendTask* call, at the HTTP layer. moto acts on the call in the first four.
ARRIVES = {"ok", "lost", "dropped", "error-after"}
FATES = sorted(ARRIVES | {"unreachable", "throttled", "error-before", "denied"})


class FaultySendTask:
    """Plays a planned fate for each SendTask* call of the decision function's client; calls beyond the
    plan are "ok". `lost`: moto resumes the workflow, then the answer never comes (ReadTimeoutError after
    the read timeout); `dropped`: the same with the connection breaking (EndpointConnectionError);
    `error-after`: moto acts, the client gets a 500; `unreachable`: no connection (EndpointConnectionError
    after the connect timeout) and moto never sees the call; `throttled` / `denied` / `error-before`: a 400
    ThrottlingException / 400 AccessDeniedException / 500 before moto sees it.

    A task token takes one outcome, as in Step Functions: a call that would reach a task some earlier call
    already resumed is answered InvalidToken here (moto accepts a second SendTaskFailure, and a second
    SendTaskSuccess until its execution thread has moved on)."""

    def __init__(self, clock: FakeClock):
        self.plan: list[str] = []
        self.played: list[str] = []
        self.clock = clock
        self.resumed: set[str] = set()  # task tokens some call has reached
        client = sfn_client()
        for operation in ("SendTaskSuccess", "SendTaskFailure"):
            client.meta.events.register(f"before-send.sfn.{operation}", self._before)  # runs before moto
        client.meta.events.register_last("before-send", self._after)  # runs after moto

    def _before(self, request, **_):
        fate = self.plan.pop(0) if self.plan else "ok"
        self.played.append(fate)
        config = decision.STEP_FUNCTIONS_CONFIG
        if fate in ARRIVES and json.loads(request.body)["taskToken"] in self.resumed:
            if fate == "ok":
                raise ClientError({"Error": {"Code": "InvalidToken", "Message": "Invalid token"},
                                   "ResponseMetadata": {"HTTPStatusCode": 400}}, "SendTask")
            self._after(request, "before-send.sfn.SendTask")  # refused too, but the answer is lost all the same
        if fate == "unreachable":
            self.clock.now += config.connect_timeout
            raise EndpointConnectionError(endpoint_url=request.url)
        if fate in ("throttled", "denied", "error-before"):
            code, status = {"throttled": ("ThrottlingException", 400), "denied": ("AccessDeniedException", 400),
                            "error-before": ("InternalFailure", 500)}[fate]
            raise ClientError({"Error": {"Code": code, "Message": fate}, "ResponseMetadata": {"HTTPStatusCode": status}},
                              "SendTask")

    def _after(self, request, event_name, **_):
        if ".SendTask" not in event_name:
            return
        self.resumed.add(json.loads(request.body)["taskToken"])
        fate = self.played[-1]
        config = decision.STEP_FUNCTIONS_CONFIG
        if fate == "lost":
            self.clock.now += config.connect_timeout + config.read_timeout
            raise ReadTimeoutError(endpoint_url=request.url)
        if fate == "dropped":
            raise EndpointConnectionError(endpoint_url=request.url)
        if fate == "error-after":
            raise ClientError({"Error": {"Code": "InternalFailure", "Message": "boom"},
                               "ResponseMetadata": {"HTTPStatusCode": 500}}, "SendTask")

    def reset(self, plan: list[str]) -> None:
        self.plan, self.played, self.resumed = list(plan), [], set()

    @property
    def arrived(self) -> bool:
        """Whether some call reached the workflow (the first that does resumes it)."""
        return bool(self.resumed)


@pytest.fixture
def faults(clock):
    return FaultySendTask(clock)


def settled_status(flow, arrived: bool) -> str:
    """The execution's status once a delivered decision has been processed (moto resumes asynchronously)."""
    return flow.task.finished()["status"] if arrived else flow.task.status()


@pytest.mark.parametrize(
    "plan, status, record_status, delivery, phrase",
    [
        ([], 200, "approved", "confirmed", "is approved"),
        # the answer to a call that resumed the workflow is lost: the retry finds the task closed
        (["lost"], 200, "approved", "inferred", "earlier, unconfirmed attempt"),
        (["dropped"], 200, "approved", "inferred", "earlier, unconfirmed attempt"),
        (["error-after"], 200, "approved", "inferred", "earlier, unconfirmed attempt"),
        # refused before it could act, then delivered
        (["throttled", "throttled"], 200, "approved", "confirmed", "is approved"),
        (["unreachable", "ok"], 200, "approved", "confirmed", "is approved"),
        (["error-before", "ok"], 200, "approved", "confirmed", "is approved"),
        # never confirmed within the request: the record says "sending", and so does the page
        (["lost", "lost", "lost"], 202, "sending", None, "did not confirm"),
        (["unreachable"] * 3, 202, "sending", None, "did not confirm"),
        # certainly not delivered: everything as before, the link works again
        (["throttled"] * 3, 503, "pending", None, "Nothing was changed"),
        (["denied"], 503, "pending", None, "Nothing was changed"),
    ],
)
def test_delivery_outcomes(flow, faults, plan, status, record_status, delivery, phrase):
    faults.plan = list(plan)
    response = post(flow.links["approve"])
    assert_page(response, status, phrase)
    record = flow.record()
    assert record["status"] == record_status
    assert record.get("delivery") == delivery
    assert settled_status(flow, faults.arrived) == ("SUCCEEDED" if faults.arrived else "RUNNING")
    if faults.arrived:
        assert "Nothing was changed" not in html.unescape(response["body"])
    if record_status == "sending":
        assert record["decision"] == "approved" and record["approver"].startswith("Ada")
        assert response["headers"]["Retry-After"] == "30"
        assert '<button type="submit">Check again</button>' in response["body"]


def test_a_lost_answer_is_not_reported_as_nothing_changed_and_a_retry_settles_it(flow, faults):
    # Every attempt of the first request loses its answer, although the first one resumed the workflow.
    faults.plan = ["lost", "lost", "lost"]
    first = post(flow.links["reject"], approver="bob", comment="too slow")
    assert_page(first, 202, "did not confirm", "recorded as sent")
    assert flow.task.finished()["error"] == "Rejected"
    assert flow.record()["status"] == "sending"
    # Opening the link shows the pending delivery (changing nothing); the other link cannot decide.
    assert_page(get(flow.links["reject"]), 200, "has not confirmed", "bob", "Check again")
    assert_page(get(flow.links["approve"]), 409, "being delivered")
    assert_page(post(flow.links["approve"]), 409, "being delivered")
    # "Check again" posts the link alone: the recorded decision is sent again and the task found closed.
    again = post(flow.links["reject"], approver=None, comment=None)
    assert_page(again, 200, "Rejected", "bob", "earlier, unconfirmed attempt")
    record = flow.record()
    assert (record["status"], record["delivery"], record["approver"], record["comment"]) == ("rejected", "inferred", "bob", "too slow")
    assert "sendId" not in record
    assert_page(post(flow.links["reject"]), 409, "already rejected by bob")


def test_a_call_that_never_left_is_sent_again_by_the_retry(flow, faults):
    faults.plan = ["unreachable"] * 3
    assert post(flow.links["approve"])["statusCode"] == 202
    assert flow.task.status() == "RUNNING" and flow.record()["status"] == "sending"
    response = post(flow.links["approve"], approver="someone else", comment="ignored")
    assert_page(response, 200, "Approved", "Ada Lovelace")  # the recorded decision, not the new form's
    output = json.loads(flow.task.finished()["output"])
    assert output["approver"].startswith("Ada") and output["comment"] == "looks good"
    assert flow.record()["delivery"] == "confirmed"


def test_botocore_does_not_retry_send_task_behind_the_functions_back():
    """A botocore retry after a lost answer would see the task closed by the first attempt, and the
    function, seeing only that, would take it for a workflow that was not waiting."""
    assert decision.STEP_FUNCTIONS_CONFIG.retries["total_max_attempts"] == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.sampled_from(FATES), max_size=4), choice=st.sampled_from(["approve", "reject"]))
def test_the_record_ends_true_whatever_the_fate_of_each_call(approval_env, waiting_task, boto, faults, plan, choice):
    flow = Flow(waiting_task(name=f"fates-{secrets.token_hex(4)}"), approval_env, boto)
    faults.reset(plan)
    start = faults.clock.now
    response = post(flow.links[choice])
    assert faults.clock.now - start <= decision.BUDGET_SECONDS
    decided = decision.STATUS_FOR[choice]
    expected_execution = ("SUCCEEDED" if choice == "approve" else "FAILED") if faults.arrived else "RUNNING"
    assert settled_status(flow, faults.arrived) == expected_execution
    record, body = flow.record(), html.unescape(response["body"])
    # The page and the record say what happened, or that it is not known yet; never the opposite.
    if response["statusCode"] == 200:
        assert faults.arrived and record["status"] == decided
    elif response["statusCode"] == 202:
        assert record["status"] == "sending" and record["decision"] == decided
    else:
        assert response["statusCode"] == 503, body
        assert not faults.arrived and record["status"] == "pending" and "Nothing was changed" in body
    if faults.arrived:
        assert "Nothing was changed" not in body
    # Sending the form again once Step Functions answers settles it, the same way.
    faults.plan = []
    post(flow.links[choice])
    record = flow.record()
    assert record["status"] == decided and record["delivery"] in ("confirmed", "inferred")
    assert flow.task.finished()["status"] == ("SUCCEEDED" if choice == "approve" else "FAILED")


def test_a_double_click_delivers_once(flow, faults):
    # The second click arrives while the first is still "sending" (its answer lost): it settles it.
    faults.plan = ["lost", "lost", "lost"]
    assert post(flow.links["approve"])["statusCode"] == 202
    faults.plan = []
    assert_page(post(flow.links["approve"]), 200, "Approved")
    assert flow.task.finished()["status"] == "SUCCEEDED"
    assert flow.record()["status"] == "approved"


# --- time: inside API Gateway's 29 s whatever the dependencies do ------------------------------


def test_the_worst_case_of_every_call_is_counted():
    dependency = decision.worst_case_seconds(decision.DEPENDENCY_CONFIG)
    assert dependency == 2 * (1 + 2) + 1  # two attempts up to their timeouts, one backoff of at most 1 s
    assert decision.worst_case_seconds(decision.STEP_FUNCTIONS_CONFIG) == 1 + 3
    # The two reads every request makes before any budget check fit the budget.
    assert 2 * dependency <= decision.BUDGET_SECONDS < 29


def test_slow_dependencies_and_hanging_calls_stay_inside_the_budget(flow, faults, clock):
    def slow(event_name, **_):  # every DynamoDB / Secrets Manager call succeeds just before timing out
        clock.now += decision.DEPENDENCY_CONFIG.connect_timeout + decision.DEPENDENCY_CONFIG.read_timeout - 0.1

    for service in ("dynamodb", "secretsmanager"):
        aws.client(service, decision.DEPENDENCY_CONFIG).meta.events.register_last("before-send", slow)
    links.reset_key_cache()
    faults.plan = ["lost"] * 10
    start = clock.now
    response = post(flow.links["approve"])
    assert clock.now - start <= decision.BUDGET_SECONDS
    assert response["statusCode"] == 202 and flow.record()["status"] == "sending"
    assert flow.task.finished()["status"] == "SUCCEEDED"


def test_without_time_for_a_whole_delivery_nothing_is_started(flow, faults):
    class Context:
        @staticmethod
        def get_remaining_time_in_millis():
            return 10_000  # less than a record write, an attempt and the write after it

    event = {"httpMethod": "POST", "headers": {"content-type": "application/x-www-form-urlencoded"},
             "body": urlencode({**flow.links["approve"], "approver": "a"}), "isBase64Encoded": False}
    assert_page(decision.handler(event, Context()), 503, "Nothing was changed")
    assert faults.played == []
    assert_unchanged(flow)


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
def test_a_comment_with_a_line_break_is_refused_before_it_reaches_the_registry(flow, line_break):
    """SageMaker's approval description is one line (Java's ".*"): a multi-line comment would make the
    update fail and leave the package pending, and it could forge a line of a later e-mail. It is refused
    with a reason, nothing changes, and the approver can confirm again with one line."""
    response = post(flow.links["approve"], comment=f"looks good{line_break}ship it")
    assert_page(response, 400, "write it on one line")
    assert flow.record()["status"] == "pending"
    assert_page(post(flow.links["approve"], comment="looks good, ship it"), 200, "Approved")
    assert json.loads(flow.task.finished()["output"])["comment"] == "looks good, ship it"
