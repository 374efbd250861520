"""Data quality monitors of the real-time catalog endpoints (program.catalog_realtime + program.monitoring),
under mocks: the same monitor as the trained model's endpoint, named after the entry, with its own role
reading only the entry's capture prefix and the served package's baseline, and no per-feature drift alarms
(the catalog does not know an entry's features: the rule on violating executions reports them).

iris-xgboost's endpoint has data and model quality monitor entries in staging and prod (mlops-config.json):
tests/test_catalog_monitor_entries.py; iris-tree's is monitored automatically (``AUTOMATIC``)."""

from __future__ import annotations

import json

import pytest

import program.monitoring
from components.endpoint_monitoring import METRICS_NAMESPACE
from components.names import EVENT_RULE_NAME_MAX, IAM_ROLE_NAME_MAX, SAGEMAKER_NAME_MAX, Names
from program.monitoring import OFFLINE_RUN
from tests.catalog.bodies import catalog, framework_body
from tests.conftest import policy_statements
from tools.mockrun import run_program
from tools.policy_runner import run_policy_pack
from tools.tokens import Token

MONITORED = ("staging", "prod")
ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
REGISTRY_BUCKET = "mlops-dev-111111111111-eu-west-1"
BASELINE = f"s3://{REGISTRY_BUCKET}/workflow/baselines/{OFFLINE_RUN}"
MODELS = ("iris-xgboost", "iris-tree")
AUTOMATIC = ("iris-tree",)
"""Endpoints monitored by the stack's monitoringDataQuality (iris-xgboost's has its own monitor entries)."""


def endpoint_of(stack: str, model: str) -> str:
    return {"iris-xgboost": f"mlops-{stack}-byom-iris-xgboost-endpoint", "iris-tree": f"mlops-{stack}-iris-tree-{stack}"}[model]


def monitoring_part(run, model: str, token: str, suffix: str):
    return run.one(token, f"mlops-{run.stack}-byom-{model}-monitoring-{suffix}")


def package(model: str) -> str:
    return f"arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-byom-{model}-models/1"


@pytest.mark.parametrize("stack", MONITORED)
@pytest.mark.parametrize("model", AUTOMATIC)
def test_each_catalog_endpoint_has_the_data_quality_monitor_of_the_trained_one(stack_run, stack, model):
    run = stack_run(stack)
    endpoint, bucket = endpoint_of(stack, model), f"mlops-{stack}-{ACCOUNTS[stack]}-eu-west-1"
    monitor = f"mlops-{stack}-byom-{model}-data-quality"
    key = run.one(Token.KMS_KEY).outputs["arn"]
    trained = run.one(Token.SAGEMAKER_DATA_QUALITY_JOB_DEFINITION, f"mlops-{stack}-monitoring-data-quality").inputs
    definition = monitoring_part(run, model, Token.SAGEMAKER_DATA_QUALITY_JOB_DEFINITION, "data-quality").inputs
    assert definition["name"] == monitor
    assert definition["dataQualityJobInput"]["endpointInput"]["endpointName"] == endpoint
    assert definition["dataQualityBaselineConfig"] == {
        "statisticsResource": {"s3Uri": f"{BASELINE}/statistics.json"},
        "constraintsResource": {"s3Uri": f"{BASELINE}/constraints.json"}}
    output = definition["dataQualityJobOutputConfig"]
    assert output["kmsKeyId"] == key
    assert output["monitoringOutputs"]["s3Output"]["s3Uri"] == f"s3://{bucket}/monitoring/{endpoint}/data-quality"
    for same in ("dataQualityAppSpecification", "jobResources", "networkConfig", "stoppingCondition"):
        assert definition[same] == trained[same], same
    role = monitoring_part(run, model, Token.IAM_ROLE, "monitor-role")
    assert role.inputs["name"] == f"mlops-{stack}-byom-{model}-monitor"
    assert definition["roleArn"] == role.outputs["arn"]
    schedule = monitoring_part(run, model, Token.SAGEMAKER_MONITORING_SCHEDULE, "data-quality-schedule").inputs
    assert schedule["monitoringScheduleConfig"] == {
        "monitoringType": "DataQuality", "monitoringJobDefinitionName": monitor,
        "scheduleConfig": {"scheduleExpression": "cron(0 * ? * * *)"}}
    listed = run.outputs["catalogEndpoints"][model]
    assert listed["monitoringScheduleName"] == monitor
    assert listed["monitoringReportUri"] == f"s3://{bucket}/monitoring/{endpoint}/data-quality"


@pytest.mark.parametrize("stack", MONITORED)
def test_the_catalog_monitor_role_has_exactly_these_statements(stack_run, stack):
    """iris-tree: reads only its data_capture_location (data-capture/iris-tree of the stack bucket) and the
    baseline's two files, writes only monitoring/<its endpoint>/."""
    run = stack_run(stack)
    account, endpoint = ACCOUNTS[stack], endpoint_of(stack, "iris-tree")
    bucket = f"arn:aws:s3:::mlops-{stack}-{account}-eu-west-1"
    key = run.one(Token.KMS_KEY).outputs["arn"]
    via_s3 = {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}
    allow = lambda sid, actions, resources, **condition: {  # noqa: E731
        "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **condition}
    policy = monitoring_part(run, "iris-tree", Token.IAM_ROLE_POLICY, "monitor-policy").inputs["policy"]
    assert policy_statements(policy) == [
        allow("ListCapturedData", ["s3:ListBucket"], [bucket],
              Condition={"StringLike": {"s3:prefix": ["data-capture/iris-tree/*"]}}),
        allow("ReadCapturedData", ["s3:GetObject"], [f"{bucket}/data-capture/iris-tree/*"]),
        allow("ReadBaseline", ["s3:GetObject"], [f"arn:aws:s3:::{REGISTRY_BUCKET}/workflow/baselines/{OFFLINE_RUN}/statistics.json",
                                                 f"arn:aws:s3:::{REGISTRY_BUCKET}/workflow/baselines/{OFFLINE_RUN}/constraints.json"]),
        allow("WriteReports", ["s3:PutObject"], [f"{bucket}/monitoring/{endpoint}/*"]),
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
    (trust,) = policy_statements(monitoring_part(run, "iris-tree", Token.IAM_ROLE, "monitor-role").inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}


@pytest.mark.parametrize("stack", MONITORED)
def test_catalog_endpoints_report_violations_and_failures_without_per_feature_alarms(stack_run, stack):
    run = stack_run(stack)
    topic = run.outputs["notificationTopicArn"]
    drift_dimensions = {a.inputs["dimensions"]["Endpoint"] for a in run.by_type(Token.CLOUDWATCH_METRIC_ALARM)
                        if a.inputs.get("namespace") == METRICS_NAMESPACE}
    assert drift_dimensions == {f"mlops-{stack}-endpoint"}  # the trained model's only: its features are known
    for model in MODELS:
        schedule_arn = monitoring_part(run, model, Token.SAGEMAKER_MONITORING_SCHEDULE, "data-quality-schedule").outputs["arn"]
        for outcome in ("failed", "violations"):
            rule = monitoring_part(run, model, Token.CLOUDWATCH_EVENT_RULE, f"data-quality-{outcome}").inputs
            assert rule["name"] == f"mlops-{stack}-byom-{model}-data-quality-{outcome}"
            assert json.loads(rule["eventPattern"])["detail"]["MonitoringScheduleArn"] == [schedule_arn]
            target = monitoring_part(run, model, Token.CLOUDWATCH_EVENT_TARGET, f"data-quality-{outcome}-target").inputs
            assert target["arn"] == topic
            message = json.loads(target["inputTransformer"]["inputTemplate"])
            assert message.startswith(f"Model monitor data-quality of endpoint {endpoint_of(stack, model)}: execution <job>")
            assert f"/monitoring/{endpoint_of(stack, model)}/data-quality/" in message


def test_dev_monitors_no_catalog_endpoint(stack_run):
    run = stack_run("dev")
    assert run.by_type(Token.SAGEMAKER_MONITORING_SCHEDULE) == []
    assert all("monitoringScheduleName" not in e for e in run.outputs["catalogEndpoints"].values())


def test_an_entrys_kms_key_decrypts_its_captured_data(tmp_path):
    body = framework_body("byom_realtime_custom")
    key = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    body["kms_key_arn"] = key
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog(body)))
    run = run_program("staging", overrides={"catalogFile": str(path),
                                            "catalogPackages": json.dumps({"testmodel": package("testmodel")})})
    stack_key = run.one(Token.KMS_KEY).outputs["arn"]
    by_sid = {s["Sid"]: s for s in policy_statements(
        monitoring_part(run, "testmodel", Token.IAM_ROLE_POLICY, "monitor-policy").inputs["policy"])}
    assert by_sid["DecryptThroughS3"]["Resource"] == [stack_key, key, "arn:aws:kms:eu-west-1:111111111111:key/*"]
    assert by_sid["ReadCapturedData"]["Resource"] == ["arn:aws:s3:::bucket/datacapture/*"]
    assert run_policy_pack(run.resources, stack="staging") == []


def test_a_served_package_without_a_baseline_gets_no_monitor_and_the_pack_says_so(run_stack, monkeypatch):
    """Uploaded before baselines were made: the warning names the package; staging's pack refuses the endpoint."""
    real = program.monitoring.package_baseline
    monkeypatch.setattr(program.monitoring, "package_baseline",
                        lambda arn, registry, describe=None: None if arn == package("iris-tree") else real(arn, registry, describe))
    run = run_stack("staging")
    schedules = sorted(s.inputs["name"] for s in run.by_type(Token.SAGEMAKER_MONITORING_SCHEDULE))
    assert schedules == ["mlops-staging-byom-iris-xgboost-data-quality", "mlops-staging-byom-iris-xgboost-model-quality",
                         "mlops-staging-endpoint-data-quality"]
    assert "monitoringScheduleName" not in run.outputs["catalogEndpoints"]["iris-tree"]
    assert [(v["policy"], v["name"]) for v in run_policy_pack(run.resources, stack="staging")] == [
        ("aws-sagemaker-endpoint-missing-data-quality-monitor", "mlops-staging-byom-iris-tree-endpoint-endpoint")]


def test_catalog_monitor_names_stay_within_limits_and_apart():
    names = Names("mlops", "staging", "222222222222", "eu-west-1")
    long_a, long_b = "m" * 62 + "a", "m" * 62 + "b"  # model names: at most 63 characters
    monitors = [names.catalog_monitor(m) for m in (long_a, long_b, "iris-tree")]
    for m in monitors:
        assert len(m.role) <= IAM_ROLE_NAME_MAX and m.role.startswith("mlops-staging-byom-")
        assert len(m.monitor("data-quality")) <= SAGEMAKER_NAME_MAX
        assert all(len(m.rule("data-quality", o)) <= EVENT_RULE_NAME_MAX for o in ("failed", "violations"))
    assert len({m.role for m in monitors}) == len({m.monitor("data-quality") for m in monitors}) == 3
    assert len({m.rule("data-quality", "violations") for m in monitors}) == 3
    assert names.catalog_monitor("iris-tree").monitor("data-quality") == names.catalog_name("iris-tree", "data-quality")
    trained = names.endpoint_monitor
    assert (trained.role, trained.monitor("data-quality"), trained.rule("data-quality", "failed")) == (
        "mlops-staging-endpoint-monitor", "mlops-staging-endpoint-data-quality", "mlops-staging-endpoint-data-quality-failed")
