"""`WorkflowDefinitionParams`: every value the definition needs, checked once before anything is built.

Plain strings and numbers only, no Pulumi: the component resolves its Outputs first, so the builders
stay testable with statelint and moto. Validation reports every problem at once, each with the field,
the value and what is allowed (the `program/settings.py` style), because a bad value here would
otherwise surface as an opaque state machine or SageMaker error at deploy or run time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.workflow.baseline import ANALYZER_IMAGE, BaselineJobSpec

__all__ = ["WorkflowDefinitionParams"]

_SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_RUN_ID_LENGTH = 32  # MD5 hex digest
_MAX_PREFIX_LENGTH = 63 - 1 - _RUN_ID_LENGTH
_PLACEHOLDER = re.compile(r"[{}'\\]")  # characters that States.Format string literals must escape


@dataclass(frozen=True)
class WorkflowDefinitionParams:
    """Everything the definition needs, as plain values (resolve Pulumi Outputs before building)."""

    name_prefix: str
    """Prefix of the per-run SageMaker names (training job, model, transform job, endpoint config):
    ``<name_prefix>-<md5(commitId/executionName)>``. 1-30 characters, letters, digits and hyphens."""

    sagemaker_role_arn: str
    """Execution role that SageMaker assumes for training, the model and the transform job."""

    training_data_uri: str
    """Default S3 URI (s3://bucket/prefix) of the training channel; execution input `trainingData` overrides it."""

    validation_data_uri: str
    """Default S3 URI of the validation channel; execution input `validationData` overrides it."""

    test_data_uri: str
    """Default S3 URI of the held-out test data the batch transform scores; input `testData` overrides it.
    CSV, label in the first column, no header."""

    output_prefix: str
    """s3://bucket/prefix under which model artifacts (``/training``) and transform output (``/evaluation``) go."""

    kms_key_arn: str
    """KMS key for training volumes, model artifacts, transform output and the endpoint's storage."""

    model_package_group_name: str
    """SageMaker model package group the evaluated model is registered in."""

    endpoint_name: str
    """The stage's stable endpoint name: created on the first run, updated afterwards."""

    approval_request_function_arn: str
    """Lambda that e-mails the signed approve / reject links (invoked with .waitForTaskToken)."""

    evaluate_function_arn: str
    """Lambda that scores the batch transform output: {transformOutput, minAccuracy} → {accuracy, passed, ...}."""

    notify_function_arn: str
    """Lambda that sends the success or failure notification."""

    smoke_test_function_arn: str
    """The inference proxy Lambda, invoked directly with a sample record as the smoke test."""

    inference_url: str
    """The inference API URL announced in the success notification."""

    baseline_image_uri: str
    """The SageMaker Model Monitor analyzer image of the stack's region (sagemaker-core's ``image_uris``,
    ``framework="model-monitor"``, resolved once by the composition): the Baseline step runs it over the
    training data."""

    default_hyperparameters: Mapping[str, str] = field(default_factory=dict)
    """Hyperparameters passed to the training container; execution input `hyperparameters` overrides keys."""

    training_instance_type: str = "ml.m5.large"
    """Instance type of the training job."""

    training_instance_count: int = 1
    """Number of training instances."""

    training_volume_gb: int = 10
    """Size of each training instance's ML storage volume (KMS-encrypted)."""

    training_max_runtime_seconds: int = 3600
    """StoppingCondition.MaxRuntimeInSeconds of the training job."""

    transform_instance_type: str = "ml.m5.large"
    """Instance type of the evaluation batch transform."""

    transform_instance_count: int = 1
    """Number of batch transform instances."""

    network_isolation: bool = True
    """Run the training job, the model and the baseline job without outbound network access (none needs it)."""

    baseline_instance_type: str = BaselineJobSpec.instance_type
    """Instance type of the baseline processing job (Model Monitor's analyzer over the training data)."""

    baseline_volume_gb: int = BaselineJobSpec.volume_gb
    """Size of the baseline job's ML storage volume (KMS-encrypted)."""

    baseline_max_runtime_seconds: int = BaselineJobSpec.max_runtime_seconds
    """StoppingCondition.MaxRuntimeInSeconds of the baseline job."""

    metric_name: str = "validation:accuracy"
    """Training metric name SageMaker extracts from the container's log."""

    metric_regex: str = r"validation:accuracy=([0-9.]+)"
    """Regex with one group that captures the metric value in the training container's log."""

    min_accuracy: float = 0.9
    """Minimum test accuracy (0-1) a model needs before it is registered and sent for approval."""

    endpoint_instance_type: str = "ml.t2.medium"
    """Instance type of the endpoint's single production variant."""

    endpoint_instance_count: int = 1
    """Initial instance count of the endpoint's production variant."""

    approval_timeout_seconds: int = 86400
    """How long the workflow waits for an approval decision before it rejects the model package."""

    deploy_endpoint: bool = True
    """True: after approval the workflow deploys the stage's endpoint and smoke-tests it (dev). False:
    the endpoint is a Pulumi resource set by model promotion (staging, prod); the workflow ends once
    the package is Approved, which is what starts the promotion."""

    smoke_test_record: str = "5.1,3.5,1.4,0.2"
    """CSV feature record the smoke test sends through the inference proxy."""

    endpoint_poll_seconds: int = 30
    """Seconds between DescribeEndpoint polls while the endpoint is creating / updating."""

    endpoint_max_polls: int = 60
    """Polls before the workflow gives up waiting for InService (poll seconds x polls = deadline)."""

    retry_interval_seconds: int = 5
    """Retry IntervalSeconds for throttling / transient errors (at least 1)."""

    retry_max_attempts: int = 3
    """Retry MaxAttempts for throttling / transient errors (0 disables retries)."""

    retry_backoff_rate: float = 2.0
    """Retry BackoffRate (at least 1.0)."""

    def __post_init__(self) -> None:
        problems: list[str] = []

        def bad(name: str, allowed: str) -> None:
            problems.append(f"{name}={getattr(self, name)!r} is not allowed: {allowed}")

        if not (_SAGEMAKER_NAME.match(self.name_prefix) and len(self.name_prefix) <= _MAX_PREFIX_LENGTH):
            bad("name_prefix", f"use 1-{_MAX_PREFIX_LENGTH} letters, digits or hyphens, starting and ending with a letter or digit")
        for name in ("sagemaker_role_arn", "kms_key_arn", "approval_request_function_arn", "evaluate_function_arn",
                     "notify_function_arn", "smoke_test_function_arn"):
            if not _is_text(getattr(self, name)) or not getattr(self, name).startswith("arn:"):
                bad(name, "use an ARN (arn:...)")
        for name in ("training_data_uri", "validation_data_uri", "test_data_uri", "output_prefix"):
            if not _is_text(getattr(self, name)) or not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", getattr(self, name)):
                bad(name, "use an S3 URI such as s3://bucket/prefix")
        if _is_text(self.output_prefix) and self.output_prefix.endswith("/"):
            bad("output_prefix", "leave out the trailing slash")
        for name in ("model_package_group_name", "endpoint_name"):
            if not _is_text(getattr(self, name)) or not _SAGEMAKER_NAME.match(getattr(self, name)):
                bad(name, "use 1-63 letters, digits or hyphens, starting and ending with a letter or digit")
        if not _is_text(self.inference_url) or not self.inference_url.startswith("https://"):
            bad("inference_url", "use an https:// URL")
        if not isinstance(self.default_hyperparameters, Mapping) or not all(
            _is_text(k) and isinstance(v, str) for k, v in self.default_hyperparameters.items()
        ):
            bad("default_hyperparameters", "use a mapping of non-empty string names to string values (SageMaker passes hyperparameters as strings)")
        if not _is_text(self.baseline_image_uri) or not ANALYZER_IMAGE.match(self.baseline_image_uri):
            bad("baseline_image_uri", "use an ECR image URI (<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:<tag>])")
        for name in ("training_instance_type", "transform_instance_type", "endpoint_instance_type", "baseline_instance_type"):
            if not _is_text(getattr(self, name)) or not getattr(self, name).startswith("ml."):
                bad(name, "use a SageMaker instance type such as ml.m5.large")
        for name, low in (("training_instance_count", 1), ("training_volume_gb", 1), ("training_max_runtime_seconds", 1),
                          ("transform_instance_count", 1), ("baseline_volume_gb", 1), ("baseline_max_runtime_seconds", 1),
                          ("endpoint_instance_count", 1), ("approval_timeout_seconds", 1),
                          ("endpoint_poll_seconds", 1), ("endpoint_max_polls", 1), ("retry_interval_seconds", 1),
                          ("retry_max_attempts", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                bad(name, f"use a whole number >= {low}")
        if isinstance(self.min_accuracy, bool) or not isinstance(self.min_accuracy, (int, float)) or not 0 <= self.min_accuracy <= 1:
            bad("min_accuracy", "use a number between 0 and 1")
        if isinstance(self.retry_backoff_rate, bool) or not isinstance(self.retry_backoff_rate, (int, float)) or self.retry_backoff_rate < 1:
            bad("retry_backoff_rate", "use a number >= 1.0")
        if not isinstance(self.network_isolation, bool):
            bad("network_isolation", "use true or false")
        if not isinstance(self.deploy_endpoint, bool):
            bad("deploy_endpoint", "use true or false")
        if not _is_text(self.metric_name):
            bad("metric_name", "use a non-empty metric name")
        if not _is_text(self.metric_regex) or re.compile(self.metric_regex).groups != 1:
            bad("metric_regex", "use a regular expression with exactly one capturing group for the value")
        if not _is_text(self.smoke_test_record):
            bad("smoke_test_record", "use a non-empty CSV record")
        # These strings are embedded in States.Format templates, whose literals reserve { } ' and \.
        for name in ("output_prefix", "name_prefix", "endpoint_name"):
            if _is_text(getattr(self, name)) and _PLACEHOLDER.search(getattr(self, name)):
                bad(name, "leave out the characters { } ' and \\")
        if problems:
            raise ValueError("invalid workflow definition parameters: " + "; ".join(problems))


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
