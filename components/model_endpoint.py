"""A SageMaker endpoint serving one registered model package, as a Pulumi resource (staging, prod).

Model (from the package) -> endpoint configuration (instance type and count, KMS, data capture to the
stack's bucket) -> endpoint with the stack's stable name -> autoscaling on invocations per instance.
CloudWatch alarms watch 5xx errors and model latency and notify the stack's topic; where
``endpointDeploymentStrategy`` is canary or linear, updates are blue/green and SageMaker rolls back
automatically when one of those alarms fires during the update.

A new package replaces the model and the endpoint configuration (both auto-named, created before the
old ones are deleted) and updates the endpoint in place: the endpoint name, and with it the inference
API, never change. In dev the training workflow owns the endpoint instead (``modelDeployment:
workflow``); it uses the same name, ``endpoint_name(settings)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import policy_document, service_role, statement
from components.settings import Settings

VARIANT_NAME = "AllTraffic"
DATA_CAPTURE_PREFIX = "data-capture"

# Blue/green traffic shifting per endpointDeploymentStrategy (all-at-once: SageMaker's default update).
TRAFFIC_ROUTING: dict[str, dict[str, Any]] = {
    "canary": {"type": "CANARY", "canary_size": {"type": "INSTANCE_COUNT", "value": 1}},
    "linear": {"type": "LINEAR", "linear_step_size": {"type": "CAPACITY_PERCENT", "value": 25}},
}


def endpoint_name(settings: Settings) -> str:
    """The stack's stable endpoint name, ``mlops-dev-endpoint``: the same in every stack and every run."""
    return f"{settings.prefix}-endpoint"


@dataclass(frozen=True)
class ModelEndpointArgs:
    prefix: str
    account_id: str
    region: str
    endpoint_name: str
    model_package_arn: pulumi.Input[str]
    """Versioned package ARN, possibly in the registry account (see ``components.model_registry``)."""
    registry_account_id: str
    """Account of the model registry: the package's image (ECR) and artifacts (S3, KMS) live there."""
    registry_bucket_name: str
    """The registry stack's bucket holding model artifacts under ``workflow/``."""
    kms_key_arn: pulumi.Input[str]
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    instance_type: str
    instance_count: int
    min_capacity: int
    max_capacity: int
    data_capture_percent: int
    deployment_strategy: str
    protect: bool = False
    invocations_per_instance: int = 200
    """Autoscaling target: invocations per instance per minute."""
    latency_alarm_ms: int = 1000
    """ModelLatency (average over a minute) above this is an alarm, and rolls a blue/green update back."""
    baking_seconds: int = 300
    """How long each blue/green traffic step waits, watching the alarms, before shifting more."""
    image_repository_pattern: str = "mlops-*"
    """ECR repositories in the registry account the model image may come from."""
    tester_principal_arn: str | None = None
    """Role (the promotion's integration tests) allowed to assume ``tester_role_name`` and invoke this
    endpoint; None: no tester role."""
    tester_role_name: str | None = None


class ModelEndpoint(pulumi.ComponentResource):
    endpoint_name: pulumi.Output[str]
    endpoint_arn: pulumi.Output[str]
    model_name: pulumi.Output[str]
    model_package_arn: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]
    alarm_names: list[pulumi.Output[str]]
    tester_role_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: ModelEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:endpoint:ModelEndpoint", name, None, opts)
        self._args = a = args
        child = pulumi.ResourceOptions(parent=self)

        role = self._execution_role(name)
        model = aws.sagemaker.Model(
            f"{name}-model",
            execution_role_arn=role.arn,
            primary_container={"model_package_name": a.model_package_arn},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
        )
        endpoint_config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config",
            kms_key_arn=a.kms_key_arn,
            production_variants=[{
                "variant_name": VARIANT_NAME,
                "model_name": model.name,
                "instance_type": a.instance_type,
                "initial_instance_count": a.instance_count,
                "initial_variant_weight": 1.0,
            }],
            data_capture_config=self._data_capture(),
            opts=child,
        )
        alarms = self._alarms(name)
        endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            name=a.endpoint_name,
            endpoint_config_name=endpoint_config.name,
            deployment_config=self._deployment_config(alarms),
            opts=pulumi.ResourceOptions(parent=self, protect=a.protect),
        )
        if a.max_capacity > a.min_capacity:
            self._autoscaling(name, endpoint)
        self.tester_role_arn = self._tester_role(name) if a.tester_principal_arn else None

        self.endpoint_name = endpoint.name
        self.endpoint_arn = endpoint.arn
        self.model_name = model.name
        self.model_package_arn = pulumi.Output.from_input(a.model_package_arn)
        self.execution_role_arn = role.arn
        self.alarm_names = [alarm.name for alarm in alarms]
        self.register_outputs({"endpoint_name": self.endpoint_name, "endpoint_arn": self.endpoint_arn,
                               "model_package_arn": self.model_package_arn})

    # -----------------------------------------------------------------------------------------------

    def _execution_role(self, name: str) -> aws.iam.Role:
        """What the model's containers may do: pull the image and read the artifacts from the registry
        account, write captured data to this stack's bucket, log and publish metrics."""
        a = self._args
        child = pulumi.ResourceOptions(parent=self)
        statements = [
            statement("PullModelImage", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                      [f"arn:aws:ecr:{a.region}:{a.registry_account_id}:repository/{a.image_repository_pattern}"]),
            # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
            statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            statement("ReadModelArtifacts", ["s3:GetObject"],
                      [f"arn:aws:s3:::{a.registry_bucket_name}/workflow/*"]),
            statement("DecryptModelArtifacts", ["kms:Decrypt"],
                      [f"arn:aws:kms:{a.region}:{a.registry_account_id}:key/*"],
                      condition={"StringEquals": {"kms:ViaService": [f"s3.{a.region}.amazonaws.com",
                                                                     f"ecr.{a.region}.amazonaws.com"]}}),
            statement("WriteLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                      [f"arn:aws:logs:{a.region}:{a.account_id}:log-group:/aws/sagemaker/Endpoints/"
                       f"{a.endpoint_name}:*"]),
            statement("PublishMetrics", ["cloudwatch:PutMetricData"], ["*"],
                      condition={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}}),
        ]
        if a.data_capture_percent > 0:
            statements += [
                statement("WriteCapturedData", ["s3:PutObject"],
                          [pulumi.Output.concat(a.bucket_arn, f"/{DATA_CAPTURE_PREFIX}/{a.endpoint_name}/*")]),
                statement("EncryptCapturedData", ["kms:GenerateDataKey", "kms:Encrypt"], [a.kms_key_arn]),
            ]
        role, _ = service_role(
            f"{name}-model", role_name=f"{a.prefix}-endpoint-model",
            description=f"Execution role of the models behind {a.endpoint_name}",
            service="sagemaker.amazonaws.com", account_id=a.account_id, statements=statements, opts=child)
        return role

    def _tester_role(self, name: str) -> pulumi.Output[str]:
        """Assumed by the promotion's integration tests (another account in a multi-account layout): may
        invoke this endpoint and check which model package it serves, nothing else."""
        a = self._args
        child = pulumi.ResourceOptions(parent=self)
        sagemaker = f"arn:aws:sagemaker:{a.region}:{a.account_id}"
        role = aws.iam.Role(
            f"{name}-tester-role", name=a.tester_role_name or f"{a.prefix}-endpoint-tester",
            description=f"Integration tests invoke {a.endpoint_name}",
            assume_role_policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": a.tester_principal_arn}, "Action": "sts:AssumeRole"}]}),
            max_session_duration=3600, opts=child)
        aws.iam.RolePolicy(f"{name}-tester-policy", role=role.id, policy=policy_document(
            statement("InvokeEndpoint", ["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"],
                      [f"{sagemaker}:endpoint/{a.endpoint_name}"]),
            statement("CheckServedPackage", ["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
                      [f"{sagemaker}:endpoint-config/{name}-config-*", f"{sagemaker}:model/{name}-model-*"]),
        ), opts=child)
        return role.arn

    def _data_capture(self) -> dict[str, Any] | None:
        a = self._args
        if a.data_capture_percent <= 0:
            return None
        return {
            "enable_capture": True,
            "initial_sampling_percentage": a.data_capture_percent,
            "destination_s3_uri": pulumi.Output.concat("s3://", a.bucket_name, f"/{DATA_CAPTURE_PREFIX}/",
                                                       a.endpoint_name),
            "kms_key_id": a.kms_key_arn,
            "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
            "capture_content_type_header": {"csv_content_types": ["text/csv"],
                                            "json_content_types": ["application/json"]},
        }

    def _alarms(self, name: str) -> list[aws.cloudwatch.MetricAlarm]:
        """5xx errors and model latency of the variant, notifying the stack's topic."""
        a = self._args
        child = pulumi.ResourceOptions(parent=self)
        common: dict[str, Any] = dict(
            namespace="AWS/SageMaker",
            dimensions={"EndpointName": a.endpoint_name, "VariantName": VARIANT_NAME},
            period=60,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            treat_missing_data="notBreaching",
            alarm_actions=[a.topic_arn],
            ok_actions=[a.topic_arn],
        )
        errors = aws.cloudwatch.MetricAlarm(
            f"{name}-5xx-alarm", name=f"{a.endpoint_name}-5xx-errors",
            alarm_description=f"{a.endpoint_name}: the model answered with 5xx errors for 2 minutes",
            metric_name="Invocation5XXErrors", statistic="Sum", comparison_operator="GreaterThanThreshold",
            threshold=0, **common, opts=child)
        latency = aws.cloudwatch.MetricAlarm(
            f"{name}-latency-alarm", name=f"{a.endpoint_name}-model-latency",
            alarm_description=f"{a.endpoint_name}: average model latency above {a.latency_alarm_ms} ms for 2 minutes",
            metric_name="ModelLatency", statistic="Average", comparison_operator="GreaterThanThreshold",
            threshold=a.latency_alarm_ms * 1000,  # ModelLatency is reported in microseconds
            **common, opts=child)
        return [errors, latency]

    def _deployment_config(self, alarms: list[aws.cloudwatch.MetricAlarm]) -> dict[str, Any] | None:
        a = self._args
        routing = TRAFFIC_ROUTING.get(a.deployment_strategy)
        if routing is None:
            return None
        return {
            "blue_green_update_policy": {
                "traffic_routing_configuration": {**routing, "wait_interval_in_seconds": a.baking_seconds},
                "termination_wait_in_seconds": 120,
                "maximum_execution_timeout_in_seconds": 3600,
            },
            "auto_rollback_configuration": {"alarms": [{"alarm_name": alarm.name} for alarm in alarms]},
        }

    def _autoscaling(self, name: str, endpoint: aws.sagemaker.Endpoint) -> None:
        a = self._args
        child = pulumi.ResourceOptions(parent=self)
        target = aws.appautoscaling.Target(
            f"{name}-scaling-target",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=pulumi.Output.concat("endpoint/", endpoint.name, f"/variant/{VARIANT_NAME}"),
            min_capacity=a.min_capacity,
            max_capacity=a.max_capacity,
            opts=child)
        aws.appautoscaling.Policy(
            f"{name}-scaling-policy",
            name=f"{a.endpoint_name}-invocations-per-instance",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration={
                "predefined_metric_specification": {
                    "predefined_metric_type": "SageMakerVariantInvocationsPerInstance"},
                "target_value": a.invocations_per_instance,
                "scale_in_cooldown": 300,
                "scale_out_cooldown": 60,
            },
            opts=child)
