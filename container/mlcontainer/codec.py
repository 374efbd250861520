"""Request bodies to float32 records, predictions to response bodies.

CSV: one record per line, features only (no label), comma-separated; a trailing newline and CRLF line
ends are fine. JSON: `{"instances": [[...], ...]}`, a bare list of records `[[...], ...]`, or one record
`[...]`. Every rejection is a `BadRequest` whose message names the line (or record) and column.

The CSV path is numpy's C `loadtxt` plus a line count and a finiteness check; only when that fails does
the slower diagnostic pass in Python run, to say exactly what was wrong.
"""

from __future__ import annotations

import io
import json
import math
from functools import lru_cache

import numpy as np

CSV = "text/csv"
JSON = "application/json"


class BadRequest(ValueError):
    """A request the client must fix; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@lru_cache(maxsize=64)
def media_type(header: str | None) -> str:
    """`text/csv; charset=utf-8` -> `text/csv`."""
    if not header:
        return ""
    return header.split(";", 1)[0].strip().lower()


_ACCEPT_CANDIDATES = {CSV: CSV, JSON: JSON, "text/*": CSV, "application/*": JSON}


@lru_cache(maxsize=64)
def response_type(accept: str | None, request_type: str) -> str | None:
    """The response media type for an Accept header: the supported type with the highest q.

    No Accept header, or `*/*`, answers in the request's own format. Among equal q values the first
    listed wins. None means that nothing the client accepts is supported (406).
    """
    best, best_q = None, 0.0
    for part in (accept or "*/*").split(","):
        kind, *params = part.split(";")
        kind = kind.strip().lower()
        candidate = request_type if kind in ("*/*", "*", "") else _ACCEPT_CANDIDATES.get(kind)
        if candidate is None:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = candidate, q
    return best


_FLOAT32_MAX = float(np.finfo(np.float32).max)
# However large the body, a message echoes little of it: values clipped, containers named by type only.
MAX_ECHO_CHARS = 40


def clip(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return repr(clip(text.strip()))


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "text", dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _describe_json(value: object) -> str:
    """A JSON value for a message, short whatever it is: a list or object is not rendered (it may be
    nested hundreds of levels deep, where json.dumps would recurse as deep)."""
    if isinstance(value, str):
        return repr(clip(value))
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return clip(json.dumps(value))


def _diagnose_csv(body: bytes, n_features: int) -> BadRequest:
    """Find the first problem in a CSV body that the fast parser rejected."""
    lines = body.strip().split(b"\n")
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip(b"\r")
        if not line.strip():
            return BadRequest(f"CSV line {number} is empty; send one record per line with no blank lines")
        fields = line.split(b",")
        if len(fields) != n_features:
            hint = " (send the features only, without the label)" if len(fields) == n_features + 1 else ""
            return BadRequest(
                f"wrong column count: CSV line {number} has {len(fields)} value{'s' if len(fields) != 1 else ''}, "
                f"the model expects {n_features} features per record{hint}"
            )
        for column, field in enumerate(fields, start=1):
            try:
                value = float(field)
            except ValueError:
                return BadRequest(f"non-numeric value: CSV line {number}, column {column} is {_describe(field)}; "
                                  f"every feature must be a number")
            if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
                return BadRequest(f"CSV line {number}, column {column} is {_describe(field)}: features must be "
                                  f"finite numbers within float32 range")
    return BadRequest("the CSV body could not be parsed as numbers")


def parse_csv(body: bytes, n_features: int) -> np.ndarray:
    text = body.strip()
    if text.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
        text = text[3:].lstrip()
    if not text:
        raise BadRequest("the request body is empty; send one or more CSV records")
    try:
        records = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.float64, ndmin=2, comments=None,
                             encoding="latin-1")
    except ValueError:
        raise _diagnose_csv(text, n_features) from None
    # loadtxt skips blank lines silently; a batch must map line for line to its answers.
    if records.shape[1] != n_features or records.shape[0] != text.count(b"\n") + 1:
        raise _diagnose_csv(text, n_features)
    return _finite_float32(records, lambda _: _diagnose_csv(text, n_features))


def _finite_float32(records: np.ndarray, diagnose) -> np.ndarray:
    """The records as float32 (what the tree compares), or `diagnose(as_float32)` raised if one overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        as_float32 = records.astype(np.float32)
    if not np.isfinite(as_float32).all():
        raise diagnose(as_float32)
    return as_float32


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_json(body: bytes, n_features: int) -> np.ndarray:
    if not body.strip():
        raise BadRequest("the request body is empty; send a JSON object {\"instances\": [[...], ...]}")
    try:
        # Whole numbers as floats (what the model compares): thousands of digits are "not finite", not
        # an error of Python's int conversion.
        document = json.loads(body, parse_int=float)
    except RecursionError:  # Python's parser recurses once per level; the body may nest 6 million deep
        raise BadRequest("the JSON body is nested too deeply; send {\"instances\": [[...], ...]}: a list of "
                         "records, each a list of numbers") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the body is not valid JSON: {clip(str(exc), 200)}") from None
    if isinstance(document, dict):
        if "instances" not in document:
            keys = ", ".join(repr(clip(key)) for key in list(document)[:5]) or "none"
            more = f" and {len(document) - 5} more" if len(document) > 5 else ""
            raise BadRequest(f"the JSON object has no \"instances\" key (keys: {keys}{more}); "
                             f"send {{\"instances\": [[...], ...]}}")
        document = document["instances"]
    if not isinstance(document, list) or not document:
        raise BadRequest("instances must be a non-empty list of records, each a list of numbers")
    if all(_is_number(v) for v in document):
        document = [document]  # a single record
    for number, record in enumerate(document, start=1):
        if not isinstance(record, list):
            raise BadRequest(f"record {number} is {_json_kind(record)}, not a list of {n_features} numbers")
        if len(record) != n_features:
            raise BadRequest(f"wrong column count: record {number} has {len(record)} values, the model expects "
                             f"{n_features} features per record")
        for column, value in enumerate(record, start=1):
            if not _is_number(value):
                raise BadRequest(f"non-numeric value: record {number}, column {column} is "
                                 f"{_describe_json(value)}; every feature must be a number")
            try:
                finite = math.isfinite(value)
            except OverflowError:  # an integer beyond float range
                finite = False
            if not finite:
                shown = "infinite (or beyond 64-bit floats)" if isinstance(value, float) and math.isinf(value) else _describe_json(value)
                raise BadRequest(f"record {number}, column {column} is {shown}: features must be finite numbers")
    records = np.asarray(document, dtype=np.float64)

    def diagnose(as_float32: np.ndarray) -> BadRequest:
        row, column = (int(i) for i in np.argwhere(~np.isfinite(as_float32))[0])
        return BadRequest(f"record {row + 1}, column {column + 1} is {_describe_json(records[row, column].item())}: "
                          f"outside float32 range (magnitude at most {_FLOAT32_MAX:.8g}); features must be finite numbers")

    return _finite_float32(records, diagnose)


PARSERS = {CSV: parse_csv, JSON: parse_json}


def unsupported_type(content_type: str) -> BadRequest:
    return BadRequest(f"unsupported content type {clip(content_type or '(none)')!r}; send text/csv or "
                      "application/json", status=415)


def encode(labels: list[bytes], indices: np.ndarray, accept: str, texts: tuple[str, ...]) -> bytes:
    """Predictions as CSV (one label per line) or JSON (`{"predictions": [...]}`)."""
    if accept == CSV:
        return b"\n".join([labels[i] for i in indices.tolist()]) + b"\n"
    return json.dumps({"predictions": [texts[i] for i in indices.tolist()]}).encode()
