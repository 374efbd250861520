"""Environments are data: a new stack is a stack file, its policy config and an entry in the registry's
promotionTargets, with no Python edit; the stack files agree with the registry's topology."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.promotion_stages import PromotionTarget, approval_message, stage_plan
from components.names import Names
from program.settings import Settings
from tests.test_settings import raw_settings
from tools.mockrun import ROOT, STACKS, load_stack_config

QA_ACCOUNT = "444444444444"
QA_ROLE = f"arn:aws:iam::{QA_ACCOUNT}:role/mlops-deployer"


def _target(environment: str, approval=False, tests=False) -> PromotionTarget:
    return PromotionTarget(environment, Names("mlops", environment, "1" * 12, "eu-west-1"),
                           f"arn:aws:iam::{'1' * 12}:role/d", approval, tests)


def test_stages_follow_the_list_of_targets():
    targets = [_target("staging", tests=True), _target("qa", approval=True, tests=True),
               _target("eu-prod", approval=True)]
    assert [s.name for s in stage_plan(targets)] == [
        "DeployStaging", "TestStaging", "PreviewQa", "ApproveQa", "DeployQa", "TestQa", "PreviewEuProd",
        "ApproveEuProd", "DeployEuProd"]


def test_an_approval_links_its_preview_and_names_the_newest_test_report():
    stages = stage_plan([_target("staging", tests=True), _target("prod", approval=True)])
    text, link = approval_message(stages, 3)
    assert link == "#{PreviewProd.PREVIEW_URL}"
    assert "is live in staging and passed the integration tests (report: #{TestStaging.REPORT_URL})" in text
    assert "deploy exactly that to prod" in text
    first = stage_plan([_target("prod", approval=True)])
    text, link = approval_message(first, 1)
    assert link == "#{PreviewProd.PREVIEW_URL}" and "was approved in the model registry" in text


def _registry_targets() -> list[dict]:
    config = load_stack_config("dev")
    return json.loads(config["mlops:promotionTargets"])


@pytest.mark.parametrize("target", _registry_targets(), ids=lambda t: t["environment"])
def test_stack_files_agree_with_the_registry_topology(target):
    """The registry's promotionTargets and each target's own stack file state the same facts."""
    environment = target["environment"]
    assert environment in STACKS, f"promotionTargets names {environment!r} but there is no Pulumi.{environment}.yaml"
    registry = Settings.from_raw(raw_settings("dev"), stack="dev")
    settings = Settings.from_raw(raw_settings(environment), stack=environment)
    assert settings.deploy_role_arn == target["deployRoleArn"]
    assert settings.endpoint.managed_by == "promotion"
    assert settings.registry_environment == registry.environment
    assert (settings.endpoint.registry_account_id or settings.account_id) == registry.account_id
    assert settings.endpoint.tester_role == target.get("integrationTests", False)
    assert (ROOT / "policies" / "config" / f"{environment}.json").is_file()


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_a_policy_config(stack):
    assert (ROOT / "policies" / "config" / f"{stack}.json").is_file()


# --- a qa stack, added as data in a copy of the repository ------------------------------------------


@pytest.fixture(scope="module")
def repo_with_qa(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("repo") / "mlops"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", ".pytest_cache",
                                                             "container", "integration", "docs", "data"))
    staging = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())["config"]
    # The shipped catalog's entries name dev, staging and prod, so they do not reach qa: nothing to pin there.
    staging.pop("mlops:catalogPackages")
    qa = {**staging, "mlops:environment": "qa", "mlops:allowedAccountIds": [QA_ACCOUNT], "mlops:deployRoleArn": QA_ROLE,
          "mlops:notificationEmails": ["ml-qa@example.com"], "mlops:endpointTesterRole": True}
    (copy / "Pulumi.qa.yaml").write_text(yaml.safe_dump({"config": qa}, sort_keys=False))
    shutil.copy(ROOT / "policies" / "config" / "staging.json", copy / "policies" / "config" / "qa.json")
    dev = yaml.safe_load((copy / "Pulumi.dev.yaml").read_text())
    targets = dev["config"]["mlops:promotionTargets"]
    targets.insert(1, {"environment": "qa", "deployRoleArn": QA_ROLE, "approval": True, "integrationTests": True})
    (copy / "Pulumi.dev.yaml").write_text(yaml.safe_dump(dev, sort_keys=False))
    return copy


def _preview(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.preview", *args], cwd=repo, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_a_qa_stack_previews_clean_with_no_python_change(repo_with_qa):
    changed = [p.relative_to(repo_with_qa).as_posix() for p in repo_with_qa.rglob("*.py")
               if (ROOT / p.relative_to(repo_with_qa)).read_bytes() != p.read_bytes()]
    assert changed == []
    result = _preview(repo_with_qa, "--stack", "qa", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["violations"] == []
    endpoints = [r for r in document["resources"] if r["type"] == "aws:sagemaker/endpoint:Endpoint"]
    assert [e["inputs"]["name"] for e in endpoints] == ["mlops-qa-endpoint"]
    tester = [r for r in document["resources"] if r["name"] == "mlops-qa-endpoint-tester-role"]
    assert "arn:aws:iam::111111111111:role/mlops-dev-promotion-tests" in tester[0]["inputs"]["assumeRolePolicy"]


@pytest.mark.slow
def test_the_registry_stack_gains_the_qa_stages_sharing_and_grants(repo_with_qa):
    result = _preview(repo_with_qa, "--stack", "dev", "--json")
    assert result.returncode == 0, result.stderr
    resources = {r["name"]: r for r in json.loads(result.stdout)["resources"]}
    stages = [s["name"] for s in resources["mlops-dev-promotion-pipeline"]["inputs"]["stages"]]
    # DeployDev: the registry stack itself, for approved catalog packages (uploaded models), first.
    assert stages == ["Source", "DeployDev", "DeployStaging", "TestStaging", "PreviewQa", "ApproveQa", "DeployQa",
                      "TestQa", "PreviewProd", "ApproveProd", "DeployProd"]
    assert "mlops-dev-promotion-deploy-qa" in resources
    sharing = resources["mlops-dev-promotion-registry-policy"]["inputs"]["resourcePolicy"]
    assert f"arn:aws:iam::{QA_ACCOUNT}:root" in sharing
    bucket_policy = resources["mlops-dev-foundation-bucket-policy"]["inputs"]["policy"]
    assert f"arn:aws:iam::{QA_ACCOUNT}:role/mlops-qa-endpoint-model" in bucket_policy
    tests_policy = resources["mlops-dev-promotion-tests-policy"]["inputs"]["policy"]
    assert f"arn:aws:iam::{QA_ACCOUNT}:role/mlops-qa-endpoint-tester" in tests_policy


@pytest.mark.slow
def test_a_stack_without_a_policy_config_is_an_error_that_says_so(repo_with_qa, tmp_path):
    (repo_with_qa / "policies" / "config" / "qa.json").rename(tmp_path / "qa.json")
    try:
        result = _preview(repo_with_qa, "--stack", "qa")
    finally:
        (tmp_path / "qa.json").rename(repo_with_qa / "policies" / "config" / "qa.json")
    assert result.returncode == 2
    assert "stack qa has no policy configuration: create policies/config/qa.json" in result.stderr
