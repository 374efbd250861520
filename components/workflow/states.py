"""State names and error names: the vocabulary the definition, the tests and docs/workflow.md share.

Kept apart from the builders so a test or a document can name a state without building anything, and
so a renamed state is one edit here (the executions' history and alarms read these names).
"""

from __future__ import annotations

__all__ = [
    "S",
    "STEP_ERRORS",
    "LAMBDA_TRANSIENT_ERRORS",
    "SAGEMAKER_TRANSIENT_ERRORS",
    "SAGEMAKER_SDK_ERROR",
    "SAGEMAKER_SDK_TRANSIENT_ERRORS",
    "ENDPOINT_NOT_FOUND_CAUSE",
    "REJECTED_ERROR",
]


class S:
    """State names, roughly in the order a run meets them (an approved run's exact order is
    `definition.main_path`). Tests and docs refer to these."""

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
    BASELINE = "Baseline"
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
    # The upload registration (components/upload_definition.py) shares the names above from RegisterModel on.
    CHECK_UPLOAD = "CheckUpload"
    UPLOAD_NOT_VERSIONED = "UploadNotVersioned"
    RESOLVE_PACKAGE = "ResolvePackage"
    CHECK_BASELINE = "CheckBaselineData"
    REGISTER_WITH_BASELINE = "RegisterModelWithBaseline"
    # One Pass per step error (see STEP_ERRORS): the state is named after the error it sets.
    TRAINING_FAILED = "TrainingFailed"
    MODEL_CREATION_FAILED = "ModelCreationFailed"
    BATCH_TRANSFORM_FAILED = "BatchTransformFailed"
    EVALUATION_FAILED = "EvaluationFailed"
    BASELINE_FAILED = "BaselineFailed"
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
    S.BASELINE: S.BASELINE_FAILED,
    S.REGISTER_MODEL: S.REGISTRATION_FAILED,
    S.REGISTER_WITH_BASELINE: S.REGISTRATION_FAILED,
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
SAGEMAKER_TRANSIENT_ERRORS = ("SageMaker.AmazonSageMakerException",)
# AWS SDK integrations (arn:aws:states:::aws-sdk:sagemaker:*) name an error SageMaker.<Shape>Exception
# when SageMaker's API model declares it (ResourceNotFound, ResourceLimitExceeded, ...) and the SDK's
# base exception, SageMaker.SageMakerException, for everything it does not declare: ValidationException,
# ThrottlingException, internal errors. A throttled call therefore arrives as SageMaker.SageMakerException;
# there is no SageMaker.ThrottlingException, and a bare ThrottlingException never matches anything.
# (tests/test_state_machine_errors.py derives both rules from botocore's service models.)
SAGEMAKER_SDK_ERROR = "SageMaker.SageMakerException"
SAGEMAKER_SDK_TRANSIENT_ERRORS = (SAGEMAKER_SDK_ERROR,)
# DescribeEndpoint's message for a missing endpoint ("Could not find endpoint 'arn:...'.").
ENDPOINT_NOT_FOUND_CAUSE = "*Could not find endpoint*"
# The error the approval decision sends with SendTaskFailure.
REJECTED_ERROR = "Rejected"
