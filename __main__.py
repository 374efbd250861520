"""MLOps platform: one stack per environment (dev, staging, prod). Read settings, build, export."""

import pulumi

from components.foundation import Foundation, FoundationArgs
from components.notifications import Notifications, NotificationsArgs
from components.provider import component_options, create_provider
from components.settings import load_settings

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

pulumi.export("environment", settings.environment)
pulumi.export("bucketName", foundation.bucket_name)
pulumi.export("kmsKeyArn", foundation.kms_key_arn)
pulumi.export("notificationTopicArn", notifications.topic_arn)
