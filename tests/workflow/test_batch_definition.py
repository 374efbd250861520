"""Static checks of the batch pipeline's definition: statelint, retries and catches, parameter checks."""

from __future__ import annotations

import copy

import pytest

from components.workflow.batch import B, BATCH_STEP_ERRORS, MAIN_PATH, build_batch_definition
from components.workflow.states import LAMBDA_TRANSIENT_ERRORS, SAGEMAKER_SDK_ERROR, SAGEMAKER_TRANSIENT_ERRORS
from tests.workflow.batch_harness import batch_params
from tests.workflow.test_definition import statelint

PARAMS = batch_params(retry_interval_seconds=5, retry_max_attempts=3, retry_backoff_rate=2.0)


def test_statelint_reports_no_problems(tmp_path):
    result = statelint(build_batch_definition(PARAMS), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_statelint_would_catch_a_broken_definition(tmp_path):
    broken = copy.deepcopy(build_batch_definition(PARAMS))
    broken["States"][B.TRANSFORM]["Next"] = "NoSuchState"
    assert statelint(broken, tmp_path).returncode == 1


def test_every_task_retries_what_its_integration_raises_and_catches_everything():
    states = build_batch_definition(PARAMS)["States"]
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert set(tasks) == {B.FIND_MODEL, B.CREATE_MODEL, B.TRANSFORM, B.NOTIFY_SUCCESS, B.NOTIFY_FAILURE}
    expected = {B.FIND_MODEL: [SAGEMAKER_SDK_ERROR], B.CREATE_MODEL: list(SAGEMAKER_TRANSIENT_ERRORS),
                B.TRANSFORM: list(SAGEMAKER_TRANSIENT_ERRORS), B.NOTIFY_SUCCESS: list(LAMBDA_TRANSIENT_ERRORS),
                B.NOTIFY_FAILURE: list(LAMBDA_TRANSIENT_ERRORS)}
    for name, state in tasks.items():
        assert state["Retry"] == [{"ErrorEquals": expected[name], "IntervalSeconds": 5, "MaxAttempts": 3,
                                   "BackoffRate": 2.0}], name
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name
    assert tasks[B.TRANSFORM]["Resource"] == "arn:aws:states:::sagemaker:createTransformJob.sync"
    assert tasks[B.TRANSFORM]["TimeoutSeconds"] == 86400


def test_every_failure_names_its_step_notifies_and_ends_in_the_one_fail_state():
    states = build_batch_definition(PARAMS)["States"]
    for task, error in BATCH_STEP_ERRORS.items():
        assert states[error]["Parameters"] == {"Error": error, "Step": task, "Cause.$": "$.failure.Cause"}
        assert states[error]["Next"] == (B.FAILED if task == B.NOTIFY_SUCCESS else B.NOTIFY_FAILURE)
    assert states[B.NOTIFY_FAILURE]["Next"] == B.FAILED
    assert states[B.FAILED] == {"Type": "Fail", "ErrorPath": "$.failure.Error", "CausePath": "$.failure.Cause"}
    assert [name for name, state in states.items() if state["Type"] == "Fail"] == [B.FAILED]
    assert states[B.TRANSFORM_TIMED_OUT]["Parameters"]["Step"] == B.TRANSFORM


def test_the_main_path_is_derived_from_the_declared_order():
    states = build_batch_definition(PARAMS)["States"]
    for name, after in zip(MAIN_PATH, MAIN_PATH[1:], strict=False):
        state = states[name]
        assert (state.get("Next") or state["Choices"][0]["Next"]) == after, name


def test_special_characters_of_the_locations_are_escaped():
    states = build_batch_definition(batch_params(input_uri="s3://bucket/in*(x)'s",
                                                 output_uri="s3://bucket/o'ut"))["States"]
    check = states[B.CHECK_INPUT]["Choices"][0]["Or"]
    assert check == [{"Variable": "$.run.inputUri", "StringEquals": "s3://bucket/in*(x)'s"},
                     {"Variable": "$.run.inputUri", "StringMatches": "s3://bucket/in\\*(x)'s/*"}]
    assert states[B.TRANSFORM]["Parameters"]["TransformOutput"]["S3OutputPath.$"] == (
        "States.Format('s3://bucket/o\\'ut/{}', $.run.jobName)")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("job_name_prefix", "x" * 31, "1-30 letters, digits or hyphens"),
    ("input_uri", "s3://bucket/prefix/", "without a trailing slash"),
    ("output_uri", "bucket/prefix", "s3://bucket/prefix"),
    ("kms_key_arn", "alias/x", "an ARN"),
    ("instance_type", "m5.large", "an ml.* instance type"),
    ("instance_count", 0, "a whole number >= 1"),
    ("sagemaker_model_name", "bad_name", "a SageMaker name"),
])
def test_invalid_params_are_refused_naming_the_field(field, value, message):
    with pytest.raises(ValueError) as error:
        batch_params(**{field: value})
    assert f"{field}={value!r} is not allowed: " in str(error.value) and message in str(error.value)
