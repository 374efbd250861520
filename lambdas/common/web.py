"""API Gateway REST (v1 proxy) helpers: reading requests, answering JSON and small HTML pages."""

from __future__ import annotations

import base64
import binascii
import html
import json
from urllib.parse import parse_qs

from common import text

MAX_BODY_BYTES = 64 * 1024
# Whatever a client sends, an answer's message stays short: values are echoed clipped (or by type), and a
# message is cut at this length as a last resort.
MAX_MESSAGE_CHARS = 600
MAX_ECHO_CHARS = 40

PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
}

JSON_HEADERS = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}"
    "h1{font-size:1.4rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}"
    "dt{font-weight:600}dd{margin:0;word-break:break-all}label{display:block;margin-top:1rem}"
    "input,textarea{width:100%;padding:.4rem;box-sizing:border-box}"
    "button{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}.err{color:#a40000}"
    "h2{font-size:1.1rem;margin-top:1.5rem}table{border-collapse:collapse;margin:.5rem 0}"
    "caption{text-align:left;font-weight:600}th,td{border:1px solid #ccc;padding:.2rem .6rem;text-align:right}"
    "th[scope=row]{text-align:left}figure{margin:1rem 0}figure svg{max-width:100%;height:auto}"
)


class BadRequest(ValueError):
    """The request body or headers cannot be read; the message says what was expected."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def header(event: dict, name: str) -> str:
    """A request header, looked up case-insensitively ('' when absent)."""
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name.lower():
            return value or ""
    return ""


def describe(value: object) -> str:
    """A client's value for an error message, never long: text and numbers clipped and quoted, anything
    else named by its type (a list or object is not rendered: it may be nested thousands of levels deep)."""
    if isinstance(value, str):
        return repr(text.clip(value, MAX_ECHO_CHARS))
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return text.clip(repr(value), MAX_ECHO_CHARS)
    if isinstance(value, int):
        return text.clip(str(value), MAX_ECHO_CHARS) if value.bit_length() < 256 else "a whole number of more than 77 digits"
    if isinstance(value, dict):
        return "an object"
    return "a list" if isinstance(value, list) else type(value).__name__


def body_text(event: dict, limit: int = MAX_BODY_BYTES) -> str:
    """The request body as text, decoded from base64 when API Gateway says so."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise BadRequest("the request body is not text")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the request body is not valid base64") from None
    else:
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: the body was not UTF-8 text to begin with
            raise BadRequest("the request body is not UTF-8 text") from None
    if len(raw) > limit:
        raise BadRequest(f"the request body is {len(raw)} bytes; at most {limit} are accepted", status=413)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the request body is not UTF-8 text") from None


def form_fields(event: dict) -> dict[str, str]:
    """Fields of an application/x-www-form-urlencoded body; a repeated field is refused."""
    media_type = header(event, "content-type").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise BadRequest(
            "the form must be sent as application/x-www-form-urlencoded, not "
            + (describe(media_type) if media_type else "an empty content type"),
            status=415,
        )
    body = body_text(event)
    try:
        parsed = parse_qs(body, keep_blank_values=True, strict_parsing=False, max_num_fields=20)
    except ValueError as exc:
        raise BadRequest(f"the form body cannot be read: {text.clip(str(exc), MAX_ECHO_CHARS * 2)}") from None
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    if repeated:
        raise BadRequest(f"the form repeats the field(s) {_names(repeated)}; send each field once")
    return {name: values[0] for name, values in parsed.items()}


def _names(names: list[str], most: int = 5) -> str:
    shown = ", ".join(describe(name)[1:-1] for name in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def query_params(event: dict) -> dict[str, str]:
    """Query string parameters; a parameter given twice is refused rather than silently picked."""
    multi = event.get("multiValueQueryStringParameters") or {}
    repeated = sorted(name for name, values in multi.items() if values and len(values) > 1)
    if repeated:
        raise BadRequest(f"the link repeats the parameter(s) {_names(repeated)}")
    return dict(event.get("queryStringParameters") or {})


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(status: int, title: str, body_html: str, extra_headers: dict[str, str] | None = None) -> dict:
    """An HTML response with the security headers. `body_html` must already be escaped."""
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex,nofollow"><title>{esc(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{esc(title)}</h1>{body_html}</body></html>"
    )
    return {
        "statusCode": status,
        "headers": {**PAGE_HEADERS, **(extra_headers or {})},
        "body": document,
        "isBase64Encoded": False,
    }


def message_page(status: int, title: str, message: str, extra_headers: dict[str, str] | None = None) -> dict:
    css = ' class="err"' if status >= 400 else ""
    message = text.clip(message, MAX_MESSAGE_CHARS)
    sentence = message[:1].upper() + message[1:]
    return page(status, title, f"<p{css}>{esc(sentence)}</p>", extra_headers)


def json_response(status: int, payload: dict, extra_headers: dict[str, str] | None = None) -> dict:
    if isinstance(payload.get("error"), str):
        payload = {**payload, "error": text.clip(payload["error"], MAX_MESSAGE_CHARS)}
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(extra_headers or {})},
        "body": json.dumps(payload),
        "isBase64Encoded": False,
    }
