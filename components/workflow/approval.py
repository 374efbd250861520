"""Manual approval: e-mail signed links, wait for the decision, record it on the model package.

The package never stays PendingManualApproval once the run has moved on: a rejection, a timeout or an
approval request that could not be sent all mark it Rejected with the reason, an approval marks it
Approved with who decided, when and why.

One approval for every model the platform serves: the training workflow asks it for a trained model
(`TRAINED_MODEL`: the commit and the evaluation), the upload registration for an uploaded one
(``components.upload_definition``: the entry, the artifact and its S3 version). Both keep the package's
ARN at ``$.modelPackage.arn`` and continue at ``NotifyFailure`` after a rejection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from components.workflow.states import LAMBDA_TRANSIENT_ERRORS, REJECTED_ERROR, SAGEMAKER_SDK_TRANSIENT_ERRORS, S
from components.workflow.steps import Stage, State, goto, step
from components.workflow.tasks import RetryParams, catch_all, task

__all__ = ["ApprovalParams", "TRAINED_MODEL", "approval_states"]


class ApprovalParams(RetryParams, Protocol):
    """What the approval stage reads of a definition's parameters."""

    @property
    def approval_request_function_arn(self) -> str: ...

    @property
    def approval_timeout_seconds(self) -> int: ...


TRAINED_MODEL: Mapping[str, Any] = {
    "commitId.$": "$.run.commitId",
    "evaluation": {"transformOutput.$": "$.transform.outputPath", "metrics.$": "$.evaluation.report"},
}
"""What the approver is shown of a trained model (the approval request's payload fields besides the token,
the execution, the package and the timeout): the commit it was trained from and its evaluation."""


def approval_states(p: ApprovalParams, subject: Mapping[str, Any] = TRAINED_MODEL) -> Stage:
    """RequestApproval → ApproveModelPackage, and the rejection paths through MarkModelPackageRejected;
    ``subject`` is what the approval e-mail and page describe (`TRAINED_MODEL`, or an uploaded model)."""
    mark = lambda status, description_path: {  # noqa: E731
        "ModelPackageArn.$": "$.modelPackage.arn",
        "ModelApprovalStatus": status,
        "ApprovalDescription.$": description_path,
    }
    return {
        S.REQUEST_APPROVAL: step(task(
            p, S.REQUEST_APPROVAL, "arn:aws:states:::lambda:invoke.waitForTaskToken",
            {
                "FunctionName": p.approval_request_function_arn,
                "Payload": {
                    "taskToken.$": "$$.Task.Token",
                    "executionArn.$": "$$.Execution.Id",
                    **subject,
                    "modelPackageArn.$": "$.modelPackage.arn",
                    "timeoutSeconds": p.approval_timeout_seconds,
                },
            },
            retry_on=LAMBDA_TRANSIENT_ERRORS,
            comment="E-mails signed approve / reject links and waits for SendTaskSuccess / SendTaskFailure(Rejected).",
            TimeoutSeconds=p.approval_timeout_seconds,
            result_path="$.approval",
            catch=[
                {"ErrorEquals": [REJECTED_ERROR], "ResultPath": "$.failure", "Next": S.APPROVAL_REJECTED},
                {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.failure", "Next": S.APPROVAL_TIMED_OUT},
                catch_all(S.APPROVAL_REQUEST_FAILED),
            ],
        )),
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
            # The cause (a Lambda error with its stack trace) has no length bound: it goes to the failure
            # e-mail, while the registry's description (at most 1024 characters on one line) names the error.
            "States.Format('The approval request could not be sent ({}); the failure e-mail has the details', "
            "$.failure.Error)",
        ),
        S.MARK_REJECTED: goto(task(
            p, S.MARK_REJECTED, "arn:aws:states:::aws-sdk:sagemaker:updateModelPackage", mark("Rejected", "$.failure.Description"),
            retry_on=SAGEMAKER_SDK_TRANSIENT_ERRORS,
            comment="The package must not stay PendingManualApproval: record why it was not approved.",
            result_path=None,
            # Still notify about the original failure if the registry update fails.
            catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.markRejectedError", "Next": S.NOTIFY_FAILURE}],
        ), S.NOTIFY_FAILURE),
        S.APPROVE_PACKAGE: step(task(
            p, S.APPROVE_PACKAGE, "arn:aws:states:::aws-sdk:sagemaker:updateModelPackage",
            # ApprovalDescription is one line (pattern ".*") of at most 1024 characters: the comment goes in as a
            # JSON string, so its line breaks arrive escaped; the decision function bounds the length.
            mark("Approved", "States.Format('Approved by {} at {}: {}', $.approval.approver, $.approval.decidedAt, "
                             "States.JsonToString($.approval.comment))"),
            retry_on=SAGEMAKER_SDK_TRANSIENT_ERRORS,
            result_path=None,
        )),
    }


def _approval_failure(failure: dict[str, Any], description: str) -> State:
    """A Pass state that records why the package is not approved and goes on to mark it Rejected."""
    return {
        "Type": "Pass",
        "Parameters": {**failure, **({"Description.$": description} if description.startswith("States.") else {"Description": description})},
        "ResultPath": "$.failure",
        "Next": S.MARK_REJECTED,
    }
