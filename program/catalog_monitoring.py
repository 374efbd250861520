"""Monitor entries of the catalog in this stack: which endpoint each one monitors, and with what.

A ``byom_*_monitor`` entry reaching this stack's environment names its endpoint (``catalog.validate`` checked
that it exists there): a real-time entry's, by that entry's ``endpoint_name`` as written (its
``model_name`` where it has none: ``endpoint_reference``), or ``@trained``, the stack's own endpoint.

- ``check_monitors`` runs before any resource (``program.compose``): a monitor whose endpoint captures
  nothing (the stack's own endpoint where ``modelDeployment`` is not ``promotion`` or
  ``endpointDataCapturePercent`` is 0) stops the preview with exit 2 (``SettingsError``), each problem naming
  the entry, the endpoint and the fix, as does a bias / explainability analysis Clarify would refuse; a monitor
  whose catalog endpoint is not served here (no package yet) is skipped with a warning, as its endpoint is.
- ``attached_monitors`` is the dispatch: per endpoint, its entries by type. ``program.monitoring.monitor_endpoint``
  builds the data quality and model quality entries into the endpoint's one ``EndpointMonitoring`` (one role
  per endpoint; an entry-level data quality monitor replaces the stack's automatic one on that endpoint,
  ``monitoringDataQuality``: never two DataQuality schedules on one endpoint), and each bias / explainability
  entry into a ``ClarifyMonitoring`` (``clarify_monitor``: its own role).
- ``data_quality_spec`` / ``model_quality_monitor`` / ``clarify_monitor``: the entry's schedule, instance type,
  volume and runtime over the stack's ``MonitorSpec`` (instance count and drift threshold stay the stack's),
  and its baseline: ``statistics.json`` / ``constraints.json`` (Clarify: ``analysis.json``) under
  ``baseline_job_output_location``, where the entry's baseline run writes them (``build_baseline``:
  ``components.monitor_baseline``; for Clarify it also writes the analysis configuration, from the baseline
  data's header row).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pulumi

from catalog.entries import (
    DATA_QUALITY_MONITOR,
    MODEL_BIAS_MONITOR,
    MODEL_EXPLAINABILITY_MONITOR,
    MODEL_QUALITY_MONITOR,
    TRAINED_ENDPOINT,
    ModelEntry,
    MonitorEntry,
    S3Location,
)
from components.clarify_config import ANALYSIS_FILE, BIAS, EXPLAINABILITY, ClarifyAnalysis, analysis_problems
from components.clarify_monitoring import ClarifyMonitoringArgs, config_keys
from components.context import StackContext
from components.model_quality_monitoring import ModelQualityMonitor
from components.monitor_baseline import (
    BaselineNames,
    BaselineRun,
    ClarifyBaseline,
    MonitorBaseline,
    MonitorBaselineArgs,
)
from components.names import IAM_ROLE_NAME_MAX, MonitorNames, function_role
from components.specs import MonitorSpec
from program.images import clarify_image_uri, model_monitor_image_uri
from program.settings import Settings, SettingsError

CLARIFY_TYPE = {MODEL_BIAS_MONITOR: BIAS, MODEL_EXPLAINABILITY_MONITOR: EXPLAINABILITY}
"""The Clarify monitor entries' types -> the monitor type in names and messages."""
BASELINE_FILES = ("statistics.json", "constraints.json")
"""What a baseline run writes under ``baseline_job_output_location``."""


@dataclass(frozen=True)
class AttachedMonitors:
    """The monitor entries of one endpoint in this stack."""

    data_quality: MonitorEntry | None = None
    model_quality: MonitorEntry | None = None
    clarify: tuple[MonitorEntry, ...] = ()
    """Its bias and explainability entries (at most one of each)."""

    @property
    def entries(self) -> tuple[MonitorEntry, ...]:
        return (*(e for e in (self.data_quality, self.model_quality) if e is not None), *self.clarify)


def endpoint_reference(entry: ModelEntry, environment: str) -> str:
    """How monitor entries name a real-time entry's endpoint: its endpoint_name here, else its model_name."""
    return entry.value_for("endpoint_name", environment) or entry.model_name


def monitors_here(settings: Settings) -> tuple[MonitorEntry, ...]:
    return tuple(e for e in settings.catalog.catalog.monitors if e.reaches(settings.environment))


def _capture_problem(settings: Settings, entry: MonitorEntry) -> str | None:
    """Why the stack's own endpoint cannot be monitored here, with the fix; None when it captures data."""
    endpoint, where = settings.endpoint, f"{settings.catalog.file}: {entry.label}: endpoint_name {TRAINED_ENDPOINT!r}"
    if endpoint.managed_by != "promotion":
        return (f"{where} is the stack's own endpoint, which in {settings.environment} belongs to the training workflow "
                f"(modelDeployment = {endpoint.managed_by!r}) and captures no data, so every monitoring execution would "
                f"fail with no data to analyse: give endpoint_name per environment naming only stacks deployed by "
                f"promotion, or attach the monitor to a catalog endpoint")
    if endpoint.spec.data_capture_percent == 0:
        return (f"{where} is the stack's own endpoint, which captures no data in {settings.environment} "
                f"(endpointDataCapturePercent = 0), so every monitoring execution would fail with no data to analyse: "
                f"capture a share of the requests (`pulumi config set endpointDataCapturePercent 20`, 1-100), or make "
                f"the entry reach other environments")
    return None


def check_monitors(settings: Settings, served: tuple[ModelEntry, ...]) -> None:
    """Before any resource: every monitor entry reaching this stack can be built (``SettingsError`` with
    every problem otherwise); ``served``: the real-time entries this stack serves."""
    environment = settings.environment
    references = {endpoint_reference(e, environment) for e in served}
    problems: list[str] = []
    for entry in monitors_here(settings):
        if entry.pipeline_type in CLARIFY_TYPE:
            problems.extend(f"{settings.catalog.file}: {entry.label}: {problem}"
                            for problem in analysis_problems(clarify_analysis(entry)))
        name = entry.value_for("endpoint_name", environment)
        if name == TRAINED_ENDPOINT:
            problem = _capture_problem(settings, entry)
            if problem:
                problems.append(problem)
        elif name not in references:
            pulumi.log.warn(f"{entry.label}: the catalog endpoint {name!r} is not served in {environment} (its entry has "
                            f"no package here yet), so its {entry.pipeline_type} is not deployed either")
    if problems:
        raise SettingsError(problems)


def attached_monitors(settings: Settings, reference: str) -> AttachedMonitors:
    """The dispatch: the monitor entries of the endpoint monitors name ``reference`` (``@trained`` or a
    real-time entry's ``endpoint_reference``), by type."""
    found: dict[str, MonitorEntry] = {}
    for entry in monitors_here(settings):
        if entry.value_for("endpoint_name", settings.environment) == reference:
            found[entry.pipeline_type] = entry
    clarify = tuple(found[kind] for kind in CLARIFY_TYPE if kind in found)
    return AttachedMonitors(found.get(DATA_QUALITY_MONITOR), found.get(MODEL_QUALITY_MONITOR), clarify)


def clarify_analysis(entry: MonitorEntry) -> ClarifyAnalysis:
    """A bias / explainability entry's analysis, without headers (its baseline run reads them)."""
    assert entry.problem_type is not None  # required for the type
    scores = {} if entry.model_scores is None else {"label": entry.model_scores}  # the SDK's model_scores
    return ClarifyAnalysis(
        CLARIFY_TYPE[entry.pipeline_type], (), entry.problem_type, bias_config=entry.bias_config or {},
        model_predicted_label_config=entry.model_predicted_label_config or scores,
        shap_config=entry.shap_config or {}, inference_attribute=entry.monitor_inference_attribute,
        probability_attribute=entry.monitor_probability_attribute,
        probability_threshold=entry.probability_threshold_attribute)


def clarify_monitor(ctx: StackContext, settings: Settings, entry: MonitorEntry, *, endpoint: str,
                    monitors: MonitorNames, capture_uri: pulumi.Input[str],
                    keys: tuple[pulumi.Input[str], ...]) -> ClarifyMonitoringArgs:
    """A bias / explainability entry's monitor of ``endpoint``: its analysis, its baseline's analysis.json."""
    environment = settings.environment
    output: S3Location = entry.value_for("baseline_job_output_location", environment)
    truth: S3Location | None = (entry.value_for("monitor_ground_truth_input", environment)
                                if entry.pipeline_type == MODEL_BIAS_MONITOR else None)
    return ClarifyMonitoringArgs(
        ctx, endpoint=endpoint, monitors=monitors, capture_uri=capture_uri, analysis=clarify_analysis(entry),
        constraints_uri=f"{output.uri}/{ANALYSIS_FILE}", image_uri=clarify_image_uri(settings.region),
        spec=entry_spec(settings, entry), ground_truth_uri=truth.uri if truth else None, keys=keys)


def baseline_uris(entry: MonitorEntry, environment: str) -> tuple[str, str]:
    """(statistics, constraints) URIs of the entry's baseline in ``environment``."""
    output: S3Location = entry.value_for("baseline_job_output_location", environment)
    statistics, constraints = (f"{output.uri}/{name}" for name in BASELINE_FILES)
    return statistics, constraints


def entry_spec(settings: Settings, entry: MonitorEntry) -> MonitorSpec:
    """The stack's MonitorSpec with the entry's schedule, instance type, volume and max runtime."""
    environment = settings.environment
    return replace(settings.monitoring.spec,
                   schedule=entry.value_for("schedule_expression", environment),
                   instance_type=entry.value_for("instance_type", environment),
                   volume_size_gb=entry.value_for("instance_volume_size", environment),
                   max_runtime_seconds=entry.value_for("monitor_max_runtime_seconds", environment))


def model_quality_monitor(settings: Settings, entry: MonitorEntry) -> ModelQualityMonitor:
    environment = settings.environment
    truth: S3Location = entry.value_for("monitor_ground_truth_input", environment)
    assert entry.problem_type is not None  # required for the type
    return ModelQualityMonitor(
        problem_type=entry.problem_type, constraints_uri=baseline_uris(entry, environment)[1],
        ground_truth_uri=truth.uri, spec=entry_spec(settings, entry),
        inference_attribute=entry.monitor_inference_attribute,
        probability_attribute=entry.monitor_probability_attribute,
        probability_threshold=entry.probability_threshold_attribute)


def entry_keys(settings: Settings, attached: AttachedMonitors) -> tuple[str, ...]:
    """The entries' own keys (``kms_key_arn``), which the monitor role may use through S3."""
    keys = {e.value_for("kms_key_arn", settings.environment) for e in attached.entries}
    return tuple(sorted(k for k in keys if k))


SHORT_TYPE = {DATA_QUALITY_MONITOR: "dq", MODEL_QUALITY_MONITOR: "mq", MODEL_BIAS_MONITOR: "mb",
              MODEL_EXPLAINABILITY_MONITOR: "me"}
"""The monitor type in the names of an entry's baseline run (within IAM's 64 characters)."""
MONITOR_TYPE = {DATA_QUALITY_MONITOR: "data-quality", MODEL_QUALITY_MONITOR: "model-quality", **CLARIFY_TYPE}


@dataclass(frozen=True)
class ServedModel:
    """What a monitored endpoint serves, as Clarify's baselines ask it (on a shadow endpoint)."""

    endpoint: str
    model_name: pulumi.Input[str]
    instance_type: str


def build_baseline(ctx: StackContext, settings: Settings, name: str, entry: MonitorEntry,
                   served: ServedModel) -> MonitorBaseline:
    """The entry's baseline run (``components.monitor_baseline``): an upload of its baseline_data makes
    statistics.json / constraints.json (Clarify: analysis.json and the analysis configurations) in its
    baseline_job_output_location; ``served``: the monitored endpoint and its model (Clarify asks the model)."""
    environment, names = settings.environment, ctx.names
    kind = f"{SHORT_TYPE[entry.pipeline_type]}-baseline"
    output: S3Location = entry.value_for("baseline_job_output_location", environment)
    clarify = None
    if entry.pipeline_type in CLARIFY_TYPE:
        monitor_type = CLARIFY_TYPE[entry.pipeline_type]
        clarify = ClarifyBaseline(clarify_analysis(entry), served.model_name, served.instance_type,
                                  names.clarify_endpoint_prefix, config_keys(served.endpoint, monitor_type))
    run = BaselineRun(
        label=entry.label, monitor_type=MONITOR_TYPE[entry.pipeline_type],
        data_key=entry.value_for("baseline_data", environment), output_uri=output.uri,
        instance_type=entry.value_for("instance_type", environment),
        volume_gb=entry.value_for("instance_volume_size", environment),
        max_runtime_seconds=entry.value_for("baseline_max_runtime_seconds", environment),
        problem_type=entry.problem_type, inference_attribute=entry.baseline_inference_attribute,
        probability_attribute=entry.baseline_probability_attribute,
        ground_truth_attribute=entry.baseline_ground_truth_attribute,
        probability_threshold=entry.probability_threshold_attribute,
        data_key_arn=entry.value_for("kms_key_arn", environment), clarify=clarify)
    image_uri = model_monitor_image_uri(settings.region) if clarify is None else clarify_image_uri(settings.region)
    return MonitorBaseline(name, MonitorBaselineArgs(
        ctx, run=run, image_uri=image_uri, names=BaselineNames(
            machine=names.catalog_name(entry.model_name, kind, limit=IAM_ROLE_NAME_MAX),
            job_role=names.catalog_name(entry.model_name, f"{kind}-job", limit=IAM_ROLE_NAME_MAX),
            events_role=names.catalog_name(entry.model_name, f"{kind}-events", limit=IAM_ROLE_NAME_MAX),
            rule=names.catalog_name(entry.model_name, f"{kind}-upload", limit=64),
            config_function=(None if clarify is None else names.catalog_name(
                entry.model_name, f"{kind}-config", limit=IAM_ROLE_NAME_MAX - len(function_role("")))),
            model_rule=None if clarify is None else names.catalog_name(entry.model_name, f"{kind}-model", limit=64)),
        ), opts=ctx.opts)
