"""The approved-preview check of the promotion's deploys: tools/preview_steps.py and the deploy buildspec."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from components.promotion import DEPLOY_BUILDSPEC
from tools.mockrun import ROOT
from tools.preview_steps import changes, compare

ENDPOINT = "urn:pulumi:prod::mlops::mlops:endpoint:ModelEndpoint$aws:sagemaker/endpoint:Endpoint::mlops-prod-endpoint"
CONFIG = "urn:pulumi:prod::mlops::mlops:endpoint:ModelEndpoint$aws:sagemaker/endpointConfiguration:EndpointConfiguration::c"
ROLE = "urn:pulumi:prod::mlops::aws:iam/role:Role::r"


def preview(*steps: dict) -> dict:
    """The shape of `pulumi preview --json`: steps with op, urn and the changed properties."""
    return {"config": {}, "steps": [{"op": "same", "urn": ROLE}, *steps],
            "changeSummary": {"same": 1, "update": len(steps)}}


APPROVED = preview({"op": "update", "urn": ENDPOINT, "diffs": ["endpointConfigName"]},
                   {"op": "replace", "urn": CONFIG, "detailedDiff": {"productionVariants[0].modelName": {}}})


def test_changes_keep_only_what_changes_with_its_properties():
    assert changes(APPROVED) == [
        {"op": "update", "urn": ENDPOINT, "diffs": ["endpointConfigName"]},
        {"op": "replace", "urn": CONFIG, "diffs": ["productionVariants[0].modelName"]},
    ]


@pytest.mark.parametrize(("label", "now", "expected"), [
    ("the same changes", APPROVED, []),
    ("the same changes, in another order", preview(*reversed(APPROVED["steps"][1:])), []),
    ("a role changed in between", preview(*APPROVED["steps"][1:], {"op": "update", "urn": ROLE, "diffs": ["policy"]}),
     [f"not approved: update {ROLE} ['policy']"]),
    ("another property of the endpoint", preview({"op": "update", "urn": ENDPOINT, "diffs": ["tags"]},
                                                 APPROVED["steps"][2]),
     [f"not approved: update {ENDPOINT} ['tags']",
      f"approved but no longer planned: update {ENDPOINT} ['endpointConfigName']"]),
])
def test_compare_names_every_difference(label, now, expected):
    assert compare(changes(APPROVED), changes(now)) == expected, label


def test_the_command_refuses_a_changed_stack_and_accepts_the_approved_one(tmp_path):
    (tmp_path / "approved.json").write_text(json.dumps(changes(APPROVED)))
    (tmp_path / "same.json").write_text(json.dumps(APPROVED))
    (tmp_path / "changed.json").write_text(json.dumps(preview({"op": "delete", "urn": ROLE})))
    script = str(ROOT / "tools" / "preview_steps.py")
    ok = subprocess.run([sys.executable, script, "compare", str(tmp_path / "approved.json"),
                         str(tmp_path / "same.json")], capture_output=True, text=True)
    assert ok.returncode == 0 and "matches the approved preview (2 changes)" in ok.stdout
    refused = subprocess.run([sys.executable, script, "compare", str(tmp_path / "approved.json"),
                              str(tmp_path / "changed.json")], capture_output=True, text=True)
    assert refused.returncode == 1
    assert "nothing was deployed" in refused.stderr and f"not approved: delete {ROLE}" in refused.stderr


def test_deploy_buildspec_previews_before_approval_and_checks_before_up():
    commands = yaml.safe_load(DEPLOY_BUILDSPEC)["phases"]["build"]["commands"]
    script = "\n".join(commands)
    preview_at = script.index('if [ "$MODE" = "preview" ]')
    compare_at = script.index("tools/preview_steps.py compare")
    up_at = script.index("pulumi up --yes")
    assert preview_at < compare_at < up_at
    assert "pulumi preview --diff" in script[preview_at:compare_at] and "exit 0" in script[preview_at:compare_at]
    assert yaml.safe_load(DEPLOY_BUILDSPEC)["artifacts"]["files"] == ["preview/**/*"]
    # the deploy build installs only requirements.txt: the checker must need nothing else
    source = (ROOT / "tools" / "preview_steps.py").read_text()
    assert "import yaml" not in source and "from tools" not in source and "import pulumi" not in source


def test_approved_targets_deploy_against_their_preview(stack_run):
    stages = {s["name"]: s for s in stack_run("dev").named("mlops-dev-promotion-pipeline").inputs["stages"]}
    preview_action = stages["PreviewProd"]["actions"][0]
    deploy_action = stages["DeployProd"]["actions"][0]
    assert preview_action["outputArtifacts"] == ["preview_prod"]
    assert deploy_action["inputArtifacts"] == ["source", "preview_prod"]
    assert deploy_action["configuration"]["PrimarySource"] == "source"
    variables = {v["name"]: v["value"] for v in json.loads(deploy_action["configuration"]["EnvironmentVariables"])}
    assert variables["MODE"] == "up" and variables["APPROVED_PREVIEW"] == "preview_prod"
    staging = {v["name"]: v["value"] for v in json.loads(
        stages["DeployStaging"]["actions"][0]["configuration"]["EnvironmentVariables"])}
    assert "APPROVED_PREVIEW" not in staging  # no approval before staging, nothing to compare against
