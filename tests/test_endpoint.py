"""ModelEndpoint per stack under mocks: settings, data capture, autoscaling, alarms, blue/green, IAM."""

from __future__ import annotations

import json

import pytest

from program.settings import Settings
from program.topology import stack_names
from tests.conftest import as_list, policy_statements
from tests.test_settings import raw_settings
from tools.tokens import Token

MODEL = Token.SAGEMAKER_MODEL
CONFIG = Token.SAGEMAKER_ENDPOINT_CONFIGURATION
ENDPOINT = Token.SAGEMAKER_ENDPOINT
TARGET = Token.APPAUTOSCALING_TARGET
SCALING = Token.APPAUTOSCALING_POLICY
ALARM = Token.CLOUDWATCH_METRIC_ALARM
ROLE = Token.IAM_ROLE
ROLE_POLICY = Token.IAM_ROLE_POLICY
PROMOTED = ("staging", "prod")


def cfg(run, key):
    return run.config[f"mlops:{key}"]


TRAINED_PARTS = {ENDPOINT: "endpoint", CONFIG: "config", MODEL: "model", TARGET: "scaling-target", SCALING: "scaling-policy"}


def trained(run, token):
    """The trained model's endpoint resource of this type (catalog entries have endpoints of their own)."""
    return run.one(token, f"mlops-{run.stack}-endpoint-{TRAINED_PARTS[token]}")


def trained_parts(run, token):
    return [r for r in run.by_type(token) if r.name == f"mlops-{run.stack}-endpoint-{TRAINED_PARTS[token]}"]


def statements_of(run, policy_name):
    return {s["Sid"]: s for s in policy_statements(run.one(ROLE_POLICY, policy_name).inputs["policy"])}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_endpoint_name_is_stable_and_per_stack(stack):
    settings = Settings.from_raw(raw_settings(stack), stack=stack)
    assert stack_names(settings).endpoint == f"mlops-{stack}-endpoint"


def test_dev_endpoint_belongs_to_the_workflow_not_to_pulumi(stack_run):
    dev = stack_run("dev")
    assert not trained_parts(dev, ENDPOINT) and not trained_parts(dev, CONFIG) and not trained_parts(dev, MODEL)
    assert dev.outputs["endpointName"] == "mlops-dev-endpoint"


@pytest.mark.parametrize("stack", PROMOTED)
def test_promoted_stacks_serve_the_pinned_package_on_their_stable_endpoint(stack_run, stack):
    run = stack_run(stack)
    endpoint = trained(run, ENDPOINT)
    assert endpoint.inputs["name"] == f"mlops-{stack}-endpoint"
    config = trained(run, CONFIG)
    assert endpoint.inputs["endpointConfigName"] == config.outputs["name"]
    (variant,) = config.inputs["productionVariants"]
    model = trained(run, MODEL)
    assert variant["modelName"] == model.outputs["name"]
    assert variant["instanceType"] == cfg(run, "endpointInstanceType")
    assert variant["initialInstanceCount"] == int(cfg(run, "endpointInstanceCount"))
    assert model.inputs["primaryContainer"]["modelPackageName"] == cfg(run, "modelPackageArn")
    assert run.outputs["modelPackageArn"] == cfg(run, "modelPackageArn")
    key = run.outputs["kmsKeyArn"]
    assert config.inputs["kmsKeyArn"] == key


@pytest.mark.parametrize("stack", PROMOTED)
def test_data_capture_goes_to_the_stack_bucket_with_the_configured_percentage(stack_run, stack):
    run = stack_run(stack)
    capture = trained(run, CONFIG).inputs["dataCaptureConfig"]
    assert capture["enableCapture"] is True
    assert capture["initialSamplingPercentage"] == int(cfg(run, "endpointDataCapturePercent"))
    assert capture["destinationS3Uri"] == f"s3://{run.outputs['bucketName']}/data-capture/mlops-{stack}-endpoint"
    assert capture["kmsKeyId"] == run.outputs["kmsKeyArn"]
    assert [o["captureMode"] for o in capture["captureOptions"]] == ["Input", "Output"]
    write = statements_of(run, f"mlops-{stack}-endpoint-model-policy")["WriteCapturedData"]
    assert write["Action"] == ["s3:PutObject"]
    assert write["Resource"] == [f"arn:aws:s3:::{run.outputs['bucketName']}/data-capture/mlops-{stack}-endpoint/*"]
    encrypt = statements_of(run, f"mlops-{stack}-endpoint-model-policy")["EncryptCapturedData"]
    assert encrypt["Resource"] == [run.outputs["kmsKeyArn"]]
    assert encrypt["Condition"] == {"StringEquals": {"kms:ViaService": ["s3.eu-west-1.amazonaws.com"]}}
    assert int(cfg(stack_run("staging"), "endpointDataCapturePercent")) != \
        int(cfg(stack_run("prod"), "endpointDataCapturePercent"))


def test_data_capture_is_off_at_zero_percent(run_stack):
    # A monitor of an endpoint that captures nothing is refused (tests/test_settings_monitoring.py): turn it off too.
    run = run_stack("staging", overrides={"endpointDataCapturePercent": "0", "monitoringDataQuality": "false"})
    assert "dataCaptureConfig" not in trained(run, CONFIG).inputs
    statements = statements_of(run, "mlops-staging-endpoint-model-policy")
    assert "WriteCapturedData" not in statements and "EncryptCapturedData" not in statements


@pytest.mark.parametrize("stack", PROMOTED)
def test_autoscaling_tracks_invocations_per_instance_between_configured_bounds(stack_run, stack):
    run = stack_run(stack)
    target = trained(run, TARGET)
    assert target.inputs["serviceNamespace"] == "sagemaker"
    assert target.inputs["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert target.inputs["resourceId"] == f"endpoint/mlops-{stack}-endpoint/variant/AllTraffic"
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == \
        (int(cfg(run, "endpointMinCapacity")), int(cfg(run, "endpointMaxCapacity")))
    policy = trained(run, SCALING)
    assert policy.inputs["policyType"] == "TargetTrackingScaling"
    assert policy.inputs["resourceId"] == target.inputs["resourceId"]
    tracking = policy.inputs["targetTrackingScalingPolicyConfiguration"]
    assert tracking["predefinedMetricSpecification"]["predefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert tracking["targetValue"] > 0


def test_no_autoscaling_when_min_equals_max(run_stack):
    run = run_stack("staging", overrides={"endpointMinCapacity": "2", "endpointMaxCapacity": "2"})
    assert not trained_parts(run, TARGET) and not trained_parts(run, SCALING)


@pytest.mark.parametrize("stack", PROMOTED)
def test_alarms_watch_5xx_errors_and_model_latency_and_notify_the_topic(stack_run, stack):
    run = stack_run(stack)
    alarms = {a.inputs["metricName"]: a.inputs for a in run.by_type(ALARM)
              if a.parent_name == f"mlops-{stack}-endpoint"}
    assert set(alarms) == {"Invocation5XXErrors", "ModelLatency"}
    for alarm in alarms.values():
        assert alarm["namespace"] == "AWS/SageMaker"
        assert alarm["dimensions"] == {"EndpointName": f"mlops-{stack}-endpoint", "VariantName": "AllTraffic"}
        assert alarm["alarmActions"] == [run.outputs["notificationTopicArn"]]
    assert alarms["Invocation5XXErrors"]["statistic"] == "Sum" and alarms["Invocation5XXErrors"]["threshold"] == 0
    assert alarms["ModelLatency"]["threshold"] == 1_000_000  # microseconds: 1 s


def test_blue_green_canary_with_alarm_rollback_only_in_prod(stack_run):
    prod = trained(stack_run("prod"), ENDPOINT).inputs
    assert stack_run("prod").config["mlops:endpointDeploymentStrategy"] == "canary"
    routing = prod["deploymentConfig"]["blueGreenUpdatePolicy"]["trafficRoutingConfiguration"]
    assert routing["type"] == "CANARY" and routing["canarySize"] == {"type": "INSTANCE_COUNT", "value": 1}
    rollback = [a["alarmName"] for a in prod["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]]
    alarm_names = sorted(a.inputs["name"] for a in stack_run("prod").by_type(ALARM)
                         if a.parent_name == "mlops-prod-endpoint")
    assert sorted(rollback) == alarm_names == ["mlops-prod-endpoint-5xx-errors", "mlops-prod-endpoint-model-latency"]
    assert "deploymentConfig" not in trained(stack_run("staging"), ENDPOINT).inputs


def test_linear_strategy_shifts_traffic_in_steps(run_stack):
    run = run_stack("staging", overrides={"endpointDeploymentStrategy": "linear"})
    routing = trained(run, ENDPOINT).inputs["deploymentConfig"]["blueGreenUpdatePolicy"]["trafficRoutingConfiguration"]
    assert routing["type"] == "LINEAR" and routing["linearStepSize"]["type"] == "CAPACITY_PERCENT"


def test_a_new_package_changes_the_model_but_not_the_endpoint_name(run_stack, stack_run):
    package = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-models/9"
    run = run_stack("staging", overrides={"modelPackageArn": package})
    assert trained(run, MODEL).inputs["primaryContainer"]["modelPackageName"] == package
    assert trained(run, ENDPOINT).inputs["name"] == trained(stack_run("staging"), ENDPOINT).inputs["name"]
    assert run.outputs["inferenceUrl"] == stack_run("staging").outputs["inferenceUrl"]


def test_only_the_prod_endpoint_is_protected(stack_run):
    assert trained(stack_run("prod"), ENDPOINT).protect
    assert not trained(stack_run("prod"), MODEL).protect and not trained(stack_run("prod"), CONFIG).protect
    assert not trained(stack_run("staging"), ENDPOINT).protect


@pytest.mark.parametrize("stack", PROMOTED)
def test_model_role_reads_only_the_registry_and_writes_only_its_own_logs(stack_run, stack):
    run = stack_run(stack)
    role = run.one(ROLE, f"mlops-{stack}-endpoint-model-role")
    (trust,) = policy_statements(role.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    account = json.loads(cfg(run, "allowedAccountIds"))[0]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    s = statements_of(run, f"mlops-{stack}-endpoint-model-policy")
    assert s["PullModelImage"]["Resource"] == ["arn:aws:ecr:eu-west-1:111111111111:repository/mlops-*"]
    assert s["ReadModelArtifacts"]["Resource"] == ["arn:aws:s3:::mlops-dev-111111111111-eu-west-1/workflow/*"]
    assert s["DecryptModelArtifacts"]["Condition"] == {"StringEquals": {"kms:ViaService": [
        "s3.eu-west-1.amazonaws.com", "ecr.eu-west-1.amazonaws.com"]}}
    assert s["WriteLogs"]["Resource"] == [
        f"arn:aws:logs:eu-west-1:{account}:log-group:/aws/sagemaker/Endpoints/mlops-{stack}-endpoint:*"]
    wildcard = {sid for sid, st in s.items() if "*" in as_list(st["Resource"])}
    assert wildcard == {"EcrLogin", "PublishMetrics"}  # no resource-level permissions exist for these


def test_staging_lets_the_promotion_tests_invoke_its_endpoint_and_nothing_else(stack_run):
    run = stack_run("staging")
    role = run.one(ROLE, "mlops-staging-endpoint-tester-role")
    assert role.inputs["name"] == "mlops-staging-endpoint-tester"
    (trust,) = policy_statements(role.inputs["assumeRolePolicy"])
    assert trust == {"Effect": "Allow", "Action": "sts:AssumeRole",
                     "Principal": {"AWS": "arn:aws:iam::111111111111:role/mlops-dev-promotion-tests"}}
    s = statements_of(run, "mlops-staging-endpoint-tester-policy")
    assert s["InvokeEndpoint"]["Action"] == ["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"]
    assert s["InvokeEndpoint"]["Resource"] == ["arn:aws:sagemaker:eu-west-1:222222222222:endpoint/mlops-staging-endpoint"]
    assert not [r for r in stack_run("prod").by_type(ROLE) if r.name.endswith("-tester-role")]
