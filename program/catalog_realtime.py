"""Real-time catalog entries in this stack: an endpoint each, and a route on the stack's inference API.

For each ``byom_realtime_builtin`` / ``byom_realtime_custom`` entry reaching this stack's environment that
has a package to serve here (``served_package_arn``; an entry without one is skipped, and that function
says why), ``served_realtime`` decides, once and without creating anything, the endpoint name and what the
inference API routes to it; ``build_realtime`` creates the endpoints (``components.catalog_endpoint``), their
data quality monitors where the stack's ``monitoringDataQuality`` is on (``program.monitoring.monitor_endpoint``,
as for the trained model's endpoint, without per-feature drift alarms: docs/monitoring.md), and returns the
stack output ``catalogEndpoints``: ``{model_name: {"endpointName", "url", "modelPackageArn"}}``, with
``"monitoringScheduleName"`` and ``"monitoringReportUri"`` for a monitored endpoint.

The two steps exist because the inference API is built before the endpoints (the training workflow needs
its URL) and must know its routes when it is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from catalog.entries import ModelEntry, S3Location
from catalog.validate import CatalogError
from components.catalog_endpoint import CatalogEndpoint, CatalogEndpointArgs
from components.context import StackContext
from components.inference_api import InferenceApi
from components.inference_routes import ModelRoute
from program.catalog_monitoring import endpoint_reference
from program.monitoring import MonitoredTarget, monitor_endpoint
from program.settings import Settings, SettingsError
from program.topology import registry_names, stack_names

LOGICAL_NAME_MAX = 48
"""Component names of catalog endpoints: SageMaker models and endpoint configurations are auto-named
``<name>-model-<7 hex>`` / ``<name>-config-<7 hex>``, within SageMaker's 63 characters."""


@dataclass(frozen=True)
class ServedEntry:
    """A real-time entry this stack serves: the package and the endpoint, decided before any resource."""

    entry: ModelEntry
    model_package_arn: str
    endpoint_name: str
    content_type: str
    accept: str

    @property
    def route(self) -> ModelRoute:
        return ModelRoute(self.entry.model_name, self.endpoint_name, self.content_type, self.accept)


def served_realtime(settings: Settings, packages: Mapping[str, str]) -> tuple[ServedEntry, ...]:
    """The real-time entries reaching this stack that have a package to serve, in catalog order."""
    names, environment = stack_names(settings), settings.environment
    served: list[ServedEntry] = []
    taken = {names.endpoint: "the stack's own endpoint (the trained model's)"}
    for entry in settings.catalog.catalog.realtime:
        if not entry.reaches(environment):
            continue
        package = packages.get(entry.model_name)
        if package is None:
            continue
        given = entry.value_for("endpoint_name", environment)
        endpoint = names.catalog_endpoint_name(entry.model_name, given)
        if endpoint in taken:
            field = f"endpoint_name.{environment} = {given!r}" if given else "the default endpoint name"
            raise SettingsError([f"{settings.catalog.file}: {entry.label}: {field} gives the endpoint {endpoint!r}, "
                                 f"which is {taken[endpoint]}: choose another endpoint_name"])
        taken[endpoint] = f"the endpoint of {entry.label}"
        served.append(ServedEntry(entry, package, endpoint, entry.value_for("content_type", environment),
                                  entry.value_for("accept", environment)))
    return tuple(served)


def model_routes(served: tuple[ServedEntry, ...]) -> tuple[ModelRoute, ...]:
    """What the inference API routes: ``POST /models/<model_name>/predict`` per served entry."""
    return tuple(s.route for s in served)


def build_realtime(ctx: StackContext, settings: Settings, inference_api: InferenceApi,
                   served: tuple[ServedEntry, ...], tester_role_name: pulumi.Input[str] | None = None) -> dict[str, Any]:
    """An endpoint per served entry (each invocable by ``tester_role_name``, the stack's tester role, where
    there is one), and its monitor; the stack output ``catalogEndpoints``."""
    names, registry, environment = ctx.names, registry_names(settings), settings.environment
    outputs: dict[str, Any] = {}
    for s in served:
        entry = s.entry
        capture: S3Location = entry.value_for("data_capture_location", environment)
        kms_key_arn: str | None = entry.value_for("kms_key_arn", environment)
        image_uri, artifact_keys = _model_source(settings, entry)
        endpoint = CatalogEndpoint(
            names.catalog_name(entry.model_name, "endpoint", limit=LOGICAL_NAME_MAX),
            CatalogEndpointArgs(
                ctx, model_name=entry.model_name, model_package_arn=s.model_package_arn, registry=registry,
                stack_spec=settings.endpoint.spec,
                instance_type=entry.value_for("inference_instance", environment),
                instance_count=entry.value_for("inference_instance_count", environment),
                endpoint_name=s.endpoint_name, data_capture_bucket=capture.bucket,
                data_capture_prefix=capture.prefix, kms_key_arn=kms_key_arn,
                image_uri=image_uri, artifact_keys=artifact_keys, tester_role_name=tester_role_name),
            opts=ctx.opts)
        outputs[entry.model_name] = {"endpointName": endpoint.endpoint_name,
                                     "url": inference_api.model_urls[entry.model_name],
                                     "modelPackageArn": endpoint.model_package_arn}
        # The entry's features are not known to the catalog: its violations are reported, per execution, by the
        # monitor's EventBridge rule, without a drift alarm per feature.
        monitoring = monitor_endpoint(
            ctx, settings, names.catalog_name(entry.model_name, "monitoring", limit=LOGICAL_NAME_MAX),
            MonitoredTarget(name=s.endpoint_name, monitors=names.catalog_monitor(entry.model_name),
                            capture_uri=f"s3://{capture.bucket}/{capture.prefix}", package_arn=s.model_package_arn,
                            resource=endpoint, capture_key_arn=kms_key_arn, model_name=endpoint.endpoint.model_name,
                            instance_type=entry.value_for("inference_instance", environment),
                            remedy=(f"give {entry.label} baseline_data and upload its model again"
                                    if entry.model_artifact_location is not None
                                    else "serve a package registered with a baseline"),
                            reference=endpoint_reference(entry, environment)))
        if monitoring is not None:
            outputs[entry.model_name].update({"monitoringScheduleName": monitoring.schedule_name,
                                              "monitoringReportUri": monitoring.report_uri})
    # One Output of the whole map: exported, it resolves as one value (nested Outputs would not, under mocks).
    return {"catalogEndpoints": pulumi.Output.from_input(outputs)}


def _model_source(settings: Settings, entry: ModelEntry) -> tuple[str | None, tuple[str, ...]]:
    """The entry's image and artifact keys (every key it names: the package promoted here was registered
    from one of them); none for an entry naming ``model_package_name``."""
    if entry.from_model_package:
        return None, ()
    assert entry.model_artifact_location is not None, "the catalog requires it without model_package_name"
    keys = tuple(entry.model_artifact_location.values())
    if not entry.builtin:
        return entry.value_for("custom_image_uri", settings.environment), keys
    try:
        return settings.catalog.builtin_image(entry.model_name), keys
    except CatalogError as error:
        raise SettingsError(error.problems) from None
