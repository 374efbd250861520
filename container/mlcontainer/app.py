"""The WSGI application behind `serve`: the SageMaker inference contract, with nothing else on the path.

- `GET /ping`: 200 once the model is loaded, 503 (with the reason) before that.
- `POST /invocations`: `text/csv` or `application/json` in, CSV or JSON out according to `Accept`.
- `GET /execution-parameters`: how batch transform should call us.

Each gunicorn worker builds one `InferenceApp` before it accepts connections, which loads the model
once. If the model cannot be loaded the worker still starts, answers 503 with the reason, and tries
again at most once a second (on /ping or /invocations), so a health check fails with a message instead
of the server crash-looping.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
import time
from pathlib import Path

from . import codec
from .model import ModelLoadError, Predictor, load

log = logging.getLogger("serve")

_STATUS = {
    200: "200 OK",
    400: "400 Bad Request",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    406: "406 Not Acceptable",
    413: "413 Content Too Large",
    415: "415 Unsupported Media Type",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}
_TEXT = "text/plain; charset=utf-8"
_READ_CHUNK = 1 << 16
RETRY_SECONDS = 1.0


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
        self._lock = threading.Lock()
        self.try_load()

    # -- model ---------------------------------------------------------------------------------------

    def try_load(self) -> bool:
        with self._lock:
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

    # -- WSGI ----------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"]
        try:
            if path == "/invocations":
                if method != "POST":
                    return _error(start_response, 405, "use POST for /invocations", allow="POST")
                return self._invocations(environ, start_response)
            if path == "/ping":
                if method not in ("GET", "HEAD"):
                    return _error(start_response, 405, "use GET for /ping", allow="GET, HEAD")
                if self.predictor is None and not self.try_load():
                    return _error(start_response, 503, f"model not loaded: {self.load_error}")
                return _reply(start_response, 200, "application/json", self._ping)
            if path == "/execution-parameters":
                if method not in ("GET", "HEAD"):
                    return _error(start_response, 405, "use GET for /execution-parameters", allow="GET, HEAD")
                return _reply(start_response, 200, "application/json", self.execution_parameters)
            return _error(start_response, 404, f"no such path {path!r}; use /ping, /invocations or "
                                               f"/execution-parameters")
        except Exception:  # noqa: BLE001 - a bug must still produce an HTTP answer
            log.exception("error while handling %s %s", method, path)
            return _error(start_response, 500, "internal error while handling the request; see the server log")

    def _invocations(self, environ, start_response):
        if self.predictor is None and not self.try_load():
            return _error(start_response, 503, f"model not loaded: {self.load_error}")
        predictor = self.predictor
        try:
            # The body first, even when the headers alone decide the answer: a client that is still
            # sending when the server closes gets a connection reset instead of the message.
            body = self._read_body(environ)
            content_type = codec.media_type(environ.get("CONTENT_TYPE"))
            parse = codec.PARSERS.get(content_type)
            if parse is None:
                raise codec.unsupported_type(content_type)
            accept = codec.response_type(environ.get("HTTP_ACCEPT"), content_type)
            if accept is None:
                raise codec.BadRequest(f"cannot answer in any type of Accept: {environ.get('HTTP_ACCEPT')!r}; "
                                       f"this server answers text/csv or application/json", status=406)
            records = parse(body, predictor.n_features)
        except codec.BadRequest as exc:
            log.info("rejected a request with %d: %s", exc.status, exc)
            return _error(start_response, exc.status, str(exc))
        indices = predictor.predict_indices(records)
        return _reply(start_response, 200, accept,
                      codec.encode(self._csv_labels, indices, accept, predictor.labels))

    def _read_body(self, environ) -> bytes:
        limit = self.max_body_bytes
        length = environ.get("CONTENT_LENGTH")
        stream = environ["wsgi.input"]
        if length:
            try:
                size = int(length)
            except ValueError:
                raise codec.BadRequest(f"invalid Content-Length {length!r}") from None
            if size > limit:
                if size <= 2 * limit:
                    _discard(stream, size)
                raise codec.BadRequest(_too_large(size, limit), status=413)
            return stream.read(size) if size else b""
        # No Content-Length: a chunked body. Read at most one byte past the limit.
        chunks, total = [], 0
        while True:
            chunk = stream.read(min(_READ_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                _discard(stream, limit)
                raise codec.BadRequest(_too_large(None, limit), status=413)
        return b"".join(chunks)


def _discard(stream, size: int) -> None:
    """Read and drop up to `size` bytes of an oversized body before answering 413.

    A client that sends its whole body before reading the answer (most do) would otherwise have the
    connection reset under it and never see the 413. Bodies more than twice the limit are not read.
    """
    while size > 0:
        chunk = stream.read(min(_READ_CHUNK, size))
        if not chunk:
            return
        size -= len(chunk)


def _too_large(size: int | None, limit: int) -> str:
    got = f"{size:,} bytes, " if size is not None else ""
    return (f"the request body is too large: {got}over the limit of {limit:,} bytes ({limit / 1048576:g} MiB); "
            f"split the records over several requests")


def _reply(start_response, status: int, content_type: str, body: bytes, extra: list | None = None):
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    if extra:
        headers.extend(extra)
    start_response(_STATUS[status], headers)
    return [body]


def _error(start_response, status: int, message: str, allow: str | None = None):
    extra = [("Allow", allow)] if allow else None
    return _reply(start_response, status, _TEXT, (message + "\n").encode("utf-8"), extra)
