"""The embedded AWS (tools/localaws/emulator.py) behaves as AWS where the definitions depend on it."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from tests.workflow.harness import ACCOUNT, REGION, finish_execution
from tools.localaws.emulator import EmbeddedAws, SageMakerModel

pytestmark = pytest.mark.slow

ECHO_NAME = {"StartAt": "Name", "States": {"Name": {"Type": "Pass", "End": True, "Parameters": {
    "name.$": "$$.Execution.Name", "id.$": "$$.Execution.Id"}}}}


def test_an_execution_started_without_a_name_is_named_by_a_uuid():
    """StartExecution without ``name`` (as EventBridge targets start executions): Step Functions names it
    with a UUID, which ``$$.Execution.Name`` and the execution ARN carry (item 14)."""
    with EmbeddedAws(ACCOUNT, REGION, SageMakerModel(), {}).running():
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(name="echo-name", definition=json.dumps(ECHO_NAME),
                                           roleArn=f"arn:aws:iam::{ACCOUNT}:role/echo")["stateMachineArn"]
        arns = [sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"] for _ in range(2)]
        outputs = [finish_execution(arn, timeout=10).output for arn in arns]

    assert arns[0] != arns[1]
    for arn, output in zip(arns, outputs, strict=True):
        assert str(uuid.UUID(output["name"])) == output["name"]
        assert output["id"] == arn == f"arn:aws:states:{REGION}:{ACCOUNT}:execution:echo-name:{output['name']}"


# States.Format templates as the definitions write them (Python values; json.dumps doubles the backslashes).
TEMPLATES = {
    "quote": ("States.Format('it\\'s {}', $.name)", "it's iris"),
    "braces": ("States.Format('\\{ {} \\}', $.name)", "{ iris }"),
    "backslash": ("States.Format('C:\\\\{}', $.name)", "C:\\iris"),
    "no escapes": ("States.Format('{}-{}', $.name, $.name)", "iris-iris"),
    "nested": ("States.Format('{} \\'{}\\'', $.name, States.Format('\\{{}\\}', $.name))", "iris '{iris}'"),
}


def test_intrinsic_functions_read_escapes_as_step_functions_does():
    """The reserved characters of an intrinsic function's string literals (' { } \\) escaped with a backslash
    are those characters; only an unescaped {} is a placeholder of States.Format (item 15)."""
    echo = {"StartAt": "Format", "States": {"Format": {"Type": "Pass", "End": True, "Parameters": {
        f"{key}.$": template for key, (template, _) in TEMPLATES.items()}}}}
    with EmbeddedAws(ACCOUNT, REGION, SageMakerModel(), {}).running():
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(name="echo-format", definition=json.dumps(echo),
                                           roleArn=f"arn:aws:iam::{ACCOUNT}:role/echo")["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"name": "iris"}))["executionArn"]
        result = finish_execution(arn, timeout=10)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output == {key: expected for key, (_, expected) in TEMPLATES.items()}
