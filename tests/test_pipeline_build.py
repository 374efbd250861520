"""The Build stage: pipeline/buildspec.yml and pipeline/build_image.py, run with fake ``aws`` and ``docker``.

The fakes are small Python programs put first on PATH. They log every call, keep the "ECR repository"
as a file of pushed tags, and fail on request, so the tag/skip/push logic runs exactly as in CodeBuild.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from components.training_pipeline import DATA_MANIFEST_PATH, START_INPUT_FILE

ROOT = Path(__file__).resolve().parent.parent
BUILDSPEC = ROOT / "pipeline" / "buildspec.yml"
SCRIPT = ROOT / "pipeline" / "build_image.py"
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
REPO_URI = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/mlops-dev-model"
BUCKET = "mlops-dev-111111111111-eu-west-1"
LOGIN_SECRET = "ecr-login-token-must-never-be-logged"

FAKE_AWS = textwrap.dedent(f"""\
    #!{sys.executable}
    import json, os, sys
    state = os.environ["FAKE_STATE"]
    with open(os.path.join(state, "calls.log"), "a") as log:
        log.write("aws " + " ".join(sys.argv[1:]) + "\\n")
    args = sys.argv[1:]
    if args[:2] == ["ecr", "describe-images"]:
        if os.environ.get("FAKE_DESCRIBE_ERROR"):
            sys.stderr.write("An error occurred (AccessDeniedException) when calling DescribeImages\\n")
            sys.exit(254)
        tag = args[args.index("--image-ids") + 1].split("=", 1)[1]
        images = os.path.join(state, "images")
        if os.path.exists(images) and tag in open(images).read().split():
            print("sha256:0123")
            sys.exit(0)
        sys.stderr.write("An error occurred (ImageNotFoundException) when calling the DescribeImages "
                         "operation: The image with imageId {{imageTag:'%s'}} does not exist\\n" % tag)
        sys.exit(254)
    if args[:2] == ["ecr", "get-login-password"]:
        print("{LOGIN_SECRET}")
        sys.exit(0)
    sys.exit(f"fake aws: unexpected call {{args}}")
    """)

FAKE_DOCKER = textwrap.dedent(f"""\
    #!{sys.executable}
    import os, sys
    state = os.environ["FAKE_STATE"]
    args = sys.argv[1:]
    with open(os.path.join(state, "calls.log"), "a") as log:
        log.write("docker " + " ".join(args) + "\\n")
    if args[0] == "login":
        with open(os.path.join(state, "login_stdin"), "w") as f:
            f.write(sys.stdin.read())
        print("Login Succeeded")
    elif args[0] == "build":
        print("Step 1/1 : FROM python:3.11-slim")
    elif args[0] == "push":
        if os.environ.get("FAKE_PUSH_FAILS"):
            if os.environ.get("FAKE_PUSH_RACE"):  # another build pushed the same tag meanwhile
                with open(os.path.join(state, "images"), "a") as f:
                    f.write(args[1].rsplit(":", 1)[1] + "\\n")
            sys.exit("tag invalid: The image tag already exists and cannot be overwritten")
        with open(os.path.join(state, "images"), "a") as f:
            f.write(args[1].rsplit(":", 1)[1] + "\\n")
    else:
        sys.exit(f"fake docker: unexpected call {{args}}")
    """)


@pytest.fixture
def workspace(tmp_path):
    """A source checkout (container/, data/, pipeline/) and a bin directory with the fakes."""
    src = tmp_path / "src"
    (src / "container").mkdir(parents=True)
    (src / "container" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (src / "data").mkdir()
    shutil.copytree(ROOT / "pipeline", src / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    state = tmp_path / "state"
    state.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("aws", FAKE_AWS), ("docker", FAKE_DOCKER)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    # CodeBuild's python3; also keeps a pyenv shim from putting a real `aws` ahead of the fake on PATH.
    (bin_dir / "python3").symlink_to(sys.executable)
    return src, state, bin_dir


def environment(state: Path, bin_dir: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_STATE": str(state),
           "IMAGE_REPOSITORY_URI": REPO_URI, "SOURCE_KIND": "git", "SOURCE_REVISION": SHA,
           "ALLOWED_DATA_BUCKETS": BUCKET, "AWS_REGION": "eu-west-1"}
    env.update(extra)
    return env


def run_build(workspace, **extra: str) -> subprocess.CompletedProcess:
    src, state, bin_dir = workspace
    return subprocess.run([sys.executable, "pipeline/build_image.py"], cwd=src, capture_output=True, text=True,
                          env=environment(state, bin_dir, **extra), timeout=60)


def calls(state: Path) -> list[str]:
    log = state / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


# --- the buildspec file -----------------------------------------------------------------------------


def test_buildspec_parses_and_runs_the_build_script():
    spec = yaml.safe_load(BUILDSPEC.read_text())
    assert str(spec["version"]) == "0.2"
    commands = spec["phases"]["build"]["commands"]
    assert any(c.startswith("python3 pipeline/build_image.py") for c in commands)
    script_call = next(c for c in commands if "build_image.py" in c)
    assert f"--manifest {DATA_MANIFEST_PATH}" in script_call
    assert f"--output {START_INPUT_FILE}" in script_call
    assert spec["artifacts"]["files"] == [START_INPUT_FILE]
    assert set(spec["env"]["exported-variables"]) == {"IMAGE_TAG", "IMAGE_URI", "IMAGE_BUILT",
                                                      "EXECUTION_NAME_PREFIX"}


def test_buildspec_dumps_no_environment_and_holds_no_secrets():
    spec = yaml.safe_load(BUILDSPEC.read_text())
    commands = [c for phase in spec["phases"].values() for c in phase.get("commands", [])]
    for command in commands:
        words = command.split()
        assert words[0] not in ("printenv", "env", "set", "export", "echo"), command
        assert "set -x" not in command and "--password " not in command
    assert "secrets-manager" not in spec.get("env", {}) and "parameter-store" not in spec.get("env", {})


def test_buildspec_commands_build_and_export_variables(workspace):
    """Run the buildspec's build commands in one bash shell, as CodeBuild does, and read the exports."""
    src, state, bin_dir = workspace
    spec = yaml.safe_load(BUILDSPEC.read_text())
    script = "\n".join(["set -e", *spec["phases"]["build"]["commands"],
                        *(f'echo "{name}=${{{name}}}"' for name in spec["env"]["exported-variables"])])
    result = subprocess.run(["bash", "-c", script], cwd=src, capture_output=True, text=True,
                            env=environment(state, bin_dir), timeout=60)
    assert result.returncode == 0, result.stderr
    exported = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line and
                    line.split("=", 1)[0] in spec["env"]["exported-variables"])
    assert exported == {"IMAGE_TAG": SHA, "IMAGE_URI": f"{REPO_URI}:{SHA}", "IMAGE_BUILT": "true",
                        "EXECUTION_NAME_PREFIX": f"commit-{SHA[:12]}"}
    for pattern in spec["artifacts"]["files"]:
        assert (src / pattern).is_file()


# --- tag, build, push, skip -------------------------------------------------------------------------


def test_new_commit_is_built_pushed_and_tagged_with_the_full_sha(workspace):
    src, state, _ = workspace
    result = run_build(workspace)
    assert result.returncode == 0, result.stderr
    log = calls(state)
    assert [c.split()[:2] for c in log] == [["aws", "ecr"], ["aws", "ecr"], ["docker", "login"],
                                            ["docker", "build"], ["docker", "push"]]
    assert f"--image-ids imageTag={SHA}" in log[0]
    assert "--repository-name mlops-dev-model" in log[0] and "--registry-id 111111111111" in log[0]
    assert f"--tag {REPO_URI}:{SHA}" in log[3] and log[3].endswith(" container")
    assert log[4] == f"docker push {REPO_URI}:{SHA}"
    assert (state / "login_stdin").read_text().strip() == LOGIN_SECRET
    assert LOGIN_SECRET not in result.stdout + result.stderr
    start = json.loads((src / START_INPUT_FILE).read_text())
    assert start == {"commitId": SHA, "imageUri": f"{REPO_URI}:{SHA}"}


def test_existing_tag_skips_build_and_push(workspace):
    src, state, _ = workspace
    (state / "images").write_text(SHA + "\n")
    result = run_build(workspace)
    assert result.returncode == 0, result.stderr
    assert all(not c.startswith("docker") for c in calls(state)), calls(state)
    assert "skipping docker build and push" in result.stdout
    assert json.loads((src / START_INPUT_FILE).read_text())["imageUri"] == f"{REPO_URI}:{SHA}"
    assert "export IMAGE_BUILT=false" in (src / "build.env").read_text()


def test_rebuilding_the_same_commit_yields_the_same_tag_and_skips(workspace):
    src, state, _ = workspace
    assert run_build(workspace).returncode == 0
    first = (src / START_INPUT_FILE).read_text()
    pushes_before = sum(c.startswith("docker push") for c in calls(state))
    assert run_build(workspace).returncode == 0
    assert (src / START_INPUT_FILE).read_text() == first
    assert sum(c.startswith("docker push") for c in calls(state)) == pushes_before == 1


def test_falls_back_to_codebuild_resolved_source_version(workspace):
    src, _, _ = workspace
    result = run_build(workspace, SOURCE_REVISION="", CODEBUILD_RESOLVED_SOURCE_VERSION=SHA.upper())
    assert result.returncode == 0, result.stderr
    assert json.loads((src / START_INPUT_FILE).read_text())["commitId"] == SHA


@pytest.mark.parametrize("revision", [SHA[:7], "main", "", SHA + "0", "refs/heads/main"])
def test_anything_but_a_full_commit_sha_is_rejected(workspace, revision):
    src, state, _ = workspace
    result = run_build(workspace, SOURCE_REVISION=revision)
    assert result.returncode == 2
    assert "is not a full 40-character git commit SHA" in result.stderr
    assert calls(state) == [] and not (src / START_INPUT_FILE).exists()


def test_s3_source_is_tagged_by_its_etag(workspace):
    src, _, _ = workspace
    etag = '"9b2cf535f27731c974343645a3985328"'
    result = run_build(workspace, SOURCE_KIND="s3", SOURCE_REVISION=etag)
    assert result.returncode == 0, result.stderr
    start = json.loads((src / START_INPUT_FILE).read_text())
    assert start["commitId"] == "s3-9b2cf535f27731c974343645a3985328"
    assert start["imageUri"] == f"{REPO_URI}:s3-9b2cf535f27731c974343645a3985328"


def test_concurrent_push_of_the_same_tag_counts_as_success(workspace):
    result = run_build(workspace, FAKE_PUSH_FAILS="1", FAKE_PUSH_RACE="1")
    assert result.returncode == 0, result.stderr
    assert "pushed concurrently" in result.stdout


def test_failed_push_fails_the_build(workspace):
    src, _, _ = workspace
    result = run_build(workspace, FAKE_PUSH_FAILS="1")
    assert result.returncode == 1
    assert "docker push" in result.stderr and not (src / START_INPUT_FILE).exists()


def test_ecr_errors_other_than_not_found_fail_instead_of_rebuilding(workspace):
    src, state, _ = workspace
    result = run_build(workspace, FAKE_DESCRIBE_ERROR="1")
    assert result.returncode == 1
    assert "AccessDeniedException" in result.stderr
    assert not any(c.startswith("docker") for c in calls(state))


def test_invalid_repository_uri_is_rejected(workspace):
    result = run_build(workspace, IMAGE_REPOSITORY_URI="docker.io/library/python")
    assert result.returncode == 2
    assert "IMAGE_REPOSITORY_URI 'docker.io/library/python' is invalid" in result.stderr


def test_build_output_holds_no_environment_dump(workspace):
    result = run_build(workspace, AWS_SECRET_ACCESS_KEY="do-not-print-me", AWS_SESSION_TOKEN="nor-me")
    output = result.stdout + result.stderr
    assert result.returncode == 0
    assert "do-not-print-me" not in output and "nor-me" not in output and LOGIN_SECRET not in output


# --- the data manifest ------------------------------------------------------------------------------


def test_manifest_data_locations_and_hyperparameters_reach_the_workflow_input(workspace):
    src, _, _ = workspace
    manifest = {"description": "iris v2", "trainingData": f"s3://{BUCKET}/data/v2/train/",
                "validationData": f"s3://{BUCKET}/data/v2/validation/", "testData": f"s3://{BUCKET}/data/v2/test/",
                "hyperparameters": {"max_depth": "4"}}
    (src / DATA_MANIFEST_PATH).write_text(json.dumps(manifest))
    result = run_build(workspace)
    assert result.returncode == 0, result.stderr
    start = json.loads((src / START_INPUT_FILE).read_text())
    assert start == {"commitId": SHA, "imageUri": f"{REPO_URI}:{SHA}",
                     **{k: v for k, v in manifest.items() if k != "description"}}


def test_repository_manifest_is_valid():
    sys.path.insert(0, str(ROOT / "pipeline"))
    try:
        import build_image
    finally:
        sys.path.remove(str(ROOT / "pipeline"))
    assert isinstance(build_image.load_manifest(ROOT / DATA_MANIFEST_PATH, (BUCKET,)), dict)


@pytest.mark.parametrize("manifest, problems", [
    ({"trainingData": "/local/path"}, ["trainingData = '/local/path' is invalid: expected an S3 URI"]),
    ({"testData": "s3://someone-elses-bucket/test/"},
     [f"testData = 's3://someone-elses-bucket/test/' is invalid: the bucket must be one the training workflow may "
      f"read ({BUCKET})"]),
    ({"trainData": f"s3://{BUCKET}/x"}, ["key 'trainData' is not allowed"]),
    ({"hyperparameters": {"max_depth": 4}}, ["hyperparameters = {'max_depth': 4} is invalid"]),
    ({"trainingData": 3, "validationData": "http://x"}, ["trainingData = 3 is invalid", "validationData = 'http://x'"]),
    (["not", "an", "object"], ["must hold a JSON object, not list"]),
])
def test_invalid_manifest_fails_the_build_naming_every_problem(workspace, manifest, problems):
    src, state, _ = workspace
    (src / DATA_MANIFEST_PATH).write_text(json.dumps(manifest))
    result = run_build(workspace)
    assert result.returncode == 2
    for problem in problems:
        assert problem in result.stderr
    assert calls(state) == [] and not (src / START_INPUT_FILE).exists()


def test_manifest_that_is_not_json_is_reported(workspace):
    src, _, _ = workspace
    (src / DATA_MANIFEST_PATH).write_text("{trainingData: s3://x}")
    result = run_build(workspace)
    assert result.returncode == 2
    assert f"{DATA_MANIFEST_PATH} is not valid JSON" in result.stderr
