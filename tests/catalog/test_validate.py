"""The catalog validator: framework bodies validate, every rule refuses with one line per problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog.entries import SUPPORTED_TYPES, Catalog, ImageBuilderEntry, ModelEntry, S3Location
from catalog.validate import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_PROBLEMS,
    MONITOR_TYPES,
    CatalogError,
    load_catalog_file,
    parse_document,
    validate_catalog,
    validate_entry,
)
from program.catalog import topology_environments
from tests.catalog.bodies import ENVIRONMENTS, FRAMEWORK_BODIES, catalog, framework_body, per_env
from tests.catalog.monitor_bodies import monitor_body

ROOT = Path(__file__).resolve().parents[2]


def problems_of(document, *, environments=ENVIRONMENTS, regions=None) -> list[str]:
    with pytest.raises(CatalogError) as error:
        validate_catalog(document, environments=environments, regions=regions)
    return error.value.problems


@pytest.mark.parametrize(("label", "body"), FRAMEWORK_BODIES, ids=[label for label, _ in FRAMEWORK_BODIES])
def test_framework_bodies_validate(label, body):
    (entry,) = validate_catalog(catalog(body), environments=ENVIRONMENTS).entries
    assert entry.pipeline_type == body["pipeline_type"]
    if isinstance(entry, ModelEntry):
        assert entry.model_name == "testmodel"
        assert entry.from_model_package == ("model_package_name" in body)


def test_the_example_catalog_has_one_entry_of_each_type_in_both_forms():
    loaded = load_catalog_file(ROOT / "mlops-config.json", environments=topology_environments(ROOT),
                               regions={"dev": "eu-west-1", "staging": "eu-west-1", "prod": "eu-west-1"})
    not_deployable = ("byom_model_bias_monitor", "byom_model_explainability_monitor")  # the preview refuses them
    assert sorted(e.pipeline_type for e in loaded.entries) == sorted(t for t in SUPPORTED_TYPES if t not in not_deployable)
    raw = json.loads((ROOT / "mlops-config.json").read_text())["pipelines"]
    values = [value for body in raw for value in body.values()]
    assert any(isinstance(v, dict) for v in values) and any(isinstance(v, str) for v in values)
    assert any("model_package_name" in body for body in raw)


def test_entries_are_typed_normalised_and_resolved_per_environment():
    body = framework_body("byom_batch_custom", multi=True)
    body["batch_inference_data"] = "s3://inference/data/"
    body["inference_instance"] = {"dev": "ml.m5.large", "staging": "ml.m5.xlarge", "prod": "ml.c5.xlarge"}
    (entry,) = validate_catalog(catalog(body), environments=ENVIRONMENTS).entries
    assert isinstance(entry, ModelEntry) and not entry.realtime and not entry.builtin
    assert entry.value_for("inference_instance", "prod") == "ml.c5.xlarge"
    assert entry.value_for("inference_instance", "staging") == "ml.m5.xlarge"
    assert entry.value_for("batch_inference_data", "dev") == S3Location("inference", "data")
    assert entry.value_for("batch_inference_data", "prod").uri == "s3://inference/data"
    assert entry.value_for("batch_job_output_location", "staging") == S3Location("bucket", "staging_output")
    # documented defaults for what the framework's body does not carry
    assert entry.value_for("inference_instance_count", "dev") == 1
    assert entry.value_for("content_type", "dev") == "text/csv" and entry.value_for("accept", "dev") == "text/csv"
    assert entry.value_for("kms_key_arn", "dev") is None
    with pytest.raises(KeyError, match="does not reach environment 'qa'"):
        entry.value_for("inference_instance", "qa")
    with pytest.raises(KeyError, match="not a field"):
        entry.value_for("data_capture_location", "dev")


def test_an_entry_reaches_the_environments_its_values_name():
    """A new environment (a qa stack file) gets no entry until the catalog names it; an entry without
    per-environment values reaches every environment."""
    partial = changed(RT_CUSTOM, model_name="partial", inference_instance={"dev": "ml.m5.large", "prod": "ml.c5.xlarge"},
                      data_capture_location={"dev": "bucket/dev", "prod": "s3://bucket/prod"},
                      endpoint_name={"dev": "partial-dev", "prod": "partial-prod"})
    everywhere = changed(BATCH_CUSTOM, model_name="everywhere")
    loaded = validate_catalog(catalog(partial, everywhere), environments=ENVIRONMENTS)
    first, second = loaded.entries
    assert first.environments == ("dev", "prod") and second.environments == ()
    assert first.reaches("prod") and not first.reaches("staging") and second.reaches("staging")
    assert loaded.reaching("staging") == (second,)
    assert first.value_for("data_capture_location", "prod") == S3Location("bucket", "prod")
    assert first.value_for("endpoint_name", "dev") == "partial-dev"
    with pytest.raises(KeyError, match="does not reach environment 'staging'"):
        first.value_for("endpoint_name", "staging")


def test_s3_locations_in_both_spellings_normalise_alike():
    for spelling in ("bucket/capture/x", "s3://bucket/capture/x", "bucket/capture/x/", "s3://bucket/capture/x//"):
        body = framework_body("byom_realtime_custom") | {"data_capture_location": spelling}
        (entry,) = validate_catalog(catalog(body)).entries
        assert entry.value_for("data_capture_location", "dev") == S3Location("bucket", "capture/x")


@pytest.mark.parametrize(("given", "expected"), [(2, 2), ("2", 2), (2.0, 2), ("20", 20)])
def test_numbers_as_numbers_or_numeric_strings(given, expected):
    body = framework_body("byom_batch_builtin") | {"inference_instance_count": given, "model_framework_version": 1}
    (entry,) = validate_catalog(catalog(body)).entries
    assert entry.value_for("inference_instance_count", "prod") == expected
    assert entry.value_for("model_framework_version", "prod") == "1"


def test_image_builder_entry():
    (entry,) = validate_catalog(catalog(framework_body("byom_image_builder"))).entries
    assert entry == ImageBuilderEntry(index=0, pipeline_type="byom_image_builder",
                                      custom_algorithm_docker="custom/custom_image.zip", ecr_repo_name="mlops-ecrrep",
                                      image_tag="tree")
    assert entry.label == "pipelines[0] (image builder mlops-ecrrep:tree)"


def test_an_empty_catalog_is_valid():
    assert validate_catalog({"pipelines": []}) == Catalog()


# ---------------------------------------------------------------------------------------------------
# One rule broken per case: exactly one line, naming the entry, the field, the value and what is allowed

RT_BUILTIN = "byom_realtime_builtin"
RT_CUSTOM = "byom_realtime_custom"
BATCH_BUILTIN = "byom_batch_builtin"
BATCH_CUSTOM = "byom_batch_custom"
BUILDER = "byom_image_builder"


def changed(kind: str, multi: bool = False, drop: tuple[str, ...] = (), **changes):
    body = framework_body(kind, multi=multi)
    for key in drop:
        body.pop(key)
    body.update(changes)
    return body


ENTRY = "mlops-config.json: pipelines[0] (model_name 'testmodel'): "
RULES = [
    # pipeline types
    ("type missing", changed(RT_BUILTIN, drop=("pipeline_type",)),
     ["pipelines[0] (model_name 'testmodel'): pipeline_type is missing", "byom_image_builder"]),
    ("type unknown", changed(RT_BUILTIN, pipeline_type="byom_realtime"),
     [ENTRY + "pipeline_type = 'byom_realtime' is invalid: expected one of byom_realtime_builtin"]),
    *[(f"monitor type {kind} without its endpoint", {k: v for k, v in monitor_body(kind).items() if k != "endpoint_name"},
       [f"mlops-config.json: pipelines[0] ({kind} 'testmodel'): endpoint_name is missing: required for {kind}"])
      for kind in MONITOR_TYPES],
    # required fields
    ("realtime without capture", changed(RT_CUSTOM, drop=("data_capture_location",)),
     [ENTRY + "data_capture_location is missing: required for byom_realtime_custom"]),
    ("batch without output", changed(BATCH_BUILTIN, drop=("batch_job_output_location",)),
     [ENTRY + "batch_job_output_location is missing: required for byom_batch_builtin"]),
    ("no instance", changed(BATCH_CUSTOM, drop=("inference_instance",)),
     [ENTRY + "inference_instance is missing: required for byom_batch_custom"]),
    ("no model name", changed(RT_CUSTOM, drop=("model_name",)),
     ["mlops-config.json: pipelines[0]: model_name is missing: required for byom_realtime_custom"]),
    ("builder without tag", changed(BUILDER, drop=("image_tag",)),
     ["mlops-config.json: pipelines[0]: image_tag is missing: required for byom_image_builder"]),
    # the model: image + artifact, or a model package, not both
    ("no model", changed(RT_BUILTIN, drop=("model_framework", "model_framework_version", "model_artifact_location")),
     [ENTRY + "the model is missing: byom_realtime_builtin needs model_framework + model_framework_version + "
              "model_artifact_location, or model_package_name"]),
    ("partial model", changed(RT_BUILTIN, drop=("model_framework_version",)),
     [ENTRY + "model_framework_version is missing: required with model_framework, model_artifact_location"]),
    ("model and package", changed(BATCH_CUSTOM, model_package_name="arn:aws:sagemaker:us-east-1:123456789012:"
                                                                   "model-package/iris/3"),
     [ENTRY + "model_package_name and custom_image_uri, model_artifact_location exclude each other"]),
    # unknown and misplaced fields
    ("unknown field", changed(RT_CUSTOM, inferance_instance="ml.m5.large"),
     [ENTRY + "inferance_instance is not a catalog field (did you mean 'inference_instance'?"]),
    ("field of another type", changed(BATCH_BUILTIN, data_capture_location="bucket/capture"),
     [ENTRY + "data_capture_location is not used by byom_batch_builtin (it belongs to byom_realtime_builtin, "
              "byom_realtime_custom)"]),
    ("builtin field on custom", changed(RT_CUSTOM, model_framework="xgboost"),
     [ENTRY + "model_framework is not used by byom_realtime_custom"]),
    # names
    ("model name pattern", changed(RT_CUSTOM, model_name="iris_tree"),
     ["pipelines[0] (model_name 'iris_tree'): model_name = 'iris_tree' is invalid: expected a SageMaker name"]),
    ("model name length", changed(RT_CUSTOM, model_name="m" * 64),
     ["model_name = 'mmmmm", "is invalid: expected a SageMaker name: 1 to 63"]),
    ("endpoint name", changed(RT_CUSTOM, endpoint_name="-endpoint"),
     [ENTRY + "endpoint_name = '-endpoint' is invalid: expected a SageMaker endpoint name"]),
    # frameworks, versions, regions
    ("framework container", changed(RT_BUILTIN, model_framework="sklearn"),
     [ENTRY + "model_framework = 'sklearn' is invalid: expected a SageMaker built-in algorithm: one of "]),
    ("unknown version", changed(BATCH_BUILTIN, model_framework_version="1.8-1"),
     [ENTRY + "model_framework_version = '1.8-1' is invalid for model_framework 'xgboost': expected one of 0.90-1"]),
    ("latest", changed(RT_BUILTIN, model_framework_version="latest"),
     [ENTRY + "model_framework_version = 'latest' is invalid", "pin a version"]),
    ("version as a fraction", changed(RT_BUILTIN, model_framework_version=0.9),
     [ENTRY + "model_framework_version = 0.9 is invalid", "quote it"]),
    # artifacts and images
    ("artifact as URI", changed(RT_CUSTOM, model_artifact_location="s3://bucket/model.tar.gz"),
     [ENTRY + "model_artifact_location = 's3://bucket/model.tar.gz' is invalid: expected an object key in the "
              "assets bucket", "not a URI"]),
    ("artifact suffix", changed(RT_CUSTOM, model_artifact_location="model.joblib"),
     [ENTRY + "model_artifact_location = 'model.joblib' is invalid", "ending in .tar.gz"]),
    ("artifact dot segment", changed(RT_CUSTOM, model_artifact_location="models/../model.tar.gz"),
     [ENTRY + "model_artifact_location = 'models/../model.tar.gz' is invalid"]),
    ("artifact leading slash", changed(RT_CUSTOM, model_artifact_location="/model.tar.gz"),
     [ENTRY + "model_artifact_location = '/model.tar.gz' is invalid"]),
    ("image not ECR", changed(RT_CUSTOM, custom_image_uri="docker.io/library/python:3.12"),
     [ENTRY + "custom_image_uri = 'docker.io/library/python:3.12' is invalid: expected an ECR image URI"]),
    ("image without tag", changed(BATCH_CUSTOM, custom_image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/x"),
     [ENTRY + "custom_image_uri = '123456789012.dkr.ecr.us-east-1.amazonaws.com/x' is invalid"]),
    ("unversioned package", changed(BATCH_BUILTIN, drop=("model_framework", "model_framework_version",
                                                         "model_artifact_location"),
                                    model_package_name="arn:aws:sagemaker:us-east-1:123456789012:model-package/xgb"),
     [ENTRY + "model_package_name = 'arn:aws:sagemaker:us-east-1:123456789012:model-package/xgb' is invalid: "
              "expected a versioned model package ARN"]),
    ("instance type", changed(RT_CUSTOM, inference_instance="m5.large"),
     [ENTRY + "inference_instance = 'm5.large' is invalid: expected a SageMaker instance type such as ml.m5.large"]),
    ("instance count", changed(BATCH_CUSTOM, inference_instance_count="2.5"),
     [ENTRY + "inference_instance_count = '2.5' is invalid: expected a whole number from 1 to 20"]),
    ("instance count bool", changed(BATCH_CUSTOM, inference_instance_count=True),
     [ENTRY + "inference_instance_count = true is invalid"]),
    ("instance count range", changed(RT_CUSTOM, inference_instance_count=0),
     [ENTRY + "inference_instance_count = 0 is invalid"]),
    ("content type", changed(RT_CUSTOM, content_type="csv"),
     [ENTRY + "content_type = 'csv' is invalid: expected a media type"]),
    # S3 locations
    ("bucket upper case", changed(RT_CUSTOM, data_capture_location="Bucket/capture"),
     [ENTRY + "data_capture_location = 'Bucket/capture' is invalid: expected an S3 location",
      "the bucket name must be 3 to 63 lowercase"]),
    ("bucket as IP", changed(RT_CUSTOM, data_capture_location="s3://192.168.1.1/capture"),
     [ENTRY + "data_capture_location = 's3://192.168.1.1/capture' is invalid", "not an IP address"]),
    ("bucket reserved", changed(BATCH_CUSTOM, batch_inference_data="xn--bucket/in"),
     [ENTRY + "batch_inference_data = 'xn--bucket/in' is invalid", "reserved by S3"]),
    ("no prefix", changed(BATCH_CUSTOM, batch_job_output_location="s3://bucket/"),
     [ENTRY + "batch_job_output_location = 's3://bucket/' is invalid", "a prefix is required"]),
    ("https URL", changed(RT_CUSTOM, data_capture_location="https://bucket.s3.amazonaws.com/capture"),
     [ENTRY + "data_capture_location = 'https://bucket.s3.amazonaws.com/capture' is invalid"]),
    ("output inside input", changed(BATCH_CUSTOM, batch_inference_data="bucket/batch",
                                    batch_job_output_location="s3://bucket/batch/output"),
     [ENTRY + "batch_job_output_location = 's3://bucket/batch/output' is invalid: it overlaps "
              "batch_inference_data 's3://bucket/batch'"]),
    # KMS
    ("kms alias", changed(RT_CUSTOM, kms_key_arn="arn:aws:kms:us-east-1:123456789012:alias/mlops"),
     [ENTRY + "kms_key_arn = 'arn:aws:kms:us-east-1:123456789012:alias/mlops' is invalid: expected a KMS key ARN"]),
    # image builder
    ("docker not a zip", changed(BUILDER, custom_algorithm_docker="custom/Dockerfile"),
     ["pipelines[0] (image builder mlops-ecrrep:tree): custom_algorithm_docker = 'custom/Dockerfile' is invalid",
      "ending in .zip"]),
    ("repo name", changed(BUILDER, ecr_repo_name="MLOps"),
     ["pipelines[0] (image builder MLOps:tree): ecr_repo_name = 'MLOps' is invalid: expected an ECR repository"]),
    ("image tag", changed(BUILDER, image_tag=".tree"),
     ["(image builder mlops-ecrrep:.tree): image_tag = '.tree' is invalid: expected an image tag"]),
    # per-environment values
    ("unknown environment", changed(RT_CUSTOM, inference_instance=per_env(lambda e: "ml.m5.large") | {"qa": "x"}),
     [ENTRY + "inference_instance.qa: 'qa' is not an environment of the topology (environments: dev, prod, staging)"]),
    ("environments differ between fields", changed(RT_CUSTOM, multi=True,
                                                   inference_instance={"dev": "ml.m5.large", "staging": "ml.m5.large"}),
     [ENTRY + "the per-environment values name different environments (inference_instance names dev, staging; "
              "data_capture_location names dev, prod, staging; endpoint_name names dev, prod, staging): an entry "
              "reaches the environments its per-environment values name, so each of them names the same ones"]),
    ("bad value in one environment", changed(RT_CUSTOM, multi=True,
                                             inference_instance={"dev": "ml.m5.large", "staging": "ml.m5.large",
                                                                 "prod": "c5.xlarge"}),
     [ENTRY + "inference_instance.prod = 'c5.xlarge' is invalid: expected a SageMaker instance type"]),
    ("empty per-environment object", changed(RT_CUSTOM, endpoint_name={}),
     [ENTRY + "endpoint_name is an empty object"]),
    ("nested per-environment object", changed(RT_CUSTOM, endpoint_name=per_env(lambda e: e) | {"dev": {"name": "x"}}),
     [ENTRY + "endpoint_name.dev = an object with 1 key(s) is invalid"]),
    ("environment key not a name", changed(RT_CUSTOM, endpoint_name=per_env(lambda e: e) | {"Dev": "x"}),
     [ENTRY + "endpoint_name has the key 'Dev', which is not an environment name"]),
    ("identity per environment", changed(RT_CUSTOM, model_name=per_env(lambda e: f"model-{e}")),
     ["mlops-config.json: pipelines[0]: model_name = an object with 3 key(s) is invalid: model_name cannot vary"]),
    # entries
    ("entry not an object", "byom_realtime_builtin", ["mlops-config.json: pipelines[0] is 'byom_realtime_builtin': "
                                                      "expected an object (one pipeline)"]),
]


@pytest.mark.parametrize(("label", "body", "fragments"), RULES, ids=[r[0] for r in RULES])
def test_each_rule_gives_one_line_naming_entry_field_value_and_what_is_allowed(label, body, fragments):
    (problem,) = problems_of(catalog(body))
    for fragment in fragments:
        assert fragment in problem


def test_framework_version_must_have_an_image_in_the_region_of_each_environment():
    body = changed(RT_BUILTIN, model_framework="lda", model_framework_version="1")
    assert validate_catalog(catalog(body), regions={"dev": "eu-west-1"}).entries
    (problem,) = problems_of(catalog(body), regions={"dev": "eu-west-1", "prod": "af-south-1"})
    assert problem.startswith(ENTRY + "model_framework 'lda' version '1' has no SageMaker image in af-south-1, "
                                      "where prod deploys")


def test_kms_keys_are_regional():
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    body = changed(BATCH_CUSTOM, kms_key_arn=key)
    assert validate_catalog(catalog(body), regions={"dev": "us-east-1"}).entries
    (problem,) = problems_of(catalog(body), regions={"dev": "us-east-1", "prod": "eu-west-1"})
    assert "the key is in us-east-1 but prod deploys to eu-west-1 (KMS keys are regional)" in problem


@pytest.mark.parametrize(("label", "document", "expected"), [
    ("not an object", [], "mlops-config.json: the document is a list of 0 item(s): expected an object"),
    ("no pipelines", {}, "mlops-config.json: pipelines is missing: expected a list of pipeline entries"),
    ("pipelines not a list", {"pipelines": {"a": 1}}, "pipelines = an object with 1 key(s): expected a list"),
    ("unknown top-level key", {"pipelines": [], "pipeline": []}, "pipeline is not a top-level key"),
])
def test_document_shape(label, document, expected):
    assert expected in " | ".join(problems_of(document))


def test_duplicates_are_refused():
    first = changed(RT_CUSTOM, model_name="iris", endpoint_name="shared")
    second = changed(BATCH_CUSTOM, model_name="Iris")
    third = changed(RT_BUILTIN, model_name="iris-2", endpoint_name="shared")
    builder = framework_body(BUILDER)
    problems = problems_of(catalog(first, second, third, builder, dict(builder)))
    assert problems == [
        "mlops-config.json: pipelines[1] (model_name 'Iris'): model_name 'Iris' is already used by pipelines[0] "
        "(model_name 'iris'): model names are unique, and may not differ only in letter case",
        "mlops-config.json: pipelines[2] (model_name 'iris-2'): endpoint_name 'shared' is already used by "
        "pipelines[0] (model_name 'iris'): each real-time entry has its own endpoint",
        "mlops-config.json: pipelines[4] (image builder mlops-ecrrep:tree): builds mlops-ecrrep:tree, as pipelines[3] "
        "(image builder mlops-ecrrep:tree) does: each image is built by one entry",
    ]


def test_every_problem_of_every_entry_at_once():
    bodies = [changed(RT_CUSTOM, model_name=f"m{i}", inference_instance="large", endpoint_name="_")
              for i in range(5)]
    problems = problems_of(catalog(*bodies))
    assert len(problems) == 10
    for i in range(5):
        mine = [p for p in problems if p.startswith(f"mlops-config.json: pipelines[{i}] (model_name 'm{i}'): ")]
        assert [p.split(": ")[2].split(" = ")[0] for p in mine] == ["inference_instance", "endpoint_name"]


def test_messages_stay_short_whatever_the_input():
    huge = "x" * 1_000_000
    bodies = [changed(RT_CUSTOM, model_name=huge, inference_instance=huge, **{huge: huge, "k" + huge: [huge] * 1000})
              for _ in range(3)]
    bodies.extend(changed(RT_CUSTOM, endpoint_name="_") for _ in range(MAX_PROBLEMS * 2))
    problems = problems_of(catalog(*bodies))
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].endswith("more problem(s)")
    assert max(map(len, problems)) < 700
    assert "(1000000 characters)" in problems[0]


def test_any_nesting_depth_is_refused_without_recursion_error():
    deep_text = '{"pipelines": [' + "[" * 200_000 + "]" * 200_000 + "]}"
    with pytest.raises(CatalogError) as error:
        parse_document(deep_text)
    assert error.value.problems == [f"mlops-config.json: is nested deeper than {MAX_DEPTH} levels: a catalog needs 4 "
                                    "(document, pipelines, entry, per-environment value)"]
    deep_value: list = []
    for _ in range(100_000):  # an already-parsed document (the provisioning API's body) of any depth
        deep_value = [deep_value]
    (problem,) = problems_of(catalog(changed(RT_CUSTOM, endpoint_name=deep_value)))
    assert "endpoint_name = a list of 1 item(s) is invalid" in problem


def test_json_text_is_read_strictly():
    def problem(data):
        with pytest.raises(CatalogError) as error:
            validate_catalog(parse_document(data))
        return error.value.problems

    assert problem('{"pipelines": [}') == ["mlops-config.json: is not valid JSON: Expecting value at line 1 column 16"]
    assert problem('{"pipelines": NaN}') == ["mlops-config.json: is not valid JSON: NaN is not a JSON number"]
    assert problem(b'{"pipelines": ["\xff"]}') == ["mlops-config.json: is not UTF-8 text (byte 16)"]
    assert "bytes: at most" in problem(" " * (MAX_DOCUMENT_BYTES + 1))[0]
    assert problem('{"pipelines": [], "pipelines": []}') == [
        "mlops-config.json: pipelines is given twice at the top level: give it once"]
    body = json.dumps(framework_body(BUILDER))[:-1] + ', "image_tag": "other"}'
    assert problem('{"pipelines": [' + body + "]}") == [
        "mlops-config.json: pipelines[0] (image builder mlops-ecrrep:other): image_tag is given twice in this object "
        "(JSON keeps only the last): give it once"]
    assert validate_catalog(parse_document("\ufeff" + json.dumps(catalog()))) == Catalog()


def test_a_missing_file_is_one_problem(tmp_path):
    with pytest.raises(CatalogError) as error:
        load_catalog_file(tmp_path / "mlops-config.json")
    (problem,) = error.value.problems
    assert problem.startswith("mlops-config.json: no such file")


def test_one_body_as_the_provisioning_api_receives_it():
    assert isinstance(validate_entry(framework_body(RT_BUILTIN, multi=True), environments=ENVIRONMENTS), ModelEntry)
    with pytest.raises(CatalogError) as error:
        validate_entry(changed(RT_BUILTIN, inference_instance="large"))
    assert error.value.problems == ["body (model_name 'testmodel'): inference_instance = 'large' is invalid: expected "
                                    "a SageMaker instance type such as ml.m5.large (ml.<family>.<size>)"]


def test_without_a_topology_any_environment_names_are_accepted():
    body = changed(RT_CUSTOM, inference_instance={"qa": "ml.m5.large"})
    (entry,) = validate_catalog(catalog(body), environments=None).entries
    assert entry.value_for("inference_instance", "qa") == "ml.m5.large"


def test_the_error_example_in_the_docs_is_what_the_validator_says():
    block = (ROOT / "docs" / "catalog.md").read_text().split("## Errors", 1)[1].split("```", 2)[1]
    documented = [line.removeprefix("error: stack dev: ") for line in block.strip().splitlines()]
    iris = changed(RT_CUSTOM, model_name="iris", endpoint_name="iris")
    tree = changed(RT_CUSTOM, multi=True, model_name="iris-tree",
                   inference_instance={"dev": "ml.t2.medium", "staging": "ml.m5.large", "prod": "c5.xlarge"})
    batch = changed(BATCH_CUSTOM, model_name="iris-batch")
    duplicate = changed(BATCH_CUSTOM, model_name="Iris")
    monitor = {**monitor_body("byom_data_quality_monitor", endpoint="iris-trees"), "model_name": "iris-drift"}
    assert problems_of(catalog(iris, tree, batch, duplicate, monitor)) == documented
