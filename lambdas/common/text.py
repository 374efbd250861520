"""Plain-text formatting shared by the e-mails."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

# Characters that must not reach a line of an e-mail or a page from outside: they end a line (LF, CR, NEL,
# VT, FF, U+2028, U+2029), are invisible controls (C0, DEL, C1) or lone surrogates, or reorder what is
# shown around them (the bidirectional overrides and isolates, as in "Trojan Source").
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def iso_utc(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_value(value: object, indent: int = 2) -> list[str]:
    """Readable lines for a metrics value: floats with 4 decimals, dicts and lists nested."""
    pad = " " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:")
                lines.extend(format_value(item, indent + 2))
            else:
                lines.append(f"{pad}{key}: {format_scalar(item)}")
        return lines
    if isinstance(value, list):
        return [line for item in value for line in format_value(item, indent)]
    return [f"{pad}{format_scalar(value)}"]


def format_scalar(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if value in ({}, []):
        return "(none)"
    return str(value)


def console_execution_url(execution_arn: str) -> str | None:
    """Step Functions console link for an execution ARN (arn:aws:states:<region>:<acct>:execution:...)."""
    parts = execution_arn.split(":")
    if len(parts) < 7 or parts[2] != "states":
        return None
    region, partition = parts[3], parts[1]
    domain = {"aws-cn": "console.amazonaws.cn", "aws-us-gov": "console.amazonaws-us-gov.com"}.get(
        partition, "console.aws.amazon.com"
    )
    return f"https://{region}.{domain}/states/home?region={region}#/v2/executions/details/{execution_arn}"


def subject(text: str) -> str:
    """An SNS e-mail subject: ASCII printable, one line, at most 100 characters."""
    cleaned = "".join(ch if 32 <= ord(ch) < 127 else " " for ch in text)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= 100 else cleaned[:99] + "~"


def unsafe_character(value: str) -> str | None:
    """The first character of `value` that could forge or hide a line of an e-mail or a page, as
    ``U+000A``; None when there is none. Callers refuse the value and name the character."""
    for ch in value:
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in _UNSAFE_CATEGORIES:
            return f"U+{ord(ch):04X}"
    return None


def clip(value: str, limit: int) -> str:
    """`value` cut to at most `limit` characters, the cut marked with an ellipsis."""
    return value if len(value) <= limit else value[: max(0, limit - 3)] + "..."
