"""A catalog entry's batch pipeline executed by moto's Step Functions interpreter, started by a real S3
upload through the real EventBridge rule pattern, with the real notify handler (batch_harness.py)."""

from __future__ import annotations

import json
import re

import boto3
import pytest

from components.workflow.batch import B
from tests.workflow.batch_harness import (
    EXECUTION_ROLE,
    INPUT,
    JOB_PREFIX,
    KMS_KEY,
    OUTPUT,
    PACKAGE,
    REGION,
    ROWS,
    SAGEMAKER_MODEL,
    BatchHarness,
    batch_params,
)
from tests.workflow.harness import SageMakerScenario

pytestmark = pytest.mark.slow

FIRST_RUN = [B.READ_INPUT, B.FROM_UPLOAD, B.CHECK_INPUT, B.FIND_MODEL, B.CHECK_MODEL_LOOKUP, B.CREATE_MODEL,
             B.TRANSFORM, B.NOTIFY_SUCCESS, B.SUCCEEDED]
LATER_RUN = [B.READ_INPUT, B.FROM_UPLOAD, B.CHECK_INPUT, B.FIND_MODEL, B.TRANSFORM, B.NOTIFY_SUCCESS, B.SUCCEEDED]


@pytest.fixture
def harness():
    with BatchHarness().running() as running:
        yield running


def sagemaker():
    return boto3.client("sagemaker", region_name=REGION)


def job_name_of(result) -> str:
    return result.task_parameters(B.TRANSFORM)["TransformJobName"]


def test_an_upload_creates_the_model_from_the_package_transforms_it_and_notifies(harness):
    result = harness.upload(f"{INPUT.prefix}/2024-06-01.csv")

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states == FIRST_RUN
    model = sagemaker().describe_model(ModelName=SAGEMAKER_MODEL)
    assert model["PrimaryContainer"]["ModelPackageName"] == PACKAGE
    assert model["ExecutionRoleArn"] == EXECUTION_ROLE

    (request,) = harness.sim.transform_requests
    job = request["TransformJobName"]
    assert re.fullmatch(rf"{JOB_PREFIX}-[0-9a-f]{{32}}", job) and len(job) <= 63
    assert request["ModelName"] == SAGEMAKER_MODEL
    assert request["TransformInput"] == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{INPUT.uri}/2024-06-01.csv"}},
        "ContentType": "text/csv", "SplitType": "Line", "CompressionType": "None"}
    assert request["TransformOutput"] == {"S3OutputPath": f"{OUTPUT.uri}/{job}", "Accept": "text/csv",
                                          "AssembleWith": "Line", "KmsKeyId": KMS_KEY}
    assert request["TransformResources"] == {"InstanceType": "ml.m5.large", "InstanceCount": 2,
                                             "VolumeKmsKeyId": KMS_KEY}
    # the transform read only the uploaded object and wrote its predictions under the run's own folder
    assert harness.keys(OUTPUT.prefix) == [f"{OUTPUT.prefix}/{job}/2024-06-01.csv.out"]
    assert harness.read(f"{OUTPUT.uri}/{job}/2024-06-01.csv.out").splitlines() == ["setosa", "versicolor", "virginica"]

    ((subject, message),) = harness.messages()
    assert subject == "Batch transform done: iris"
    assert f"Input:          {INPUT.uri}/2024-06-01.csv" in message
    assert f"Output:         {OUTPUT.uri}/{job}" in message
    assert f"Transform job:  {job}" in message


def test_a_later_upload_finds_the_model_and_each_run_has_its_own_job_and_output(harness):
    first = harness.upload(f"{INPUT.prefix}/a.csv")
    second = harness.upload(f"{INPUT.prefix}/nested/b.csv", rows=ROWS[:1])

    assert (first.status, second.status) == ("SUCCEEDED", "SUCCEEDED")
    assert second.states == LATER_RUN
    assert [m["ModelName"] for m in sagemaker().list_models()["Models"]] == [SAGEMAKER_MODEL]
    jobs = [job_name_of(first), job_name_of(second)]
    assert jobs[0] != jobs[1]
    assert harness.keys(OUTPUT.prefix) == sorted([f"{OUTPUT.prefix}/{jobs[0]}/a.csv.out",
                                                  f"{OUTPUT.prefix}/{jobs[1]}/b.csv.out"])


def test_a_model_that_already_exists_is_used_as_it_is(harness):
    sagemaker().create_model(ModelName=SAGEMAKER_MODEL, ExecutionRoleArn=EXECUTION_ROLE,
                             PrimaryContainer={"ModelPackageName": PACKAGE})
    result = harness.upload(f"{INPUT.prefix}/c.csv")
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states == LATER_RUN


def test_a_failed_transform_ends_in_the_named_failure_and_notifies_the_step_and_cause(harness):
    result = harness.upload(f"{INPUT.prefix}/bad.csv",
                            scenario=SageMakerScenario(transform_failure="ClientError: unable to parse line 2"))

    assert result.status == "FAILED"
    assert result.states == FIRST_RUN[:-2] + [B.TRANSFORM_FAILED, B.NOTIFY_FAILURE, B.FAILED]
    assert result.error == "BatchTransformFailed"
    cause = json.loads(result.cause)
    assert cause["TransformJobStatus"] == "Failed"
    assert cause["FailureReason"] == "ClientError: unable to parse line 2"
    ((subject, message),) = harness.messages()
    assert subject == "Batch pipeline failed (BatchTransformFailed): iris"
    assert message.startswith("The batch pipeline of iris failed in step Transform.")
    assert f"Transform job {cause['TransformJobName']} ended Failed." in message
    assert "Failure reason: ClientError: unable to parse line 2" in message
    assert harness.keys(OUTPUT.prefix) == []


def test_a_model_that_cannot_be_created_names_that_step(harness):
    def refuse(*args, **kwargs):
        from moto.sagemaker.exceptions import ValidationError

        raise ValidationError(message="Could not access model data at s3://registry/models/iris/model.tar.gz.")

    from moto.sagemaker.models import SageMakerModelBackend

    original = SageMakerModelBackend.create_model
    SageMakerModelBackend.create_model = refuse
    try:
        result = harness.upload(f"{INPUT.prefix}/d.csv")
    finally:
        SageMakerModelBackend.create_model = original
    assert result.status == "FAILED"
    assert result.states == FIRST_RUN[:6] + [B.CHECK_MODEL_CREATION, B.MODEL_CREATION_FAILED, B.NOTIFY_FAILURE,
                                             B.FAILED]
    assert result.error == "ModelCreationFailed"
    assert "Could not access model data" in result.cause
    ((subject, message),) = harness.messages()
    assert "failed in step CreateModel." in message and "Could not access model data" in message
    assert harness.sim.transform_requests == []


def test_losing_the_race_to_create_the_model_uses_the_winners(harness):
    """Two uploads at once: both miss the model, one creates it, SageMaker refuses the other's CreateModel."""
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import SageMakerModelBackend

    original = SageMakerModelBackend.create_model

    def create_first(backend, model_name, *args, **kwargs):
        original(backend, model_name, *args, **kwargs)
        raise ValidationError(message=f'Cannot create already existing model "arn:aws:sagemaker:{REGION}:'
                                      f'123456789012:model/{model_name}".')

    SageMakerModelBackend.create_model = create_first
    try:
        result = harness.upload(f"{INPUT.prefix}/e.csv")
    finally:
        SageMakerModelBackend.create_model = original
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states == FIRST_RUN[:6] + [B.CHECK_MODEL_CREATION] + FIRST_RUN[6:]


def test_uploads_elsewhere_start_nothing(harness):
    for key in (f"{INPUT.prefix}-old/x.csv", "batch/iris/inputs.csv", f"{OUTPUT.prefix}/y.csv", "other/z.csv"):
        harness.put(key)
    assert harness.delivered == []
    harness.put(INPUT.prefix)  # the framework's single-file form: the location is the object itself
    assert [event["detail"]["object"]["key"] for _, event in harness.delivered] == [INPUT.prefix]


def test_a_schedule_or_a_manual_start_transforms_the_whole_prefix(harness):
    harness.put(f"{INPUT.prefix}/a.csv")
    harness.put(f"{INPUT.prefix}/b.csv", ROWS[:2])
    harness.delivered.clear()
    result = harness.run({"inputUri": f"{INPUT.uri}/"})

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states[:3] == [B.READ_INPUT, B.FROM_REQUEST, B.CHECK_INPUT]
    job = job_name_of(result)
    assert harness.keys(OUTPUT.prefix) == [f"{OUTPUT.prefix}/{job}/a.csv.out", f"{OUTPUT.prefix}/{job}/b.csv.out"]


@pytest.mark.parametrize("execution_input", [
    {"inputUri": "s3://mlops-test-batch/batch/iris/input-old/a.csv"},
    {"inputUri": "s3://another-bucket/batch/iris/input/a.csv"},
    {"inputUri": 7},
    {"detail": {"bucket": {"name": "mlops-test-batch"}, "object": {"key": "batch/iris/output/a.csv"}}},
    {"something": "else"},
])
def test_input_outside_the_entry_is_refused_before_anything_is_created(harness, execution_input):
    result = harness.run(execution_input)

    assert result.status == "FAILED"
    assert result.states[-3:] == [B.INVALID_INPUT, B.NOTIFY_FAILURE, B.FAILED]
    assert result.error == "InvalidInput"
    assert result.cause.startswith(f"The execution input cannot be used: expected an S3 Object Created event under "
                                   f"{INPUT.uri}/, or an inputUri that is {INPUT.uri} or under it. Received: ")
    assert json.loads(result.cause.split("Received: ", 1)[1]) == execution_input
    assert sagemaker().list_models()["Models"] == [] and harness.sim.transform_requests == []
    ((subject, message),) = harness.messages()
    assert subject == "Batch pipeline failed (InvalidInput): iris" and "failed in step CheckInput." in message


def test_a_file_location_takes_the_upload_of_that_object(harness):
    """The framework's single-file form: batch_inference_data names the object itself."""
    result = harness.run({"inputUri": INPUT.uri})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states[:4] == [B.READ_INPUT, B.FROM_REQUEST, B.CHECK_INPUT, B.FIND_MODEL]


def test_json_records_are_not_split_by_line():
    with BatchHarness(batch_params(content_type="application/json", accept="application/json")).running() as harness:
        harness.put(f"{INPUT.prefix}/r.json", ["1.0,2.0,3.0,4.0"])
        harness.delivered.clear()
        harness.run({"inputUri": f"{INPUT.uri}/r.json"})
        (request,) = harness.sim.transform_requests
    assert request["TransformInput"]["SplitType"] == "None" and request["TransformOutput"]["AssembleWith"] == "None"
    assert request["TransformInput"]["ContentType"] == "application/json"
