"""Every command-line entry point answers --help (exit 0, usage on stdout, nothing done) and refuses an
unknown flag (exit 2, the flag named on stderr) before it does anything.

Entry points are found, not listed: Python files with a ``__main__`` block and executable files with a
shebang, anywhere but in the tests, the Lambda handlers and the caches. A new one is checked too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tools.mockrun import ROOT

SKIP_DIRS = {".git", ".venv", "tests", "lambdas", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache",
             ".pytest_cache"}
NOT_COMMANDS = {
    "__main__.py": "the Pulumi program: `pulumi up` runs it, with no command line",
    "policies/__main__.py": "the policy pack: the Pulumi CLI starts it as a gRPC server "
                            "(`python -m pulumi.policy <engine> .`), people do not",
}
# Arguments an entry point requires, so that the unknown flag is what it refuses.
REQUIRED_ARGS = {"integration/run.py": ["--endpoint", "mlops-dev-endpoint", "--region", "eu-west-1"],
                 "tools/snapshot.py": ["{tmp}/snapshot-out"], "tools/preview.py": ["--stack", "dev"],
                 "tools/first_run.py": ["--stack", "dev", "--dry-run"],
                 "tools/preview_steps.py": ["steps", "{tmp}/preview.json"],
                 "pipeline/promotion_config.py": ["keep"]}
MUST_FIND = {"container/train", "container/serve", "container/local_test/make_data.py", "container/bench/bench.py",
             "tools/preview.py", "tools/snapshot.py", "tools/bench_preview.py", "pipeline/build_image.py",
             "integration/run.py", ".ci/run"}


def _is_entry_point(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    if path.suffix == ".py":
        return 'if __name__ == "__main__":' in head
    return path.suffix == "" and head.startswith("#!") and os.access(path, os.X_OK)


def entry_points() -> list[str]:
    found = []
    for directory, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            path = Path(directory) / name
            relative = path.relative_to(ROOT).as_posix()
            if relative not in NOT_COMMANDS and _is_entry_point(path):
                found.append(relative)
    return found


def command(relative: str) -> tuple[list[str], Path]:
    """How a person runs it, and from where: a package's module with ``-m`` from the folder above the
    package (``python -m tools.preview`` from the root, ``python -m mlcontainer.train`` from container/),
    a script by its path."""
    path = ROOT / relative
    if path.suffix == ".py" and (path.parent / "__init__.py").is_file():
        top = path.parent
        while (top.parent / "__init__.py").is_file():
            top = top.parent
        module = path.relative_to(top.parent).with_suffix("").as_posix().replace("/", ".")
        return [sys.executable, "-m", module], top.parent
    if path.suffix == ".py" or path.read_text().startswith("#!/usr/bin/env python"):
        return [sys.executable, str(path)], ROOT
    return [str(path)], ROOT


def _state(root: Path) -> dict[str, float]:
    """Modification times of the repository's files (caches aside): --help must change none."""
    state = {}
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache",
                                                 ".pytest_cache"}]
        for name in files:
            path = Path(directory) / name
            state[path.as_posix()] = path.stat().st_mtime
    return state


def run(relative: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    sagemaker = {name: str(tmp_path / "ml" / part) for name, part in [
        ("SM_MODEL_DIR", "model"), ("SM_OUTPUT_DIR", "output"), ("SM_OUTPUT_DATA_DIR", "output-data"),
        ("SM_CHANNEL_TRAINING", "training"), ("SM_INPUT_CONFIG_DIR", "config")]}
    env = {**os.environ, **sagemaker, "MODEL_SERVER_HOST": "127.0.0.1", "SAGEMAKER_BIND_TO_PORT": "0"}
    argv, cwd = command(relative)
    required = [a.format(tmp=tmp_path) for a in REQUIRED_ARGS.get(relative, [])]
    process = subprocess.Popen([*argv, *required, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"{relative} {' '.join(args)} did not exit within 120 s: it started working instead")
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [], f"{relative} {' '.join(args)} wrote {written}"
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_the_entry_points_are_found():
    assert MUST_FIND <= set(entry_points()), MUST_FIND - set(entry_points())


@pytest.mark.parametrize("relative", entry_points())
def test_help_prints_usage_and_does_nothing(relative, tmp_path):
    before = _state(ROOT)
    result = run(relative, "--help", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: "), result.stdout[:200]
    assert _state(ROOT) == before, f"{relative} --help changed files in the repository"


@pytest.mark.parametrize("relative", entry_points())
def test_an_unknown_flag_is_refused_with_exit_2(relative, tmp_path):
    before = _state(ROOT)
    result = run(relative, "--no-such-flag", tmp_path=tmp_path)
    assert result.returncode == 2, (result.returncode, result.stderr[-500:])
    assert "unrecognized arguments: --no-such-flag" in result.stderr, result.stderr[-500:]
    assert result.stdout == ""
    assert _state(ROOT) == before, f"{relative} --no-such-flag changed files in the repository"
