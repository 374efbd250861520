"""Bias / explainability entries of the catalog through the real program under mocks (program.catalog_monitoring,
program.monitoring, components.clarify_monitoring, components.monitor_baseline): each gets its Clarify monitor
(role, aws-native job definition reading the configuration its baseline run writes, schedule, alarms, rules) and
a baseline run that reads the baseline data's header row (lambdas/clarify_config), runs Clarify over the data
asking the monitored endpoint, and only then makes the new configuration live. An analysis Clarify would refuse
stops the preview (exit 2) naming the entry."""

from __future__ import annotations

import json

import pytest

from program.settings import SettingsError
from tests.catalog.monitor_bodies import monitor_body
from tests.conftest import policy_statements
from tools.mockrun import run_program
from tools.policy_runner import run_policy_pack
from tools.tokens import Token

ACCOUNT = "222222222222"
BUCKET = f"mlops-staging-{ACCOUNT}-eu-west-1"
ENDPOINT = "mlops-staging-endpoint"
KINDS = {"mb": ("byom_model_bias_monitor", "model-bias", Token.NATIVE_SAGEMAKER_MODEL_BIAS_JOB_DEFINITION, "modelBias"),
         "me": ("byom_model_explainability_monitor", "model-explainability",
                Token.NATIVE_SAGEMAKER_MODEL_EXPLAINABILITY_JOB_DEFINITION, "modelExplainability")}


def run_with(tmp_path, *bodies, stack: str = "staging"):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"pipelines": list(bodies)}))
    return run_program(stack, overrides={"catalogFile": str(path), "catalogPackages": "{}"})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    bodies = [monitor_body(kind, "BinaryClassification", endpoint="@trained") for kind, *_ in KINDS.values()]
    return run_with(tmp_path_factory.mktemp("clarify"), *bodies)


def machine(run, short: str) -> dict:
    return json.loads(run.one(Token.SFN_STATE_MACHINE, f"mlops-staging-monitoring-{short}-baseline-state-machine")
                      .inputs["definition"])


def statements(run, name: str) -> dict:
    return {s["Sid"]: s for s in policy_statements(run.named(name).inputs["policy"])}


@pytest.mark.parametrize("short", KINDS)
def test_each_entry_gets_a_clarify_job_definition_reading_its_baselines_files(run, short):
    _, kind, token, prefix = KINDS[short]
    inputs = run.one(token, f"mlops-staging-monitoring-{short}-definition").inputs
    assert inputs["jobDefinitionName"] == f"{ENDPOINT}-{kind}"
    assert inputs[f"{prefix}AppSpecification"]["configUri"] == (
        f"s3://{BUCKET}/monitoring-config/{ENDPOINT}/{kind}/analysis_config.json")
    assert inputs[f"{prefix}BaselineConfig"] == {"constraintsResource": {"s3Uri": "s3://testbucket/baseline_output/analysis.json"}}
    assert inputs[f"{prefix}JobInput"]["endpointInput"]["endpointName"] == ENDPOINT
    assert inputs["networkConfig"] == {"enableNetworkIsolation": short == "mb"}  # explainability calls the model
    assert inputs["stoppingCondition"] == {"maxRuntimeInSeconds": 1800}
    schedule = run.one(Token.SAGEMAKER_MONITORING_SCHEDULE, f"mlops-staging-monitoring-{short}-schedule").inputs
    assert schedule["monitoringScheduleConfig"]["scheduleConfig"] == {"scheduleExpression": "cron(0 * ? * * *)"}
    if short == "mb":
        assert inputs["modelBiasJobInput"]["groundTruthS3Input"] == {"s3Uri": "s3://test-bucket/groundtruth"}


@pytest.mark.parametrize("short", KINDS)
def test_the_baseline_run_configures_runs_clarify_then_publishes(run, short):
    pipeline_type, kind, *_ = KINDS[short]
    states = machine(run, short)
    function = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:mlops-staging-byom-testmodel-{short}-baseline-config"
    assert machine(run, short)["StartAt"] == "PrepareAnalysis"
    prepare, job, publish = (states["States"][s] for s in ("PrepareAnalysis", "Baseline", "PublishAnalysis"))
    assert (prepare["Next"], job["Next"], publish["Next"]) == ("Baseline", "PublishAnalysis", "NotifySuccess")
    assert prepare["Parameters"]["FunctionName"] == publish["Parameters"]["FunctionName"] == function
    payload = prepare["Parameters"]["Payload"]
    folder = f"s3://{BUCKET}/monitoring-config/{ENDPOINT}/{kind}"
    assert (payload["action"], payload["dataset"]) == ("prepare", f"s3://{BUCKET}/training_data.csv")
    # the served model (the mocks' name of the endpoint's SageMaker model), on a shadow endpoint of its instance type
    (model,) = run.by_type(Token.SAGEMAKER_MODEL)
    (config,) = run.by_type(Token.SAGEMAKER_ENDPOINT_CONFIGURATION)
    assert payload["model"] == {"model_name": model.outputs["name"],
                                "instance_type": config.inputs["productionVariants"][0]["instanceType"],
                                "endpoint_name_prefix": "mlops-staging-clarify"}
    assert (payload["baselineConfig"], payload["stagedConfig"]) == (
        f"{folder}/baseline/analysis_config.json", f"{folder}/baseline/monitoring_analysis_config.json")
    assert payload["analysis"]["monitor_type"] == kind and "headers" not in payload["analysis"]
    assert publish["Parameters"]["Payload"] == {
        "action": "publish", "stagedConfig": f"{folder}/baseline/monitoring_analysis_config.json",
        "kmsKeyArn": payload["kmsKeyArn"], "monitoringConfig": f"{folder}/analysis_config.json"}
    for step in (prepare, job, publish):
        assert step["Catch"][0]["Next"] == "NotifyFailure"
    parameters = job["Parameters"]
    assert parameters["AppSpecification"]["ImageUri"].endswith("/sagemaker-clarify-processing:1.0")
    assert [(i["InputName"], i["S3Input"]["S3Uri"]) for i in parameters["ProcessingInputs"]] == [
        ("analysis_config", f"{folder}/baseline/analysis_config.json"), ("dataset", f"s3://{BUCKET}/training_data.csv")]
    assert parameters["ProcessingOutputConfig"]["Outputs"][0]["OutputName"] == "analysis_result"
    assert parameters["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == "s3://testbucket/baseline_output"
    # Clarify asks the served endpoint for predictions: network isolation would cut it off
    assert parameters["NetworkConfig"] == {"EnableNetworkIsolation": False}
    assert "(analysis.json)" in states["States"]["NotifySuccess"]["Parameters"]["Message"]


def test_the_configuration_function_reads_the_header_and_writes_only_the_three_configurations(run):
    key = run.one(Token.KMS_KEY).outputs["arn"]
    folder = f"arn:aws:s3:::{BUCKET}/monitoring-config/{ENDPOINT}/model-bias"
    found = statements(run, "mlops-staging-monitoring-mb-baseline-config-policy")
    assert {sid: (s["Action"], s["Resource"]) for sid, s in found.items()
            if sid not in ("WriteOwnLogs", "Tracing", "DecryptEnvironment")} == {
        "FindBaselineData": (["s3:ListBucket"], [f"arn:aws:s3:::{BUCKET}"]),
        "ReadHeaderRowAndStagedConfig": (["s3:GetObject"], [f"arn:aws:s3:::{BUCKET}/training_data.csv",
                                                            f"{folder}/baseline/monitoring_analysis_config.json"]),
        "WriteConfigs": (["s3:PutObject"], [f"{folder}/baseline/analysis_config.json",
                                            f"{folder}/baseline/monitoring_analysis_config.json",
                                            f"{folder}/analysis_config.json"]),
        "DecryptThroughS3": (["kms:Decrypt"], [key]),
        "EncryptThroughS3": (["kms:GenerateDataKey"], [key]),
    }
    assert found["FindBaselineData"]["Condition"] == {"StringEquals": {"s3:prefix": "training_data.csv"}}
    run_policy = statements(run, "mlops-staging-monitoring-mb-baseline-run-policy")
    assert run_policy["ConfigureAnalysis"]["Resource"] == [
        f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:mlops-staging-byom-testmodel-mb-baseline-config"]


def test_the_clarify_baseline_job_reads_data_config_and_shap_baseline_and_asks_only_shadow_endpoints(run):
    found = statements(run, "mlops-staging-monitoring-me-baseline-job-policy")
    folder = f"arn:aws:s3:::{BUCKET}/monitoring-config/{ENDPOINT}/model-explainability/baseline"
    assert found["ReadAnalysisConfig"]["Resource"] == [f"{folder}/analysis_config.json", f"{folder}/analysis_config.json/*"]
    assert found["ReadShapBaseline"]["Resource"] == ["arn:aws:s3:::testbucket/baselines/shap_baseline.csv"]
    assert found["ShadowEndpoint"]["Action"] == ["sagemaker:CreateEndpoint", "sagemaker:DescribeEndpoint",
                                                 "sagemaker:InvokeEndpoint", "sagemaker:DeleteEndpoint", "sagemaker:AddTags"]
    assert found["ShadowEndpoint"]["Resource"] == [f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:endpoint/mlops-staging-clarify-*"]
    assert found["ShadowEndpointConfig"]["Resource"] == [
        f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:endpoint-config/mlops-staging-clarify-*"]
    # nothing of the served endpoint: Clarify's requests would be captured with the real ones
    assert not any(f"endpoint/{ENDPOINT}" in str(s["Resource"]) for s in found.values())
    assert found["WriteBaseline"]["Resource"] == ["arn:aws:s3:::testbucket/baseline_output/*"]
    assert "ReadShapBaseline" not in statements(run, "mlops-staging-monitoring-mb-baseline-job-policy")


def test_the_monitor_role_reads_the_live_configuration_and_the_baselines_analysis(run):
    found = statements(run, "mlops-staging-monitoring-mb-monitor-policy")
    assert sorted(found["ReadBaselineAndConfig"]["Resource"]) == sorted([
        "arn:aws:s3:::testbucket/baseline_output/analysis.json",
        f"arn:aws:s3:::{BUCKET}/monitoring-config/{ENDPOINT}/model-bias/analysis_config.json"])


def test_the_policy_pack_passes_the_clarify_entries(run):
    assert run_policy_pack([r.as_dict() for r in run.resources], stack="staging") == []


def test_an_analysis_clarify_would_refuse_stops_the_preview_naming_the_entry(tmp_path):
    body = monitor_body("byom_model_bias_monitor", "BinaryClassification", endpoint="@trained")
    del body["monitor_inference_attribute"]  # and model_predicted_label_config names no label or probability
    with pytest.raises(SettingsError) as error:
        run_with(tmp_path, body)
    (problem,) = error.value.problems
    assert problem == (
        f"{tmp_path / 'catalog.json'}: pipelines[0] (byom_model_bias_monitor 'testmodel'): problem_type "
        "'BinaryClassification': needs monitor_inference_attribute, monitor_probability_attribute or "
        "model_predicted_label_config to find the prediction")


def test_model_scores_tell_shap_which_output_to_explain(tmp_path):
    body = {**monitor_body("byom_model_explainability_monitor", "Regression", endpoint="@trained"), "model_scores": 1}
    run = run_with(tmp_path, body)
    analysis = machine(run, "me")["States"]["PrepareAnalysis"]["Parameters"]["Payload"]["analysis"]
    assert analysis["model_predicted_label_config"] == {"label": 1}


@pytest.mark.parametrize("short", KINDS)
def test_each_deploy_names_the_served_model_and_a_new_model_reruns_the_baseline(run, short):
    _, kind, *_ = KINDS[short]
    key = run.one(Token.KMS_KEY).outputs["arn"]
    (model,) = run.by_type(Token.SAGEMAKER_MODEL)
    written = run.one(Token.S3_BUCKET_OBJECTV2, f"mlops-staging-monitoring-{short}-baseline-model")
    assert written.inputs["key"] == f"monitoring-config/{ENDPOINT}/{kind}/baseline/model.json"
    assert json.loads(written.inputs["content"])["model_name"] == model.outputs["name"]
    assert (written.inputs["serverSideEncryption"], written.inputs["kmsKeyId"]) == ("aws:kms", key)
    rule = run.one(Token.CLOUDWATCH_EVENT_RULE, f"mlops-staging-monitoring-{short}-baseline-model-rule")
    assert json.loads(rule.inputs["eventPattern"])["detail"]["object"]["key"] == [written.inputs["key"]]
    target = run.one(Token.CLOUDWATCH_EVENT_TARGET, f"mlops-staging-monitoring-{short}-baseline-model-target")
    machine = run.one(Token.SFN_STATE_MACHINE, f"mlops-staging-monitoring-{short}-baseline-state-machine")
    assert target.inputs["arn"] == machine.outputs["arn"]
    # written after the state machine that names the same model, so the run it starts uses it
    assert machine.urn in written.dependencies
