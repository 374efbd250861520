"""Model monitoring of the endpoint a stack deploys (its own, the trained model's), under mocks: the monitor, its role's exact
statements, its alarms and events, the registry's grants, and the baseline lookup."""

from __future__ import annotations

import json

import pytest

from components.endpoint_monitoring import METRICS_NAMESPACE, feature_columns
from program.monitoring import OFFLINE_RUN, package_baseline
from program.settings import Settings
from program.topology import registry_names
from tests.conftest import policy_statements
from tests.test_settings import raw_settings
from tools.tokens import Token

MONITORED = ("staging", "prod")
ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
REGISTRY_BUCKET = "mlops-dev-111111111111-eu-west-1"
BASELINE = f"s3://{REGISTRY_BUCKET}/workflow/baselines/{OFFLINE_RUN}"


def statements_of(run, policy_name):
    return policy_statements(run.one(Token.IAM_ROLE_POLICY, policy_name).inputs["policy"])


@pytest.mark.parametrize("stack", MONITORED)
def test_the_endpoint_has_a_data_quality_monitor_with_the_packages_baseline(stack_run, stack):
    run = stack_run(stack)
    account, endpoint = ACCOUNTS[stack], f"mlops-{stack}-endpoint"
    bucket = f"mlops-{stack}-{account}-eu-west-1"
    key = run.one(Token.KMS_KEY).outputs["arn"]
    definition = run.one(Token.SAGEMAKER_DATA_QUALITY_JOB_DEFINITION, f"mlops-{stack}-monitoring-data-quality").inputs
    assert definition["name"] == f"{endpoint}-data-quality"
    assert definition["dataQualityAppSpecification"] == {
        "imageUri": "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"}
    assert definition["dataQualityBaselineConfig"] == {
        "statisticsResource": {"s3Uri": f"{BASELINE}/statistics.json"},
        "constraintsResource": {"s3Uri": f"{BASELINE}/constraints.json"}}
    assert definition["dataQualityJobInput"]["endpointInput"]["endpointName"] == endpoint
    output = definition["dataQualityJobOutputConfig"]
    assert output["kmsKeyId"] == key
    assert output["monitoringOutputs"]["s3Output"]["s3Uri"] == f"s3://{bucket}/monitoring/{endpoint}/data-quality"
    assert definition["jobResources"] == {"clusterConfig": {
        "instanceType": "ml.m5.large", "instanceCount": 1, "volumeSizeInGb": 20, "volumeKmsKeyId": key}}
    assert definition["networkConfig"] == {"enableNetworkIsolation": True}
    assert definition["stoppingCondition"] == {"maxRuntimeInSeconds": 3600}
    role = run.one(Token.IAM_ROLE, f"mlops-{stack}-monitoring-monitor-role")
    assert definition["roleArn"] == role.outputs["arn"] and role.inputs["name"] == f"{endpoint}-monitor"
    schedule = run.one(Token.SAGEMAKER_MONITORING_SCHEDULE, f"mlops-{stack}-monitoring-data-quality-schedule").inputs
    assert schedule["monitoringScheduleConfig"] == {
        "monitoringType": "DataQuality", "monitoringJobDefinitionName": f"{endpoint}-data-quality",
        "scheduleConfig": {"scheduleExpression": "cron(0 * ? * * *)"}}
    assert run.outputs["monitoringReportUri"] == f"s3://{bucket}/monitoring/{endpoint}/data-quality"


def test_dev_has_no_monitor(stack_run):
    run = stack_run("dev")
    assert run.by_type(Token.SAGEMAKER_DATA_QUALITY_JOB_DEFINITION) == []
    assert run.by_type(Token.SAGEMAKER_MONITORING_SCHEDULE) == []
    assert "monitoringScheduleName" not in run.outputs


@pytest.mark.parametrize("stack", MONITORED)
def test_the_monitor_role_has_exactly_these_statements(stack_run, stack):
    """Reads only the endpoint's capture prefix and the baseline's two files, writes only its monitoring
    prefix, uses the keys through S3 (and lets SageMaker encrypt the job's volume)."""
    run = stack_run(stack)
    account, endpoint = ACCOUNTS[stack], f"mlops-{stack}-endpoint"
    bucket = f"arn:aws:s3:::mlops-{stack}-{account}-eu-west-1"
    key = run.one(Token.KMS_KEY).outputs["arn"]
    via_s3 = {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}
    allow = lambda sid, actions, resources, **condition: {  # noqa: E731
        "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **condition}
    assert statements_of(run, f"mlops-{stack}-monitoring-monitor-policy") == [
        allow("ListCapturedData", ["s3:ListBucket"], [bucket],
              Condition={"StringLike": {"s3:prefix": [f"data-capture/{endpoint}/*"]}}),
        allow("ReadCapturedData", ["s3:GetObject"], [f"{bucket}/data-capture/{endpoint}/*"]),
        allow("ReadBaseline", ["s3:GetObject"], [f"arn:aws:s3:::{REGISTRY_BUCKET}/workflow/baselines/{OFFLINE_RUN}/statistics.json",
                                                 f"arn:aws:s3:::{REGISTRY_BUCKET}/workflow/baselines/{OFFLINE_RUN}/constraints.json"]),
        allow("WriteReports", ["s3:PutObject"], [f"{bucket}/monitoring/{endpoint}/*"]),
        # The baseline is in the registry's account (dev), encrypted with its key.
        allow("DecryptThroughS3", ["kms:Decrypt"], [key, "arn:aws:kms:eu-west-1:111111111111:key/*"], Condition=via_s3),
        allow("EncryptReportsThroughS3", ["kms:GenerateDataKey"], [key], Condition=via_s3),
        allow("EncryptJobVolume", ["kms:CreateGrant"], [key], Condition={
            "StringEquals": {"kms:ViaService": "sagemaker.eu-west-1.amazonaws.com"},
            "Bool": {"kms:GrantIsForAWSResource": "true"}}),
        allow("WriteJobLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
              [f"arn:aws:logs:eu-west-1:{account}:log-group:/aws/sagemaker/ProcessingJobs:*"]),
        allow("PublishMonitorMetrics", ["cloudwatch:PutMetricData"], ["*"],
              Condition={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}}),
    ]
    (trust,) = policy_statements(run.one(Token.IAM_ROLE, f"mlops-{stack}-monitoring-monitor-role").inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}


@pytest.mark.parametrize("stack", MONITORED)
def test_drift_alarms_per_feature_go_to_the_topic(stack_run, stack):
    run = stack_run(stack)
    endpoint, topic = f"mlops-{stack}-endpoint", run.outputs["notificationTopicArn"]
    alarms = {a.inputs["metricName"]: a.inputs for a in run.by_type(Token.CLOUDWATCH_METRIC_ALARM)
              if a.inputs.get("namespace") == METRICS_NAMESPACE}
    assert sorted(alarms) == [f"feature_baseline_drift_{f}" for f in ("_c1", "_c2", "_c3", "_c4")]
    for metric, alarm in alarms.items():
        feature = metric.removeprefix("feature_baseline_drift_")
        assert alarm["name"] == f"{endpoint}-data-quality-drift-{feature}"
        assert alarm["dimensions"] == {"Endpoint": endpoint, "MonitoringSchedule": f"{endpoint}-data-quality"}
        assert (alarm["statistic"], alarm["comparisonOperator"], alarm["threshold"]) == ("Maximum", "GreaterThanThreshold", 0.1)
        assert alarm["alarmActions"] == alarm["okActions"] == [topic]
        assert f"{endpoint}: data-quality monitor: feature {feature} drifted" in alarm["alarmDescription"]
        assert f"/monitoring/{endpoint}/data-quality/" in alarm["alarmDescription"]


def test_feature_columns_follow_the_baselines_layout():
    assert feature_columns(2) == ("_c1", "_c2")


@pytest.mark.parametrize("stack", MONITORED)
def test_failed_and_violating_executions_are_announced_with_endpoint_type_and_links(stack_run, stack):
    run = stack_run(stack)
    endpoint, topic = f"mlops-{stack}-endpoint", run.outputs["notificationTopicArn"]
    schedule_arn = run.one(Token.SAGEMAKER_MONITORING_SCHEDULE, f"mlops-{stack}-monitoring-data-quality-schedule").outputs["arn"]
    rules = {r.inputs["name"]: json.loads(r.inputs["eventPattern"]) for r in run.by_type(Token.CLOUDWATCH_EVENT_RULE)
             if r.inputs["name"].startswith(f"{endpoint}-data-quality")}
    base = {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Processing Job State Change"]}
    assert rules == {
        f"{endpoint}-data-quality-failed": {**base, "detail": {
            "ProcessingJobStatus": ["Failed", "Stopped"], "MonitoringScheduleArn": [schedule_arn]}},
        f"{endpoint}-data-quality-violations": {**base, "detail": {
            "ProcessingJobStatus": ["Completed"], "ExitMessage": [{"prefix": "CompletedWithViolations"}],
            "MonitoringScheduleArn": [schedule_arn]}},
    }
    targets = [t.inputs for t in run.by_type(Token.CLOUDWATCH_EVENT_TARGET) if t.name.startswith(f"mlops-{stack}-monitoring-")]
    assert len(targets) == 2 and all(t["arn"] == topic for t in targets)
    failed = next(t for t in targets if "reason" in t["inputTransformer"]["inputPaths"])
    message = json.loads(failed["inputTransformer"]["inputTemplate"])
    assert message.startswith(f"Model monitor data-quality of endpoint {endpoint}: execution <job> ended <status>: <reason>.")
    assert "https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1#/processing-jobs/<job>" in message
    assert f"/monitoring/{endpoint}/data-quality/" in message


def test_the_registry_lets_exactly_the_targets_monitor_roles_read_baselines(stack_run):
    """Each target's own endpoint's monitor role and its real-time catalog entries' (iris-xgboost, iris-tree)."""
    run = stack_run("dev")
    roles = [f"arn:aws:iam::{ACCOUNTS[stack]}:role/{role}" for stack in MONITORED
             for role in (f"mlops-{stack}-endpoint-monitor", f"mlops-{stack}-byom-iris-xgboost-monitor",
                          f"mlops-{stack}-byom-iris-tree-monitor")]
    bucket = {s["Sid"]: s for s in policy_statements(run.one(Token.S3_BUCKET_POLICY).inputs["policy"])}
    read = bucket["PromotedMonitorsReadBaselines"]
    assert read["Action"] == "s3:GetObject" and read["Resource"].endswith("/workflow/baselines/*")
    assert read["Condition"] == {"ArnEquals": {"aws:PrincipalArn": roles}}
    key = {s["Sid"]: s for s in policy_statements(run.one(Token.KMS_KEY).inputs["policy"])}
    decrypt = key["PromotedMonitorsDecryptBaselines"]
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Condition"] == {"ArnEquals": {"aws:PrincipalArn": roles},
                                    "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}


def registry():
    return registry_names(Settings.from_raw(raw_settings("staging"), stack="staging"))


def test_the_baseline_is_the_one_the_package_carries(monkeypatch):
    monkeypatch.delenv("MLOPS_OFFLINE", raising=False)
    described = []
    package = {"DriftCheckBaselines": {"ModelDataQuality": {
        "Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/workflow/baselines/run/statistics.json"},
        "Constraints": {"ContentType": "application/json", "S3Uri": "s3://b/workflow/baselines/run/constraints.json"}}}}
    baseline = package_baseline("arn:pkg/4", registry(), lambda arn: described.append(arn) or package)
    assert described == ["arn:pkg/4"]
    assert baseline.statistics_uri == "s3://b/workflow/baselines/run/statistics.json"
    assert baseline.constraints_uri == "s3://b/workflow/baselines/run/constraints.json"


def test_a_package_without_a_baseline_has_none(monkeypatch):
    monkeypatch.delenv("MLOPS_OFFLINE", raising=False)
    assert package_baseline("arn:pkg/1", registry(), lambda arn: {"ModelPackageArn": arn}) is None


def test_offline_the_registry_is_not_asked(monkeypatch):
    monkeypatch.setenv("MLOPS_OFFLINE", "1")
    baseline = package_baseline("arn:pkg/4", registry())
    assert baseline.statistics_uri == f"{BASELINE}/statistics.json"
