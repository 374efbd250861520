"""The ASGI application behind `serve`: the SageMaker inference contract, with nothing else on the path.

- `GET /ping`: 200 once the model is loaded, 503 (with the reason) before that.
- `POST /invocations`: `text/csv` or `application/json` in, CSV or JSON out according to `Accept`.
- `GET /execution-parameters`: how batch transform should call us.

It runs under gunicorn's own asyncio worker (`-k asgi`): keep-alive connections, and the response head
and body written in one go. Each request is handled inline on the worker's event loop: the only awaits
are for the body, and the work after it (parse, predict, encode) takes microseconds for one record and
well under a millisecond for a thousand.

Each worker builds one `InferenceApp` before it accepts connections, which loads the model once. If
the model cannot be loaded the worker still starts, answers 503 with the reason, and tries again at most
once a second (on /ping or /invocations), so a health check fails with a message instead of the server
crash-looping.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from pathlib import Path

from . import codec
from .model import ModelLoadError, Predictor, load

log = logging.getLogger("serve")

_TEXT = b"text/plain; charset=utf-8"
_JSON = b"application/json"
RETRY_SECONDS = 1.0


class _Reply(Exception):
    """An early answer (an error); raised inside request handling, sent by __call__."""

    def __init__(self, status: int, message: str, allow: bytes | None = None):
        super().__init__(message)
        self.status, self.allow = status, allow


def _csv_label(label: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([label])
    return out.getvalue().encode("utf-8")


class InferenceApp:
    def __init__(self, model_dir: Path, max_body_bytes: int, max_concurrent_transforms: int = 1):
        self.model_dir = model_dir
        self.max_body_bytes = max_body_bytes
        self.execution_parameters = json.dumps({
            "MaxConcurrentTransforms": max_concurrent_transforms,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": max(1, max_body_bytes // (1024 * 1024)),
        }).encode()
        self.predictor: Predictor | None = None
        self.load_error = "the model has not been loaded yet"
        self._next_attempt = 0.0
        self.try_load()

    # -- model ---------------------------------------------------------------------------------------

    def try_load(self) -> bool:
        if self.predictor is not None:
            return True
        now = time.monotonic()
        if now < self._next_attempt:
            return False
        self._next_attempt = now + RETRY_SECONDS
        try:
            predictor = load(self.model_dir)
        except ModelLoadError as exc:
            if str(exc) != self.load_error:
                log.error("model not loaded: %s", exc)
            self.load_error = str(exc)
            return False
        self._csv_labels = [_csv_label(label) for label in predictor.labels]
        self._ping = json.dumps({"status": "ready", "n_features": predictor.n_features,
                                 "classes": list(predictor.labels)}).encode()
        self.predictor = predictor
        log.info("model loaded from %s: %d features, classes %s", self.model_dir, predictor.n_features,
                 ", ".join(predictor.labels))
        return True

    def _require_model(self) -> Predictor:
        predictor = self.predictor
        if predictor is None and self.try_load():
            predictor = self.predictor
        if predictor is None:
            raise _Reply(503, f"model not loaded: {self.load_error}")
        return predictor

    # -- ASGI ----------------------------------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return None  # no websockets (the server refuses the upgrade); lifespan is off in serve.py
        path, method = scope["path"], scope["method"]
        extra: tuple[tuple[bytes, bytes], ...] = ()
        try:
            if path == "/invocations":
                if method != "POST":
                    raise _Reply(405, "use POST for /invocations", allow=b"POST")
                status, content_type, body = 200, *await self._invocations(scope, receive)
            elif path == "/ping":
                if method not in ("GET", "HEAD"):
                    raise _Reply(405, "use GET for /ping", allow=b"GET, HEAD")
                self._require_model()
                status, content_type, body = 200, _JSON, self._ping
            elif path == "/execution-parameters":
                if method not in ("GET", "HEAD"):
                    raise _Reply(405, "use GET for /execution-parameters", allow=b"GET, HEAD")
                status, content_type, body = 200, _JSON, self.execution_parameters
            else:
                raise _Reply(404, f"no such path {codec.clip(path)!r}; use /ping, /invocations or /execution-parameters")
        except _Reply as reply:
            status, content_type, body = reply.status, _TEXT, f"{reply}\n".encode()
            if reply.allow:
                extra = ((b"allow", reply.allow),)
        except Exception:  # a bug must still produce an HTTP answer (logged with its traceback)
            log.exception("error while handling %s %s", method, path)
            status, content_type = 500, _TEXT
            body = b"internal error while handling the request; see the server log\n"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(body)), *extra]})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
        return None

    async def _invocations(self, scope, receive) -> tuple[bytes, bytes]:
        predictor = self._require_model()
        content_type_header = accept_header = length = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type_header = value.decode("latin-1")
            elif name == b"accept":
                accept_header = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        try:
            # The body first, even when the headers alone decide the answer: a client that is still
            # sending when the server closes would get a connection reset instead of the message.
            body = await self._read_body(receive, length)
            content_type = codec.media_type(content_type_header)
            parse = codec.PARSERS.get(content_type)
            if parse is None:
                raise codec.unsupported_type(content_type)
            accept = codec.response_type(accept_header, content_type)
            if accept is None:
                raise codec.BadRequest(f"cannot answer in any type of Accept: {codec.clip(accept_header or '')!r}; this server "
                                       f"answers text/csv or application/json", status=406)
            records = parse(body, predictor.n_features)
        except codec.BadRequest as exc:
            log.info("rejected a request with %d: %s", exc.status, exc)
            raise _Reply(exc.status, str(exc)) from None
        indices = predictor.predict_indices(records)
        return accept.encode(), codec.encode(self._csv_labels, indices, accept, predictor.labels)

    async def _read_body(self, receive, length: bytes | None) -> bytes:
        limit = self.max_body_bytes
        declared = _content_length(length)
        if declared is not None and declared > limit:
            # Up to twice the limit is read and dropped, so that a client that sends its whole body before
            # reading (most do) sees the 413; a larger one is refused unread.
            if declared <= 2 * limit:
                await _discard(receive, declared)
            raise codec.BadRequest(_too_large(declared, limit), status=413)
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect: the client went away
                raise codec.BadRequest("the client disconnected before the body was complete")
            chunk = message.get("body", b"")
            if chunk:
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:  # chunked transfer: no length was declared
                    await _discard(receive, limit)
                    raise codec.BadRequest(_too_large(None, limit), status=413)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _content_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise codec.BadRequest(f"invalid Content-Length {codec.clip(value.decode('latin-1'))!r}") from None


async def _discard(receive, size: int) -> None:
    while size > 0:
        message = await receive()
        size -= len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def _too_large(size: int | None, limit: int) -> str:
    got = f"{size:,} bytes, " if size is not None else ""
    return (f"the request body is too large: {got}over the limit of {limit:,} bytes ({limit / 1048576:g} MiB); "
            f"split the records over several requests")
