"""Inference proxy: the inference API's Lambda in front of the stage's SageMaker endpoint.

The endpoint name comes from the ENDPOINT_NAME environment variable, never from the caller.
Accepted bodies (JSON, whatever the Content-Type header says):

    {"data": "5.1,3.5,1.4,0.2"}                          -> {"result": "setosa"}
    {"data": ["5.1,3.5,1.4,0.2", "6.2,3.4,5.4,2.3"]}     -> {"result": ["setosa", "virginica"]}
    {"data": [[5.1, 3.5, 1.4, 0.2], [6.2, 3.4, 5.4, 2.3]]} -> {"result": [...]}

At most MAX_RECORDS records per request. Bad input -> 400; model or endpoint trouble -> 502 / 503,
always with {"error": "<what went wrong and what is allowed>"}.
"""

from __future__ import annotations

import json
import math
import struct

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


def handler(event, context):
    if isinstance(event, dict) and "httpMethod" in event:
        return _http(event)
    # Direct invocation (e.g. the workflow's smoke test): named exceptions, no HTTP envelope.
    return {"result": predict(event)}


def _http(event: dict) -> dict:
    if str(event.get("httpMethod")).upper() != "POST":
        return web.json_response(405, {"error": "use POST with a JSON body such as {\"data\": \"5.1,3.5,1.4,0.2\"}"}, {"Allow": "POST"})
    try:
        try:
            payload = _json(web.body_text(event))
        except web.BadRequest as exc:
            return web.json_response(exc.status, {"error": str(exc)})
        return web.json_response(200, {"result": predict(payload)})
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


def _json(text: str) -> object:
    """The body as JSON. Whole numbers are read as floats (what the model compares), so a number with
    thousands of digits is "not finite" rather than an error of Python's int conversion."""
    try:
        if _nesting_exceeds(text, MAX_JSON_DEPTH):
            raise RecursionError
        return json.loads(text, parse_int=float)
    except RecursionError:  # too deep for the body's shape (or for Python's json, which recurses per level)
        raise InvalidInput('the JSON body is nested too deeply: "data" holds a CSV string, or a list of records '
                           "that are CSV strings or lists of numbers") from None
    except ValueError:
        raise InvalidInput('the body is not JSON; send {"data": "5.1,3.5,1.4,0.2"} or {"data": [...]}') from None


def predict(payload) -> object:
    """Score the records in `payload`; a single record gives a single prediction, a list gives a list."""
    feature_count = aws.int_env("FEATURE_COUNT", minimum=1)
    max_records = aws.int_env("MAX_RECORDS", minimum=1, default=DEFAULT_MAX_RECORDS)
    endpoint = aws.require_env("ENDPOINT_NAME")
    records, single = parse_records(payload, feature_count, max_records)
    predictions = _invoke(endpoint, records)
    return predictions[0] if single else predictions


def parse_records(payload, feature_count: int, max_records: int) -> tuple[list[list[float]], bool]:
    example = ",".join(["0.0"] * feature_count)
    if not isinstance(payload, dict) or "data" not in payload:
        raise InvalidInput(f'the body must be a JSON object with a "data" field, e.g. {{"data": "{example}"}}')
    data = payload["data"]
    if isinstance(data, str):
        return [_record(data, feature_count, None)], True
    if not isinstance(data, list):
        raise InvalidInput(f'"data" must be a CSV string ("{example}"), a list of CSV strings, or a list of lists of {feature_count} numbers')
    if not data:
        raise InvalidInput('"data" is an empty list: send at least one record')
    if len(data) > max_records:
        raise InvalidInput(f'"data" has {len(data)} records; at most {max_records} are accepted per request')
    if all(_is_number(item) for item in data):
        raise InvalidInput(f'"data" is a flat list of numbers; send one record as a string ("{example}") or records as a list of lists ([[{example}]])')
    return [_record(item, feature_count, index) for index, item in enumerate(data)], False


def _record(item, feature_count: int, index: int | None) -> list[float]:
    where = "the record" if index is None else f"record {index}"
    if isinstance(item, str):
        if "\n" in item.strip() or "\r" in item.strip():
            raise InvalidInput(f"{where} contains a line break: send one record per string and several records as a list")
        cells = item.split(",")
    elif isinstance(item, list):
        cells = item
    else:
        raise InvalidInput(f"{where} must be a CSV string or a list of numbers, not {type(item).__name__}")
    if len(cells) != feature_count:
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


def _invoke(endpoint: str, records: list[list[float]]) -> list:
    body = "\n".join(",".join(repr(value) for value in record) for record in records)
    runtime = aws.client("sagemaker-runtime", RUNTIME_CONFIG)
    try:
        response = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="application/json", Body=body.encode())
    except ClientError as exc:
        code = aws.error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))
        log.warning("endpoint call failed", endpointName=endpoint, error=code, records=len(records))
        if code == "ValidationException" and "not found" in message.lower():
            raise EndpointUnavailable("no model is deployed on this stage's endpoint yet; try again after the training workflow deploys one") from None
        if code in UNAVAILABLE_CODES:
            raise EndpointUnavailable("the model endpoint is busy or not ready; try again shortly") from None
        if code == "ModelError":
            status = exc.response.get("OriginalStatusCode")
            raise EndpointError(f"the model could not score this input{f' (model status {status})' if status else ''}") from None
        raise EndpointError(f"the model endpoint refused the call ({code})") from None
    except (ReadTimeoutError, BotoConnectionError) as exc:
        log.warning("endpoint unreachable", endpointName=endpoint, error=type(exc).__name__)
        raise EndpointUnavailable("the model endpoint did not answer in time; try again shortly") from None
    except BotoCoreError as exc:
        log.warning("endpoint call failed", endpointName=endpoint, error=type(exc).__name__)
        raise EndpointUnavailable("the model endpoint could not be reached; try again shortly") from None

    raw = response["Body"].read()
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
