"""Evaluate: accuracy of a batch transform on the held-out test data.

The transform joins each input record with its prediction and keeps the first and last columns
(InputFilter "$[1:]", JoinSource "Input", OutputFilter "$[0,-1]"), so every output line reads
``<true label>,<predicted label>``. This function reads every object under the output prefix.
"""

from __future__ import annotations

import codecs
import csv
import math
from urllib.parse import urlparse

from common import aws
from common.logs import get_logger

log = get_logger("evaluate")

MAX_ERRORS_SHOWN = 3
LIST_PAGE_SIZE = 1000


class InvalidEvaluationRequest(ValueError):
    """transformOutput or minAccuracy is missing or malformed."""


class NoTransformOutput(RuntimeError):
    """The transform output prefix holds no objects or no records."""


class MalformedTransformOutput(ValueError):
    """A line is not `<true label>,<predicted label>`."""


def handler(event, context):
    bucket, prefix, uri, min_accuracy = _validate(event)
    s3 = aws.client("s3")
    total = correct = 0
    per_class: dict[str, dict[str, int]] = {}
    objects = 0
    problems: list[str] = []

    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": LIST_PAGE_SIZE}):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/"):
                continue  # a "folder" placeholder
            objects += 1
            where = f"s3://{bucket}/{obj['Key']}"
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"]
            try:
                rows = csv.reader(codecs.iterdecode(body.iter_lines(), "utf-8"))
                for line_no, row in enumerate(rows, start=1):
                    if not row or all(not cell.strip() for cell in row):
                        continue
                    if len(row) != 2 or not row[0].strip() or not row[1].strip():
                        problems.append(f"{where} line {line_no}: expected '<true label>,<predicted label>', got {len(row)} field(s)")
                        continue
                    actual, predicted = row[0].strip(), row[1].strip()
                    hit = _same_label(actual, predicted)
                    total += 1
                    correct += hit
                    per_class.setdefault(actual, _zero())["actual"] += 1
                    per_class.setdefault(predicted, _zero())["predicted"] += 1
                    per_class[actual]["correct"] += hit
            except (UnicodeDecodeError, csv.Error) as exc:
                problems.append(f"{where}: not UTF-8 CSV text ({exc})")

    if problems:
        shown = "; ".join(problems[:MAX_ERRORS_SHOWN])
        more = f" (and {len(problems) - MAX_ERRORS_SHOWN} more)" if len(problems) > MAX_ERRORS_SHOWN else ""
        raise MalformedTransformOutput(f"{len(problems)} malformed line(s) in the transform output: {shown}{more}")
    if objects == 0:
        raise NoTransformOutput(f"no objects under {uri}: did the batch transform write its output there?")
    if total == 0:
        raise NoTransformOutput(f"{objects} object(s) under {uri} but no records in them")

    accuracy = correct / total
    result = {
        "accuracy": accuracy,
        "records": total,
        "correct": correct,
        "perClass": dict(sorted(per_class.items())),
        "transformOutput": uri,
        "minAccuracy": min_accuracy,
        "passed": accuracy >= min_accuracy,
    }
    log.info("evaluated", transformOutput=uri, objects=objects, records=total, accuracy=round(accuracy, 6), passed=result["passed"])
    return result


def _zero() -> dict[str, int]:
    return {"actual": 0, "predicted": 0, "correct": 0}


def _same_label(actual: str, predicted: str) -> bool:
    """Labels match as text, or as numbers when both are numeric ("1" == "1.0")."""
    if actual == predicted:
        return True
    try:
        return float(actual) == float(predicted)
    except ValueError:
        return False


def _validate(event) -> tuple[str, str, str, float]:
    if not isinstance(event, dict):
        raise InvalidEvaluationRequest(f"the event must be an object with transformOutput and minAccuracy, not {type(event).__name__}")
    uri = event.get("transformOutput")
    parsed = urlparse(uri) if isinstance(uri, str) else None
    if not isinstance(uri, str) or not parsed or parsed.scheme != "s3" or not parsed.netloc:
        raise InvalidEvaluationRequest(f"transformOutput must be an s3://bucket/prefix URI; got {uri!r}")
    min_accuracy = event.get("minAccuracy", 0.0)
    if isinstance(min_accuracy, bool) or not isinstance(min_accuracy, (int, float)) or not math.isfinite(min_accuracy) or not 0 <= min_accuracy <= 1:
        raise InvalidEvaluationRequest(f"minAccuracy must be a number between 0 and 1; got {min_accuracy!r}")
    return parsed.netloc, parsed.path.lstrip("/"), uri, float(min_accuracy)
