"""Catalog monitor entries through the real program under mocks (program.catalog_monitoring, program.monitoring,
components.endpoint_monitoring, components.model_quality_monitoring).

The shipped catalog attaches a data quality and a model quality monitor to iris-xgboost's endpoint in staging
and prod: the entry's data quality monitor replaces the automatic one on that endpoint, both run under the
endpoint's one monitor role, and their baselines are the entry's baseline run's files. A monitor of an endpoint
that captures nothing stops the preview (exit 2) naming the entry. Bias / explainability entries:
tests/test_catalog_clarify_monitors.py."""

from __future__ import annotations

import json

import pytest

from components.endpoint_monitoring import METRICS_NAMESPACE
from components.model_quality_monitoring import METRICS_NAMESPACE as MODEL_METRICS
from program.settings import SettingsError
from tests.catalog.monitor_bodies import monitor_body
from tests.conftest import policy_statements
from tools.mockrun import run_program
from tools.tokens import Token

NATIVE_MODEL_QUALITY = "aws-native:sagemaker:ModelQualityJobDefinition"
ACCOUNTS = {"staging": "222222222222", "prod": "333333333333"}
MONITORED = ("staging", "prod")


def names(stack: str) -> tuple[str, str, str]:
    """(endpoint, stack bucket, entry baseline folder) of iris-xgboost in ``stack``."""
    bucket = f"mlops-{stack}-{ACCOUNTS[stack]}-eu-west-1"
    return f"mlops-{stack}-byom-iris-xgboost-endpoint", bucket, f"s3://{bucket}/baselines/iris-xgboost"


def part(run, token: str, suffix: str):
    return run.one(token, f"mlops-{run.stack}-byom-iris-xgboost-monitoring-{suffix}")


@pytest.mark.parametrize("stack", MONITORED)
def test_the_entrys_data_quality_monitor_replaces_the_automatic_one(stack_run, stack):
    run = stack_run(stack)
    endpoint, bucket, baselines = names(stack)
    key = run.one(Token.KMS_KEY).outputs["arn"]
    definitions = [d for d in run.by_type(Token.SAGEMAKER_DATA_QUALITY_JOB_DEFINITION)
                   if d.inputs["dataQualityJobInput"]["endpointInput"]["endpointName"] == endpoint]
    assert [d.inputs["name"] for d in definitions] == [f"mlops-{stack}-byom-iris-xgboost-data-quality"]
    definition = definitions[0].inputs
    assert definition["dataQualityBaselineConfig"] == {
        "statisticsResource": {"s3Uri": f"{baselines}/data-quality/statistics.json"},
        "constraintsResource": {"s3Uri": f"{baselines}/data-quality/constraints.json"}}
    assert definition["jobResources"] == {"clusterConfig": {
        "instanceType": "ml.m5.large", "instanceCount": 1, "volumeSizeInGb": 20, "volumeKmsKeyId": key}}
    assert definition["stoppingCondition"] == {"maxRuntimeInSeconds": 1800}
    assert definition["networkConfig"] == {"enableNetworkIsolation": True}
    assert definition["dataQualityJobOutputConfig"]["monitoringOutputs"]["s3Output"]["s3Uri"] == (
        f"s3://{bucket}/monitoring/{endpoint}/data-quality")
    schedule = part(run, Token.SAGEMAKER_MONITORING_SCHEDULE, "data-quality-schedule").inputs
    assert schedule["monitoringScheduleConfig"]["scheduleConfig"] == {"scheduleExpression": "cron(0 * ? * * *)"}
    listed = run.outputs["catalogEndpoints"]["iris-xgboost"]
    assert listed["monitoringScheduleName"] == f"mlops-{stack}-byom-iris-xgboost-data-quality"


@pytest.mark.parametrize("stack", MONITORED)
def test_the_model_quality_monitor_is_an_aws_native_job_definition_with_its_schedule(stack_run, stack):
    run = stack_run(stack)
    endpoint, bucket, baselines = names(stack)
    key = run.one(Token.KMS_KEY).outputs["arn"]
    role = part(run, Token.IAM_ROLE, "monitor-role")
    definition = part(run, NATIVE_MODEL_QUALITY, "model-quality").inputs
    monitor = f"mlops-{stack}-byom-iris-xgboost-model-quality"
    assert definition == {
        "jobDefinitionName": monitor, "roleArn": role.outputs["arn"], "endpointName": endpoint,
        "modelQualityAppSpecification": {"imageUri": definition["modelQualityAppSpecification"]["imageUri"],
                                         "problemType": "MulticlassClassification"},
        "modelQualityBaselineConfig": {"constraintsResource": {"s3Uri": f"{baselines}/model-quality/constraints.json"}},
        "modelQualityJobInput": {
            "endpointInput": {"endpointName": endpoint, "localPath": "/opt/ml/processing/input/endpoint",
                              "s3InputMode": "File", "s3DataDistributionType": "FullyReplicated",
                              "inferenceAttribute": "0"},
            "groundTruthS3Input": {"s3Uri": f"s3://{bucket}/ground-truth/iris-xgboost"}},
        "modelQualityJobOutputConfig": {"kmsKeyId": key, "monitoringOutputs": [{"s3Output": {
            "s3Uri": f"s3://{bucket}/monitoring/{endpoint}/model-quality", "localPath": "/opt/ml/processing/output",
            "s3UploadMode": "EndOfJob"}}]},
        "jobResources": {"clusterConfig": {"instanceType": "ml.m5.large", "instanceCount": 1, "volumeSizeInGb": 20,
                                           "volumeKmsKeyId": key}},
        "networkConfig": {"enableNetworkIsolation": True},
        "stoppingCondition": {"maxRuntimeInSeconds": 3600},
    }
    assert definition["modelQualityAppSpecification"]["imageUri"].endswith("/sagemaker-model-monitor-analyzer")
    schedule = part(run, Token.SAGEMAKER_MONITORING_SCHEDULE, "model-quality-schedule").inputs
    assert schedule["monitoringScheduleConfig"] == {
        "monitoringType": "ModelQuality", "monitoringJobDefinitionName": monitor,
        "scheduleConfig": {"scheduleExpression": "cron(0 0/6 ? * * *)"}}


@pytest.mark.parametrize("stack", MONITORED)
def test_the_model_quality_monitor_says_what_happened(stack_run, stack):
    run = stack_run(stack)
    endpoint, _, _ = names(stack)
    topic = run.outputs["notificationTopicArn"]
    schedule = part(run, Token.SAGEMAKER_MONITORING_SCHEDULE, "model-quality-schedule")
    alarm = part(run, Token.CLOUDWATCH_METRIC_ALARM, "model-quality-weighted_f1").inputs
    assert alarm["comparisonOperator"] == "LessThanLowerThreshold" and alarm["thresholdMetricId"] == "band"
    metric = next(q for q in alarm["metricQueries"] if q["id"] == "metric")["metric"]
    assert (metric["namespace"], metric["metricName"]) == (MODEL_METRICS, "weighted_f1") == (
        "aws/sagemaker/Endpoints/model-metrics", "weighted_f1")
    assert metric["dimensions"] == {"Endpoint": endpoint, "MonitoringSchedule": schedule.inputs["name"]}
    assert alarm["alarmActions"] == alarm["okActions"] == [topic]
    for outcome in ("failed", "violations"):
        rule = part(run, Token.CLOUDWATCH_EVENT_RULE, f"model-quality-{outcome}").inputs
        assert rule["name"] == f"mlops-{stack}-byom-iris-xgboost-model-quality-{outcome}"
        assert json.loads(rule["eventPattern"])["detail"]["MonitoringScheduleArn"] == [schedule.outputs["arn"]]
        target = part(run, Token.CLOUDWATCH_EVENT_TARGET, f"model-quality-{outcome}-target").inputs
        assert target["arn"] == topic
        message = json.loads(target["inputTransformer"]["inputTemplate"])
        assert message.startswith(f"Model monitor model-quality of endpoint {endpoint}: execution <job>")


@pytest.mark.parametrize("stack", MONITORED)
def test_one_role_per_endpoint_with_exactly_these_statements(stack_run, stack):
    """Both monitors of iris-xgboost's endpoint: its capture prefix, its ground truth prefix, the two baselines'
    files, its monitoring prefix, KMS through S3, both metric namespaces."""
    run = stack_run(stack)
    endpoint, bucket, baselines = names(stack)
    account, arn = ACCOUNTS[stack], f"arn:aws:s3:::{bucket}"
    folder = baselines.replace("s3://", "arn:aws:s3:::")
    key = run.one(Token.KMS_KEY).outputs["arn"]
    via_s3 = {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}
    allow = lambda sid, actions, resources, **condition: {  # noqa: E731
        "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **condition}
    roles = [r for r in run.by_type(Token.IAM_ROLE) if "iris-xgboost-monitor" in r.inputs["name"]]
    assert [r.inputs["name"] for r in roles] == [f"mlops-{stack}-byom-iris-xgboost-monitor"]
    policy = part(run, Token.IAM_ROLE_POLICY, "monitor-policy").inputs["policy"]
    assert policy_statements(policy) == [
        allow("ListCapturedData", ["s3:ListBucket"], [arn],
              Condition={"StringLike": {"s3:prefix": ["data-capture/iris-xgboost/*"]}}),
        allow("ReadCapturedData", ["s3:GetObject"], [f"{arn}/data-capture/iris-xgboost/*"]),
        allow("ListGroundTruth", ["s3:ListBucket"], [arn],
              Condition={"StringLike": {"s3:prefix": ["ground-truth/iris-xgboost/*"]}}),
        allow("ReadGroundTruth", ["s3:GetObject"], [f"{arn}/ground-truth/iris-xgboost/*"]),
        allow("ReadBaseline", ["s3:GetObject"], [f"{folder}/data-quality/statistics.json",
                                                 f"{folder}/data-quality/constraints.json",
                                                 f"{folder}/model-quality/constraints.json"]),
        allow("WriteReports", ["s3:PutObject"], [f"{arn}/monitoring/{endpoint}/*"]),
        allow("DecryptThroughS3", ["kms:Decrypt"], [key], Condition=via_s3),
        allow("EncryptReportsThroughS3", ["kms:GenerateDataKey"], [key], Condition=via_s3),
        allow("EncryptJobVolume", ["kms:CreateGrant"], [key], Condition={
            "StringEquals": {"kms:ViaService": "sagemaker.eu-west-1.amazonaws.com"},
            "Bool": {"kms:GrantIsForAWSResource": "true"}}),
        allow("WriteJobLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
              [f"arn:aws:logs:eu-west-1:{account}:log-group:/aws/sagemaker/ProcessingJobs:*"]),
        allow("PublishMonitorMetrics", ["cloudwatch:PutMetricData"], ["*"],
              Condition={"StringEquals": {"cloudwatch:namespace": [METRICS_NAMESPACE, MODEL_METRICS]}}),
    ]


def test_dev_gets_no_entry_monitor(stack_run):
    run = stack_run("dev")
    assert run.by_type(NATIVE_MODEL_QUALITY) == []
    assert run.by_type(Token.SAGEMAKER_MONITORING_SCHEDULE) == []


# ---------------------------------------------------------------------------------------------------
# @trained, and what stops the preview


def run_with(tmp_path, stack: str, *bodies, **overrides):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"pipelines": list(bodies)}))
    return run_program(stack, overrides={"catalogFile": str(path), "catalogPackages": "{}", **overrides})


def test_a_monitor_of_the_trained_endpoint_joins_its_monitoring(tmp_path):
    run = run_with(tmp_path, "staging", monitor_body("byom_model_quality_monitor", endpoint="@trained"))
    definition = run.one(NATIVE_MODEL_QUALITY, "mlops-staging-monitoring-model-quality").inputs
    assert definition["endpointName"] == "mlops-staging-endpoint"
    assert definition["jobDefinitionName"] == "mlops-staging-endpoint-model-quality"
    schedules = sorted(s.inputs["name"] for s in run.by_type(Token.SAGEMAKER_MONITORING_SCHEDULE))
    assert schedules == ["mlops-staging-endpoint-data-quality", "mlops-staging-endpoint-model-quality"]
    assert [r.inputs["name"] for r in run.by_type(Token.IAM_ROLE) if r.inputs["name"].endswith("-monitor")] == [
        "mlops-staging-endpoint-monitor"]


def test_a_monitor_of_an_endpoint_capturing_nothing_stops_the_preview(tmp_path):
    body = monitor_body("byom_data_quality_monitor", endpoint="@trained")
    with pytest.raises(SettingsError) as error:
        run_with(tmp_path, "staging", body, endpointDataCapturePercent="0", monitoringDataQuality="false")
    (problem,) = error.value.problems
    assert problem == (
        f"{tmp_path / 'catalog.json'}: pipelines[0] (byom_data_quality_monitor 'testmodel'): endpoint_name '@trained' is "
        "the stack's own endpoint, which captures no data in staging (endpointDataCapturePercent = 0), so every "
        "monitoring execution would fail with no data to analyse: capture a share of the requests (`pulumi config set "
        "endpointDataCapturePercent 20`, 1-100), or make the entry reach other environments")


def test_a_monitor_of_the_workflows_endpoint_stops_the_preview(tmp_path):
    records: list = []
    with pytest.raises(SettingsError) as error:
        run_program("dev", overrides={"catalogFile": str(_write(tmp_path, monitor_body(
            "byom_data_quality_monitor", endpoint="@trained"))), "catalogPackages": "{}"}, records=records)
    (problem,) = error.value.problems
    assert "endpoint_name '@trained' is the stack's own endpoint, which in dev belongs to the training workflow" in problem
    assert "give endpoint_name per environment naming only stacks deployed by promotion" in problem


def _write(tmp_path, *bodies):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"pipelines": list(bodies)}))
    return path


# ---------------------------------------------------------------------------------------------------
# Baselines: an upload of baseline_data makes the files the job definitions read


def test_a_binary_model_quality_baseline_gets_the_entrys_probability_threshold(tmp_path):
    run = run_with(tmp_path, "staging", monitor_body("byom_model_quality_monitor", "BinaryClassification",
                                                     endpoint="@trained"))
    machine = run.one(Token.SFN_STATE_MACHINE, "mlops-staging-monitoring-mq-baseline-state-machine")
    environment = json.loads(machine.inputs["definition"])["States"]["Baseline"]["Parameters"]["Environment"]
    assert {k: environment[k] for k in ("problem_type", "probability_attribute", "probability_threshold_attribute")} == {
        "problem_type": "BinaryClassification", "probability_attribute": "probability",
        "probability_threshold_attribute": "0.5"}


def baseline_part(run, short: str, suffix: str, token: str):
    return run.one(token, f"mlops-{run.stack}-byom-iris-xgboost-monitoring-{short}-baseline-{suffix}")


@pytest.mark.parametrize("stack", MONITORED)
@pytest.mark.parametrize(("short", "folder"), [("dq", "data-quality"), ("mq", "model-quality")])
def test_an_upload_of_baseline_data_starts_the_entrys_baseline_run(stack_run, stack, short, folder):
    run = stack_run(stack)
    _, bucket, baselines = names(stack)
    machine = baseline_part(run, short, "state-machine", Token.SFN_STATE_MACHINE)
    assert machine.inputs["name"] == f"mlops-{stack}-byom-iris-xgboost-{short}-baseline"
    rule = baseline_part(run, short, "rule", Token.CLOUDWATCH_EVENT_RULE).inputs
    assert json.loads(rule["eventPattern"]) == {
        "source": ["aws.s3"], "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket]}, "object": {"key": ["baselines/iris-xgboost/baseline.csv"]}}}
    target = baseline_part(run, short, "target", Token.CLOUDWATCH_EVENT_TARGET).inputs
    assert target["arn"] == machine.outputs["arn"]
    definition = json.loads(machine.inputs["definition"])
    job = definition["States"]["Baseline"]
    assert job["Resource"] == "arn:aws:states:::sagemaker:createProcessingJob.sync"
    params = job["Parameters"]
    assert params["AppSpecification"]["ImageUri"].endswith("/sagemaker-model-monitor-analyzer")
    assert params["ProcessingInputs"][0]["S3Input"]["S3Uri"] == f"s3://{bucket}/baselines/iris-xgboost/baseline.csv"
    assert params["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == f"{baselines}/{folder}"
    assert params["NetworkConfig"] == {"EnableNetworkIsolation": True}
    assert params["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    key = run.one(Token.KMS_KEY).outputs["arn"]
    assert params["ProcessingOutputConfig"]["KmsKeyId"] == params["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == key
    environment = params["Environment"]
    assert environment["dataset_format"] == '{"csv": {"header": true}}'
    if short == "mq":
        assert {k: environment[k] for k in ("analysis_type", "problem_type", "inference_attribute",
                                            "ground_truth_attribute")} == {
            "analysis_type": "MODEL_QUALITY", "problem_type": "MulticlassClassification",
            "inference_attribute": "prediction", "ground_truth_attribute": "label"}
    else:
        assert "analysis_type" not in environment
    # success notifies where the files are; a failed job notifies BaselineFailed with the cause, then fails
    states = definition["States"]
    assert (job["Next"], states["NotifySuccess"]["Next"], states["Succeeded"]["Type"]) == ("NotifySuccess", "Succeeded", "Succeed")
    assert job["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}]
    assert job["Retry"] == [{"ErrorEquals": ["SageMaker.AmazonSageMakerException"], "IntervalSeconds": 5,
                             "MaxAttempts": 3, "BackoffRate": 2}]  # throttled or refused calls, not a failed job
    assert states["NotifyFailure"]["Parameters"]["TopicArn"] == run.outputs["notificationTopicArn"]
    assert "$.error.Cause" in states["NotifyFailure"]["Parameters"]["Message.$"]
    assert "\\'iris-xgboost\\'" in states["NotifyFailure"]["Parameters"]["Message.$"]  # the label's quotes, escaped
    assert states["NotifyFailure"]["Next"] == "BaselineFailed" and states["BaselineFailed"]["Type"] == "Fail"


@pytest.mark.parametrize("stack", MONITORED)
def test_the_baseline_job_role_reads_only_the_data_and_writes_only_the_output(stack_run, stack):
    run = stack_run(stack)
    _, bucket, baselines = names(stack)
    key = run.one(Token.KMS_KEY).outputs["arn"]
    policy = baseline_part(run, "dq", "job-policy", Token.IAM_ROLE_POLICY).inputs["policy"]
    by_sid = {s["Sid"]: (s["Action"], s["Resource"]) for s in policy_statements(policy)}
    assert by_sid == {
        "ListBaselineData": (["s3:ListBucket"], [f"arn:aws:s3:::{bucket}"]),
        "ReadBaselineData": (["s3:GetObject"], [f"arn:aws:s3:::{bucket}/baselines/iris-xgboost/baseline.csv",
                                                f"arn:aws:s3:::{bucket}/baselines/iris-xgboost/baseline.csv/*"]),
        "WriteBaseline": (["s3:PutObject"], [baselines.replace("s3://", "arn:aws:s3:::") + "/data-quality/*"]),
        "DecryptThroughS3": (["kms:Decrypt"], [key]),
        "EncryptThroughS3": (["kms:GenerateDataKey"], [key]),
        "EncryptJobVolume": (["kms:CreateGrant"], [key]),
        "WriteJobLogs": (["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                         [f"arn:aws:logs:eu-west-1:{ACCOUNTS[stack]}:log-group:/aws/sagemaker/ProcessingJobs:*"]),
    }
    run_policy = baseline_part(run, "dq", "run-policy", Token.IAM_ROLE_POLICY).inputs["policy"]
    jobs = next(s for s in policy_statements(run_policy) if s["Sid"] == "RunBaselineJob")
    assert jobs["Resource"] == [f"arn:aws:sagemaker:eu-west-1:{ACCOUNTS[stack]}:processing-job/"
                                f"mlops-{stack}-byom-iris-xgboost-dq-baseline-*"]


def test_a_monitor_of_a_catalog_endpoint_not_served_here_is_skipped_with_it(tmp_path, monkeypatch):
    from tests.catalog.bodies import framework_body
    warnings: list[str] = []
    monkeypatch.setattr("pulumi.log.warn", lambda message, *a, **k: warnings.append(message))
    realtime = {**framework_body("byom_realtime_custom"), "model_name": "unserved"}  # no package in catalogPackages
    run = run_with(tmp_path, "staging", realtime, monitor_body("byom_model_quality_monitor"))
    assert run.by_type(NATIVE_MODEL_QUALITY) == []
    assert any("the catalog endpoint 'test-endpoint' is not served in staging" in w for w in warnings), warnings
