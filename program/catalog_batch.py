"""The batch catalog entries of this stack: one batch pipeline per entry that reaches it and serves a package.

Each entry's values for this environment become ``BatchPipelineArgs``; what its roles may read follows
from the package it serves (``served_package_arn``, the one rule for every kind):

- a package registered from the entry's upload (its own group: pinned or newest Approved) has the
  entry's ``model_artifact_location`` in the registry stack's bucket as its artifact and the entry's
  image (``custom_image_uri``; a built-in algorithm's image needs no grant);
- ``model_package_name`` naming a package of the registry's training workflow has its artifacts under
  the registry bucket's ``workflow/`` and its image in the registry's image repository; one of another
  catalog entry's group, that entry's artifact and image;
- any other package: the program cannot know where its artifact is, grants nothing for it and says so.

Entries with nothing served yet get no pipeline (``served_package_arn`` logs why).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from catalog.entries import ModelEntry
from components.batch_pipeline import BatchPipeline, BatchPipelineArgs
from components.context import StackContext
from components.names import WORKFLOW_PREFIX, Names, image_repository_arn
from components.notifications import publish_statements
from components.python_function import PythonFunction, PythonFunctionArgs
from program.settings import Settings
from program.topology import registry_names


def build_batch(ctx: StackContext, settings: Settings, packages: Mapping[str, str]) -> dict[str, Any]:
    """A ``BatchPipeline`` per served batch entry reaching this stack (``packages``: what each serves,
    ``program.catalog_packages.served_packages``); the output ``catalogBatchPipelines``."""
    environment = settings.environment
    served = served_batch(settings, packages)
    if not served:
        return {}
    names = ctx.names
    notify = PythonFunction(
        f"{names.prefix}-batch-notify",
        PythonFunctionArgs(ctx=ctx, function_name=names.batch_notify_function, folder="notify",
                           description="Sends the batch pipelines' success or failure notifications",
                           statements=publish_statements(ctx.topic_arn, ctx.kms_key_arn),
                           environment={"TOPIC_ARN": ctx.topic_arn}),
        opts=ctx.opts)
    registry = registry_names(settings)
    pipelines: dict[str, Any] = {}
    for entry, package in served:
        value = {field: entry.value_for(field, environment) for field in (
            "batch_inference_data", "batch_job_output_location", "inference_instance", "inference_instance_count",
            "content_type", "accept", "kms_key_arn", "batch_schedule")}
        artifacts, artifact_keys, images = _package_sources(ctx, settings, registry, entry, package)
        pipeline = BatchPipeline(
            f"{names.prefix}-batch-{entry.model_name}",
            BatchPipelineArgs(
                ctx, model_name=entry.model_name, model_package_arn=package,
                input=value["batch_inference_data"], output=value["batch_job_output_location"],
                instance_type=value["inference_instance"], instance_count=value["inference_instance_count"],
                content_type=value["content_type"], accept=value["accept"], kms_key_arn=value["kms_key_arn"],
                schedule=value["batch_schedule"], notify_function_arn=notify.function_arn,
                artifact_arns=artifacts, artifact_key_arns=artifact_keys, image_repository_arns=images),
            opts=ctx.opts)
        pipelines[entry.model_name] = {"stateMachineArn": pipeline.state_machine_arn, "input": pipeline.input_uri,
                                       "output": pipeline.output_uri}
    return {"catalogBatchPipelines": pulumi.Output.from_input(pipelines)}


def served_batch(settings: Settings, packages: Mapping[str, str]) -> list[tuple[ModelEntry, str]]:
    """(entry, package) of each batch entry reaching this stack that serves a package, in catalog order."""
    return [(entry, packages[entry.model_name]) for entry in settings.catalog.catalog.batch
            if entry.reaches(settings.environment) and entry.model_name in packages]


def _package_sources(ctx: StackContext, settings: Settings, registry: Names, entry: ModelEntry,
                     package: str) -> tuple[tuple[str, ...], tuple[pulumi.Input[str], ...], tuple[str, ...]]:
    """(artifact S3 ARNs, keys of the artifact's bucket, image repository ARNs) of ``package``."""
    registry_key: pulumi.Input[str] = (ctx.kms_key_arn if registry == ctx.names
                                       else registry.arn("kms", "key/*"))  # the registry stack's key, by S3 only
    source = _uploading_entry(settings, registry, entry, package)
    if source is None:
        if Names.model_package_group_of(package) == registry.model_package_group:
            return ((registry.s3_arn(registry.bucket, f"{WORKFLOW_PREFIX}/*"),), (registry_key,),
                    (registry.training_image_repository_arn,))
        pulumi.log.warn(f"{entry.label}: model package {package} is not in a group of the registry stack "
                        f"({registry.prefix}): its artifact and image are not granted to the batch pipeline's "
                        f"role {ctx.names.catalog_batch_role(entry.model_name, 'model')}; grant them yourself")
        return (), (), ()
    environment = settings.environment
    artifact = source.value_for("model_artifact_location", environment)
    image = source.value_for("custom_image_uri", environment) if not source.builtin else None
    return ((registry.s3_arn(registry.bucket, artifact),), (registry_key,),
            (image_repository_arn(image),) if image else ())


def _uploading_entry(settings: Settings, registry: Names, entry: ModelEntry, package: str) -> ModelEntry | None:
    """The catalog entry whose uploads registered ``package`` (the entry itself, unless it names a package
    with ``model_package_name``), or None for a package no catalog upload registered."""
    if entry.value_for("model_package_name", settings.environment) is None:
        return entry
    group = Names.model_package_group_of(package)
    for other in settings.catalog.catalog.models:
        if registry.catalog_package_group(other.model_name) == group and other.model_artifact_location is not None \
                and other.reaches(settings.environment):
            return other
    return None
