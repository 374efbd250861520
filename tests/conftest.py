"""Shared fixtures: the whole program run under Pulumi's mocks, per stack, from the real stack files.

``stack_run(name)`` runs each stack once per test session (the result is plain recorded data, so tests
cannot leak state into it); ``run_stack(name, overrides=...)`` runs a fresh copy for tests that change
config. Every run gets its own event loop and resets Pulumi's process-global options before and after
(see ``tools.mockrun.run_program``), and an invoke without a mock fails the run.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tools.mockrun import STACKS, ProgramRun, load_stack_config, run_program

_CACHE: dict[str, ProgramRun] = {}


@pytest.fixture(scope="session")
def stack_run():
    def get(stack: str) -> ProgramRun:
        if stack not in _CACHE:
            _CACHE[stack] = run_program(stack)
        return _CACHE[stack]

    return get


@pytest.fixture
def run_stack():
    return run_program


@pytest.fixture(params=STACKS)
def each_stack(request, stack_run) -> ProgramRun:
    return stack_run(request.param)


# prod asked to train (its own source in its own account): a second, differently configured training stack.
PROD_TRAINING = {"training": "on", "sourceProvider": "codestar", "sourceRepository": "example-org/mlops-iris",
                 "sourceBranch": "main",
                 "sourceConnectionArn": "arn:aws:codestar-connections:eu-west-1:333333333333:connection/"
                                        "7b1d2f3e-3333-4c6d-9e0f-3456789abcde"}


@pytest.fixture(params=["dev", "prod"])
def training_stack(request, stack_run) -> ProgramRun:
    """The stacks that train: dev (the registry) and prod with ``training: on``."""
    if request.param == "dev":
        return stack_run("dev")
    if "prod+training" not in _CACHE:
        _CACHE["prod+training"] = run_program("prod", overrides=PROD_TRAINING)
    return _CACHE["prod+training"]


@pytest.fixture
def stack_config():
    return load_stack_config


def policy_statements(document: Any) -> list[dict[str, Any]]:
    """Statements of an IAM policy given as a JSON string or dict, always as a list."""
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
