"""Every Retry and Catch of every state machine names errors Step Functions can raise for that state.

A rule whose ``ErrorEquals`` names an error that never arrives is silently dead: a bare
``ThrottlingException`` (or ``SageMaker.ThrottlingException``) never matches, so a throttled call that
was meant to be retried fails the run instead. The names a Task can raise follow from its Resource ARN
(AWS documents the rules; GUIDE section 9):

- ``States.*``: the reserved names of the Amazon States Language (taken from moto's interpreter, which is
  LocalStack's implementation of the language).
- AWS SDK integrations (``arn:aws:states:::aws-sdk:<service>:<action>``): ``<Service>.<Shape>Exception``
  for every exception shape of the service's API model (the ``Exception`` suffix is added where the shape
  lacks it), and the SDK's base exception ``<Service>.<Service>Exception`` for every error the model does
  not declare, throttling included. ``<Service>`` is the Java SDK v2 name derived from the model's
  ``serviceId`` (SageMaker, CodePipeline, DynamoDb, Sfn, AcmPca).
- Optimised integrations: SageMaker (``arn:aws:states:::sagemaker:*``) raises every API error as
  ``SageMaker.AmazonSageMakerException``; Lambda (``arn:aws:states:::lambda:invoke``) raises
  ``Lambda.<Shape>Exception`` for Lambda's exception shapes, its base exception ``Lambda.AWSLambdaException``,
  and the client-side errors AWS documents for it. The base names are the Java SDK v1 class names,
  derived from the model's ``serviceFullName`` ("Amazon SageMaker Service", "AWS Lambda").
- Errors our own code raises: a ``.waitForTaskToken`` task ends with the error its callback sends with
  SendTaskFailure (the approval decision's ``Rejected``; tests/workflow/test_execution.py runs a rejection
  through the real decision handler and sees the workflow catch it).

Only the documented client-side Lambda names below are typed by hand; every service name comes from
botocore's service models, so an upgraded botocore that drops or renames a shape fails this test.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import botocore.session
import pytest
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk

from components.promotion import trigger_definition
from components.workflow.definition import build_definition
from components.workflow.states import REJECTED_ERROR
from tests.workflow.harness import definition_params
from tools.tokens import Token

STATES_ERRORS = frozenset(t.to_name() for t in StatesErrorNameType)
# https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html: the Java SDK's
# client-side errors of a Lambda invocation, and Lambda.Unknown for unhandled function errors (out of
# memory, function timeout). They are not service errors, so no service model carries them.
LAMBDA_CLIENT_ERRORS = frozenset({"Lambda.ClientExecutionTimeoutException", "Lambda.SdkClientException",
                                  "Lambda.Unknown"})
# Errors our own code sends to a .waitForTaskToken task with SendTaskFailure.
CALLBACK_ERRORS = frozenset({REJECTED_ERROR})

_SDK_RESOURCE = re.compile(r"^arn:aws:states:::aws-sdk:(?P<service>[a-z0-9-]+):(?P<action>[A-Za-z0-9]+)(\.\w+)?$")
_OPTIMISED_RESOURCE = re.compile(r"^arn:aws:states:::(?P<service>[a-z0-9-]+):(?P<action>[A-Za-z0-9]+)(\.(?P<pattern>\w+))?$")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


@functools.cache
def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def sdk_service_name(service: str) -> str:
    """The service part of an AWS SDK integration's error names: the Java SDK v2 client name, i.e. the
    model's ``serviceId`` split into words and each word capitalised ("DynamoDB" -> "DynamoDb")."""
    return "".join(w[0].upper() + w[1:].lower() for w in _WORD.findall(service_model(service).metadata["serviceId"]))


def _exception(shape: str) -> str:
    return shape if shape.endswith("Exception") else f"{shape}Exception"


def modelled_errors(service: str) -> frozenset[str]:
    """``<Service>.<Shape>Exception`` for every exception shape of the service's API model."""
    prefix = sdk_service_name(service)
    return frozenset(f"{prefix}.{_exception(shape.name)}" for shape in service_model(service).error_shapes)


def sdk_errors(service: str) -> frozenset[str]:
    """What an AWS SDK integration of `service` raises: its modelled exceptions and the SDK's base exception."""
    prefix = sdk_service_name(service)
    return modelled_errors(service) | {f"{prefix}.{prefix}Exception"}


def optimised_base_error(service: str) -> str:
    """The Java SDK v1 base exception an optimised integration reports: ``<serviceFullName>Exception``
    without spaces and a trailing "Service" ("Amazon SageMaker Service" -> AmazonSageMakerException)."""
    full = re.sub(r"\s+Service$", "", service_model(service).metadata["serviceFullName"]).replace(" ", "")
    return f"{sdk_service_name(service)}.{full}Exception"


def raisable_errors(resource: str) -> frozenset[str]:
    """Every error name a Task with this Resource can end with (see the module docstring)."""
    if match := _SDK_RESOURCE.match(resource):
        return STATES_ERRORS | sdk_errors(match["service"])
    match = _OPTIMISED_RESOURCE.match(resource)
    if match and match["service"] == "sagemaker":
        return STATES_ERRORS | {optimised_base_error("sagemaker")}
    if match and match["service"] == "lambda" and match["action"] == "invoke":
        callback = CALLBACK_ERRORS if match["pattern"] == "waitForTaskToken" else frozenset()
        return STATES_ERRORS | modelled_errors("lambda") | {optimised_base_error("lambda")} | LAMBDA_CLIENT_ERRORS | callback
    raise AssertionError(f"no error-name rule for Resource {resource}: teach tests/test_state_machine_errors.py "
                         "the names this integration raises (from its documentation and service model)")


def _states(definition: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every state, also those inside Parallel branches and Map iterators."""
    for name, state in definition.get("States", {}).items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from _states(state[key])


def dead_error_names(definition: Mapping[str, Any]) -> list[str]:
    """One line per ErrorEquals name that the state it guards can never raise."""
    problems = []
    for name, state in _states(definition):
        rules = [("Retry", r) for r in state.get("Retry", [])] + [("Catch", c) for c in state.get("Catch", [])]
        if not rules:
            continue
        allowed = raisable_errors(state["Resource"]) if state.get("Type") == "Task" else STATES_ERRORS
        for kind, rule in rules:
            for error in rule["ErrorEquals"]:
                if error not in allowed:
                    problems.append(f"{name} ({state.get('Resource', state.get('Type'))}): {kind} names {error!r}, "
                                    "which this state never raises")
    return problems


# --------------------------------------------------------------------------------------------------
# The derivation itself, checked against what AWS documents


def test_service_names_follow_the_sdk_naming_that_step_functions_uses():
    # LocalStack's explicit bindings (moto ships them) and the AWS documentation's examples.
    for service, name in state_task_service_aws_sdk._SERVICE_ERROR_NAMES.items():
        boto_name = {"sfn": "stepfunctions"}.get(service, service)
        assert sdk_service_name(boto_name) == name
    assert sdk_service_name("acm-pca") == "AcmPca"  # AcmPca.ResourceNotFoundException
    assert sdk_service_name("s3") == "S3"  # S3.BucketAlreadyExistsException
    assert "S3.BucketAlreadyExistsException" in sdk_errors("s3")
    assert "AcmPca.ResourceNotFoundException" in sdk_errors("acm-pca")


def test_the_documented_names_of_our_integrations_are_derived():
    assert optimised_base_error("sagemaker") == "SageMaker.AmazonSageMakerException"
    assert optimised_base_error("lambda") == "Lambda.AWSLambdaException"
    # bp-lambda-serviceexception.html's recommended Retry, and the throttling name it documents.
    lambda_invoke = raisable_errors("arn:aws:states:::lambda:invoke")
    assert {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.TooManyRequestsException"} <= lambda_invoke
    sagemaker_sdk = raisable_errors("arn:aws:states:::aws-sdk:sagemaker:describeEndpoint")
    assert {"SageMaker.SageMakerException", "SageMaker.ResourceNotFoundException"} <= sagemaker_sdk
    assert "CodePipeline.CodePipelineException" in raisable_errors(
        "arn:aws:states:::aws-sdk:codepipeline:startPipelineExecution")


@pytest.mark.parametrize(("resource", "dead"), [
    ("arn:aws:states:::sagemaker:createModel", "ThrottlingException"),
    ("arn:aws:states:::sagemaker:createTrainingJob.sync", "SageMaker.SageMakerException"),
    ("arn:aws:states:::aws-sdk:sagemaker:describeEndpoint", "SageMaker.ThrottlingException"),
    ("arn:aws:states:::aws-sdk:sagemaker:describeEndpoint", "SageMaker.AmazonSageMakerException"),
    ("arn:aws:states:::aws-sdk:codepipeline:startPipelineExecution", "CodePipeline.ThrottlingException"),
    ("arn:aws:states:::lambda:invoke", REJECTED_ERROR),
])
def test_names_that_never_arrive_are_reported(resource, dead):
    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": resource, "End": True,
        "Retry": [{"ErrorEquals": ["States.Timeout", dead]}], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "T"}]}}}
    assert dead_error_names(definition) == [f"T ({resource}): Retry names {dead!r}, which this state never raises"]


# --------------------------------------------------------------------------------------------------
# Every state machine the program defines


def _recorded_definitions(run) -> dict[str, dict[str, Any]]:
    return {r.inputs.get("name", r.name): json.loads(r.inputs["definition"]) for r in run.by_type(Token.SFN_STATE_MACHINE)}


def test_every_state_machine_of_every_stack_names_only_errors_it_can_raise(each_stack):
    definitions = _recorded_definitions(each_stack)
    problems = [f"{machine}: {p}" for machine, definition in definitions.items() for p in dead_error_names(definition)]
    assert problems == []


def test_the_training_workflows_name_only_errors_they_can_raise(training_stack):
    definitions = _recorded_definitions(training_stack)
    assert any(name.endswith("-training") for name in definitions), sorted(definitions)
    problems = [f"{machine}: {p}" for machine, definition in definitions.items() for p in dead_error_names(definition)]
    assert problems == []


@pytest.mark.parametrize("deploy_endpoint", [True, False], ids=["deploys", "promotion"])
def test_both_workflow_modes_and_the_promotion_trigger_retry_what_they_can_raise(deploy_endpoint):
    definition = build_definition(definition_params(deploy_endpoint=deploy_endpoint))
    assert dead_error_names(definition) == []
    assert dead_error_names(trigger_definition("mlops-test-promotion")) == []
    # Every Task keeps a Retry, and every SageMaker call retries the name its throttling arrives under.
    for name, state in _states(definition):
        if state.get("Type") != "Task" or "sagemaker" not in state["Resource"]:
            continue
        retried = {e for rule in state.get("Retry", []) for e in rule["ErrorEquals"]}
        expected = ("SageMaker.SageMakerException" if ":aws-sdk:" in state["Resource"]
                    else "SageMaker.AmazonSageMakerException")
        assert expected in retried, name
