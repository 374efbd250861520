"""The upload registration's Amazon States Language definition: an uploaded model becomes a model package
of its catalog entry's group and goes through the same signed-link approval as a trained one.

    CheckUpload → ResolvePackage → RegisterModel (CreateModelPackage, PendingManualApproval)
    → RequestApproval (.waitForTaskToken) → ApproveModelPackage → NotifySuccess → BuildResult → Succeeded

    where an entry has ``baseline_data`` (the params' ``baseline``): ResolvePackage → CheckBaselineData →
    Baseline (Model Monitor's analyzer over baseline_data, processing job .sync) → RegisterModelWithBaseline
    (the same package, with the baseline as DriftCheckBaselines and ModelMetrics) → RequestApproval → ...
    a failed baseline job → BaselineFailed → NotifyFailure → Failed (nothing registered)

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
                       "SupportedRealtimeInferenceInstanceTypes" or "SupportedTransformInstanceTypes": [...]},
     "baselineJob": {"jobPrefix": "<the entry's baseline job prefix>", "roleArn": "<its baseline role>",
                     "data": "s3://<baseline_data>", "output": "s3://<registry bucket>/workflow/baselines/byom/<model>"}}

``baselineJob`` only for an entry with ``baseline_data``. Its job is ``<jobPrefix>-<MD5 of the execution>``; it
writes under ``<output>/<upload id>``, the upload id being the package's ``ClientToken`` (one per group and
uploaded version), so a repeated delivery of the same upload registers the same package with the same baseline.

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
from components.workflow.baseline import BaselineJobSpec, JsonPath, baseline_task, data_quality_metrics
from components.workflow.finish import step_failure_states
from components.workflow.states import SAGEMAKER_SDK_TRANSIENT_ERRORS, S
from components.workflow.steps import Stage, State, Step, chain, goto, step
from components.workflow.tasks import lambda_task, task

__all__ = ["RegistrationParams", "UNVERSIONED_ERROR", "main_path", "build_definition", "definition_json"]

UNVERSIONED_ERROR = "UploadNotVersioned"
_ARTIFACT = "States.Format('s3://{}/{}', $.bucket, $.key)"
# One id per group and uploaded version: the package's ClientToken and the folder of its baseline.
_UPLOAD_ID = "States.Hash(States.Format('{}/{}', $.modelPackageGroupName, $.versionId), 'MD5')"
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
    baseline: BaselineJobSpec | None = None
    """How the baseline jobs of entries with ``baseline_data`` run; None: no entry has it, and the definition
    has no baseline states."""
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
        if self.baseline is not None:
            problems += [f"baseline.{problem}" for problem in self.baseline.problems()]
        if problems:
            raise ValueError("invalid registration definition parameters: " + "; ".join(problems))


def main_path(p: RegistrationParams | None = None, *, baselined: bool = False) -> tuple[str, ...]:
    """The states an approved upload enters, in order: of an entry without ``baseline_data`` (the order the
    definition is chained in), or with it (``baselined``)."""
    checks: tuple[str, ...] = (S.CHECK_UPLOAD, S.RESOLVE_PACKAGE)
    if baselined or (p is not None and p.baseline is not None):
        checks += (S.CHECK_BASELINE,)
    register = (S.BASELINE, S.REGISTER_WITH_BASELINE) if baselined else (S.REGISTER_MODEL,)
    return (*checks, *register, S.REQUEST_APPROVAL, S.APPROVE_PACKAGE, S.NOTIFY_SUCCESS, S.BUILD_RESULT,
            S.SUCCEEDED)


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
        S.REGISTER_MODEL: step(_register(p, S.REGISTER_MODEL)),
    }


def _register(p: RegistrationParams, name: str, *, baselined: bool = False) -> State:
    """CreateModelPackage of the upload (PendingManualApproval); ``baselined``: with the Baseline step's
    result as the package's DriftCheckBaselines and ModelMetrics, as the training workflow registers."""
    return task(
        p, name, "arn:aws:states:::aws-sdk:sagemaker:createModelPackage",
        {
            "ModelPackageGroupName.$": "$.modelPackageGroupName",
            "ModelPackageDescription.$": ("States.Format('Uploaded for the catalog entry {}; the S3 version is "
                                          "CustomerMetadataProperties.ArtifactVersionId', $.modelName)"),
            "ModelApprovalStatus": "PendingManualApproval",
            "InferenceSpecification.$": "States.JsonMerge($.specification, $.upload.inference, false)",
            "MetadataProperties": {"GeneratedBy.$": "$$.Execution.Id"},
            **(data_quality_metrics("$.baseline") if baselined else {}),
            "CustomerMetadataProperties": {"ModelName.$": "$.modelName", "ArtifactVersionId.$": "$.versionId",
                                           **({"BaselineJob.$": "$.baseline.jobName"} if baselined else {})},
            # One package per group and uploaded version, however often the event is delivered.
            "ClientToken.$": _UPLOAD_ID,
        },
        retry_on=SAGEMAKER_SDK_TRANSIENT_ERRORS,
        result_selector={"arn.$": "$.ModelPackageArn"},
        result_path="$.modelPackage",
    )


def _baseline_states(p: RegistrationParams, spec: BaselineJobSpec) -> Stage:
    """CheckBaselineData → Baseline → RegisterModelWithBaseline → RequestApproval, for entries with
    ``baseline_data`` (their input has ``baselineJob``); the others go on to RegisterModel."""
    job = "$.baselineJob"

    def check_baseline(next_state: str) -> State:
        return {
            "Type": "Choice",
            "Comment": "Entries with baseline_data: baseline it, and register the package with that baseline.",
            "Choices": [{"Variable": job, "IsPresent": True, "Next": S.BASELINE}],
            "Default": next_state,
        }

    return {
        S.CHECK_BASELINE: Step(check_baseline),
        S.BASELINE: goto(baseline_task(
            p, S.BASELINE, spec,
            job_name=JsonPath(f"States.Format('{{}}-{{}}', {job}.jobPrefix, States.Hash($$.Execution.Id, 'MD5'))"),
            role_arn=JsonPath(f"{job}.roleArn"), dataset=JsonPath(f"{job}.data"),
            output=JsonPath(f"States.Format('{{}}/{{}}', {job}.output, {_UPLOAD_ID})"),
            tags=[{"Key": "ModelName", "Value.$": "$.modelName"}],
            comment="Model Monitor's data quality baseline of the entry's baseline_data (statistics.json, constraints.json).",
        ), S.REGISTER_WITH_BASELINE),
        S.REGISTER_WITH_BASELINE: goto(_register(p, S.REGISTER_WITH_BASELINE, baselined=True), S.REQUEST_APPROVAL),
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
    path = main_path(p)
    stages = (_upload_states(p), *([_baseline_states(p, p.baseline)] if p.baseline else []),
              approval_states(p, UPLOADED_MODEL), _finish_states(p))
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
