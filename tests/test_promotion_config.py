"""pipeline/promotion_config.py: which config key a promoted package goes to on each target, what stays
pinned, whether the deployed stack serves it, which endpoint the integration tests use. The plan is the one
the dev stack's promotion really hands its builds (PROMOTION_PLAN)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.promotion_config import (
    EXIT_INVALID,
    EXIT_NOT_SERVED,
    Plan,
    PromotionError,
    deploy_settings,
    integration_arguments,
    serves,
)
from tools.mockrun import ROOT

REGISTRY = "arn:aws:sagemaker:eu-west-1:111111111111:model-package"
TRAINED = f"{REGISTRY}/mlops-dev-models/12"
TREE = f"{REGISTRY}/mlops-dev-byom-iris-tree-models/3"
BATCH = f"{REGISTRY}/mlops-dev-byom-iris-xgboost-batch-models/2"
# What staging serves now (its outputs): the trained model, two catalog models, one entry with its own
# model_package_name (not an uploaded entry: never pinned through catalogPackages).
STAGING_NOW = {"modelPackageArn": f"{REGISTRY}/mlops-dev-models/9", "catalogPackages": {
    "iris-tree": f"{REGISTRY}/mlops-dev-byom-iris-tree-models/1",
    "iris-xgboost": f"{REGISTRY}/mlops-dev-byom-iris-xgboost-models/4",
    "iris-tree-batch": f"{REGISTRY}/mlops-dev-models/1"}}


@pytest.fixture(scope="module")
def plan_text(request) -> str:
    from tools.mockrun import run_program

    project = run_program("dev").named("mlops-dev-promotion-deploy-staging").inputs
    return {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}["PROMOTION_PLAN"]


@pytest.fixture(scope="module")
def plan(plan_text) -> Plan:
    return Plan.from_json(plan_text)


def test_the_plan_knows_every_platform_group_and_where_its_entry_goes(plan):
    assert plan.registry == "dev" and plan.trained_group == "mlops-dev-models"
    tree = plan.catalog_groups["mlops-dev-byom-iris-tree-models"]
    assert tree.model == "iris-tree"
    assert tree.endpoints == {"dev": "iris-tree-dev", "staging": "iris-tree-staging", "prod": "iris-tree-prod"}
    batch = plan.catalog_groups["mlops-dev-byom-iris-xgboost-batch-models"]
    assert batch.endpoints == {"dev": None, "staging": None, "prod": None}


def test_a_trained_package_goes_to_model_package_arn_and_every_catalog_pin_stays(plan):
    deploy = deploy_settings(plan, TRAINED, "staging", STAGING_NOW)
    assert deploy.skip == ""
    assert dict(deploy.settings) == {"modelPackageArn": TRAINED,
                                     "catalogPackages.iris-tree": STAGING_NOW["catalogPackages"]["iris-tree"],
                                     "catalogPackages.iris-xgboost": STAGING_NOW["catalogPackages"]["iris-xgboost"]}


def test_a_catalog_package_goes_to_its_entrys_pin_and_everything_else_stays(plan):
    deploy = deploy_settings(plan, TREE, "staging", STAGING_NOW)
    assert dict(deploy.settings) == {"modelPackageArn": STAGING_NOW["modelPackageArn"],
                                     "catalogPackages.iris-tree": TREE,
                                     "catalogPackages.iris-xgboost": STAGING_NOW["catalogPackages"]["iris-xgboost"]}
    # a first deploy (no outputs yet) sets only the promoted package
    assert deploy_settings(plan, BATCH, "prod", {}).settings == (("catalogPackages.iris-xgboost-batch", BATCH),)


def test_the_registry_stack_deploys_catalog_packages_but_not_trained_ones(plan):
    dev_now = {"catalogPackages": {"iris-xgboost": f"{REGISTRY}/mlops-dev-byom-iris-xgboost-models/4"},
               "modelPackageArn": "ignored: dev's endpoint is its training workflow's"}
    assert dict(deploy_settings(plan, TREE, "dev", dev_now).settings) == {
        "catalogPackages.iris-tree": TREE, "catalogPackages.iris-xgboost": dev_now["catalogPackages"]["iris-xgboost"]}
    trained = deploy_settings(plan, TRAINED, "dev", dev_now)
    assert trained.settings == () and "training workflow already deployed it in dev" in trained.skip


def test_an_environment_the_entry_does_not_reach_deploys_nothing():
    plan = Plan.from_json(json.dumps({"registry": "dev", "trainedGroup": "mlops-dev-models", "catalogGroups": {
        "mlops-dev-byom-iris-tree-models": {"model": "iris-tree", "endpoints": {"dev": "e", "staging": "f"}}}}))
    deploy = deploy_settings(plan, TREE, "prod", STAGING_NOW)
    assert deploy.settings == () and "does not reach prod (it reaches dev, staging)" in deploy.skip
    # in staging, which it reaches, only models of the plan that reach staging are pinned again
    assert dict(deploy_settings(plan, TREE, "staging", STAGING_NOW).settings) == {
        "modelPackageArn": STAGING_NOW["modelPackageArn"], "catalogPackages.iris-tree": TREE}


@pytest.mark.parametrize("package, says", [
    (f"{REGISTRY}/someone-elses-models/1", "group someone-elses-models, which this promotion does not carry"),
    (f"{REGISTRY}/mlops-dev-models", "not a versioned model package ARN"),
    ("mlops-dev-models/1", "not a versioned model package ARN"),
])
def test_a_package_of_no_platform_group_is_refused_by_name(plan, package, says):
    with pytest.raises(PromotionError, match=says.replace("(", r"\(")):
        deploy_settings(plan, package, "staging", {})


def test_the_deployed_stack_must_serve_the_package(plan):
    assert serves(plan, TREE, "staging", {"catalogPackages": {"iris-tree": TREE}})[0]
    ok, message = serves(plan, TREE, "staging", {"catalogPackages": {"iris-tree": STAGING_NOW["catalogPackages"]["iris-tree"]}})
    assert not ok and "serves arn:" in message and "catalogPackages.iris-tree" in message
    assert serves(plan, TRAINED, "staging", {"modelPackageArn": TRAINED})[0]
    assert not serves(plan, TRAINED, "staging", {})[0]
    assert serves(plan, TRAINED, "dev", {})[0]  # nothing to deploy there: nothing to check


def test_integration_tests_run_against_the_endpoint_serving_the_package(plan, tmp_path, monkeypatch):
    assert integration_arguments(plan, TRAINED, "staging", "mlops-staging-endpoint") == (
        ["--endpoint", "mlops-staging-endpoint", "--cases", "integration/cases"], "")
    arguments, skip = integration_arguments(plan, BATCH, "staging", "mlops-staging-endpoint")
    assert arguments == [] and "batch model: no endpoint to test" in skip
    monkeypatch.chdir(tmp_path)
    arguments, skip = integration_arguments(plan, TREE, "staging", "mlops-staging-endpoint")
    assert arguments == [] and "add integration/cases/catalog/iris-tree/*.json" in skip
    cases = tmp_path / "integration" / "cases" / "catalog" / "iris-tree"
    cases.mkdir(parents=True)
    (cases / "known.json").write_text("{}")
    assert integration_arguments(plan, TREE, "staging", "mlops-staging-endpoint") == (
        ["--endpoint", "iris-tree-staging", "--cases", "integration/cases/catalog/iris-tree"], "")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "pipeline" / "promotion_config.py"), *args],
                          capture_output=True, text=True, timeout=60)


def test_the_build_gets_pulumi_config_set_all_arguments_one_per_line(plan_text, tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(STAGING_NOW))
    done = cli("deploy", "--plan", plan_text, "--package", TREE, "--environment", "staging", "--outputs", str(outputs))
    assert done.returncode == 0, done.stderr
    # what `mapfile -t CONFIG < config.txt && pulumi config set-all --path "${CONFIG[@]}"` receives
    assert done.stdout.splitlines() == [
        "--plaintext", f"catalogPackages.iris-tree={TREE}",
        "--plaintext", f"catalogPackages.iris-xgboost={STAGING_NOW['catalogPackages']['iris-xgboost']}",
        "--plaintext", f"modelPackageArn={STAGING_NOW['modelPackageArn']}"]
    skipped = cli("deploy", "--plan", plan_text, "--package", TRAINED, "--environment", "dev", "--outputs", str(outputs))
    assert skipped.returncode == 0 and skipped.stdout == "" and "nothing to deploy here" in skipped.stderr


def test_a_merge_deploy_keeps_everything_the_stack_serves(tmp_path):
    """.github/workflows/pulumi-up.yml: a deploy that promotes nothing pins what the stack serves now."""
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(STAGING_NOW | {"catalogPackages": {**STAGING_NOW["catalogPackages"], "x": "junk"}}))
    kept = cli("keep", "--outputs", str(outputs), "--trained")
    assert kept.returncode == 0, kept.stderr
    pins = [f"catalogPackages.{m}={arn}" for m, arn in sorted(STAGING_NOW["catalogPackages"].items())]
    assert kept.stdout.splitlines() == [line for pin in [*pins, f"modelPackageArn={STAGING_NOW['modelPackageArn']}"]
                                        for line in ("--plaintext", pin)]
    # dev: the training workflow owns the trained model's endpoint; only catalog pins are kept
    dev = cli("keep", "--outputs", str(outputs))
    assert [line for line in dev.stdout.splitlines() if line.startswith("modelPackageArn")] == []
    outputs.write_text("{}")  # a stack never deployed: nothing to keep
    assert cli("keep", "--outputs", str(outputs)).stdout == ""
    assert cli("deploy", "--outputs", str(outputs)).returncode == 2  # deploy still needs its plan


def test_the_build_fails_when_the_package_is_not_served_or_not_promotable(plan_text, tmp_path):
    deployed = tmp_path / "deployed.json"
    deployed.write_text(json.dumps(STAGING_NOW))
    missing = cli("verify", "--plan", plan_text, "--package", TREE, "--environment", "staging", "--outputs", str(deployed))
    assert missing.returncode == EXIT_NOT_SERVED and "catalogPackages.iris-tree" in missing.stderr
    foreign = cli("deploy", "--plan", plan_text, "--package", f"{REGISTRY}/other/1", "--environment", "staging")
    assert foreign.returncode == EXIT_INVALID and foreign.stdout == "" and "does not carry" in foreign.stderr
    bad_plan = cli("deploy", "--plan", "{}", "--package", TREE, "--environment", "staging")
    assert bad_plan.returncode == EXIT_INVALID and "PROMOTION_PLAN" in bad_plan.stderr


def test_the_script_needs_only_the_standard_library():
    source = (ROOT / "pipeline" / "promotion_config.py").read_text()
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["from __future__ import annotations", "import argparse", "import json", "import re",
                       "import sys", "from dataclasses import dataclass", "from pathlib import Path"]
