"""The batch pipeline of one catalog entry: its Amazon States Language definition, built in Python.

One state machine per batch entry and environment (``components.batch_pipeline``)::

    ReadInput → FromUpload | FromRequest → CheckInput → FindModel → Transform (.sync) → NotifySuccess → Succeeded
                                                          ↳ not found: CreateModel → Transform

    input that is neither an upload under the entry's input nor a request for it → InvalidInput
    any failed step → <Step>Failed (names the step, keeps the cause) → NotifyFailure → Failed

The input is either the EventBridge event of an object created under ``batch_inference_data`` (the
upload rule passes it unchanged) or ``{"inputUri": "s3://..."}`` (the schedule, or a manual start); the
transform reads exactly that object or prefix, which must lie under the entry's input location. The
SageMaker model is built from the model package the entry serves, named after it
(``Names.catalog_batch_model``): the first run for a package creates it, later runs find it, and a run
that loses the race to create it (two uploads at once) uses the one the other run created. Each run
writes to its own folder ``<batch_job_output_location>/<job name>/``.

Plain values only, no Pulumi (as ``components.workflow.definition``): the component resolves its
Outputs first, and the tests execute the same document under moto.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from components.workflow.states import (
    SAGEMAKER_SDK_ERROR,
    SAGEMAKER_SDK_TRANSIENT_ERRORS,
    SAGEMAKER_TRANSIENT_ERRORS,
)
from components.workflow.steps import Stage, State, Step, chain, format_literal, goto, step
from components.workflow.tasks import catch_all, fail_with, lambda_task, task

__all__ = ["B", "BATCH_STEP_ERRORS", "BatchDefinitionParams", "build_batch_definition", "batch_definition_json"]

_SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_RUN_ID_LENGTH = 32  # MD5 hex digest of the execution ARN
JOB_PREFIX_MAX = 63 - 1 - _RUN_ID_LENGTH
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^{}\\]+[^/]$")
# Media types whose records are lines: the transform splits the input and assembles the output by line.
_LINE_RECORDS = ("text/csv", "application/jsonlines", "application/x-jsonlines", "text/plain")


class B:
    """State names of the batch pipeline (tests and docs/catalog.md refer to these)."""

    READ_INPUT = "ReadInput"
    FROM_UPLOAD = "FromUpload"
    FROM_REQUEST = "FromRequest"
    CHECK_INPUT = "CheckInput"
    INVALID_INPUT = "InvalidInput"
    FIND_MODEL = "FindModel"
    CHECK_MODEL_LOOKUP = "CheckModelLookupError"
    CREATE_MODEL = "CreateModel"
    CHECK_MODEL_CREATION = "CheckModelCreationError"
    TRANSFORM = "Transform"
    TRANSFORM_TIMED_OUT = "BatchTransformTimedOut"
    NOTIFY_SUCCESS = "NotifySuccess"
    SUCCEEDED = "Succeeded"
    NOTIFY_FAILURE = "NotifyFailure"
    FAILED = "Failed"
    # One Pass per step error: the state is named after the error it sets.
    MODEL_LOOKUP_FAILED = "ModelLookupFailed"
    MODEL_CREATION_FAILED = "ModelCreationFailed"
    TRANSFORM_FAILED = "BatchTransformFailed"
    SUCCESS_NOTIFICATION_FAILED = "SuccessNotificationFailed"


BATCH_STEP_ERRORS: dict[str, str] = {
    B.FIND_MODEL: B.MODEL_LOOKUP_FAILED,
    B.CREATE_MODEL: B.MODEL_CREATION_FAILED,
    B.TRANSFORM: B.TRANSFORM_FAILED,
    B.NOTIFY_SUCCESS: B.SUCCESS_NOTIFICATION_FAILED,
}
"""Task state -> the error the execution ends with when it fails (with ``Step`` naming the task)."""

MODEL_NOT_FOUND_CAUSE = "*Could not find model*"
"""DescribeModel's message for a missing model (a ValidationException: SageMaker.SageMakerException)."""
MODEL_EXISTS_CAUSE = "*already existing model*"
"""CreateModel's message when another run created the model first ("Cannot create already existing model")."""


@dataclass(frozen=True)
class BatchDefinitionParams:
    """Everything the definition needs, as plain values (resolve Pulumi Outputs before building)."""

    model_name: str
    """The catalog entry's ``model_name`` (notifications name it)."""
    sagemaker_model_name: str
    """The SageMaker model built from the served package (``Names.catalog_batch_model``)."""
    model_package_arn: str
    execution_role_arn: str
    """The role SageMaker assumes for the model and the transform (the entry's own)."""
    job_name_prefix: str
    """Transform jobs are ``<prefix>-<md5 of the execution ARN>``: at most 30 characters."""
    input_uri: str
    """``s3://bucket/prefix`` of ``batch_inference_data`` (no trailing slash)."""
    output_uri: str
    """``s3://bucket/prefix`` of ``batch_job_output_location``; each run writes to ``<output_uri>/<job>/``."""
    kms_key_arn: str
    """Encrypts the transform output and the instances' volumes."""
    notify_function_arn: str
    instance_type: str
    instance_count: int = 1
    content_type: str = "text/csv"
    accept: str = "text/csv"
    transform_timeout_seconds: int = 86400
    """The Transform task gives up (and Step Functions stops the job) after this long."""
    retry_interval_seconds: int = 5
    retry_max_attempts: int = 3
    retry_backoff_rate: float = 2.0

    def __post_init__(self) -> None:
        problems: list[str] = []

        def check(name: str, ok: object, allowed: str) -> None:
            if not ok:
                problems.append(f"{name}={getattr(self, name)!r} is not allowed: {allowed}")

        text = lambda name: isinstance(getattr(self, name), str) and getattr(self, name)  # noqa: E731
        check("model_name", text("model_name") and _SAGEMAKER_NAME.match(self.model_name), "a catalog model_name")
        check("sagemaker_model_name", text("sagemaker_model_name") and _SAGEMAKER_NAME.match(self.sagemaker_model_name),
              "a SageMaker name (1-63 letters, digits or hyphens)")
        check("job_name_prefix", text("job_name_prefix") and _SAGEMAKER_NAME.match(self.job_name_prefix)
              and len(self.job_name_prefix) <= JOB_PREFIX_MAX,
              f"1-{JOB_PREFIX_MAX} letters, digits or hyphens (the job name adds 33 characters, SageMaker allows 63)")
        for name in ("model_package_arn", "execution_role_arn", "kms_key_arn", "notify_function_arn"):
            check(name, text(name) and getattr(self, name).startswith("arn:"), "an ARN (arn:...)")
        for name in ("input_uri", "output_uri"):
            check(name, text(name) and _S3_URI.match(getattr(self, name)),
                  "s3://bucket/prefix without a trailing slash, braces or backslashes")
        check("instance_type", text("instance_type") and self.instance_type.startswith("ml."), "an ml.* instance type")
        for name in ("content_type", "accept"):
            check(name, text(name) and "'" not in getattr(self, name), "a media type")
        for name, low in (("instance_count", 1), ("transform_timeout_seconds", 60), ("retry_interval_seconds", 1),
                          ("retry_max_attempts", 0)):
            value = getattr(self, name)
            check(name, isinstance(value, int) and not isinstance(value, bool) and value >= low,
                  f"a whole number >= {low}")
        check("retry_backoff_rate", isinstance(self.retry_backoff_rate, (int, float))
              and not isinstance(self.retry_backoff_rate, bool) and self.retry_backoff_rate >= 1, "a number >= 1.0")
        if problems:
            raise ValueError("invalid batch pipeline parameters: " + "; ".join(problems))

    @property
    def split_type(self) -> str:
        """``Line`` for line-delimited records (CSV, JSON Lines), else ``None`` (one object, one record)."""
        return "Line" if self.content_type.split(";")[0].strip() in _LINE_RECORDS else "None"


def _pattern(text: str) -> str:
    """``text`` inside a StringMatches pattern (``*`` is its wildcard, ``\\`` its escape)."""
    return re.sub(r"([\\*])", r"\\\1", text)


def _run(p: BatchDefinitionParams, input_uri: str) -> dict[str, Any]:
    """``$.run``: what the transform reads and the job's name (unique per execution, within 63 characters)."""
    return {
        "inputUri.$": input_uri,
        "jobName.$": f"States.Format('{p.job_name_prefix}-{{}}', States.Hash($$.Execution.Id, 'MD5'))",
    }


def _input_states(p: BatchDefinitionParams) -> Stage:
    uploaded = [{"Variable": path, **test} for path in ("$.detail.bucket.name", "$.detail.object.key")
                for test in ({"IsPresent": True}, {"IsString": True})]
    requested = [{"Variable": "$.inputUri", "IsPresent": True}, {"Variable": "$.inputUri", "IsString": True}]
    # No braces in the message: States.Format reserves them.
    expected = f"an S3 Object Created event under {p.input_uri}/, or an inputUri that is {p.input_uri} or under it"

    def read_input(next_state: str) -> State:
        return {"Type": "Choice", "Choices": [{"And": uploaded, "Next": next_state},
                                              {"And": requested, "Next": B.FROM_REQUEST}],
                "Default": B.INVALID_INPUT}

    def check_input(next_state: str) -> State:
        return {
            "Type": "Choice",
            "Comment": "Only the entry's input: the object or prefix itself, or anything under it.",
            "Choices": [{"Or": [{"Variable": "$.run.inputUri", "StringEquals": p.input_uri},
                                {"Variable": "$.run.inputUri", "StringMatches": f"{_pattern(p.input_uri)}/*"}],
                         "Next": next_state}],
            "Default": B.INVALID_INPUT,
        }

    return {
        B.READ_INPUT: Step(read_input),
        B.FROM_UPLOAD: step({"Type": "Pass", "Parameters": _run(
            p, "States.Format('s3://{}/{}', $.detail.bucket.name, $.detail.object.key)"), "ResultPath": "$.run"}),
        B.FROM_REQUEST: goto({"Type": "Pass", "Parameters": _run(p, "$.inputUri"), "ResultPath": "$.run"}, B.CHECK_INPUT),
        B.CHECK_INPUT: Step(check_input),
        B.INVALID_INPUT: {
            "Type": "Pass",
            "Parameters": {"Error": "InvalidInput", "Step": B.CHECK_INPUT, "Cause.$": (
                f"States.Format('The execution input cannot be used: expected {format_literal(expected)}. Received: {{}}', "
                "States.JsonToString($$.Execution.Input))")},
            "ResultPath": "$.failure",
            "Next": B.NOTIFY_FAILURE,
        },
    }


def _model_states(p: BatchDefinitionParams) -> Stage:
    def caught_choice(cause: str, next_state: str, otherwise: str) -> State:
        return {"Type": "Choice", "Choices": [{"Variable": "$.failure.Cause", "StringMatches": cause,
                                               "Next": next_state}], "Default": otherwise}

    return {
        B.FIND_MODEL: step(task(
            p, B.FIND_MODEL, "arn:aws:states:::aws-sdk:sagemaker:describeModel", {"ModelName": p.sagemaker_model_name},
            # A missing model and throttling both arrive as SageMaker.SageMakerException: the not-found of a
            # package's first run is retried too before the Catch sends it to CreateModel.
            retry_on=SAGEMAKER_SDK_TRANSIENT_ERRORS,
            comment="The model of the served package exists after its first run.",
            result_path=None,
            catch=[{"ErrorEquals": [SAGEMAKER_SDK_ERROR], "ResultPath": "$.failure", "Next": B.CHECK_MODEL_LOOKUP},
                   catch_all(B.MODEL_LOOKUP_FAILED)],
        )),
        B.CHECK_MODEL_LOOKUP: caught_choice(MODEL_NOT_FOUND_CAUSE, B.CREATE_MODEL, B.MODEL_LOOKUP_FAILED),
        B.CREATE_MODEL: goto(task(
            p, B.CREATE_MODEL, "arn:aws:states:::sagemaker:createModel",
            {"ModelName": p.sagemaker_model_name, "ExecutionRoleArn": p.execution_role_arn,
             "PrimaryContainer": {"ModelPackageName": p.model_package_arn}, "EnableNetworkIsolation": True},
            retry_on=SAGEMAKER_TRANSIENT_ERRORS,
            result_path=None,
            catch=[catch_all(B.CHECK_MODEL_CREATION)],
        ), B.TRANSFORM),
        B.CHECK_MODEL_CREATION: caught_choice(MODEL_EXISTS_CAUSE, B.TRANSFORM, B.MODEL_CREATION_FAILED),
    }


def _transform_states(p: BatchDefinitionParams) -> Stage:
    split = p.split_type
    return {
        B.TRANSFORM: step(task(
            p, B.TRANSFORM, "arn:aws:states:::sagemaker:createTransformJob.sync",
            {
                "TransformJobName.$": "$.run.jobName",
                "ModelName": p.sagemaker_model_name,
                "TransformInput": {
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": "$.run.inputUri"}},
                    "ContentType": p.content_type,
                    "SplitType": split,
                    "CompressionType": "None",
                },
                "TransformOutput": {
                    "S3OutputPath.$": f"States.Format('{format_literal(p.output_uri)}/{{}}', $.run.jobName)",
                    "Accept": p.accept,
                    "AssembleWith": split,
                    "KmsKeyId": p.kms_key_arn,
                },
                "TransformResources": {"InstanceType": p.instance_type, "InstanceCount": p.instance_count,
                                       "VolumeKmsKeyId": p.kms_key_arn},
            },
            retry_on=SAGEMAKER_TRANSIENT_ERRORS,
            comment="A failed or stopped job is States.TaskFailed with the job's description as the cause.",
            TimeoutSeconds=p.transform_timeout_seconds,
            result_selector={"jobName.$": "$.TransformJobName", "outputPath.$": "$.TransformOutput.S3OutputPath"},
            result_path="$.transform",
            catch=[{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.failure", "Next": B.TRANSFORM_TIMED_OUT},
                   catch_all(B.TRANSFORM_FAILED)],
        )),
        B.TRANSFORM_TIMED_OUT: {
            "Type": "Pass",
            "Parameters": {**fail_with(B.TRANSFORM_FAILED, f"Transform job {{}} did not finish within "
                                       f"{p.transform_timeout_seconds} seconds and was stopped", "$.run.jobName"),
                           "Step": B.TRANSFORM},
            "ResultPath": "$.failure",
            "Next": B.NOTIFY_FAILURE,
        },
    }


def _finish_states(p: BatchDefinitionParams) -> Stage:
    common = {"pipeline": "batch", "modelName": p.model_name, "executionArn.$": "$$.Execution.Id"}
    return {
        B.NOTIFY_SUCCESS: step(lambda_task(
            p, B.NOTIFY_SUCCESS, p.notify_function_arn,
            {"status": "SUCCEEDED", **common, "modelPackageArn": p.model_package_arn,
             "transformJobName.$": "$.transform.jobName", "input.$": "$.run.inputUri",
             "output.$": "$.transform.outputPath"},
            result_path=None,
            catch=[catch_all(B.SUCCESS_NOTIFICATION_FAILED)],
        )),
        B.SUCCEEDED: {"Type": "Succeed"},
        B.NOTIFY_FAILURE: goto(lambda_task(
            p, B.NOTIFY_FAILURE, p.notify_function_arn,
            {"status": "FAILED", **common, "modelPackageArn": p.model_package_arn, "input": p.input_uri,
             "step.$": "$.failure.Step", "error.$": "$.failure.Error", "cause.$": "$.failure.Cause"},
            result_path=None,
            catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notifyError", "Next": B.FAILED}],
        ), B.FAILED),
        B.FAILED: {"Type": "Fail", "ErrorPath": "$.failure.Error", "CausePath": "$.failure.Cause"},
    }


def _step_failures() -> dict[str, State]:
    """One Pass per failed task: Error names the step's failure, Step the task, Cause is the caught cause."""
    states: dict[str, State] = {}
    for task_name, error in BATCH_STEP_ERRORS.items():
        states[error] = {
            "Type": "Pass",
            "Parameters": {"Error": error, "Step": task_name, "Cause.$": "$.failure.Cause"},
            "ResultPath": "$.failure",
            # The notification function may be what failed; do not try it twice.
            "Next": B.FAILED if task_name == B.NOTIFY_SUCCESS else B.NOTIFY_FAILURE,
        }
    return states


MAIN_PATH = (B.READ_INPUT, B.FROM_UPLOAD, B.CHECK_INPUT, B.FIND_MODEL, B.TRANSFORM, B.NOTIFY_SUCCESS, B.SUCCEEDED)
"""The states an upload's successful run enters when the model exists (the first run of a package goes
through CreateModel, a request through FromRequest)."""


def build_batch_definition(p: BatchDefinitionParams) -> dict[str, Any]:
    """The batch pipeline's state machine definition for `p` as a JSON-serialisable dict."""
    states = chain((_input_states(p), _model_states(p), _transform_states(p), _finish_states(p)), MAIN_PATH)
    states.update(_step_failures())
    return {
        "Comment": (f"Batch transform of catalog entry {p.model_name}: an upload under {p.input_uri}/ (or "
                    "{\"inputUri\": ...}) -> the model of the served package -> transform -> notify (docs/catalog.md)."),
        "StartAt": MAIN_PATH[0],
        "States": states,
    }


def batch_definition_json(p: BatchDefinitionParams) -> str:
    """`build_batch_definition(p)` serialised (what the state machine resource takes)."""
    return json.dumps(build_batch_definition(p), indent=2)

