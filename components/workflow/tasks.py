"""Task, retry, catch and failure-Pass helpers shared by the stage modules.

Every Task is built here so every Task gets the same shape: the params' retry policy for the errors
its integration reports as transient, a Catch that records the error under ``$.failure`` and leads to
the Pass state named after the step (`STEP_ERRORS`), and its keys in one order. Builders return a
state without a transition: the caller makes it a main-path `Step` or sends it somewhere with `goto`.
"""

from __future__ import annotations

from typing import Any, Protocol

from components.workflow.states import LAMBDA_TRANSIENT_ERRORS, STEP_ERRORS, S
from components.workflow.steps import State

__all__ = ["RetryParams", "retry", "catch_all", "task", "lambda_task", "fail_with", "failure_pass"]


class RetryParams(Protocol):
    """What the Task builders read of a definition's parameters: the retry policy for transient errors
    (``WorkflowDefinitionParams`` of the training workflow, ``RegistrationParams`` of the upload one)."""

    @property
    def retry_interval_seconds(self) -> int: ...

    @property
    def retry_max_attempts(self) -> int: ...

    @property
    def retry_backoff_rate(self) -> float: ...


def retry(p: RetryParams, errors: tuple[str, ...]) -> list[dict[str, Any]]:
    """The Retry list for `errors` (empty when the params disable retries)."""
    if p.retry_max_attempts == 0:
        return []
    return [{
        "ErrorEquals": list(errors),
        "IntervalSeconds": p.retry_interval_seconds,
        "MaxAttempts": p.retry_max_attempts,
        "BackoffRate": float(p.retry_backoff_rate),
    }]


def catch_all(next_state: str = S.NOTIFY_FAILURE) -> dict[str, Any]:
    """A Catch for every error that keeps it under ``$.failure`` for the failure notification."""
    return {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": next_state}


def task(
    p: RetryParams,
    name: str,
    resource: str,
    parameters: dict[str, Any],
    *,
    retry_on: tuple[str, ...],
    result_path: str | None,
    result_selector: dict[str, Any] | None = None,
    catch: list[dict[str, Any]] | None = None,
    comment: str | None = None,
    **extra: Any,
) -> State:
    """A Task state named `name`, without its transition; by default its Catch leads to ``STEP_ERRORS[name]``."""
    state: State = {"Type": "Task"}
    if comment:
        state["Comment"] = comment
    state["Resource"] = resource
    state["Parameters"] = parameters
    state.update(extra)
    if result_selector is not None:
        state["ResultSelector"] = result_selector
    state["ResultPath"] = result_path
    retries = retry(p, retry_on)
    if retries:
        state["Retry"] = retries
    state["Catch"] = catch if catch is not None else [catch_all(STEP_ERRORS[name])]
    return state


def lambda_task(p: RetryParams, name: str, function_arn: str, payload: dict[str, Any], **kwargs: Any) -> State:
    """A synchronous ``lambda:invoke`` Task that retries the transient Lambda errors."""
    return task(
        p, name, "arn:aws:states:::lambda:invoke", {"FunctionName": function_arn, "Payload": payload},
        retry_on=LAMBDA_TRANSIENT_ERRORS, **kwargs,
    )


def fail_with(error: str, cause_format: str, *args: str) -> dict[str, Any]:
    """Parameters of a Pass state that sets $.failure = {Error, Cause} from a States.Format template."""
    cause = f"States.Format('{cause_format}', {', '.join(args)})" if args else None
    return {"Error": error, **({"Cause.$": cause} if cause else {"Cause": cause_format})}


def failure_pass(error: str, cause_format: str, *args: str, next_state: str = S.NOTIFY_FAILURE) -> State:
    """A Pass state for a failure a Choice detected: sets ``$.failure`` and goes on to the notification."""
    return {"Type": "Pass", "Parameters": fail_with(error, cause_format, *args), "ResultPath": "$.failure", "Next": next_state}
