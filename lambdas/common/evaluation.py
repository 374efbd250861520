"""The evaluation report as an approver sees it: in the approval e-mail (text) and on the page (HTML).

The report is what the evaluate function returns (accuracy, minAccuracy, passed, records, perClass
with precision and recall, confusionMatrix {labels, counts}, confusionMatrixSvg). Reports from older
runs may lack fields: whatever is missing is left out, never guessed.

The confusion-matrix picture is inlined into the page only after `safe_svg` re-built it from an
allow-list of SVG elements and attributes (no script, no event handler, no link, no style sheet, no
external reference), so the page keeps its Content-Security-Policy unchanged and shows nothing the
evaluate function did not draw.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

from common import web

MAX_SVG_BYTES = 64 * 1024
_CORNER = "true \\ predicted"
_SVG_NS = "http://www.w3.org/2000/svg"
_ALLOWED_ELEMENTS = {"svg", "g", "defs", "title", "desc", "rect", "text", "tspan", "line", "path"}
_ALLOWED_ATTRIBUTES = {
    "width", "height", "viewBox", "role", "aria-label", "x", "y", "x1", "y1", "x2", "y2", "rx", "ry", "d",
    "fill", "fill-opacity", "stroke", "stroke-width", "opacity", "font-size", "font-family", "font-weight",
    "text-anchor", "dominant-baseline", "transform",
}

__all__ = ["text_lines", "html_section", "safe_svg", "MAX_SVG_BYTES"]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _fmt(value: Any) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{number:.4f}"


def _classes(report: dict) -> list[tuple[str, dict]]:
    per_class = report.get("perClass")
    if not isinstance(per_class, dict):
        return []
    return [(str(label), stats) for label, stats in per_class.items() if isinstance(stats, dict)]


def _matrix(report: dict) -> tuple[list[str], list[list[int]]] | None:
    matrix = report.get("confusionMatrix")
    if not isinstance(matrix, dict):
        return None
    labels, counts = matrix.get("labels"), matrix.get("counts")
    if not (isinstance(labels, list) and isinstance(counts, list) and len(counts) == len(labels)
            and all(isinstance(row, list) and len(row) == len(labels) for row in counts)):
        return None
    return [str(label) for label in labels], [[int(v) if _number(v) is not None else 0 for v in row] for row in counts]


def verdict(report: dict) -> str:
    """'0.9667 against the required 0.8500: passed' (or as much of it as the report has)."""
    accuracy, required = _fmt(report.get("accuracy")), _number(report.get("minAccuracy"))
    if required is None:
        return accuracy
    passed = report.get("passed")
    outcome = "passed" if passed is True else "NOT passed" if passed is False else "not judged"
    return f"{accuracy} against the required {required:.4f}: {outcome}"


def text_lines(report: dict, indent: int = 2) -> list[str]:
    """The report for a plain-text e-mail: accuracy vs threshold, a per-class table, the matrix as a grid."""
    pad = " " * indent
    records = report.get("records")
    lines = [f"{pad}Accuracy:  {verdict(report)}" + (f" ({records} records)" if isinstance(records, int) else "")]
    classes = _classes(report)
    if classes:
        width = max(len("class"), *(len(label) for label, _ in classes))
        lines += ["", f"{pad}{'class':<{width}}  precision  recall  support"]
        for label, stats in classes:
            support = stats.get("actual")
            lines.append(f"{pad}{label:<{width}}  {_fmt(stats.get('precision')):>9}  {_fmt(stats.get('recall')):>6}  "
                         f"{support if isinstance(support, int) else 'n/a':>7}")
    matrix = _matrix(report)
    if matrix:
        labels, counts = matrix
        width = max(len(_CORNER), *(len(label) for label in labels))
        column = max(6, *(len(label) for label in labels))
        lines += ["", f"{pad}Confusion matrix (rows: true class, columns: predicted class)",
                  f"{pad}{_CORNER:<{width}}  " + "  ".join(f"{label:>{column}}" for label in labels)]
        for label, row in zip(labels, counts, strict=True):
            lines.append(f"{pad}{label:<{width}}  " + "  ".join(f"{value:>{column}}" for value in row))
    return lines


def html_section(report: dict) -> str:
    """The report as escaped HTML for the approval page; the picture only if `safe_svg` accepts it."""
    records = report.get("records")
    parts = [f"<h2>Evaluation on the held-out test data</h2><p>Accuracy <strong>{web.esc(verdict(report))}</strong>"
             + (f" ({web.esc(records)} records)" if isinstance(records, int) else "") + "</p>"]
    classes = _classes(report)
    if classes:
        rows = "".join(
            f"<tr><th scope=\"row\">{web.esc(label)}</th><td>{web.esc(_fmt(stats.get('precision')))}</td>"
            f"<td>{web.esc(_fmt(stats.get('recall')))}</td><td>{web.esc(stats.get('actual', 'n/a'))}</td></tr>"
            for label, stats in classes)
        parts.append("<table><caption>Per class</caption><tr><th scope=\"col\">Class</th><th scope=\"col\">Precision</th>"
                     f"<th scope=\"col\">Recall</th><th scope=\"col\">Support</th></tr>{rows}</table>")
    picture = safe_svg(report.get("confusionMatrixSvg"))
    if picture:
        parts.append(f'<figure class="matrix">{picture}<figcaption>Confusion matrix: rows are the true classes, '
                     "columns the predicted ones.</figcaption></figure>")
    else:
        matrix = _matrix(report)
        if matrix:
            labels, counts = matrix
            head = "".join(f"<th scope=\"col\">{web.esc(label)}</th>" for label in labels)
            body = "".join(f"<tr><th scope=\"row\">{web.esc(label)}</th>" + "".join(f"<td>{value}</td>" for value in row) + "</tr>"
                           for label, row in zip(labels, counts, strict=True))
            parts.append(f"<table><caption>Confusion matrix (rows: true, columns: predicted)</caption><tr><th></th>{head}</tr>{body}</table>")
    return "".join(parts)


def safe_svg(markup: Any) -> str | None:
    """`markup` re-serialised if it is one SVG picture made only of allowed elements and attributes; else None."""
    if not isinstance(markup, str) or not markup.strip() or len(markup.encode("utf-8")) > MAX_SVG_BYTES:
        return None
    if "<!DOCTYPE" in markup or "<!ENTITY" in markup:
        return None  # no document type, no entities: nothing to expand
    try:
        root = ET.fromstring(markup)
    except ET.ParseError:
        return None
    if root.tag != f"{{{_SVG_NS}}}svg":
        return None
    for element in root.iter():
        if not isinstance(element.tag, str) or not element.tag.startswith(f"{{{_SVG_NS}}}"):
            return None
        if element.tag[len(_SVG_NS) + 2:] not in _ALLOWED_ELEMENTS:
            return None
        for name, value in element.attrib.items():
            if name not in _ALLOWED_ATTRIBUTES or "url(" in value.lower() or "javascript:" in value.lower():
                return None
    ET.register_namespace("", _SVG_NS)
    return ET.tostring(root, encoding="unicode")
