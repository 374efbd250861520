"""The training workflow's Amazon States Language definition, built in Python.

`build_definition(params)` returns the state machine as a plain dict (``json.dumps`` it for
``aws.sfn.StateMachine(definition=...)``). It has no Pulumi import: every value in
`WorkflowDefinitionParams` is a plain string or number, so the component resolves its Outputs first
(``Output.all(...).apply(...)``) and this module stays testable with statelint and moto.

The flow (docs/workflow.md has the diagram)::

    ValidateInput → ApplyDefaults → MergeInput → ResolveRun
    → Train (.sync) → CreateModel → Evaluate (batch transform .sync on the test data) → EvaluateModel
    → CheckEvaluation → RegisterModel (PendingManualApproval) → RequestApproval (.waitForTaskToken)
    → ApproveModelPackage → CreateEndpointConfig → FindEndpoint → CreateEndpoint | UpdateEndpoint
    → StartEndpointWait → WaitForEndpoint → DescribeEndpoint → CheckEndpointStatus (loop)
    → SmokeTest → CheckSmokeTest → NotifySuccess → BuildResult → Succeeded

    rejection / approval timeout → MarkModelPackageRejected → NotifyFailure → Failed
    any other error → <Step>Failed (names the step) → NotifyFailure → Failed (Error, Cause from $.failure)

State data stays small: each step stores only what later steps read, under its own key
(``$.run``, ``$.training``, ``$.transform``, ``$.evaluation``, ``$.modelPackage``, ``$.approval``,
``$.deployment``, ``$.endpoint``, ``$.smokeTest``). A caught error goes to ``$.failure``; a Pass state
per step then replaces its Error with a name that says which step failed (``TrainingFailed``, ...,
see `STEP_ERRORS`) and keeps the original Cause (for a failed job: the Describe*Job output). The
failure notification and the Fail state read ``$.failure``, so the execution's error is never a
reserved ``States.*`` name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "WorkflowDefinitionParams",
    "build_definition",
    "S",
    "STEP_ERRORS",
    "LAMBDA_TRANSIENT_ERRORS",
    "SAGEMAKER_TRANSIENT_ERRORS",
    "SAGEMAKER_SDK_TRANSIENT_ERRORS",
    "SAGEMAKER_SDK_ERROR",
    "ENDPOINT_NOT_FOUND_CAUSE",
    "REJECTED_ERROR",
]


class S:
    """State names, in the order an approved run enters them. Tests and docs refer to these."""

    VALIDATE_INPUT = "ValidateInput"
    INVALID_INPUT = "InvalidInput"
    APPLY_DEFAULTS = "ApplyDefaults"
    MERGE_INPUT = "MergeInput"
    RESOLVE_RUN = "ResolveRun"
    TRAIN = "Train"
    CREATE_MODEL = "CreateModel"
    EVALUATE = "Evaluate"
    EVALUATE_MODEL = "EvaluateModel"
    CHECK_EVALUATION = "CheckEvaluation"
    BELOW_THRESHOLD = "ModelBelowThreshold"
    EVALUATION_INVALID = "EvaluationReportInvalid"
    REGISTER_MODEL = "RegisterModel"
    REQUEST_APPROVAL = "RequestApproval"
    APPROVAL_REJECTED = "ApprovalRejected"
    APPROVAL_TIMED_OUT = "ApprovalTimedOut"
    APPROVAL_REQUEST_FAILED = "ApprovalRequestFailed"
    MARK_REJECTED = "MarkModelPackageRejected"
    APPROVE_PACKAGE = "ApproveModelPackage"
    CREATE_ENDPOINT_CONFIG = "CreateEndpointConfig"
    FIND_ENDPOINT = "FindEndpoint"
    CHECK_LOOKUP_ERROR = "CheckEndpointLookupError"
    LOOKUP_FAILED = "EndpointLookupFailed"
    EXISTING_ENDPOINT_STATUS = "CheckExistingEndpoint"
    WAIT_FOR_IDLE_ENDPOINT = "WaitForIdleEndpoint"
    EXISTING_ENDPOINT_UNUSABLE = "ExistingEndpointUnusable"
    CREATE_ENDPOINT = "CreateEndpoint"
    UPDATE_ENDPOINT = "UpdateEndpoint"
    START_ENDPOINT_WAIT = "StartEndpointWait"
    WAIT_FOR_ENDPOINT = "WaitForEndpoint"
    DESCRIBE_ENDPOINT = "DescribeEndpoint"
    CHECK_ENDPOINT_STATUS = "CheckEndpointStatus"
    COUNT_ENDPOINT_POLL = "CountEndpointPoll"
    ENDPOINT_FAILED = "EndpointFailed"
    ENDPOINT_WAIT_TIMED_OUT = "EndpointWaitTimedOut"
    SMOKE_TEST = "SmokeTest"
    CHECK_SMOKE_TEST = "CheckSmokeTest"
    SMOKE_TEST_NO_RESULT = "SmokeTestWithoutResult"
    NOTIFY_SUCCESS = "NotifySuccess"
    BUILD_RESULT = "BuildResult"
    SUCCEEDED = "Succeeded"
    NOTIFY_FAILURE = "NotifyFailure"
    FAILED = "Failed"
    # One Pass per step error (see STEP_ERRORS): the state is named after the error it sets.
    TRAINING_FAILED = "TrainingFailed"
    MODEL_CREATION_FAILED = "ModelCreationFailed"
    BATCH_TRANSFORM_FAILED = "BatchTransformFailed"
    EVALUATION_FAILED = "EvaluationFailed"
    REGISTRATION_FAILED = "ModelRegistrationFailed"
    APPROVAL_UPDATE_FAILED = "ModelApprovalUpdateFailed"
    DEPLOYMENT_FAILED = "DeploymentFailed"
    SMOKE_TEST_FAILED = "SmokeTestFailed"
    SUCCESS_NOTIFICATION_FAILED = "SuccessNotificationFailed"


# Task state -> the error the execution ends with when that task fails (the Pass state of that name
# sets it; the original error's Cause is kept).
STEP_ERRORS: dict[str, str] = {
    S.TRAIN: S.TRAINING_FAILED,
    S.CREATE_MODEL: S.MODEL_CREATION_FAILED,
    S.EVALUATE: S.BATCH_TRANSFORM_FAILED,
    S.EVALUATE_MODEL: S.EVALUATION_FAILED,
    S.REGISTER_MODEL: S.REGISTRATION_FAILED,
    S.APPROVE_PACKAGE: S.APPROVAL_UPDATE_FAILED,
    S.CREATE_ENDPOINT_CONFIG: S.DEPLOYMENT_FAILED,
    S.FIND_ENDPOINT: S.DEPLOYMENT_FAILED,
    S.CREATE_ENDPOINT: S.DEPLOYMENT_FAILED,
    S.UPDATE_ENDPOINT: S.DEPLOYMENT_FAILED,
    S.DESCRIBE_ENDPOINT: S.DEPLOYMENT_FAILED,
    S.SMOKE_TEST: S.SMOKE_TEST_FAILED,
    S.NOTIFY_SUCCESS: S.SUCCESS_NOTIFICATION_FAILED,
}


# Error names, as Step Functions reports them.
# Lambda: the transient errors AWS recommends retrying for lambda:invoke
# (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
LAMBDA_TRANSIENT_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
)
# Optimised SageMaker integrations (arn:aws:states:::sagemaker:*) report every SageMaker API error,
# throttling included, as SageMaker.AmazonSageMakerException. A failed or stopped .sync job is
# States.TaskFailed (cause: the Describe*Job output) and is deliberately not retried.
SAGEMAKER_TRANSIENT_ERRORS = ("SageMaker.AmazonSageMakerException", "ThrottlingException")
# AWS SDK integrations (arn:aws:states:::aws-sdk:sagemaker:*) name errors ServiceName.ErrorCode;
# errors that SageMaker's API model does not declare (ValidationException, ThrottlingException)
# arrive as the SDK's base exception, SageMaker.SageMakerException.
SAGEMAKER_SDK_ERROR = "SageMaker.SageMakerException"
SAGEMAKER_SDK_THROTTLING_ERRORS = ("SageMaker.ThrottlingException", "ThrottlingException")
SAGEMAKER_SDK_TRANSIENT_ERRORS = (SAGEMAKER_SDK_ERROR, *SAGEMAKER_SDK_THROTTLING_ERRORS)
# DescribeEndpoint's message for a missing endpoint ("Could not find endpoint 'arn:...'.").
ENDPOINT_NOT_FOUND_CAUSE = "*Could not find endpoint*"
# The error the approval decision sends with SendTaskFailure.
REJECTED_ERROR = "Rejected"

_SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_RUN_ID_LENGTH = 32  # MD5 hex digest
_MAX_PREFIX_LENGTH = 63 - 1 - _RUN_ID_LENGTH
_PLACEHOLDER = re.compile(r"[{}'\\]")  # characters that States.Format string literals must escape


@dataclass(frozen=True)
class WorkflowDefinitionParams:
    """Everything the definition needs, as plain values (resolve Pulumi Outputs before building)."""

    name_prefix: str
    """Prefix of the per-run SageMaker names (training job, model, transform job, endpoint config):
    ``<name_prefix>-<md5(commitId/executionName)>``. 1-30 characters, letters, digits and hyphens."""

    sagemaker_role_arn: str
    """Execution role that SageMaker assumes for training, the model and the transform job."""

    training_data_uri: str
    """Default S3 URI (s3://bucket/prefix) of the training channel; execution input `trainingData` overrides it."""

    validation_data_uri: str
    """Default S3 URI of the validation channel; execution input `validationData` overrides it."""

    test_data_uri: str
    """Default S3 URI of the held-out test data the batch transform scores; input `testData` overrides it.
    CSV, label in the first column, no header."""

    output_prefix: str
    """s3://bucket/prefix under which model artifacts (``/training``) and transform output (``/evaluation``) go."""

    kms_key_arn: str
    """KMS key for training volumes, model artifacts, transform output and the endpoint's storage."""

    model_package_group_name: str
    """SageMaker model package group the evaluated model is registered in."""

    endpoint_name: str
    """The stage's stable endpoint name: created on the first run, updated afterwards."""

    approval_request_function_arn: str
    """Lambda that e-mails the signed approve / reject links (invoked with .waitForTaskToken)."""

    evaluate_function_arn: str
    """Lambda that scores the batch transform output: {transformOutput, minAccuracy} → {accuracy, passed, ...}."""

    notify_function_arn: str
    """Lambda that sends the success or failure notification."""

    smoke_test_function_arn: str
    """The inference proxy Lambda, invoked directly with a sample record as the smoke test."""

    inference_url: str
    """The inference API URL announced in the success notification."""

    default_hyperparameters: Mapping[str, str] = field(default_factory=dict)
    """Hyperparameters passed to the training container; execution input `hyperparameters` overrides keys."""

    training_instance_type: str = "ml.m5.large"
    """Instance type of the training job."""

    training_instance_count: int = 1
    """Number of training instances."""

    training_volume_gb: int = 10
    """Size of each training instance's ML storage volume (KMS-encrypted)."""

    training_max_runtime_seconds: int = 3600
    """StoppingCondition.MaxRuntimeInSeconds of the training job."""

    transform_instance_type: str = "ml.m5.large"
    """Instance type of the evaluation batch transform."""

    transform_instance_count: int = 1
    """Number of batch transform instances."""

    network_isolation: bool = True
    """Run the training job and the model without outbound network access (the container needs none)."""

    metric_name: str = "validation:accuracy"
    """Training metric name SageMaker extracts from the container's log."""

    metric_regex: str = r"validation:accuracy=([0-9.]+)"
    """Regex with one group that captures the metric value in the training container's log."""

    min_accuracy: float = 0.9
    """Minimum test accuracy (0-1) a model needs before it is registered and sent for approval."""

    endpoint_instance_type: str = "ml.t2.medium"
    """Instance type of the endpoint's single production variant."""

    endpoint_instance_count: int = 1
    """Initial instance count of the endpoint's production variant."""

    approval_timeout_seconds: int = 86400
    """How long the workflow waits for an approval decision before it rejects the model package."""

    deploy_endpoint: bool = True
    """True: after approval the workflow deploys the stage's endpoint and smoke-tests it (dev). False:
    the endpoint is a Pulumi resource set by model promotion (staging, prod); the workflow ends once
    the package is Approved, which is what starts the promotion."""

    smoke_test_record: str = "5.1,3.5,1.4,0.2"
    """CSV feature record the smoke test sends through the inference proxy."""

    endpoint_poll_seconds: int = 30
    """Seconds between DescribeEndpoint polls while the endpoint is creating / updating."""

    endpoint_max_polls: int = 60
    """Polls before the workflow gives up waiting for InService (poll seconds x polls = deadline)."""

    retry_interval_seconds: int = 5
    """Retry IntervalSeconds for throttling / transient errors (at least 1)."""

    retry_max_attempts: int = 3
    """Retry MaxAttempts for throttling / transient errors (0 disables retries)."""

    retry_backoff_rate: float = 2.0
    """Retry BackoffRate (at least 1.0)."""

    def __post_init__(self) -> None:
        problems: list[str] = []

        def bad(name: str, allowed: str) -> None:
            problems.append(f"{name}={getattr(self, name)!r} is not allowed: {allowed}")

        if not (_SAGEMAKER_NAME.match(self.name_prefix) and len(self.name_prefix) <= _MAX_PREFIX_LENGTH):
            bad("name_prefix", f"use 1-{_MAX_PREFIX_LENGTH} letters, digits or hyphens, starting and ending with a letter or digit")
        for name in ("sagemaker_role_arn", "kms_key_arn", "approval_request_function_arn", "evaluate_function_arn",
                     "notify_function_arn", "smoke_test_function_arn"):
            if not _is_text(getattr(self, name)) or not getattr(self, name).startswith("arn:"):
                bad(name, "use an ARN (arn:...)")
        for name in ("training_data_uri", "validation_data_uri", "test_data_uri", "output_prefix"):
            if not _is_text(getattr(self, name)) or not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", getattr(self, name)):
                bad(name, "use an S3 URI such as s3://bucket/prefix")
        if _is_text(self.output_prefix) and self.output_prefix.endswith("/"):
            bad("output_prefix", "leave out the trailing slash")
        for name in ("model_package_group_name", "endpoint_name"):
            if not _is_text(getattr(self, name)) or not _SAGEMAKER_NAME.match(getattr(self, name)):
                bad(name, "use 1-63 letters, digits or hyphens, starting and ending with a letter or digit")
        if not _is_text(self.inference_url) or not self.inference_url.startswith("https://"):
            bad("inference_url", "use an https:// URL")
        if not isinstance(self.default_hyperparameters, Mapping) or not all(
            _is_text(k) and isinstance(v, str) for k, v in self.default_hyperparameters.items()
        ):
            bad("default_hyperparameters", "use a mapping of non-empty string names to string values (SageMaker passes hyperparameters as strings)")
        for name in ("training_instance_type", "transform_instance_type", "endpoint_instance_type"):
            if not _is_text(getattr(self, name)) or not getattr(self, name).startswith("ml."):
                bad(name, "use a SageMaker instance type such as ml.m5.large")
        for name, low in (("training_instance_count", 1), ("training_volume_gb", 1), ("training_max_runtime_seconds", 1),
                          ("transform_instance_count", 1), ("endpoint_instance_count", 1), ("approval_timeout_seconds", 1),
                          ("endpoint_poll_seconds", 1), ("endpoint_max_polls", 1), ("retry_interval_seconds", 1),
                          ("retry_max_attempts", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                bad(name, f"use a whole number >= {low}")
        if isinstance(self.min_accuracy, bool) or not isinstance(self.min_accuracy, (int, float)) or not 0 <= self.min_accuracy <= 1:
            bad("min_accuracy", "use a number between 0 and 1")
        if isinstance(self.retry_backoff_rate, bool) or not isinstance(self.retry_backoff_rate, (int, float)) or self.retry_backoff_rate < 1:
            bad("retry_backoff_rate", "use a number >= 1.0")
        if not isinstance(self.network_isolation, bool):
            bad("network_isolation", "use true or false")
        if not isinstance(self.deploy_endpoint, bool):
            bad("deploy_endpoint", "use true or false")
        if not _is_text(self.metric_name):
            bad("metric_name", "use a non-empty metric name")
        if not _is_text(self.metric_regex) or re.compile(self.metric_regex).groups != 1:
            bad("metric_regex", "use a regular expression with exactly one capturing group for the value")
        if not _is_text(self.smoke_test_record):
            bad("smoke_test_record", "use a non-empty CSV record")
        # These strings are embedded in States.Format templates, whose literals reserve { } ' and \.
        for name in ("output_prefix", "name_prefix", "endpoint_name"):
            if _is_text(getattr(self, name)) and _PLACEHOLDER.search(getattr(self, name)):
                bad(name, "leave out the characters { } ' and \\")
        if problems:
            raise ValueError("invalid workflow definition parameters: " + "; ".join(problems))


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def build_definition(p: WorkflowDefinitionParams) -> dict[str, Any]:
    """The state machine definition for `p` as a JSON-serialisable dict."""
    states: dict[str, Any] = {}
    parts = [_input_states, _training_states, _approval_states, _finish_states]
    if p.deploy_endpoint:
        parts.insert(3, _deploy_states)
    for part in parts:
        states.update(part(p))
    if not p.deploy_endpoint:
        # Promotion deploys approved packages: the run ends with the Approved package.
        states[S.APPROVE_PACKAGE]["Next"] = S.NOTIFY_SUCCESS
    states.update(_step_failure_states(p, tasks=states))
    return {
        "Comment": (
            "Train, evaluate, register, approve and deploy a model. Input: {commitId, imageUri, "
            "trainingData?, validationData?, testData?, hyperparameters?} (docs/workflow.md)."
        ),
        "StartAt": S.VALIDATE_INPUT,
        "States": states,
    }


def definition_json(p: WorkflowDefinitionParams) -> str:
    """`build_definition(p)` serialised with stable key order (what the state machine resource takes)."""
    return json.dumps(build_definition(p), indent=2, sort_keys=False)


# --------------------------------------------------------------------------------------------
# helpers


def _retry(p: WorkflowDefinitionParams, errors: tuple[str, ...]) -> list[dict[str, Any]]:
    if p.retry_max_attempts == 0:
        return []
    return [{
        "ErrorEquals": list(errors),
        "IntervalSeconds": p.retry_interval_seconds,
        "MaxAttempts": p.retry_max_attempts,
        "BackoffRate": float(p.retry_backoff_rate),
    }]


def _catch_all(next_state: str = S.NOTIFY_FAILURE) -> dict[str, Any]:
    return {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": next_state}


def _task(
    p: WorkflowDefinitionParams,
    name: str,
    resource: str,
    parameters: dict[str, Any],
    next_state: str,
    *,
    retry_on: tuple[str, ...],
    result_path: str | None,
    result_selector: dict[str, Any] | None = None,
    catch: list[dict[str, Any]] | None = None,
    comment: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task"}
    if comment:
        state["Comment"] = comment
    state["Resource"] = resource
    state["Parameters"] = parameters
    state.update(extra)
    if result_selector is not None:
        state["ResultSelector"] = result_selector
    state["ResultPath"] = result_path
    retry = _retry(p, retry_on)
    if retry:
        state["Retry"] = retry
    state["Catch"] = catch if catch is not None else [_catch_all(STEP_ERRORS[name])]
    state["Next"] = next_state
    return state


def _lambda_task(p, name: str, function_arn: str, payload: dict[str, Any], next_state: str, **kwargs) -> dict[str, Any]:
    return _task(
        p, name, "arn:aws:states:::lambda:invoke", {"FunctionName": function_arn, "Payload": payload}, next_state,
        retry_on=LAMBDA_TRANSIENT_ERRORS, **kwargs,
    )


def _fail_with(error: str, cause_format: str, *args: str) -> dict[str, Any]:
    """Parameters of a Pass state that sets $.failure = {Error, Cause} from a States.Format template."""
    cause = f"States.Format('{cause_format}', {', '.join(args)})" if args else None
    return {"Error": error, **({"Cause.$": cause} if cause else {"Cause": cause_format})}


def _failure_pass(error: str, cause_format: str, *args: str, next_state: str = S.NOTIFY_FAILURE) -> dict[str, Any]:
    return {"Type": "Pass", "Parameters": _fail_with(error, cause_format, *args), "ResultPath": "$.failure", "Next": next_state}


def _approval_failure(failure: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "Type": "Pass",
        "Parameters": {**failure, **({"Description.$": description} if description.startswith("States.") else {"Description": description})},
        "ResultPath": "$.failure",
        "Next": S.MARK_REJECTED,
    }


def _present_but_not_s3_uri(path: str) -> dict[str, Any]:
    """Choice rule that matches when the optional field at `path` is present but not an s3:// string."""
    return {"And": [
        {"Variable": path, "IsPresent": True},
        {"Or": [
            {"Not": {"Variable": path, "IsString": True}},
            {"Not": {"Variable": path, "StringMatches": "s3://*"}},
        ]},
    ]}


# --------------------------------------------------------------------------------------------
# input: validate, merge with the stack defaults, derive the run's name


def _input_states(p: WorkflowDefinitionParams) -> dict[str, Any]:
    def missing_or_not_string(path: str) -> dict[str, Any]:
        return {"Or": [
            {"Not": {"Variable": path, "IsPresent": True}},
            {"Not": {"Variable": path, "IsString": True}},
        ]}

    invalid = [
        missing_or_not_string("$.commitId"),
        missing_or_not_string("$.imageUri"),
        _present_but_not_s3_uri("$.trainingData"),
        _present_but_not_s3_uri("$.validationData"),
        _present_but_not_s3_uri("$.testData"),
        {"And": [
            {"Variable": "$.hyperparameters", "IsPresent": True},
            {"Or": [
                {"Variable": "$.hyperparameters", "IsNull": True},
                {"Variable": "$.hyperparameters", "IsString": True},
                {"Variable": "$.hyperparameters", "IsNumeric": True},
                {"Variable": "$.hyperparameters", "IsBoolean": True},
            ]},
        ]},
    ]
    run_name = (
        f"States.Format('{p.name_prefix}-{{}}', "
        "States.Hash(States.Format('{}/{}', $.merged.commitId, $$.Execution.Name), 'MD5'))"
    )
    return {
        S.VALIDATE_INPUT: {
            "Type": "Choice",
            "Comment": "Reject input the later states cannot use, before anything is created.",
            "Choices": [{"Or": invalid, "Next": S.INVALID_INPUT}],
            "Default": S.APPLY_DEFAULTS,
        },
        S.INVALID_INPUT: {
            "Type": "Pass",
            "Parameters": {
                "run": {"commitId": "unknown"},
                "failure": {
                    "Error": "InvalidInput",
                    "Cause.$": (
                        "States.Format('The execution input must be a JSON object with string commitId and "
                        "imageUri, optional trainingData, validationData and testData as s3:// URIs and optional "
                        "hyperparameters as an object of strings. Received: {}', States.JsonToString($))"
                    ),
                },
            },
            "Next": S.NOTIFY_FAILURE,
        },
        S.APPLY_DEFAULTS: {
            "Type": "Pass",
            "Comment": "Stack defaults for the optional input fields.",
            "Parameters": {
                "input.$": "$",
                "defaults": {
                    "trainingData": p.training_data_uri,
                    "validationData": p.validation_data_uri,
                    "testData": p.test_data_uri,
                    "hyperparameters": {},
                },
                "defaultHyperparameters": dict(p.default_hyperparameters),
            },
            "Next": S.MERGE_INPUT,
        },
        S.MERGE_INPUT: {
            "Type": "Pass",
            "Comment": "Input fields win over the defaults (shallow merge).",
            "Parameters": {
                "merged.$": "States.JsonMerge($.defaults, $.input, false)",
                "defaultHyperparameters.$": "$.defaultHyperparameters",
            },
            "Next": S.RESOLVE_RUN,
        },
        S.RESOLVE_RUN: {
            "Type": "Pass",
            "Comment": "The run's settings. name is unique per commit and execution and a valid SageMaker name.",
            "Parameters": {
                "run": {
                    "commitId.$": "$.merged.commitId",
                    "imageUri.$": "$.merged.imageUri",
                    "name.$": run_name,
                    "trainingData.$": "$.merged.trainingData",
                    "validationData.$": "$.merged.validationData",
                    "testData.$": "$.merged.testData",
                    "hyperparameters.$": "States.JsonMerge($.defaultHyperparameters, $.merged.hyperparameters, false)",
                },
            },
            "Next": S.TRAIN,
        },
    }


# --------------------------------------------------------------------------------------------
# train, evaluate on held-out data, register


def _training_states(p: WorkflowDefinitionParams) -> dict[str, Any]:
    sm = SAGEMAKER_TRANSIENT_ERRORS
    channel = lambda name, path: {  # noqa: E731 - a tiny local constructor reads better here
        "ChannelName": name,
        "ContentType": "text/csv",
        "InputMode": "File",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": path, "S3DataDistributionType": "FullyReplicated"}},
    }
    return {
        S.TRAIN: _task(
            p, S.TRAIN, "arn:aws:states:::sagemaker:createTrainingJob.sync",
            {
                "TrainingJobName.$": "$.run.name",
                "RoleArn": p.sagemaker_role_arn,
                "AlgorithmSpecification": {
                    "TrainingImage.$": "$.run.imageUri",
                    "TrainingInputMode": "File",
                    "MetricDefinitions": [{"Name": p.metric_name, "Regex": p.metric_regex}],
                },
                "HyperParameters.$": "$.run.hyperparameters",
                "InputDataConfig": [channel("training", "$.run.trainingData"), channel("validation", "$.run.validationData")],
                "OutputDataConfig": {"S3OutputPath": f"{p.output_prefix}/training", "KmsKeyId": p.kms_key_arn},
                "ResourceConfig": {
                    "InstanceType": p.training_instance_type,
                    "InstanceCount": p.training_instance_count,
                    "VolumeSizeInGB": p.training_volume_gb,
                    "VolumeKmsKeyId": p.kms_key_arn,
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": p.training_max_runtime_seconds},
                "EnableNetworkIsolation": p.network_isolation,
                "Tags": [
                    {"Key": "CommitId", "Value.$": "$.run.commitId"},
                    {"Key": "StepFunctionsExecution", "Value.$": "$$.Execution.Name"},
                ],
            },
            S.CREATE_MODEL,
            retry_on=sm,
            result_selector={
                "jobName.$": "$.TrainingJobName",
                "modelDataUrl.$": "$.ModelArtifacts.S3ModelArtifacts",
            },
            result_path="$.training",
        ),
        S.CREATE_MODEL: _task(
            p, S.CREATE_MODEL, "arn:aws:states:::sagemaker:createModel",
            {
                "ModelName.$": "$.run.name",
                "ExecutionRoleArn": p.sagemaker_role_arn,
                "PrimaryContainer": {"Image.$": "$.run.imageUri", "ModelDataUrl.$": "$.training.modelDataUrl"},
                "EnableNetworkIsolation": p.network_isolation,
                "Tags": [{"Key": "CommitId", "Value.$": "$.run.commitId"}],
            },
            S.EVALUATE,
            retry_on=sm,
            result_selector={"arn.$": "$.ModelArn"},
            result_path="$.model",
        ),
        S.EVALUATE: _task(
            p, S.EVALUATE, "arn:aws:states:::sagemaker:createTransformJob.sync",
            {
                "TransformJobName.$": "$.run.name",
                "ModelName.$": "$.run.name",
                "TransformInput": {
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": "$.run.testData"}},
                    "ContentType": "text/csv",
                    "SplitType": "Line",
                    "CompressionType": "None",
                },
                "TransformOutput": {
                    "S3OutputPath.$": f"States.Format('{p.output_prefix}/evaluation/{{}}', $.run.name)",
                    "Accept": "text/csv",
                    "AssembleWith": "Line",
                    "KmsKeyId": p.kms_key_arn,
                },
                "TransformResources": {
                    "InstanceType": p.transform_instance_type,
                    "InstanceCount": p.transform_instance_count,
                    "VolumeKmsKeyId": p.kms_key_arn,
                },
                # Test rows are "label,f1,f2,f3,f4": send the features, write "label,prediction".
                "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"},
                "Tags": [{"Key": "CommitId", "Value.$": "$.run.commitId"}],
            },
            S.EVALUATE_MODEL,
            retry_on=sm,
            comment="Batch transform over the held-out test data (never the training data).",
            result_selector={"jobName.$": "$.TransformJobName", "outputPath.$": "$.TransformOutput.S3OutputPath"},
            result_path="$.transform",
        ),
        S.EVALUATE_MODEL: _lambda_task(
            p, S.EVALUATE_MODEL, p.evaluate_function_arn,
            {"transformOutput.$": "$.transform.outputPath", "minAccuracy": p.min_accuracy},
            S.CHECK_EVALUATION,
            result_selector={"report.$": "$.Payload"},
            result_path="$.evaluation",
        ),
        S.CHECK_EVALUATION: {
            "Type": "Choice",
            "Choices": [
                {"And": [
                    {"Variable": "$.evaluation.report.passed", "IsPresent": True},
                    {"Variable": "$.evaluation.report.passed", "IsBoolean": True},
                    {"Variable": "$.evaluation.report.passed", "BooleanEquals": True},
                ], "Next": S.REGISTER_MODEL},
                {"And": [
                    {"Variable": "$.evaluation.report.accuracy", "IsPresent": True},
                    {"Variable": "$.evaluation.report.accuracy", "IsNumeric": True},
                ], "Next": S.BELOW_THRESHOLD},
            ],
            "Default": S.EVALUATION_INVALID,
        },
        S.BELOW_THRESHOLD: _failure_pass(
            "ModelBelowThreshold",
            f"Test accuracy {{}} is below the required {p.min_accuracy}; the model was not registered. Transform output: {{}}",
            "$.evaluation.report.accuracy", "$.transform.outputPath",
        ),
        S.EVALUATION_INVALID: _failure_pass(
            "EvaluationReportInvalid",
            "The evaluate function returned no boolean passed and no numeric accuracy: {}",
            "States.JsonToString($.evaluation.report)",
        ),
        S.REGISTER_MODEL: _task(
            p, S.REGISTER_MODEL, "arn:aws:states:::aws-sdk:sagemaker:createModelPackage",
            {
                "ModelPackageGroupName": p.model_package_group_name,
                "ModelPackageDescription.$": "States.Format('Commit {}, trained by {}', $.run.commitId, $.training.jobName)",
                "ModelApprovalStatus": "PendingManualApproval",
                "InferenceSpecification": {
                    "Containers": [{"Image.$": "$.run.imageUri", "ModelDataUrl.$": "$.training.modelDataUrl"}],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv"],
                    "SupportedRealtimeInferenceInstanceTypes": [p.endpoint_instance_type],
                    "SupportedTransformInstanceTypes": [p.transform_instance_type],
                },
                "MetadataProperties": {"CommitId.$": "$.run.commitId", "GeneratedBy.$": "$$.Execution.Id"},
                "CustomerMetadataProperties": {
                    "accuracy.$": "States.Format('{}', $.evaluation.report.accuracy)",
                    "transformOutput.$": "$.transform.outputPath",
                    "trainingJob.$": "$.training.jobName",
                },
            },
            S.REQUEST_APPROVAL,
            retry_on=SAGEMAKER_SDK_TRANSIENT_ERRORS,
            result_selector={"arn.$": "$.ModelPackageArn"},
            result_path="$.modelPackage",
        ),
    }


# --------------------------------------------------------------------------------------------
# manual approval


def _approval_states(p: WorkflowDefinitionParams) -> dict[str, Any]:
    mark = lambda status, description_path: {  # noqa: E731
        "ModelPackageArn.$": "$.modelPackage.arn",
        "ModelApprovalStatus": status,
        "ApprovalDescription.$": description_path,
    }
    return {
        S.REQUEST_APPROVAL: _task(
            p, S.REQUEST_APPROVAL, "arn:aws:states:::lambda:invoke.waitForTaskToken",
            {
                "FunctionName": p.approval_request_function_arn,
                "Payload": {
                    "taskToken.$": "$$.Task.Token",
                    "executionArn.$": "$$.Execution.Id",
                    "commitId.$": "$.run.commitId",
                    "modelPackageArn.$": "$.modelPackage.arn",
                    "evaluation": {"transformOutput.$": "$.transform.outputPath", "metrics.$": "$.evaluation.report"},
                    "timeoutSeconds": p.approval_timeout_seconds,
                },
            },
            S.APPROVE_PACKAGE,
            retry_on=LAMBDA_TRANSIENT_ERRORS,
            comment="E-mails signed approve / reject links and waits for SendTaskSuccess / SendTaskFailure(Rejected).",
            TimeoutSeconds=p.approval_timeout_seconds,
            result_path="$.approval",
            catch=[
                {"ErrorEquals": [REJECTED_ERROR], "ResultPath": "$.failure", "Next": S.APPROVAL_REJECTED},
                {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.failure", "Next": S.APPROVAL_TIMED_OUT},
                _catch_all(S.APPROVAL_REQUEST_FAILED),
            ],
        ),
        # Each sets $.failure = {Error, Cause, Description}; Description goes to the registry.
        S.APPROVAL_REJECTED: _approval_failure(
            {"Error": REJECTED_ERROR, "Cause.$": "$.failure.Cause"},  # the decision's {approver, comment, decidedAt}
            "States.Format('Rejected by the approver: {}', $.failure.Cause)",
        ),
        S.APPROVAL_TIMED_OUT: _approval_failure(
            {"Error": "ApprovalTimedOut", "Cause.$": (
                f"States.Format('No approval decision for model package {{}} within {p.approval_timeout_seconds} "
                "seconds', $.modelPackage.arn)"
            )},
            f"No approval decision within {p.approval_timeout_seconds} seconds",
        ),
        S.APPROVAL_REQUEST_FAILED: _approval_failure(
            {"Error": "ApprovalRequestFailed", "Cause.$": "$.failure.Cause"},
            "States.Format('The approval request could not be sent ({}): {}', $.failure.Error, $.failure.Cause)",
        ),
        S.MARK_REJECTED: _task(
            p, S.MARK_REJECTED, "arn:aws:states:::aws-sdk:sagemaker:updateModelPackage", mark("Rejected", "$.failure.Description"),
            S.NOTIFY_FAILURE,
            retry_on=SAGEMAKER_SDK_TRANSIENT_ERRORS,
            comment="The package must not stay PendingManualApproval: record why it was not approved.",
            result_path=None,
            # Still notify about the original failure if the registry update fails.
            catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.markRejectedError", "Next": S.NOTIFY_FAILURE}],
        ),
        S.APPROVE_PACKAGE: _task(
            p, S.APPROVE_PACKAGE, "arn:aws:states:::aws-sdk:sagemaker:updateModelPackage",
            mark("Approved", "States.Format('Approved by {} at {}: {}', $.approval.approver, $.approval.decidedAt, $.approval.comment)"),
            S.CREATE_ENDPOINT_CONFIG,
            retry_on=SAGEMAKER_SDK_TRANSIENT_ERRORS,
            result_path=None,
        ),
    }


# --------------------------------------------------------------------------------------------
# deploy to the stable endpoint, wait for InService, smoke test


def _deploy_states(p: WorkflowDefinitionParams) -> dict[str, Any]:
    sm = SAGEMAKER_TRANSIENT_ERRORS
    endpoint_update = lambda action: _task(  # noqa: E731
        p, S.CREATE_ENDPOINT if action == "create" else S.UPDATE_ENDPOINT, f"arn:aws:states:::sagemaker:{action}Endpoint",
        {"EndpointName": p.endpoint_name, "EndpointConfigName.$": "$.run.name"},
        S.START_ENDPOINT_WAIT,
        retry_on=sm,
        result_selector={"action": f"{action}d", "endpointArn.$": "$.EndpointArn"},
        result_path="$.deployment",
    )
    status_is = lambda path, *statuses: (  # noqa: E731
        {"Variable": path, "StringEquals": statuses[0]} if len(statuses) == 1
        else {"Or": [{"Variable": path, "StringEquals": s} for s in statuses]}
    )
    return {
        S.CREATE_ENDPOINT_CONFIG: _task(
            p, S.CREATE_ENDPOINT_CONFIG, "arn:aws:states:::sagemaker:createEndpointConfig",
            {
                "EndpointConfigName.$": "$.run.name",
                "ProductionVariants": [{
                    "VariantName": "AllTraffic",
                    "ModelName.$": "$.run.name",
                    "InstanceType": p.endpoint_instance_type,
                    "InitialInstanceCount": p.endpoint_instance_count,
                    "InitialVariantWeight": 1,
                }],
                "KmsKeyId": p.kms_key_arn,
                "Tags": [{"Key": "CommitId", "Value.$": "$.run.commitId"}],
            },
            S.FIND_ENDPOINT,
            retry_on=sm,
            result_path=None,
        ),
        S.FIND_ENDPOINT: _task(
            p, S.FIND_ENDPOINT, "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
            {"EndpointName": p.endpoint_name},
            S.EXISTING_ENDPOINT_STATUS,
            retry_on=SAGEMAKER_SDK_THROTTLING_ERRORS,
            comment="Create the stage's endpoint the first time, update it afterwards.",
            result_selector={"status.$": "$.EndpointStatus", "endpointConfigName.$": "$.EndpointConfigName"},
            result_path="$.existingEndpoint",
            catch=[
                {"ErrorEquals": [SAGEMAKER_SDK_ERROR], "ResultPath": "$.endpointLookup", "Next": S.CHECK_LOOKUP_ERROR},
                _catch_all(),
            ],
        ),
        S.CHECK_LOOKUP_ERROR: {
            "Type": "Choice",
            "Choices": [{"Variable": "$.endpointLookup.Cause", "StringMatches": ENDPOINT_NOT_FOUND_CAUSE, "Next": S.CREATE_ENDPOINT}],
            "Default": S.LOOKUP_FAILED,
        },
        S.LOOKUP_FAILED: {
            "Type": "Pass",
            "Parameters": {"Error": S.DEPLOYMENT_FAILED, "Cause.$": "$.endpointLookup.Cause"},
            "ResultPath": "$.failure",
            "Next": S.NOTIFY_FAILURE,
        },
        S.EXISTING_ENDPOINT_STATUS: {
            "Type": "Choice",
            "Choices": [
                {**status_is("$.existingEndpoint.status", "InService"), "Next": S.UPDATE_ENDPOINT},
                {**status_is("$.existingEndpoint.status", "Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"),
                 "Next": S.WAIT_FOR_IDLE_ENDPOINT},
            ],
            "Default": S.EXISTING_ENDPOINT_UNUSABLE,
        },
        S.WAIT_FOR_IDLE_ENDPOINT: {
            "Type": "Wait",
            "Comment": "Another change is in progress on the endpoint; look again when it has settled.",
            "Seconds": p.endpoint_poll_seconds,
            "Next": S.FIND_ENDPOINT,
        },
        S.EXISTING_ENDPOINT_UNUSABLE: _failure_pass(
            "EndpointUnusable",
            f"Endpoint {p.endpoint_name} is {{}} and cannot be updated; delete it (the next run recreates it) or repair it, then re-run",
            "$.existingEndpoint.status",
        ),
        S.CREATE_ENDPOINT: endpoint_update("create"),
        S.UPDATE_ENDPOINT: endpoint_update("update"),
        S.START_ENDPOINT_WAIT: {"Type": "Pass", "Result": {"polls": 0}, "ResultPath": "$.endpointWait", "Next": S.WAIT_FOR_ENDPOINT},
        S.WAIT_FOR_ENDPOINT: {"Type": "Wait", "Seconds": p.endpoint_poll_seconds, "Next": S.DESCRIBE_ENDPOINT},
        S.DESCRIBE_ENDPOINT: _task(
            p, S.DESCRIBE_ENDPOINT, "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
            {"EndpointName": p.endpoint_name},
            S.CHECK_ENDPOINT_STATUS,
            retry_on=SAGEMAKER_SDK_TRANSIENT_ERRORS,
            result_selector={"status.$": "$.EndpointStatus", "description.$": "States.JsonToString($)"},
            result_path="$.endpoint",
        ),
        S.CHECK_ENDPOINT_STATUS: {
            "Type": "Choice",
            "Choices": [
                {**status_is("$.endpoint.status", "InService"), "Next": S.SMOKE_TEST},
                {**status_is("$.endpoint.status", "Failed", "OutOfService", "UpdateRollbackFailed", "RollingBack"),
                 "Next": S.ENDPOINT_FAILED},
                {"Variable": "$.endpointWait.polls", "NumericGreaterThanEquals": p.endpoint_max_polls, "Next": S.ENDPOINT_WAIT_TIMED_OUT},
            ],
            "Default": S.COUNT_ENDPOINT_POLL,
        },
        S.COUNT_ENDPOINT_POLL: {
            "Type": "Pass",
            "Parameters": {"polls.$": "States.MathAdd($.endpointWait.polls, 1)"},
            "ResultPath": "$.endpointWait",
            "Next": S.WAIT_FOR_ENDPOINT,
        },
        S.ENDPOINT_FAILED: _failure_pass(
            "EndpointDeploymentFailed",
            f"Endpoint {p.endpoint_name} went to {{}} while deploying endpoint config {{}}. DescribeEndpoint: {{}}",
            "$.endpoint.status", "$.run.name", "$.endpoint.description",
        ),
        S.ENDPOINT_WAIT_TIMED_OUT: _failure_pass(
            "EndpointWaitTimedOut",
            f"Endpoint {p.endpoint_name} was still {{}} after {p.endpoint_max_polls} polls "
            f"{p.endpoint_poll_seconds} seconds apart",
            "$.endpoint.status",
        ),
        S.SMOKE_TEST: _lambda_task(
            p, S.SMOKE_TEST, p.smoke_test_function_arn, {"data": p.smoke_test_record}, S.CHECK_SMOKE_TEST,
            comment="A real invocation of the endpoint through the inference proxy.",
            result_selector={"response.$": "$.Payload"},
            result_path="$.smokeTest",
        ),
        S.CHECK_SMOKE_TEST: {
            "Type": "Choice",
            "Choices": [{"And": [
                {"Variable": "$.smokeTest.response.result", "IsPresent": True},
                {"Not": {"Variable": "$.smokeTest.response.result", "IsNull": True}},
            ], "Next": S.NOTIFY_SUCCESS}],
            "Default": S.SMOKE_TEST_NO_RESULT,
        },
        S.SMOKE_TEST_NO_RESULT: _failure_pass(
            S.SMOKE_TEST_FAILED,
            f"Endpoint {p.endpoint_name} answered the sample record without a result: {{}}",
            "States.JsonToString($.smokeTest.response)",
        ),
    }


# --------------------------------------------------------------------------------------------
# notifications and the end states


def _finish_states(p: WorkflowDefinitionParams) -> dict[str, Any]:
    return {
        S.NOTIFY_SUCCESS: _lambda_task(
            p, S.NOTIFY_SUCCESS, p.notify_function_arn,
            {
                "status": "SUCCEEDED",
                "commitId.$": "$.run.commitId",
                "executionArn.$": "$$.Execution.Id",
                "deployment": "workflow" if p.deploy_endpoint else "promotion",
                "inferenceUrl": p.inference_url,
                "endpointName": p.endpoint_name,
                "modelPackageArn.$": "$.modelPackage.arn",
            },
            S.BUILD_RESULT,
            result_path=None,
            # The model is live; if the e-mail cannot go out the execution still fails so someone looks.
        ),
        S.BUILD_RESULT: {
            "Type": "Pass",
            "Parameters": {
                "commitId.$": "$.run.commitId",
                "trainingJobName.$": "$.training.jobName",
                "modelPackageArn.$": "$.modelPackage.arn",
                "evaluation.$": "$.evaluation.report",
                "approval.$": "$.approval",
                **({
                    "endpointName": p.endpoint_name,
                    "endpointConfigName.$": "$.run.name",
                    "deployment.$": "$.deployment.action",
                    "smokeTestResult.$": "$.smokeTest.response.result",
                    "inferenceUrl": p.inference_url,
                } if p.deploy_endpoint else {"deployment": "promotion"}),
            },
            "Next": S.SUCCEEDED,
        },
        S.SUCCEEDED: {"Type": "Succeed"},
        S.NOTIFY_FAILURE: _lambda_task(
            p, S.NOTIFY_FAILURE, p.notify_function_arn,
            {
                "status": "FAILED",
                "commitId.$": "$.run.commitId",
                "executionArn.$": "$$.Execution.Id",
                "error.$": "$.failure.Error",
                "cause.$": "$.failure.Cause",
            },
            S.FAILED,
            result_path=None,
            catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notifyError", "Next": S.FAILED}],
        ),
        S.FAILED: {"Type": "Fail", "ErrorPath": "$.failure.Error", "CausePath": "$.failure.Cause"},
    }


def _step_failure_states(p: WorkflowDefinitionParams, tasks: Mapping[str, Any]) -> dict[str, Any]:
    """One Pass per step error of the tasks present: Error names the step, Cause is the caught error's cause."""
    states = {}
    for error in dict.fromkeys(error for task, error in STEP_ERRORS.items() if task in tasks):
        states[error] = {
            "Type": "Pass",
            "Parameters": {"Error": error, "Cause.$": "$.failure.Cause"},
            "ResultPath": "$.failure",
            # The notification function may be what failed; do not try it twice.
            "Next": S.FAILED if error == S.SUCCESS_NOTIFICATION_FAILED else S.NOTIFY_FAILURE,
        }
    return states
