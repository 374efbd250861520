"""The whole definition: the declared main path, the stages in definition order, the JSON document.

`main_path(p)` is the one place that says in which order an approved run goes through the workflow;
every main-path state's transition is derived from it (`steps.chain`), so inserting a step is one line
there plus its builder in a stage module. Whether the workflow deploys the endpoint is part of that
order: without ``deploy_endpoint`` the deploy states are neither on the path nor built, and
ApproveModelPackage is followed by NotifySuccess.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from components.workflow.approval import approval_states
from components.workflow.deploy import deploy_states
from components.workflow.finish import finish_states, step_failure_states
from components.workflow.input import input_states
from components.workflow.params import WorkflowDefinitionParams
from components.workflow.states import S
from components.workflow.steps import Stage, chain
from components.workflow.training import training_states

__all__ = ["main_path", "build_definition", "definition_json"]

_DEPLOY_PATH = (
    S.CREATE_ENDPOINT_CONFIG,
    S.FIND_ENDPOINT,
    S.EXISTING_ENDPOINT_STATUS,  # a first run branches to CreateEndpoint and rejoins at StartEndpointWait
    S.UPDATE_ENDPOINT,
    S.START_ENDPOINT_WAIT,
    S.WAIT_FOR_ENDPOINT,
    S.DESCRIBE_ENDPOINT,
    S.CHECK_ENDPOINT_STATUS,  # loops through CountEndpointPoll until InService
    S.SMOKE_TEST,
    S.CHECK_SMOKE_TEST,
)


def main_path(p: WorkflowDefinitionParams) -> tuple[str, ...]:
    """The states an approved run enters, in order; each one continues at the state after it."""
    return (
        S.VALIDATE_INPUT,
        S.APPLY_DEFAULTS,
        S.MERGE_INPUT,
        S.RESOLVE_RUN,
        S.TRAIN,
        S.CREATE_MODEL,
        S.EVALUATE,
        S.EVALUATE_MODEL,
        S.CHECK_EVALUATION,
        S.BASELINE,
        S.REGISTER_MODEL,
        S.REQUEST_APPROVAL,
        S.APPROVE_PACKAGE,
        # Promotion deploys approved packages elsewhere: then the run ends with the Approved package.
        *(_DEPLOY_PATH if p.deploy_endpoint else ()),
        S.NOTIFY_SUCCESS,
        S.BUILD_RESULT,
        S.SUCCEEDED,
    )


def _stages(p: WorkflowDefinitionParams) -> tuple[Callable[[WorkflowDefinitionParams], Stage], ...]:
    """The stage builders in the order their states appear in the document (the deploy stage with its path)."""
    return (input_states, training_states, approval_states, *((deploy_states,) if p.deploy_endpoint else ()), finish_states)


def build_definition(p: WorkflowDefinitionParams) -> dict[str, Any]:
    """The state machine definition for `p` as a JSON-serialisable dict."""
    path = main_path(p)
    states = chain((stage(p) for stage in _stages(p)), path)
    states.update(step_failure_states(states))
    return {
        "Comment": (
            "Train, evaluate, register, approve and deploy a model. Input: {commitId, imageUri, "
            "trainingData?, validationData?, testData?, hyperparameters?} (docs/workflow.md)."
        ),
        "StartAt": path[0],
        "States": states,
    }


def definition_json(p: WorkflowDefinitionParams) -> str:
    """`build_definition(p)` serialised with stable key order (what the state machine resource takes)."""
    return json.dumps(build_definition(p), indent=2, sort_keys=False)
