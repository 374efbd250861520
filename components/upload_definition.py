"""The upload registration's Amazon States Language definition: an uploaded model becomes a model package
of its catalog entry's group and goes through the same signed-link approval as a trained one.

    CheckUpload → ResolvePackage → RegisterModel (CreateModelPackage, PendingManualApproval)
    → RequestApproval (.waitForTaskToken) → ApproveModelPackage → NotifySuccess → BuildResult → Succeeded

    an upload without an S3 version id → UploadNotVersioned → NotifyFailure → Failed
    rejection / approval timeout / request not sent → MarkModelPackageRejected → NotifyFailure → Failed
    any other error → <Step>Failed (ModelRegistrationFailed, ...) → NotifyFailure → Failed

The approval, its rejection paths and the step-failure Pass states are the training workflow's
(``components.workflow.approval``, ``finish.step_failure_states``), built from the same state and error
names (``components.workflow.states``); only what is specific to an upload is built here.

Input (one per upload; the entry's EventBridge rule builds it, ``components.model_upload``)::

    {"modelName": "iris-tree", "modelPackageGroupName": "mlops-dev-byom-iris-tree-models",
     "imageUri": "<ECR image>", "bucket": "<registry bucket>", "key": "<model_artifact_location>",
     "versionId": "<the uploaded object's S3 version id>",
     "specification": {"SupportedContentTypes": [...], "SupportedResponseMIMETypes": [...],
                       "SupportedRealtimeInferenceInstanceTypes" or "SupportedTransformInstanceTypes": [...]}}

**The artifact's version.** A package records its artifact as ``ModelDataUrl`` (botocore's
``ModelPackageContainerDefinition``: an ``s3://`` or ``https://`` URL of one object; ``ModelDataSource``'s
``S3DataSource`` is a URI too), and an S3 URL cannot name an object version. So the package points at the
key and records the uploaded version in ``CustomerMetadataProperties.ArtifactVersionId`` (with the model
name), the approval e-mail and page show it, and the registration is idempotent per group and version
(``ClientToken``: a repeated delivery of the same upload event registers no second package). SageMaker
reads the key's *current* object whenever it creates a model or starts an instance: uploading the key
again registers a new package, but endpoints created from an older package would load the newer bytes on
their next instance. docs/catalog.md ("From upload to prod") says what that means and how to avoid it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from components.workflow.approval import approval_states
from components.workflow.finish import step_failure_states
from components.workflow.states import SAGEMAKER_SDK_TRANSIENT_ERRORS, S
from components.workflow.steps import Stage, State, Step, chain, goto, step
from components.workflow.tasks import lambda_task, task

__all__ = ["RegistrationParams", "UNVERSIONED_ERROR", "main_path", "build_definition", "definition_json"]

UNVERSIONED_ERROR = "UploadNotVersioned"
_ARTIFACT = "States.Format('s3://{}/{}', $.bucket, $.key)"
# What the approval e-mail and page say about the model (the approval request's `upload`).
UPLOADED_MODEL = {"upload": {"modelName.$": "$.upload.modelName", "artifact.$": "$.upload.artifact",
                             "versionId.$": "$.upload.versionId"}}


@dataclass(frozen=True)
class RegistrationParams:
    """Everything the definition needs, as plain values (resolve Pulumi Outputs first)."""

    approval_request_function_arn: str
    """The approval API's request function (the training workflow's: one approval)."""
    notify_function_arn: str
    """The notification function (the training workflow's)."""
    approval_timeout_seconds: int = 86400
    retry_interval_seconds: int = 5
    retry_max_attempts: int = 3
    retry_backoff_rate: float = 2.0

    def __post_init__(self) -> None:
        problems = [f"{name}={getattr(self, name)!r} is not allowed: use a Lambda function ARN (arn:...)"
                    for name in ("approval_request_function_arn", "notify_function_arn")
                    if not (isinstance(getattr(self, name), str) and getattr(self, name).startswith("arn:"))]
        for name, low in (("approval_timeout_seconds", 1), ("retry_interval_seconds", 1), ("retry_max_attempts", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                problems.append(f"{name}={value!r} is not allowed: use a whole number >= {low}")
        if isinstance(self.retry_backoff_rate, bool) or not isinstance(self.retry_backoff_rate, (int, float)) \
                or self.retry_backoff_rate < 1:
            problems.append(f"retry_backoff_rate={self.retry_backoff_rate!r} is not allowed: use a number >= 1.0")
        if problems:
            raise ValueError("invalid registration definition parameters: " + "; ".join(problems))


def main_path() -> tuple[str, ...]:
    """The states an approved upload enters, in order."""
    return (S.CHECK_UPLOAD, S.RESOLVE_PACKAGE, S.REGISTER_MODEL, S.REQUEST_APPROVAL, S.APPROVE_PACKAGE,
            S.NOTIFY_SUCCESS, S.BUILD_RESULT, S.SUCCEEDED)


def _upload_states(p: RegistrationParams) -> Stage:
    def check_upload(next_state: str) -> State:
        version = "$.versionId"
        return {
            "Type": "Choice",
            "Comment": "The package records which upload was approved: only a versioned object can be named.",
            "Choices": [{"And": [{"Variable": version, "IsPresent": True}, {"Variable": version, "IsString": True},
                                 {"Not": {"Variable": version, "StringEquals": ""}},
                                 {"Not": {"Variable": version, "StringEquals": "null"}}],  # versioning suspended
                         "Next": next_state}],
            "Default": S.UPLOAD_NOT_VERSIONED,
        }

    return {
        S.CHECK_UPLOAD: Step(check_upload),
        S.UPLOAD_NOT_VERSIONED: {
            "Type": "Pass",
            "Parameters": {
                "upload": {"modelName.$": "$.modelName", "artifact.$": _ARTIFACT},
                "failure": {"Error": UNVERSIONED_ERROR, "Cause.$": (
                    "States.Format('s3://{}/{} was uploaded without an S3 version id: the registry bucket must be "
                    "versioned, so that the package can record which upload was approved', $.bucket, $.key)")},
            },
            "ResultPath": "$",
            "Next": S.NOTIFY_FAILURE,
        },
        S.RESOLVE_PACKAGE: step({
            "Type": "Pass",
            "Comment": "The uploaded object and the package's container: the entry's image and the artifact.",
            "Parameters": {
                "modelName.$": "$.modelName",
                "artifact.$": _ARTIFACT,
                "versionId.$": "$.versionId",
                "inference": {"Containers": [{"Image.$": "$.imageUri", "ModelDataUrl.$": _ARTIFACT}]},
            },
            "ResultPath": "$.upload",
        }),
        S.REGISTER_MODEL: step(task(
            p, S.REGISTER_MODEL, "arn:aws:states:::aws-sdk:sagemaker:createModelPackage",
            {
                "ModelPackageGroupName.$": "$.modelPackageGroupName",
                "ModelPackageDescription.$": ("States.Format('Uploaded for the catalog entry {}; the S3 version is "
                                              "CustomerMetadataProperties.ArtifactVersionId', $.modelName)"),
                "ModelApprovalStatus": "PendingManualApproval",
                "InferenceSpecification.$": "States.JsonMerge($.specification, $.upload.inference, false)",
                "MetadataProperties": {"GeneratedBy.$": "$$.Execution.Id"},
                "CustomerMetadataProperties": {"ModelName.$": "$.modelName", "ArtifactVersionId.$": "$.versionId"},
                # One package per group and uploaded version, however often the event is delivered.
                "ClientToken.$": "States.Hash(States.Format('{}/{}', $.modelPackageGroupName, $.versionId), 'MD5')",
            },
            retry_on=SAGEMAKER_SDK_TRANSIENT_ERRORS,
            result_selector={"arn.$": "$.ModelPackageArn"},
            result_path="$.modelPackage",
        )),
    }


def _finish_states(p: RegistrationParams) -> Stage:
    return {
        S.NOTIFY_SUCCESS: step(lambda_task(
            p, S.NOTIFY_SUCCESS, p.notify_function_arn,
            {"status": "SUCCEEDED", "executionArn.$": "$$.Execution.Id", "upload.$": "$.upload",
             "modelPackageArn.$": "$.modelPackage.arn", "deployment": "promotion"},
            result_path=None,
        )),
        S.BUILD_RESULT: step({
            "Type": "Pass",
            "Parameters": {"modelName.$": "$.modelName", "modelPackageArn.$": "$.modelPackage.arn",
                           "artifact.$": "$.upload.artifact", "versionId.$": "$.versionId",
                           "approval.$": "$.approval"},
        }),
        S.SUCCEEDED: {"Type": "Succeed"},
        S.NOTIFY_FAILURE: goto(lambda_task(
            p, S.NOTIFY_FAILURE, p.notify_function_arn,
            {"status": "FAILED", "executionArn.$": "$$.Execution.Id", "upload.$": "$.upload",
             "error.$": "$.failure.Error", "cause.$": "$.failure.Cause"},
            result_path=None,
            catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notifyError", "Next": S.FAILED}],
        ), S.FAILED),
        S.FAILED: {"Type": "Fail", "ErrorPath": "$.failure.Error", "CausePath": "$.failure.Cause"},
    }


def build_definition(p: RegistrationParams) -> dict[str, Any]:
    """The registration state machine's definition as a JSON-serialisable dict."""
    path = main_path()
    stages = (_upload_states(p), approval_states(p, UPLOADED_MODEL), _finish_states(p))
    states = chain(stages, path)
    states.update(step_failure_states(states))
    return {
        "Comment": ("Register an uploaded model as a package of its catalog entry's group (PendingManualApproval), "
                    "ask for the signed-link approval, approve or reject it, notify (docs/catalog.md)."),
        "StartAt": path[0],
        "States": states,
    }


def definition_json(p: RegistrationParams) -> str:
    return json.dumps(build_definition(p), indent=2)
