"""MLOps platform: one stack per environment (dev, staging, prod). Read settings, build, export."""

import pulumi

from components.foundation import Foundation, FoundationArgs
from components.image_repository import ModelImageRepository, ModelImageRepositoryArgs
from components.notifications import Notifications, NotificationsArgs
from components.provider import component_options, create_provider
from components.settings import load_settings
from components.training_pipeline import TrainingPipeline, TrainingPipelineArgs

settings = load_settings()
provider = create_provider(settings)
opts = component_options(provider)

foundation = Foundation(
    f"{settings.prefix}-foundation",
    FoundationArgs(prefix=settings.prefix, account_id=settings.account_id, region=settings.region,
                   protect=settings.protect),
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
    ModelImageRepositoryArgs(prefix=settings.prefix, kms_key_arn=foundation.kms_key_arn, protect=settings.protect),
    opts=opts,
)
# TODO(workflow): use workflow.state_machine_arn once TrainingWorkflow is constructed above; the
# workflow's state machine is named f"{settings.prefix}-training", so the ARN is deterministic.
training_state_machine_arn = (f"arn:aws:states:{settings.region}:{settings.account_id}:"
                              f"stateMachine:{settings.prefix}-training")
training_pipeline = TrainingPipeline(
    f"{settings.prefix}-training-pipeline",
    TrainingPipelineArgs(
        prefix=settings.prefix, account_id=settings.account_id, region=settings.region, source=settings.source,
        state_machine_arn=training_state_machine_arn, kms_key_arn=foundation.kms_key_arn,
        artifact_bucket_name=foundation.bucket_name, artifact_bucket_arn=foundation.bucket_arn,
        repository_name=image_repository.repository_name, repository_arn=image_repository.repository_arn,
        repository_url=image_repository.repository_url, notification_topic_arn=notifications.topic_arn,
        log_retention_days=settings.log_retention_days,
    ),
    opts=opts,
)

pulumi.export("environment", settings.environment)
pulumi.export("bucketName", foundation.bucket_name)
pulumi.export("kmsKeyArn", foundation.kms_key_arn)
pulumi.export("notificationTopicArn", notifications.topic_arn)
pulumi.export("imageRepositoryUrl", image_repository.repository_url)
pulumi.export("trainingPipelineName", training_pipeline.pipeline_name)
