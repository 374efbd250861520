"""Running `make run` as a user does: the command, its output, its exit code, its work folder."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Finished:
    returncode: int
    output: str
    workdir: Path

    def line(self, pattern: str) -> re.Match:
        match = re.search(pattern, self.output, flags=re.M)
        assert match, f"no line matching {pattern!r} in:\n{self.output}"
        return match


def make_env() -> dict[str, str]:
    """The environment of a user's shell: not a sub-make of `make test`."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}


@pytest.fixture
def make_run(tmp_path):
    """`make run ARGS="..."` to the end, with its own work folder; returns exit code and output."""
    def run(*args: str, timeout: int = 300) -> Finished:
        workdir = tmp_path / "run"
        command = ["make", "run", f"ARGS={' '.join([*args, '--workdir', str(workdir)])}"]
        result = subprocess.run(command, cwd=ROOT, env=make_env(), capture_output=True, text=True, timeout=timeout)
        return Finished(result.returncode, result.stdout + result.stderr, workdir)

    return run
