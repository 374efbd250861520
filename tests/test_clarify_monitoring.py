"""Clarify monitors (components/clarify_monitoring.py) of the staging endpoint under mocks: where the analysis
configuration is (written by the baseline run), each role's exact statements, the aws-native job definitions, the schedules, the alarms
and the execution rules; and the pure pieces (components/clarify_config.py): the analysis configurations, the
endpoint attributes, the baseline job and every problem of bad input at once."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from components.clarify_config import (
    BIAS,
    EXPLAINABILITY,
    ClarifyAnalysis,
    ShadowModel,
    analysis_problems,
    baseline_analysis_config,
    monitoring_analysis_config,
)
from components.clarify_monitoring import (
    METRICS_NAMESPACES,
    ClarifyAlarm,
    ClarifyMonitoring,
    ClarifyMonitoringArgs,
    config_keys,
)
from program.compose import shared_context
from program.images import clarify_image_uri
from tests.conftest import policy_statements
from tools.mockrun import run_components
from tools.tokens import Token

ACCOUNT, REGION = "222222222222", "eu-west-1"
ENDPOINT = "mlops-staging-endpoint"
BUCKET = f"mlops-staging-{ACCOUNT}-{REGION}"
CAPTURE = f"s3://{BUCKET}/data-capture/{ENDPOINT}"
GROUND_TRUTH = "s3://mlops-labels/ground-truth/credit"
BASELINES = "s3://mlops-dev-111111111111-eu-west-1/workflow/clarify"
REGISTRY_KEY = "arn:aws:kms:eu-west-1:111111111111:key/*"
IMAGE = "131013547314.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-clarify-processing:1.0"
HEADERS = ("approved", "age", "income", "sex")
SHADOW = ShadowModel("mlops-staging-endpoint-model-0000", "ml.c5.xlarge", "mlops-staging-clarify")

BIAS_ANALYSIS = ClarifyAnalysis(
    BIAS, HEADERS, "BinaryClassification",
    bias_config={"label_values_or_threshold": [1], "facet_name": "sex", "facet_values_or_threshold": [0],
                 "group_name": "age"},
    model_predicted_label_config={"probability": 0, "probability_threshold": 0.6})
EXPLAIN_ANALYSIS = ClarifyAnalysis(
    EXPLAINABILITY, HEADERS, "BinaryClassification", inference_attribute="0",
    shap_config={"baseline": f"{BASELINES}/shap-baseline.csv", "num_samples": 100, "agg_method": "mean_abs",
                 "save_local_shap_values": False})


def build(settings):
    ctx, _, _ = shared_context(settings)
    monitors = {}
    for kind, analysis, truth in ((BIAS, BIAS_ANALYSIS, GROUND_TRUTH), (EXPLAINABILITY, EXPLAIN_ANALYSIS, None)):
        monitors[kind] = ClarifyMonitoring(f"clarify-{kind}", ClarifyMonitoringArgs(
            ctx, endpoint=ENDPOINT, monitors=ctx.names.endpoint_monitor, capture_uri=CAPTURE, analysis=analysis,
            constraints_uri=f"{BASELINES}/{kind}/analysis.json", image_uri=clarify_image_uri(settings.region),
            spec=settings.monitoring.spec, ground_truth_uri=truth, keys=(REGISTRY_KEY,)), opts=ctx.opts)
    return {f"{kind}_{output}": getattr(monitor, output) for kind, monitor in monitors.items()
            for output in ("config_uri", "report_uri", "schedule_name", "role_arn")}


@pytest.fixture(scope="module")
def run():
    return run_components("staging", build)


def test_the_clarify_image_comes_from_sagemaker_core():
    assert clarify_image_uri(REGION) == IMAGE


# --- the analysis configuration ------------------------------------------------------------------------


def test_the_bias_configuration_is_clarifys_monitoring_format():
    assert monitoring_analysis_config(BIAS_ANALYSIS, SHADOW) == {
        "version": "1.0", "headers": list(HEADERS), "label": "approved", "label_values_or_threshold": [1],
        "facet": [{"name_or_index": "sex", "value_or_threshold": [0]}], "group_variable": "age"}


def test_the_explainability_configuration_names_the_features_shap_and_the_served_model_on_a_shadow_endpoint():
    assert monitoring_analysis_config(EXPLAIN_ANALYSIS, SHADOW) == {
        "version": "1.0", "headers": ["age", "income", "sex"],
        "methods": {"shap": {"baseline": f"{BASELINES}/shap-baseline.csv", "num_samples": 100,
                             "agg_method": "mean_abs", "save_local_shap_values": False}},
        # the label column comes from monitor_inference_attribute ("0"), as the monitor reads it
        # never the served endpoint: its data capture would record SHAP's synthetic records
        "predictor": {"model_name": "mlops-staging-endpoint-model-0000", "instance_type": "ml.c5.xlarge",
                      "initial_instance_count": 1, "endpoint_name_prefix": "mlops-staging-clarify",
                      "content_type": "text/csv", "accept_type": "text/csv", "label": 0}}


def test_the_predictor_reads_the_output_as_the_monitor_does_and_paths_stay_text():
    analysis = replace(BIAS_ANALYSIS, inference_attribute="predicted.label")  # model_predicted_label_config: probability 0
    predictor = baseline_analysis_config(analysis, SHADOW)["predictor"]
    assert (predictor["label"], predictor["probability"]) == ("predicted.label", 0)
    assert analysis.endpoint_attributes()["inference_attribute"] == "predicted.label"
    overridden = replace(analysis, probability_attribute="3")  # the monitor's attribute first, as endpoint_attributes
    assert baseline_analysis_config(overridden, SHADOW)["predictor"]["probability"] == 3
    assert overridden.endpoint_attributes()["probability_attribute"] == "3"


def test_several_facets_each_get_their_values():
    analysis = replace(BIAS_ANALYSIS, bias_config={"label_values_or_threshold": [1], "facet_name": ["sex", "age"],
                                                   "facet_values_or_threshold": [[0], [40]]})
    assert monitoring_analysis_config(analysis, SHADOW)["facet"] == [
        {"name_or_index": "sex", "value_or_threshold": [0]}, {"name_or_index": "age", "value_or_threshold": [40]}]


def test_the_configuration_is_the_baseline_runs_to_write_not_the_programs(run):
    # It needs the baseline dataset's header row: components/monitor_baseline.py writes it (config_keys).
    assert run.by_type(Token.S3_BUCKET_OBJECTV2) == []
    for kind in (BIAS, EXPLAINABILITY):
        keys = config_keys(ENDPOINT, kind)
        assert keys.live == f"monitoring-config/{ENDPOINT}/{kind}/analysis_config.json"
        assert (keys.staged, keys.baseline) == (f"monitoring-config/{ENDPOINT}/{kind}/baseline/monitoring_analysis_config.json",
                                                f"monitoring-config/{ENDPOINT}/{kind}/baseline/analysis_config.json")
        assert run.outputs[f"{kind}_config_uri"] == f"s3://{BUCKET}/{keys.live}"
        prefix = "modelBias" if kind == BIAS else "modelExplainability"
        assert definition(run, kind).inputs[f"{prefix}AppSpecification"]["configUri"] == f"s3://{BUCKET}/{keys.live}"


def test_without_headers_only_what_needs_them_is_left_unchecked():
    unchecked = replace(BIAS_ANALYSIS, headers=(), bias_config={"label_values_or_threshold": [1], "facet_name": "nope"})
    assert analysis_problems(unchecked) == []
    assert analysis_problems(replace(unchecked, headers=HEADERS)) == [
        "bias_config.facet_name 'nope': not a feature of the headers ['age', 'income', 'sex']"]
    assert analysis_problems(replace(unchecked, problem_type="Ranking")) == [
        "problem_type 'Ranking': must be one of Regression, BinaryClassification, MulticlassClassification"]


# --- the job definitions and schedules ---------------------------------------------------------------


def definition(run, kind):
    token = Token.NATIVE_SAGEMAKER_MODEL_BIAS_JOB_DEFINITION if kind == BIAS else \
        Token.NATIVE_SAGEMAKER_MODEL_EXPLAINABILITY_JOB_DEFINITION
    return run.one(token, f"clarify-{kind}-definition")


@pytest.mark.parametrize("kind", [BIAS, EXPLAINABILITY])
def test_the_job_definition_runs_clarify_on_the_endpoint_with_kms_and_a_runtime_bias_isolated(run, kind):
    key = run.one(Token.KMS_KEY).outputs["arn"]
    inputs = definition(run, kind).inputs
    prefix = "modelBias" if kind == BIAS else "modelExplainability"
    assert inputs["jobDefinitionName"] == f"{ENDPOINT}-{kind}"
    assert inputs[f"{prefix}AppSpecification"] == {
        "imageUri": IMAGE, "configUri": f"s3://{BUCKET}/monitoring-config/{ENDPOINT}/{kind}/analysis_config.json",
        "environment": {"publish_cloudwatch_metrics": "Enabled"}}
    assert inputs[f"{prefix}BaselineConfig"] == {"constraintsResource": {"s3Uri": f"{BASELINES}/{kind}/analysis.json"}}
    assert inputs[f"{prefix}JobOutputConfig"] == {"kmsKeyId": key, "monitoringOutputs": [{"s3Output": {
        "s3Uri": f"s3://{BUCKET}/monitoring/{ENDPOINT}/{kind}", "localPath": "/opt/ml/processing/output",
        "s3UploadMode": "EndOfJob"}}]}
    assert inputs["jobResources"] == {"clusterConfig": {
        "instanceType": "ml.m5.large", "instanceCount": 1, "volumeSizeInGb": 20, "volumeKmsKeyId": key}}
    # bias needs no model call; explainability asks the model (AWS: isolation must be off for Clarify to call it)
    assert inputs["networkConfig"] == {"enableNetworkIsolation": kind == BIAS}
    assert inputs["stoppingCondition"] == {"maxRuntimeInSeconds": 3600}
    role = run.one(Token.IAM_ROLE, f"clarify-{kind}-monitor-role")
    assert inputs["roleArn"] == role.outputs["arn"] and role.inputs["name"] == f"{ENDPOINT}-{kind}-monitor"
    assert "pulumi:providers:aws-native::aws-native-staging::" in definition(run, kind).provider


def test_the_endpoint_inputs_carry_the_prediction_attributes_and_bias_its_ground_truth(run):
    endpoint = {"endpointName": ENDPOINT, "localPath": "/opt/ml/processing/input/endpoint", "s3InputMode": "File",
                "s3DataDistributionType": "FullyReplicated"}
    assert definition(run, BIAS).inputs["modelBiasJobInput"] == {
        "endpointInput": {**endpoint, "probabilityAttribute": "0", "probabilityThresholdAttribute": 0.6},
        "groundTruthS3Input": {"s3Uri": GROUND_TRUTH}}
    assert definition(run, EXPLAINABILITY).inputs["modelExplainabilityJobInput"] == {
        "endpointInput": {**endpoint, "inferenceAttribute": "0"}}


@pytest.mark.parametrize("kind, monitoring_type", [(BIAS, "ModelBias"), (EXPLAINABILITY, "ModelExplainability")])
def test_the_schedule_runs_the_definition_at_most_hourly(run, kind, monitoring_type):
    schedule = run.one(Token.SAGEMAKER_MONITORING_SCHEDULE, f"clarify-{kind}-schedule").inputs
    assert schedule["name"] == run.outputs[f"{kind}_schedule_name"] == f"{ENDPOINT}-{kind}"
    assert schedule["monitoringScheduleConfig"] == {
        "monitoringType": monitoring_type, "monitoringJobDefinitionName": f"{ENDPOINT}-{kind}",
        "scheduleConfig": {"scheduleExpression": "cron(0 * ? * * *)"}}


# --- the roles ------------------------------------------------------------------------------------------

ARN_BUCKET = f"arn:aws:s3:::{BUCKET}"
VIA_S3 = {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}


def allow(sid, actions, resources, **condition):
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **condition}


def common_tail(key, kind):
    return [
        allow("WriteReports", ["s3:PutObject"], [f"{ARN_BUCKET}/monitoring/{ENDPOINT}/{kind}/*"]),
        allow("DecryptThroughS3", ["kms:Decrypt"], [key, REGISTRY_KEY], Condition=VIA_S3),
        allow("EncryptReportsThroughS3", ["kms:GenerateDataKey"], [key], Condition=VIA_S3),
        allow("EncryptJobVolume", ["kms:CreateGrant"], [key], Condition={
            "StringEquals": {"kms:ViaService": "sagemaker.eu-west-1.amazonaws.com"},
            "Bool": {"kms:GrantIsForAWSResource": "true"}}),
        allow("WriteJobLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
              [f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/sagemaker/ProcessingJobs:*"]),
        allow("PublishMonitorMetrics", ["cloudwatch:PutMetricData"], ["*"],
              Condition={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACES[kind]}}),
    ]


def capture_reads():
    return [allow("ListCapturedData", ["s3:ListBucket"], [ARN_BUCKET],
                  Condition={"StringLike": {"s3:prefix": [f"data-capture/{ENDPOINT}/*"]}}),
            allow("ReadCapturedData", ["s3:GetObject"], [f"{ARN_BUCKET}/data-capture/{ENDPOINT}/*"])]


def statements(run, kind):
    return policy_statements(run.one(Token.IAM_ROLE_POLICY, f"clarify-{kind}-monitor-policy").inputs["policy"])


def test_the_bias_role_reads_capture_ground_truth_baseline_and_config_and_nothing_else(run):
    key = run.one(Token.KMS_KEY).outputs["arn"]
    assert statements(run, BIAS) == [
        *capture_reads(),
        allow("ListGroundTruth", ["s3:ListBucket"], ["arn:aws:s3:::mlops-labels"],
              Condition={"StringLike": {"s3:prefix": ["ground-truth/credit/*"]}}),
        allow("ReadGroundTruth", ["s3:GetObject"], ["arn:aws:s3:::mlops-labels/ground-truth/credit/*"]),
        allow("ReadBaselineAndConfig", ["s3:GetObject"], [
            "arn:aws:s3:::mlops-dev-111111111111-eu-west-1/workflow/clarify/model-bias/analysis.json",
            f"{ARN_BUCKET}/monitoring-config/{ENDPOINT}/model-bias/analysis_config.json"]),
        *common_tail(key, BIAS),
    ]


def test_the_explainability_role_also_reads_the_shap_baseline_and_asks_only_its_shadow_endpoints(run):
    key = run.one(Token.KMS_KEY).outputs["arn"]
    assert statements(run, EXPLAINABILITY) == [
        *capture_reads(),
        allow("ReadBaselineAndConfig", ["s3:GetObject"], [
            "arn:aws:s3:::mlops-dev-111111111111-eu-west-1/workflow/clarify/model-explainability/analysis.json",
            f"{ARN_BUCKET}/monitoring-config/{ENDPOINT}/model-explainability/analysis_config.json",
            "arn:aws:s3:::mlops-dev-111111111111-eu-west-1/workflow/clarify/shap-baseline.csv"]),
        *common_tail(key, EXPLAINABILITY),
        allow("ShadowEndpointConfig", ["sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig",
                                       "sagemaker:DeleteEndpointConfig", "sagemaker:AddTags"],
              [f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:endpoint-config/mlops-staging-clarify-*"]),
        allow("ShadowEndpoint", ["sagemaker:CreateEndpoint", "sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint",
                                 "sagemaker:DeleteEndpoint", "sagemaker:AddTags"],
              [f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:endpoint/mlops-staging-clarify-*"]),
    ]


# --- alarms and events ------------------------------------------------------------------------------


def test_bias_alarms_query_this_endpoints_and_schedules_dppl_both_ways_to_the_topic(run):
    topic = run.one(Token.SNS_TOPIC).outputs["arn"]
    alarms = {a.inputs["name"]: a.inputs for a in run.by_type(Token.CLOUDWATCH_METRIC_ALARM)
              if a.inputs["name"].startswith(f"{ENDPOINT}-model-")}
    assert sorted(alarms) == [f"{ENDPOINT}-model-bias-bias_metric_DPPL-above",
                              f"{ENDPOINT}-model-bias-bias_metric_DPPL-below"]
    above, below = alarms[f"{ENDPOINT}-model-bias-bias_metric_DPPL-above"], alarms[f"{ENDPOINT}-model-bias-bias_metric_DPPL-below"]
    where = f"WHERE Endpoint = '{ENDPOINT}' AND MonitoringSchedule = '{ENDPOINT}-model-bias'"
    assert above["metricQueries"] == [{"id": "clarify", "period": 3600, "returnData": True,
                                       "label": "bias_metric_DPPL (MAX)", "expression":
                                       f'SELECT MAX(bias_metric_DPPL) FROM "aws/sagemaker/Endpoints/bias-metrics" {where}'}]
    assert (above["comparisonOperator"], above["threshold"]) == ("GreaterThanThreshold", 0.1)
    assert (below["comparisonOperator"], below["threshold"]) == ("LessThanThreshold", -0.1)
    assert below["metricQueries"][0]["expression"].startswith("SELECT MIN(bias_metric_DPPL)")
    for alarm in (above, below):
        assert alarm["alarmActions"] == alarm["okActions"] == [topic]
        assert "period" not in alarm and alarm["treatMissingData"] == "notBreaching"
        assert f"s3://{BUCKET}/monitoring/{ENDPOINT}/model-bias/ (analysis.json" in alarm["alarmDescription"]


def test_explainability_alarms_are_the_callers():
    def only_explainability(settings):
        ctx, _, _ = shared_context(settings)
        ClarifyMonitoring("clarify", ClarifyMonitoringArgs(
            ctx, endpoint=ENDPOINT, monitors=ctx.names.endpoint_monitor, capture_uri=CAPTURE,
            analysis=EXPLAIN_ANALYSIS, constraints_uri=f"{BASELINES}/analysis.json", image_uri=IMAGE,
            spec=settings.monitoring.spec, alarms=(ClarifyAlarm("feature_income", 0.05, above=False),)), opts=ctx.opts)

    (alarm,) = run_components("staging", only_explainability).by_type(Token.CLOUDWATCH_METRIC_ALARM)
    assert alarm.inputs["name"] == f"{ENDPOINT}-model-explainability-feature_income-below"
    assert alarm.inputs["metricQueries"][0]["expression"] == (
        'SELECT MIN(feature_income) FROM "aws/sagemaker/Endpoints/explainability-metrics" '
        f"WHERE Endpoint = '{ENDPOINT}' AND MonitoringSchedule = '{ENDPOINT}-model-explainability'")


@pytest.mark.parametrize("kind", [BIAS, EXPLAINABILITY])
def test_failed_and_violating_executions_reach_the_topic_with_links(run, kind):
    schedule_arn = run.one(Token.SAGEMAKER_MONITORING_SCHEDULE, f"clarify-{kind}-schedule").outputs["arn"]
    rules = {r.inputs["name"]: json.loads(r.inputs["eventPattern"]) for r in run.by_type(Token.CLOUDWATCH_EVENT_RULE)}
    assert rules[f"{ENDPOINT}-{kind}-failed"]["detail"] == {
        "ProcessingJobStatus": ["Failed", "Stopped"], "MonitoringScheduleArn": [schedule_arn]}
    assert rules[f"{ENDPOINT}-{kind}-violations"]["detail"]["ExitMessage"] == [{"prefix": "CompletedWithViolations"}]
    target = run.one(Token.CLOUDWATCH_EVENT_TARGET, f"clarify-{kind}-{kind}-violations-target").inputs
    message = json.loads(target["inputTransformer"]["inputTemplate"])
    assert message.startswith(f"Model monitor {kind} of endpoint {ENDPOINT}: execution <job> found constraint violations")
    assert f"s3://{BUCKET}/monitoring/{ENDPOINT}/{kind}/ (this execution's folder holds constraint_violations.json " \
           "and analysis.json" in message


# --- bad input, and the baseline job ------------------------------------------------------------------


def test_every_problem_of_an_analysis_is_reported_at_once():
    bad = ClarifyAnalysis(BIAS, ("label",), "Ranking", content_type="text/xml",
                          bias_config={"facet_name": "colour", "weight": 2}, model_predicted_label_config={"lbl": 1})
    assert analysis_problems(bad) == [
        "headers ['label']: the label and at least one feature, each named once",
        "problem_type 'Ranking': must be one of Regression, BinaryClassification, MulticlassClassification",
        "content type 'text/xml': must be one of text/csv, application/jsonlines",
        "bias_config.weight: not a field of bias_config (allowed: label_values_or_threshold, facet_name, "
        "facet_values_or_threshold, group_name)",
        "model_predicted_label_config.lbl: not a field of model_predicted_label_config (allowed: label, probability, "
        "probability_threshold, label_headers)",
        "bias_config.label_values_or_threshold: missing (required by Clarify's bias analysis)",
        "bias_config.facet_name 'colour': not a feature of the headers []",
        "problem_type 'Ranking': needs monitor_inference_attribute, monitor_probability_attribute or "
        "model_predicted_label_config to find the prediction",
    ]
    assert analysis_problems(replace(EXPLAIN_ANALYSIS, shap_config={"agg_method": "sum"})) == [
        "shap_config.baseline: missing (rows of feature values, or the S3 URI of such a file)",
        "shap_config.agg_method 'sum': must be one of mean_abs, median, mean_sq"]
    assert analysis_problems(BIAS_ANALYSIS) == analysis_problems(EXPLAIN_ANALYSIS) == []


def test_a_bias_monitor_without_ground_truth_is_refused_before_anything_is_created():
    def without_truth(settings):
        ctx, _, _ = shared_context(settings)
        ClarifyMonitoring("clarify", ClarifyMonitoringArgs(
            ctx, endpoint=ENDPOINT, monitors=ctx.names.endpoint_monitor, capture_uri=CAPTURE, analysis=BIAS_ANALYSIS,
            constraints_uri=f"{BASELINES}/analysis.json", image_uri=IMAGE, spec=settings.monitoring.spec))

    with pytest.raises(ValueError, match="model-bias monitor: monitor_ground_truth_input: missing"):
        run_components("staging", without_truth)


def test_the_baseline_job_reads_dataset_and_config_and_writes_the_analysis_with_kms():
    from components.monitor_baseline import clarify_processing_job
    from components.monitor_common import ProcessingSettings

    request = clarify_processing_job(
        image_uri=IMAGE, role_arn="arn:aws:iam::1:role/r", dataset_uri="s3://b/baseline.csv",
        config_uri="s3://b/config/analysis_config.json", output_uri="s3://b/baselines/bias", output_kms_key_arn="arn:key",
        settings=ProcessingSettings(instance_type="ml.m5.large", instance_count=1, volume_gb=20,
                                    volume_key_arn="arn:key", max_runtime_seconds=1800))
    assert request["AppSpecification"] == {"ImageUri": IMAGE}
    assert [(i["InputName"], i["S3Input"]["S3Uri"], i["S3Input"]["LocalPath"]) for i in request["ProcessingInputs"]] == [
        ("analysis_config", "s3://b/config/analysis_config.json", "/opt/ml/processing/input/config"),
        ("dataset", "s3://b/baseline.csv", "/opt/ml/processing/input/data")]
    assert request["ProcessingOutputConfig"] == {"KmsKeyId": "arn:key", "Outputs": [{
        "OutputName": "analysis_result", "S3Output": {"S3Uri": "s3://b/baselines/bias",
                                                      "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]}
    assert request["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == "arn:key"
    assert request["NetworkConfig"] == {"EnableNetworkIsolation": True}
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800}
    assert "Environment" not in request


def test_the_baseline_configurations_analyse_the_whole_dataset():
    bias = baseline_analysis_config(BIAS_ANALYSIS, SHADOW)
    assert bias["dataset_type"] == "text/csv" and bias["headers"] == list(HEADERS) and bias["label"] == "approved"
    assert bias["methods"] == {"pre_training_bias": {"methods": "all"}, "post_training_bias": {"methods": "all"}}
    assert bias["probability_threshold"] == 0.6
    assert bias["predictor"] == {**SHADOW.predictor(), "content_type": "text/csv", "accept_type": "text/csv",
                                 "probability": 0}
    explain = baseline_analysis_config(EXPLAIN_ANALYSIS, SHADOW)
    assert explain["methods"] == monitoring_analysis_config(EXPLAIN_ANALYSIS, SHADOW)["methods"]
    assert "probability_threshold" not in explain and "facet" not in explain


def test_the_policy_pack_passes_the_monitors_and_refuses_them_unencrypted_or_networked(run):
    from tools.policy_runner import run_policy_pack

    assert run_policy_pack([r.as_dict() for r in run.resources], stack="staging") == []
    bias = definition(run, BIAS)
    broken = [r.as_dict() for r in run.resources if r is not bias]
    bad = bias.as_dict()
    bad["inputs"] = {**bias.inputs, "networkConfig": {"enableNetworkIsolation": False},
                     "modelBiasJobOutputConfig": {**bias.inputs["modelBiasJobOutputConfig"], "kmsKeyId": ""}}
    violations = run_policy_pack([*broken, bad], stack="staging")
    assert sorted((v["policy"], v["name"]) for v in violations) == [
        ("aws-sagemaker-monitoring-configure-kms", "clarify-model-bias-definition"),
        ("aws-sagemaker-monitoring-enable-network-isolation", "clarify-model-bias-definition")]


def test_the_analysis_takes_every_key_the_catalog_accepts():
    from catalog.clarify import SHAPES
    from components.clarify_config import BIAS_CONFIG_KEYS, PREDICTED_LABEL_KEYS, SHAP_CONFIG_KEYS

    assert {field: set(SHAPES[field][0]) for field in SHAPES} == {
        "bias_config": set(BIAS_CONFIG_KEYS), "model_predicted_label_config": set(PREDICTED_LABEL_KEYS),
        "shap_config": set(SHAP_CONFIG_KEYS)}
