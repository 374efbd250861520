"""Monitors of the endpoints this stack serves, and where the served package's baseline is.

``monitor_endpoint`` monitors any served endpoint (its name, capture URI, served package and feature
columns) with data quality, model quality and the catalog's bias / explainability entries: ``build_monitoring`` calls it for the stack's own endpoint (the trained model's, a drift alarm per
feature), ``program.catalog_realtime`` for each real-time catalog endpoint (no per-feature alarms: the
catalog does not know an entry's features; docs/monitoring.md).

The training workflow registers every package with its data quality baseline (``DriftCheckBaselines.
ModelDataQuality``: ``statistics.json`` and ``constraints.json`` under the registry stack's
``workflow/baselines/<run>/``). A stack deployed by promotion knows the package it serves at deploy time
(``modelPackageArn``, or the newest Approved), so it asks the registry: ``DescribeModelPackage`` with the
deploying credentials (the group's sharing policy lets the consumer accounts describe its packages), and
the monitor reads exactly those two files. A package without a baseline (registered before the workflow
made them) gets no monitor, and the program says so; the policy pack then refuses the stack where its
environment requires monitoring.

Offline (``MLOPS_OFFLINE=1``, the preview under mocks) nothing is asked: the preview shows the monitor
with stand-in URIs of the same shape, under ``workflow/baselines/offline-preview/`` of the registry's
bucket, so its role's statements are the ones a deploy creates, except for that one folder name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from catalog.entries import TRAINED_ENDPOINT
from components.clarify_monitoring import ClarifyMonitoring
from components.context import StackContext
from components.endpoint_monitoring import (
    EndpointMonitoring,
    EndpointMonitoringArgs,
    MonitoredEndpoint,
    feature_columns,
)
from components.model_endpoint import ModelEndpoint
from components.names import BASELINE_PREFIX, MonitorNames, Names
from program.catalog_monitoring import (
    SHORT_TYPE,
    ServedModel,
    attached_monitors,
    baseline_uris,
    build_baseline,
    clarify_monitor,
    entry_keys,
    entry_spec,
    model_quality_monitor,
)
from program.catalog_packages import offline
from program.images import model_monitor_image_uri
from program.settings import Settings
from program.topology import registry_names

OFFLINE_RUN = "offline-preview"
"""The stand-in run folder of the offline preview's baseline URIs."""

Describe = Callable[[str], dict[str, Any]]
"""DescribeModelPackage of a package ARN (the response as boto3 returns it)."""


@dataclass(frozen=True)
class MonitoredTarget:
    """A served endpoint to monitor: what the program knows of it before asking the registry for the baseline."""

    name: str
    monitors: MonitorNames
    capture_uri: pulumi.Input[str]
    package_arn: str
    """The package the endpoint serves: its DriftCheckBaselines are the monitor's baseline."""
    resource: pulumi.Resource
    """The endpoint's component: the monitor is created after it (its job input names the endpoint)."""
    model_name: pulumi.Input[str]
    """The model it serves: Clarify's baselines and explainability monitors ask it, on a shadow endpoint."""
    instance_type: str
    """Its instance type: the shadow endpoint's."""
    features: tuple[str, ...] = ()
    """Feature columns that get a drift alarm (``feature_columns``); none where the model's are unknown."""
    capture_key_arn: str | None = None
    """The key of the captured data where it is not the stack's."""
    remedy: str = "register and approve a package with a baseline"
    """What to do about a package without a baseline (in the program's warning)."""
    reference: str = TRAINED_ENDPOINT
    """How catalog monitor entries name this endpoint (``program.catalog_monitoring.endpoint_reference``)."""


@dataclass(frozen=True)
class Baseline:
    statistics_uri: str
    constraints_uri: str


def package_baseline(package_arn: str, registry: Names, describe: Describe | None = None) -> Baseline | None:
    """The data quality baseline registered with ``package_arn``, or None when it has none."""
    if describe is None and offline():
        folder = f"s3://{registry.bucket}/{BASELINE_PREFIX}/{OFFLINE_RUN}"
        return Baseline(f"{folder}/statistics.json", f"{folder}/constraints.json")
    package = (describe or _boto3_describe(registry.region))(package_arn)
    quality = (package.get("DriftCheckBaselines") or {}).get("ModelDataQuality") or {}
    statistics = (quality.get("Statistics") or {}).get("S3Uri")
    constraints = (quality.get("Constraints") or {}).get("S3Uri")
    if not (statistics and constraints):
        return None
    return Baseline(statistics, constraints)


def _boto3_describe(region: str) -> Describe:
    import boto3

    client = boto3.client("sagemaker", region_name=region)
    return lambda arn: client.describe_model_package(ModelPackageName=arn)


def monitor_endpoint(ctx: StackContext, settings: Settings, name: str, endpoint: MonitoredTarget,
                     describe: Describe | None = None) -> EndpointMonitoring | None:
    """The monitors of one served endpoint (logical name ``name``): its role, job definitions, schedules,
    alarms and events. Data quality: the endpoint's ``byom_data_quality_monitor`` entry (its schedule,
    instance, volume, runtime and baseline), else, where the stack's ``monitoringDataQuality`` is on, the
    served package's baseline (a package without one gets none: the program says so, and the policy pack
    then refuses the stack where its environment requires monitoring). Model quality: the endpoint's
    ``byom_model_quality_monitor`` entry. Each entry gets its baseline run (``build_baseline``); bias and
    explainability entries each get a ``ClarifyMonitoring`` of their own. Returns the data / model quality
    ``EndpointMonitoring``, None where the endpoint has neither."""
    attached = attached_monitors(settings, endpoint.reference)
    registry, names = registry_names(settings), ctx.names
    spec = settings.monitoring.spec
    statistics = constraints = None
    baseline_key: pulumi.Input[str] | None = None  # an entry's baseline: the stack key (or its own, in data_key_arns)
    if attached.data_quality is not None:
        statistics, constraints = baseline_uris(attached.data_quality, settings.environment)
        spec = entry_spec(settings, attached.data_quality)
    elif settings.monitoring.data_quality:
        baseline = package_baseline(endpoint.package_arn, registry, describe)
        if baseline is None:
            pulumi.log.warn(f"model package {endpoint.package_arn} has no data quality baseline (DriftCheckBaselines."
                            f"ModelDataQuality), so {endpoint.name} gets no data quality monitor: {endpoint.remedy}, or "
                            f"set monitoringDataQuality false")
        else:
            statistics, constraints = baseline.statistics_uri, baseline.constraints_uri
            baseline_key = ctx.kms_key_arn if registry.account == names.account else registry.arn("kms", "key/*")
    quality = attached.model_quality
    after_endpoint = pulumi.ResourceOptions.merge(ctx.opts, pulumi.ResourceOptions(depends_on=[endpoint.resource]))
    for entry in attached.entries:  # each entry's baseline, made from its baseline_data
        build_baseline(ctx, settings, f"{name}-{SHORT_TYPE[entry.pipeline_type]}-baseline", entry,
                       ServedModel(endpoint.name, endpoint.model_name, endpoint.instance_type))
    keys = tuple(k for k in (endpoint.capture_key_arn, *entry_keys(settings, attached)) if k)
    for entry in attached.clarify:  # bias / explainability: each its own role, definition and schedule
        ClarifyMonitoring(f"{name}-{SHORT_TYPE[entry.pipeline_type]}", clarify_monitor(
            ctx, settings, entry, endpoint=endpoint.name, monitors=endpoint.monitors,
            capture_uri=endpoint.capture_uri, keys=keys), opts=after_endpoint)
    if statistics is None and quality is None:
        return None
    return EndpointMonitoring(
        name,
        EndpointMonitoringArgs(
            ctx,
            endpoint=MonitoredEndpoint(name=endpoint.name, monitors=endpoint.monitors, capture_uri=endpoint.capture_uri,
                                       statistics_uri=statistics, constraints_uri=constraints,
                                       baseline_key_arn=baseline_key, capture_key_arn=endpoint.capture_key_arn,
                                       data_key_arns=entry_keys(settings, attached)),
            image_uri=model_monitor_image_uri(settings.region), spec=spec,
            features=endpoint.features if statistics is not None else (),
            model_quality=model_quality_monitor(settings, quality) if quality is not None else None),
        opts=after_endpoint)


def build_monitoring(ctx: StackContext, settings: Settings, endpoint: ModelEndpoint, package_arn: str,
                     describe: Describe | None = None) -> EndpointMonitoring | None:
    """The monitors of this stack's own endpoint (the trained model's, ``@trained`` in the catalog), with a
    drift alarm per feature."""
    if endpoint.data_capture_uri is None:  # settings and check_monitors refuse monitoring without data capture
        if settings.monitoring.data_quality or attached_monitors(settings, TRAINED_ENDPOINT).entries:
            raise ValueError("monitoring an endpoint that captures no data")
        return None
    names = ctx.names
    return monitor_endpoint(ctx, settings, f"{names.prefix}-monitoring", MonitoredTarget(
        name=names.endpoint, monitors=names.endpoint_monitor,
        capture_uri=endpoint.data_capture_uri, package_arn=package_arn, resource=endpoint,
        model_name=endpoint.model_name, instance_type=settings.endpoint.spec.instance_type,
        features=feature_columns(settings.endpoint.feature_count),
        remedy="it was registered before the training workflow made baselines; train and approve a new package"),
        describe)
