"""A catalog monitor entry's baseline run (components/monitor_baseline.py) executed by moto's Step Functions
interpreter: the component's definition and upload event pattern, started by a real upload of the entry's
baseline_data (moto's S3 -> EventBridge -> the rule's state machine target, ``tools/localaws/emulator.py``
items 12, 14 and 15), with the simulated SageMaker of tests/workflow/harness.py running the processing job (the
stand-in analyzer writes statistics.json and constraints.json, or the job fails as the scenario says) and
moto's SNS receiving the notifications.

What only an execution shows: the resolved job request (its name from the execution's name, within
SageMaker's 63 characters; checked against botocore's CreateProcessingJob shape), the intrinsic functions
of the notifications, and where the failure path ends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import NamedTuple

import boto3
import pytest

from components.model_upload import upload_event_pattern
from components.monitor_baseline import BASELINE_FAILED, BaselineRun, definition
from components.names import IAM_ROLE_NAME_MAX, Names
from tests.workflow.harness import (
    ACCOUNT,
    BASELINE_IMAGE,
    REGION,
    ExecutionResult,
    SageMakerScenario,
    SageMakerSimulator,
    finish_execution,
    read_s3,
    wait_for,
)
from tests.workflow.test_sagemaker_parameters import resolved_problems
from tools.localaws.emulator import EmbeddedAws, LocalFunction

pytestmark = pytest.mark.slow

NAMES = Names("mlops", "staging", ACCOUNT, REGION)
BUCKET = NAMES.bucket
DATA_KEY = "baselines/iris-xgboost/baseline.csv"
FOLDER = f"s3://{BUCKET}/baselines/iris-xgboost"
STACK_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ENTRY_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/abcd1234-ab12-cd34-ef56-abcdef123456"
# The baseline: CSV with a header naming the columns the model quality attributes name.
ROWS = ["label,prediction,probability,f1,f2,f3,f4", "setosa,setosa,0.97,5.1,3.5,1.4,0.2",
        "versicolor,versicolor,0.88,7.0,3.2,4.7,1.4", "virginica,versicolor,0.55,6.3,3.3,6.0,2.5"]
# The entries' labels as catalog.entries.MonitorEntry.label writes them (quotes included).
DATA_QUALITY = BaselineRun(
    label="pipelines[5] (byom_data_quality_monitor 'iris-xgboost')", monitor_type="data-quality",
    data_key=DATA_KEY, output_uri=f"{FOLDER}/data-quality", instance_type="ml.m5.large", volume_gb=20,
    max_runtime_seconds=3600)
MODEL_QUALITY = BaselineRun(
    label="pipelines[6] (byom_model_quality_monitor 'iris-xgboost')", monitor_type="model-quality",
    data_key=DATA_KEY, output_uri=f"{FOLDER}/model-quality", instance_type="ml.m5.xlarge", volume_gb=30,
    max_runtime_seconds=1800, problem_type="MulticlassClassification", inference_attribute="prediction",
    probability_attribute="probability", ground_truth_attribute="label", data_key_arn=ENTRY_KEY)
SUCCEEDED = ["Baseline", "NotifySuccess", "Succeeded"]
FAILED = ["Baseline", "NotifyFailure", BASELINE_FAILED]
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def machine_name(short: str, model_name: str = "iris-xgboost") -> str:
    """The state machine's name, also its jobs' prefix (program.catalog_monitoring.build_baseline)."""
    return NAMES.catalog_name(model_name, f"{short}-baseline", limit=IAM_ROLE_NAME_MAX)


def job_role(short: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{machine_name(short)}-job"


class Finished(NamedTuple):
    name: str
    """The execution's name."""
    result: ExecutionResult


class BaselineHarness:
    """The stack bucket (EventBridge notifications on), the notification topic, and per run its state machine
    (the component's definition) and upload rule (the component's pattern, the state machine its target)."""

    def __init__(self, functions: Mapping[str, LocalFunction] | None = None) -> None:
        """``functions``: the Lambda functions the runs invoke (a bias / explainability run's configuration)."""
        self.sim = SageMakerSimulator()
        self.aws = EmbeddedAws(ACCOUNT, REGION, self.sim, functions or {})
        self.topic_arn = ""
        self.machines: dict[str, str] = {}

    @contextmanager
    def running(self) -> Iterator[BaselineHarness]:
        with self.aws.running():
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
            s3.put_bucket_notification_configuration(Bucket=BUCKET,
                                                     NotificationConfiguration={"EventBridgeConfiguration": {}})
            self.topic_arn = boto3.client("sns", region_name=REGION).create_topic(
                Name=f"{NAMES.prefix}-notifications")["TopicArn"]
            yield self

    def deploy(self, short: str, run: BaselineRun, *, job_prefix: str | None = None) -> str:
        """The run's state machine and its upload rule, as ``MonitorBaseline`` creates them."""
        name = job_prefix or machine_name(short)
        document = definition(run, image_uri=BASELINE_IMAGE, bucket=BUCKET, job_prefix=name,
                              job_role_arn=job_role(short), kms_key_arn=STACK_KEY, topic_arn=self.topic_arn)
        arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name=name, definition=json.dumps(document, indent=2),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}")["stateMachineArn"]
        events = boto3.client("events", region_name=REGION)
        events.put_rule(Name=f"{name}-upload", EventPattern=json.dumps(upload_event_pattern(BUCKET, run.data_key)))
        events.put_targets(Rule=f"{name}-upload", Targets=[
            {"Id": "baseline", "Arn": arn, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/{name}-events"}])
        self.machines[short] = arn
        return arn

    def executions(self, short: str) -> list[str]:
        listed = boto3.client("stepfunctions", region_name=REGION).list_executions(stateMachineArn=self.machines[short])
        return [e["executionArn"] for e in listed["executions"]]

    def upload(self) -> None:
        """The team uploads the entry's baseline_data (CSV with a header)."""
        boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=DATA_KEY, Body="\n".join(ROWS).encode())

    def upload_and_finish(self, *shorts: str, scenario: SageMakerScenario | None = None) -> dict[str, Finished]:
        """Upload the baseline data: the upload starts exactly one execution of each of the runs, and each runs
        to its end. By run: the execution's name (EventBridge starts it without one) and how it ended."""
        self.sim.start(scenario or SageMakerScenario())
        self.upload()
        started = {short: wait_for(lambda short=short: self.executions(short)) for short in shorts}
        assert all(len(arns) == 1 for arns in started.values()), started
        return {short: Finished(arn.rsplit(":", 1)[1], finish_execution(arn, timeout=30))
                for short, (arn,) in started.items()}

    def messages(self) -> list[tuple[str | None, str]]:
        return self.aws.published(self.topic_arn)


@pytest.fixture
def harness():
    with BaselineHarness().running() as running:
        yield running


def test_an_upload_of_baseline_data_makes_the_data_quality_baseline_and_says_where(harness):
    harness.deploy("dq", DATA_QUALITY)
    harness.deploy("mq", MODEL_QUALITY)  # iris-xgboost's two entries share baseline_data: one upload starts both
    runs = harness.upload_and_finish("dq", "mq")
    assert {short: run.result.status for short, run in runs.items()} == {"dq": "SUCCEEDED", "mq": "SUCCEEDED"}
    name, result = runs["dq"]

    assert result.states == SUCCEEDED
    job = result.task_parameters("Baseline")
    # Named after the execution (EventBridge names it with a UUID), within SageMaker's 63 characters.
    assert job["ProcessingJobName"] == f"{machine_name('dq')}-{name.split('-')[0]}"
    assert SAGEMAKER_NAME.match(job["ProcessingJobName"])
    assert job["RoleArn"] == job_role("dq")
    assert job["AppSpecification"] == {"ImageUri": BASELINE_IMAGE}
    assert job["Environment"] == {
        "dataset_format": '{"csv": {"header": true}}',
        "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
        "output_path": "/opt/ml/processing/output", "publish_cloudwatch_metrics": "Disabled"}
    (source,) = job["ProcessingInputs"]
    assert source["S3Input"]["S3Uri"] == f"s3://{BUCKET}/{DATA_KEY}"  # the uploaded object
    assert source["S3Input"]["LocalPath"] == job["Environment"]["dataset_source"]
    (output,) = job["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == f"{FOLDER}/data-quality"  # baseline_job_output_location
    assert output["S3Output"]["LocalPath"] == job["Environment"]["output_path"]
    assert job["ProcessingOutputConfig"]["KmsKeyId"] == STACK_KEY
    assert job["ProcessingResources"] == {"ClusterConfig": {
        "InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20, "VolumeKmsKeyId": STACK_KEY}}
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert job["NetworkConfig"] == {"EnableNetworkIsolation": True}
    assert resolved_problems(result) == []  # botocore's CreateProcessingJob shape, as SageMaker checks it
    # The job ran (moto's record) and wrote the two files where the notification says they are.
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    assert sagemaker.describe_processing_job(ProcessingJobName=job["ProcessingJobName"])["ProcessingJobStatus"] == "Completed"
    (notification,) = [m for m in harness.messages() if m[0] == "Baseline made: data-quality"]
    assert notification[1] == (
        f"{DATA_QUALITY.label}: the data-quality baseline of s3://{BUCKET}/{DATA_KEY} is in {FOLDER}/data-quality/ "
        "(statistics.json, constraints.json); the monitor compares with it from its next execution.")
    for file in ("statistics.json", "constraints.json"):
        assert json.loads(read_s3(f"{FOLDER}/data-quality/{file}"))["features"]


def test_the_model_quality_baseline_job_carries_the_analysis_and_the_columns(harness):
    harness.deploy("mq", MODEL_QUALITY)
    name, result = harness.upload_and_finish("mq")["mq"]

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states == SUCCEEDED
    job = result.task_parameters("Baseline")
    assert job["ProcessingJobName"] == f"{machine_name('mq')}-{name.split('-')[0]}"
    assert job["Environment"] == {
        "dataset_format": '{"csv": {"header": true}}',
        "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
        "output_path": "/opt/ml/processing/output", "publish_cloudwatch_metrics": "Disabled",
        "analysis_type": "MODEL_QUALITY", "problem_type": "MulticlassClassification",
        "inference_attribute": "prediction", "probability_attribute": "probability", "ground_truth_attribute": "label"}
    assert set(ROWS[0].split(",")) >= {job["Environment"][f"{a}_attribute"] for a in ("inference", "probability", "ground_truth")}
    assert job["ProcessingInputs"][0]["S3Input"]["S3Uri"] == f"s3://{BUCKET}/{DATA_KEY}"
    assert job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == f"{FOLDER}/model-quality"
    # The entry's own key encrypts the output it owns; the stack key the job's volume.
    assert job["ProcessingOutputConfig"]["KmsKeyId"] == ENTRY_KEY
    assert job["ProcessingResources"]["ClusterConfig"] == {
        "InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30, "VolumeKmsKeyId": STACK_KEY}
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800}
    assert job["NetworkConfig"] == {"EnableNetworkIsolation": True}
    assert resolved_problems(result) == []
    (notification,) = [m for s, m in harness.messages() if s == "Baseline made: model-quality"]
    assert f"is in {FOLDER}/model-quality/ (statistics.json, constraints.json)" in notification


def test_a_job_prefix_at_the_iam_limit_still_names_jobs_sagemaker_accepts(harness):
    """The longest machine name (IAM's 64 characters, a long model name): the job name keeps 54 of them."""
    long = machine_name("dq", "churn-prediction-gradient-boosted-ensemble-with-calibration")
    assert len(long) == IAM_ROLE_NAME_MAX
    harness.deploy("dq", DATA_QUALITY, job_prefix=long)
    name, result = harness.upload_and_finish("dq")["dq"]

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    job_name = result.task_parameters("Baseline")["ProcessingJobName"]
    assert job_name == f"{long[:54]}-{name.split('-')[0]}" and len(job_name) == 63
    assert resolved_problems(result) == []


@pytest.mark.parametrize("label", [
    DATA_QUALITY.label,
    # What States.Format's literals reserve (' { } \\): a label (or a key) is text, not template.
    "catalog/it's {team}\\monitors.json (byom_data_quality_monitor 'iris-xgboost')",
], ids=["catalog-label", "reserved-characters"])
def test_a_failed_baseline_job_fails_the_run_by_name_and_notifies_the_entry_and_the_cause(harness, label):
    run = replace(DATA_QUALITY, label=label)
    harness.deploy("dq", run)
    reason = "AlgorithmError: Error: Errors occurred when analyzing your data. Please check CloudWatch logs for more details."
    name, result = harness.upload_and_finish("dq", scenario=SageMakerScenario(baseline_failure=reason))["dq"]

    assert result.status == "FAILED" and result.error == BASELINE_FAILED
    assert result.states == FAILED
    assert result.cause == f"The data-quality baseline job of {label} failed (see the notification)"
    ((subject, message),) = harness.messages()
    assert subject == f"{BASELINE_FAILED}: data-quality"
    lead = f"{BASELINE_FAILED}: {label}: the data-quality baseline of s3://{BUCKET}/{DATA_KEY} failed (States.TaskFailed): "
    assert message.startswith(lead), message
    cause = json.loads(message.removeprefix(lead))  # the job's description, as the .sync integration reports it
    assert cause["FailureReason"] == reason and cause["ProcessingJobStatus"] == "Failed"
    assert cause["ProcessingJobName"] == f"{machine_name('dq')}-{name.split('-')[0]}"
