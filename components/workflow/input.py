"""Input: validate the execution input, merge it with the stack defaults, derive the run's name.

Bad input ends the run in `InvalidInput` before anything is created, so no SageMaker job, model or
package exists for a run that could never have succeeded.
"""

from __future__ import annotations

import json

from components.workflow.params import WorkflowDefinitionParams
from components.workflow.states import S
from components.workflow.steps import Stage, State, Step, step

__all__ = ["input_states"]


def input_states(p: WorkflowDefinitionParams) -> Stage:
    """ValidateInput → ApplyDefaults → MergeInput → ResolveRun, and InvalidInput for input they cannot use."""
    problems = input_problems(p)
    run_name = (
        f"States.Format('{p.name_prefix}-{{}}', "
        "States.Hash(States.Format('{}/{}', $.merged.commitId, $$.Execution.Name), 'MD5'))"
    )

    def validate_input(next_state: str) -> State:
        return {
            "Type": "Choice",
            "QueryLanguage": "JSONata",
            "Comment": ("Reject input the later states cannot use, or that SageMaker would refuse, before anything "
                        "is created."),
            "Choices": [{"Condition": f"{{% $count({problems}) > 0 %}}", "Next": S.INVALID_INPUT}],
            "Default": next_state,
        }

    return {
        S.VALIDATE_INPUT: Step(validate_input),
        S.INVALID_INPUT: {
            "Type": "Pass",
            "QueryLanguage": "JSONata",
            "Output": {
                "run": {"commitId": "unknown"},
                "failure": {
                    "Error": "InvalidInput",
                    "Cause": (f"{{% 'The execution input cannot be used: ' & $join({problems}, '; ') & '. ' & "
                              f"'{_SCHEMA} Received: ' & $string($states.input) %}}"),
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


# What Java's "." does not match: SageMaker's `.*` patterns (hyperparameters, S3 URIs, image URIs) refuse
# these characters, so no value taken from the input may contain one.
_LINE_BREAK = r"/[\n\r\u0085\u2028\u2029]/"
_SCHEMA = ("Expected: a JSON object with commitId (1-256 letters, digits or _.:/=+@-), imageUri (1-255 characters "
           "without spaces), optional trainingData, validationData and testData (s3:// URIs of at most 1024 "
           "characters) and optional hyperparameters (an object of string values on one line, at most 2500 "
           "characters each, 1250 if non-ASCII, at most 100 names with the stack defaults).")


def input_problems(p: WorkflowDefinitionParams) -> str:
    """A JSONata expression: the list of problems of the execution input (empty when it is usable).

    The limits are SageMaker's, for the fields each value reaches: commitId becomes a tag value
    (TagValue: 256 characters of letters, digits, spaces and _.:/=+-@; spaces are refused here too),
    imageUri the training image and container image (255 characters, no whitespace), the data locations
    S3Uri (1024 characters), hyperparameters HyperParameters (at most 100, names up to 256 and values up
    to 2500 characters; SageMaker counts UTF-16 code units, so a value with non-ASCII characters may have
    1250). tests/workflow/test_sagemaker_parameters.py checks these limits against botocore's shapes.
    """
    defaults = json.dumps(dict(p.default_hyperparameters), separators=(",", ":"))

    def multi_line(value: str) -> str:
        return f"$contains({value}, {_LINE_BREAK})"

    def s3_uri(field: str) -> str:
        value = f"$in.{field}"
        return (rf"$exists({value}) and $not($type({value}) = 'string' and $contains({value}, /^s3:\/\/[^\/\s]+/) "
                f"and $length({value}) <= 1024 and $not({multi_line(value)})) ? "
                f"'{field} must be an s3:// URI of at most 1024 characters on one line'")

    entry = (
        "function($v, $k) { "
        "$not($type($v) = 'string') ? 'hyperparameters.' & $k & ' is a ' & $type($v) & "
        "': SageMaker takes hyperparameter values as strings (write \"' & $string($v) & '\")' : "
        f"($length($k) > 256 or {multi_line('$k')}) ? "
        "'hyperparameters: a name must be at most 256 characters on one line' : "
        f"{multi_line('$v')} ? 'hyperparameters.' & $k & ' must be on one line' : "
        r"$length($v) > ($contains($v, /[^\u0000-\u007F]/) ? 1250 : 2500) ? "
        "'hyperparameters.' & $k & ' is longer than 2500 characters (1250 with non-ASCII characters)' : "
        "undefined }"
    )
    checks = ", ".join([
        (r"$not($type($in.commitId) = 'string' and $contains($in.commitId, /^[A-Za-z0-9_.:\/=+@-]{1,256}$/) "
         f"and $not({multi_line('$in.commitId')})) ? 'commitId must be a string of 1-256 letters, digits or _.:/=+@-'"),
        (r"$not($type($in.imageUri) = 'string' and $contains($in.imageUri, /^\S{1,255}$/) "
         f"and $not({multi_line('$in.imageUri')})) ? 'imageUri must be a string of 1-255 characters without spaces'"),
        s3_uri("trainingData"),
        s3_uri("validationData"),
        s3_uri("testData"),
        "$exists($h) and $not($type($h) = 'object') ? 'hyperparameters must be an object of string values'",
        (f"$type($h) = 'object' and $count($keys($merge([{defaults}, $h]))) > 100 ? "
         "'hyperparameters: at most 100 names together with the stack defaults'"),
    ])
    return (
        "($in := $states.input; $h := $in.hyperparameters; "
        "$type($in) = 'object' ? "
        f"$append([{checks}], $type($h) = 'object' ? $each($h, {entry}) : []) : "
        "['the input is not a JSON object'])"
    )
