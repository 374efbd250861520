"""A bias / explainability monitor entry's baseline run (components/monitor_baseline.py with its configuration
function, lambdas/clarify_config) executed by moto's Step Functions interpreter, started by a real upload of the
entry's baseline_data: the real handler reads the header row and writes the Clarify configurations, the simulated
SageMaker runs the Clarify job (tools/localaws/baseline.py's stand-in writes analysis.json), and only a
succeeded job makes the monitoring configuration live. A file without a usable header, or a failed job, ends in
BaselineFailed with the reason, and the configuration in use stays as it was."""

from __future__ import annotations

import json

import boto3
import pytest

from components.clarify_config import BIAS, EXPLAINABILITY, ClarifyAnalysis, ShadowModel, monitoring_analysis_config
from components.clarify_monitoring import config_keys
from components.monitor_baseline import BASELINE_FAILED, BaselineRun, ClarifyBaseline, definition
from tests.workflow.harness import ACCOUNT, REGION, SageMakerScenario, finish_execution, read_s3
from tests.workflow.test_monitor_baseline_execution import BUCKET, STACK_KEY, BaselineHarness, machine_name
from tests.workflow.test_sagemaker_parameters import resolved_problems
from tools.localaws.emulator import LocalFunction

pytestmark = pytest.mark.slow

CLARIFY_IMAGE = "131013547314.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-clarify-processing:1.0"
ENDPOINT = "mlops-staging-byom-credit-endpoint"
DATA_KEY = "baselines/credit/baseline.csv"
OUTPUT = f"s3://{BUCKET}/baselines/credit/model-bias"
ROWS = ["approved,age,income,sex", "1,35,52000,0", "0,41,38000,1", "1,29,61000,1"]
ANALYSIS = ClarifyAnalysis(BIAS, (), "BinaryClassification", inference_attribute="0",
                           bias_config={"label_values_or_threshold": [1], "facet_name": "sex",
                                        "facet_values_or_threshold": [0]})
KEYS = config_keys(ENDPOINT, BIAS)
MODEL = ShadowModel("mlops-staging-byom-credit-model-abc1234", "ml.m5.large", "mlops-staging-clarify")
RUN = BaselineRun(label="pipelines[7] (byom_model_bias_monitor 'credit')", monitor_type=BIAS, data_key=DATA_KEY,
                  output_uri=OUTPUT, instance_type="ml.m5.large", volume_gb=20, max_runtime_seconds=3600,
                  clarify=ClarifyBaseline(ANALYSIS, *MODEL.__dict__.values(), KEYS))
FUNCTION = f"{machine_name('mb', 'credit')}-config"


class ClarifyHarness(BaselineHarness):
    def __init__(self) -> None:
        super().__init__({FUNCTION: LocalFunction(FUNCTION, "clarify_config")})

    def deploy_clarify(self, run: BaselineRun = RUN, short: str = "mb") -> str:
        name = machine_name(short, "credit")
        document = definition(run, image_uri=CLARIFY_IMAGE, bucket=BUCKET, job_prefix=name,
                              job_role_arn=f"arn:aws:iam::{ACCOUNT}:role/{name}-job", kms_key_arn=STACK_KEY,
                              topic_arn=self.topic_arn,
                              config_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}")
        arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name=name, definition=json.dumps(document), roleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}")["stateMachineArn"]
        self.machines["mb"] = arn
        return arn

    def upload_rows(self, rows: list[str]) -> None:
        boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=DATA_KEY, Body="\n".join(rows).encode())

    def run(self, rows: list[str], scenario: SageMakerScenario | None = None):
        """Upload ``rows`` and run the baseline as the upload's event does (one execution), to its end."""
        self.sim.start(scenario or SageMakerScenario())
        self.upload_rows(rows)
        execution = boto3.client("stepfunctions", region_name=REGION).start_execution(
            stateMachineArn=self.machines["mb"], input=json.dumps({"detail": {"object": {"key": DATA_KEY}}}))
        return finish_execution(execution["executionArn"], timeout=30)


@pytest.fixture
def harness():
    with ClarifyHarness().running() as running:
        running.deploy_clarify()
        yield running


def keys_under(prefix: str) -> list[str]:
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_the_header_row_configures_clarify_and_the_configuration_goes_live_after_the_job(harness):
    result = harness.run(ROWS)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states == ["PrepareAnalysis", "Baseline", "PublishAnalysis", "NotifySuccess", "Succeeded"]
    headers = tuple(ROWS[0].split(","))
    live = json.loads(read_s3(f"s3://{BUCKET}/{KEYS.live}"))
    assert live == monitoring_analysis_config(ClarifyAnalysis(**{**ANALYSIS.__dict__, "headers": headers}), MODEL)
    assert live["headers"] == list(headers) and live["label"] == "approved"
    job = result.task_parameters("Baseline")
    assert [i["S3Input"]["S3Uri"] for i in job["ProcessingInputs"]] == [
        f"s3://{BUCKET}/{KEYS.baseline}", f"s3://{BUCKET}/{DATA_KEY}"]
    assert job["AppSpecification"] == {"ImageUri": CLARIFY_IMAGE}
    assert job["NetworkConfig"] == {"EnableNetworkIsolation": False}  # it asks the model, on a shadow endpoint
    assert resolved_problems(result) == []  # botocore's CreateProcessingJob shape
    baseline_config = json.loads(read_s3(f"s3://{BUCKET}/{KEYS.baseline}"))
    assert baseline_config["predictor"]["model_name"] == MODEL.model_name and baseline_config["dataset_type"] == "text/csv"
    analysis = json.loads(read_s3(f"{OUTPUT}/analysis.json"))  # what the monitor compares with
    assert (analysis["label"], analysis["record_count"]) == ("approved", 3)
    ((subject, message),) = harness.messages()
    assert subject == f"Baseline made: {BIAS}" and f"is in {OUTPUT}/ (analysis.json)" in message


def test_data_without_the_facet_fails_before_any_job_and_says_why(harness):
    result = harness.run(["approved,age,income,gender", "1,35,52000,0"])

    assert result.status == "FAILED" and result.error == BASELINE_FAILED
    assert result.states == ["PrepareAnalysis", "NotifyFailure", BASELINE_FAILED]
    ((subject, message),) = harness.messages()
    assert subject == f"{BASELINE_FAILED}: {BIAS}"
    assert message.startswith(f"{BASELINE_FAILED}: {RUN.label}: the {BIAS} baseline of s3://{BUCKET}/{DATA_KEY} "
                              "failed (InvalidBaselineData): "), message
    assert "bias_config.facet_name 'sex': not a feature of the headers ['age', 'income', 'gender']" in message
    assert boto3.client("sagemaker", region_name=REGION).list_processing_jobs()["ProcessingJobSummaries"] == []
    assert keys_under("monitoring-config/") == []


def test_a_failed_job_leaves_the_configuration_in_use_as_it_was(harness):
    assert harness.run(ROWS).status == "SUCCEEDED"
    live_before = read_s3(f"s3://{BUCKET}/{KEYS.live}")
    # New data with a fifth column: configured and staged, but Clarify's job fails.
    reason = "ClientError: Clarify could not reach the endpoint"
    result = harness.run([ROWS[0] + ",region", "1,35,52000,0,eu"], SageMakerScenario(baseline_failure=reason))

    assert result.status == "FAILED" and result.states == ["PrepareAnalysis", "Baseline", "NotifyFailure", BASELINE_FAILED]
    assert read_s3(f"s3://{BUCKET}/{KEYS.live}") == live_before
    staged = json.loads(read_s3(f"s3://{BUCKET}/{KEYS.staged}"))
    assert staged["headers"][-1] == "region"  # staged, never published
    assert reason in harness.messages()[-1][1]


def test_explainability_runs_the_same_steps_with_shap(harness):
    explain = ClarifyAnalysis(EXPLAINABILITY, (), "Regression", inference_attribute="0",
                              shap_config={"baseline": [[35, 52000, 0]], "num_samples": 10})
    keys = config_keys(ENDPOINT, EXPLAINABILITY)
    harness.deploy_clarify(BaselineRun(
        label="pipelines[8] (byom_model_explainability_monitor 'credit')", monitor_type=EXPLAINABILITY,
        data_key=DATA_KEY, output_uri=f"s3://{BUCKET}/baselines/credit/explainability", instance_type="ml.m5.large",
        volume_gb=20, max_runtime_seconds=3600, clarify=ClarifyBaseline(explain, *MODEL.__dict__.values(), keys)), short="me")
    result = harness.run(ROWS)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    live = json.loads(read_s3(f"s3://{BUCKET}/{keys.live}"))
    assert live["headers"] == ["age", "income", "sex"] and live["methods"]["shap"]["baseline"] == [[35, 52000, 0]]
    assert json.loads(read_s3(f"s3://{BUCKET}/baselines/credit/explainability/analysis.json"))["methods"] == ["shap"]
