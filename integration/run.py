"""Integration tests of a deployed endpoint: known records in, expected answers out.

    python integration/run.py --endpoint mlops-staging-endpoint --region eu-west-1 \
        [--role-arn arn:aws:iam::222222222222:role/mlops-staging-endpoint-tester] \
        [--cases integration/cases] [--report-dir integration-report] [--expected-package <package ARN>]

Every ``*.json`` file in the cases folder is a suite (add your own next to the shipped ones)::

    {
      "description": "what the suite shows",
      "min_pass_rate": 1.0,                     # share of cases that must pass (optional, default 1.0)
      "cases": [
        {"name": "typical setosa", "record": "5.1,3.5,1.4,0.2", "expected": "setosa"},
        {"name": "a batch", "records": ["6.5,3,5.8,2.2", "5.4,3.7,1.5,0.2"], "expected": ["virginica", "setosa"]}
      ]
    }

Each case is one real ``InvokeEndpoint`` call (``text/csv`` in, ``application/json`` out, the model
container's contract: ``{"predictions": [...]}``). With ``--expected-package`` the endpoint must also be
InService and serve exactly that model package. Writes ``junit.xml`` (CodeBuild test report),
``report.md`` and ``report.json`` to the report folder. Exit codes: 0 every suite passed, 1 a suite
failed, 2 the cases or arguments are invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class InvalidCases(ValueError):
    """A case file is malformed; the message names the file, the case and what is expected."""


@dataclass
class Case:
    name: str
    records: list[str]
    expected: list[str]
    single: bool


@dataclass
class Suite:
    name: str
    description: str
    min_pass_rate: float
    cases: list[Case]


@dataclass
class Result:
    suite: str
    name: str
    passed: bool
    seconds: float
    message: str = ""
    got: Any = None
    expected: Any = None


@dataclass
class Report:
    endpoint: str
    results: list[Result] = field(default_factory=list)
    suite_verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(v["passed"] for v in self.suite_verdicts.values())


# ---------------------------------------------------------------------------------------------------
# Cases


def load_suites(folder: Path) -> list[Suite]:
    files = sorted(folder.glob("*.json"))
    if not files:
        raise InvalidCases(f"{folder} has no *.json case files")
    return [_suite(path) for path in files]


def _suite(path: Path) -> Suite:
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidCases(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list) or not doc["cases"]:
        raise InvalidCases(f'{path.name} must be an object with a non-empty "cases" list')
    rate = doc.get("min_pass_rate", 1.0)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
        raise InvalidCases(f"{path.name}: min_pass_rate = {rate!r} must be a number above 0 and at most 1")
    cases = [_case(path.name, index, raw) for index, raw in enumerate(doc["cases"])]
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidCases(f"{path.name}: case names must be unique; repeated: {', '.join(duplicates)}")
    return Suite(name=path.stem, description=str(doc.get("description", "")), min_pass_rate=float(rate), cases=cases)


def _case(file: str, index: int, raw: Any) -> Case:
    where = f"{file} case {index}"
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"].strip():
        raise InvalidCases(f'{where} must be an object with a "name"')
    where = f"{file} case {raw['name']!r}"
    if ("record" in raw) == ("records" in raw):
        raise InvalidCases(f'{where} needs exactly one of "record" (a CSV string) or "records" (a list of them)')
    single = "record" in raw
    records = [raw["record"]] if single else raw["records"]
    expected = [raw.get("expected")] if single else raw.get("expected")
    if not isinstance(records, list) or not records or not all(isinstance(r, str) and r.strip() for r in records):
        raise InvalidCases(f"{where}: records must be non-empty CSV strings such as \"5.1,3.5,1.4,0.2\"")
    if any("\n" in r.strip() for r in records):
        raise InvalidCases(f"{where}: one record per string; put several records in \"records\"")
    if not isinstance(expected, list) or len(expected) != len(records) or \
            not all(isinstance(e, (str, int, float)) and not isinstance(e, bool) for e in expected):
        raise InvalidCases(f'{where}: "expected" must be one answer per record '
                           f'({"a label" if single else f"a list of {len(records)} labels"})')
    return Case(name=raw["name"], records=[r.strip() for r in records], expected=[str(e) for e in expected],
                single=single)


# ---------------------------------------------------------------------------------------------------
# Running


def session(region: str, role_arn: str | None):
    import boto3

    if not role_arn:
        return boto3.Session(region_name=region)
    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=role_arn, RoleSessionName="integration-tests", DurationSeconds=3600)["Credentials"]
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                         aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"], region_name=region)


def served_package(sagemaker, endpoint: str) -> tuple[str, list[str]]:
    """The endpoint's status and the model packages its variants serve."""
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    packages: list[str] = []
    for variant in config["ProductionVariants"]:
        model = sagemaker.describe_model(ModelName=variant["ModelName"])
        containers = [model["PrimaryContainer"]] if model.get("PrimaryContainer") else model.get("Containers", [])
        packages.extend(c.get("ModelPackageName", "") for c in containers)
    return described["EndpointStatus"], packages


def run(suites: list[Suite], endpoint: str, aws_session, expected_package: str | None = None) -> Report:
    from botocore.exceptions import BotoCoreError, ClientError

    report = Report(endpoint=endpoint)
    if expected_package:
        started = time.monotonic()
        try:
            status, packages = served_package(aws_session.client("sagemaker"), endpoint)
            ok = status == "InService" and packages == [expected_package] * len(packages) and bool(packages)
            message = "" if ok else f"endpoint is {status} serving {packages or 'no package'}"
        except (ClientError, BotoCoreError) as exc:
            ok, message, packages = False, f"cannot describe the endpoint: {exc}", None
        report.results.append(Result("deployment", "serves the promoted package", ok,
                                     time.monotonic() - started, message, packages, expected_package))
        report.suite_verdicts["deployment"] = {"passed": ok, "pass_rate": 1.0 if ok else 0.0, "min_pass_rate": 1.0}

    runtime = aws_session.client("sagemaker-runtime")
    for suite in suites:
        results = [_run_case(runtime, endpoint, suite.name, case, (ClientError, BotoCoreError))
                   for case in suite.cases]
        report.results.extend(results)
        rate = sum(r.passed for r in results) / len(results)
        report.suite_verdicts[suite.name] = {"passed": rate >= suite.min_pass_rate, "pass_rate": round(rate, 4),
                                             "min_pass_rate": suite.min_pass_rate}
    return report


def _run_case(runtime, endpoint: str, suite: str, case: Case, aws_errors: tuple) -> Result:
    started = time.monotonic()
    expected = case.expected[0] if case.single else case.expected
    try:
        response = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv",
                                           Accept="application/json", Body="\n".join(case.records).encode())
        raw = response["Body"].read()
    except aws_errors as exc:
        return Result(suite, case.name, False, time.monotonic() - started, f"invoke failed: {exc}", None, expected)
    elapsed = time.monotonic() - started
    try:
        predictions = json.loads(raw)["predictions"]
        if not isinstance(predictions, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return Result(suite, case.name, False, elapsed,
                      f'the endpoint did not answer {{"predictions": [...]}}: {raw[:200]!r}', None, expected)
    got = [str(p) for p in predictions]
    shown = got[0] if case.single and len(got) == 1 else got
    if len(got) != len(case.records):
        return Result(suite, case.name, False, elapsed,
                      f"{len(got)} prediction(s) for {len(case.records)} record(s)", shown, expected)
    if got != case.expected:
        return Result(suite, case.name, False, elapsed, f"expected {expected!r}, got {shown!r}", shown, expected)
    return Result(suite, case.name, True, elapsed, "", shown, expected)


# ---------------------------------------------------------------------------------------------------
# Reports


def write_reports(report: Report, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(
        {"endpoint": report.endpoint, "passed": report.passed, "suites": report.suite_verdicts,
         "results": [asdict(r) for r in report.results]}, indent=2, default=str))
    (folder / "junit.xml").write_bytes(junit_xml(report))
    (folder / "report.md").write_text(markdown(report))


def junit_xml(report: Report) -> bytes:
    root = ET.Element("testsuites", name=f"integration tests of {report.endpoint}")
    for suite_name, verdict in report.suite_verdicts.items():
        results = [r for r in report.results if r.suite == suite_name]
        suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(results)),
                              failures=str(sum(not r.passed for r in results)),
                              time=f"{sum(r.seconds for r in results):.3f}")
        for result in results:
            case = ET.SubElement(suite, "testcase", classname=suite_name, name=result.name, time=f"{result.seconds:.3f}")
            if not result.passed:
                ET.SubElement(case, "failure", message=result.message).text = result.message
        if not verdict["passed"]:
            ET.SubElement(suite, "system-out").text = (
                f"pass rate {verdict['pass_rate']:.0%} below the required {verdict['min_pass_rate']:.0%}")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def markdown(report: Report) -> str:
    lines = [f"# Integration tests of `{report.endpoint}`: {'PASSED' if report.passed else 'FAILED'}", "",
             "| suite | pass rate | required | verdict |", "| --- | --- | --- | --- |"]
    for name, v in report.suite_verdicts.items():
        lines.append(f"| {name} | {v['pass_rate']:.0%} | {v['min_pass_rate']:.0%} | "
                     f"{'passed' if v['passed'] else 'FAILED'} |")
    failures = [r for r in report.results if not r.passed]
    if failures:
        lines += ["", "## Failed cases", ""]
        lines += [f"- {r.suite} / {r.name}: {r.message}" for r in failures]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="SageMaker endpoint name")
    parser.add_argument("--region", required=True)
    parser.add_argument("--role-arn", help="role to assume for the endpoint's account (optional)")
    parser.add_argument("--cases", type=Path, default=Path(__file__).resolve().parent / "cases")
    parser.add_argument("--report-dir", type=Path, default=Path("integration-report"))
    parser.add_argument("--expected-package", help="model package ARN the endpoint must serve")
    args = parser.parse_args(argv)
    try:
        suites = load_suites(args.cases)
    except InvalidCases as exc:
        print(f"invalid integration cases: {exc}", file=sys.stderr)
        return EXIT_INVALID
    report = run(suites, args.endpoint, session(args.region, args.role_arn), args.expected_package or None)
    write_reports(report, args.report_dir)
    print(markdown(report))
    return EXIT_OK if report.passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
