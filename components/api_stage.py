"""The one way this platform publishes a REST API stage: access-logged, traced and throttled."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.context import StackContext

# One JSON line per request; never the body (it may carry features, links or secrets).
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.caller", "apiKeyId": "$context.identity.apiKeyId",
    "method": "$context.httpMethod", "path": "$context.resourcePath", "status": "$context.status",
    "latencyMs": "$context.responseLatency", "integrationLatencyMs": "$context.integration.latency",
    "error": "$context.error.message", "userAgent": "$context.identity.userAgent",
}, separators=(",", ":"))


def logged_stage(name: str, *, ctx: StackContext, parent: pulumi.Resource, rest_api: pulumi.Input[str],
                 deployment: pulumi.Input[str], stage_name: str, log_group_name: str,
                 throttle_rate_limit: float, throttle_burst_limit: int) -> aws.apigateway.Stage:
    """Stage ``stage_name`` with an encrypted access log group, X-Ray tracing and stage-wide throttling.

    Execution logging stays at ERROR without data tracing, so request bodies never reach the logs.
    Children are named ``<name>-access-logs``, ``<name>-stage`` and ``<name>-throttling``.
    The stage waits for the account's API Gateway logging role setting (``ctx.api_logging``): API
    Gateway refuses access logging until it exists.
    """
    logging_ready = ctx.api_logging
    child = pulumi.ResourceOptions(parent=parent)
    access_logs = aws.cloudwatch.LogGroup(
        f"{name}-access-logs", name=log_group_name, retention_in_days=ctx.log_retention_days,
        kms_key_id=ctx.kms_key_arn, opts=child)
    stage = aws.apigateway.Stage(
        f"{name}-stage", rest_api=rest_api, deployment=deployment, stage_name=stage_name,
        xray_tracing_enabled=True,
        access_log_settings={"destination_arn": access_logs.arn, "format": ACCESS_LOG_FORMAT},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[logging_ready] if logging_ready else None))
    aws.apigateway.MethodSettings(
        f"{name}-throttling", rest_api=rest_api, stage_name=stage.stage_name, method_path="*/*",
        settings={"throttling_rate_limit": throttle_rate_limit, "throttling_burst_limit": throttle_burst_limit,
                  "metrics_enabled": True, "logging_level": "ERROR", "data_trace_enabled": False},
        opts=child)
    return stage
