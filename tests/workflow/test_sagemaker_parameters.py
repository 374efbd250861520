"""What the workflow sends to SageMaker satisfies SageMaker's API: botocore's shapes, checked as the
service checks them (tests/aws_shapes.py: types, required members, enums, lengths, ranges, patterns).

- Statically, for every stack that trains: the Parameters of every SageMaker task of the definition the
  preview records, with the values known at deploy time (instance types, KMS key, role, names, ...);
  fields filled at run time (``.$``) count as present. Likewise the baseline runs of the catalog monitor
  entries in staging and prod (components/monitor_baseline.py).
- At run time, under moto (the real state machine, tests/workflow/harness.py): the resolved Parameters of
  every SageMaker task of whole executions fed the hostile values that reach SageMaker: hyperparameters at
  their limits, approver comments with every kind of line break, a failed approval request with a huge
  error. The interpreter's SDK clients do not validate (moto turns parameter validation off), so this is
  where a value SageMaker would refuse shows.
"""

from __future__ import annotations

import json
import re

import pytest

from components.workflow.states import S
from tests.aws_shapes import input_shape, validate
from tests.workflow.harness import REGION, ExecutionResult, WorkflowHarness, approve, reject
from tools.tokens import Token

COMMIT = "3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
INPUT = {"commitId": COMMIT, "imageUri": f"123456789012.dkr.ecr.{REGION}.amazonaws.com/mlops-test-model:{COMMIT}"}
_SAGEMAKER = re.compile(r"^arn:aws:states:::(aws-sdk:)?sagemaker:(?P<action>[A-Za-z]+)(\.\w+)?$")


def sagemaker_tasks(definition: dict) -> dict[str, tuple[str, dict]]:
    """State name -> (SageMaker operation, Parameters) of every SageMaker task."""
    tasks = {}
    for name, state in definition["States"].items():
        match = _SAGEMAKER.match(state.get("Resource", ""))
        if match:
            tasks[name] = (match["action"], state["Parameters"])
    return tasks


def test_the_recorded_definitions_pass_sagemaker_values_it_accepts(training_stack):
    machines = [r for r in training_stack.by_type(Token.SFN_STATE_MACHINE) if r.inputs["name"].endswith("-training")]
    assert len(machines) == 1
    tasks = sagemaker_tasks(json.loads(machines[0].inputs["definition"]))
    assert {S.TRAIN, S.CREATE_MODEL, S.EVALUATE, S.REGISTER_MODEL, S.APPROVE_PACKAGE} <= set(tasks)
    problems = [f"{state}: {problem}" for state, (action, parameters) in tasks.items()
                for problem in validate(input_shape("sagemaker", action), parameters, dynamic=True)]
    assert problems == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_recorded_monitor_baseline_definitions_pass_sagemaker_values_it_accepts(stack_run, stack):
    """The catalog monitor entries' baseline runs (components/monitor_baseline.py; executed in
    test_monitor_baseline_execution.py)."""
    machines = [r for r in stack_run(stack).by_type(Token.SFN_STATE_MACHINE) if r.inputs["name"].endswith("-baseline")]
    assert len(machines) == 2  # iris-xgboost's data quality and model quality entries
    for machine in machines:
        tasks = sagemaker_tasks(json.loads(machine.inputs["definition"]))
        assert {state: action for state, (action, _) in tasks.items()} == {"Baseline": "createProcessingJob"}
        (parameters,) = (parameters for _, parameters in tasks.values())
        assert validate(input_shape("sagemaker", "createProcessingJob"), parameters, dynamic=True) == []


def test_the_static_check_reports_a_value_sagemaker_refuses(training_stack):
    machine = next(r for r in training_stack.by_type(Token.SFN_STATE_MACHINE) if r.inputs["name"].endswith("-training"))
    action, parameters = sagemaker_tasks(json.loads(machine.inputs["definition"]))[S.TRAIN]
    broken = {**parameters, "ResourceConfig": {**parameters["ResourceConfig"], "InstanceType": "ml.m5.huge"}}
    assert validate(input_shape("sagemaker", action), broken, dynamic=True) == [
        "CreateTrainingJobRequest.ResourceConfig.InstanceType='ml.m5.huge': not one of "
        "['ml.m4.xlarge', 'ml.m4.2xlarge', 'ml.m4.4xlarge', 'ml.m4.10xlarge', 'ml.m4.16xlarge', 'ml.g4dn.xlarge', "
        "'ml.g4dn.2xlarge', 'ml.g4dn.4xlarge'] ..."]


def resolved_problems(result: ExecutionResult) -> list[str]:
    """Every SageMaker task the execution scheduled, with its resolved Parameters, against its shape."""
    problems, seen = [], 0
    for event in result.history:
        if event["type"] != "TaskScheduled":
            continue
        details = event["taskScheduledEventDetails"]
        if "sagemaker" not in details["resourceType"]:
            continue
        seen += 1
        action = details["resource"].split(".")[0]
        parameters = json.loads(details["parameters"])
        problems += [f"{action}: {p}" for p in validate(input_shape("sagemaker", action), parameters)]
    assert seen, "no SageMaker task was scheduled"
    return problems


@pytest.fixture
def harness():
    with WorkflowHarness().running() as running:
        yield running


# One line (the decision page refuses line breaks, which SageMaker's ApprovalDescription, ".*" in Java,
# would refuse too: tests/lambdas/test_approval_decision.py) with what quoting and counting must get
# right: quotes, a backslash, a tab-free mix of scripts and characters outside the BMP (two UTF-16 units).
COMMENT = 'looks "good" \\ ship it: \u00e9t\u00e9 \u2014 \U0001F680 ' + "x" * 300
HYPERPARAMETERS = {"max_depth": "3", "note": "x" * 2500, "label": "\u00e9" * 1250, "tab": "a\tb"}


def package(harness) -> dict:
    import boto3

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    [summary] = sagemaker.list_model_packages(ModelPackageGroupName=harness.params.model_package_group_name)[
        "ModelPackageSummaryList"]
    return sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])


def test_an_approved_run_with_hostile_values_sends_sagemaker_only_what_it_accepts(harness):
    result = harness.run({**INPUT, "hyperparameters": HYPERPARAMETERS}, on_approval=approve(COMMENT))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert resolved_problems(result) == []
    approved = package(harness)
    assert approved["ModelApprovalStatus"] == "Approved"
    # moto's States.JsonToString escapes non-ASCII as \\uXXXX; AWS's may keep it. Either way it is one line.
    assert approved["ApprovalDescription"].endswith(": " + json.dumps(COMMENT)) or \
        approved["ApprovalDescription"].endswith(": " + json.dumps(COMMENT, ensure_ascii=False))


@pytest.mark.parametrize("comment", [COMMENT, "\U0001F600" * 200], ids=["quotes-and-scripts", "emoji"])
def test_a_rejection_with_hostile_text_marks_the_package_rejected(harness, comment):
    result = harness.run(INPUT, on_approval=reject(comment))

    assert result.error == "Rejected", result.cause
    assert S.MARK_REJECTED in result.states and S.APPROVAL_UPDATE_FAILED not in result.states
    assert resolved_problems(result) == []
    assert package(harness)["ModelApprovalStatus"] == "Rejected"


def test_a_failed_approval_request_with_a_huge_error_still_marks_the_package_rejected(harness):
    def broken(event):
        raise RuntimeError("SMTP said no\n" * 500)

    harness.lambdas.overrides["approval_request"] = broken
    result = harness.run(INPUT)

    assert result.error == "ApprovalRequestFailed", result.cause
    assert [s for s in result.states if s != S.FAILED][-3:] == [S.APPROVAL_REQUEST_FAILED, S.MARK_REJECTED, S.NOTIFY_FAILURE]
    assert resolved_problems(result) == []
    rejected = package(harness)
    assert rejected["ModelApprovalStatus"] == "Rejected"
    assert rejected["ApprovalDescription"].startswith("The approval request could not be sent (RuntimeError)")
