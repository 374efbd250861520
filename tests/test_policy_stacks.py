"""The policy pack over the real program, through its gRPC analyzer interface, as the preview runs it."""

from __future__ import annotations

import pytest

from tools import preview
from tools.mockrun import ROOT
from tools.policy_runner import run_policy_pack


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_stack_passes_the_pack(stack, stack_run):
    violations = run_policy_pack(stack_run(stack).resources, stack=stack)
    assert violations == [], violations


def test_broken_resources_are_reported_and_the_preview_exits_1(capsys):
    code = preview.main(["--stack", "prod"], program=ROOT / "tests" / "programs" / "broken_stack.py")
    out = capsys.readouterr().out
    assert code == 1
    assert "[mandatory]" in out
    assert "deliberately-untagged-bucket" in out
    assert "deliberately-careless-policy" in out


def test_readme_lists_every_rule_of_the_pack():
    import re

    from policies.rules import ALL_POLICIES

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The policy pack", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(aws-[a-z0-9-]+)` \|", section, flags=re.M)
    assert listed == [p.name for p in ALL_POLICIES]


def test_the_pack_reports_the_approval_get_without_its_parameter_validator(stack_run):
    import copy

    resources = copy.deepcopy(stack_run("dev").resources)
    (get,) = [r for r in resources if r.type == "aws:apigateway/method:Method" and r.inputs.get("httpMethod") == "GET"
              and r.inputs.get("requestParameters") and r.name.startswith("mlops-dev-approval")]
    for props in (get.inputs, get.outputs):
        props.pop("requestValidatorId")
    get.dependencies = [d for d in get.dependencies if "RequestValidator" not in d]
    violations = run_policy_pack(resources, stack="dev")
    assert [(v["policy"], v["name"]) for v in violations] == [
        ("aws-apigateway-method-missing-parameter-validator", get.name)]


def test_the_pack_refuses_capturing_staging_endpoints_without_their_data_quality_monitors(run_stack):
    run = run_stack("staging", overrides={"monitoringDataQuality": "false"})
    violations = run_policy_pack(run.resources, stack="staging")
    assert sorted((v["policy"], v["name"]) for v in violations) == [
        ("aws-sagemaker-endpoint-missing-data-quality-monitor", name) for name in (
            "mlops-staging-byom-iris-tree-endpoint-endpoint", "mlops-staging-endpoint-endpoint")]
    # (iris-xgboost's endpoint keeps the data quality monitor its catalog entry asks for: tests/test_catalog_monitor_entries.py)
