"""What a user configures for a component, as plain frozen values.

The settings module builds these from stack config and hands them to components whole, so a new
training setting is a field here, its config key, and the place that reads it: no relaying field by
field through the composition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

SOURCE_PROVIDERS = ("codestar", "codecommit", "s3")
INFERENCE_AUTH_MODES = ("iam", "api-key")
"""iam: callers sign requests with SigV4 (execute-api:Invoke); api-key: an API key and a usage plan."""


@dataclass(frozen=True)
class PipelineSource:
    """Where a pipeline's commits come from: a CodeStar connection, a CodeCommit repository or S3."""

    provider: str
    """``codestar`` (GitHub, GitLab, Bitbucket connection), ``codecommit`` or ``s3``."""
    repository: str | None
    """``owner/name`` for codestar, the repository name for codecommit."""
    branch: str
    connection_arn: str | None
    bucket: str | None
    object_key: str | None

    def need(self, field: str) -> str:
        """A field the provider requires (settings check them; a component built without one is a bug)."""
        value = getattr(self, field)
        if not value:
            raise ValueError(f"PipelineSource.{field} is required when provider is {self.provider!r}")
        return str(value)


@dataclass(frozen=True)
class TrainingSpec:
    """How the training workflow trains and evaluates a model."""

    instance_type: str
    instance_count: int
    volume_size_gb: int
    max_runtime_seconds: int
    transform_instance_type: str
    """Instance type of the batch transform that evaluates on held-out data."""
    min_accuracy: float
    """A model below this held-out accuracy is never offered for approval."""
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    """Defaults for every run (SageMaker hyperparameters are strings); an execution may override them."""


@dataclass(frozen=True)
class EndpointSpec:
    """How big an endpoint is and how it takes a new model."""

    instance_type: str
    instance_count: int
    """Initial instance count (between ``min_capacity`` and ``max_capacity``)."""
    min_capacity: int
    max_capacity: int
    """Autoscaling bounds; equal bounds: no autoscaling."""
    data_capture_percent: int
    """Share of requests captured to the stack bucket for monitoring; 0 turns data capture off."""
    deployment_strategy: str
    """``all-at-once``, or blue/green ``canary`` / ``linear`` with alarm rollback."""


@dataclass(frozen=True)
class MonitorSpec:
    """How a Model Monitor job runs: when, on what, for how long, and when its drift is an alarm."""

    schedule: str
    """SageMaker's cron subset, at most hourly: ``cron(0 * ? * * *)``, ``cron(0 H ? * * *)``, ``cron(0 H/N ? * * *)``."""
    instance_type: str
    instance_count: int
    volume_size_gb: int
    """The job's ML storage volume (KMS-encrypted with the stack key)."""
    max_runtime_seconds: int
    """At most the schedule's interval (3600 for hourly schedules)."""
    drift_threshold: float = 0.1
    """A feature's ``feature_baseline_drift_<feature>`` above this raises its alarm (the analyzer's default
    ``comparison_threshold`` in constraints.json is 0.1)."""
