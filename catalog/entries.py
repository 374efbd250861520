"""The validated catalog as frozen, typed values: what later components (and the provisioning Lambda)
consume. Only ``catalog.validate`` builds these; it has checked every value already.

A field's value is an ``EnvValue``: the same value in every environment, or one per environment
(``{"dev": ..., "staging": ..., "prod": ...}`` in the file). ``entry.value_for(field, environment)``
resolves it for one environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

REALTIME_TYPES = ("byom_realtime_builtin", "byom_realtime_custom")
BATCH_TYPES = ("byom_batch_builtin", "byom_batch_custom")
IMAGE_BUILDER_TYPE = "byom_image_builder"
SUPPORTED_TYPES: tuple[str, ...] = (*REALTIME_TYPES, *BATCH_TYPES, IMAGE_BUILDER_TYPE)

_MODEL_COMMON = ("pipeline_type", "model_name", "inference_instance", "inference_instance_count", "content_type",
                 "accept", "model_artifact_location", "model_package_name", "kms_key_arn", "baseline_data")
_BUILTIN = ("model_framework", "model_framework_version")
_CUSTOM = ("custom_image_uri",)
_REALTIME = ("data_capture_location", "endpoint_name")
_BATCH = ("batch_inference_data", "batch_job_output_location", "batch_schedule")

FIELDS_OF: dict[str, tuple[str, ...]] = {
    "byom_realtime_builtin": (*_MODEL_COMMON, *_BUILTIN, *_REALTIME),
    "byom_realtime_custom": (*_MODEL_COMMON, *_CUSTOM, *_REALTIME),
    "byom_batch_builtin": (*_MODEL_COMMON, *_BUILTIN, *_BATCH),
    "byom_batch_custom": (*_MODEL_COMMON, *_CUSTOM, *_BATCH),
    IMAGE_BUILDER_TYPE: ("pipeline_type", "custom_algorithm_docker", "ecr_repo_name", "image_tag"),
}
"""The fields each pipeline type takes; any other field is refused."""

# --- model monitors (issue 13): the AWS MLOps Framework's four monitor bodies, attached to an endpoint ---------
DATA_QUALITY_MONITOR = "byom_data_quality_monitor"
MODEL_QUALITY_MONITOR = "byom_model_quality_monitor"
MODEL_BIAS_MONITOR = "byom_model_bias_monitor"
MODEL_EXPLAINABILITY_MONITOR = "byom_model_explainability_monitor"
MONITOR_TYPES = (DATA_QUALITY_MONITOR, MODEL_QUALITY_MONITOR, MODEL_BIAS_MONITOR, MODEL_EXPLAINABILITY_MONITOR)
MONITORING_TYPE = {DATA_QUALITY_MONITOR: "DataQuality", MODEL_QUALITY_MONITOR: "ModelQuality",
                   MODEL_BIAS_MONITOR: "ModelBias", MODEL_EXPLAINABILITY_MONITOR: "ModelExplainability"}
"""SageMaker's MonitoringType of each monitor entry type."""
TRAINED_ENDPOINT = "@trained"
"""A monitor's ``endpoint_name`` naming the stack's own endpoint (the trained model's): never a SageMaker
endpoint name (those have no '@'), so it cannot be confused with a catalog entry's."""
_MONITOR_COMMON = ("pipeline_type", "model_name", "endpoint_name", "baseline_data", "baseline_job_output_location",
                   "schedule_expression", "instance_type", "instance_volume_size", "baseline_max_runtime_seconds",
                   "monitor_max_runtime_seconds", "kms_key_arn")
_MONITOR_MODEL = ("problem_type", "monitor_inference_attribute", "monitor_probability_attribute",
                  "probability_threshold_attribute")
FIELDS_OF.update({
    DATA_QUALITY_MONITOR: _MONITOR_COMMON,
    MODEL_QUALITY_MONITOR: (*_MONITOR_COMMON, *_MONITOR_MODEL, "baseline_inference_attribute",
                            "baseline_probability_attribute", "baseline_ground_truth_attribute",
                            "monitor_ground_truth_input"),
    MODEL_BIAS_MONITOR: (*_MONITOR_COMMON, *_MONITOR_MODEL, "monitor_ground_truth_input", "bias_config",
                         "model_predicted_label_config", "features_attribute"),
    MODEL_EXPLAINABILITY_MONITOR: (*_MONITOR_COMMON, *_MONITOR_MODEL, "shap_config", "model_scores",
                                   "features_attribute"),
})
SUPPORTED_TYPES = (*SUPPORTED_TYPES, *MONITOR_TYPES)
# --- end of model monitors ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix`` (given as ``bucket/prefix`` or ``s3://bucket/prefix``; no trailing ``/``)."""

    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def __str__(self) -> str:
        return self.uri


@dataclass(frozen=True)
class EnvValue(Generic[T]):
    """One field's value: ``everywhere`` (one value for every environment) or ``by_environment``."""

    everywhere: T | None = None
    by_environment: tuple[tuple[str, T], ...] = ()

    @property
    def varies(self) -> bool:
        """The file gave one value per environment."""
        return bool(self.by_environment)

    def for_environment(self, environment: str) -> T:
        if not self.by_environment:
            return self.everywhere  # type: ignore[return-value]  # set whenever by_environment is empty
        for name, value in self.by_environment:
            if name == environment:
                return value
        known = ", ".join(name for name, _ in self.by_environment)
        raise KeyError(f"no value for environment {environment!r} (the catalog gives {known})")

    def values(self) -> Iterator[T]:
        """Every distinct value this field takes, in file order."""
        if not self.by_environment:
            yield self.everywhere  # type: ignore[misc]
            return
        seen: list[T] = []
        for _, value in self.by_environment:
            if value not in seen:
                seen.append(value)
                yield value


class _Entry:
    """What every entry offers: where it is in the file and per-environment lookups."""

    index: int
    pipeline_type: str

    @property
    def label(self) -> str:
        """How error messages and logs name the entry: ``pipelines[2] (model_name 'iris-batch')``."""
        raise NotImplementedError

    def reaches(self, environment: str) -> bool:
        """Whether the entry is deployed in ``environment``: an entry whose values name environments
        reaches those; one without per-environment values reaches every environment."""
        environments: tuple[str, ...] = getattr(self, "environments", ())
        return not environments or environment in environments

    def value_for(self, field: str, environment: str) -> Any:
        """The value of ``field`` (a catalog field name) in ``environment``; None when it was not given
        and has no default."""
        if field not in FIELDS_OF[self.pipeline_type] or field == "pipeline_type":
            raise KeyError(f"{field!r} is not a field of a {self.pipeline_type} entry")
        if not self.reaches(environment):
            raise KeyError(f"{self.label} does not reach environment {environment!r}")
        value = getattr(self, field)
        if isinstance(value, EnvValue):
            return value.for_environment(environment)
        return value


@dataclass(frozen=True)
class ModelEntry(_Entry):
    """A real-time (endpoint) or batch (transform) pipeline serving one model."""

    index: int
    pipeline_type: str
    model_name: str
    environments: tuple[str, ...]
    """The environments the entry reaches: those its per-environment values name; empty: every one."""
    inference_instance: EnvValue[str]
    inference_instance_count: EnvValue[int]
    content_type: EnvValue[str]
    accept: EnvValue[str]
    model_framework: EnvValue[str] | None = None
    model_framework_version: EnvValue[str] | None = None
    model_artifact_location: EnvValue[str] | None = None
    """Object key in the registry environment's stack bucket (the framework's assets bucket)."""
    custom_image_uri: EnvValue[str] | None = None
    model_package_name: EnvValue[str] | None = None
    """A versioned model package ARN; instead of the image and artifact fields."""
    kms_key_arn: EnvValue[str] | None = None
    """None: the stack's own key."""
    baseline_data: EnvValue[S3Location] | None = None
    """Headerless CSV training data, label first (an S3 prefix): the upload registration baselines it with
    Model Monitor's analyzer and registers the package with that baseline (its value for the registry
    environment, where uploads are registered); None: the package has no baseline."""
    data_capture_location: EnvValue[S3Location] | None = None
    endpoint_name: EnvValue[str] | None = None
    batch_inference_data: EnvValue[S3Location] | None = None
    batch_job_output_location: EnvValue[S3Location] | None = None
    batch_schedule: EnvValue[str] | None = None
    """An EventBridge schedule expression (``cron(...)`` / ``rate(...)``) on which the batch pipeline also
    transforms everything under ``batch_inference_data``; None: uploads start it only."""
    source: str = ""
    """Where the entry lives when not in the catalog file: its object in the catalog store (the
    provisioning API's), e.g. ``catalog store iris-x.json``; empty for the file's entries."""

    @property
    def label(self) -> str:
        return f"{self.source or f'pipelines[{self.index}]'} (model_name {self.model_name!r})"

    @property
    def realtime(self) -> bool:
        return self.pipeline_type in REALTIME_TYPES

    @property
    def builtin(self) -> bool:
        """A SageMaker built-in algorithm image (``*_builtin``) rather than ``custom_image_uri``."""
        return self.pipeline_type.endswith("_builtin")

    @property
    def from_model_package(self) -> bool:
        """The model is a registered model package (``model_package_name``)."""
        return self.model_package_name is not None


@dataclass(frozen=True)
class ImageBuilderEntry(_Entry):
    """Builds ``custom_algorithm_docker`` into ``ecr_repo_name:image_tag``."""

    index: int
    pipeline_type: str
    custom_algorithm_docker: str
    """Object key of a zip with a Dockerfile, in the registry environment's stack bucket."""
    ecr_repo_name: str
    image_tag: str
    source: str = ""
    """As ``ModelEntry.source``."""

    @property
    def label(self) -> str:
        return f"{self.source or f'pipelines[{self.index}]'} (image builder {self.ecr_repo_name}:{self.image_tag})"


# --- model monitors (issue 13) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitorEntry(_Entry):
    """A Model Monitor schedule (and the baseline it compares with) on one served endpoint: a real-time catalog
    entry's (``endpoint_name`` as that entry writes it, or its ``model_name`` where it has no endpoint_name) or
    the stack's own (``TRAINED_ENDPOINT``)."""

    index: int
    pipeline_type: str
    model_name: str
    """Names the entry (with its type: ``pipeline_id``); need not be a catalog model's."""
    environments: tuple[str, ...]
    endpoint_name: EnvValue[str]
    baseline_data: EnvValue[str]
    """Object key of the baseline dataset (CSV with a header) in the stack bucket of each environment the
    monitor deploys to: its upload starts the baseline run."""
    baseline_job_output_location: EnvValue[S3Location]
    """Where the baseline run writes statistics.json / constraints.json, which the monitor compares with."""
    schedule_expression: EnvValue[str]
    instance_type: EnvValue[str]
    instance_volume_size: EnvValue[int]
    monitor_max_runtime_seconds: EnvValue[int]
    baseline_max_runtime_seconds: EnvValue[int]
    kms_key_arn: EnvValue[str] | None = None
    """The key of the entry's own S3 locations (baseline data and output, ground truth), used through S3;
    None: the stack's key."""
    problem_type: str | None = None
    monitor_inference_attribute: str | None = None
    monitor_probability_attribute: str | None = None
    probability_threshold_attribute: float | None = None
    baseline_inference_attribute: str | None = None
    baseline_probability_attribute: str | None = None
    baseline_ground_truth_attribute: str | None = None
    monitor_ground_truth_input: EnvValue[S3Location] | None = None
    features_attribute: str | None = None
    bias_config: Any = None
    """Clarify's analysis configuration parts, as checked JSON values (``catalog.clarify``)."""
    model_predicted_label_config: Any = None
    shap_config: Any = None
    model_scores: str | int | None = None
    source: str = ""
    """As ``ModelEntry.source``."""

    @property
    def label(self) -> str:
        return f"{self.source or f'pipelines[{self.index}]'} ({self.pipeline_type} {self.model_name!r})"

    @property
    def monitoring_type(self) -> str:
        """SageMaker's MonitoringType: DataQuality, ModelQuality, ModelBias or ModelExplainability."""
        return MONITORING_TYPE[self.pipeline_type]


Entry = ModelEntry | ImageBuilderEntry | MonitorEntry


@dataclass(frozen=True)
class Catalog:
    """Every entry of ``mlops-config.json``, validated, in file order."""

    entries: tuple[Entry, ...] = ()
    environments: tuple[str, ...] = ()
    """The environments per-environment values were checked against (empty: not checked)."""

    @property
    def models(self) -> tuple[ModelEntry, ...]:
        return tuple(e for e in self.entries if isinstance(e, ModelEntry))

    @property
    def realtime(self) -> tuple[ModelEntry, ...]:
        return tuple(e for e in self.models if e.realtime)

    @property
    def batch(self) -> tuple[ModelEntry, ...]:
        return tuple(e for e in self.models if not e.realtime)

    @property
    def image_builders(self) -> tuple[ImageBuilderEntry, ...]:
        return tuple(e for e in self.entries if isinstance(e, ImageBuilderEntry))

    @property
    def monitors(self) -> tuple[MonitorEntry, ...]:
        return tuple(e for e in self.entries if isinstance(e, MonitorEntry))

    def reaching(self, environment: str) -> tuple[Entry, ...]:
        """The entries deployed in ``environment``."""
        return tuple(e for e in self.entries if e.reaches(environment))

    def model(self, model_name: str) -> ModelEntry:
        for entry in self.models:
            if entry.model_name == model_name:
                return entry
        raise KeyError(f"no catalog entry with model_name {model_name!r}")
