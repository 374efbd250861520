"""The model catalog's generated files, and the check that they are current.

    python -m tools.catalog_files           # rewrite the files (make catalog-files)
    python -m tools.catalog_files --check   # exit 1 naming each file that differs from what would be written

- ``program/sagemaker_images.json`` (``tools/sagemaker_images.py``): the AWS-owned image URIs the program
  runs (built-in algorithms per version, instance class and region; Model Monitor's analyzer and
  Clarify per region), as sagemaker-core's ``image_uris`` gives them: ``program/images.py`` reads it, so
  neither a preview nor a deploy imports sagemaker-core, a dependency of this generator only;
- ``catalog/builtin_frameworks.json``: which SageMaker built-in algorithms (``model_framework``) have an
  inference image for which versions in which regions (those of the CPU images above). The stdlib
  validator (``catalog/validate.py``) reads it, so the provisioning Lambda needs no sagemaker-core;
  the program then takes the image for the entry's instance type (``program/catalog.py``).
- ``catalog/mlops-config.schema.json``: the JSON Schema for editors, built from the validator's own field
  table (patterns, required and allowed fields per type, frameworks) so that the two cannot disagree on
  what JSON Schema can express.

Regenerate after upgrading sagemaker-core or changing the validator's fields; tests/catalog fail until
the shipped files equal what this module produces.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from catalog import clarify, validate as v
from catalog.entries import MONITOR_TYPES, SUPPORTED_TYPES, TRAINED_ENDPOINT
from program.images import IMAGE_SCOPE
from tools import sagemaker_images
from tools.sagemaker_images import INSTANCE_CLASSES, images_document

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS_FILE = v.FRAMEWORKS_FILE
SCHEMA_FILE = ROOT / "catalog" / "mlops-config.schema.json"

BUILTIN_ALGORITHMS = (
    "blazingtext", "factorization-machines", "forecasting-deepar", "image-classification", "ipinsights",
    "kmeans", "knn", "lda", "linear-learner", "ntm", "object-detection", "object2vec", "pca",
    "randomcutforest", "semantic-segmentation", "seq2seq", "xgboost",
)
"""The SageMaker built-in algorithms: their inference images serve a ``model.tar.gz`` with no code of
yours, which is what ``byom_*_builtin`` means in the AWS MLOps Framework. Framework containers
(sklearn, pytorch, tensorflow, ...) need your inference script: bring those as a custom image."""
PROBE_INSTANCE_TYPE = INSTANCE_CLASSES["cpu"]
"""image_uris needs an instance type to choose CPU or GPU images where a version has both: the table
lists the regions of the CPU images."""


# ---------------------------------------------------------------------------------------------------
# builtin_frameworks.json from sagemaker-core (through program/sagemaker_images.json's document)


def frameworks_table() -> dict[str, Any]:
    """framework -> version -> sorted regions in which sagemaker-core resolves an inference image for a CPU
    instance (``PROBE_INSTANCE_TYPE``): the regions of the images in ``program/sagemaker_images.json``."""
    document = images_document(BUILTIN_ALGORITHMS)
    table: dict[str, dict[str, list[str]]] = {}
    for framework, versions in document["builtin_algorithms"].items():
        table[framework] = {version: sorted(document["registries"][images["cpu"]["registries"]])
                            for version, images in versions.items() if "cpu" in images}
    return {
        "description": "SageMaker built-in algorithms with an inference image, per version and region. Generated "
                       "by `python -m tools.catalog_files` from sagemaker-core; do not edit.",
        "generated_from": document["generated_from"],
        "image_scope": IMAGE_SCOPE,
        "frameworks": table,
    }


# ---------------------------------------------------------------------------------------------------
# mlops-config.schema.json from the validator's field table


def _string(pattern: str, max_length: int) -> dict[str, Any]:
    """Named groups are Python syntax (``(?P<x>``); JSON Schema patterns are ECMA 262: drop the names."""
    return {"type": "string", "pattern": re.sub(r"\(\?P<\w+>", "(", pattern), "maxLength": max_length}


def _field_schemas(frameworks: list[str]) -> dict[str, dict[str, Any]]:
    """A schema per field for one plain value (per-environment objects are added around them)."""
    s3 = r"^(s3://)?[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9!_.*'()=+@/-]+$"
    key = v.OBJECT_KEY.pattern
    return {
        "pipeline_type": {"enum": list(SUPPORTED_TYPES)},
        "model_name": _string(v.SAGEMAKER_NAME.pattern, v.SAGEMAKER_NAME_MAX),
        "model_framework": {"enum": frameworks},
        "model_framework_version": {"anyOf": [
            {"type": "string", "pattern": v.FRAMEWORK_VERSION.pattern, "not": {"const": "latest"}},
            {"type": "integer", "minimum": 0}]},
        "model_artifact_location": {"allOf": [_string(key, v.OBJECT_KEY_MAX), {"pattern": r"\.tar\.gz$"}]},
        "custom_image_uri": _string(v.ECR_IMAGE_URI.pattern, v.ECR_IMAGE_URI_MAX),
        "model_package_name": _string(v.MODEL_PACKAGE_ARN.pattern, 2048),
        "inference_instance": _string(v.INSTANCE_TYPE.pattern, 64),
        "inference_instance_count": {"anyOf": [
            {"type": "integer", "minimum": 1, "maximum": v.INSTANCE_COUNT_MAX},
            {"type": "string", "pattern": "^[0-9]{1,6}$"}]},
        "content_type": _string(v.MEDIA_TYPE.pattern, v.MEDIA_TYPE_MAX),
        "accept": _string(v.MEDIA_TYPE.pattern, v.MEDIA_TYPE_MAX),
        "data_capture_location": _string(s3, 512),
        "endpoint_name": _string(v.SAGEMAKER_NAME.pattern, v.SAGEMAKER_NAME_MAX),
        "batch_inference_data": _string(s3, 1024),
        "batch_job_output_location": _string(s3, 1024),
        "baseline_data": _string(s3, 1024),
        "batch_schedule": _string(r"^(rate\([1-9][0-9]{0,5} (minutes?|hours?|days?)\)|cron\([^ ()]+( [^ ()]+){5}\))$",
                                  v.SCHEDULE_MAX),
        "kms_key_arn": _string(v.KMS_KEY_ARN.pattern, 2048),
        "custom_algorithm_docker": {"allOf": [_string(key, v.OBJECT_KEY_MAX), {"pattern": r"\.zip$"}]},
        "ecr_repo_name": {**_string(v.ECR_REPOSITORY.pattern, v.ECR_REPOSITORY_MAX), "minLength": 2},
        "image_tag": _string(v.IMAGE_TAG.pattern, 128),
        **_monitor_field_schemas(s3, key),
    }


def _monitor_field_schemas(s3: str, key: str) -> dict[str, dict[str, Any]]:
    """The monitor entries' fields (``MONITOR_OWN_FIELDS`` under their own names)."""
    number = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[0-9]{1,6}$"}]}
    attribute = {"anyOf": [{"type": "string", "minLength": 1, "maxLength": v.ATTRIBUTE_MAX},
                           {"type": "integer", "minimum": 0}]}
    clarify_parts = {field: {"type": "object", "minProperties": 1, "properties": {k: {} for k in checks},
                             "required": list(required), "additionalProperties": False}
                     for field, (checks, required, _) in clarify.SHAPES.items()}
    return {
        "monitor_endpoint_name": {"anyOf": [{"const": TRAINED_ENDPOINT},
                                            _string(v.SAGEMAKER_NAME.pattern, v.SAGEMAKER_NAME_MAX)]},
        "monitor_baseline_data": {"allOf": [_string(key, v.OBJECT_KEY_MAX), {"pattern": r"\.csv$"}]},
        "baseline_job_output_location": _string(s3, 1024),
        "schedule_expression": _string(v.MONITORING_CRON.pattern, v.SCHEDULE_MAX),
        "instance_type": _string(v.INSTANCE_TYPE.pattern, 64),
        "instance_volume_size": number,
        "baseline_max_runtime_seconds": number,
        "monitor_max_runtime_seconds": number,
        "problem_type": {"enum": list(v.PROBLEM_TYPES)},
        "monitor_inference_attribute": attribute,
        "monitor_probability_attribute": attribute,
        "probability_threshold_attribute": {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1},
                                                      {"type": "string", "pattern": r"^[0-9.]{1,8}$"}]},
        "baseline_inference_attribute": attribute,
        "baseline_probability_attribute": attribute,
        "baseline_ground_truth_attribute": attribute,
        "monitor_ground_truth_input": _string(s3, v.GROUND_TRUTH_URI_MAX),
        "features_attribute": attribute,
        "model_scores": attribute,
        **clarify_parts,
    }


MONITOR_OWN_FIELDS = ("endpoint_name", "baseline_data")
"""Fields monitor entries read otherwise than model entries (``validate.MONITOR_FIELDS``)."""


def _entry_schema(kind: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name in v.ALLOWED[kind]:
        # A monitor's endpoint_name also takes @trained, its baseline_data is a .csv key in the stack bucket:
        # under their own names in $defs/fields.
        field = f"monitor_{name}" if kind in MONITOR_TYPES and name in MONITOR_OWN_FIELDS else name
        if name == "pipeline_type":
            properties[name] = {"const": kind}
        elif v.field_spec(kind, name).per_environment:
            properties[name] = {"anyOf": [{"$ref": f"#/$defs/fields/{field}"},
                                          {"$ref": "#/$defs/perEnvironment",
                                           "additionalProperties": {"$ref": f"#/$defs/fields/{field}"}}]}
        else:
            properties[name] = {"$ref": f"#/$defs/fields/{field}"}
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(v.REQUIRED[kind]),
                              "additionalProperties": False}
    if kind != v.IMAGE_BUILDER_TYPE and kind not in MONITOR_TYPES:
        model = list(v.MODEL_KEYS["builtin" if kind.endswith("_builtin") else "custom"])
        schema["oneOf"] = [
            {"required": model, "not": {"required": ["model_package_name"]}},
            # baseline_data is baselined on upload: a registered package brings its own baseline, or none.
            {"required": ["model_package_name"],
             "not": {"anyOf": [{"required": [k]} for k in (*model, "baseline_data")]}},
        ]
    return schema


def schema_document(frameworks: list[str]) -> dict[str, Any]:
    """The schema; ``frameworks``: the built-in algorithms of the frameworks table."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mlops model catalog (mlops-config.json)",
        "description": "Generated by `python -m tools.catalog_files` from catalog/validate.py; do not edit. "
                       "The validator also checks what JSON Schema cannot express: per-environment keys against "
                       "the topology, framework/version/region pairs, S3 bucket-name rules, numeric strings' "
                       "range, the fields of a batch_schedule, overlapping batch locations, unique names, the fields a monitor "
                       "requires per problem_type, the Clarify parts' values and the endpoint a monitor names. See "
                       "docs/catalog.md.",
        "type": "object",
        "properties": {
            "$schema": {"type": "string"},
            "pipelines": {"type": "array", "items": {"$ref": "#/$defs/entry"}},
        },
        "required": ["pipelines"],
        "additionalProperties": False,
        "$defs": {
            "entry": {
                "type": "object",
                "required": ["pipeline_type"],
                "properties": {"pipeline_type": {"enum": list(SUPPORTED_TYPES)}},
                "allOf": [{"if": {"properties": {"pipeline_type": {"const": kind}}},
                           "then": {"$ref": f"#/$defs/types/{kind}"}} for kind in SUPPORTED_TYPES],
            },
            "types": {kind: _entry_schema(kind) for kind in SUPPORTED_TYPES},
            "perEnvironment": {
                "description": "One value per environment of the topology: {\"dev\": ..., \"staging\": ..., "
                               "\"prod\": ...}.",
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": v.ENVIRONMENT.pattern},
            },
            "fields": _field_schemas(frameworks),
        },
    }


# ---------------------------------------------------------------------------------------------------


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def expected_files() -> dict[Path, str]:
    """What the files should hold (the schema lists the frameworks of the freshly generated table)."""
    table = frameworks_table()
    images_file, images_text = sagemaker_images.expected_file(BUILTIN_ALGORITHMS)
    return {FRAMEWORKS_FILE: render(table), SCHEMA_FILE: render(schema_document(sorted(table["frameworks"]))),
            images_file: images_text}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.catalog_files", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report files that are not current")
    args = parser.parse_args(argv)
    expected = expected_files()
    stale = [path for path, text in expected.items() if not path.exists() or path.read_text() != text]
    if not args.check:
        for path in stale:
            path.write_text(expected[path])
    for path in stale:
        print(f"{'stale' if args.check else 'rewrote'}: {path.relative_to(ROOT)}", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
