"""Input: validate the execution input, merge it with the stack defaults, derive the run's name.

Bad input ends the run in `InvalidInput` before anything is created, so no SageMaker job, model or
package exists for a run that could never have succeeded.
"""

from __future__ import annotations

from typing import Any

from components.workflow.params import WorkflowDefinitionParams
from components.workflow.states import S
from components.workflow.steps import Stage, State, Step, step

__all__ = ["input_states"]


def input_states(p: WorkflowDefinitionParams) -> Stage:
    """ValidateInput → ApplyDefaults → MergeInput → ResolveRun, and InvalidInput for input they cannot use."""
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

    def validate_input(next_state: str) -> State:
        return {
            "Type": "Choice",
            "Comment": "Reject input the later states cannot use, before anything is created.",
            "Choices": [{"Or": invalid, "Next": S.INVALID_INPUT}],
            "Default": next_state,
        }

    return {
        S.VALIDATE_INPUT: Step(validate_input),
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
        S.APPLY_DEFAULTS: step({
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
        }),
        S.MERGE_INPUT: step({
            "Type": "Pass",
            "Comment": "Input fields win over the defaults (shallow merge).",
            "Parameters": {
                "merged.$": "States.JsonMerge($.defaults, $.input, false)",
                "defaultHyperparameters.$": "$.defaultHyperparameters",
            },
        }),
        S.RESOLVE_RUN: step({
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
        }),
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
