"""The one composition function: settings in, the stack's components built, its outputs out.

config -> ``program.settings`` -> ``build_stack`` -> ``components`` -> outputs. Components import no
settings: this module translates settings into their Args (and the stack context) exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.approval_api import ApprovalApi, ApprovalApiArgs
from components.context import SharedResources, StackContext
from components.foundation import Foundation, FoundationArgs
from components.image_repository import ModelImageRepository, ModelImageRepositoryArgs
from components.inference_api import InferenceApi, InferenceApiArgs
from components.model_endpoint import ModelEndpoint, ModelEndpointArgs
from components.model_registry import resolve_model_package_arn
from components.notifications import Notifications, NotificationsArgs
from components.promotion import Promotion, PromotionArgs
from components.training_pipeline import TrainingPipeline, TrainingPipelineArgs
from components.training_workflow import TrainingWorkflow, TrainingWorkflowArgs
from program.catalog_batch import build_batch
from program.catalog_images import build_images
from program.catalog_monitoring import check_monitors
from program.catalog_packages import served_packages
from program.catalog_realtime import build_realtime, model_routes, served_realtime
from program.catalog_upload import (
    build_catalog_upload,
    promoted_catalog_groups,
    registers_uploads,
)
from program.images import model_monitor_image_uri
from program.monitoring import build_monitoring
from program.provider import component_options, create_native_provider, create_provider
from program.provisioning import build_catalog_status, build_provisioning
from program.settings import Settings
from program.topology import (
    baseline_reader_role_arns,
    catalog_artifact_grants,
    catalog_reader_role_arns,
    catalog_store_reader_role_arns,
    package_reader_role_arns,
    promotion_targets,
    registry_names,
    stack_names,
)


def shared_context(settings: Settings) -> tuple[StackContext, Foundation, Notifications]:
    """The stack's provider, its key, bucket and topic, and the context that carries them."""
    names = stack_names(settings)
    ctx = StackContext(names=names, protect=settings.protect, log_retention_days=settings.log_retention_days,
                       opts=component_options(create_provider(settings), create_native_provider(settings)))
    foundation = Foundation(
        f"{names.prefix}-foundation",
        FoundationArgs(ctx, account_resources=settings.account_resources,
                       model_reader_role_arns=package_reader_role_arns(settings),
                       artifact_grants=catalog_artifact_grants(settings),
                       key_reader_role_arns=catalog_reader_role_arns(settings),
                       baseline_reader_role_arns=baseline_reader_role_arns(settings),
                       catalog_store_reader_role_arns=catalog_store_reader_role_arns(settings)),
        opts=ctx.opts)
    notifications = Notifications(
        f"{names.prefix}-notifications",
        NotificationsArgs(ctx, kms_key_arn=foundation.kms_key_arn, emails=settings.notification_emails),
        opts=ctx.opts)
    ctx = ctx.with_shared(SharedResources(
        kms_key_arn=foundation.kms_key_arn, bucket_name=foundation.bucket_name, bucket_arn=foundation.bucket_arn,
        topic_arn=notifications.topic_arn, api_logging=foundation.api_gateway_logging))
    return ctx, foundation, notifications


def build_stack(settings: Settings) -> dict[str, Any]:
    """Create every component of the stack; return the stack outputs (name -> value)."""
    ctx, foundation, notifications = shared_context(settings)
    names = ctx.names

    # Inference API in front of the stack's stable endpoint (its URL never changes with a model update)
    # and of the real-time catalog entries served here.
    packages = served_packages(settings)  # what each catalog entry serves here, decided once
    realtime = served_realtime(settings, packages)
    check_monitors(settings, tuple(s.entry for s in realtime))  # exit 2 before any resource
    inference_api = InferenceApi(
        f"{names.prefix}-inference",
        InferenceApiArgs(ctx, endpoint_name=names.endpoint, feature_count=settings.endpoint.feature_count,
                         auth=settings.inference.auth, throttle_rate_limit=settings.inference.throttle_rate_limit,
                         throttle_burst_limit=settings.inference.throttle_burst_limit, models=model_routes(realtime)),
        opts=ctx.opts)

    # Promotion-deployed stacks: the endpoint is a resource of this stack, serving the package promotion
    # pins (modelPackageArn) or the newest Approved one; staging lets the integration tests invoke it.
    model_endpoint = monitoring = None
    registry = registry_names(settings)
    if settings.endpoint.managed_by == "promotion":
        e = settings.endpoint
        package_arn = resolve_model_package_arn(e.model_package_arn, registry, names)
        model_endpoint = ModelEndpoint(
            f"{names.prefix}-endpoint",
            ModelEndpointArgs(
                ctx, model_package_arn=package_arn, registry=registry, spec=e.spec,
                tester_principal_arn=registry.promotion_tests_role_arn if e.tester_role else None),
            opts=ctx.opts)
        # Model Monitor compares what the endpoint captures with the served package's baseline.
        monitoring = build_monitoring(ctx, settings, model_endpoint, package_arn)

    training = build_training(ctx, settings, inference_api) if settings.trains else None
    # Bring your own model (the registry stack): an upload of an entry's artifact registers it for approval.
    catalog_upload = (build_catalog_upload(ctx, settings, training.approval_api.request_function_arn,
                                           training.workflow.notify_function_arn) if training is not None else {})

    # Promotion (in the registry stack): an Approved package travels through promotionTargets in order.
    promotion = None
    if settings.promotion.enabled:
        assert training is not None, "settings refuse promotionTargets in a stack that does not train"
        p = settings.promotion
        promotion = Promotion(
            f"{names.prefix}-promotion",
            PromotionArgs(
                ctx, model_package_group_name=training.workflow.model_package_group_name,
                model_package_group_arn=training.workflow.model_package_group_arn,
                targets=promotion_targets(settings),
                source=settings.source, branch=p.branch, pulumi_backend_url=p.pulumi_backend_url,
                pulumi_token_secret_arn=p.pulumi_token_secret_arn,
                catalog_groups=promoted_catalog_groups(settings), registry_deploy_role_arn=settings.deploy_role_arn),
            opts=ctx.opts)

    provisioning = build_provisioning(ctx, settings)  # the registry stack's provisioning API
    # The integration tests of a promoted catalog package invoke its endpoint with the stack's tester role.
    tester = model_endpoint.tester_role_arn if model_endpoint is not None else None
    tester_role_name = tester.apply(lambda _: names.endpoint_tester_role) if tester is not None else None
    outputs: dict[str, Any] = build_realtime(ctx, settings, inference_api, realtime, tester_role_name)
    outputs.update({
        "environment": settings.environment,
        "bucketName": foundation.bucket_name,
        "kmsKeyArn": foundation.kms_key_arn,
        "notificationTopicArn": notifications.topic_arn,
        "inferenceUrl": inference_api.url,
        "endpointName": names.endpoint,
        "catalogPackages": packages,
    })
    outputs.update(build_images(ctx, settings))
    outputs.update(build_batch(ctx, settings, packages))
    build_catalog_status(ctx, settings, inference_api, realtime, packages)  # read by the provisioning API
    outputs.update(catalog_upload)
    if training is not None:
        outputs.update({
            "imageRepositoryUrl": training.image_repository.repository_url,
            "trainingPipelineName": training.pipeline.pipeline_name,
            "stateMachineArn": training.workflow.state_machine_arn,
            "modelPackageGroupName": training.workflow.model_package_group_name,
            "approvalUrl": training.approval_api.decision_url,
        })
    if inference_api.invoke_policy_arn is not None:
        outputs["inferenceInvokePolicyArn"] = inference_api.invoke_policy_arn
    if inference_api.api_key_id is not None:
        outputs["inferenceApiKeyId"] = inference_api.api_key_id
    if model_endpoint is not None:
        outputs["modelPackageArn"] = model_endpoint.model_package_arn
    if monitoring is not None:
        outputs["monitoringScheduleName"] = monitoring.schedule_name
        outputs["monitoringReportUri"] = monitoring.report_uri
    if promotion is not None:
        outputs["promotionPipelineName"] = promotion.pipeline_name
    outputs.update(provisioning)
    return outputs


def export(outputs: dict[str, Any]) -> None:
    for key, value in outputs.items():
        pulumi.export(key, value)


@dataclass(frozen=True)
class Training:
    """What a stack that trains has: the image repository, the approval API, the workflow, the pipeline."""

    image_repository: ModelImageRepository
    approval_api: ApprovalApi
    workflow: TrainingWorkflow
    pipeline: TrainingPipeline


def build_training(ctx: StackContext, settings: Settings, inference_api: InferenceApi) -> Training:
    """Train, evaluate, register, approve by signed link, deploy (where the workflow owns the endpoint),
    notify; a push builds container/ into ECR (tag = full commit SHA) and starts the workflow."""
    names = ctx.names
    image_repository = ModelImageRepository(
        f"{names.prefix}-images", ModelImageRepositoryArgs(ctx, reader_role_arns=package_reader_role_arns(settings)),
        opts=ctx.opts)
    approval_api = ApprovalApi(
        f"{names.prefix}-approval",
        ApprovalApiArgs(ctx, state_machine_arns=(names.state_machine_arn, *(
                            (names.catalog_registration_state_machine_arn,) if registers_uploads(settings) else ())),
                        link_ttl_seconds=settings.approval_timeout_seconds),
        opts=ctx.opts)
    workflow = TrainingWorkflow(
        f"{names.prefix}-workflow",
        TrainingWorkflowArgs(
            ctx, training=settings.training, image_repository_arn=image_repository.repository_arn,
            approval_request_function_arn=approval_api.request_function_arn,
            smoke_test_function_arn=inference_api.function_arn, inference_url=inference_api.url,
            baseline_image_uri=model_monitor_image_uri(settings.region),
            approval_timeout_seconds=settings.approval_timeout_seconds,
            endpoint_instance_type=settings.endpoint.spec.instance_type,
            endpoint_instance_count=settings.endpoint.spec.instance_count,
            deploy_endpoint=settings.endpoint.managed_by == "workflow"),
        opts=ctx.opts)
    pipeline = TrainingPipeline(
        f"{names.prefix}-training-pipeline",
        TrainingPipelineArgs(
            ctx, source=settings.source, state_machine_arn=workflow.state_machine_arn,
            repository_name=image_repository.repository_name, repository_arn=image_repository.repository_arn,
            repository_url=image_repository.repository_url),
        opts=ctx.opts)

    return Training(image_repository, approval_api, workflow, pipeline)
