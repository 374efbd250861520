"""The inference proxy's catalog routes, POST /models/<model_name>/predict, against moto's sagemaker-runtime.

MODELS (set by the InferenceApi component) maps each real-time catalog entry to its endpoint and media
types; the resource of the API Gateway event says which model is asked. Same envelope and the same
discipline as POST /predict (4xx with a reason for any client mistake, never a 5xx), without a feature
count: only the model knows it.
"""

import base64
import json

import pytest
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common import aws
from inference_proxy import handler as proxy
from tests.lambdas.test_inference_proxy import ENDPOINT, MAX_ERROR_BODY, answer, body_of, bodies, calls, runtime  # noqa: F401

MODELS = {
    "iris-tree": {"endpoint": "iris-tree-dev", "contentType": "text/csv", "accept": "text/csv"},
    "iris-json": {"endpoint": "mlops-dev-byom-iris-json-endpoint", "contentType": "application/json",
                  "accept": "application/json"},
    "iris-text": {"endpoint": "mlops-dev-byom-iris-text-endpoint", "contentType": "text/plain", "accept": "text/plain"},
}


@pytest.fixture(autouse=True)
def env(monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("FEATURE_COUNT", "4")
    monkeypatch.setenv("MODELS", json.dumps(MODELS))


def post(model, payload=None, raw=None, b64=False, resource=None):
    body = raw if raw is not None else json.dumps(payload)
    if b64:
        body = base64.b64encode(body.encode()).decode()
    resource = resource or f"/models/{model}/predict"
    return proxy.handler({"httpMethod": "POST", "resource": resource, "path": resource, "headers": {},
                          "body": body, "isBase64Encoded": b64}, None)


def queue(body, content_type="text/csv"):
    from moto.sagemakerruntime.models import sagemakerruntime_backends

    from tests.lambdas.conftest import ACCOUNT, REGION

    sagemakerruntime_backends[ACCOUNT][REGION].results_queue.append((body, content_type, "AllTraffic", ""))


# --- good requests ---------------------------------------------------------------------------------


def test_csv_model_gets_the_records_with_its_media_types_and_answers_text(calls):
    queue("0.98\n0.01\n")
    response = post("iris-tree", {"data": ["5.1,3.5,1.4,0.2", [6.2, 3.4, 5.4, 2.3]]})
    assert response["statusCode"] == 200, response["body"]
    assert body_of(response) == {"result": "0.98\n0.01"}
    [call] = calls
    assert call["EndpointName"] == "iris-tree-dev"
    assert (call["ContentType"], call["Accept"]) == ("text/csv", "text/csv")
    assert call["Body"] == b"5.1,3.5,1.4,0.2\n6.2,3.4,5.4,2.3"


def test_any_feature_count_is_passed_on_the_model_knows_its_own(calls):
    queue("1")
    assert post("iris-tree", {"data": "1,2,3"})["statusCode"] == 200
    queue("1")
    assert post("iris-tree", {"data": [[1, 2, 3, 4, 5, 6]]})["statusCode"] == 200
    assert [c["Body"] for c in calls] == [b"1.0,2.0,3.0", b"1.0,2.0,3.0,4.0,5.0,6.0"]


def test_json_model_gets_data_as_it_is_and_answers_json(calls):
    queue(json.dumps({"predictions": [{"score": 0.9, "predicted_label": 1}]}), "application/json")
    data = {"instances": [{"features": [5.1, 3.5, 1.4, 0.2]}], "k": 3}
    response = post("iris-json", {"data": data})
    assert body_of(response) == {"result": {"predictions": [{"score": 0.9, "predicted_label": 1}]}}
    [call] = calls
    assert (call["EndpointName"], call["ContentType"], call["Accept"]) == (
        "mlops-dev-byom-iris-json-endpoint", "application/json", "application/json")
    assert json.loads(call["Body"]) == data
    assert b'"k": 3' in call["Body"]  # whole numbers stay whole for a JSON model


def test_other_media_types_take_one_string(calls):
    queue("setosa", "text/plain")
    response = post("iris-text", {"data": "sepal 5.1\npetal 1.4"})
    assert body_of(response) == {"result": "setosa"}
    assert calls[0]["Body"] == b"sepal 5.1\npetal 1.4" and calls[0]["ContentType"] == "text/plain"


def test_the_trained_model_keeps_its_route_and_its_feature_count(calls):
    answer(["setosa"])
    response = post(None, {"data": "5.1,3.5,1.4,0.2"}, resource="/predict")
    assert body_of(response) == {"result": "setosa"}
    assert calls[0]["EndpointName"] == ENDPOINT
    response = post(None, {"data": "5.1,3.5,1.4"}, resource="/predict")
    assert response["statusCode"] == 400 and "the model expects exactly 4" in body_of(response)["error"]


def test_a_stack_without_catalog_models_serves_the_trained_model_only(monkeypatch, calls):
    monkeypatch.delenv("MODELS")
    response = post("iris-tree", {"data": "1,2,3,4"})
    assert response["statusCode"] == 404
    assert body_of(response)["error"] == "no model named 'iris-tree' is served here (models: none)"


# --- client mistakes: 4xx with the reason, the endpoint never called ------------------------------------

NOT_SERVED = [
    ("iris-forest", None, "no model named 'iris-forest' is served here (models: iris-json, iris-text, iris-tree)"),
    (None, "/models/iris-tree/explain", "'/models/iris-tree/explain' is not a route of this API"),
    (None, "/models//predict", "is not a route of this API"),
]


@pytest.mark.parametrize("model, resource, phrase", NOT_SERVED)
def test_unknown_models_and_routes_are_404(calls, model, resource, phrase):
    response = post(model, {"data": "1,2,3,4"}, resource=resource)
    assert response["statusCode"] == 404
    assert phrase in body_of(response)["error"]
    assert calls == []


BAD_BODIES = [
    ("iris-tree", {}, 'a "data" field; iris-tree reads text/csv'),
    ("iris-tree", ["1,2"], 'a "data" field'),
    ("iris-tree", {"data": None}, '"data" must be a CSV string'),
    ("iris-tree", {"data": []}, "empty list"),
    ("iris-tree", {"data": [1, 2, 3]}, "flat list of numbers"),
    ("iris-tree", {"data": ["1,2,3", "1,2"]}, "record 1 has 2 value(s) and record 0 has 3: every record of a request"),
    ("iris-tree", {"data": "1,x,3"}, "value 1: 'x' is not a finite number"),
    ("iris-tree", {"data": "1,2\n3,4"}, "line break"),
    ("iris-tree", {"data": [[1e39, 1]]}, "outside the model's range"),
    ("iris-tree", {"data": ["1,2"] * 101}, "101 records; at most 100"),
    ("iris-json", {"data": None}, '"data" is null; iris-json reads application/json'),
    ("iris-json", {"value": 1}, 'a "data" field; iris-json reads application/json'),
    ("iris-text", {"data": ["a"]}, '"data" must be a non-empty string: iris-text reads text/plain'),
    ("iris-text", {"data": ""}, "non-empty string"),
]


@pytest.mark.parametrize("model, payload, phrase", BAD_BODIES)
def test_bad_bodies_are_400_with_a_reason(calls, model, payload, phrase):
    response = post(model, payload)
    assert response["statusCode"] == 400, response["body"]
    assert phrase in body_of(response)["error"]
    assert calls == []


@pytest.mark.parametrize("raw", ['{"data": [NaN]}', '{"data": {"x": Infinity}}', '{"data": [1e400]}',
                                 '{"data": [' + "1" * 500 + "]}"])
def test_json_models_never_get_numbers_json_cannot_hold(calls, raw):
    response = post("iris-json", raw=raw)
    assert response["statusCode"] == 400 and "not finite" in body_of(response)["error"]
    assert calls == []


@pytest.mark.parametrize("raw, status, phrase", [
    ("{not json", 400, "not JSON"), ("", 400, "not JSON"), ("x" * 70000, 413, "at most"),
    ('{"data": ' + "[" * 50 + "]" * 50 + "}", 400, "nested too deeply"),
])
def test_unreadable_bodies_are_4xx_on_every_model(calls, raw, status, phrase):
    for model in MODELS:
        response = post(model, raw=raw)
        assert response["statusCode"] == status and phrase in body_of(response)["error"]
    assert calls == []


def test_a_model_refusing_the_input_is_the_clients_mistake_its_failure_is_not(runtime):
    with Stubber(runtime) as stub:
        for status in (415, 500):
            stub.add_client_error("invoke_endpoint", service_error_code="ModelError", service_message="boom",
                                  http_status_code=424, modeled_fields={"OriginalStatusCode": status})
        refused, failed = post("iris-tree", {"data": "1,2"}), post("iris-tree", {"data": "1,2"})
    assert refused["statusCode"] == 400
    assert body_of(refused)["error"] == ("the model iris-tree refused this input (model status 415): send what it "
                                         "expects as text/csv")
    assert failed["statusCode"] == 502 and "boom" not in failed["body"]


def test_a_missing_catalog_endpoint_is_503_naming_the_model(runtime):
    with Stubber(runtime) as stub:
        stub.add_client_error("invoke_endpoint", service_error_code="ValidationException", http_status_code=400,
                              service_message="Endpoint iris-tree-dev of account 123456789012 not found.")
        response = post("iris-tree", {"data": "1,2"})
    assert response["statusCode"] == 503 and response["headers"]["Retry-After"] == "30"
    assert "the endpoint of model iris-tree does not exist yet" in body_of(response)["error"]


@pytest.mark.parametrize("model, raw, phrase", [
    ("iris-json", b"setosa", "not JSON (it is asked for application/json)"),
    ("iris-json", b'{"score": NaN}', "not JSON"),
    ("iris-tree", b"\xff\xfe", "not UTF-8 text (it is asked for text/csv)"),
])
def test_answers_the_model_was_not_asked_for_are_502(monkeypatch, model, raw, phrase):
    monkeypatch.setattr(proxy, "_call", lambda *args, **kwargs: raw)
    response = post(model, {"data": "1,2" if model == "iris-tree" else {"a": 1}})
    assert response["statusCode"] == 502 and phrase in body_of(response)["error"]


@pytest.mark.parametrize("value", ["not json", "[]", '{"iris-tree": {"endpoint": "e"}}', '{"iris-tree": 5}'])
def test_a_malformed_models_setting_is_a_deployment_error(monkeypatch, value):
    monkeypatch.setenv("MODELS", value)
    with pytest.raises(aws.ConfigurationError, match="MODELS is not a map of model names"):
        post("iris-tree", {"data": "1,2"})


# --- whatever is sent: a 4xx or a 200, never a 5xx --------------------------------------------------


@pytest.fixture
def sent(monkeypatch):
    """Bodies that reached the endpoint call; it answers what each model's accept type asks for."""
    seen = []

    def fake_call(endpoint, body, content_type, accept, **_):
        assert isinstance(body, bytes)
        if content_type == "application/json":
            json.loads(body)  # the model always gets valid JSON
        seen.append(body)
        return b'{"ok": true}' if accept == "application/json" else b"ok"

    monkeypatch.setattr(proxy, "_call", fake_call)
    return seen


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=bodies, model=st.sampled_from(sorted(MODELS)), b64=st.booleans())
def test_no_body_gets_a_5xx_on_any_model(sent, body, model, b64):
    response = post(model, raw=body, b64=b64)
    assert response["statusCode"] in (200, 400, 413), response["body"][:300]
    assert len(response["body"]) <= MAX_ERROR_BODY or response["statusCode"] == 200
