"""The inference proxy against moto's sagemaker-runtime (answers queued in its results_queue).

moto's invoke_endpoint never fails, so endpoint errors (missing endpoint, ModelError, throttling,
timeouts) are produced with a botocore Stubber / event handler on the function's runtime client.
"""

import base64
import json
import math

import numpy
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common import aws, web
from inference_proxy import handler as proxy
from tests.lambdas.conftest import ACCOUNT, REGION

ENDPOINT = "mlops-dev-endpoint"


@pytest.fixture(autouse=True)
def env(monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("FEATURE_COUNT", "4")


@pytest.fixture
def runtime():
    return aws.client("sagemaker-runtime", proxy.RUNTIME_CONFIG)


@pytest.fixture
def calls(runtime):
    """The InvokeEndpoint parameters the function sent."""
    seen = []
    runtime.meta.events.register("provide-client-params.sagemaker-runtime.InvokeEndpoint", lambda params, **_: seen.append(dict(params)))
    return seen


def answer(*predictions_lists, raw=None):
    from moto.sagemakerruntime.models import sagemakerruntime_backends

    queue = sagemakerruntime_backends[ACCOUNT][REGION].results_queue
    for body in [raw] if raw is not None else [json.dumps({"predictions": p}) for p in predictions_lists]:
        queue.append((body, "application/json", "AllTraffic", ""))


def http(payload=None, raw=None, method="POST", b64=False, headers=None):
    body = raw if raw is not None else json.dumps(payload)
    if b64:
        body = base64.b64encode(body.encode()).decode()
    return proxy.handler({"httpMethod": method, "headers": headers or {}, "body": body, "isBase64Encoded": b64}, None)


def body_of(response):
    assert response["headers"]["Content-Type"] == "application/json"
    return json.loads(response["body"])


# --- scoring ---------------------------------------------------------------------------------


def test_single_record_returns_a_single_result(calls):
    answer(["setosa"])
    response = http({"data": "5.1, 3.5,1.4,0.2"})
    assert response["statusCode"] == 200
    assert body_of(response) == {"result": "setosa"}
    [call] = calls
    assert call["EndpointName"] == ENDPOINT
    assert call["ContentType"] == "text/csv" and call["Accept"] == "application/json"
    assert call["Body"] == b"5.1,3.5,1.4,0.2"


def test_list_of_strings_returns_a_list(calls):
    answer(["setosa", "virginica"])
    response = http({"data": ["5.1,3.5,1.4,0.2", "6.2,3.4,5.4,2.3"]})
    assert body_of(response) == {"result": ["setosa", "virginica"]}
    assert calls[0]["Body"] == b"5.1,3.5,1.4,0.2\n6.2,3.4,5.4,2.3"


def test_list_of_lists_returns_a_list(calls):
    answer(["versicolor", "setosa"])
    response = http({"data": [[5.9, 3, 4.2, 1.5], ["5.1", 3.5, 1.4, 0.2]]})
    assert body_of(response) == {"result": ["versicolor", "setosa"]}
    assert calls[0]["Body"] == b"5.9,3.0,4.2,1.5\n5.1,3.5,1.4,0.2"


def test_caller_cannot_choose_the_endpoint(calls):
    answer(["setosa"])
    http({"data": "5.1,3.5,1.4,0.2", "endpointName": "someone-elses", "EndpointName": "x"})
    assert calls[0]["EndpointName"] == ENDPOINT


def test_content_type_header_does_not_matter_and_base64_bodies_work(calls):
    answer(["setosa"])
    response = http({"data": "5.1,3.5,1.4,0.2"}, headers={"Content-Type": "text/plain"}, b64=True)
    assert body_of(response) == {"result": "setosa"}


def test_direct_invocation_returns_result_without_http_envelope(calls):
    answer(["virginica"])
    assert proxy.handler({"data": "6.2,3.4,5.4,2.3"}, None) == {"result": "virginica"}


def test_exactly_the_record_limit_is_accepted(monkeypatch, calls):
    monkeypatch.setenv("MAX_RECORDS", "3")
    answer(["a", "b", "c"])
    assert body_of(http({"data": ["1,2,3,4"] * 3})) == {"result": ["a", "b", "c"]}


# --- bad input: 400 over HTTP, InvalidInput when invoked directly -----------------------------

BAD_INPUTS = [
    ({}, 'a "data" field'),
    ([1, 2], 'a "data" field'),
    ({"data": None}, "a CSV string"),
    ({"data": 5.1}, "a CSV string"),
    ({"data": []}, "empty list"),
    ({"data": "5.1,3.5,1.4"}, "has 3 value(s); the model expects exactly 4"),
    ({"data": "5.1,3.5,1.4,0.2,9"}, "has 5 value(s)"),
    ({"data": "5.1,3.5,abc,0.2"}, "value 2: 'abc' is not a finite number"),
    ({"data": "5.1,3.5,,0.2"}, "value 2: '' is not a finite number"),
    ({"data": "5.1,3.5,nan,0.2"}, "not a finite number"),
    ({"data": "5.1,3.5,inf,0.2"}, "not a finite number"),
    ({"data": "5.1,3.5,1.4,0.2\n6.2,3.4,5.4,2.3"}, "line break"),
    ({"data": [5.1, 3.5, 1.4, 0.2]}, "flat list of numbers"),
    ({"data": [[5.1, 3.5, 1.4, 0.2], [1, 2, 3]]}, "record 1 has 3 value(s)"),
    ({"data": [[5.1, 3.5, True, 0.2]]}, "record 0, value 2"),
    ({"data": [[5.1, 3.5, None, 0.2]]}, "record 0, value 2"),
    ({"data": [{"a": 1}]}, "record 0 must be a CSV string or a list of numbers"),
    ({"data": ["1,2,3,4"] * 101}, "101 records; at most 100"),
]


@pytest.mark.parametrize("payload, phrase", BAD_INPUTS)
def test_bad_input_is_400_with_a_clear_message(payload, phrase, calls):
    response = http(payload)
    assert response["statusCode"] == 400
    assert phrase in body_of(response)["error"]
    assert calls == []  # the endpoint is not called


@pytest.mark.parametrize("payload, phrase", [case for case in BAD_INPUTS if isinstance(case[0], dict)])
def test_bad_input_raises_invalid_input_when_invoked_directly(payload, phrase, calls):
    with pytest.raises(proxy.InvalidInput) as raised:
        proxy.handler(payload, None)
    assert phrase in str(raised.value)
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("raw, status, phrase", [("{not json", 400, "not JSON"), ("", 400, "not JSON"), ("x" * 70000, 413, "at most")])
def test_unreadable_body(raw, status, phrase):
    response = http(raw=raw)
    assert response["statusCode"] == status and phrase in body_of(response)["error"]


def test_invalid_base64_body():
    response = proxy.handler({"httpMethod": "POST", "body": "%%%", "isBase64Encoded": True}, None)
    assert response["statusCode"] == 400 and "base64" in body_of(response)["error"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405(method):
    response = http({"data": "1,2,3,4"}, method=method)
    assert response["statusCode"] == 405 and response["headers"]["Allow"] == "POST"


# --- endpoint trouble: 502 / 503 with a message, never a stack trace --------------------------


def test_model_answer_with_wrong_count_is_502(calls):
    answer(["setosa"])
    response = http({"data": ["5.1,3.5,1.4,0.2", "6.2,3.4,5.4,2.3"]})
    assert response["statusCode"] == 502
    assert "1 prediction(s) for 2 record(s)" in body_of(response)["error"]


@pytest.mark.parametrize("raw", ["not json", json.dumps({"result": "setosa"}), json.dumps(["setosa"])])
def test_model_answer_without_predictions_is_502(raw, calls):
    answer(raw=raw)
    response = http({"data": "5.1,3.5,1.4,0.2"})
    assert response["statusCode"] == 502 and "predictions" in body_of(response)["error"]


@pytest.mark.parametrize(
    "code, status, phrase, exception",
    [
        ("ValidationException", 503, "no model is deployed", proxy.EndpointUnavailable),
        ("ModelNotReadyException", 503, "busy or not ready", proxy.EndpointUnavailable),
        ("ThrottlingException", 503, "busy or not ready", proxy.EndpointUnavailable),
        ("ServiceUnavailable", 503, "busy or not ready", proxy.EndpointUnavailable),
        ("ModelError", 502, "could not score this input (model status 400)", proxy.EndpointError),
        ("AccessDeniedException", 502, "refused the call (AccessDeniedException)", proxy.EndpointError),
    ],
)
def test_endpoint_errors_map_to_502_or_503(runtime, code, status, phrase, exception):
    message = f"Endpoint {ENDPOINT} of account {ACCOUNT} not found." if code == "ValidationException" else "boom"
    extra = {"OriginalStatusCode": 400} if code == "ModelError" else None
    with Stubber(runtime) as stub:
        stub.add_client_error("invoke_endpoint", service_error_code=code, service_message=message, http_status_code=400, response_meta=None, modeled_fields=extra)
        stub.add_client_error("invoke_endpoint", service_error_code=code, service_message=message, http_status_code=400, modeled_fields=extra)
        response = http({"data": "5.1,3.5,1.4,0.2"})
        with pytest.raises(exception, match=phrase.split(" (")[0]):
            proxy.handler({"data": "5.1,3.5,1.4,0.2"}, None)
    assert response["statusCode"] == status
    error = body_of(response)["error"]
    assert phrase in error
    assert "Traceback" not in response["body"] and "boom" not in error
    if status == 503:
        assert response["headers"]["Retry-After"] == "30"


def test_timeout_is_503(runtime):
    def time_out(**_):
        raise ReadTimeoutError(endpoint_url="https://runtime.sagemaker.eu-west-1.amazonaws.com")

    runtime.meta.events.register_first("before-call.sagemaker-runtime.InvokeEndpoint", time_out)
    response = http({"data": "5.1,3.5,1.4,0.2"})
    assert response["statusCode"] == 503 and "did not answer in time" in body_of(response)["error"]


def test_missing_settings_are_clear_errors(monkeypatch):
    from common.aws import ConfigurationError

    monkeypatch.delenv("ENDPOINT_NAME")
    with pytest.raises(ConfigurationError, match="ENDPOINT_NAME"):
        proxy.handler({"data": "1,2,3,4"}, None)
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("FEATURE_COUNT", "four")
    with pytest.raises(ConfigurationError, match="FEATURE_COUNT"):
        proxy.handler({"data": "1,2,3,4"}, None)


@pytest.mark.parametrize("value", ["", "zero", "0"])
def test_bad_max_records_setting_is_a_deployment_error(monkeypatch, value):
    from common.aws import ConfigurationError, int_env

    monkeypatch.setenv("MAX_RECORDS", value)
    with pytest.raises(ConfigurationError, match=r"MAX_RECORDS=.* is not allowed: use a whole number >= 1"):
        int_env("MAX_RECORDS", minimum=1, default=100)


def test_unset_max_records_uses_the_default(monkeypatch):
    from common.aws import int_env

    monkeypatch.delenv("MAX_RECORDS", raising=False)
    assert int_env("MAX_RECORDS", minimum=1, default=100) == 100


# --- hostile and unlucky input: a 4xx with a short reason, never a 5xx ------------------------
# The endpoint call is replaced here: these tests are about reading the request, and a fake that
# checks what would have been sent catches any value that slipped through.

MAX_ERROR_BODY = 700  # {"error": "..."}: the message is cut at web.MAX_MESSAGE_CHARS, however large the body


@pytest.fixture
def scored(monkeypatch):
    """Records that reached the endpoint call; it answers one label per record."""
    sent = []

    def fake_invoke(endpoint, records):
        for record in records:
            assert len(record) == 4
            for value in record:
                assert math.isfinite(value) and abs(numpy.float32(value)) < math.inf
        sent.append(records)
        return ["setosa"] * len(records)

    monkeypatch.setattr(proxy, "_invoke", fake_invoke)
    return sent


def assert_client_error(response, status=400, *phrases):
    assert response["statusCode"] == status, response["body"]
    assert len(response["body"]) <= MAX_ERROR_BODY
    error = body_of(response)["error"]
    for phrase in phrases:
        assert phrase in error, error
    return error


@pytest.mark.parametrize("depth", [1_000, 10_000, 32_000])
def test_any_nesting_depth_is_a_400(scored, depth):
    assert_client_error(http(raw="[" * depth + "]" * depth), 400, "nested too deeply")
    assert_client_error(http(raw='{"data": ' + "[" * depth + "]" * depth + "}"), 400, "nested too deeply")
    assert_client_error(http(raw='{"data": ' + "[" * depth), 400)  # unclosed: refused as deep or as not JSON
    assert_client_error(http(raw="[" * depth, b64=True), 400)


def test_100000_nested_arrays_are_over_the_size_limit(scored):
    assert_client_error(http(raw="[" * 100_000 + "]" * 100_000), 413, "at most 65536")


@pytest.mark.parametrize("literal, phrase", [
    ("1e400", "not a finite number"), ("-1e400", "not a finite number"), ("NaN", "not a finite number"),
    ("Infinity", "not a finite number"), ("-Infinity", "not a finite number"),
    ("1" * 400, "not a finite number"), ("1" * 5000, "not a finite number"),  # beyond float64 / int parsing
    ("1e39", "outside the model's range"), ("-3.4028236e38", "outside the model's range"),
    ('"1e39"', "outside the model's range"), ('"-1e400"', "not a finite number"),
])
def test_numbers_beyond_float64_or_float32_are_400(scored, literal, phrase):
    for body in (f'{{"data": [[{literal}, 1, 2, 3]]}}', f'{{"data": [[1, 2, 3, {literal}]]}}'):
        assert_client_error(http(raw=body), 400, phrase)
    assert scored == []


@pytest.mark.parametrize("literal", ["3.4028235e38", "-3.4028234663852886e38", "5e-324", "-0.0", "1" * 38])
def test_numbers_inside_float32_are_scored(scored, literal):
    response = http(raw=f'{{"data": [[{literal}, 1, 2, 3]]}}')
    assert response["statusCode"] == 200, response["body"]


def test_float32_range_matches_numpy():
    assert proxy.FLOAT32_MAX == float(numpy.finfo(numpy.float32).max)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_float32_check_agrees_with_numpys_cast(value):
    with numpy.errstate(over="ignore"):
        assert proxy._fits_float32(value) == bool(numpy.isfinite(numpy.float32(value)))


@pytest.mark.parametrize("event, status, phrase", [
    ({"body": base64.b64encode(b'{"data": "\xff\xfe"}').decode(), "isBase64Encoded": True}, 400, "not UTF-8"),
    ({"body": '{"data": "\ud800"}'}, 400, "not UTF-8"),  # a lone surrogate: not text API Gateway could send
    ({"body": {"data": "1,2,3,4"}}, 400, "not text"),
    ({"body": "x" * (6 * 1024 * 1024)}, 413, "at most 65536"),
    ({"body": base64.b64encode(b"x" * 65537).decode(), "isBase64Encoded": True}, 413, "65537 bytes"),
])
def test_unreadable_bodies(scored, event, status, phrase):
    assert_client_error(proxy.handler({"httpMethod": "POST", "headers": {}, **event}, None), status, phrase)


def test_a_body_of_exactly_the_limit_is_read(scored):
    body = '{"data": "5.1,3.5,1.4,0.2"}'
    body += " " * (web.MAX_BODY_BYTES - len(body))
    assert http(raw=body)["statusCode"] == 200
    assert_client_error(http(raw=body + " "), 413)


@pytest.mark.parametrize("payload", [
    {"data": ["x" * 60000, "1,2,3,4"]}, {"data": [["x" * 60000, 1, 2, 3]]}, {"data": [[[[[[["x" * 60000]]]]], 1, 2, 3]]},
    {"data": "1,2,3," + "9" * 60000}, {"data": [["1"] * 12000]}, {"data": [{"k" * 30000: 1}]}, {"data": [[10 ** 4000, 1, 2, 3]]},
])
def test_error_messages_stay_short_whatever_was_sent(scored, payload):
    assert_client_error(http(raw=json.dumps(payload)), 400)


json_scalars = (st.none() | st.booleans() | st.floats() | st.integers(min_value=-10 ** 500, max_value=10 ** 500)
                | st.text(max_size=30))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=40)
cells = (st.floats() | st.integers(min_value=-10 ** 400, max_value=10 ** 400) | st.booleans() | st.none()
         | st.text(max_size=12) | st.from_regex(r"-?[0-9]{1,45}(\.[0-9]{0,5})?(e-?[0-9]{1,3})?", fullmatch=True))
records = st.lists(cells, min_size=3, max_size=5) | st.lists(cells, min_size=3, max_size=5).map(lambda cs: ",".join(map(str, cs)))
payloads = (json_values | st.fixed_dictionaries({"data": json_values}) | st.fixed_dictionaries({"data": records})
            | st.fixed_dictionaries({"data": st.lists(records, max_size=4)}))
bodies = (payloads.map(json.dumps) | st.text(max_size=200) | st.builds(lambda n: "[" * n, st.integers(0, 70000))
          | st.builds(lambda n, tail: '{"data": ' + "[" * n + tail, st.integers(0, 3000), st.text(max_size=10)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=bodies, content_type=st.text(max_size=40), b64=st.booleans())
def test_no_body_gets_a_5xx(scored, body, content_type, b64):
    response = http(raw=body, b64=b64, headers={"Content-Type": content_type})
    assert response["statusCode"] in (200, 400, 413), response["body"][:300]
    assert len(response["body"]) <= MAX_ERROR_BODY or response["statusCode"] == 200


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
def test_no_bytes_get_a_5xx(scored, raw):
    response = proxy.handler({"httpMethod": "POST", "headers": {}, "body": base64.b64encode(raw).decode(), "isBase64Encoded": True}, None)
    assert response["statusCode"] in (200, 400, 413), response["body"][:300]
