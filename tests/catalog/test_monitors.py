"""Monitor entries (issue 13): the AWS MLOps Framework's four monitor bodies validate, with that framework's
required fields per type and problem type, SageMaker's value rules, Clarify's argument shapes, the fields the
platform decides refused with a reason, and the endpoint each monitor names checked across the catalog."""

from __future__ import annotations

import pytest

from catalog.entries import TRAINED_ENDPOINT, EnvValue, MonitorEntry, S3Location
from catalog.validate import (
    REFUSED_FOR_MONITORS,
    CatalogError,
    identity,
    merge_stored,
    monitor_required,
    pipeline_id,
    validate_catalog,
    validate_entry,
)
from tests.catalog.bodies import ENVIRONMENTS, catalog, framework_body, per_env
from tests.catalog.monitor_bodies import FRAMEWORK_ONLY, MONITOR_BODIES, monitor_body

DQ, MQ = "byom_data_quality_monitor", "byom_model_quality_monitor"
BIAS, EXPL = "byom_model_bias_monitor", "byom_model_explainability_monitor"
REALTIME = framework_body("byom_realtime_custom")  # endpoint_name test-endpoint


def problems_of(*bodies) -> list[str]:
    with pytest.raises(CatalogError) as error:
        validate_catalog(catalog(*bodies), environments=ENVIRONMENTS)
    return error.value.problems


def monitor_of(*bodies) -> MonitorEntry:
    (monitor,) = validate_catalog(catalog(*bodies), environments=ENVIRONMENTS).monitors
    return monitor


@pytest.mark.parametrize(("label", "body"), MONITOR_BODIES, ids=[label for label, _ in MONITOR_BODIES])
def test_the_framework_monitor_bodies_validate(label, body):
    monitor = monitor_of(REALTIME, body)
    assert monitor.pipeline_type == body["pipeline_type"] and monitor.model_name == "testmodel"
    assert monitor.value_for("endpoint_name", "dev") == "test-endpoint"
    assert monitor.value_for("instance_volume_size", "prod") == 20  # numeric strings, as the framework sends them
    assert monitor.value_for("baseline_job_output_location", "dev") == S3Location("testbucket", "baseline_output")
    assert monitor.value_for("monitor_max_runtime_seconds", "dev") == 1800


def test_model_quality_values_are_typed():
    monitor = monitor_of(REALTIME, monitor_body(MQ, "BinaryClassification"))
    assert monitor.monitoring_type == "ModelQuality" and monitor.problem_type == "BinaryClassification"
    assert monitor.probability_threshold_attribute == 0.5 and monitor.monitor_probability_attribute == "0"
    assert monitor.value_for("monitor_ground_truth_input", "prod") == S3Location("test-bucket", "groundtruth")
    assert monitor.baseline_ground_truth_attribute == "label"


def test_the_baseline_runtime_defaults_to_an_hour():
    body = monitor_body(DQ)
    del body["baseline_max_runtime_seconds"]
    assert monitor_of(REALTIME, body).value_for("baseline_max_runtime_seconds", "dev") == 3600


@pytest.mark.parametrize("field", sorted(REFUSED_FOR_MONITORS))
def test_fields_the_platform_decides_are_refused_with_the_reason(field):
    body = {**monitor_body(DQ), field: FRAMEWORK_ONLY.get(field, "name")}
    (problem,) = problems_of(REALTIME, body)
    assert problem.endswith(f"{field} is refused in a {DQ} entry: {REFUSED_FOR_MONITORS[field]}")
    assert "omit it" in problem


REQUIRED = [
    (DQ, None, ["endpoint_name", "baseline_data", "baseline_job_output_location", "schedule_expression",
                "monitor_max_runtime_seconds", "instance_type", "instance_volume_size", "model_name"]),
    (MQ, "Regression", ["baseline_inference_attribute", "baseline_ground_truth_attribute", "problem_type",
                        "monitor_inference_attribute", "monitor_ground_truth_input"]),
    (MQ, "BinaryClassification", ["baseline_probability_attribute"]),
    (BIAS, "MulticlassClassification", ["bias_config", "model_predicted_label_config", "monitor_ground_truth_input",
                                        "monitor_inference_attribute"]),
    (EXPL, "Regression", ["shap_config", "monitor_inference_attribute", "problem_type"]),
]


@pytest.mark.parametrize(("kind", "problem_type", "fields"), REQUIRED)
def test_each_required_field_is_named_when_missing(kind, problem_type, fields):
    for field in fields:
        assert field in monitor_required(kind, problem_type)
        body = monitor_body(kind, problem_type or "Regression")
        del body[field]
        problems = problems_of(REALTIME, body)
        assert any(f"{field} is missing: required for {kind}" in p for p in problems), (field, problems)


def test_what_the_framework_does_not_require_is_optional():
    assert "model_predicted_label_config" not in monitor_required(BIAS, "Regression")
    assert "monitor_inference_attribute" not in monitor_required(MQ, "BinaryClassification")
    assert "baseline_max_runtime_seconds" not in monitor_required(DQ, None)


def test_a_binary_model_quality_monitor_reads_a_label_or_a_probability():
    body = monitor_body(MQ, "BinaryClassification")
    for key in ("monitor_inference_attribute", "monitor_probability_attribute", "probability_threshold_attribute"):
        del body[key]
    (problem,) = problems_of(REALTIME, body)
    assert "monitor_inference_attribute or monitor_probability_attribute is missing" in problem


VALUES = [
    ("schedule_expression", "cron(0/5 * ? * * *)", "SageMaker's monitoring cron, at most hourly"),
    ("schedule_expression", "rate(1 hour)", "cron(0 H/N ? * * *)"),
    ("instance_volume_size", 0, "a whole number from 1 to 16384"),
    ("instance_volume_size", "16385", "a whole number from 1 to 16384"),
    ("monitor_max_runtime_seconds", 86401, "a whole number from 1 to 86400"),
    ("baseline_max_runtime_seconds", 0, "a whole number from 1 to 86400"),
    ("instance_type", "m5.large", "a SageMaker processing instance type"),
    ("problem_type", "Ranking", "one of BinaryClassification, MulticlassClassification, Regression"),
    ("probability_threshold_attribute", 1.5, "a probability from 0 to 1"),
    ("monitor_inference_attribute", "", "a column name or 0-based column index"),
    ("monitor_ground_truth_input", "s3://test-bucket", "a prefix is required"),
    ("baseline_data", "s3://bucket/data.csv", "not a URI"),
    ("baseline_data", "data.parquet", "ending in .csv"),
    ("endpoint_name", "trained", None),  # a name, checked against the catalog's endpoints below
    ("endpoint_name", "@other", "'@trained' (the stack's own endpoint"),
    ("kms_key_arn", "alias/mine", "a KMS key ARN"),
]


@pytest.mark.parametrize(("field", "value", "allowed"), [v for v in VALUES if v[2]], ids=lambda v: str(v))
def test_values_follow_sagemakers_rules(field, value, allowed):
    body = {**monitor_body(MQ, "BinaryClassification"), field: value}
    problems = problems_of(REALTIME, body)
    assert any(f"{field} = " in p and allowed in p for p in problems), problems


def test_the_runtime_fits_the_schedules_interval():
    (problem,) = problems_of(REALTIME, {**monitor_body(DQ), "monitor_max_runtime_seconds": 3601})
    assert "monitor_max_runtime_seconds = 3601 is invalid with schedule_expression 'cron(0 * ? * * *)'" in problem
    assert "at most the schedule's interval, 3600 seconds" in problem
    monitor_of(REALTIME, {**monitor_body(DQ), "monitor_max_runtime_seconds": 7200,
                          "schedule_expression": "cron(0 0/2 ? * * *)"})


def test_every_problem_of_a_monitor_is_reported_at_once():
    body = {**monitor_body(BIAS, "BinaryClassification"), **FRAMEWORK_ONLY, "instance_volume_size": 0,
            "bias_config": {"facet_name": {"a": 1}, "text_config": {}, "methods": "all"},
            "model_predicted_label_config": {}}
    problems = problems_of(REALTIME, body)
    expected = ["instance_volume_size = 0", "data_capture_location is refused", "monitoring_output_location is refused",
                "bias_config.facet_name = an object with 1 key(s) is invalid: expected a column name or index",
                "bias_config.text_config is refused: the monitors analyse tabular data",
                "bias_config.methods is not an argument of sagemaker.clarify.BiasConfig",
                "bias_config.label_values_or_threshold is missing",
                "model_predicted_label_config = an object with 0 key(s) is invalid"]
    assert len(problems) == len(expected), problems
    for fragment, problem in zip(expected, problems, strict=True):
        assert fragment in problem and "(byom_model_bias_monitor 'testmodel')" in problem


@pytest.mark.parametrize(("field", "value", "fragment"), [
    ("shap_config", {"baseline": "http://x", "num_samples": 0}, "shap_config.baseline = 'http://x' is invalid"),
    ("shap_config", {"agg_method": "max"}, "shap_config.agg_method = 'max' is invalid: expected one of mean_abs"),
    ("shap_config", {"image_config": {}}, "shap_config.image_config is refused"),
    ("shap_config", "s3://b/k.csv", "shap_config = 's3://b/k.csv' is invalid: expected a non-empty object"),
    ("shap_config", {"baseline": [[1, 2]] * 101}, "a list of 1 to 100 rows"),
])
def test_clarify_parts_are_checked_against_the_sdks_arguments(field, value, fragment):
    problems = problems_of(REALTIME, {**monitor_body(EXPL), field: value})
    assert any(fragment in p for p in problems), problems


def test_a_clarify_part_is_an_object_not_a_per_environment_value():
    monitor = monitor_of(REALTIME, monitor_body(BIAS, "BinaryClassification"))
    assert monitor.bias_config == {"label_values_or_threshold": [1], "facet_name": "Account Length",
                                   "facet_values_or_threshold": [100]}


# ---------------------------------------------------------------------------------------------------
# Attachment


def test_a_monitor_names_an_entry_without_endpoint_name_by_its_model_name():
    bare = {k: v for k, v in REALTIME.items() if k != "endpoint_name"}
    monitor_of(bare, monitor_body(DQ, endpoint="testmodel"))
    (problem,) = problems_of(bare, monitor_body(DQ, endpoint="test-endpoint"))
    assert "endpoint_name = 'test-endpoint' names no endpoint served in dev, prod, staging" in problem
    assert "real-time endpoints in dev, prod, staging: 'testmodel'" in problem


def test_a_monitor_names_the_trained_models_endpoint_with_at_trained():
    monitor = monitor_of(monitor_body(DQ, endpoint=TRAINED_ENDPOINT))
    assert monitor.value_for("endpoint_name", "prod") == TRAINED_ENDPOINT


def test_an_unknown_endpoint_names_the_allowed_ones():
    (problem,) = problems_of(REALTIME, monitor_body(DQ, endpoint="nope"))
    assert problem.startswith("mlops-config.json: pipelines[1] (byom_data_quality_monitor 'testmodel'): "
                              "endpoint_name = 'nope' names no endpoint served in dev, prod, staging: expected "
                              "'@trained' (the stack's own endpoint")
    assert problem.endswith("(real-time endpoints in dev, prod, staging: 'test-endpoint')")


def test_per_environment_endpoints_are_matched_per_environment():
    multi = framework_body("byom_realtime_custom", multi=True)  # {env}-endpoint
    monitor_of(multi, monitor_body(DQ, endpoint=per_env(lambda e: f"{e}-endpoint")))
    problems = problems_of(multi, monitor_body(DQ, endpoint=per_env(lambda e: "dev-endpoint")))
    assert [p.split(": ", 2)[2].split(" names")[0] for p in problems] == [
        "endpoint_name.prod = 'dev-endpoint'", "endpoint_name.staging = 'dev-endpoint'"]


def test_a_monitor_reaching_an_environment_its_endpoint_does_not_is_refused():
    dev_only = {**REALTIME, "inference_instance": {"dev": "ml.m5.large"}}
    (problem,) = problems_of(dev_only, monitor_body(DQ))
    assert "endpoint_name = 'test-endpoint' names no endpoint served in prod, staging" in problem
    monitor_of(dev_only, {**monitor_body(DQ), "instance_type": {"dev": "ml.m5.large"}})


def test_one_monitor_of_each_type_per_endpoint():
    second = {**monitor_body(DQ), "model_name": "other"}
    (problem,) = problems_of(REALTIME, monitor_body(DQ), second)
    assert problem == ("mlops-config.json: pipelines[2] (byom_data_quality_monitor 'other'): endpoint_name = "
                       "'test-endpoint' already has a byom_data_quality_monitor in dev, prod, staging (pipelines[1] "
                       "(byom_data_quality_monitor 'testmodel')): SageMaker runs one schedule of each monitoring type "
                       "per endpoint")
    monitors = validate_catalog(catalog(REALTIME, monitor_body(DQ), monitor_body(MQ)), environments=ENVIRONMENTS)
    assert len(monitors.monitors) == 2
    (trained,) = problems_of(monitor_body(DQ, endpoint="@trained"), {**monitor_body(DQ, endpoint="@trained"),
                                                                     "model_name": "x"})
    assert "endpoint_name = '@trained' already has a byom_data_quality_monitor" in trained


def test_an_ambiguous_endpoint_reference_is_refused():
    named = {**REALTIME, "endpoint_name": "other"}
    bare = {k: v for k, v in framework_body("byom_realtime_builtin").items() if k != "endpoint_name"}
    bare["model_name"] = "other"
    problems = problems_of({**named, "model_name": "first"}, bare, monitor_body(DQ, endpoint="other"))
    assert any("endpoint_name = 'other' is ambiguous" in p for p in problems), problems


def test_monitors_have_their_own_pipeline_id_and_identity():
    entry = validate_entry(monitor_body(DQ), environments=ENVIRONMENTS)
    assert isinstance(entry, MonitorEntry)
    assert pipeline_id(entry) == "testmodel:byom_data_quality_monitor"
    assert identity(entry) == ("monitor", "testmodel:byom_data_quality_monitor")
    assert entry.endpoint_name == EnvValue(everywhere="test-endpoint")


def test_a_stored_monitor_is_checked_against_the_files_endpoints():
    file = validate_catalog(catalog(REALTIME), environments=ENVIRONMENTS)
    merged = merge_stored(file, {"m.json": monitor_body(DQ)}, environments=ENVIRONMENTS)
    assert merged.monitors[0].label == "catalog store m.json (byom_data_quality_monitor 'testmodel')"
    with pytest.raises(CatalogError) as error:
        merge_stored(file, {"m.json": monitor_body(DQ, endpoint="gone")}, environments=ENVIRONMENTS)
    assert "endpoint_name = 'gone' names no endpoint served" in error.value.problems[0]
