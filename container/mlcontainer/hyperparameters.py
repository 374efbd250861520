"""Hyperparameters of the decision tree, as SageMaker hands them over.

SageMaker writes `hyperparameters.json` with every value as a string ("5", "None", "gini"). Each known
key is parsed and range-checked; an unknown key is an error, so a typo such as `max_detph` fails the job
instead of being silently ignored. Keys that SageMaker itself adds (`_tuning_objective_metric` from
automatic model tuning, `sagemaker_*`) are not ours to judge and are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CRITERIA = ("gini", "entropy", "log_loss")
_NONE_WORDS = {"none", "null", ""}
_MAX_SEED = 2**32 - 1


class HyperparameterError(ValueError):
    """A hyperparameter file or value that cannot be used."""


@dataclass(frozen=True)
class Hyperparameters:
    max_depth: int | None = None
    min_samples_leaf: int = 1
    criterion: str = "gini"
    random_state: int | None = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _integer(name: str, raw: Any, minimum: int, maximum: int | None = None, allow_none: bool = False) -> int | None:
    if isinstance(raw, bool):
        raise HyperparameterError(f"hyperparameter {name}={raw!r} must be an integer, not a boolean")
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in _NONE_WORDS):
        if allow_none:
            return None
        raise HyperparameterError(f"hyperparameter {name} needs a value (an integer >= {minimum})")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                as_float = float(text)
            except ValueError:
                as_float = None
            if as_float is None or not as_float.is_integer():
                allowed = f"an integer >= {minimum}" + (" or None" if allow_none else "")
                raise HyperparameterError(f"hyperparameter {name}={raw!r} is not {allowed}") from None
            value = int(as_float)
    else:
        raise HyperparameterError(f"hyperparameter {name}={raw!r} must be a string holding an integer")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise HyperparameterError(f"hyperparameter {name}={raw!r} is out of range: it must be {bound}")
    return value


def _criterion(name: str, raw: Any) -> str:
    value = str(raw).strip().lower() if isinstance(raw, str) else raw
    if value not in CRITERIA:
        raise HyperparameterError(f"hyperparameter {name}={raw!r} is not one of {', '.join(CRITERIA)}")
    return value


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "max_depth": lambda n, v: _integer(n, v, minimum=1, allow_none=True),
    "min_samples_leaf": lambda n, v: _integer(n, v, minimum=1),
    "criterion": _criterion,
    "random_state": lambda n, v: _integer(n, v, minimum=0, maximum=_MAX_SEED, allow_none=True),
}


def is_platform_key(key: str) -> bool:
    """Keys SageMaker adds on its own (tuning jobs, SDK bookkeeping)."""
    return key.startswith("_") or key.startswith("sagemaker_")


def parse(raw: dict[str, Any]) -> Hyperparameters:
    if not isinstance(raw, dict):
        raise HyperparameterError(
            f"hyperparameters must be a JSON object of name to string value, got {type(raw).__name__}"
        )
    unknown = sorted(k for k in raw if k not in _PARSERS and not is_platform_key(k))
    if unknown:
        raise HyperparameterError(
            f"unknown hyperparameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"this algorithm accepts {', '.join(_PARSERS)}"
        )
    values = {key: parser(key, raw[key]) for key, parser in _PARSERS.items() if key in raw}
    return Hyperparameters(**values)


def load(path: Path) -> Hyperparameters:
    """Read `hyperparameters.json`; a missing file means all defaults."""
    if not path.exists():
        return Hyperparameters()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HyperparameterError(f"{path} is not valid JSON: {exc}") from None
    return parse(raw)
