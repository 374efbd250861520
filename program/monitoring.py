"""Monitors of the endpoint this stack deploys, and where the served package's baseline is.

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

from components.context import StackContext
from components.endpoint_monitoring import (
    EndpointMonitoring,
    EndpointMonitoringArgs,
    MonitoredEndpoint,
    feature_columns,
)
from components.model_endpoint import ModelEndpoint
from components.names import BASELINE_PREFIX, Names
from program.catalog_packages import offline
from program.images import model_monitor_image_uri
from program.settings import Settings
from program.topology import registry_names

OFFLINE_RUN = "offline-preview"
"""The stand-in run folder of the offline preview's baseline URIs."""

Describe = Callable[[str], dict[str, Any]]
"""DescribeModelPackage of a package ARN (the response as boto3 returns it)."""


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


def build_monitoring(ctx: StackContext, settings: Settings, endpoint: ModelEndpoint, package_arn: str,
                     describe: Describe | None = None) -> EndpointMonitoring | None:
    """The data quality monitor of this stack's endpoint (``monitoringDataQuality``), or None."""
    if not settings.monitoring.data_quality:
        return None
    if endpoint.data_capture_uri is None:  # settings refuse monitoring without data capture
        raise ValueError("monitoring an endpoint that captures no data")
    registry, names = registry_names(settings), ctx.names
    baseline = package_baseline(package_arn, registry, describe)
    if baseline is None:
        pulumi.log.warn(f"model package {package_arn} has no data quality baseline (DriftCheckBaselines."
                        f"ModelDataQuality): it was registered before the training workflow made baselines, so "
                        f"{names.endpoint} gets no monitor; train and approve a new package, or set "
                        f"monitoringDataQuality false")
        return None
    baseline_key = ctx.kms_key_arn if registry.account == names.account else registry.arn("kms", "key/*")
    return EndpointMonitoring(
        f"{names.prefix}-monitoring",
        EndpointMonitoringArgs(
            ctx,
            endpoint=MonitoredEndpoint(name=names.endpoint, capture_uri=endpoint.data_capture_uri,
                                       statistics_uri=baseline.statistics_uri, constraints_uri=baseline.constraints_uri,
                                       baseline_key_arn=baseline_key),
            image_uri=model_monitor_image_uri(settings.region), spec=settings.monitoring.spec,
            features=feature_columns(settings.endpoint.feature_count)),
        opts=pulumi.ResourceOptions.merge(ctx.opts, pulumi.ResourceOptions(depends_on=[endpoint])))
