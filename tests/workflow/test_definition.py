"""Static checks of the state machine definition: statelint, structure, parameter validation."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from dataclasses import replace

import pytest

from components.workflow.definition import build_definition
from components.workflow.states import LAMBDA_TRANSIENT_ERRORS, REJECTED_ERROR, STEP_ERRORS, S
from components.workflow.params import WorkflowDefinitionParams
from tests.workflow.harness import definition_params

PARAMS = definition_params(
    retry_interval_seconds=5, retry_max_attempts=3, retry_backoff_rate=2.0,
    endpoint_poll_seconds=30, endpoint_max_polls=60, approval_timeout_seconds=86400,
)


def statelint(definition: dict, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "workflow.asl.json"
    path.write_text(json.dumps(definition, indent=2))
    return subprocess.run([sys.executable, "-m", "statelint", str(path)], capture_output=True, text=True, timeout=60)


def test_statelint_reports_no_problems(tmp_path):
    result = statelint(build_definition(PARAMS), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_statelint_would_catch_a_broken_definition(tmp_path):
    broken = copy.deepcopy(build_definition(PARAMS))
    broken["States"][S.TRAIN]["Next"] = "NoSuchState"
    result = statelint(broken, tmp_path)
    assert result.returncode == 1 and "NoSuchState" in result.stdout


def test_every_task_retries_transient_errors_and_catches_everything():
    states = build_definition(PARAMS)["States"]
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert len(tasks) >= 14
    for name, state in tasks.items():
        assert state["Retry"], name
        retried = set(state["Retry"][0]["ErrorEquals"])
        assert "States.ALL" not in retried and "States.TaskFailed" not in retried, name
        if state["Resource"].startswith("arn:aws:states:::lambda:"):
            assert retried == set(LAMBDA_TRANSIENT_ERRORS), name
        else:
            assert any("SageMaker" in error for error in retried), name
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name


def test_every_failure_path_notifies_and_ends_in_the_fail_state():
    states = build_definition(PARAMS)["States"]

    def successors(name):
        state = states[name]
        nxt = [state["Next"]] if "Next" in state else []
        nxt += [c["Next"] for c in state.get("Catch", [])]
        nxt += [c["Next"] for c in state.get("Choices", [])]
        nxt += [state["Default"]] if "Default" in state else []
        return nxt

    def reaches_fail_via_notify(start, seen=()):
        if start == S.FAILED:
            return False
        if start == S.NOTIFY_FAILURE:
            return states[start]["Next"] == S.FAILED
        return all(reaches_fail_via_notify(n, seen + (start,)) for n in successors(start) if n not in seen)

    catch_targets = {c["Next"] for s in states.values() for c in s.get("Catch", [])} - {S.FAILED, S.CHECK_LOOKUP_ERROR}
    assert catch_targets, "no Catch at all"
    for target in catch_targets - {S.SUCCESS_NOTIFICATION_FAILED, S.NOTIFY_FAILURE}:
        assert reaches_fail_via_notify(target), target
    # The success e-mail failing cannot be reported by the same function: straight to Fail.
    assert states[S.SUCCESS_NOTIFICATION_FAILED]["Next"] == S.FAILED
    assert states[S.FAILED] == {"Type": "Fail", "ErrorPath": "$.failure.Error", "CausePath": "$.failure.Cause"}
    for task, error in STEP_ERRORS.items():
        assert states[error]["Parameters"]["Error"] == error and not error.startswith("States."), task


def test_approval_waits_with_a_timeout_and_routes_rejection_and_timeout_to_the_registry():
    state = build_definition(PARAMS)["States"][S.REQUEST_APPROVAL]
    assert state["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert state["TimeoutSeconds"] == 86400
    assert state["Parameters"]["Payload"]["taskToken.$"] == "$$.Task.Token"
    routes = {tuple(c["ErrorEquals"]): c["Next"] for c in state["Catch"]}
    assert routes[(REJECTED_ERROR,)] == S.APPROVAL_REJECTED
    assert routes[("States.Timeout",)] == S.APPROVAL_TIMED_OUT
    for name in (S.APPROVAL_REJECTED, S.APPROVAL_TIMED_OUT, S.APPROVAL_REQUEST_FAILED):
        assert build_definition(PARAMS)["States"][name]["Next"] == S.MARK_REJECTED


def test_transform_scores_the_test_data_with_the_join_filters():
    definition = build_definition(PARAMS)
    params = definition["States"][S.EVALUATE]["Parameters"]
    assert params["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri.$"] == "$.run.testData"
    assert params["DataProcessing"] == {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
    assert definition["States"][S.APPLY_DEFAULTS]["Parameters"]["defaults"]["testData"] == PARAMS.test_data_uri
    assert PARAMS.test_data_uri != PARAMS.training_data_uri


def test_definition_modules_do_not_depend_on_pulumi():
    package = Path(sys.modules[WorkflowDefinitionParams.__module__].__file__).parent
    modules = sorted(package.glob("*.py"))
    assert len(modules) > 5
    for module in modules:
        source = module.read_text()
        assert "import pulumi" not in source and "from pulumi" not in source, module.name
    assert json.loads(json.dumps(build_definition(PARAMS))) == build_definition(PARAMS)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name_prefix", "x" * 31, "name_prefix='" + "x" * 31 + "' is not allowed: use 1-30"),
        ("name_prefix", "bad_prefix", "letters, digits or hyphens"),
        ("sagemaker_role_arn", "my-role", "sagemaker_role_arn='my-role' is not allowed: use an ARN"),
        ("test_data_uri", "https://bucket/test", "use an S3 URI"),
        ("output_prefix", "s3://bucket/prefix/", "leave out the trailing slash"),
        ("inference_url", "http://insecure.example", "https://"),
        ("default_hyperparameters", {"max_depth": 5}, "string values"),
        ("min_accuracy", 1.5, "between 0 and 1"),
        ("approval_timeout_seconds", 0, "whole number >= 1"),
        ("retry_interval_seconds", 0.5, "whole number >= 1"),
        ("training_instance_type", "m5.large", "ml.m5.large"),
        ("metric_regex", "accuracy=[0-9.]+", "exactly one capturing group"),
        ("endpoint_name", "has space", "letters, digits or hyphens"),
    ],
)
def test_invalid_params_are_refused_with_the_field_and_what_is_allowed(field, value, message):
    with pytest.raises(ValueError) as raised:
        replace(PARAMS, **{field: value})
    assert message in str(raised.value)


def test_several_problems_are_reported_together():
    with pytest.raises(ValueError) as raised:
        replace(PARAMS, min_accuracy=-1, endpoint_max_polls=0)
    assert "min_accuracy" in str(raised.value) and "endpoint_max_polls" in str(raised.value)


def test_promotion_mode_definition_is_statelint_clean_and_has_no_deploy_states(tmp_path):
    import shutil
    from pathlib import Path

    from tests.workflow.harness import definition_params

    definition = build_definition(definition_params(deploy_endpoint=False))
    states = definition["States"]
    assert not {"CreateEndpointConfig", "CreateEndpoint", "UpdateEndpoint", "SmokeTest", "DeploymentFailed",
                "SmokeTestFailed"} & set(states)
    assert states["ApproveModelPackage"]["Next"] == "NotifySuccess"
    path = tmp_path / "promotion.json"
    path.write_text(json.dumps(definition))
    statelint = shutil.which("statelint", path=str(Path(sys.executable).parent))
    result = subprocess.run([statelint, str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout
