"""MLOps platform: one stack per environment (dev, staging, prod). Read settings, build, export."""

import pulumi

from components.approval_api import ApprovalApi, ApprovalApiArgs
from components.foundation import Foundation, FoundationArgs
from components.image_repository import ModelImageRepository, ModelImageRepositoryArgs
from components.inference_api import InferenceApi, InferenceApiArgs
from components.model_endpoint import ModelEndpoint, ModelEndpointArgs, endpoint_name
from components.model_registry import (
    model_reader_role_arns,
    registry_account_id,
    registry_bucket_name,
    resolve_model_package_arn,
)
from components.notifications import Notifications, NotificationsArgs
from components.promotion import Promotion, PromotionArgs, PromotionTarget, integration_test_role_arn, tester_role_name
from components.provider import component_options, create_provider
from components.settings import load_settings
from components.training_pipeline import TrainingPipeline, TrainingPipelineArgs
from components.training_workflow import TrainingWorkflow, TrainingWorkflowArgs, state_machine_arn

settings = load_settings()
provider = create_provider(settings)
opts = component_options(provider)

foundation = Foundation(
    f"{settings.prefix}-foundation",
    FoundationArgs(prefix=settings.prefix, account_id=settings.account_id, region=settings.region,
                   protect=settings.protect, model_reader_role_arns=model_reader_role_arns(settings)),
    opts=opts,
)
notifications = Notifications(
    f"{settings.prefix}-notifications",
    NotificationsArgs(prefix=settings.prefix, kms_key_arn=foundation.kms_key_arn,
                      emails=settings.notification_emails, account_id=settings.account_id),
    opts=opts,
)

# --- components of the training workflow, the pipeline, endpoints and promotion are added below ---

# Training pipeline: a push builds container/ into ECR (tag = full commit SHA) and starts the workflow.
image_repository = ModelImageRepository(
    f"{settings.prefix}-images",
    ModelImageRepositoryArgs(prefix=settings.prefix, kms_key_arn=foundation.kms_key_arn, protect=settings.protect,
                             reader_role_arns=model_reader_role_arns(settings)),
    opts=opts,
)

# Inference API in front of the stack's stable endpoint (its URL never changes with a model update).
inference_api = InferenceApi(
    f"{settings.prefix}-inference",
    InferenceApiArgs(prefix=settings.prefix, account_id=settings.account_id, region=settings.region,
                     endpoint_name=endpoint_name(settings), feature_count=settings.endpoint.feature_count,
                     kms_key_arn=foundation.kms_key_arn, log_retention_days=settings.log_retention_days,
                     api_logging=foundation.api_gateway_logging,
                     auth=settings.inference.auth, throttle_rate_limit=settings.inference.throttle_rate_limit,
                     throttle_burst_limit=settings.inference.throttle_burst_limit),
    opts=opts,
)

# Staging and prod: the endpoint is a resource of this stack, serving the package promotion pins
# (modelPackageArn) or the newest Approved one; staging lets the promotion's integration tests invoke it.
model_endpoint = None
if settings.endpoint.managed_by == "promotion":
    model_endpoint = ModelEndpoint(
        f"{settings.prefix}-endpoint",
        ModelEndpointArgs(
            prefix=settings.prefix, account_id=settings.account_id, region=settings.region,
            endpoint_name=endpoint_name(settings), model_package_arn=resolve_model_package_arn(settings),
            registry_account_id=registry_account_id(settings), registry_bucket_name=registry_bucket_name(settings),
            kms_key_arn=foundation.kms_key_arn, bucket_name=foundation.bucket_name, bucket_arn=foundation.bucket_arn,
            topic_arn=notifications.topic_arn, instance_type=settings.endpoint.instance_type,
            instance_count=settings.endpoint.instance_count, min_capacity=settings.endpoint.min_capacity,
            max_capacity=settings.endpoint.max_capacity,
            data_capture_percent=settings.endpoint.data_capture_percent,
            deployment_strategy=settings.endpoint.deployment_strategy, protect=settings.protect,
            tester_principal_arn=(integration_test_role_arn(settings, f"{settings.project}-dev")
                                  if settings.environment == "staging" else None),
            tester_role_name=tester_role_name(settings.prefix)),
        opts=opts,
    )

# Approval API and training workflow: train, evaluate, register, approve by signed link, deploy, notify.
approval_api = ApprovalApi(
    f"{settings.prefix}-approval",
    ApprovalApiArgs(prefix=settings.prefix, account_id=settings.account_id, region=settings.region,
                    kms_key_arn=foundation.kms_key_arn, topic_arn=notifications.topic_arn,
                    state_machine_arn=state_machine_arn(settings.prefix, settings.account_id, settings.region),
                    link_ttl_seconds=settings.approval_timeout_seconds,
                    log_retention_days=settings.log_retention_days, api_logging=foundation.api_gateway_logging,
                    protect=settings.protect),
    opts=opts,
)
workflow = TrainingWorkflow(
    f"{settings.prefix}-workflow",
    TrainingWorkflowArgs(
        prefix=settings.prefix, account_id=settings.account_id, region=settings.region,
        kms_key_arn=foundation.kms_key_arn, bucket_name=foundation.bucket_name, bucket_arn=foundation.bucket_arn,
        topic_arn=notifications.topic_arn, image_repository_arn=image_repository.repository_arn,
        approval_request_function_arn=approval_api.request_function_arn,
        smoke_test_function_arn=inference_api.function_arn, inference_url=inference_api.url,
        endpoint_name=endpoint_name(settings), model_package_group_name=f"{settings.prefix}-models",
        log_retention_days=settings.log_retention_days, approval_timeout_seconds=settings.approval_timeout_seconds,
        training_instance_type=settings.training.instance_type,
        training_instance_count=settings.training.instance_count,
        training_volume_gb=settings.training.volume_size_gb,
        training_max_runtime_seconds=settings.training.max_runtime_seconds,
        transform_instance_type=settings.training.transform_instance_type,
        endpoint_instance_type=settings.endpoint.instance_type,
        endpoint_instance_count=settings.endpoint.instance_count,
        min_accuracy=settings.training.min_accuracy, hyperparameters=settings.training.hyperparameters,
        deploy_endpoint=settings.endpoint.managed_by == "workflow", protect=settings.protect),
    opts=opts,
)
training_pipeline = TrainingPipeline(
    f"{settings.prefix}-training-pipeline",
    TrainingPipelineArgs(
        prefix=settings.prefix, account_id=settings.account_id, region=settings.region, source=settings.source,
        state_machine_arn=workflow.state_machine_arn, kms_key_arn=foundation.kms_key_arn,
        artifact_bucket_name=foundation.bucket_name, artifact_bucket_arn=foundation.bucket_arn,
        repository_name=image_repository.repository_name, repository_arn=image_repository.repository_arn,
        repository_url=image_repository.repository_url, notification_topic_arn=notifications.topic_arn,
        log_retention_days=settings.log_retention_days,
    ),
    opts=opts,
)

# Promotion (in the stack that owns the model registry): Approved package -> staging -> tests -> approval -> prod.
promotion = None
if settings.promotion.enabled:
    promotion = Promotion(
        f"{settings.prefix}-promotion",
        PromotionArgs(
            project=settings.project, prefix=settings.prefix, account_id=settings.account_id,
            region=settings.region, kms_key_arn=foundation.kms_key_arn, bucket_name=foundation.bucket_name,
            bucket_arn=foundation.bucket_arn, topic_arn=notifications.topic_arn,
            model_package_group_name=workflow.model_package_group_name,
            model_package_group_arn=workflow.model_package_group_arn,
            staging=PromotionTarget("staging", settings.promotion.staging_role_arn),
            prod=PromotionTarget("prod", settings.promotion.prod_role_arn),
            source=settings.source, branch=settings.promotion.branch,
            pulumi_backend_url=settings.promotion.pulumi_backend_url,
            pulumi_token_secret_arn=settings.promotion.pulumi_token_secret_arn,
            log_retention_days=settings.log_retention_days),
        opts=opts,
    )

pulumi.export("environment", settings.environment)
pulumi.export("bucketName", foundation.bucket_name)
pulumi.export("kmsKeyArn", foundation.kms_key_arn)
pulumi.export("notificationTopicArn", notifications.topic_arn)
pulumi.export("imageRepositoryUrl", image_repository.repository_url)
pulumi.export("trainingPipelineName", training_pipeline.pipeline_name)
pulumi.export("stateMachineArn", workflow.state_machine_arn)
pulumi.export("modelPackageGroupName", workflow.model_package_group_name)
pulumi.export("approvalUrl", approval_api.decision_url)
pulumi.export("inferenceUrl", inference_api.url)
pulumi.export("endpointName", endpoint_name(settings))
if inference_api.invoke_policy_arn is not None:
    pulumi.export("inferenceInvokePolicyArn", inference_api.invoke_policy_arn)
if inference_api.api_key_id is not None:
    pulumi.export("inferenceApiKeyId", inference_api.api_key_id)
if model_endpoint is not None:
    pulumi.export("modelPackageArn", model_endpoint.model_package_arn)
if promotion is not None:
    pulumi.export("promotionPipelineName", promotion.pipeline_name)
