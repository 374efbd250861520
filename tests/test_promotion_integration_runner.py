"""integration/run.py against moto: real InvokeEndpoint calls, the served package check, the reports."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.sagemakerruntime.models import SageMakerRuntimeBackend

from integration import run as runner

REGION = "eu-west-1"
ENDPOINT = "mlops-staging-endpoint"
CASES = Path(runner.__file__).resolve().parent / "cases"


def iris_rule(record: list[float]) -> str:
    """A tiny stand-in for a trained tree: petal length and width decide."""
    _, _, petal_length, petal_width = record
    if petal_length < 2.5:
        return "setosa"
    return "versicolor" if petal_width < 1.75 and petal_length < 5.0 else "virginica"


@pytest.fixture
def aws(monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def model(monkeypatch):
    """The endpoint answers like the model container: text/csv in, {"predictions": [...]} out."""
    calls = []
    behaviour = {"predict": iris_rule}

    def invoke_endpoint(self, endpoint_name, unique_repr):
        request = json.loads(base64.b64decode(unique_repr))
        calls.append((endpoint_name, request))
        body = request["Body"]
        body = body.decode() if isinstance(body, bytes) else body
        rows = [[float(v) for v in line.split(",")] for line in body.splitlines()]
        answer = json.dumps({"predictions": [behaviour["predict"](row) for row in rows]})
        return answer, "application/json", "AllTraffic", ""

    monkeypatch.setattr(SageMakerRuntimeBackend, "invoke_endpoint", invoke_endpoint)
    return {"calls": calls, "behaviour": behaviour}


def deploy(package: str) -> None:
    """An endpoint in moto whose model serves `package` (the chain the runner describes)."""
    sm = boto3.client("sagemaker", region_name=REGION)
    role = "arn:aws:iam::123456789012:role/model"
    sm.create_model(ModelName="m1", ExecutionRoleArn=role, PrimaryContainer={"ModelPackageName": package})
    sm.create_endpoint_config(EndpointConfigName="c1", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "m1", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="c1")


def test_shipped_cases_pass_against_a_correct_model_with_one_call_per_case(aws, model, tmp_path):
    suites = runner.load_suites(CASES)
    report = runner.run(suites, ENDPOINT, boto3.Session(region_name=REGION))
    assert report.passed, runner.markdown(report)
    assert len(model["calls"]) == sum(len(s.cases) for s in suites)
    _, request = model["calls"][0]  # (moto does not parse the endpoint name out of the URL path)
    assert request["Accept"] == "application/json"
    runner.write_reports(report, tmp_path)
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    assert {s.get("name") for s in junit} == {s.name for s in suites}
    assert all(s.get("failures") == "0" for s in junit)


def test_a_wrong_model_fails_the_run_and_the_report_says_why(aws, model, tmp_path):
    model["behaviour"]["predict"] = lambda record: "setosa"
    code = runner.main(["--endpoint", ENDPOINT, "--region", REGION, "--cases", str(CASES),
                        "--report-dir", str(tmp_path)])
    assert code == runner.EXIT_FAILED
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["passed"] is False
    assert report["suites"]["iris_known_records"]["pass_rate"] == pytest.approx(2 / 6, abs=1e-3)
    failure = next(r for r in report["results"] if r["name"] == "typical virginica")
    assert failure["message"] == "expected 'virginica', got 'setosa'"
    assert "FAILED" in (tmp_path / "report.md").read_text()


def test_pass_rate_threshold_tolerates_a_borderline_miss(aws, model, tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    records = [("5.1,3.5,1.4,0.2", "setosa")] * 9 + [("5.9,3.0,5.1,1.8", "versicolor")]  # the rule says virginica
    doc = {"min_pass_rate": 0.9, "cases": [{"name": f"c{i}", "record": r, "expected": e}
                                           for i, (r, e) in enumerate(records)]}
    (cases / "mine.json").write_text(json.dumps(doc))
    assert runner.run(runner.load_suites(cases), ENDPOINT, boto3.Session(region_name=REGION)).passed
    doc["min_pass_rate"] = 1.0
    (cases / "mine.json").write_text(json.dumps(doc))
    assert not runner.run(runner.load_suites(cases), ENDPOINT, boto3.Session(region_name=REGION)).passed


def test_served_package_must_be_the_promoted_one(aws, model):
    promoted = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-models/5"
    deploy(promoted.replace("/5", "/4"))
    report = runner.run(runner.load_suites(CASES), ENDPOINT, boto3.Session(region_name=REGION), promoted)
    check = report.results[0]
    assert check.name == "serves the promoted package" and not check.passed
    assert "mlops-dev-models/4" in check.message
    assert not report.passed


def test_served_package_check_passes_when_the_endpoint_serves_it(aws, model):
    promoted = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-models/5"
    deploy(promoted)
    report = runner.run(runner.load_suites(CASES), ENDPOINT, boto3.Session(region_name=REGION), promoted)
    assert report.results[0].passed and report.passed


def test_role_is_assumed_for_the_endpoint_account(aws, model):
    session = runner.session(REGION, "arn:aws:iam::123456789012:role/mlops-staging-endpoint-tester")
    assert session.get_credentials().token  # temporary credentials from sts:AssumeRole
    assert runner.run(runner.load_suites(CASES), ENDPOINT, session).passed


@pytest.mark.parametrize(("doc", "expected"), [
    ({"cases": []}, 'non-empty "cases" list'),
    ({"cases": [{"name": "x", "record": "1,2,3,4"}]}, '"expected" must be one answer per record'),
    ({"cases": [{"name": "x", "record": "1,2", "records": ["1,2"], "expected": "a"}]}, "exactly one of"),
    ({"cases": [{"name": "x", "records": ["1,2"], "expected": ["a", "b"]}]}, "a list of 1 labels"),
    ({"cases": [{"name": "x", "record": "1,2\n3,4", "expected": "a"}]}, "one record per string"),
    ({"min_pass_rate": 0, "cases": [{"name": "x", "record": "1", "expected": "a"}]}, "min_pass_rate = 0"),
    ({"cases": [{"name": "x", "record": "1", "expected": "a"}, {"name": "x", "record": "2", "expected": "b"}]},
     "repeated: x"),
])
def test_invalid_case_files_are_rejected_with_the_reason(tmp_path, doc, expected, capsys):
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(runner.InvalidCases, match="bad.json") as error:
        runner.load_suites(tmp_path)
    assert expected in str(error.value)
    assert runner.main(["--endpoint", "e", "--region", REGION, "--cases", str(tmp_path)]) == runner.EXIT_INVALID
    assert expected in capsys.readouterr().err
