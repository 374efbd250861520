"""Bring your own model, from upload to prod: the catalog entries' side of the one mechanism.

- ``build_catalog_upload`` (the registry stack): for every model entry that brings its own artifact
  (``model_artifact_location``, not ``model_package_name``), its model package group and the rule that
  registers an upload of its key; one registration state machine that baselines the entry's
  ``baseline_data`` where it has one and asks the training workflow's signed-link approval
  (``components.model_upload``).
- ``promoted_catalog_groups``: what the promotion needs to carry an Approved package of such a group to
  the environments the entry reaches (``components.promotion``).

Every stack's ``catalogPackages`` output, ``{model_name: package ARN}`` of what it serves, is
``program.catalog_packages.served_packages``; promotion reads it to keep what a target serves for every model
but the one it promotes.
"""

from __future__ import annotations

from typing import Any

import pulumi

from catalog.entries import ModelEntry
from components.context import StackContext
from components.model_upload import ModelUpload, ModelUploadArgs, UploadEntry
from components.names import Names
from components.promotion_stages import CatalogGroup
from program.images import model_monitor_image_uri
from program.settings import Settings
from program.topology import promotion_targets, registry_names


def uploaded_entries(settings: Settings) -> tuple[ModelEntry, ...]:
    """The model entries whose models are uploaded (``model_artifact_location``) and registered in this
    registry stack: those reaching the registry environment (the upload is registered there)."""
    if not settings.is_registry:
        return ()
    entries = []
    for entry in settings.catalog.catalog.models:
        if entry.from_model_package or entry.model_artifact_location is None:
            continue
        if not entry.reaches(settings.environment):
            pulumi.log.warn(f"{entry.label}: not registered on upload: its per-environment values do not name the "
                            f"registry environment {settings.environment!r}, where uploads are registered")
            continue
        entries.append(entry)
    return tuple(entries)


def registers_uploads(settings: Settings) -> bool:
    """This stack runs the registration (the approval API must resume its tasks too)."""
    return settings.trains and bool(uploaded_entries(settings))


def _upload_entry(settings: Settings, entry: ModelEntry) -> UploadEntry:
    environment = settings.environment
    image = (settings.catalog.builtin_image(entry.model_name) if entry.builtin
             else str(entry.value_for("custom_image_uri", environment)))
    return UploadEntry(
        model_name=entry.model_name, artifact_key=str(entry.value_for("model_artifact_location", environment)),
        image_uri=image, content_types=tuple(entry.content_type.values()),
        response_types=tuple(entry.accept.values()), instance_types=tuple(entry.inference_instance.values()),
        realtime=entry.realtime,
        # Baselined where the upload is registered: the registry environment's value.
        baseline_data=entry.value_for("baseline_data", environment),
        data_key_arn=entry.value_for("kms_key_arn", environment))


def consumer_accounts(settings: Settings) -> tuple[str, ...]:
    """The promotion targets' accounts other than this one: the groups are shared with them."""
    return tuple(sorted({t.names.account for t in promotion_targets(settings)} - {settings.account_id}))


def build_catalog_upload(ctx: StackContext, settings: Settings, approval_request_function_arn: pulumi.Input[str],
                         notify_function_arn: pulumi.Input[str]) -> dict[str, Any]:
    """The registry stack's upload registration; returns the outputs it adds (``catalogPackageGroups``)."""
    entries = uploaded_entries(settings)
    if not entries or not settings.trains:
        return {}
    uploads = tuple(_upload_entry(settings, e) for e in entries)
    baselines = any(u.baseline_data is not None for u in uploads)
    upload = ModelUpload(
        f"{ctx.prefix}-byom-upload",
        ModelUploadArgs(ctx, entries=uploads,
                        approval_request_function_arn=approval_request_function_arn,
                        notify_function_arn=notify_function_arn,
                        approval_timeout_seconds=settings.approval_timeout_seconds,
                        consumer_account_ids=consumer_accounts(settings),
                        baseline_image_uri=model_monitor_image_uri(settings.region) if baselines else None),
        opts=ctx.opts)
    return {"catalogPackageGroups": pulumi.Output.from_input(upload.group_names),
            "catalogRegistrationStateMachineArn": upload.state_machine_arn}


def _endpoint(entry: ModelEntry, names: Names) -> str | None:
    """The entry's endpoint in the environment of ``names`` (None for a batch entry)."""
    if not entry.realtime:
        return None
    return str(entry.value_for("endpoint_name", names.environment) or names.catalog_endpoint(entry.model_name))


def promoted_catalog_groups(settings: Settings) -> tuple[CatalogGroup, ...]:
    """For each uploaded entry's group: the environments its packages reach, in promotion order (the
    registry first, then the targets), each with the entry's endpoint there (None: batch)."""
    registry = registry_names(settings)
    environments = [registry, *(t.names for t in promotion_targets(settings))]
    return tuple(
        CatalogGroup(model_name=e.model_name, group_name=registry.catalog_package_group(e.model_name),
                     endpoints=tuple((n.environment, _endpoint(e, n)) for n in environments
                                     if e.reaches(n.environment)))
        for e in uploaded_entries(settings))
