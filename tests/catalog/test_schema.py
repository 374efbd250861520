"""The JSON Schema for editors: valid itself, accepts the example, and agrees with the validator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from catalog.validate import CatalogError, validate_catalog
from tests.catalog.bodies import ENVIRONMENTS, FRAMEWORK_BODIES, catalog, framework_body, per_env
from tests.catalog.monitor_bodies import FRAMEWORK_ONLY, MONITOR_BODIES, monitor_body

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "catalog" / "mlops-config.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)


def schema_accepts(document) -> bool:
    return VALIDATOR.is_valid(document)


def validator_accepts(document) -> bool:
    try:
        validate_catalog(document, environments=ENVIRONMENTS)
    except CatalogError:
        return False
    return True


def test_the_schema_is_a_valid_2020_12_schema():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_example_catalog_is_valid_under_the_schema():
    example = json.loads((ROOT / "mlops-config.json").read_text())
    errors = [e.message for e in VALIDATOR.iter_errors(example)]
    assert errors == []
    assert example["$schema"] == "./catalog/mlops-config.schema.json"


def with_(kind, multi=False, drop=(), **changes):
    body = framework_body(kind, multi=multi)
    for key in drop:
        body.pop(key)
    return catalog(body | changes)


RT, BATCH, BUILDER = "byom_realtime_builtin", "byom_batch_custom", "byom_image_builder"
AGREEMENT = [
    *[(label, catalog(body), True) for label, body in FRAMEWORK_BODIES],
    ("empty", {"pipelines": []}, True),
    ("with $schema", {"$schema": "./catalog/mlops-config.schema.json", "pipelines": []}, True),
    ("count as string", with_(BATCH, inference_instance_count="3"), True),
    ("version as integer", with_(RT, model_framework_version=1), True),
    ("s3 URI spelling", with_(RT, data_capture_location="s3://bucket/capture/"), True),
    ("no pipelines", {}, False),
    ("unknown top-level key", {"pipelines": [], "extra": 1}, False),
    ("unknown type", with_(RT, pipeline_type="byom_realtime"), False),
    ("monitor type", {"pipelines": [{"pipeline_type": "byom_data_quality_monitor", "model_name": "m"}]}, False),
    ("missing required", with_(RT, drop=("inference_instance",)), False),
    ("unknown field", with_(RT, inferance_instance="ml.m5.large"), False),
    ("field of another type", with_(BATCH, endpoint_name="e"), False),
    ("no model", with_(RT, drop=("model_framework", "model_framework_version", "model_artifact_location")), False),
    ("model and package", with_(RT, model_package_name="arn:aws:sagemaker:us-east-1:123456789012:model-package/a/1"),
     False),
    ("bad name", with_(RT, model_name="iris_tree"), False),
    ("long name", with_(RT, model_name="m" * 64), False),
    ("bad instance", with_(RT, inference_instance="m5.large"), False),
    ("bad instance in one environment", with_(RT, multi=True, inference_instance=per_env(lambda e: "ml.m5.large")
                                              | {"prod": "large"}), False),
    ("framework container", with_(RT, model_framework="sklearn"), False),
    ("latest", with_(RT, model_framework_version="latest"), False),
    ("artifact not tar.gz", with_(RT, model_artifact_location="model.joblib"), False),
    ("artifact as URI", with_(RT, model_artifact_location="s3://bucket/model.tar.gz"), False),
    ("image without tag", with_(BATCH, custom_image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/x"), False),
    ("bucket upper case", with_(RT, data_capture_location="Bucket/capture"), False),
    ("no prefix", with_(RT, data_capture_location="bucket"), False),
    ("kms alias", with_(BATCH, kms_key_arn="arn:aws:kms:us-east-1:123456789012:alias/a"), False),
    ("count as fraction", with_(BATCH, inference_instance_count=2.5), False),
    ("count bool", with_(BATCH, inference_instance_count=True), False),
    ("name per environment", with_(RT, model_name=per_env(lambda e: e)), False),
    ("environment key not a name", with_(RT, inference_instance={"Dev": "ml.m5.large"}), False),
    ("repo name", with_(BUILDER, ecr_repo_name="MLOps"), False),
    ("tag", with_(BUILDER, image_tag=".x"), False),
    ("docker not a zip", with_(BUILDER, custom_algorithm_docker="Dockerfile"), False),
    ("entry not an object", {"pipelines": ["byom_realtime_builtin"]}, False),
    # monitors (attached to the real-time body's endpoint, test-endpoint)
    *[(label, catalog(framework_body(RT), body), True) for label, body in MONITOR_BODIES],
    ("monitor of the trained endpoint", catalog(monitor_body("byom_data_quality_monitor", endpoint="@trained")), True),
    ("monitor with a framework-only field", catalog(framework_body(RT), {**monitor_body("byom_data_quality_monitor"),
                                                                         **FRAMEWORK_ONLY}), False),
    ("monitor schedule too often", catalog(framework_body(RT), {**monitor_body("byom_data_quality_monitor"),
                                                                 "schedule_expression": "cron(0/5 * ? * * *)"}), False),
    ("explainability without shap_config", catalog(framework_body(RT), {
        k: v for k, v in monitor_body("byom_model_explainability_monitor").items() if k != "shap_config"}), False),
    ("bias_config with an unknown key", catalog(framework_body(RT), {
        **monitor_body("byom_model_bias_monitor"), "bias_config": {"facet_name": "a", "label_values_or_threshold": [1],
                                                                    "x": 1}}), False),
]


@pytest.mark.parametrize(("label", "document", "valid"), AGREEMENT, ids=[a[0] for a in AGREEMENT])
def test_schema_and_validator_agree(label, document, valid):
    assert schema_accepts(document) is valid
    assert validator_accepts(document) is valid


# What only the validator can check (docs/catalog.md lists these): the schema accepts, the validator refuses.
VALIDATOR_ONLY = [
    ("environment outside the topology", with_(RT, inference_instance={"qa": "ml.m5.large"})),
    ("environments differ between fields", with_(RT, inference_instance={"dev": "ml.m5.large"},
                                                 data_capture_location={"prod": "bucket/capture"})),
    ("version of another framework", with_(RT, model_framework_version="1.0")),
    ("bucket as IP address", with_(RT, data_capture_location="192.168.1.1/capture")),
    ("count out of range as a string", with_(BATCH, inference_instance_count="21")),
    ("output inside input", with_(BATCH, batch_inference_data="bucket/in", batch_job_output_location="bucket/in/out")),
    ("duplicate model names", catalog(framework_body(RT), framework_body(BATCH))),
]


@pytest.mark.parametrize(("label", "document"), VALIDATOR_ONLY, ids=[a[0] for a in VALIDATOR_ONLY])
def test_what_only_the_validator_checks(label, document):
    assert schema_accepts(document)
    assert not validator_accepts(document)
