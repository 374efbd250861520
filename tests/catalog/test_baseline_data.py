"""``baseline_data``: the training data an uploaded model's baseline is made from (docs/catalog.md).

An S3 location like the other location fields (``bucket/prefix`` or ``s3://bucket/prefix``, one value or one
per environment) on the four model types; only with an uploaded model (``model_artifact_location``), since a
registered package (``model_package_name``) brings its own baseline or none. The validator and the editors'
JSON Schema agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from catalog.entries import FIELDS_OF, S3Location
from catalog.validate import CatalogError, validate_catalog
from tests.catalog.bodies import ENVIRONMENTS, MODEL_TYPES, catalog, framework_body, per_env

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Draft202012Validator(json.loads((ROOT / "catalog" / "mlops-config.schema.json").read_text()))


SOURCE = "mlops-config.json: "


def problems_of(*bodies) -> list[str]:
    with pytest.raises(CatalogError) as error:
        validate_catalog(catalog(*bodies), environments=ENVIRONMENTS)
    return error.value.problems


@pytest.mark.parametrize("kind", MODEL_TYPES)
def test_every_model_type_takes_baseline_data_in_both_forms(kind):
    single = framework_body(kind) | {"baseline_data": "s3://training/iris/train/"}
    (entry,) = validate_catalog(catalog(single), environments=ENVIRONMENTS).entries
    assert entry.value_for("baseline_data", "prod") == S3Location("training", "iris/train")  # slash dropped
    multi = framework_body(kind, multi=True) | {"baseline_data": per_env(lambda e: f"bucket/{e}/train")}
    (entry,) = validate_catalog(catalog(multi), environments=ENVIRONMENTS).entries
    assert entry.value_for("baseline_data", "staging").uri == "s3://bucket/staging/train"
    assert SCHEMA.is_valid(catalog(single)) and SCHEMA.is_valid(catalog(multi))


@pytest.mark.parametrize("kind", MODEL_TYPES)
def test_without_baseline_data_an_entry_has_none(kind):
    (entry,) = validate_catalog(catalog(framework_body(kind)), environments=ENVIRONMENTS).entries
    assert "baseline_data" in FIELDS_OF[kind] and entry.value_for("baseline_data", "dev") is None


ALLOWED = ("expected an S3 location bucket/prefix or s3://bucket/prefix: a valid bucket name, then a prefix of "
           "letters, digits and !_.*'()=+@/- without empty, '.' or '..' segments, at most 1024 characters as "
           "s3://bucket/prefix")


@pytest.mark.parametrize(("value", "shown", "why"), [
    (42, "42", ""),
    ("training", "'training'", "; a prefix is required so that the entry's roles reach only it"),
    ("s3://Training_Data/iris", "'s3://Training_Data/iris'",
     "; the bucket name must be 3 to 63 lowercase letters, digits, '.' or '-', starting and ending with a letter "
     "or digit"),
    ("training/iris/../secrets", "'training/iris/../secrets'", ""),
    ("https://training.s3.amazonaws.com/iris", "'https://training.s3.amazonaws.com/iris'",
     "; the bucket name must be 3 to 63 lowercase letters, digits, '.' or '-', starting and ending with a letter "
     "or digit"),
])
def test_a_bad_baseline_data_is_refused_with_the_allowed_form(value, shown, why):
    body = framework_body("byom_realtime_custom") | {"baseline_data": value}
    (problem,) = problems_of(body)
    assert problem == f"{SOURCE}pipelines[0] (model_name 'testmodel'): baseline_data = {shown} is invalid: {ALLOWED}{why}"


def test_every_bad_value_is_reported_at_once_with_its_environment():
    body = framework_body("byom_batch_builtin", multi=True) | {
        "baseline_data": {"dev": "bucket/dev/train", "staging": "x", "prod": 7}}
    other = framework_body("byom_realtime_builtin") | {"model_name": "other", "baseline_data": "s3://a"}
    problems = problems_of(body, other)
    assert len(problems) == 3, problems
    assert [p.split("): ", 1)[0] + ")" for p in problems] == [f"{SOURCE}pipelines[0] (model_name 'testmodel')"] * 2 + [
        f"{SOURCE}pipelines[1] (model_name 'other')"]
    assert "baseline_data.staging = 'x' is invalid: expected an S3 location" in problems[0]
    assert "baseline_data.prod = 7 is invalid: expected an S3 location" in problems[1]
    assert "baseline_data = 's3://a' is invalid: expected an S3 location" in problems[2]


@pytest.mark.parametrize("kind", MODEL_TYPES)
def test_a_registered_package_takes_no_baseline_data(kind):
    body = framework_body(kind) | {"baseline_data": "bucket/train"}
    del body["model_artifact_location"]
    body = {k: v for k, v in body.items() if k not in ("model_framework", "model_framework_version", "custom_image_uri")}
    body["model_package_name"] = "arn:aws:sagemaker:us-east-1:123456789012:model-package/xgboost/1"
    assert problems_of(body) == [
        f"{SOURCE}pipelines[0] (model_name 'testmodel'): baseline_data is only for an uploaded model (model_artifact_location): "
        "a registered package (model_package_name) already carries its baseline, or none; leave baseline_data out"]
    assert not SCHEMA.is_valid(catalog(body))


def test_an_image_builder_takes_no_baseline_data():
    body = framework_body("byom_image_builder") | {"baseline_data": "bucket/train"}
    (problem,) = problems_of(body)
    assert problem.endswith("baseline_data is not used by byom_image_builder (it belongs to byom_realtime_builtin, "
                            "byom_realtime_custom, byom_batch_builtin, byom_batch_custom, byom_data_quality_monitor, "
                            "byom_model_quality_monitor, byom_model_bias_monitor, byom_model_explainability_monitor)")
    assert not SCHEMA.is_valid(catalog(body))


def test_the_shipped_uploaded_entries_baseline_the_training_workflows_data():
    """The iris entries with model_artifact_location baseline what the training workflow trains on (the dev
    registry bucket's data/train: components/names.py TRAINING_DATA_PREFIX), label first like that data."""
    from components.names import TRAINING_DATA_PREFIX, Names

    raw = json.loads((ROOT / "mlops-config.json").read_text())["pipelines"]
    bucket = Names("mlops", "dev", "111111111111", "eu-west-1").bucket
    uploaded = {b["model_name"]: b.get("baseline_data") for b in raw if "model_artifact_location" in b}
    assert uploaded == {name: f"s3://{bucket}/{TRAINING_DATA_PREFIX}" for name in uploaded} and len(uploaded) == 3
