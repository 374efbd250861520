"""The workflow executed by moto's Step Functions interpreter with the real Lambda handlers.

Each test runs whole executions (see harness.py for what is simulated and which moto internals are
patched) and checks the states entered, the final output or error and cause, and what the run left
behind in SageMaker, S3 and the notification topic.
"""

from __future__ import annotations

import json
import re

import boto3
import pytest

from components.workflow.states import S
from tests.workflow.harness import (
    BASELINE_IMAGE,
    ENDPOINT_NAME,
    INFERENCE_URL,
    MODEL_PACKAGE_GROUP,
    REGION,
    SageMakerScenario,
    WorkflowHarness,
    approve,
    definition_params,
    read_s3,
    reject,
)

pytestmark = pytest.mark.slow

COMMIT = "3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
IMAGE = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/mlops-test-model:{COMMIT}"
INPUT = {"commitId": COMMIT, "imageUri": IMAGE}

PREPARE = [S.VALIDATE_INPUT, S.APPLY_DEFAULTS, S.MERGE_INPUT, S.RESOLVE_RUN]
TRAIN_TO_APPROVAL = [S.TRAIN, S.CREATE_MODEL, S.EVALUATE, S.EVALUATE_MODEL, S.CHECK_EVALUATION, S.BASELINE,
                     S.REGISTER_MODEL, S.REQUEST_APPROVAL]
# The scenario's endpoint stays Creating / Updating for two DescribeEndpoint calls.
WAIT_LOOP = [
    S.START_ENDPOINT_WAIT,
    S.WAIT_FOR_ENDPOINT, S.DESCRIBE_ENDPOINT, S.CHECK_ENDPOINT_STATUS, S.COUNT_ENDPOINT_POLL,
    S.WAIT_FOR_ENDPOINT, S.DESCRIBE_ENDPOINT, S.CHECK_ENDPOINT_STATUS, S.COUNT_ENDPOINT_POLL,
    S.WAIT_FOR_ENDPOINT, S.DESCRIBE_ENDPOINT, S.CHECK_ENDPOINT_STATUS,
]
FINISH = [S.SMOKE_TEST, S.CHECK_SMOKE_TEST, S.NOTIFY_SUCCESS, S.BUILD_RESULT, S.SUCCEEDED]
NOTIFY_AND_FAIL = [S.NOTIFY_FAILURE, S.FAILED]


@pytest.fixture
def harness():
    with WorkflowHarness().running() as running:
        yield running


def sagemaker():
    return boto3.client("sagemaker", region_name=REGION)


def only_package() -> dict:
    summaries = sagemaker().list_model_packages(ModelPackageGroupName=MODEL_PACKAGE_GROUP)["ModelPackageSummaryList"]
    assert len(summaries) == 1, summaries
    return sagemaker().describe_model_package(ModelPackageName=summaries[0]["ModelPackageArn"])


def failure_mail(harness) -> str:
    failures = [m for subject, m in harness.messages() if subject and subject.startswith("Model workflow failed")]
    assert len(failures) == 1, harness.messages()
    return failures[0]


def test_approved_run_trains_evaluates_registers_and_creates_the_endpoint(harness):
    result = harness.run({**INPUT, "hyperparameters": {"max_depth": "3"}}, on_approval=approve("looks good"))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states == PREPARE + TRAIN_TO_APPROVAL + [
        S.APPROVE_PACKAGE, S.CREATE_ENDPOINT_CONFIG, S.FIND_ENDPOINT, S.CHECK_LOOKUP_ERROR, S.CREATE_ENDPOINT,
    ] + WAIT_LOOP + FINISH

    run_name = result.output["endpointConfigName"]
    assert re.fullmatch(r"mlops-test-[0-9a-f]{32}", run_name) and len(run_name) <= 63
    package = only_package()
    assert result.output == {
        "commitId": COMMIT,
        "trainingJobName": run_name,
        "modelPackageArn": package["ModelPackageArn"],
        "evaluation": result.output["evaluation"],
        "approval": {**result.output["approval"], "decision": "approved", "approver": "alice@example.com", "comment": "looks good"},
        "endpointName": ENDPOINT_NAME,
        "endpointConfigName": run_name,
        "deployment": "created",
        "smokeTestResult": "setosa",
        "inferenceUrl": INFERENCE_URL,
    }
    assert result.output["evaluation"]["accuracy"] == 1.0 and result.output["evaluation"]["records"] == 10

    # Training: the image and commit from the input, input hyperparameters over the stack defaults.
    training = result.task_parameters(S.TRAIN)
    assert training["TrainingJobName"] == run_name
    assert training["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert training["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": "validation:accuracy", "Regex": "validation:accuracy=([0-9.]+)"}
    ]
    assert training["HyperParameters"] == {"max_depth": "3", "criterion": "gini"}
    assert {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in training["InputDataConfig"]} == {
        "training": "s3://mlops-test-data/iris/train/", "validation": "s3://mlops-test-data/iris/validation/",
    }
    assert training["ResourceConfig"]["VolumeKmsKeyId"] == training["OutputDataConfig"]["KmsKeyId"]
    # Evaluation ran on the held-out test data.
    transform = result.task_parameters(S.EVALUATE)
    assert transform["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://mlops-test-data/iris/test/"
    # The approval request carried the contract's payload.
    approval_call = harness.lambdas.calls("approval_request")[0].event
    assert set(approval_call) == {"taskToken", "executionArn", "commitId", "modelPackageArn", "evaluation", "timeoutSeconds"}
    assert approval_call["evaluation"]["metrics"]["accuracy"] == 1.0
    assert approval_call["evaluation"]["transformOutput"].endswith(f"/evaluation/{run_name}")

    # The baseline: Model Monitor's analyzer over the training data, written under the run's own prefix,
    # registered with the package as its drift check baselines and model metrics.
    baseline = result.task_parameters(S.BASELINE)
    assert baseline["ProcessingJobName"] == run_name
    assert baseline["AppSpecification"] == {"ImageUri": BASELINE_IMAGE}
    assert baseline["ProcessingInputs"][0]["S3Input"]["S3Uri"] == "s3://mlops-test-data/iris/train/"
    assert baseline["NetworkConfig"] == {"EnableNetworkIsolation": True}
    kms = harness.params.kms_key_arn
    assert baseline["ProcessingOutputConfig"]["KmsKeyId"] == baseline["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == kms
    prefix = f"s3://mlops-test-artifacts/workflow/baselines/{run_name}"
    files = {"Statistics": f"{prefix}/statistics.json", "Constraints": f"{prefix}/constraints.json"}
    sources = {kind: {"ContentType": "application/json", "S3Uri": uri} for kind, uri in files.items()}
    assert package["DriftCheckBaselines"] == {"ModelDataQuality": sources}
    assert package["ModelMetrics"] == {"ModelDataQuality": sources}
    constraints = json.loads(read_s3(files["Constraints"]))
    assert [f["name"] for f in constraints["features"]] == ["_c0", "_c1", "_c2", "_c3", "_c4"]
    assert constraints["features"][0]["string_constraints"]["domains"] == ["setosa", "versicolor", "virginica"]
    assert json.loads(read_s3(files["Statistics"]))["dataset"] == {"item_count": 10}

    assert package["ModelApprovalStatus"] == "Approved"
    assert package["ApprovalDescription"].startswith("Approved by alice@example.com at ")
    assert package["MetadataProperties"]["CommitId"] == COMMIT
    endpoint = sagemaker().describe_endpoint(EndpointName=ENDPOINT_NAME)
    assert endpoint["EndpointConfigName"] == run_name and endpoint["EndpointStatus"] == "InService"
    assert harness.lambdas.calls("inference_proxy")[0].event == {"data": "5.1,3.5,1.4,0.2"}
    success = [m for subject, m in harness.messages() if subject and subject.startswith("Model deployed")]
    assert len(success) == 1 and INFERENCE_URL in success[0]


def test_existing_endpoint_is_updated_in_place(harness):
    previous_config = harness.existing_endpoint()

    result = harness.run(INPUT, on_approval=approve())

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states == PREPARE + TRAIN_TO_APPROVAL + [
        S.APPROVE_PACKAGE, S.CREATE_ENDPOINT_CONFIG, S.FIND_ENDPOINT, S.EXISTING_ENDPOINT_STATUS, S.UPDATE_ENDPOINT,
    ] + WAIT_LOOP + FINISH
    assert result.output["deployment"] == "updated"
    assert result.task_parameters(S.UPDATE_ENDPOINT) == {"EndpointName": ENDPOINT_NAME, "EndpointConfigName": result.output["endpointConfigName"]}
    endpoint = sagemaker().describe_endpoint(EndpointName=ENDPOINT_NAME)
    assert endpoint["EndpointConfigName"] == result.output["endpointConfigName"] != previous_config
    assert [e["EndpointName"] for e in sagemaker().list_endpoints()["Endpoints"]] == [ENDPOINT_NAME]


def test_rejected_model_is_marked_rejected_and_the_run_fails_saying_why(harness):
    result = harness.run(INPUT, on_approval=reject("accuracy on versicolor too low"))

    assert result.status == "FAILED"
    assert result.states == PREPARE + TRAIN_TO_APPROVAL + [S.APPROVAL_REJECTED, S.MARK_REJECTED] + NOTIFY_AND_FAIL
    package = only_package()
    assert result.error == "Rejected"
    decision = json.loads(result.cause)  # who rejected it and why, as the decision function recorded it
    assert decision["approver"] == "bob@example.com" and decision["comment"] == "accuracy on versicolor too low"
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"] == f"Rejected by the approver: {result.cause}"
    assert sagemaker().list_endpoint_configs()["EndpointConfigs"] == []
    assert "Rejected by bob@example.com" in failure_mail(harness)


def test_approval_timeout_rejects_the_package():
    with WorkflowHarness(definition_params(approval_timeout_seconds=1)).running() as short:
        result = short.run(INPUT)  # nobody answers the e-mail

        assert result.status == "FAILED"
        assert result.states == PREPARE + TRAIN_TO_APPROVAL + [S.APPROVAL_TIMED_OUT, S.MARK_REJECTED] + NOTIFY_AND_FAIL
        package = only_package()
        assert result.error == "ApprovalTimedOut"
        assert result.cause == f"No approval decision for model package {package['ModelPackageArn']} within 1 seconds"
        assert package["ModelApprovalStatus"] == "Rejected"
        assert package["ApprovalDescription"] == "No approval decision within 1 seconds"
        assert len(short.approval_messages()) == 1
        assert "ApprovalTimedOut" in failure_mail(short)


def test_training_failure_stops_before_anything_is_created(harness):
    result = harness.run(INPUT, scenario=SageMakerScenario(training_failure="AlgorithmError: ValueError: bad CSV"))

    assert result.status == "FAILED"
    assert result.states == PREPARE + [S.TRAIN, S.TRAINING_FAILED] + NOTIFY_AND_FAIL
    assert result.error == "TrainingFailed"
    description = json.loads(result.cause)  # the DescribeTrainingJob output, as Step Functions reports it
    assert description["TrainingJobStatus"] == "Failed"
    assert description["FailureReason"] == "AlgorithmError: ValueError: bad CSV"
    assert sagemaker().list_models()["Models"] == []
    mail = failure_mail(harness)
    assert "TrainingFailed" in mail and "AlgorithmError: ValueError: bad CSV" in mail


def test_transform_failure_is_reported_and_nothing_is_registered(harness):
    result = harness.run(INPUT, scenario=SageMakerScenario(transform_failure="ClientError: test data not found"))

    assert result.status == "FAILED"
    assert result.states == PREPARE + [S.TRAIN, S.CREATE_MODEL, S.EVALUATE, S.BATCH_TRANSFORM_FAILED] + NOTIFY_AND_FAIL
    assert result.error == "BatchTransformFailed"
    assert json.loads(result.cause)["FailureReason"] == "ClientError: test data not found"
    assert sagemaker().list_model_packages(ModelPackageGroupName=MODEL_PACKAGE_GROUP)["ModelPackageSummaryList"] == []
    assert harness.lambdas.calls("evaluate") == [] and harness.lambdas.calls("approval_request") == []
    assert "test data not found" in failure_mail(harness)


def test_failed_baseline_job_is_reported_and_nothing_is_registered(harness):
    result = harness.run(INPUT, scenario=SageMakerScenario(baseline_failure="ClientError: no data under the training prefix"))

    assert result.status == "FAILED"
    assert result.states == PREPARE + [S.TRAIN, S.CREATE_MODEL, S.EVALUATE, S.EVALUATE_MODEL, S.CHECK_EVALUATION,
                                       S.BASELINE, S.BASELINE_FAILED] + NOTIFY_AND_FAIL
    assert result.error == "BaselineFailed"
    description = json.loads(result.cause)  # the DescribeProcessingJob output, as Step Functions reports it
    assert description["ProcessingJobStatus"] == "Failed"
    assert description["FailureReason"] == "ClientError: no data under the training prefix"
    assert sagemaker().list_model_packages(ModelPackageGroupName=MODEL_PACKAGE_GROUP)["ModelPackageSummaryList"] == []
    assert harness.lambdas.calls("approval_request") == []
    mail = failure_mail(harness)
    assert "BaselineFailed" in mail and "no data under the training prefix" in mail


def test_model_below_the_accuracy_threshold_is_not_registered(harness):
    result = harness.run(INPUT, scenario=SageMakerScenario(predict=lambda features: "setosa"))

    assert result.status == "FAILED"
    assert result.states == PREPARE + [S.TRAIN, S.CREATE_MODEL, S.EVALUATE, S.EVALUATE_MODEL, S.CHECK_EVALUATION, S.BELOW_THRESHOLD] + NOTIFY_AND_FAIL
    assert result.error == "ModelBelowThreshold"
    assert result.cause.startswith("Test accuracy 0.3 is below the required 0.9")
    assert sagemaker().list_model_packages(ModelPackageGroupName=MODEL_PACKAGE_GROUP)["ModelPackageSummaryList"] == []


def test_endpoint_that_fails_to_deploy_fails_the_run(harness):
    result = harness.run(INPUT, scenario=SageMakerScenario(endpoint_failure="The primary container failed the ping health check"), on_approval=approve())

    assert result.status == "FAILED"
    assert result.states == PREPARE + TRAIN_TO_APPROVAL + [
        S.APPROVE_PACKAGE, S.CREATE_ENDPOINT_CONFIG, S.FIND_ENDPOINT, S.CHECK_LOOKUP_ERROR, S.CREATE_ENDPOINT,
    ] + WAIT_LOOP + [S.ENDPOINT_FAILED] + NOTIFY_AND_FAIL
    assert result.error == "EndpointDeploymentFailed"
    assert "went to Failed" in result.cause and "ping health check" in result.cause


@pytest.mark.parametrize(
    ("bad_input", "problem"),
    [
        ({"imageUri": IMAGE}, "commitId must be a string of 1-256 letters, digits or _.:/=+@-"),
        ({"commitId": COMMIT, "imageUri": 42}, "imageUri must be a string of 1-255 characters without spaces"),
        ({**INPUT, "testData": "/local/test.csv"}, "testData must be an s3:// URI of at most 1024 characters on one line"),
        ({**INPUT, "hyperparameters": "max_depth=3"}, "hyperparameters must be an object of string values"),
        ({**INPUT, "hyperparameters": ["max_depth", "3"]}, "hyperparameters must be an object of string values"),
        # What SageMaker's CreateTrainingJob would refuse (HyperParameters: a map of one-line strings).
        ({**INPUT, "hyperparameters": {"max_depth": 3}},
         'hyperparameters.max_depth is a number: SageMaker takes hyperparameter values as strings (write "3")'),
        ({**INPUT, "hyperparameters": {"criterion": "gini\nentropy"}}, "hyperparameters.criterion must be on one line"),
        ({**INPUT, "hyperparameters": {"note": "x" * 2501}}, "hyperparameters.note is longer than 2500 characters"),
        ({**INPUT, "hyperparameters": {"note": "\u00e9" * 1251}}, "hyperparameters.note is longer than 2500 characters"),
        ({**INPUT, "hyperparameters": {f"h{i}": "1" for i in range(99)}},
         "hyperparameters: at most 100 names together with the stack defaults"),
        ({**INPUT, "commitId": "3f2a9c1\nSubject: forged"}, "commitId must be a string"),
        ({**INPUT, "imageUri": "x" * 256}, "imageUri must be a string of 1-255 characters"),
    ],
    ids=["missing-commit", "image-not-string", "test-data-not-s3", "hyperparameters-not-object",
         "hyperparameters-array", "hyperparameter-number", "hyperparameter-line-break", "hyperparameter-too-long",
         "hyperparameter-non-ascii-too-long", "too-many-hyperparameters", "commit-with-line-break", "image-too-long"],
)
def test_invalid_input_fails_fast_with_a_clear_cause(harness, bad_input, problem):
    result = harness.run(bad_input)

    assert result.status == "FAILED"
    assert result.states == [S.VALIDATE_INPUT, S.INVALID_INPUT] + NOTIFY_AND_FAIL
    assert result.error == "InvalidInput"
    assert result.cause.startswith(f"The execution input cannot be used: {problem}")
    assert "Expected: a JSON object with commitId" in result.cause
    assert json.loads(result.cause.split("Received: ", 1)[1]) == bad_input
    assert sagemaker().list_training_jobs()["TrainingJobSummaries"] == []


def test_input_at_the_limits_is_accepted_and_reaches_sagemaker_unchanged(harness):
    hyperparameters = {"max_depth": "3", "note": "x" * 2500, "label": "\u00e9" * 1250, "tab": "a\tb"}
    result = harness.run({**INPUT, "hyperparameters": hyperparameters}, scenario=SageMakerScenario(training_failure="stop here"))

    assert result.states[:5] == PREPARE + [S.TRAIN]
    assert result.task_parameters(S.TRAIN)["HyperParameters"] == {**hyperparameters, "criterion": "gini"}


def test_endpoint_that_never_gets_in_service_stops_the_wait_loop(harness):
    result = harness.run(INPUT, scenario=SageMakerScenario(endpoint_polls=50), on_approval=approve())

    assert result.status == "FAILED"
    max_polls = harness.params.endpoint_max_polls
    assert result.states.count(S.DESCRIBE_ENDPOINT) == max_polls + 1
    assert result.states[-3:] == [S.ENDPOINT_WAIT_TIMED_OUT] + NOTIFY_AND_FAIL
    assert result.error == "EndpointWaitTimedOut"
    assert result.cause == f"Endpoint {ENDPOINT_NAME} was still Creating after {max_polls} polls 1 seconds apart"


def test_existing_endpoint_in_failed_state_is_not_updated(harness):
    harness.existing_endpoint()
    harness.sim.backend.endpoints[ENDPOINT_NAME].endpoint_status = "Failed"

    result = harness.run(INPUT, on_approval=approve())

    assert result.status == "FAILED"
    assert result.states[-5:] == [S.FIND_ENDPOINT, S.EXISTING_ENDPOINT_STATUS, S.EXISTING_ENDPOINT_UNUSABLE] + NOTIFY_AND_FAIL
    assert result.error == "EndpointUnusable"
    assert result.cause.startswith(f"Endpoint {ENDPOINT_NAME} is Failed and cannot be updated; delete it")
    assert sagemaker().describe_endpoint(EndpointName=ENDPOINT_NAME)["EndpointConfigName"] == "previous-config"


def test_promotion_mode_ends_with_the_approved_package_and_touches_no_endpoint():
    with WorkflowHarness(definition_params(deploy_endpoint=False)).running() as promo:
        result = promo.run(INPUT, on_approval=approve("ship it"))

        assert result.status == "SUCCEEDED", (result.error, result.cause)
        assert result.states == PREPARE + TRAIN_TO_APPROVAL + [
            S.APPROVE_PACKAGE, S.NOTIFY_SUCCESS, S.BUILD_RESULT, S.SUCCEEDED]
        package = only_package()
        assert package["ModelApprovalStatus"] == "Approved"
        assert result.output["deployment"] == "promotion"
        assert result.output["modelPackageArn"] == package["ModelPackageArn"]
        assert "endpointName" not in result.output
        assert sagemaker().list_endpoint_configs()["EndpointConfigs"] == []
        assert sagemaker().list_endpoints()["Endpoints"] == []
        assert promo.lambdas.calls("inference_proxy") == []
        subject, message = promo.messages()[-1]
        assert subject.startswith("Model approved") and "changed no endpoint" in message


# Every SageMaker call the workflow makes, by integration: the optimised one reports a throttled call as
# SageMaker.AmazonSageMakerException, the AWS SDK one as SageMaker.SageMakerException (the harness names
# errors as Step Functions does, module docstring items 1 and 3).
THROTTLED_ONCE = {"CreateTrainingJob": 1, "CreateModel": 1, "CreateTransformJob": 1, "CreateProcessingJob": 1,
                  "CreateModelPackage": 1,
                  "UpdateModelPackage": 1, "CreateEndpointConfig": 1, "DescribeEndpoint": 1, "CreateEndpoint": 1}


def test_throttled_sagemaker_calls_are_retried_and_the_run_succeeds(harness):
    result = harness.run(INPUT, scenario=SageMakerScenario(throttled=THROTTLED_ONCE), on_approval=approve())

    assert result.status == "SUCCEEDED", (result.error, result.cause, result.states)
    assert sorted(harness.sim.throttled_calls) == sorted(THROTTLED_ONCE)
    # The first DescribeEndpoint (FindEndpoint) was throttled, retried, then found no endpoint: created.
    assert result.output["deployment"] == "created"
    optimised, sdk = "SageMaker.AmazonSageMakerException", "SageMaker.SageMakerException"
    failed = [e["taskFailedEventDetails"]["error"] for e in result.history if e["type"] == "TaskFailed"]
    assert failed == [
        optimised, optimised, optimised,  # Train, CreateModel, Evaluate
        optimised,  # Baseline
        sdk, sdk,  # RegisterModel, ApproveModelPackage
        optimised,  # CreateEndpointConfig
        sdk, sdk,  # FindEndpoint: throttled, then the first run's "Could not find endpoint"
        optimised,  # CreateEndpoint
    ]


def test_a_throttled_update_of_an_existing_endpoint_is_retried(harness):
    harness.existing_endpoint()

    result = harness.run(INPUT, scenario=SageMakerScenario(throttled={"DescribeEndpoint": 1, "UpdateEndpoint": 1}),
                         on_approval=approve())

    assert result.status == "SUCCEEDED", (result.error, result.cause, result.states)
    assert result.output["deployment"] == "updated"
