"""Pulumi type tokens: the one place the tests and the mocks spell them.

``Token`` has one member per AWS resource type or data source (invoke) that the mocks, the tests
or the policy rules name. A member is called ``<MODULE>_<TYPE>`` in upper snake case (functions in
``index`` drop the module), so the name follows from the token: ``Token.IAM_ROLE_POLICY`` is
``"aws:iam/rolePolicy:RolePolicy"``, ``Token.GET_REGION`` is ``"aws:index/getRegion:getRegion"``.

A ``StrEnum`` member is a ``str``: it compares and hashes equal to the token, so
``run.by_type(Token.IAM_ROLE)``, ``record.type == Token.IAM_ROLE`` and dict look-ups by the plain
string work unchanged. tests/test_tokens.py checks that every member has the form
``pkg:module/name:Type``, is defined by the pinned pulumi-aws, and is named after its token; the
pulumi-aws-native members have that package's form ``aws-native:module:Type``, are defined by the pinned
pulumi-aws-native and are called ``NATIVE_<MODULE>_<TYPE>``.

The policy pack cannot import this module (the CLI runs the pack from ``policies/`` with its own
virtualenv), so the rule modules keep their own ``*_TYPE`` constants; tests/test_tokens.py checks
that each of them is a member here, and the policy tests build their resources from ``Token``.
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class Token(StrEnum):
    """Type tokens of AWS resources and data sources, ``aws:<module>/<name>:<Type>``."""

    # --- resources
    APIGATEWAY_ACCOUNT = "aws:apigateway/account:Account"
    APIGATEWAY_API_KEY = "aws:apigateway/apiKey:ApiKey"
    APIGATEWAY_DEPLOYMENT = "aws:apigateway/deployment:Deployment"
    APIGATEWAY_INTEGRATION = "aws:apigateway/integration:Integration"
    APIGATEWAY_METHOD = "aws:apigateway/method:Method"
    APIGATEWAY_METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
    APIGATEWAY_REQUEST_VALIDATOR = "aws:apigateway/requestValidator:RequestValidator"
    APIGATEWAY_RESOURCE = "aws:apigateway/resource:Resource"
    APIGATEWAY_REST_API = "aws:apigateway/restApi:RestApi"
    APIGATEWAY_STAGE = "aws:apigateway/stage:Stage"
    APIGATEWAY_USAGE_PLAN = "aws:apigateway/usagePlan:UsagePlan"

    APPAUTOSCALING_POLICY = "aws:appautoscaling/policy:Policy"
    APPAUTOSCALING_TARGET = "aws:appautoscaling/target:Target"

    AUTOSCALING_GROUP = "aws:autoscaling/group:Group"

    CLOUDWATCH_EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
    CLOUDWATCH_EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
    CLOUDWATCH_LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
    CLOUDWATCH_METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"

    CODEBUILD_PROJECT = "aws:codebuild/project:Project"

    CODEPIPELINE_PIPELINE = "aws:codepipeline/pipeline:Pipeline"

    CODESTARNOTIFICATIONS_NOTIFICATION_RULE = "aws:codestarnotifications/notificationRule:NotificationRule"

    DYNAMODB_TABLE = "aws:dynamodb/table:Table"

    ECR_LIFECYCLE_POLICY = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
    ECR_REPOSITORY = "aws:ecr/repository:Repository"
    ECR_REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"

    IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
    IAM_GROUP_POLICY_ATTACHMENT = "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"
    IAM_GROUP_POLICY_ATTACHMENTS_EXCLUSIVE = "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive"
    IAM_POLICY = "aws:iam/policy:Policy"
    IAM_POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
    IAM_ROLE = "aws:iam/role:Role"
    IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
    IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    IAM_ROLE_POLICY_ATTACHMENTS_EXCLUSIVE = "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive"
    IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
    IAM_USER_POLICY_ATTACHMENT = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
    IAM_USER_POLICY_ATTACHMENTS_EXCLUSIVE = "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive"

    KMS_ALIAS = "aws:kms/alias:Alias"
    KMS_KEY = "aws:kms/key:Key"

    LAMBDA_FUNCTION = "aws:lambda/function:Function"
    LAMBDA_PERMISSION = "aws:lambda/permission:Permission"

    S3_ACCOUNT_PUBLIC_ACCESS_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
    S3_BUCKET = "aws:s3/bucket:Bucket"
    S3_BUCKET_NOTIFICATION = "aws:s3/bucketNotification:BucketNotification"
    S3_BUCKET_OBJECTV2 = "aws:s3/bucketObjectv2:BucketObjectv2"
    S3_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
    S3_BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
    S3_BUCKET_SERVER_SIDE_ENCRYPTION_CONFIGURATION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    S3_BUCKET_SERVER_SIDE_ENCRYPTION_CONFIGURATION_V2 = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
    S3_BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
    S3_BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
    S3_BUCKET_VERSIONING_V2 = "aws:s3/bucketVersioningV2:BucketVersioningV2"

    SAGEMAKER_DATA_QUALITY_JOB_DEFINITION = "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition"
    SAGEMAKER_ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
    SAGEMAKER_ENDPOINT_CONFIGURATION = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
    SAGEMAKER_MODEL = "aws:sagemaker/model:Model"
    SAGEMAKER_MODEL_PACKAGE_GROUP = "aws:sagemaker/modelPackageGroup:ModelPackageGroup"
    SAGEMAKER_MODEL_PACKAGE_GROUP_POLICY = "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy"
    SAGEMAKER_MONITORING_SCHEDULE = "aws:sagemaker/monitoringSchedule:MonitoringSchedule"

    SECRETSMANAGER_SECRET = "aws:secretsmanager/secret:Secret"

    SFN_STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"

    SNS_TOPIC = "aws:sns/topic:Topic"
    SNS_TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
    SNS_TOPIC_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"

    SQS_QUEUE = "aws:sqs/queue:Queue"

    # --- pulumi-aws-native (Cloud Control) resources: ``aws-native:<module>:<Type>``, members ``NATIVE_<MODULE>_<TYPE>``
    NATIVE_SAGEMAKER_MODEL_BIAS_JOB_DEFINITION = "aws-native:sagemaker:ModelBiasJobDefinition"
    NATIVE_SAGEMAKER_MODEL_EXPLAINABILITY_JOB_DEFINITION = "aws-native:sagemaker:ModelExplainabilityJobDefinition"
    NATIVE_SAGEMAKER_MODEL_QUALITY_JOB_DEFINITION = "aws-native:sagemaker:ModelQualityJobDefinition"

    # --- data sources (invokes): the last part is the function's name
    EC2_GET_VPC = "aws:ec2/getVpc:getVpc"

    GET_CALLER_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"
    GET_PARTITION = "aws:index/getPartition:getPartition"
    GET_REGION = "aws:index/getRegion:getRegion"

    SECRETSMANAGER_GET_RANDOM_PASSWORD = "aws:secretsmanager/getRandomPassword:getRandomPassword"


# Pulumi's own types have another form (``pulumi:<kind>:<name>``), so they are not ``Token`` members.
PROVIDER_PREFIX = "pulumi:providers:"
"""The type of every explicit provider resource starts with this, then the package name."""
AWS_PROVIDER = f"{PROVIDER_PREFIX}aws"
"""The type of an explicit AWS provider resource."""
AWS_NATIVE_PROVIDER = f"{PROVIDER_PREFIX}aws-native"
"""The type of an explicit AWS Cloud Control (pulumi-aws-native) provider resource."""
ROOT_STACK = "pulumi:pulumi:Stack"
"""The type of the stack's root resource, the parent of everything the program registers."""
