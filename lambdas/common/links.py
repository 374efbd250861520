"""Signed approval links.

A link carries four query parameters: ``id`` (the approval record), ``decision`` (approve | reject),
``expires`` (Unix seconds) and ``sig``, the hex HMAC-SHA256 over the task token, the decision and the
expiry, keyed with the secret held in Secrets Manager. The task token itself never leaves DynamoDB:
the decision function looks it up by ``id`` and recomputes the signature, so changing any of the
parameters (or guessing an id) yields a link that does not verify.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from botocore.config import Config

from common import aws

DECISIONS = ("approve", "reject")
SIGNATURE_VERSION = "approval-link-v1"
MIN_KEY_BYTES = 32
KEY_CACHE_SECONDS = 300

# Matched against the whole value (fullmatch): with re.match, "$" also matches before a final line break.
_ID_RE = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
_SIG_RE = re.compile(r"[0-9a-f]{64}")
_EXPIRES_RE = re.compile(r"[0-9]{1,12}")

_key_cache: dict[str, tuple[float, bytes]] = {}


class InvalidLink(ValueError):
    """A link parameter is missing or malformed."""


@dataclass(frozen=True)
class LinkParams:
    approval_id: str
    decision: str
    expires: int
    sig: str


def signing_key(secret_arn: str, config: Config | None = None) -> bytes:
    """The HMAC key: the secret's SecretString (UTF-8) or SecretBinary, cached for a few minutes.
    `config`: the botocore Config of the Secrets Manager client (timeouts and retries)."""
    cached = _key_cache.get(secret_arn)
    if cached and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
        return cached[1]
    secret = aws.client("secretsmanager", config).get_secret_value(SecretId=secret_arn)
    key = secret["SecretString"].encode() if "SecretString" in secret else bytes(secret["SecretBinary"])
    if len(key) < MIN_KEY_BYTES:
        raise aws.ConfigurationError(
            f"the approval signing secret holds {len(key)} bytes; at least {MIN_KEY_BYTES} are required"
        )
    _key_cache[secret_arn] = (time.monotonic(), key)
    return key


def reset_key_cache() -> None:
    _key_cache.clear()


def sign(key: bytes, task_token: str, decision: str, expires: int) -> str:
    """Hex HMAC-SHA256 over (version, task token, decision, expiry), encoded unambiguously as JSON."""
    message = json.dumps([SIGNATURE_VERSION, task_token, decision, int(expires)], separators=(",", ":"))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def verify(key: bytes, task_token: str, params: LinkParams) -> bool:
    """Constant-time check of a link's signature."""
    return hmac.compare_digest(sign(key, task_token, params.decision, params.expires), params.sig)


def build_link(base_url: str, approval_id: str, decision: str, expires: int, sig: str) -> str:
    query = urlencode({"id": approval_id, "decision": decision, "expires": str(int(expires)), "sig": sig})
    return f"{base_url}{'&' if '?' in base_url else '?'}{query}"


def parse_params(raw: dict[str, str] | None) -> LinkParams:
    """Validate the four link parameters; InvalidLink names what is wrong and what is allowed."""
    raw = raw or {}
    missing = [name for name in ("id", "decision", "expires", "sig") if not raw.get(name)]
    if missing:
        raise InvalidLink(
            f"The link is incomplete: missing {', '.join(missing)}. Open the link exactly as it appears in the e-mail."
        )
    approval_id, decision, expires, sig = (raw["id"], raw["decision"], raw["expires"], raw["sig"])
    if not _ID_RE.fullmatch(approval_id):
        raise InvalidLink("The link's id is malformed: it must be 22 URL-safe characters.")
    if decision not in DECISIONS:
        raise InvalidLink("The link's decision is malformed: it must be 'approve' or 'reject'.")
    if not _EXPIRES_RE.fullmatch(expires):
        raise InvalidLink("The link's expiry is malformed: it must be a Unix time in seconds.")
    if not _SIG_RE.fullmatch(sig):
        raise InvalidLink("The link's signature is malformed: it must be 64 lowercase hexadecimal characters.")
    return LinkParams(approval_id=approval_id, decision=decision, expires=int(expires), sig=sig)
