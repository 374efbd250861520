"""lambdas/clarify_config under moto: the header row of a bias / explainability monitor's baseline data becomes
its Clarify analysis configurations (baseline and staged monitoring), KMS-encrypted; ``publish`` makes the staged
one live; data that gives no usable header is ``InvalidBaselineData`` naming every problem, and nothing is written."""

from __future__ import annotations

import json

import pytest

from clarify_config import handler as clarify
from components.clarify_config import (
    BIAS,
    EXPLAINABILITY,
    ClarifyAnalysis,
    ShadowModel,
    analysis_fields,
    baseline_analysis_config,
    monitoring_analysis_config,
)

BUCKET = "mlops-staging-222222222222-eu-west-1"
DATA = "baselines/credit/baseline.csv"
ENDPOINT = "mlops-staging-byom-credit-endpoint"
FOLDER = f"monitoring-config/{ENDPOINT}/{BIAS}"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/stack"
MODEL = ShadowModel("mlops-staging-byom-credit-model-abc1234", "ml.m5.large", "mlops-staging-clarify")
BIAS_ANALYSIS = ClarifyAnalysis(
    BIAS, (), "BinaryClassification", inference_attribute="0",
    bias_config={"label_values_or_threshold": [1], "facet_name": "sex", "facet_values_or_threshold": [0],
                 "group_name": "age"})
EXPLAIN_ANALYSIS = ClarifyAnalysis(EXPLAINABILITY, (), "Regression", inference_attribute="0",
                                   shap_config={"baseline": [[35, 52000, 1]], "num_samples": 50})


@pytest.fixture
def s3(boto):
    client = boto("s3")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return client


def event(action: str = "prepare", analysis: ClarifyAnalysis = BIAS_ANALYSIS, data: str = DATA) -> dict:
    return {"action": action, "dataset": f"s3://{BUCKET}/{data}", "model": dict(MODEL.__dict__),
            "analysis": analysis_fields(analysis), "baselineConfig": f"s3://{BUCKET}/{FOLDER}/baseline/analysis_config.json",
            "stagedConfig": f"s3://{BUCKET}/{FOLDER}/baseline/monitoring_analysis_config.json",
            "monitoringConfig": f"s3://{BUCKET}/{FOLDER}/analysis_config.json", "kmsKeyArn": KEY_ARN}


def stored(s3, key: str) -> tuple[dict, dict]:
    response = s3.get_object(Bucket=BUCKET, Key=key)
    return json.loads(response["Body"].read()), response


def keys(s3) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="monitoring-config/").get("Contents", []))


def test_the_header_row_becomes_both_configurations_encrypted_with_the_stack_key(s3):
    s3.put_object(Bucket=BUCKET, Key=DATA, Body=b"approved,age,income,sex\n1,35,52000,0\n0,41,38000,1\n")
    result = clarify.handler(event(), None)
    headers = ("approved", "age", "income", "sex")
    assert result["headers"] == list(headers) and result["label"] == "approved"
    with_headers = ClarifyAnalysis(**{**analysis_fields(BIAS_ANALYSIS), "headers": headers})
    baseline, response = stored(s3, f"{FOLDER}/baseline/analysis_config.json")
    assert baseline == baseline_analysis_config(with_headers, MODEL)
    assert (response["ServerSideEncryption"], response["SSEKMSKeyId"]) == ("aws:kms", KEY_ARN)
    staged, _ = stored(s3, f"{FOLDER}/baseline/monitoring_analysis_config.json")
    assert staged == monitoring_analysis_config(with_headers, MODEL)
    assert staged["facet"] == [{"name_or_index": "sex", "value_or_threshold": [0]}] and staged["label"] == "approved"
    # the live configuration changes only when the baseline job has succeeded
    assert f"{FOLDER}/analysis_config.json" not in keys(s3)


def test_publish_makes_the_staged_configuration_live_encrypted(s3):
    s3.put_object(Bucket=BUCKET, Key=DATA, Body=b"approved,age,income,sex\n1,35,52000,0\n")
    clarify.handler(event(), None)
    publish = {k: v for k, v in event("publish").items() if k in ("action", "stagedConfig", "monitoringConfig", "kmsKeyArn")}
    assert clarify.handler(publish, None) == {"monitoringConfig": f"s3://{BUCKET}/{FOLDER}/analysis_config.json"}
    live, response = stored(s3, f"{FOLDER}/analysis_config.json")
    assert live == stored(s3, f"{FOLDER}/baseline/monitoring_analysis_config.json")[0]
    assert (response["ServerSideEncryption"], response["SSEKMSKeyId"]) == ("aws:kms", KEY_ARN)


@pytest.mark.parametrize("body, headers", [
    (b"\xef\xbb\xbfapproved,age,income,sex\r\n1,2,3,4\r\n", ("approved", "age", "income", "sex")),  # BOM, CRLF
    (b'approved,"age, years",income,sex\n', ("approved", "age, years", "income", "sex")),  # quoted
    (b"approved,age,income,sex", ("approved", "age", "income", "sex")),  # only a header, no line break
])
def test_header_rows_as_csv_writers_make_them(s3, body, headers):
    s3.put_object(Bucket=BUCKET, Key=DATA, Body=body)
    explain = ClarifyAnalysis(EXPLAINABILITY, (), "Regression", inference_attribute="0",
                              shap_config={"baseline": [[1, 2, 3]]})
    assert clarify.handler(event(analysis=explain), None)["headers"] == list(headers)


def test_explainability_names_the_features_and_asks_the_served_model_on_a_shadow_endpoint(s3):
    s3.put_object(Bucket=BUCKET, Key=DATA, Body=b"approved,age,income,sex\n")
    clarify.handler(event(analysis=EXPLAIN_ANALYSIS), None)
    staged, _ = stored(s3, f"{FOLDER}/baseline/monitoring_analysis_config.json")
    assert staged["headers"] == ["age", "income", "sex"]
    assert {k: staged["predictor"][k] for k in ("model_name", "instance_type", "endpoint_name_prefix")} == MODEL.__dict__
    assert "endpoint_name" not in staged["predictor"]  # never the served endpoint, which captures what it is asked
    assert staged["methods"]["shap"]["baseline"] == [[35, 52000, 1]]


@pytest.mark.parametrize("body, analysis, expected", [
    (b"1,35,52000,0\n0,41,38000,1\n", BIAS_ANALYSIS,
     "the first row ('1,35,52000,0') is all numbers; baseline_data must start with a header row"),
    (b"\n1,2\n", BIAS_ANALYSIS, "the first row is empty; baseline_data must start with a header row"),
    (b"approved,\xff\xfeage\n", BIAS_ANALYSIS, "not UTF-8 text (byte 9 of the first row)"),
    (b"approved,age,income,gender\n", BIAS_ANALYSIS,
     "bias_config.facet_name 'sex': not a feature of the headers ['age', 'income', 'gender']"),
    (b"approved,income,sex\n", BIAS_ANALYSIS,
     "bias_config.group_name 'age': not a feature of the headers ['income', 'sex']"),
    (b"approved,age,age\n", BIAS_ANALYSIS, "headers ['approved', 'age', 'age']: the label and at least one feature"),
    (b"approved,age,income\n", EXPLAIN_ANALYSIS,
     "shap_config.baseline: every row must hold one value per feature (2: ['age', 'income'])"),
])
def test_data_without_a_usable_header_fails_naming_the_problem_and_writes_nothing(s3, body, analysis, expected):
    s3.put_object(Bucket=BUCKET, Key=DATA, Body=body)
    with pytest.raises(clarify.InvalidBaselineData) as error:
        clarify.handler(event(analysis=analysis), None)
    assert f"s3://{BUCKET}/{DATA}" in str(error.value) and expected in str(error.value)
    assert keys(s3) == []


def test_every_problem_of_the_header_is_reported_at_once(s3):
    s3.put_object(Bucket=BUCKET, Key=DATA, Body=b"approved,income\n")
    with pytest.raises(clarify.InvalidBaselineData) as error:
        clarify.handler(event(), None)
    assert "facet_name 'sex'" in str(error.value) and "group_name 'age'" in str(error.value)


def test_a_header_row_that_does_not_end_within_64_kib_is_refused(s3):
    s3.put_object(Bucket=BUCKET, Key=DATA, Body=b"approved," + b"x" * clarify.MAX_HEADER_BYTES + b"\n1\n")
    with pytest.raises(clarify.InvalidBaselineData, match="does not end within the first 65536 bytes"):
        clarify.handler(event(), None)


def test_a_missing_or_empty_object_says_so(s3):
    with pytest.raises(clarify.InvalidBaselineData, match="no object, or an empty one"):
        clarify.handler(event(), None)
    s3.put_object(Bucket=BUCKET, Key=DATA, Body=b"")
    with pytest.raises(clarify.InvalidBaselineData):
        clarify.handler(event(), None)


@pytest.mark.parametrize("change, message", [
    ({"action": "delete"}, "action: expected 'prepare' or 'publish'"),
    ({"dataset": "baselines/credit.csv"}, "dataset: expected an s3://<bucket>/<key> URI"),
    ({"analysis": None}, "analysis: expected an object"),
    ({"analysis": {"unknown": 1}}, "analysis: "),
    ({"kmsKeyArn": ""}, "kmsKeyArn: expected a non-empty string"),
    ({"model": {"model_name": "m"}}, "model: expected model_name, instance_type and endpoint_name_prefix"),
])
def test_a_malformed_event_is_a_configuration_error(s3, change, message):
    s3.put_object(Bucket=BUCKET, Key=DATA, Body=b"approved,age,income,sex\n")
    with pytest.raises(clarify.InvalidConfigurationRequest, match=message):
        clarify.handler({**event(), **change}, None)
