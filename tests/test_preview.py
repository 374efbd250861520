"""The offline preview CLI: tree, counts, JSON document and exit codes, run as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tools import preview
from tools.mockrun import ROOT
from tools.tokens import Token


def run_cli(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.preview", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_tree_and_counts_for_dev():
    result = run_cli("--stack", "dev")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("stack dev\n")
    assert "■ mlops:foundation:Foundation  mlops-dev-foundation" in out
    # children are indented below their component
    assert "        + aws:s3/bucket:Bucket  mlops-dev-foundation-bucket" in out
    assert "resources by type:" in out and "total" in out


def test_json_document(stack_run):
    result = run_cli("--stack", "dev", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["stack"] == "dev"
    assert isinstance(document["violations"], list)
    assert len(document["resources"]) == len(stack_run("dev").resources)
    for resource in document["resources"]:
        assert set(resource) == {"type", "name", "parent", "inputs"}
    bucket = next(r for r in document["resources"] if r["type"] == Token.S3_BUCKET)
    assert bucket["parent"] == "mlops-dev-foundation"
    assert bucket["inputs"]["bucket"] == "mlops-dev-111111111111-eu-west-1"


def test_broken_stack_config_exits_2_with_reason_on_stderr(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "container",
                                                                 "tests"))
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("mlops:endpointInstanceType: ml.t2.medium",
                                                         "mlops:endpointInstanceType: t2.medium"))
    result = run_cli("--stack", "dev", cwd=project)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "error: stack dev: mlops:endpointInstanceType = 't2.medium' is invalid: expected a SageMaker instance "
        "type such as ml.m5.large (must start with 'ml.')"]


def test_unknown_stack_is_rejected_by_the_cli():
    result = run_cli("--stack", "qa")
    assert result.returncode == 2
    assert "invalid choice: 'qa'" in result.stderr


def test_mandatory_violation_exits_1(capsys):
    def check(run):
        return [{"policy": "aws-s3-bucket-disallow-public", "enforcement": "mandatory", "message": "public",
                 "name": "x"}]

    assert preview.main(["--stack", "dev"], policy_check=check) == 1
    assert "[mandatory] aws-s3-bucket-disallow-public: x: public" in capsys.readouterr().out


def test_advisory_violation_exits_0(capsys):
    def check(run):
        return [{"policy": "p", "enforcement": "advisory", "message": "m", "name": "x"}]

    assert preview.main(["--stack", "dev"], policy_check=check) == 0
    assert "policy violations: 1" in capsys.readouterr().out


def test_preview_json_is_sorted_and_byte_identical_across_processes():
    """Two runs (different processes and hash seeds, so outputs resolve in another order) give the same
    bytes, so two previews diff cleanly. (`make preview-json` adds nothing to stdout: tests/test_ci.py.)"""
    runs = [subprocess.run([sys.executable, "-m", "tools.preview", "--stack", "dev", "--json"], cwd=ROOT,
                           env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True, timeout=600)
            for seed in ("1", "2")]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    document = json.loads(runs[0].stdout)
    order = [(r["type"], r["name"], r["parent"] or "") for r in document["resources"]]
    assert order == sorted(order)
    assert runs[0].stdout == runs[1].stdout


def test_tree_is_identical_across_processes():
    runs = [subprocess.run([sys.executable, "-m", "tools.preview", "--stack", "dev", "--no-policy"], cwd=ROOT,
                           env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True, timeout=600)
            for seed in ("1", "2")]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert runs[0].stdout == runs[1].stdout
