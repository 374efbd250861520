"""Evaluate: accuracy of a batch transform on the held-out test data.

The transform joins each input record with its prediction and keeps the first and last columns
(InputFilter "$[1:]", JoinSource "Input", OutputFilter "$[0,-1]"), so every output line reads
``<true label>,<predicted label>``. This function reads every object under the output prefix and
returns the accuracy against ``minAccuracy``, precision and recall per class and the confusion matrix,
with the matrix drawn as an SVG picture (drawsvg, packaged into this function's zip). With
``reportPrefix`` (the workflow passes ``<output prefix>/reports/<run>``) it stores the report as
``evaluation.json`` and the picture as ``confusion-matrix.svg`` beside it.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
from urllib.parse import urlparse

from common import aws
from common.logs import get_logger

log = get_logger("evaluate")

MAX_ERRORS_SHOWN = 3
LIST_PAGE_SIZE = 1000
MAX_PICTURE_CLASSES = 20  # a larger matrix is not drawn: its cells would be unreadable


class InvalidEvaluationRequest(ValueError):
    """transformOutput or minAccuracy is missing or malformed."""


class NoTransformOutput(RuntimeError):
    """The transform output prefix holds no objects or no records."""


class MalformedTransformOutput(ValueError):
    """A line is not `<true label>,<predicted label>`."""


def handler(event, context):
    bucket, prefix, uri, min_accuracy = _validate(event)
    report_prefix = _report_prefix(event)
    s3 = aws.client("s3")
    total = correct = 0
    per_class: dict[str, dict[str, int]] = {}
    pairs: dict[tuple[str, str], int] = {}
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
                    pairs[(actual, predicted)] = pairs.get((actual, predicted), 0) + 1
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
    labels = sorted(per_class)
    counts = [[pairs.get((actual, predicted), 0) for predicted in labels] for actual in labels]
    result = {
        "accuracy": accuracy,
        "records": total,
        "correct": correct,
        "perClass": {label: {**per_class[label], **_precision_recall(per_class[label])} for label in labels},
        "confusionMatrix": {"labels": labels, "counts": counts},
        "transformOutput": uri,
        "minAccuracy": min_accuracy,
        "passed": accuracy >= min_accuracy,
    }
    picture = confusion_matrix_svg(labels, counts) if len(labels) <= MAX_PICTURE_CLASSES else None
    if report_prefix:
        result["report"] = _store(s3, report_prefix, "evaluation.json", json.dumps(result, indent=2), "application/json")
        if picture:
            result["confusionMatrixImage"] = _store(s3, report_prefix, "confusion-matrix.svg", picture, "image/svg+xml")
    if picture:
        result["confusionMatrixSvg"] = picture
    log.info("evaluated", transformOutput=uri, objects=objects, records=total, accuracy=round(accuracy, 6), passed=result["passed"])
    return result


def _precision_recall(counts: dict[str, int]) -> dict[str, float | None]:
    """Precision (right among those predicted as the class) and recall (found among those of the class);
    None where nothing was predicted as, or nothing belongs to, the class."""
    return {
        "precision": counts["correct"] / counts["predicted"] if counts["predicted"] else None,
        "recall": counts["correct"] / counts["actual"] if counts["actual"] else None,
    }


def confusion_matrix_svg(labels: list[str], counts: list[list[int]]) -> str:
    """The confusion matrix as an SVG picture: rows are the true classes, columns the predictions,
    each cell shaded by its share of its row (drawsvg escapes every label and number)."""
    import drawsvg

    cell, label_width, top = 64, max(90, 8 * max((len(label) for label in labels), default=1) + 16), 70
    size = len(labels) * cell
    drawing = drawsvg.Drawing(label_width + size + 10, top + size + 10, role="img",
                              aria_label="Confusion matrix: rows are true classes, columns predicted classes")
    drawing.append(drawsvg.Title("Confusion matrix (rows: true class, columns: predicted class)"))
    drawing.append(drawsvg.Text("predicted", 13, label_width + size / 2, 16, text_anchor="middle", font_family="sans-serif", fill="#333"))
    for index, label in enumerate(labels):
        x = label_width + index * cell + cell / 2
        drawing.append(drawsvg.Text(label, 12, x, top - 12, text_anchor="middle", font_family="sans-serif", fill="#222"))
        drawing.append(drawsvg.Text(label, 12, label_width - 8, top + index * cell + cell / 2 + 4, text_anchor="end",
                                    font_family="sans-serif", fill="#222"))
    for row, values in enumerate(counts):
        row_total = sum(values) or 1
        for column, value in enumerate(values):
            share = value / row_total
            hit = row == column
            colour = f"rgb({int(255 - 200 * share)},{int(255 - 80 * share)},{int(255 - 200 * share)})" if hit else \
                     f"rgb({int(255 - 40 * share)},{int(255 - 200 * share)},{int(255 - 200 * share)})"
            x, y = label_width + column * cell, top + row * cell
            rectangle = drawsvg.Rectangle(x, y, cell, cell, fill=colour, stroke="#888", stroke_width=1)
            rectangle.append_title(f"true {labels[row]}, predicted {labels[column]}: {value}")
            drawing.append(rectangle)
            drawing.append(drawsvg.Text(str(value), 16, x + cell / 2, y + cell / 2 + 6, text_anchor="middle",
                                        font_family="sans-serif", fill="#000"))
    return str(drawing.as_svg(header=""))


def _store(s3, prefix_uri: str, name: str, body: str, content_type: str) -> str:
    parsed = urlparse(prefix_uri)
    key = f"{parsed.path.strip('/')}/{name}"
    s3.put_object(Bucket=parsed.netloc, Key=key, Body=body.encode("utf-8"), ContentType=content_type)
    return f"s3://{parsed.netloc}/{key}"


def _report_prefix(event) -> str | None:
    value = event.get("reportPrefix")
    if value is None:
        return None
    parsed = urlparse(value) if isinstance(value, str) else None
    if not parsed or parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise InvalidEvaluationRequest(f"reportPrefix, when given, must be an s3://bucket/prefix URI; got {value!r}")
    return value


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
