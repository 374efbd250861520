"""The shape of the SageMaker Clarify parts a bias / explainability monitor entry carries.

The AWS MLOps Framework passes ``bias_config``, ``model_predicted_label_config`` and ``shap_config`` to the
SageMaker Python SDK's ``clarify.BiasConfig``, ``clarify.ModelPredictedLabelConfig`` and
``clarify.SHAPConfig``, which write Clarify's analysis configuration (docs: "Analysis Configuration Files":
``label_values_or_threshold``, ``facet``, ``group_variable``, ``probability_threshold``, ``methods.shap``).
These checks accept the SDK's keyword arguments with the types those classes accept, for tabular data
(no ``text_config`` / ``image_config``), and bound every list and string so that a message stays short.

Standard library only (the provisioning Lambda vendors ``catalog/``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

MAX_ITEMS = 100
"""Items of any list (facet values, baseline rows, label headers)."""
MAX_TEXT = 256
"""Characters of any string (column names, JMESPaths, S3 URIs)."""

Check = Callable[[Any], str | None]
"""A value -> None, or what is allowed."""


def _text(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_TEXT:
        return None
    return f"a string of 1 to {MAX_TEXT} characters"


def _column(value: Any) -> str | None:
    """A column: its header (string) or its 0-based index."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**6:
        return None
    return None if _text(value) is None else f"a column name (1 to {MAX_TEXT} characters) or a 0-based column index"


def _scalar(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return abs(value) < 10**18
    return isinstance(value, str) and len(value) <= MAX_TEXT


def _values(value: Any) -> str | None:
    """A non-empty list of label / facet values or thresholds (strings, numbers or booleans)."""
    if isinstance(value, list) and 0 < len(value) <= MAX_ITEMS and all(_scalar(v) for v in value):
        return None
    return f"a list of 1 to {MAX_ITEMS} values (strings, numbers or booleans)"


def _facets(value: Any) -> str | None:
    if isinstance(value, list) and 0 < len(value) <= MAX_ITEMS and all(_column(v) is None for v in value):
        return None
    return None if _column(value) is None else f"a column name or index, or a list of 1 to {MAX_ITEMS} of them"


def _facet_values(value: Any) -> str | None:
    """One list of values per facet, or one list for a single facet."""
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        if len(value) <= MAX_ITEMS and all(_values(v) is None for v in value):
            return None
        return f"a list of values, or one list of 1 to {MAX_ITEMS} values per facet"
    return _values(value)


def _probability(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return None
    return "a number from 0 to 1"


def _whole(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return None
        return f"a whole number from {low} to {high}"

    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _one_of(*choices: str) -> Check:
    return lambda value: None if value in choices else "one of " + ", ".join(choices)


def _baseline(value: Any) -> str | None:
    """An S3 URI of a baseline file, or the baseline's rows (a list of lists of values)."""
    if isinstance(value, str) and value.startswith("s3://") and _text(value) is None:
        return None
    if isinstance(value, list) and 0 < len(value) <= MAX_ITEMS and all(
            isinstance(row, list) and 0 < len(row) <= MAX_ITEMS and all(_scalar(v) for v in row) for row in value):
        return None
    return f"an s3:// URI of a baseline CSV file, or a list of 1 to {MAX_ITEMS} rows (lists of values)"


def _headers(value: Any) -> str | None:
    if isinstance(value, list) and 0 < len(value) <= MAX_ITEMS and all(_text(v) is None for v in value):
        return None
    return f"a list of 1 to {MAX_ITEMS} label names"


Shape = tuple[dict[str, Check], tuple[str, ...], str]
"""(key -> check, required keys, the SDK class it is given to)."""

SHAPES: dict[str, Shape] = {
    "bias_config": ({
        "label_values_or_threshold": _values,
        "facet_name": _facets,
        "facet_values_or_threshold": _facet_values,
        "group_name": _text,
    }, ("label_values_or_threshold", "facet_name"), "sagemaker.clarify.BiasConfig"),
    "model_predicted_label_config": ({
        "label": _column,
        "probability": _column,
        "probability_threshold": _probability,
        "label_headers": _headers,
    }, (), "sagemaker.clarify.ModelPredictedLabelConfig"),
    "shap_config": ({
        "baseline": _baseline,
        "num_samples": _whole(1, 10**6),
        "agg_method": _one_of("mean_abs", "median", "mean_sq"),
        "use_logit": _boolean,
        "save_local_shap_values": _boolean,
        "seed": _whole(0, 2**31 - 1),
        "num_clusters": _whole(1, 10**4),
        "features_to_explain": _facets,
    }, (), "sagemaker.clarify.SHAPConfig (tabular data)"),
}
"""Each Clarify part: its keys (the SDK's keyword arguments) and which are required."""
UNSUPPORTED = {"text_config": "text (NLP) explanations", "image_config": "image (computer vision) explanations"}


def problems(field: str, value: Any, show: Callable[[Any], str]) -> list[str]:
    """What is wrong with ``value`` as the entry's ``field`` (one of ``SHAPES``), one line each; ``show``
    renders a value shortly (the validator's)."""
    checks, required, owner = SHAPES[field]
    if not isinstance(value, Mapping) or not value:
        return [f"{field} = {show(value)} is invalid: expected a non-empty object of {owner}'s arguments: "
                f"{', '.join(checks)}"]
    found = []
    for key, item in value.items():
        if key in UNSUPPORTED:
            found.append(f"{field}.{key} is refused: the monitors analyse tabular data (CSV captured by the "
                         f"endpoint), not {UNSUPPORTED[key]}")
        elif key not in checks:
            found.append(f"{field}.{show(key) if not isinstance(key, str) or len(key) > 60 else key} is not an "
                         f"argument of {owner}: expected {', '.join(checks)}")
        else:
            allowed = checks[key](item)
            if allowed is not None:
                found.append(f"{field}.{key} = {show(item)} is invalid: expected {allowed}")
    for key in required:
        if key not in value:
            found.append(f"{field}.{key} is missing: {owner} requires {' and '.join(required)}")
    return found
