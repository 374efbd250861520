"""Finish: the success and failure notifications, the run's result and the end states.

Every failure ends in the one `Failed` state, whose Error and Cause come from ``$.failure``, so the
execution's error always names what went wrong (never a reserved ``States.*`` name); `step_failure_states`
gives each failed task a Pass state that names the step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.workflow.params import WorkflowDefinitionParams
from components.workflow.states import STEP_ERRORS, S
from components.workflow.steps import Stage, State, goto, step
from components.workflow.tasks import lambda_task

__all__ = ["finish_states", "step_failure_states"]


def finish_states(p: WorkflowDefinitionParams) -> Stage:
    """NotifySuccess → BuildResult → Succeeded, and NotifyFailure → Failed."""
    return {
        S.NOTIFY_SUCCESS: step(lambda_task(
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
            result_path=None,
            # The model is live; if the e-mail cannot go out the execution still fails so someone looks.
        )),
        S.BUILD_RESULT: step({
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
        }),
        S.SUCCEEDED: {"Type": "Succeed"},
        S.NOTIFY_FAILURE: goto(lambda_task(
            p, S.NOTIFY_FAILURE, p.notify_function_arn,
            {
                "status": "FAILED",
                "commitId.$": "$.run.commitId",
                "executionArn.$": "$$.Execution.Id",
                "error.$": "$.failure.Error",
                "cause.$": "$.failure.Cause",
            },
            result_path=None,
            catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notifyError", "Next": S.FAILED}],
        ), S.FAILED),
        S.FAILED: {"Type": "Fail", "ErrorPath": "$.failure.Error", "CausePath": "$.failure.Cause"},
    }


def step_failure_states(tasks: Mapping[str, Any]) -> dict[str, State]:
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
