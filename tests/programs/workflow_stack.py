"""A program with the workflow and approval components on the real foundation, for component tests
that must not depend on the pipeline and inference components (those pass fixed ARNs here)."""

import pulumi

from components.approval_api import ApprovalApi, ApprovalApiArgs
from components.foundation import Foundation, FoundationArgs
from components.notifications import Notifications, NotificationsArgs
from components.provider import component_options, create_provider
from components.settings import load_settings
from components.training_workflow import TrainingWorkflow, TrainingWorkflowArgs, state_machine_arn

s = load_settings()
opts = component_options(create_provider(s))
foundation = Foundation(f"{s.prefix}-foundation", FoundationArgs(s.prefix, s.account_id, s.region, s.protect), opts=opts)
topic = Notifications(f"{s.prefix}-notifications", NotificationsArgs(
    s.prefix, foundation.kms_key_arn, s.notification_emails, s.account_id), opts=opts)
approval = ApprovalApi(f"{s.prefix}-approval", ApprovalApiArgs(
    prefix=s.prefix, account_id=s.account_id, region=s.region, kms_key_arn=foundation.kms_key_arn,
    topic_arn=topic.topic_arn, state_machine_arn=state_machine_arn(s.prefix, s.account_id, s.region),
    link_ttl_seconds=s.approval_timeout_seconds, log_retention_days=s.log_retention_days,
    api_logging=foundation.api_gateway_logging,
    protect=s.protect), opts=opts)
workflow = TrainingWorkflow(f"{s.prefix}-workflow", TrainingWorkflowArgs(
    prefix=s.prefix, account_id=s.account_id, region=s.region, kms_key_arn=foundation.kms_key_arn,
    bucket_name=foundation.bucket_name, bucket_arn=foundation.bucket_arn, topic_arn=topic.topic_arn,
    image_repository_arn=f"arn:aws:ecr:{s.region}:{s.account_id}:repository/{s.prefix}-model",
    approval_request_function_arn=approval.request_function_arn,
    smoke_test_function_arn=f"arn:aws:lambda:{s.region}:{s.account_id}:function:{s.prefix}-inference-proxy",
    inference_url="https://abc123.execute-api.eu-west-1.amazonaws.com/v1/predict",
    endpoint_name=f"{s.prefix}-endpoint", model_package_group_name=f"{s.prefix}-models",
    log_retention_days=s.log_retention_days, approval_timeout_seconds=s.approval_timeout_seconds,
    training_instance_type=s.training.instance_type, training_instance_count=s.training.instance_count,
    training_volume_gb=s.training.volume_size_gb, training_max_runtime_seconds=s.training.max_runtime_seconds,
    transform_instance_type=s.training.transform_instance_type,
    endpoint_instance_type=s.endpoint.instance_type, endpoint_instance_count=s.endpoint.instance_count,
    min_accuracy=s.training.min_accuracy, hyperparameters=s.training.hyperparameters,
    deploy_endpoint=s.endpoint.managed_by == "workflow", protect=s.protect),
    opts=opts)
pulumi.export("stateMachineArn", workflow.state_machine_arn)
pulumi.export("approvalUrl", approval.decision_url)
