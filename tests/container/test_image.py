"""The Dockerfile's structure. No Docker engine here, so the image is checked as text: a pinned slim base,
pinned wheels-only dependencies, no build tools or pip left, `train` and `serve` executable on PATH."""

from __future__ import annotations

import os
import re
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import CONTAINER

DOCKERFILE = CONTAINER / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        logical.append(current)
        current = ""
    result = []
    for text in logical:
        keyword, _, rest = text.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def pinned_requirements() -> dict[str, str]:
    pins = {}
    for line in (CONTAINER / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([0-9][0-9A-Za-z.+\-]*)", line)
        assert match, f"requirements.txt line {line!r} is not pinned as name==version"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def test_base_image_is_a_pinned_slim_python():
    args = {rest.split("=", 1)[0]: rest.split("=", 1)[1] for kind, rest in instructions() if kind == "ARG"
            and "=" in rest}
    bases = [rest.split()[0] for kind, rest in instructions() if kind == "FROM"]
    assert bases, "no FROM"
    for base in bases:
        image = args.get(base.strip("${}"), base) if base.startswith("$") else base
        assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", image), (
            f"base {image!r} must be pinned to a patch version of a slim Python image")


def test_requirements_are_pinned_and_closed_under_dependencies():
    pins = pinned_requirements()
    assert {"scikit-learn", "gunicorn"} <= set(pins)
    for name, version in pins.items():
        assert metadata.version(name) == version, f"{name}: tests run {metadata.version(name)}, image pins {version}"
        for raw in metadata.requires(name) or []:
            requirement = Requirement(raw)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            dependency = canonicalize_name(requirement.name)
            assert dependency in pins, f"{name} needs {dependency}, which requirements.txt does not pin"
            assert requirement.specifier.contains(pins[dependency], prereleases=True)


def test_dependencies_install_as_wheels_without_cache_and_pip_is_removed():
    runs = " ".join(rest for kind, rest in instructions() if kind == "RUN")
    assert "pip install --no-cache-dir --only-binary=:all: -r /tmp/requirements.txt" in runs
    assert "/opt/venv/bin/pip uninstall --yes pip setuptools" in runs
    assert "python -m pip uninstall --yes pip" in runs
    assert not re.search(r"apt-get install|apk add|gcc|build-essential|make ", runs), "no build tools in the image"


def test_build_stage_is_separate_from_the_runtime_stage():
    froms = [rest for kind, rest in instructions() if kind == "FROM"]
    assert len(froms) == 2 and froms[0].endswith("AS build")
    copies = [rest for kind, rest in instructions() if kind == "COPY"]
    assert "--from=build /opt/venv /opt/venv" in copies


@pytest.mark.parametrize("program", ["train", "serve"])
def test_entrypoints_are_executable_and_on_path(program):
    script = CONTAINER / program
    assert os.access(script, os.X_OK), f"{program} must be executable (git mode 100755)"
    assert script.read_text().startswith("#!/usr/bin/env python3\n")
    copies = [rest for kind, rest in instructions() if kind == "COPY"]
    assert "--chmod=0755 train serve /opt/program/" in copies
    env = " ".join(rest for kind, rest in instructions() if kind == "ENV")
    assert 'PATH="/opt/program:/opt/venv/bin:${PATH}"' in env


def test_runtime_settings():
    env = " ".join(rest for kind, rest in instructions() if kind == "ENV")
    assert "PYTHONUNBUFFERED=1" in env
    assert "MODEL_SERVER_USER=model" in env, "serving workers must drop root"
    runs = " ".join(rest for kind, rest in instructions() if kind == "RUN")
    assert "useradd --system --uid 10001" in runs
    labels = " ".join(rest for kind, rest in instructions() if kind == "LABEL")
    assert "com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true" in labels
    assert ("STOPSIGNAL", "SIGTERM") in instructions()


def test_build_context_holds_only_what_the_image_needs():
    lines = [line.strip() for line in (CONTAINER / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*"
    for needed in ("!requirements.txt", "!train", "!serve", "!mlcontainer/"):
        assert needed in lines
    for kind, rest in instructions():
        if kind == "COPY" and not rest.startswith("--from"):
            sources = [part for part in rest.split()[:-1] if not part.startswith("--")]
            for source in sources:
                assert (CONTAINER / source).exists(), f"COPY source {source} missing"
