"""What an approver sees of the evaluation: the report and picture the evaluate function stores, the
approval e-mail (text) and the approval page (HTML), end to end through the real handlers on moto."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest

from approval_decision import handler as decision
from approval_request import handler as approval_request
from common import evaluation, web
from evaluate import handler as evaluate
from tests.lambdas.conftest import sns_messages

BUCKET = "models"
HOSTILE = '<script>alert("x")</script>'
LINES = "setosa,setosa\nsetosa,setosa\nversicolor,versicolor\nversicolor,virginica\nvirginica,virginica\n" \
        f"{HOSTILE},{HOSTILE}\n"


@pytest.fixture
def report(boto):
    s3 = boto("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=BUCKET, Key="workflow/evaluation/run-1/test.csv.out", Body=LINES.encode())
    return evaluate.handler({"transformOutput": f"s3://{BUCKET}/workflow/evaluation/run-1", "minAccuracy": 0.75,
                             "reportPrefix": f"s3://{BUCKET}/workflow/reports/run-1"}, None)


def test_evaluate_stores_the_report_and_the_picture_beside_it(report, boto):
    s3 = boto("s3")
    assert report["report"] == f"s3://{BUCKET}/workflow/reports/run-1/evaluation.json"
    assert report["confusionMatrixImage"] == f"s3://{BUCKET}/workflow/reports/run-1/confusion-matrix.svg"
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key="workflow/reports/run-1/evaluation.json")["Body"].read())
    assert stored["accuracy"] == pytest.approx(5 / 6) and stored["confusionMatrix"] == report["confusionMatrix"]
    picture = s3.get_object(Bucket=BUCKET, Key="workflow/reports/run-1/confusion-matrix.svg")
    assert picture["ContentType"] == "image/svg+xml"
    svg = picture["Body"].read().decode()
    assert svg == report["confusionMatrixSvg"]
    root = ET.fromstring(svg)  # well-formed SVG: one rect per cell, the labels as escaped text
    cells = [e for e in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert len(cells) == len(report["confusionMatrix"]["labels"]) ** 2
    assert HOSTILE not in svg and html.escape(HOSTILE, quote=False) in svg
    # The report prefix is outside the transform output, so evaluating again reads the same records.
    again = evaluate.handler({"transformOutput": f"s3://{BUCKET}/workflow/evaluation/run-1", "minAccuracy": 0.75}, None)
    assert again["records"] == report["records"] == 6


def test_invalid_report_prefix_is_a_named_error(report):
    with pytest.raises(evaluate.InvalidEvaluationRequest, match="reportPrefix"):
        evaluate.handler({"transformOutput": f"s3://{BUCKET}/workflow/evaluation/run-1", "reportPrefix": "/tmp/x"}, None)


def request_approval(report) -> dict:
    approval_request.handler({
        "taskToken": "token-for-the-page-test",
        "executionArn": "arn:aws:states:eu-west-1:123456789012:execution:training:run-1",
        "commitId": "c0ffee0123456789c0ffee0123456789c0ffee01",
        "modelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/iris/7",
        "evaluation": {"transformOutput": report["transformOutput"], "metrics": report},
        "timeoutSeconds": 3600,
    }, None)
    return sns_messages_of_approval()


def sns_messages_of_approval() -> dict:
    import os

    [sent] = sns_messages(os.environ["TOPIC_ARN"])
    return sent


def page_for(message: str, decision_name: str = "approve") -> dict:
    url = next(line for line in message.splitlines() if f"decision={decision_name}" in line)
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    return decision.handler({"httpMethod": "GET", "queryStringParameters": params, "headers": {}}, None)


def test_email_shows_accuracy_against_threshold_per_class_scores_and_the_matrix(approval_env, report):
    message = request_approval(report)["message"]
    assert "Accuracy:  0.8333 against the required 0.7500: passed (6 records)" in message
    assert re.search(r"^  versicolor +1\.0000 +0\.5000 +2$", message, flags=re.M)  # precision, recall, support
    assert "Confusion matrix (rows: true class, columns: predicted class)" in message
    assert "c0ffee0123456789c0ffee0123456789c0ffee01" in message and "model-package/iris/7" in message
    assert f"Confusion matrix picture: s3://{BUCKET}/workflow/reports/run-1/confusion-matrix.svg" in message
    assert "<svg" not in message  # the picture is not dumped into the text


def test_page_shows_the_evaluation_with_the_picture_and_the_same_headers(approval_env, report):
    page = page_for(request_approval(report)["message"])

    assert page["statusCode"] == 200
    assert page["headers"] == web.PAGE_HEADERS  # no header added or loosened for the picture
    body = page["body"]
    assert "Accuracy <strong>0.8333 against the required 0.7500: passed</strong> (6 records)" in body
    assert '<th scope="row">versicolor</th><td>1.0000</td><td>0.5000</td><td>2</td>' in body
    assert '<figure class="matrix"><svg xmlns="http://www.w3.org/2000/svg"' in body and "<rect" in body
    assert "c0ffee0123456789c0ffee0123456789c0ffee01" in body and "model-package/iris/7" in body
    # Every value is escaped: the hostile label shows as text, never as markup; nothing loads from elsewhere.
    assert "<script" not in body and html.escape(HOSTILE, quote=False) in body
    assert "http://" not in body.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in body


def test_a_tampered_picture_is_not_inlined_and_the_matrix_shows_as_a_table(approval_env, report, boto):
    report = {**report, "confusionMatrixSvg": '<svg xmlns="http://www.w3.org/2000/svg" onload="steal()"><rect/></svg>'}
    body = page_for(request_approval(report)["message"])["body"]
    assert "onload" not in body and "<svg" not in body
    assert "<caption>Confusion matrix (rows: true, columns: predicted)</caption>" in body


def test_records_without_an_evaluation_still_get_a_page(approval_env, report):
    body = page_for(request_approval({"accuracy": 0.95, "transformOutput": "s3://models/x/"})["message"])["body"]
    assert "Accuracy <strong>0.9500</strong>" in body and "<svg" not in body


SVG = 'xmlns="http://www.w3.org/2000/svg"'


@pytest.mark.parametrize(("markup", "why"), [
    (f"<svg {SVG}><script>alert(1)</script></svg>", "script element"),
    (f'<svg {SVG} onload="x()"></svg>', "event handler"),
    (f'<svg {SVG} xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="javascript:x()"><rect/></a></svg>', "link"),
    (f'<svg {SVG}><rect fill="url(https://evil.example/x)"/></svg>', "external reference"),
    (f'<svg {SVG}><style>rect{{fill:red}}</style></svg>', "style sheet"),
    (f'<svg {SVG}><foreignObject><div/></foreignObject></svg>', "foreign content"),
    ('<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg"><text>&a;</text></svg>', "entities"),
    ("<html><body/></html>", "not SVG"),
    ("<svg", "not XML"),
    (f"<svg {SVG}>" + "<rect/>" * 20000 + "</svg>", "too large"),
    (None, "missing"),
])
def test_safe_svg_refuses_anything_but_plain_drawing(markup, why):
    assert evaluation.safe_svg(markup) is None, why


def test_safe_svg_keeps_what_evaluate_draws():
    drawn = evaluate.confusion_matrix_svg(["a", "b"], [[3, 1], [0, 4]])
    kept = evaluation.safe_svg(drawn)
    assert kept is not None and kept.count("<rect") == 4 and ">3<" in kept
