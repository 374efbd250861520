"""components/workflow/baseline.py: the one builder of Model Monitor baseline jobs (training, uploads, and
later model-quality baselines), checked against botocore's CreateProcessingJob shape."""

from __future__ import annotations

import botocore.session
import botocore.validate
import pytest

from components.workflow.baseline import (
    DATASET_FORMAT,
    BaselineJobSpec,
    JsonPath,
    baseline_task,
    data_quality_metrics,
    processing_job_parameters,
)
from components.workflow.states import STEP_ERRORS, S

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/k"
ROLE = "arn:aws:iam::123456789012:role/r"
SHAPE = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateProcessingJob").input_shape


def literal(**overrides):
    values = dict(job_name="job-1", role_arn=ROLE, image_uri=IMAGE, dataset="s3://data/train", output="s3://out/base",
                  instance_type="ml.m5.large", volume_gb=20, max_runtime_seconds=3600, kms_key_arn=KEY,
                  network_isolation=True)
    return processing_job_parameters(**(values | overrides))


def test_literal_values_make_a_request_botocore_accepts():
    params = literal(tags=[{"Key": "ModelName", "Value": "m"}])
    botocore.validate.validate_parameters(params, SHAPE)  # raises ParamValidationError on any bad field
    assert params["Environment"] == {"dataset_format": DATASET_FORMAT,
                                     "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
                                     "output_path": "/opt/ml/processing/output", "publish_cloudwatch_metrics": "Disabled"}
    assert params["ProcessingResources"]["ClusterConfig"] == {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                              "VolumeSizeInGB": 20, "VolumeKmsKeyId": KEY}
    assert params["ProcessingOutputConfig"]["KmsKeyId"] == KEY
    assert params["NetworkConfig"] == {"EnableNetworkIsolation": True}


def test_json_paths_are_written_as_path_keys():
    params = literal(job_name=JsonPath("$.run.name"), role_arn=JsonPath("$.job.role"),
                     dataset=JsonPath("$.run.trainingData"), output=JsonPath("States.Format('s3://o/{}', $.run.name)"))
    assert params["ProcessingJobName.$"] == "$.run.name" and "ProcessingJobName" not in params
    assert params["RoleArn.$"] == "$.job.role" and "RoleArn" not in params
    assert params["ProcessingInputs"][0]["S3Input"]["S3Uri.$"] == "$.run.trainingData"
    assert params["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri.$"] == "States.Format('s3://o/{}', $.run.name)"


def test_a_model_quality_baseline_adds_the_analyzers_variables_and_may_replace_the_format():
    environment = {"analysis_type": "MODEL_QUALITY", "problem_type": "MulticlassClassification",
                   "inference_attribute": "prediction", "probability_attribute": "probability",
                   "ground_truth_attribute": "label", "dataset_format": '{"csv": {"header": true}}'}
    params = literal(environment=environment)
    botocore.validate.validate_parameters(params, SHAPE)
    assert list(params["Environment"]) == ["dataset_format", "dataset_source", "output_path",
                                           "publish_cloudwatch_metrics", "analysis_type", "problem_type",
                                           "inference_attribute", "probability_attribute", "ground_truth_attribute"]
    assert params["Environment"]["dataset_format"] == '{"csv": {"header": true}}'
    assert params["Environment"]["analysis_type"] == "MODEL_QUALITY"


class _Retry:
    retry_interval_seconds, retry_max_attempts, retry_backoff_rate = 1, 2, 2.0


def test_the_task_runs_the_job_sync_and_catches_to_the_steps_failure():
    state = baseline_task(_Retry(), S.BASELINE, BaselineJobSpec(image_uri=IMAGE, kms_key_arn=KEY),
                          job_name="j", role_arn=ROLE, dataset="s3://d/p", output="s3://o/p", tags=(), comment="c")
    assert state["Resource"] == "arn:aws:states:::sagemaker:createProcessingJob.sync"
    assert state["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": STEP_ERRORS[S.BASELINE]}]
    assert state["ResultPath"] == "$.baseline" and "Next" not in state
    metrics = data_quality_metrics("$.baseline")
    assert metrics["DriftCheckBaselines"] == metrics["ModelMetrics"] == {"ModelDataQuality": {
        "Statistics": {"ContentType": "application/json", "S3Uri.$": "$.baseline.statistics"},
        "Constraints": {"ContentType": "application/json", "S3Uri.$": "$.baseline.constraints"}}}
    selected = set(state["ResultSelector"])
    assert {k.removesuffix(".$") for k in selected} == {"jobName", "statistics", "constraints"}


@pytest.mark.parametrize(("spec", "says"), [
    (BaselineJobSpec(image_uri="analyzer", kms_key_arn=KEY), "image_uri='analyzer' is not allowed"),
    (BaselineJobSpec(image_uri=IMAGE, kms_key_arn="k", instance_type="m5.large", volume_gb=0, max_runtime_seconds=True),
     "kms_key_arn='k'|instance_type='m5.large'|volume_gb=0|max_runtime_seconds=True"),
])
def test_a_bad_spec_names_every_bad_value(spec, says):
    problems = spec.problems()
    assert len(problems) == len(says.split("|"))
    for part, problem in zip(says.split("|"), problems, strict=True):
        assert problem.startswith(part) and "is not allowed: use" in problem
    assert BaselineJobSpec(image_uri=IMAGE + ":1", kms_key_arn=KEY).problems() == []
