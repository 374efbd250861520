"""Bodies in the AWS MLOps Framework's provisioning format (its field names and value formats), one of
each supported type, single-environment and multi-environment (``{"dev": ..., "staging": ..., "prod":
...}``) forms. The values follow that framework's documentation and tests (bucket/prefix locations,
object keys in the assets bucket), with real formats where its tests use placeholders."""

from __future__ import annotations

import copy
from typing import Any

ENVIRONMENTS = ("dev", "prod", "staging")
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-ecrrep:tree"
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/xgboost/1"


def per_env(value_of) -> dict[str, Any]:
    return {env: value_of(env) for env in ("dev", "staging", "prod")}


def _realtime(kind: str, multi: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"pipeline_type": kind, "model_name": "testmodel", "model_artifact_location": "model.tar.gz"}
    body["inference_instance"] = per_env(lambda e: "ml.m5.large") if multi else "ml.m5.large"
    body["data_capture_location"] = per_env(lambda e: f"bucket/{e}_datacapture") if multi else "bucket/datacapture"
    body["endpoint_name"] = per_env(lambda e: f"{e}-endpoint") if multi else "test-endpoint"
    return body


def _batch(kind: str, multi: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"pipeline_type": kind, "model_name": "testmodel", "model_artifact_location": "model.tar.gz"}
    body["inference_instance"] = per_env(lambda e: "ml.m5.large") if multi else "ml.m5.large"
    body["batch_inference_data"] = "inference/data.csv"
    body["batch_job_output_location"] = per_env(lambda e: f"bucket/{e}_output") if multi else "bucket/output"
    return body


def framework_body(kind: str, multi: bool = False, registry: bool = False) -> dict[str, Any]:
    """One body of ``kind``; ``registry``: the model as a model package (the framework's model registry
    option) instead of the image and artifact fields."""
    if kind == "byom_image_builder":
        return {"pipeline_type": kind, "custom_algorithm_docker": "custom/custom_image.zip",
                "ecr_repo_name": "mlops-ecrrep", "image_tag": "tree"}
    body = _realtime(kind, multi) if "realtime" in kind else _batch(kind, multi)
    if registry:
        del body["model_artifact_location"]
        body["model_package_name"] = PACKAGE
    elif kind.endswith("_builtin"):
        body["model_framework"] = "xgboost"
        body["model_framework_version"] = "0.90-1"
    else:
        body["custom_image_uri"] = IMAGE
    return copy.deepcopy(body)


MODEL_TYPES = ("byom_realtime_builtin", "byom_realtime_custom", "byom_batch_builtin", "byom_batch_custom")
FRAMEWORK_BODIES = [
    *[(f"{kind}-{form}", framework_body(kind, multi=form == "multi")) for kind in MODEL_TYPES
      for form in ("single", "multi")],
    *[(f"{kind}-registry", framework_body(kind, registry=True)) for kind in MODEL_TYPES],
    ("byom_image_builder", framework_body("byom_image_builder")),
]


def catalog(*bodies: dict[str, Any]) -> dict[str, Any]:
    return {"pipelines": list(bodies)}
