"""`/invocations` under hostile and unlucky input: a 4xx with a short reason, never a 5xx.

Two ways in, both the real code: the ASGI app `serve` runs, called in-process (fast enough for
hypothesis to try thousands of bodies, headers and paths), and `container/serve` itself over HTTP for
the explicit cases (any nesting depth up to the 6 MiB limit, numbers beyond float64 and float32, bytes
that are not UTF-8, content types, sizes around the limit).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlcontainer.app import InferenceApp

from .conftest import Server

pytestmark = pytest.mark.slow

LIMIT = 6 * 1024 * 1024
MAX_ERROR_BYTES = 400  # an error answer is one short line, whatever was sent
CLIENT_ERRORS = {400, 404, 405, 406, 413, 415}


# --- in-process: the ASGI app with the trained sample model --------------------------------------------


@pytest.fixture(scope="module")
def app(trained_model: Path) -> InferenceApp:
    return InferenceApp(trained_model, LIMIT)


def call(app: InferenceApp, body: bytes, headers: dict[bytes, bytes], method: str = "POST",
         path: str = "/invocations", chunks: int = 1) -> tuple[int, bytes]:
    """One request through the app as gunicorn's asgi worker drives it; (status, body)."""
    size = max(1, -(-len(body) // chunks))
    pieces = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
    messages = [{"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1} for i, piece in enumerate(pieces)]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": list(headers.items())}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], sent[1]["body"]


def assert_answered(status: int, body: bytes) -> None:
    assert status == 200 or status in CLIENT_ERRORS, (status, body[:300])
    if status != 200:
        assert len(body) <= MAX_ERROR_BYTES, body[:300]


json_scalars = (st.none() | st.booleans() | st.floats() | st.integers(min_value=-10 ** 500, max_value=10 ** 500)
                | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=40)
numbers = st.from_regex(r"[-+]?([0-9]{1,45}|[0-9]*\.[0-9]{1,10})([eE][-+]?[0-9]{1,4})?|[-+]?(nan|NaN|inf|Infinity)", fullmatch=True)
csv_lines = st.lists(numbers | st.text(max_size=6), min_size=1, max_size=6).map(",".join)
csv_bodies = st.lists(csv_lines, min_size=1, max_size=5).map("\n".join).map(str.encode)
json_bodies = (json_values | st.fixed_dictionaries({"instances": json_values})
               | st.fixed_dictionaries({"instances": st.lists(st.lists(json_scalars | numbers.map(float), min_size=3, max_size=5), max_size=4)})
               ).map(lambda doc: json.dumps(doc).encode())
deep = st.integers(0, 200_000).map(lambda n: b"[" * n) | st.integers(0, 5_000).map(lambda n: b'{"instances": [[' + b"[" * n + b"1" + b"]" * n)
bodies = csv_bodies | json_bodies | deep | st.binary(max_size=400)
content_types = st.sampled_from([b"text/csv", b"application/json", b"text/csv; charset=utf-8", b"Application/JSON"]) | st.binary(max_size=60)
accepts = st.none() | st.sampled_from([b"*/*", b"application/json", b"text/csv", b"text/csv;q=0"]) | st.binary(max_size=60)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, content_type=content_types, accept=accepts, chunks=st.integers(1, 3))
def test_no_body_gets_a_5xx(app, body, content_type, accept, chunks):
    headers = {b"content-type": content_type, **({b"accept": accept} if accept is not None else {})}
    status, answer = call(app, body, headers, chunks=chunks)
    assert_answered(status, answer)
    if status == 200 and content_type.split(b";")[0].strip().lower() == b"text/csv" and accept in (None, b"text/csv"):
        assert answer.count(b"\n") == body.strip().count(b"\n") + 1  # one label per record


@settings(max_examples=300, deadline=None)
@given(method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE"]), path=st.text(max_size=5000),
       length=st.none() | st.binary(max_size=30))
def test_no_method_path_or_length_gets_a_5xx(app, method, path, length):
    headers = {b"content-type": b"text/csv", **({b"content-length": length} if length is not None else {})}
    assert_answered(*call(app, b"5.1,3.5,1.4,0.2", headers, method=method, path=path))


@settings(max_examples=300, deadline=None)
@given(value=st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-10 ** 400, max_value=10 ** 400))
def test_any_number_is_scored_or_refused_as_out_of_range(app, value):
    """Inside float32 a number is scored; beyond it, or beyond float64, or not a number: a 400 that says so."""
    literal = json.dumps(value)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            fits = bool(np.isfinite(np.float32(float(value))))
    except OverflowError:  # an integer beyond float64
        fits = False
    for content_type, body in ((b"text/csv", f"{literal},1,1,1"), (b"application/json", f"[[{literal}, 1, 1, 1]]")):
        status, answer = call(app, body.encode(), {b"content-type": content_type})
        if fits:
            assert status == 200, answer
        else:
            assert status == 400 and (b"finite" in answer or b"float32" in answer), answer


# --- through the real server -----------------------------------------------------------------------


def assert_refused(response, status: int, *phrases: str) -> None:
    assert response.status == status, (response.status, response.body[:300])
    assert len(response.body) <= MAX_ERROR_BYTES, response.body[:300]
    for phrase in phrases:
        assert phrase in response.text, response.text


@pytest.mark.parametrize("body", [
    b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b"[" * (LIMIT - 1),
    b'{"instances": ' + b"[" * 1_000_000, b'{"instances": [[' + b"[" * 900 + b"1" + b"]" * 900 + b", 1, 1, 1]]}",
])
def test_any_nesting_depth_is_a_400(server: Server, body: bytes):
    response = server.post(body, content_type="application/json", timeout=60)
    assert_refused(response, 400)
    assert b"nested too deeply" in response.body or b"non-numeric value" in response.body
    assert server.post("5.1,3.5,1.4,0.2").text == "setosa\n"


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" * 400, "1" * 5000, "1e39",
                                     "-3.4028236e38"])
def test_numbers_beyond_float64_or_float32_are_400(server: Server, literal: str):
    assert_refused(server.post(f"[[{literal}, 1, 1, 1]]", content_type="application/json"), 400, "record 1, column 1")
    assert_refused(server.post(f"1,1,1,{literal}\n"), 400, "CSV line 1, column 4")


def test_the_largest_float32_is_scored(server: Server):
    assert server.post("3.4028235e38,1,1,1\n").status == 200
    assert server.post("[[3.4028235e38, 1, 1, 1]]", content_type="application/json").status == 200


@pytest.mark.parametrize("body, content_type", [
    (b"5.1,3.5,1.4,\xff\xfe\n", "text/csv"), (b'[[5.1, 3.5, 1.4, "\xff"]]', "application/json"),
    (b"\xff" * 1000, "application/json"), (b"\x00" * 1000, "text/csv"),
])
def test_bytes_that_are_not_utf8_are_400(server: Server, body: bytes, content_type: str):
    assert_refused(server.post(body, content_type=content_type), 400)


def test_messages_stay_short_whatever_was_sent(server: Server):
    many_keys = json.dumps({f"key-{i}-{'k' * 8}": i for i in range(200_000)}).encode()
    assert len(many_keys) < LIMIT
    assert_refused(server.post(many_keys, content_type="application/json", timeout=60), 400, 'no "instances" key', "more")
    assert_refused(server.post(json.dumps({"instances": [["v" * 5_000_000, 1, 1, 1]]}), content_type="application/json",
                               timeout=60), 400, "non-numeric value")
    assert_refused(server.post(b"x" * 5_000_000 + b",1,1,1\n", timeout=60), 400, "non-numeric value")
    assert_refused(server.post(b"1," * 2_000_000 + b"1\n", timeout=60), 400, "wrong column count")
    assert_refused(server.post("5.1,3.5,1.4,0.2", content_type="text/" + "x" * 7_000), 415, "unsupported content type")
    assert_refused(server.post("5.1,3.5,1.4,0.2", accept="application/" + "y" * 7_000), 406)
    assert_refused(server.request("GET", "/" + "p" * 4_000), 404)
    assert server.post("5.1,3.5,1.4,0.2").text == "setosa\n"
