"""The stack's REST APIs on 127.0.0.1: each recorded route proxied to its real Lambda handler.

One `LocalRestApi` per REST API the program records (``stack.RestApi``), on its own port as each API
has its own host on AWS, at ``http://127.0.0.1:<port>/<stage><path>``. A request becomes the API
Gateway REST (v1) proxy event the handler gets on AWS (method, path, headers, query string parameters
single and multi-valued, body, base64 flag, request context), and the handler's response becomes the
HTTP response. What API Gateway itself answers is emulated for the cases a user meets: an unknown
route (403 ``Missing Authentication Token``), a missing or wrong API key where the method requires one
(403 ``Forbidden``; the key is generated per run), a handler exception (502 ``Internal server error``).
Request validators, throttling and access logs are not emulated.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tools.localaws.stack import RestApi, Route

__all__ = ["LocalRestApi"]

Invoke = Callable[[str, dict[str, Any]], Any]
"""(function name, event) -> the handler's result."""


class LocalRestApi:
    """One recorded REST API served on 127.0.0.1 (module docstring)."""

    def __init__(self, api: RestApi, invoke: Invoke, port: int = 0):
        self.api = api
        self._invoke = invoke
        self.api_key = secrets.token_urlsafe(30) if any(r.api_key_required for r in api.routes) else None
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/{api.stage}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"api-{api.name}", daemon=True)

    def start(self) -> LocalRestApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def local_url(self, aws_url: str) -> str:
        """`aws_url` (under this API's recorded invoke URL) as served here; other URLs unchanged."""
        return self.url + aws_url[len(self.api.url):] if aws_url.startswith(self.api.url) else aws_url

    def route(self, method: str, path: str) -> Route | None:
        prefix = f"/{self.api.stage}"
        if not (path == prefix or path.startswith(prefix + "/")):
            return None
        resource = path[len(prefix):] or "/"
        return next((r for r in self.api.routes if r.method == method and r.path == resource), None)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "local-api-gateway"

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def do_HEAD(self) -> None:
                self._handle()

            def do_PUT(self) -> None:
                self._handle()

            def do_DELETE(self) -> None:
                self._handle()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the run prints what matters."""

            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                route = gateway.route(self.command, split.path)
                if route is None:
                    return self._send(403, {"Content-Type": "application/json"}, json.dumps({"message": "Missing Authentication Token"}).encode())
                if route.api_key_required and self.headers.get("x-api-key") != gateway.api_key:
                    return self._send(403, {"Content-Type": "application/json"}, json.dumps({"message": "Forbidden"}).encode())
                event = gateway.event(route, self.command, split.query, self.headers.items(), raw, self.client_address[0])
                try:
                    response = gateway._invoke(route.function, event)
                    status = int(response["statusCode"])
                    body = response.get("body") or ""
                    payload = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode()
                    headers = {k: str(v) for k, v in (response.get("headers") or {}).items()}
                except Exception:  # noqa: BLE001 - API Gateway answers a failed integration with 502
                    return self._send(502, {"Content-Type": "application/json"}, json.dumps({"message": "Internal server error"}).encode())
                self._send(status, headers, b"" if self.command == "HEAD" else payload)

            def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def event(self, route: Route, method: str, query: str, headers: Any, body: bytes, source_ip: str) -> dict[str, Any]:
        """The REST API (v1) proxy integration event for one request."""
        multi_query = parse_qs(query, keep_blank_values=True)
        multi_headers: dict[str, list[str]] = {}
        for name, value in headers:
            multi_headers.setdefault(name, []).append(value)
        try:
            text, encoded = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
        return {
            "resource": route.path,
            "path": route.path,
            "httpMethod": method,
            "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.path, "httpMethod": method, "path": f"/{self.api.stage}{route.path}",
                "stage": self.api.stage, "requestId": secrets.token_hex(16),
                "identity": {"sourceIp": source_ip, "apiKey": self.api_key if route.api_key_required else None},
            },
            "body": text or None,
            "isBase64Encoded": encoded,
        }
