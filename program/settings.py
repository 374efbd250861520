"""Typed, validated stack settings.

Every key the program reads is declared twice, on purpose: in ``Pulumi.yaml`` (type, description and
default, which the Pulumi CLI applies) and in ``KEYS`` below (how the value is parsed and validated).
``tests/test_settings.py`` keeps the two lists identical.

``Settings.from_raw`` is a pure function over the raw config strings, so it can be tested without a
Pulumi runtime; ``load_settings`` reads them from ``pulumi.Config``. Every problem found is reported at
once, one line each, naming the key, the bad value and what is allowed, before any resource exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from catalog.validate import MONITORING_CRON, MONITORING_CRON_ALLOWED, CatalogError, monitoring_interval_seconds
from components.names import CATALOG_STORE_PREFIX, account_of
from components.specs import (
    INFERENCE_AUTH_MODES,
    SOURCE_PROVIDERS,
    EndpointSpec,
    MonitorSpec,
    PipelineSource,
    TrainingSpec,
)
from program.catalog import DEFAULT_CATALOG_FILE, StackCatalog, catalog_store_objects, load_stack_catalog
from program.config_values import (
    ACCOUNT,
    ENVIRONMENT,
    ENVIRONMENT_ALLOWED,
    ConfigError,
    Invalid,
    Key,
    cost_center,
    environment_name,
    json_value,
    one_of,
    owner_name,
    parse_keys,
    region_name,
    resource_tags,
    string_value,
)

PROJECT = "mlops"
# auto: the stack trains (training pipeline, workflow, approval API) when it is the registry environment.
TRAINING_MODES = ("auto", "on", "off")
DEPLOYMENT_STRATEGIES = ("all-at-once", "canary", "linear")
# workflow: the training workflow deploys and smoke-tests this stack's endpoint (dev).
# promotion: the endpoint is a Pulumi resource of this stack, set by model promotion (staging, prod).
MODEL_DEPLOYMENTS = ("workflow", "promotion")
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)
CRITERIA = ("gini", "entropy", "log_loss")

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_CONNECTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$")
_SAGEMAKER_INSTANCE = re.compile(r"^ml\.[a-z0-9]+\.(x?large|\d+xlarge|medium|small|micro)$")
_REPOSITORY = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
_BRANCH = re.compile(r"^[\w./-]{1,255}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MODEL_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z]{2}(-gov)?-[a-z]+-\d:(\d{12}):model-package/[A-Za-z0-9](-*[A-Za-z0-9]){0,62}/\d+$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")
_CATALOG_FILE = re.compile(r"^[\w./-]{1,1024}\.json$")
_BACKEND_URL = re.compile(r"^(https://[\w.-]+(:\d+)?(/\S*)?|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?|"
                          r"azblob://\S+|gs://\S+)$")


class SettingsError(ConfigError):
    """Stack configuration is invalid. ``problems`` holds one line per bad key."""

    configuration = "stack"


# ---------------------------------------------------------------------------------------------------
# Parsers: raw string -> typed value, or Invalid(what is allowed)


def _integer(minimum: int, maximum: int | None = None, choices: tuple[int, ...] | None = None):
    def parse(raw: str) -> int:
        allowed = (f"one of {', '.join(map(str, choices))}" if choices else
                   f"an integer from {minimum}" + (f" to {maximum}" if maximum is not None else " up"))
        try:
            value = int(raw.strip())
        except ValueError:
            raise Invalid(allowed) from None
        if value < minimum or (maximum is not None and value > maximum) or (choices and value not in choices):
            raise Invalid(allowed)
        return value

    return parse


def _number(minimum: float, maximum: float):
    def parse(raw: str) -> float:
        allowed = f"a number from {minimum} to {maximum}"
        try:
            value = float(raw.strip())
        except ValueError:
            raise Invalid(allowed) from None
        if not minimum <= value <= maximum:
            raise Invalid(allowed)
        return value

    return parse


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered not in ("true", "false"):
        raise Invalid("true or false")
    return lowered == "true"


def _list(item: Callable[[str], Any], item_allowed: str, min_items: int = 0, *,
          number: Callable[[int], str] | None = None, unique: bool = False):
    """A JSON list of strings, each parsed by ``item``. ``number`` turns a number element into its
    string (or refuses it); without it numbers are refused. ``unique``: no element twice (ignoring case)."""
    def parse(raw: str) -> tuple:
        allowed = f"a list of {item_allowed}" + (f" with at least {min_items} item(s)" if min_items else "")
        value = json_value(raw, list, allowed)
        if len(value) < min_items:
            raise Invalid(allowed)
        parsed = []
        for index, element in enumerate(value):
            if isinstance(element, float) and element.is_integer():
                element = int(element)
            if number is not None and isinstance(element, int) and not isinstance(element, bool):
                try:
                    element = number(element)
                except Invalid as invalid:
                    raise Invalid(f"{allowed}; item {index}: {invalid.allowed}") from None
            if not isinstance(element, str):
                kinds = "a string" if number is None else "a string or a whole number"
                raise Invalid(f"{allowed}; item {index}: {element!r} is not {kinds}")
            try:
                parsed.append(item(element))
            except Invalid:
                raise Invalid(f"{allowed}; {element!r} is not one") from None
        if unique:
            seen: set[str] = set()
            for element in parsed:
                if str(element).lower() in seen:
                    raise Invalid(f"{allowed}, each once; {element!r} is listed twice")
                seen.add(str(element).lower())
        return tuple(parsed)

    return parse


def _account_number(value: int) -> str:
    """``pulumi config set --path 'allowedAccountIds[0]' 123456789012`` stores the number 123456789012
    (the CLI keeps a value that starts with 0 a string); a 12-digit number is that account id. A number
    with fewer digits is refused: if the id started with 0, the zero is gone (an unquoted
    ``012345678901`` in a stack file is read as the number 12345678901) and guessing it back is unsafe."""
    if 10**11 <= value < 10**12:
        return str(value)
    if 0 <= value < 10**11:
        padded = f"{value:012d}"
        raise Invalid(f"the number {value} has {len(str(value))} digits, an account id has 12; if the id starts "
                       f"with 0, the zero was lost when it was stored as a number: write it as a quoted string in "
                       f'the stack file ("{padded}") or set it with `pulumi config set --path '
                       f"'allowedAccountIds[<index>]' {padded}` (the CLI keeps a value starting with 0 a string)")
    raise Invalid(f"the number {value} is not a 12-digit account id")


def _targets(raw: str) -> tuple[PromotionTargetSettings, ...]:
    """``promotionTargets``: an ordered list of ``{"environment", "deployRoleArn", "approval",
    "integrationTests"}`` objects; every problem of every entry at once."""
    allowed = ('a list of {"environment": <name>, "deployRoleArn": <role ARN>, "approval": true|false, '
               '"integrationTests": true|false} objects, in promotion order')
    value = json_value(raw, list, allowed)
    problems, targets, seen = [], [], set()
    known = {"environment", "deployRoleArn", "approval", "integrationTests"}
    for index, entry in enumerate(value):
        where = f"entry {index}"
        if not isinstance(entry, dict):
            problems.append(f"{where} is {entry!r}: expected an object")
            continue
        unknown = sorted(set(entry) - known)
        if unknown:
            problems.append(f"{where} has unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        environment, role = entry.get("environment"), entry.get("deployRoleArn")
        if not isinstance(environment, str) or not ENVIRONMENT.match(environment):
            problems.append(f"{where}: environment = {environment!r} is invalid: expected {ENVIRONMENT_ALLOWED}")
        elif environment in seen:
            problems.append(f"{where}: environment {environment!r} is listed twice")
        else:
            seen.add(environment)
        if not isinstance(role, str) or not _ROLE_ARN.match(role):
            problems.append(f"{where}: deployRoleArn = {role!r} is invalid: expected an IAM role ARN "
                            "(arn:aws:iam::<account>:role/<name>), the target stack's deployRoleArn")
        flags = {}
        for flag in ("approval", "integrationTests"):
            given = entry.get(flag, False)
            if not isinstance(given, bool):
                problems.append(f"{where}: {flag} = {given!r} is invalid: expected true or false")
            flags[flag] = given is True
        if not problems:  # environment and role are strings that matched their patterns
            targets.append(PromotionTargetSettings(str(environment), str(role), flags["approval"],
                                                   flags["integrationTests"]))
    if problems:
        raise Invalid(allowed + "; " + "; ".join(problems))
    return tuple(targets)


def _account_string(allowed: str) -> Callable[[str], str]:
    """A 12-digit account id; a shorter run of digits most likely lost its leading 0 in YAML."""
    parse = string_value(ACCOUNT, allowed)

    def parse_account(raw: str) -> str:
        if raw.strip().isdigit() and len(raw.strip()) < 12:
            raise Invalid(f"{allowed} (an unquoted 012345678901 in a stack file is read as the number "
                           f"12345678901: quote an id that starts with 0)")
        return parse(raw)

    return parse_account


_instance_type = string_value(_SAGEMAKER_INSTANCE,
                              "a SageMaker instance type such as ml.m5.large (must start with 'ml.')")


def _packages(raw: str) -> tuple[tuple[str, str], ...]:
    """``catalogPackages``: ``{"<model_name>": "<versioned model package ARN>", ...}``, the package each
    catalog entry serves in this stack (promotion sets it for its run; the stack file pins one for the
    offline preview). Which names are catalog entries is checked with the catalog."""
    allowed = ('an object {"<model_name>": "<versioned model package ARN>", ...} '
               '(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)')
    value = json_value(raw, dict, allowed)
    problems = [f"{name!r}: {arn!r} is not a versioned model package ARN"
                for name, arn in value.items() if not isinstance(arn, str) or not _MODEL_PACKAGE_ARN.match(arn)]
    if problems:
        raise Invalid(f"{allowed}; " + "; ".join(problems[:10]))
    return tuple(sorted(value.items()))


KEYS: dict[str, Key] = {
    # identity and accounts
    "environment": Key(environment_name),
    "owner": Key(owner_name),
    "costCenter": Key(cost_center),
    "region": Key(region_name),
    "allowedAccountIds": Key(_list(string_value(ACCOUNT, "12-digit AWS account ids"), "12-digit AWS account ids", 1,
                                   number=_account_number, unique=True), is_list=True),
    "deployRoleArn": Key(string_value(_ROLE_ARN, "an IAM role ARN (arn:aws:iam::<account>:role/<name>) or empty"),
                         optional=True),
    "protect": Key(_boolean),
    "logRetentionDays": Key(_integer(1, choices=LOG_RETENTION_DAYS)),
    "notificationEmails": Key(_list(string_value(_EMAIL, "e-mail addresses"), "e-mail addresses", 1, unique=True),
                              is_list=True),
    # training
    "trainingInstanceType": Key(_instance_type),
    "trainingInstanceCount": Key(_integer(1, 20)),
    "trainingVolumeSizeGb": Key(_integer(1, 512)),
    "trainingMaxRuntimeSeconds": Key(_integer(60, 432000)),
    "trainingMaxDepth": Key(_integer(1, 64)),
    "trainingMinSamplesLeaf": Key(_integer(1, 1000)),
    "trainingCriterion": Key(one_of(CRITERIA)),
    "transformInstanceType": Key(_instance_type),
    "minAccuracy": Key(_number(0.0, 1.0)),
    # approval
    "approvalTimeoutSeconds": Key(_integer(300, 31536000)),
    # endpoint
    "endpointInstanceType": Key(_instance_type),
    "endpointInstanceCount": Key(_integer(1, 20)),
    "endpointMinCapacity": Key(_integer(1, 20)),
    "endpointMaxCapacity": Key(_integer(1, 40)),
    "endpointDataCapturePercent": Key(_integer(0, 100)),
    "endpointDeploymentStrategy": Key(one_of(DEPLOYMENT_STRATEGIES)),
    "modelDeployment": Key(one_of(MODEL_DEPLOYMENTS)),
    "modelPackageArn": Key(string_value(_MODEL_PACKAGE_ARN, "a versioned model package ARN "
                                        "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>) "
                                        "or empty"), optional=True),
    "registryAccountId": Key(_account_string("the 12-digit account id holding the model package group, "
                                             "or empty for this stack's account"), optional=True),
    "modelFeatureCount": Key(_integer(1, 10000)),
    # model monitoring
    "monitoringDataQuality": Key(_boolean),
    "monitoringSchedule": Key(string_value(MONITORING_CRON, MONITORING_CRON_ALLOWED)),
    "monitoringInstanceType": Key(_instance_type),
    "monitoringInstanceCount": Key(_integer(1, 100)),
    "monitoringVolumeSizeGb": Key(_integer(1, 16384)),
    "monitoringMaxRuntimeSeconds": Key(_integer(60, 86400)),
    "monitoringDriftThreshold": Key(_number(0.0, 1.0)),
    # inference API
    "inferenceAuth": Key(one_of(INFERENCE_AUTH_MODES)),
    "inferenceThrottleRateLimit": Key(_integer(1, 10000)),
    "inferenceThrottleBurstLimit": Key(_integer(1, 5000)),
    # model promotion (runs in the stack that owns the model registry)
    "registryEnvironment": Key(environment_name),
    "training": Key(one_of(TRAINING_MODES)),
    "accountResources": Key(_boolean),
    "endpointTesterRole": Key(_boolean),
    "promotionTargets": Key(_targets),
    "promotionBranch": Key(string_value(_BRANCH, "a git branch name such as main")),
    "promotionPulumiBackendUrl": Key(string_value(_BACKEND_URL, "a Pulumi backend URL: https://api.pulumi.com, "
                                                  "s3://<bucket>[/<path>], azblob://... or gs://...")),
    "promotionPulumiTokenSecretArn": Key(string_value(_SECRET_ARN, "a Secrets Manager secret ARN (arn:aws:"
                                                      "secretsmanager:<region>:<account>:secret:<name>) or empty"),
                                         optional=True),
    # source of the training pipeline
    "sourceProvider": Key(one_of(SOURCE_PROVIDERS)),
    "sourceRepository": Key(string_value(_REPOSITORY, "a repository name such as my-org/my-repo"), optional=True),
    "sourceBranch": Key(string_value(_BRANCH, "a git branch name such as main")),
    "sourceConnectionArn": Key(string_value(_CONNECTION_ARN, "a CodeStar connection ARN "
                                            "(arn:aws:codestar-connections:<region>:<account>:connection/<uuid>)"),
                               optional=True),
    "sourceBucket": Key(string_value(_BUCKET, "an S3 bucket name"), optional=True),
    "sourceObjectKey": Key(string_value(None, "an S3 object key such as sources/model.zip"), optional=True),
    # model catalog
    "catalogPackages": Key(_packages),
    "catalogFile": Key(string_value(_CATALOG_FILE, "the path of the model catalog, a .json file, relative to the "
                                                   "project directory (letters, digits and _ . / -)")),
}


@dataclass(frozen=True)
class EndpointSettings:
    spec: EndpointSpec
    """Size, autoscaling, data capture and update strategy, handed to ``ModelEndpoint`` whole."""
    managed_by: str
    """``workflow`` or ``promotion``: who deploys models to this stack's endpoint."""
    model_package_arn: str | None = None
    """The pinned model package (promotion passes it with ``--config``); None: newest Approved."""
    registry_account_id: str | None = None
    """Account holding the model package group; None: this stack's account."""
    feature_count: int = 4
    """Numeric features per record the model expects (the inference proxy checks it)."""
    tester_role: bool = False
    """Create the role the registry's integration tests assume to invoke this endpoint."""


@dataclass(frozen=True)
class MonitoringSettings:
    data_quality: bool
    """A data quality schedule on the endpoint this stack deploys (``monitoringDataQuality``)."""
    spec: MonitorSpec

    @property
    def enabled(self) -> bool:
        return self.data_quality


@dataclass(frozen=True)
class InferenceSettings:
    auth: str
    """``iam`` (SigV4) or ``api-key`` (API key + usage plan)."""
    throttle_rate_limit: int
    throttle_burst_limit: int


@dataclass(frozen=True)
class PromotionTargetSettings:
    environment: str
    deploy_role_arn: str
    """The target stack's deployRoleArn: the promotion's deploy build assumes it."""
    approval: bool = False
    """A manual approval precedes the deployment to this environment."""
    integration_tests: bool = False
    """The integration tests run against this environment's endpoint after its deployment."""


@dataclass(frozen=True)
class PromotionSettings:
    targets: tuple[PromotionTargetSettings, ...]
    """Where an Approved package travels, in order (``promotionTargets``)."""
    branch: str
    pulumi_backend_url: str
    pulumi_token_secret_arn: str | None

    @property
    def enabled(self) -> bool:
        """Promotion runs in the registry stack when it has at least one target."""
        return bool(self.targets)


@dataclass(frozen=True)
class Settings:
    project: str
    stack: str
    environment: str
    owner: str
    cost_center: str
    region: str
    allowed_account_ids: tuple[str, ...]
    deploy_role_arn: str | None
    protect: bool
    log_retention_days: int
    notification_emails: tuple[str, ...]
    approval_timeout_seconds: int
    training: TrainingSpec
    endpoint: EndpointSettings
    source: PipelineSource
    inference: InferenceSettings
    monitoring: MonitoringSettings
    registry_environment: str
    """The environment whose stack owns the model registry, trains and runs the promotion."""
    promotion: PromotionSettings
    training_mode: str = "auto"
    """``auto`` (train where this is the registry environment), ``on`` or ``off``."""
    account_resources: bool = True
    """This stack creates what exists once per account and region (API Gateway's CloudWatch logging
    role and setting); exactly one stack per account should."""
    catalog_file: str = DEFAULT_CATALOG_FILE
    """``catalogFile``: the model catalog, relative to the project directory."""
    catalog: StackCatalog = field(default_factory=StackCatalog)
    """The validated model catalog (``load_settings`` reads it; ``from_raw`` leaves it empty)."""
    catalog_packages: tuple[tuple[str, str], ...] = ()
    """``catalogPackages``: (model_name, package ARN) pairs pinning what catalog entries serve here."""

    @property
    def is_registry(self) -> bool:
        return self.environment == self.registry_environment

    @property
    def trains(self) -> bool:
        """The stack has the training pipeline, the training workflow and the approval API."""
        return _trains(self.training_mode, self.environment, self.registry_environment)

    @property
    def account_id(self) -> str:
        """The account this stack deploys into (the first allowed account)."""
        return self.allowed_account_ids[0]

    @property
    def tags(self) -> dict[str, str]:
        """The tags every resource carries, through the provider's ``default_tags``."""
        return resource_tags(environment=self.environment, project=self.project, owner=self.owner,
                             cost_center=self.cost_center)

    @classmethod
    def from_raw(cls, raw: Mapping[str, str | None], *, stack: str, project: str = PROJECT,
                 provider_keys: Iterable[str] = ()) -> Settings:
        """Parse and validate raw config strings (``{"environment": "dev", ...}``, no namespace).
        ``provider_keys``: the keys set in the AWS provider's namespace (``region`` for ``aws:region``)."""
        values, problems = parse_keys(raw, KEYS, project)
        unknown = sorted(set(raw) - set(KEYS))
        problems.extend(f"{project}:{key} is not a known setting (known: see Pulumi.yaml)" for key in unknown)
        problems.extend(_provider_key_problem(key, project) for key in sorted(set(provider_keys)))
        if not problems:
            problems.extend(_cross_checks(values, project))
        if problems:
            raise SettingsError(problems)
        return cls(
            project=project,
            stack=stack,
            environment=values["environment"],
            owner=values["owner"],
            cost_center=values["costCenter"],
            region=values["region"],
            allowed_account_ids=values["allowedAccountIds"],
            deploy_role_arn=values["deployRoleArn"],
            protect=values["protect"],
            log_retention_days=values["logRetentionDays"],
            notification_emails=values["notificationEmails"],
            approval_timeout_seconds=values["approvalTimeoutSeconds"],
            training=TrainingSpec(
                instance_type=values["trainingInstanceType"],
                instance_count=values["trainingInstanceCount"],
                volume_size_gb=values["trainingVolumeSizeGb"],
                max_runtime_seconds=values["trainingMaxRuntimeSeconds"],
                transform_instance_type=values["transformInstanceType"],
                min_accuracy=values["minAccuracy"],
                hyperparameters={
                    "max_depth": str(values["trainingMaxDepth"]),
                    "min_samples_leaf": str(values["trainingMinSamplesLeaf"]),
                    "criterion": values["trainingCriterion"],
                },
            ),
            endpoint=EndpointSettings(
                spec=EndpointSpec(
                    instance_type=values["endpointInstanceType"],
                    instance_count=values["endpointInstanceCount"],
                    min_capacity=values["endpointMinCapacity"],
                    max_capacity=values["endpointMaxCapacity"],
                    data_capture_percent=values["endpointDataCapturePercent"],
                    deployment_strategy=values["endpointDeploymentStrategy"],
                ),
                managed_by=values["modelDeployment"],
                model_package_arn=values["modelPackageArn"],
                registry_account_id=values["registryAccountId"],
                feature_count=values["modelFeatureCount"],
                tester_role=values["endpointTesterRole"],
            ),
            source=PipelineSource(
                provider=values["sourceProvider"],
                repository=values["sourceRepository"],
                branch=values["sourceBranch"],
                connection_arn=values["sourceConnectionArn"],
                bucket=values["sourceBucket"],
                object_key=values["sourceObjectKey"],
            ),
            inference=InferenceSettings(
                auth=values["inferenceAuth"],
                throttle_rate_limit=values["inferenceThrottleRateLimit"],
                throttle_burst_limit=values["inferenceThrottleBurstLimit"],
            ),
            monitoring=MonitoringSettings(
                data_quality=values["monitoringDataQuality"],
                spec=MonitorSpec(
                    schedule=values["monitoringSchedule"],
                    instance_type=values["monitoringInstanceType"],
                    instance_count=values["monitoringInstanceCount"],
                    volume_size_gb=values["monitoringVolumeSizeGb"],
                    max_runtime_seconds=values["monitoringMaxRuntimeSeconds"],
                    drift_threshold=values["monitoringDriftThreshold"],
                ),
            ),
            registry_environment=values["registryEnvironment"],
            training_mode=values["training"],
            account_resources=values["accountResources"],
            catalog_file=values["catalogFile"],
            catalog_packages=values["catalogPackages"],
            promotion=PromotionSettings(
                targets=values["promotionTargets"],
                branch=values["promotionBranch"],
                pulumi_backend_url=values["promotionPulumiBackendUrl"],
                pulumi_token_secret_arn=values["promotionPulumiTokenSecretArn"],
            ),
        )


# The ``aws:`` keys configure Pulumi's default AWS provider, which this program never uses: every resource
# gets the stack's explicit provider (program/provider.py), built from mlops:* keys and the environment.
# Set in a stack file or an ESC environment's pulumiConfig, they would be ignored without a word.
_PROVIDER_KEYS_INSTEAD = {
    "region": "set mlops:region instead (`pulumi config set region <region>`)",
    "profile": "export AWS_PROFILE=<profile> where pulumi runs instead (the stack's provider takes its "
               "credentials from the environment); for another account, set mlops:deployRoleArn",
    "allowedAccountIds": "set mlops:allowedAccountIds instead",
    "assumeRole": "set mlops:deployRoleArn instead",
    "assumeRoles": "set mlops:deployRoleArn instead",
    "defaultTags": "the stack's tags come from mlops:environment, mlops:owner and mlops:costCenter",
    "accessKey": "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) where pulumi runs instead",
    "secretKey": "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) where pulumi runs instead",
    "token": "export AWS_SESSION_TOKEN where pulumi runs instead",
    "sharedCredentialsFiles": "export AWS_SHARED_CREDENTIALS_FILE where pulumi runs instead",
}


def _provider_key_problem(key: str, project: str) -> str:
    instead = _PROVIDER_KEYS_INSTEAD.get(key, "remove it")
    return (f"aws:{key} is set, but it configures Pulumi's default AWS provider, which this program does not use "
            f"(every resource uses the stack's own provider, built from {project}:* settings): {instead}; then "
            f"remove aws:{key} from the stack (`pulumi config rm aws:{key}`) or from its ESC environment")


def _cross_checks(v: Mapping[str, Any], project: str) -> list[str]:
    """Rules that relate several keys; run only once every key parsed on its own."""
    problems = []
    if v["endpointMinCapacity"] > v["endpointMaxCapacity"]:
        problems.append(f"{project}:endpointMinCapacity = {v['endpointMinCapacity']} is invalid: expected at most "
                        f"endpointMaxCapacity ({v['endpointMaxCapacity']})")
    if not v["endpointMinCapacity"] <= v["endpointInstanceCount"] <= v["endpointMaxCapacity"]:
        problems.append(f"{project}:endpointInstanceCount = {v['endpointInstanceCount']} is invalid: expected a count "
                        f"between endpointMinCapacity ({v['endpointMinCapacity']}) and endpointMaxCapacity "
                        f"({v['endpointMaxCapacity']})")
    if v["endpointTesterRole"] and v["modelDeployment"] != "promotion":
        problems.append(f"{project}:endpointTesterRole = true is invalid with modelDeployment = "
                        f"{v['modelDeployment']!r}: only endpoints deployed by promotion are integration-tested")
    if v["endpointDeploymentStrategy"] != "all-at-once" and v["endpointInstanceCount"] < 2:
        problems.append(f"{project}:endpointDeploymentStrategy = {v['endpointDeploymentStrategy']!r} is invalid "
                        f"with endpointInstanceCount = {v['endpointInstanceCount']}: canary and linear traffic "
                        f"shifting need at least 2 instances; use all-at-once or raise the count")
    problems.extend(_endpoint_and_promotion_checks(v, project))
    problems.extend(_monitoring_checks(v, project))
    trains = _trains(v["training"], v["environment"], v["registryEnvironment"])
    role = (f"training = {v['training']!r}" + (f" in environment {v['environment']!r} (registryEnvironment = "
                                               f"{v['registryEnvironment']!r})" if v["training"] == "auto" else ""))
    if not trains and v["modelDeployment"] == "workflow":
        problems.append(f"{project}:modelDeployment = 'workflow' is invalid with {role}: the stack does not train, "
                        f"so no workflow deploys its endpoint; use modelDeployment = 'promotion' or training = 'on'")
    if not trains and v["promotionTargets"]:
        problems.append(f"{project}:promotionTargets is invalid with {role}: the promotion starts from the model "
                        f"package group of the stack's training workflow; set training = 'on' or 'auto'")
    if trains or v["promotionTargets"]:
        problems.extend(_source_checks(v, project))
    return problems


def _monitoring_checks(v: Mapping[str, Any], project: str) -> list[str]:
    """A monitor needs captured data of an endpoint this stack deploys, and a runtime within its interval."""
    problems = []
    interval = monitoring_interval_seconds(v["monitoringSchedule"])
    if v["monitoringMaxRuntimeSeconds"] > interval:
        problems.append(f"{project}:monitoringMaxRuntimeSeconds = {v['monitoringMaxRuntimeSeconds']} is invalid with "
                        f"monitoringSchedule = {v['monitoringSchedule']!r}: SageMaker allows at most the schedule's "
                        f"interval ({interval} seconds); lower it or run the monitor less often")
    if not v["monitoringDataQuality"]:
        return problems
    if v["modelDeployment"] != "promotion":
        problems.append(f"{project}:monitoringDataQuality = true is invalid with modelDeployment = "
                        f"{v['modelDeployment']!r}: the monitor reads the captured data of the endpoint this stack "
                        f"deploys, and the training workflow's endpoint captures none; monitor the stacks deployed by "
                        f"promotion (modelDeployment = 'promotion') or set monitoringDataQuality false "
                        f"(`pulumi config set monitoringDataQuality false`)")
    elif v["endpointDataCapturePercent"] == 0:
        problems.append(f"{project}:monitoringDataQuality = true is invalid with endpointDataCapturePercent = 0: the "
                        f"endpoint captures no requests, so every monitoring execution would fail with no data to "
                        f"analyse; capture a share of the requests (`pulumi config set endpointDataCapturePercent 20`, "
                        f"1-100) or set monitoringDataQuality false")
    return problems


def _trains(mode: str, environment: str, registry_environment: str) -> bool:
    return mode == "on" or (mode == "auto" and environment == registry_environment)


def _source_checks(v: Mapping[str, Any], project: str) -> list[str]:
    """The pipeline source: only stacks that train or promote read it."""
    problems = []
    provider = v["sourceProvider"]
    required = {"codestar": ("sourceRepository", "sourceConnectionArn"),
                "codecommit": ("sourceRepository",),
                "s3": ("sourceBucket", "sourceObjectKey")}[provider]
    for key in required:
        if v[key] is None:
            problems.append(f"{project}:{key} is missing: it is required when sourceProvider is {provider!r}")
    repository = v["sourceRepository"] or ""
    if provider == "codestar" and repository and repository.count("/") != 1:
        problems.append(f"{project}:sourceRepository = {repository!r} is invalid: expected owner/name (the full "
                        "repository id of the CodeStar connection's provider) when sourceProvider is 'codestar'")
    if provider == "codecommit" and "/" in repository:
        problems.append(f"{project}:sourceRepository = {repository!r} is invalid: expected a CodeCommit repository "
                        "name without '/' when sourceProvider is 'codecommit'")
    key = v["sourceObjectKey"]
    if provider == "s3" and key is not None and (key.startswith("/") or not key.endswith(".zip")):
        problems.append(f"{project}:sourceObjectKey = {key!r} is invalid: expected the key of a .zip "
                        "object without a leading '/', e.g. sources/model.zip")
    return problems


def _endpoint_and_promotion_checks(v: Mapping[str, Any], project: str) -> list[str]:
    """Model source, registry account and promotion roles must agree with who deploys the endpoint."""
    problems = []
    registry = v["registryAccountId"] or v["allowedAccountIds"][0]
    package = v["modelPackageArn"]
    if package is not None:
        package_account = account_of(package)  # the value already matched _MODEL_PACKAGE_ARN
        if v["modelDeployment"] != "promotion":
            problems.append(f"{project}:modelPackageArn = {package!r} is invalid with modelDeployment = "
                            f"{v['modelDeployment']!r}: the training workflow chooses this stack's model; "
                            f"pin a package only in stacks with modelDeployment = 'promotion'")
        elif package_account != registry:
            problems.append(f"{project}:modelPackageArn = {package!r} is invalid: the package is in account "
                            f"{package_account} but the model registry is in account {registry} "
                            f"(registryAccountId, empty means this stack's account)")
    targets = v["promotionTargets"]
    if targets:
        if v["environment"] != v["registryEnvironment"]:
            problems.append(f"{project}:promotionTargets is invalid in environment {v['environment']!r}: promotion "
                            f"runs in the stack that owns the model registry (registryEnvironment = "
                            f"{v['registryEnvironment']!r}); remove promotionTargets here")
        elif v["modelDeployment"] != "workflow":
            problems.append(f"{project}:promotionTargets is invalid with modelDeployment = {v['modelDeployment']!r}: "
                            f"the registry stack's own endpoint is deployed by its training workflow "
                            f"(modelDeployment = 'workflow')")
        if v["endpointTesterRole"]:
            problems.append(f"{project}:endpointTesterRole = true is invalid in the registry stack: its endpoint "
                            f"belongs to the training workflow, which smoke-tests it itself")
        for target in targets:
            if target.environment == v["environment"]:
                problems.append(f"{project}:promotionTargets lists this stack's own environment "
                                f"{target.environment!r}: list the environments the package travels to")
    return problems


def load_settings() -> Settings:
    """Read every declared key from the stack's config and validate it, then the model catalog; raises
    SettingsError with the problems of both (catalog lines start with the catalog file's name)."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env

    config = pulumi.Config(PROJECT)
    raw = {key: config.get(key) for key in KEYS}
    # Keys set in the stack file but never read are typos (``trainingInstanceTyp``): report them too.
    namespace = f"{PROJECT}:"
    provider_keys = []
    for full_key in {*CONFIG.get(), *get_config_env()}:
        if full_key.startswith(namespace) and full_key[len(namespace):] not in KEYS:
            raw[full_key[len(namespace):]] = str(pulumi.runtime.get_config(full_key))
        elif full_key.startswith("aws:"):
            provider_keys.append(full_key[len("aws:"):])
    problems: list[str] = []
    settings = None
    try:
        settings = Settings.from_raw(raw, stack=pulumi.get_stack(), project=PROJECT, provider_keys=provider_keys)
    except SettingsError as error:
        problems.extend(error.problems)
    catalog_file = settings.catalog_file if settings else raw.get("catalogFile") or DEFAULT_CATALOG_FILE
    if settings is not None or _CATALOG_FILE.match(catalog_file):
        try:
            store, stored = _catalog_store(settings)
            catalog = load_stack_catalog(catalog_file, environment=settings.environment if settings else None,
                                         region=settings.region if settings else None, stored=stored, store=store)
        except CatalogError as error:
            problems.extend(error.problems)
    if settings is not None and not problems:
        problems.extend(_catalog_package_checks(settings, catalog, PROJECT))
    if problems or settings is None:
        raise SettingsError(problems)
    return replace(settings, catalog=catalog)


def _catalog_store(settings: Settings | None) -> tuple[str, dict[str, bytes]]:
    """The catalog store's records (the registry stack's bucket, ``program.catalog.catalog_store_objects``);
    none while the settings are invalid (the registry's names are unknown)."""
    if settings is None:
        return "catalog store", {}
    from program.topology import registry_names  # imports this module

    return catalog_store_objects(registry_names(settings).bucket, CATALOG_STORE_PREFIX, settings.region)


def _catalog_package_checks(settings: Settings, catalog: StackCatalog, project: str) -> list[str]:
    """``catalogPackages`` pins only model entries that reach this stack, with packages of the registry."""
    problems = []
    reaching = {e.model_name for e in catalog.catalog.models if e.reaches(settings.environment)}
    registry = settings.endpoint.registry_account_id or settings.account_id
    for model_name, arn in settings.catalog_packages:
        if model_name not in reaching:
            problems.append(f"{project}:catalogPackages.{model_name} is invalid: {catalog.file} has no model entry "
                            f"{model_name!r} reaching environment {settings.environment!r} (entries here: "
                            f"{', '.join(sorted(reaching)) or 'none'})")
        elif account_of(arn) != registry:
            problems.append(f"{project}:catalogPackages.{model_name} = {arn!r} is invalid: the package is in account "
                            f"{account_of(arn)} but the model registry is in account {registry}")
    return problems
