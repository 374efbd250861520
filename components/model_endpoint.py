"""A SageMaker endpoint serving one registered model package, as a Pulumi resource (staging, prod).

Model (from the package) -> endpoint configuration (instance type and count, KMS, data capture to the
stack's bucket) -> endpoint with the stack's stable name -> autoscaling on invocations per instance.
CloudWatch alarms watch 5xx errors and model latency and notify the stack's topic; where
``endpointDeploymentStrategy`` is canary or linear, updates are blue/green and SageMaker rolls back
automatically when one of those alarms fires during the update.

A new package replaces the model and the endpoint configuration (both auto-named, created before the
old ones are deleted) and updates the endpoint in place: the endpoint name, and with it the inference
API, never change. In dev the training workflow owns the endpoint instead (``modelDeployment:
workflow``); it uses the same name, ``Names.endpoint``.

The defaults serve the stack's trained model (``Names.endpoint``, its model role, capture under the stack
bucket's ``data-capture/<endpoint>``, artifacts under the registry bucket's ``workflow/``, images from its
``mlops-*`` repositories). A model-catalog entry (``components.catalog_endpoint``) reuses the component
with its own name, role, capture destination, key and ``ModelAccess``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.context import StackContext
from components.iam import policy_document, service_role, statement
from components.names import DATA_CAPTURE_PREFIX, WORKFLOW_PREFIX, Names
from components.specs import EndpointSpec

VARIANT_NAME = "AllTraffic"

# Blue/green traffic shifting per endpointDeploymentStrategy (all-at-once: SageMaker's default update).
TRAFFIC_ROUTING: dict[str, dict[str, Any]] = {
    "canary": {"type": "CANARY", "canary_size": {"type": "INSTANCE_COUNT", "value": 1}},
    "linear": {"type": "LINEAR", "linear_step_size": {"type": "CAPACITY_PERCENT", "value": 25}},
}


@dataclass(frozen=True)
class ModelAccess:
    """What the model role may read to start the model: its artifacts (S3) and image (ECR), and which
    keys it may decrypt them with, through which services only (``kms:ViaService``)."""

    artifact_arns: Sequence[pulumi.Input[str]]
    """S3 object ARNs (or prefixes ending in ``/*``) of the model data."""
    image_repository_arns: Sequence[str]
    """ECR repositories the image may be pulled from."""
    decrypt_key_arns: Sequence[str]
    """KMS keys (or ``key/*`` of an account) the artifacts are encrypted with."""
    artifact_actions: Sequence[str] = ("s3:GetObject",)
    decrypt_via: Sequence[str] = ("s3", "ecr")
    """Services (``kms:ViaService``, in the stack's region) through which the role may decrypt."""


def registry_model_access(registry: Names, image_repository_pattern: str = "mlops-*") -> ModelAccess:
    """What the trained model's endpoint reads: artifacts under the registry bucket's ``workflow/``, images
    from the registry account's ``image_repository_pattern`` repositories, its keys through S3 and ECR."""
    return ModelAccess(
        artifact_arns=(registry.s3_arn(registry.bucket, f"{WORKFLOW_PREFIX}/*"),),
        image_repository_arns=(registry.arn("ecr", f"repository/{image_repository_pattern}"),),
        decrypt_key_arns=(registry.arn("kms", "key/*"),))


@dataclass(frozen=True)
class ModelEndpointArgs:
    ctx: StackContext
    model_package_arn: pulumi.Input[str]
    """Versioned package ARN, possibly in the registry account (see ``components.model_registry``)."""
    registry: Names
    """Names of the model registry's stack: the package's image (ECR) and artifacts (S3 under
    ``workflow/``, KMS) live in its account (the default ``model_access``)."""
    spec: EndpointSpec
    invocations_per_instance: int = 200
    """Autoscaling target: invocations per instance per minute."""
    latency_alarm_ms: int = 1000
    """ModelLatency (average over a minute) above this is an alarm, and rolls a blue/green update back."""
    baking_seconds: int = 300
    """How long each blue/green traffic step waits, watching the alarms, before shifting more."""
    tester_principal_arn: str | None = None
    """Role (the promotion's integration tests) allowed to assume ``names.endpoint_tester_role`` and
    invoke this endpoint; None: no tester role."""
    endpoint_name: str | None = None
    """None: the stack's endpoint, ``ctx.names.endpoint``."""
    model_role_name: str | None = None
    """Execution role of the model; None: ``ctx.names.endpoint_model_role``."""
    data_capture_uri: pulumi.Input[str] | None = None
    """``s3://bucket/prefix`` receiving captured requests and responses (when ``spec.data_capture_percent``
    > 0); None: the stack bucket's ``data-capture/<endpoint>``. Give ``data_capture_objects_arn`` with it."""
    data_capture_objects_arn: pulumi.Input[str] | None = None
    """What the model role may write: the capture destination's objects (``arn:aws:s3:::bucket/prefix/*``)."""
    kms_key_arn: pulumi.Input[str] | None = None
    """Encrypts the endpoint's volumes and captured data; None: the stack's key."""
    model_access: ModelAccess | None = None
    """What the model role may read; None: ``registry_model_access(registry)``."""

    def __post_init__(self):
        if (self.data_capture_uri is None) != (self.data_capture_objects_arn is None):
            raise ValueError("ModelEndpointArgs: give data_capture_uri and data_capture_objects_arn together")


class ModelEndpoint(pulumi.ComponentResource):
    endpoint_name: pulumi.Output[str]
    endpoint_arn: pulumi.Output[str]
    model_name: pulumi.Output[str]
    model_package_arn: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]
    data_capture_uri: pulumi.Output[str] | None
    """Where requests and responses are captured (monitors read it; by default
    ``s3://<bucket>/data-capture/<endpoint>``); None when data capture is off."""
    alarm_names: list[pulumi.Output[str]]
    tester_role_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: ModelEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:endpoint:ModelEndpoint", name, None, opts)
        self._args = a = args
        self._ctx = ctx = a.ctx
        self._name = name
        self._endpoint_name = a.endpoint_name or ctx.names.endpoint
        self._kms_key_arn = a.kms_key_arn if a.kms_key_arn is not None else ctx.kms_key_arn
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
            kms_key_arn=self._kms_key_arn,
            production_variants=[{
                "variant_name": VARIANT_NAME,
                "model_name": model.name,
                "instance_type": a.spec.instance_type,
                "initial_instance_count": a.spec.instance_count,
                "initial_variant_weight": 1.0,
            }],
            data_capture_config=self._data_capture(),
            opts=child,
        )
        alarms = self._alarms(name)
        endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            name=self._endpoint_name,
            endpoint_config_name=endpoint_config.name,
            deployment_config=self._deployment_config(alarms),
            opts=pulumi.ResourceOptions(parent=self, protect=ctx.protect),
        )
        if a.spec.max_capacity > a.spec.min_capacity:
            self._autoscaling(name, endpoint)
        self.tester_role_arn = self._tester_role(name) if a.tester_principal_arn else None

        self.endpoint_name = endpoint.name
        self.endpoint_arn = endpoint.arn
        self.model_name = model.name
        self.model_package_arn = pulumi.Output.from_input(a.model_package_arn)
        self.execution_role_arn = role.arn
        self.data_capture_uri = self._data_capture_uri() if a.spec.data_capture_percent > 0 else None
        self.alarm_names = [alarm.name for alarm in alarms]
        self.register_outputs({"endpoint_name": self.endpoint_name, "endpoint_arn": self.endpoint_arn,
                               "model_package_arn": self.model_package_arn})

    # -----------------------------------------------------------------------------------------------

    def _execution_role(self, name: str) -> aws.iam.Role:
        """What the model's containers may do: pull the image and read the artifacts from the registry
        account, write captured data to this stack's bucket, log and publish metrics."""
        a, ctx, endpoint_name = self._args, self._ctx, self._endpoint_name
        access = a.model_access or registry_model_access(a.registry)
        child = pulumi.ResourceOptions(parent=self)
        statements = [
            statement("PullModelImage", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                      list(access.image_repository_arns)),
            # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
            statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            statement("ReadModelArtifacts", list(access.artifact_actions), list(access.artifact_arns)),
            statement("DecryptModelArtifacts", ["kms:Decrypt"], list(access.decrypt_key_arns),
                      condition={"StringEquals": {"kms:ViaService": [
                          f"{service}.{ctx.region}.amazonaws.com" for service in access.decrypt_via]}}),
            statement("WriteLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                      [ctx.names.log_group_arn(f"/aws/sagemaker/Endpoints/{endpoint_name}:*")]),
            statement("PublishMetrics", ["cloudwatch:PutMetricData"], ["*"],
                      condition={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}}),
        ]
        if a.spec.data_capture_percent > 0:
            statements += [
                statement("WriteCapturedData", ["s3:PutObject"], [self._data_capture_objects_arn()]),
                # SageMaker writes captured data with S3 server-side encryption under this key: only through S3.
                statement("EncryptCapturedData", ["kms:GenerateDataKey", "kms:Encrypt"], [self._kms_key_arn],
                          condition={"StringEquals": {"kms:ViaService": [f"s3.{ctx.region}.amazonaws.com"]}}),
            ]
        role, _ = service_role(
            f"{name}-model", role_name=a.model_role_name or ctx.names.endpoint_model_role,
            description=f"Execution role of the models behind {endpoint_name}",
            service="sagemaker.amazonaws.com", account_id=ctx.account, statements=statements, opts=child)
        return role

    def _tester_role(self, name: str) -> pulumi.Output[str]:
        """Assumed by the promotion's integration tests (another account in a multi-account layout): may
        invoke this endpoint and check which model package it serves, nothing else."""
        a, names, endpoint_name = self._args, self._ctx.names, self._endpoint_name
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-tester-role", name=names.endpoint_tester_role,
            description=f"Integration tests invoke {endpoint_name}",
            assume_role_policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": a.tester_principal_arn}, "Action": "sts:AssumeRole"}]}),
            max_session_duration=3600, opts=child)
        self.grant_tester(role.id, policy_name=f"{name}-tester-policy")
        return role.arn

    def grant_tester(self, role_name: pulumi.Input[str], policy_name: str | None = None) -> aws.iam.RolePolicy:
        """Let ``role_name`` (the integration tests' tester role) invoke this endpoint and check which model
        package it serves, nothing else: an inline policy of that role, written by the endpoint that owns
        what it grants."""
        names, endpoint_name, name = self._ctx.names, self._endpoint_name, self._name
        return aws.iam.RolePolicy(policy_name or f"{name}-tester-grant", role=role_name, policy=policy_document(
            statement("InvokeEndpoint", ["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"],
                      [names.sagemaker_arn(f"endpoint/{endpoint_name}")]),
            statement("CheckServedPackage", ["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
                      [names.sagemaker_arn(f"endpoint-config/{name}-config-*"),
                       names.sagemaker_arn(f"model/{name}-model-*")]),
        ), opts=pulumi.ResourceOptions(parent=self))

    def _data_capture_uri(self) -> pulumi.Output[str]:
        if self._args.data_capture_uri is not None:
            return pulumi.Output.from_input(self._args.data_capture_uri)
        return pulumi.Output.concat("s3://", self._ctx.bucket_name, f"/{DATA_CAPTURE_PREFIX}/", self._endpoint_name)

    def _data_capture_objects_arn(self) -> pulumi.Input[str]:
        if self._args.data_capture_objects_arn is not None:
            return self._args.data_capture_objects_arn
        return pulumi.Output.concat(self._ctx.bucket_arn, f"/{DATA_CAPTURE_PREFIX}/{self._endpoint_name}/*")

    def _data_capture(self) -> dict[str, Any] | None:
        a = self._args
        if a.spec.data_capture_percent <= 0:
            return None
        return {
            "enable_capture": True,
            "initial_sampling_percentage": a.spec.data_capture_percent,
            "destination_s3_uri": self._data_capture_uri(),
            "kms_key_id": self._kms_key_arn,
            "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
            "capture_content_type_header": {"csv_content_types": ["text/csv"],
                                            "json_content_types": ["application/json"]},
        }

    def _alarms(self, name: str) -> list[aws.cloudwatch.MetricAlarm]:
        """5xx errors and model latency of the variant, notifying the stack's topic."""
        a, endpoint_name, topic_arn = self._args, self._endpoint_name, self._ctx.topic_arn
        child = pulumi.ResourceOptions(parent=self)
        common: dict[str, Any] = dict(
            namespace="AWS/SageMaker",
            dimensions={"EndpointName": endpoint_name, "VariantName": VARIANT_NAME},
            period=60,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            treat_missing_data="notBreaching",
            alarm_actions=[topic_arn],
            ok_actions=[topic_arn],
        )
        errors = aws.cloudwatch.MetricAlarm(
            f"{name}-5xx-alarm", name=f"{endpoint_name}-5xx-errors",
            alarm_description=f"{endpoint_name}: the model answered with 5xx errors for 2 minutes",
            metric_name="Invocation5XXErrors", statistic="Sum", comparison_operator="GreaterThanThreshold",
            threshold=0, **common, opts=child)
        latency = aws.cloudwatch.MetricAlarm(
            f"{name}-latency-alarm", name=f"{endpoint_name}-model-latency",
            alarm_description=f"{endpoint_name}: average model latency above {a.latency_alarm_ms} ms for 2 minutes",
            metric_name="ModelLatency", statistic="Average", comparison_operator="GreaterThanThreshold",
            threshold=a.latency_alarm_ms * 1000,  # ModelLatency is reported in microseconds
            **common, opts=child)
        return [errors, latency]

    def _deployment_config(self, alarms: list[aws.cloudwatch.MetricAlarm]) -> dict[str, Any] | None:
        a = self._args
        routing = TRAFFIC_ROUTING.get(a.spec.deployment_strategy)
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
            min_capacity=a.spec.min_capacity,
            max_capacity=a.spec.max_capacity,
            opts=child)
        aws.appautoscaling.Policy(
            f"{name}-scaling-policy",
            name=f"{self._endpoint_name}-invocations-per-instance",
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
