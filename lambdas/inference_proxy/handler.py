"""Inference proxy: the inference API's Lambda in front of the stage's SageMaker endpoints.

``POST /predict`` scores records on the stack's trained model, whose endpoint comes from the
ENDPOINT_NAME environment variable, never from the caller. Accepted bodies (JSON, whatever the
Content-Type header says):

    {"data": "5.1,3.5,1.4,0.2"}                          -> {"result": "setosa"}
    {"data": ["5.1,3.5,1.4,0.2", "6.2,3.4,5.4,2.3"]}     -> {"result": ["setosa", "virginica"]}
    {"data": [[5.1, 3.5, 1.4, 0.2], [6.2, 3.4, 5.4, 2.3]]} -> {"result": [...]}

``POST /models/<model_name>/predict`` scores on a real-time catalog entry's endpoint: MODELS (JSON,
``{"<model_name>": {"endpoint", "contentType", "accept"}}``) says which, and what the model reads and
answers. The body is the same envelope, ``{"data": ...}``; what ``data`` holds follows the model's
content type (``text/csv``: records as above, of any but equal length; JSON: any JSON value, sent as it
is; anything else: one string). The answer is ``{"result": ...}``: the model's JSON for a JSON accept
type, else its text.

At most MAX_RECORDS records per request. Bad input -> 400 (404 for a model not served here); model or
endpoint trouble -> 502 / 503, always with {"error": "<what went wrong and what is allowed>"}.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from dataclasses import dataclass

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError as BotoConnectionError, ReadTimeoutError

from common import aws, web
from common.logs import get_logger

log = get_logger("inference_proxy")

DEFAULT_MAX_RECORDS = 100
# API Gateway REST integrations time out after 29 s: answer before that, retry once on throttling.
RUNTIME_CONFIG = Config(connect_timeout=2, read_timeout=20, retries={"mode": "standard", "max_attempts": 2})
UNAVAILABLE_CODES = {
    "ModelNotReadyException", "ServiceUnavailable", "ServiceUnavailableException", "ThrottlingException",
    "InternalFailure", "InternalDependencyException", "InternalServerError",
}


class InvalidInput(ValueError):
    """The request does not carry records the model can score; the message says what is allowed."""


class EndpointUnavailable(RuntimeError):
    """The endpoint is missing, not ready, throttled or too slow; trying again later may work."""


class EndpointError(RuntimeError):
    """The endpoint answered with an error or with something that is not a prediction per record."""


class NotServed(LookupError):
    """The request names a path or a model this API does not serve (404)."""


@dataclass(frozen=True)
class CatalogModel:
    """A real-time catalog entry: its endpoint and the media types it reads and answers."""

    name: str
    endpoint: str
    content_type: str
    accept: str


MODELS_VARIABLE = "MODELS"
MODEL_RESOURCE = re.compile(r"/models/([^/]+)/predict")
TRAINED_RESOURCES = ("/predict", "")


def handler(event, context):
    if isinstance(event, dict) and "httpMethod" in event:
        return _http(event)
    # Direct invocation (e.g. the workflow's smoke test): named exceptions, no HTTP envelope.
    return {"result": predict(event)}


def _http(event: dict) -> dict:
    if str(event.get("httpMethod")).upper() != "POST":
        return web.json_response(405, {"error": "use POST with a JSON body such as {\"data\": \"5.1,3.5,1.4,0.2\"}"}, {"Allow": "POST"})
    try:
        model = _route(event)
        try:
            text = web.body_text(event)
        except web.BadRequest as exc:
            return web.json_response(exc.status, {"error": str(exc)})
        if model is None:
            return web.json_response(200, {"result": predict(_json(text))})
        return web.json_response(200, {"result": predict_model(model, _json(text, exact=_kind(model.content_type) == "json"))})
    except NotServed as exc:
        return web.json_response(404, {"error": str(exc)})
    except InvalidInput as exc:
        return web.json_response(400, {"error": str(exc)})
    except EndpointUnavailable as exc:
        return web.json_response(503, {"error": str(exc)}, {"Retry-After": "30"})
    except EndpointError as exc:
        return web.json_response(502, {"error": str(exc)})


MAX_JSON_DEPTH = 8
"""A valid body nests 3 levels ({"data": [[...]]}); deeper is refused before parsing, whatever Python's
recursion limit happens to be in the process."""


def _nesting_exceeds(text: str, limit: int) -> bool:
    """Do arrays and objects nest deeper than `limit`, counting brackets outside strings? (Linear, no recursion.)"""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _json(text: str, exact: bool = False) -> object:
    """The body as JSON. Whole numbers are read as floats (what the model compares), so a number with
    thousands of digits is "not finite" rather than an error of Python's int conversion; ``exact`` (a body
    passed on to a JSON model as it is) keeps whole numbers of up to 18 digits whole."""
    try:
        if _nesting_exceeds(text, MAX_JSON_DEPTH):
            raise RecursionError
        return json.loads(text, parse_int=_exact_int if exact else float)
    except RecursionError:  # too deep for the body's shape (or for Python's json, which recurses per level)
        raise InvalidInput('the JSON body is nested too deeply: "data" holds a CSV string, or a list of records '
                           "that are CSV strings or lists of numbers") from None
    except ValueError:
        raise InvalidInput('the body is not JSON; send {"data": "5.1,3.5,1.4,0.2"} or {"data": [...]}') from None


def _exact_int(digits: str) -> int | float:
    return int(digits) if len(digits.lstrip("-")) <= 18 else float(digits)


def predict(payload) -> object:
    """Score the records in `payload`; a single record gives a single prediction, a list gives a list."""
    feature_count = aws.int_env("FEATURE_COUNT", minimum=1)
    max_records = aws.int_env("MAX_RECORDS", minimum=1, default=DEFAULT_MAX_RECORDS)
    endpoint = aws.require_env("ENDPOINT_NAME")
    records, single = parse_records(payload, feature_count, max_records)
    predictions = _invoke(endpoint, records)
    return predictions[0] if single else predictions


# --- catalog models -----------------------------------------------------------------------------


def catalog_models() -> dict[str, CatalogModel]:
    """The MODELS map (empty where the stack serves no catalog model); malformed is a deployment error."""
    raw = os.environ.get(MODELS_VARIABLE, "").strip() or "{}"
    try:
        return {name: CatalogModel(name, str(spec["endpoint"]), str(spec["contentType"]), str(spec["accept"]))
                for name, spec in json.loads(raw).items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        raise aws.ConfigurationError(f"environment variable {MODELS_VARIABLE} is not a map of model names to "
                                     '{"endpoint", "contentType", "accept"}; the function\'s deployment sets it') from None


def _route(event: dict) -> CatalogModel | None:
    """The catalog model the request's resource names; None: the trained model (``/predict``)."""
    resource = str(event.get("resource") or "")
    if resource in TRAINED_RESOURCES:
        return None
    match = MODEL_RESOURCE.fullmatch(resource)
    if not match:
        raise NotServed(f"{web.describe(resource)} is not a route of this API: POST /predict or "
                        "/models/<model_name>/predict")
    models = catalog_models()
    name = match.group(1)
    if name not in models:
        served = ", ".join(sorted(models)) or "none"
        raise NotServed(f"no model named {web.describe(name)} is served here (models: {served})")
    return models[name]


def _kind(media_type: str) -> str:
    """``csv``, ``json`` or ``text``: how a body for this media type is built, or an answer read."""
    base = media_type.split(";")[0].strip().lower()
    if base == "text/csv":
        return "csv"
    if base == "application/json" or base.endswith("+json"):
        return "json"
    return "text"


def predict_model(model: CatalogModel, payload) -> object:
    """Score `payload` on a catalog model: the body its content type takes, the answer its accept type gives."""
    kind = _kind(model.content_type)
    if not isinstance(payload, dict) or "data" not in payload:
        raise InvalidInput(f'the body must be a JSON object with a "data" field; {model.name} reads {model.content_type}'
                           + (', e.g. {"data": "5.1,3.5,1.4,0.2"}' if kind == "csv" else ""))
    data = payload["data"]
    if kind == "csv":
        max_records = aws.int_env("MAX_RECORDS", minimum=1, default=DEFAULT_MAX_RECORDS)
        records, _ = parse_records(payload, None, max_records)
        body, count = _csv(records), len(records)
    elif kind == "json":
        if data is None:
            raise InvalidInput(f'"data" is null; {model.name} reads {model.content_type}: send the JSON it expects')
        _check_finite(data)
        body, count = json.dumps(data, allow_nan=False), 1
    else:
        if not isinstance(data, str) or not data:
            raise InvalidInput(f'"data" must be a non-empty string: {model.name} reads {model.content_type}, '
                               "sent as UTF-8 text")
        body, count = data, 1
    raw = _call(model.endpoint, body.encode(), model.content_type, model.accept, records=count, catalog=model.name)
    return _answer(raw, model)


def _check_finite(value) -> None:
    """Refuse NaN and infinities (JSON has neither: a model could not read them). Depth is bounded by
    MAX_JSON_DEPTH, size by the body limit."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise InvalidInput('"data" holds a number that is not finite (NaN, infinity, or beyond 64-bit floats)')
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _refuse_constant(name: str):
    raise ValueError(name)


def _answer(raw: bytes, model: CatalogModel) -> object:
    if _kind(model.accept) == "json":
        try:
            return json.loads(raw, parse_constant=_refuse_constant)
        except ValueError:
            log.error("unexpected endpoint answer", endpointName=model.endpoint, bytes=len(raw))
            raise EndpointError(f"the model {model.name} answered with something that is not JSON "
                                f"(it is asked for {model.accept})") from None
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        log.error("unexpected endpoint answer", endpointName=model.endpoint, bytes=len(raw))
        raise EndpointError(f"the model {model.name} answered with bytes that are not UTF-8 text "
                            f"(it is asked for {model.accept})") from None


# --- records (text/csv) -------------------------------------------------------------------------


def parse_records(payload, feature_count: int | None, max_records: int) -> tuple[list[list[float]], bool]:
    """The records of `payload`, each a list of finite numbers; `feature_count` None (a catalog model,
    whose feature count is unknown): any count, the same for every record of the request."""
    example = ",".join(["0.0"] * feature_count) if feature_count else "5.1,3.5,1.4,0.2"
    shape = f"lists of {feature_count} numbers" if feature_count else "lists of numbers"
    if not isinstance(payload, dict) or "data" not in payload:
        raise InvalidInput(f'the body must be a JSON object with a "data" field, e.g. {{"data": "{example}"}}')
    data = payload["data"]
    if isinstance(data, str):
        return [_record(data, feature_count, None)], True
    if not isinstance(data, list):
        raise InvalidInput(f'"data" must be a CSV string ("{example}"), a list of CSV strings, or a list of {shape}')
    if not data:
        raise InvalidInput('"data" is an empty list: send at least one record')
    if len(data) > max_records:
        raise InvalidInput(f'"data" has {len(data)} records; at most {max_records} are accepted per request')
    if all(_is_number(item) for item in data):
        raise InvalidInput(f'"data" is a flat list of numbers; send one record as a string ("{example}") or records as a list of lists ([[{example}]])')
    if feature_count:
        return [_record(item, feature_count, index) for index, item in enumerate(data)], False
    records = [_record(data[0], None, 0)]
    for index, item in enumerate(data[1:], start=1):
        records.append(_record(item, len(records[0]), index, same_as_first=True))
    return records, False


def _record(item, feature_count: int | None, index: int | None, same_as_first: bool = False) -> list[float]:
    where = "the record" if index is None else f"record {index}"
    if isinstance(item, str):
        if "\n" in item.strip() or "\r" in item.strip():
            raise InvalidInput(f"{where} contains a line break: send one record per string and several records as a list")
        cells = item.split(",")
    elif isinstance(item, list):
        cells = item
    else:
        raise InvalidInput(f"{where} must be a CSV string or a list of numbers, not {type(item).__name__}")
    if feature_count is not None and len(cells) != feature_count:
        if same_as_first:
            raise InvalidInput(f"{where} has {len(cells)} value(s) and record 0 has {feature_count}: every record of "
                               "a request has the same number of values")
        raise InvalidInput(f"{where} has {len(cells)} value(s); the model expects exactly {feature_count} numeric features")
    values = []
    for position, cell in enumerate(cells):
        value = _to_float(cell)
        if value is None:
            got = "infinite (or beyond 64-bit floats)" if isinstance(cell, float) and math.isinf(cell) else web.describe(cell)
            raise InvalidInput(f"{where}, value {position}: {got} is not a finite number")
        if not _fits_float32(value):
            raise InvalidInput(f"{where}, value {position}: {web.describe(cell)} is outside the model's range "
                               f"(32-bit floats: magnitude at most {FLOAT32_MAX:.7g})")
        values.append(value)
    return values


# The model compares features as 32-bit floats: a larger magnitude would become infinity there.
FLOAT32_MAX = struct.unpack("<f", bytes.fromhex("ffff7f7f"))[0]


def _fits_float32(value: float) -> bool:
    try:
        struct.pack("<f", value)  # rounds like numpy's float32 cast; OverflowError where that gives inf
    except OverflowError:
        return False
    return True


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _to_float(cell) -> float | None:
    if isinstance(cell, bool):
        return None
    if isinstance(cell, (int, float)):
        try:
            value = float(cell)
        except OverflowError:  # a whole number beyond float64 (direct invocation: ints stay ints)
            return None
    elif isinstance(cell, str) and cell.strip():
        try:
            value = float(cell.strip())
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) else None


def _csv(records: list[list[float]]) -> str:
    return "\n".join(",".join(repr(value) for value in record) for record in records)


def _invoke(endpoint: str, records: list[list[float]]) -> list:
    raw = _call(endpoint, _csv(records).encode(), "text/csv", "application/json", records=len(records))
    try:
        predictions = json.loads(raw)["predictions"]
    except (ValueError, KeyError, TypeError):
        log.error("unexpected endpoint answer", endpointName=endpoint, bytes=len(raw))
        raise EndpointError('the model answered without a "predictions" list') from None
    if not isinstance(predictions, list) or len(predictions) != len(records):
        log.error("prediction count mismatch", endpointName=endpoint, records=len(records))
        raise EndpointError(f"the model answered {len(predictions) if isinstance(predictions, list) else 'no'} prediction(s) for {len(records)} record(s)")
    log.info("scored", endpointName=endpoint, records=len(records))
    return predictions


def _call(endpoint: str, body: bytes, content_type: str, accept: str, *, records: int, catalog: str | None = None) -> bytes:
    """InvokeEndpoint; its errors as EndpointUnavailable / EndpointError (a catalog model's refusal of the
    input, a 4xx ModelError, as InvalidInput: only the model knows what it reads)."""
    runtime = aws.client("sagemaker-runtime", RUNTIME_CONFIG)
    try:
        response = runtime.invoke_endpoint(EndpointName=endpoint, ContentType=content_type, Accept=accept, Body=body)
    except ClientError as exc:
        code = aws.error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))
        log.warning("endpoint call failed", endpointName=endpoint, error=code, records=records)
        if code == "ValidationException" and "not found" in message.lower():
            if catalog:
                raise EndpointUnavailable(f"the endpoint of model {catalog} does not exist yet; try again once the "
                                          "stack's deployment has created it") from None
            raise EndpointUnavailable("no model is deployed on this stage's endpoint yet; try again after the training workflow deploys one") from None
        if code in UNAVAILABLE_CODES:
            raise EndpointUnavailable("the model endpoint is busy or not ready; try again shortly") from None
        if code == "ModelError":
            status = exc.response.get("OriginalStatusCode")
            if catalog and isinstance(status, int) and 400 <= status < 500:
                raise InvalidInput(f"the model {catalog} refused this input (model status {status}): send what it "
                                   f"expects as {content_type}") from None
            raise EndpointError(f"the model could not score this input{f' (model status {status})' if status else ''}") from None
        raise EndpointError(f"the model endpoint refused the call ({code})") from None
    except (ReadTimeoutError, BotoConnectionError) as exc:
        log.warning("endpoint unreachable", endpointName=endpoint, error=type(exc).__name__)
        raise EndpointUnavailable("the model endpoint did not answer in time; try again shortly") from None
    except BotoCoreError as exc:
        log.warning("endpoint call failed", endpointName=endpoint, error=type(exc).__name__)
        raise EndpointUnavailable("the model endpoint could not be reached; try again shortly") from None

    raw = response["Body"].read()
    if catalog:
        log.info("scored", endpointName=endpoint, model=catalog, records=records)
    return raw
