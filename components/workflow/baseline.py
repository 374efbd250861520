"""Model Monitor baselines as Step Functions tasks: one processing job builder for every baseline.

SageMaker Model Monitor's analyzer image (``sagemaker-model-monitor-analyzer``, resolved per region by
``program.images.model_monitor_image_uri``) computes a baseline when it runs as a processing job: it reads
the dataset mounted at ``dataset_source``, writes ``statistics.json`` and ``constraints.json`` to
``output_path``, and its ``Environment`` says what to analyse. ``processing_job_parameters`` builds the
``createProcessingJob.sync`` parameters of such a job from plain values; the training workflow's Baseline
step (``components.workflow.training``) and the upload registration's (``components.upload_definition``)
both use it, and so can a model-quality baseline: the same job with the analyzer's model-quality variables
(``analysis_type=MODEL_QUALITY``, ``problem_type``, ``inference_attribute``, ``probability_attribute``,
``ground_truth_attribute``) in ``environment``.

``baseline_result`` selects the two files' URIs from the finished job, and ``data_quality_metrics`` gives
CreateModelPackage's ``DriftCheckBaselines`` and ``ModelMetrics`` from them, so every package registered
after a data quality baseline carries it the same way (program/monitoring.py reads it back).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.monitor_common import OUTPUT_PATH, ProcessingSettings
from components.workflow.states import SAGEMAKER_TRANSIENT_ERRORS
from components.workflow.steps import State
from components.workflow.tasks import RetryParams, task

__all__ = ["JsonPath", "Value", "DATASET_FORMAT", "BaselineJobSpec", "processing_job_parameters", "baseline_task",
           "baseline_result", "data_quality_metrics", "SYNC_RULE"]

# The training rows are "label,f1,...,fn" without a header. Model Monitor's analyzer lines a captured
# record up as (output, inputs...) when the output columns come first ("START"), so the training label
# and the endpoint's prediction are the same column (_c0) and the features the next ones (_c1...).
DATASET_FORMAT = '{"csv": {"header": false, "output_columns_position": "START"}}'
INPUT_PATH = "/opt/ml/processing/input/baseline_dataset_input"
ANALYZER_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[\w./-]+(:[\w.-]+)?$")
"""An ECR image URI, the tag optional (sagemaker-core names the analyzer image without one)."""
SYNC_RULE = "StepFunctionsGetEventsForSageMakerProcessingJobsRule"
"""The rule Step Functions manages in the account to learn when a ``createProcessingJob.sync`` job ends
(AWS's "IAM policies for Amazon SageMaker AI" for Step Functions: PutTargets, PutRule, DescribeRule on it)."""


@dataclass(frozen=True)
class BaselineJobSpec:
    """How a baseline job runs (its defaults are the training workflow's): the analyzer image of the region,
    the key of its volume and output, one instance of ``instance_type`` with a ``volume_gb`` volume, at most
    ``max_runtime_seconds``, without network access."""

    image_uri: str
    kms_key_arn: str
    instance_type: str = "ml.m5.large"
    volume_gb: int = 20
    max_runtime_seconds: int = 3600
    network_isolation: bool = True

    def problems(self) -> list[str]:
        """What is wrong with the values, each with the field, the value and what is allowed."""
        bad = []
        if not (isinstance(self.image_uri, str) and ANALYZER_IMAGE.match(self.image_uri)):
            bad.append(f"image_uri={self.image_uri!r} is not allowed: use an ECR image URI "
                       "(<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:<tag>])")
        if not (isinstance(self.kms_key_arn, str) and self.kms_key_arn.startswith("arn:")):
            bad.append(f"kms_key_arn={self.kms_key_arn!r} is not allowed: use a KMS key ARN (arn:...)")
        if not (isinstance(self.instance_type, str) and self.instance_type.startswith("ml.")):
            bad.append(f"instance_type={self.instance_type!r} is not allowed: use a SageMaker instance type such "
                       "as ml.m5.large")
        for name in ("volume_gb", "max_runtime_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                bad.append(f"{name}={value!r} is not allowed: use a whole number >= 1")
        if not isinstance(self.network_isolation, bool):
            bad.append(f"network_isolation={self.network_isolation!r} is not allowed: use true or false")
        return bad


@dataclass(frozen=True)
class JsonPath:
    """A value Step Functions takes from the state's input (``$.run.name``) or computes with an intrinsic
    function (``States.Format(...)``): written under the key with ``.$`` appended."""

    path: str


Value = str | JsonPath
"""A literal string, or a ``JsonPath`` resolved when the state runs."""


def _field(key: str, value: Value) -> dict[str, str]:
    return {f"{key}.$": value.path} if isinstance(value, JsonPath) else {key: value}


def processing_job_parameters(
    *,
    job_name: Value,
    role_arn: Value,
    image_uri: str,
    dataset: Value,
    output: Value,
    instance_type: str,
    volume_gb: int,
    max_runtime_seconds: int,
    kms_key_arn: str,
    network_isolation: bool,
    environment: Mapping[str, str] | None = None,
    tags: Sequence[Mapping[str, str]] = (),
    output_kms_key_arn: str | None = None,
) -> dict[str, Any]:
    """The ``arn:aws:states:::sagemaker:createProcessingJob.sync`` Parameters of one Model Monitor baseline job.

    - ``job_name``: the processing job's name (unique per run; 63 characters of the SageMaker name pattern).
    - ``role_arn``: the role the job runs as (reads ``dataset``, writes ``output``, KMS through S3).
    - ``image_uri``: the analyzer image of the region.
    - ``dataset``: the S3 prefix the job reads (every object under it), mounted as the analyzer's
      ``dataset_source``; for a data quality baseline, headerless CSV with the label first.
    - ``output``: the S3 URI the job writes ``statistics.json`` and ``constraints.json`` under (at the job's end).
    - ``instance_type``, ``volume_gb``, ``max_runtime_seconds``: one instance of that type, its
      KMS-encrypted volume, the job's stopping condition.
    - ``kms_key_arn``: encrypts the volume and the output.
    - ``network_isolation``: no outbound network from the container (the analyzer needs none).
    - ``environment``: the analyzer's variables on top of the data quality defaults (``dataset_format``:
      ``DATASET_FORMAT``, ``dataset_source``, ``output_path``, ``publish_cloudwatch_metrics``: Disabled); a
      key given here replaces the default in place, new keys follow them. A model quality baseline adds
      ``analysis_type``, ``problem_type``, ``inference_attribute`` / ``probability_attribute`` and
      ``ground_truth_attribute``.
    - ``tags``: the job's tags, as ``{"Key": ..., "Value": ...}`` (or ``"Value.$"``) mappings (none: no ``Tags``).
    - ``output_kms_key_arn``: the output's key where it is not ``kms_key_arn`` (a catalog entry's own key).

    ``dataset``, ``output``, ``job_name`` and ``role_arn`` are literals or ``JsonPath``s; the rest are
    literals the definition embeds.
    """
    return {
        **_field("ProcessingJobName", job_name),
        **_field("RoleArn", role_arn),
        "AppSpecification": {"ImageUri": image_uri},
        "Environment": {
            "dataset_format": DATASET_FORMAT,
            "dataset_source": INPUT_PATH,
            "output_path": OUTPUT_PATH,
            "publish_cloudwatch_metrics": "Disabled",
            **(environment or {}),
        },
        "ProcessingInputs": [{
            "InputName": "baseline_dataset_input",
            "S3Input": {**_field("S3Uri", dataset), "LocalPath": INPUT_PATH, "S3DataType": "S3Prefix",
                        "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"},
        }],
        "ProcessingOutputConfig": {
            "Outputs": [{
                "OutputName": "monitoring_output",
                "S3Output": {**_field("S3Uri", output), "LocalPath": OUTPUT_PATH, "S3UploadMode": "EndOfJob"},
            }],
            "KmsKeyId": output_kms_key_arn or kms_key_arn,
        },
        **ProcessingSettings(instance_type=instance_type, instance_count=1, volume_gb=volume_gb,
                             volume_key_arn=kms_key_arn, max_runtime_seconds=max_runtime_seconds,
                             network_isolation=network_isolation).processing_job_parameters(),
        **({"Tags": [dict(tag) for tag in tags]} if tags else {}),
    }


def baseline_task(p: RetryParams, name: str, spec: BaselineJobSpec, *, job_name: Value, role_arn: Value,
                  dataset: Value, output: Value, tags: Sequence[Mapping[str, str]], comment: str,
                  environment: Mapping[str, str] | None = None, result_path: str = "$.baseline") -> State:
    """The Task state ``name`` (without its transition) that runs one baseline job as ``spec`` says
    (``processing_job_parameters``), retries SageMaker's transient errors, and puts ``baseline_result`` at
    ``result_path``; a failed job is caught to the step's failure state (``STEP_ERRORS[name]``)."""
    return task(
        p, name, "arn:aws:states:::sagemaker:createProcessingJob.sync",
        processing_job_parameters(
            job_name=job_name, role_arn=role_arn, image_uri=spec.image_uri, dataset=dataset, output=output,
            instance_type=spec.instance_type, volume_gb=spec.volume_gb, max_runtime_seconds=spec.max_runtime_seconds,
            kms_key_arn=spec.kms_key_arn, network_isolation=spec.network_isolation, environment=environment,
            tags=tags),
        retry_on=SAGEMAKER_TRANSIENT_ERRORS,
        comment=comment,
        result_selector=baseline_result(),
        result_path=result_path,
    )


def baseline_result() -> dict[str, str]:
    """The baseline task's ResultSelector: the job's name and the URIs of the two files it wrote."""
    return {
        "jobName.$": "$.ProcessingJobName",
        "statistics.$": "States.Format('{}/statistics.json', $.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri)",
        "constraints.$": "States.Format('{}/constraints.json', $.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri)",
    }


def data_quality_metrics(result_path: str = "$.baseline") -> dict[str, Any]:
    """CreateModelPackage's ``DriftCheckBaselines`` and ``ModelMetrics`` (both ``ModelDataQuality``) from a
    baseline task's result (``baseline_result``) at ``result_path``: the baseline travels with the package."""
    return {
        "DriftCheckBaselines": {"ModelDataQuality": _data_quality_sources(result_path)},
        "ModelMetrics": {"ModelDataQuality": _data_quality_sources(result_path)},
    }


def _data_quality_sources(result_path: str) -> dict[str, dict[str, str]]:
    """The baseline job's two files as the registry's MetricsSource shapes."""
    return {
        "Statistics": {"ContentType": "application/json", "S3Uri.$": f"{result_path}.statistics"},
        "Constraints": {"ContentType": "application/json", "S3Uri.$": f"{result_path}.constraints"},
    }
