"""boto3 clients, cached per container, and small helpers around botocore errors."""

from __future__ import annotations

import logging
import os
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# botocore logs whole request bodies at DEBUG level, task tokens included. Keep it quiet even when
# someone turns the root logger up to DEBUG.
for _noisy in ("boto3", "botocore", "urllib3", "s3transfer"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

_DEFAULT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)
_clients: dict[tuple[str, int], Any] = {}


def client(service: str, config: Config | None = None) -> Any:
    """A boto3 client for `service`, created once per container and per Config object.

    Pass module-level Config constants: the cache is keyed by the object's identity.
    """
    config = config or _DEFAULT_CONFIG
    key = (service, id(config))
    if key not in _clients:
        _clients[key] = boto3.client(service, config=config)
    return _clients[key]


def reset_clients() -> None:
    """Forget cached clients (tests call this between moto contexts)."""
    _clients.clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or the exception's class name otherwise."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def require_env(name: str) -> str:
    """The value of environment variable `name`; a clear error naming it when it is missing."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set; the function's deployment must set it")
    return value


def int_env(name: str, *, minimum: int, default: int | None = None) -> int:
    """Whole-number environment variable `name` (>= `minimum`); `default` when it is not set at all
    (required when there is no default). Set but empty or malformed is a deployment error."""
    raw = os.environ.get(name)
    if raw is None and default is not None:
        return default
    raw = (raw or "").strip()
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigurationError(
            f"environment variable {name}={raw!r} is not allowed: use a whole number >= {minimum}")
    return value


class ConfigurationError(RuntimeError):
    """The function was deployed without a setting it needs."""

