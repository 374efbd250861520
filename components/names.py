"""Every physical name and ARN that crosses a component or a stack boundary, in one place.

A stack's names follow from four primitives: the project, the environment, the account and the region
(``Names``). One stack reaches another's resources (the registry's bucket and model package group, a
target's endpoint and tester role) through ``names.of(environment, account)``, never by rebuilding the
string itself, so the two sides cannot drift apart. ARNs are built by ``Names.arn`` and taken apart by
``account_of``; nothing else in the program formats or splits an ARN.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from catalog.validate import ECR_IMAGE_URI
from components.catalog_names import (  # noqa: F401  (re-exported: the names module is where names come from)
    BATCH_JOB_PREFIX_MAX,
    BATCH_RUN_ID_LENGTH,
    CATALOG_INFIX,
    ECR_REPOSITORY_NAME_MAX,
    EVENT_RULE_NAME_MAX,
    IAM_ROLE_NAME_MAX,
    SAGEMAKER_NAME_MAX,
    STATE_MACHINE_NAME_MAX,
    CatalogNames,
    short_name,
)

PARTITION = "aws"

# Object prefixes of the stack bucket that more than one component reads or writes.
DATA_PREFIX = "data"
"""Training, validation and test data the workflow reads (``data/train``, ...)."""
TRAINING_DATA_PREFIX = f"{DATA_PREFIX}/train"
"""The training channel's default location (the workflow's ``trainingData`` default)."""
VALIDATION_DATA_PREFIX = f"{DATA_PREFIX}/validation"
"""The validation channel's default location (``validationData``)."""
TEST_DATA_PREFIX = f"{DATA_PREFIX}/test"
"""The held-out data the evaluation's batch transform scores by default (``testData``)."""
WORKFLOW_PREFIX = "workflow"
"""What the training workflow writes: models, evaluation output; promoted endpoints read models here."""
DATA_CAPTURE_PREFIX = "data-capture"
"""Where endpoints capture requests and responses, one folder per endpoint."""
BASELINE_FOLDER = "baselines"
BASELINE_PREFIX = f"{WORKFLOW_PREFIX}/{BASELINE_FOLDER}"
"""The training workflow's data quality baselines, one folder per run (``statistics.json``,
``constraints.json``); the registered package names them as its drift check baselines."""
CATALOG_BASELINE_PREFIX = f"{BASELINE_PREFIX}/{CATALOG_INFIX}"
"""Uploaded catalog models' baselines (``baseline_data``): one folder per entry (``catalog_baseline_folder``),
one below it per uploaded version; inside the training workflow's prefix, so whoever reads the packages'
baselines reads both."""
MONITORING_PREFIX = "monitoring"
"""What the endpoints' monitors write: one folder per endpoint, one below it per monitor type."""
MONITORING_CONFIG_PREFIX = "monitoring-config"
"""What the program writes for the monitors (Clarify's analysis configurations), one folder per endpoint and
monitor type: outside ``MONITORING_PREFIX``, so no monitor role, which writes there, can change it."""
CATALOG_STORE_PREFIX = "catalog/pipelines"
"""The catalog store in the registry stack's bucket: one record per pipeline the provisioning API accepted
(``catalog/store.py``); the program reads it with the catalog file."""
CATALOG_DEPLOYS_PREFIX = "catalog/deploys"
"""What the provisioning deploy records after each ``pulumi up``: the stack's outputs (``<stack>.json``)."""


def account_of(arn: str) -> str:
    """The account id of an ARN (``arn:aws:iam::123456789012:role/x`` -> ``123456789012``)."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"{arn!r} is not an ARN")
    return parts[4]


def image_repository_arn(image_uri: str) -> str:
    """The ECR repository an image URI is pulled from (``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>``
    or ``...@sha256:<digest>`` -> ``arn:aws:ecr:<region>:<account>:repository/<repo>``): what a role needs
    ``ecr:BatchGetImage`` on. Raises ValueError for anything but an ECR image URI (the catalog's rule)."""
    match = ECR_IMAGE_URI.match(image_uri)
    if not match:
        raise ValueError(f"{image_uri!r} is not an ECR image URI (<account>.dkr.ecr.<region>.amazonaws.com/"
                         "<repository>:<tag> or @sha256:<digest>)")
    return f"arn:{PARTITION}:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"
def s3_uri_arn(uri: str) -> str:
    """The ARN of an ``s3://bucket/key`` URI (``arn:aws:s3:::bucket/key``); ValueError for anything else."""
    if not uri.startswith("s3://") or not uri[len("s3://"):].split("/", 1)[0]:
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return Names.s3_arn(bucket, key)


def function_role(function_name: str) -> str:
    """The execution role of a Lambda function (``PythonFunction``): ``<function>-fn``."""
    return f"{function_name}-fn"


def github_deploy_role(project: str) -> str:
    """The role GitHub's deploy workflow assumes in each account (``AWS_DEPLOY_ROLE_ARN``, ``bootstrap/``)."""
    return f"{project}-github-deploy"


def github_preview_role(project: str) -> str:
    """The role GitHub's pull-request preview assumes in each account (``AWS_PREVIEW_ROLE_ARN``, ``bootstrap/``)."""
    return f"{project}-github-preview"


def account_root(account: str) -> str:
    """The principal that stands for a whole account in resource and trust policies."""
    return f"arn:{PARTITION}:iam::{account}:root"


def account_roots(arns: Iterable[str]) -> list[str]:
    """The accounts of ``arns`` as principals, sorted and without repeats (a policy then narrows them
    to the exact roles with ``aws:PrincipalArn``)."""
    return sorted({account_root(account_of(arn)) for arn in arns})


@dataclass(frozen=True)
class MonitorNames:
    """One endpoint's monitors (``Names.endpoint_monitor``, ``Names.catalog_monitor``): one role for the data
    quality monitor, one per Clarify monitor (``role_of``), and per monitor type its job definition and schedule
    (``monitor``, 63 characters) and its EventBridge rules (``rule``, 64), each name starting with ``owner``
    joined by ``-``."""

    role: str
    owner: tuple[str, ...]

    def monitor(self, monitor_type: str) -> str:
        return short_name(*self.owner, monitor_type)

    def rule(self, monitor_type: str, outcome: str) -> str:
        return short_name(*self.owner, monitor_type, outcome, limit=EVENT_RULE_NAME_MAX)

    def role_of(self, monitor_type: str) -> str:
        """The role of one monitor type's executions (the Clarify monitors: bias, explainability)."""
        return short_name(*self.owner, monitor_type, "monitor", limit=IAM_ROLE_NAME_MAX)


@dataclass(frozen=True)
class Names(CatalogNames):
    """Physical names and ARNs of one stack (``mlops-dev`` in account 111111111111, eu-west-1)."""

    project: str
    environment: str
    account: str
    region: str

    def of(self, environment: str, account: str | None = None) -> Names:
        """The names of another stack of this project in this region (its account, if it differs)."""
        return replace(self, environment=environment, account=account or self.account)

    # --- generic -----------------------------------------------------------------------------------

    @property
    def prefix(self) -> str:
        """Prefix of every physical name of the stack: ``mlops-dev``."""
        return f"{self.project}-{self.environment}"

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        """``arn:aws:<service>:<region>:<account>:<resource>`` in this stack's region and account;
        ``region=False`` / ``account=False`` for services whose ARNs leave them empty (IAM, S3)."""
        return (f"arn:{PARTITION}:{service}:{self.region if region else ''}:"
                f"{self.account if account else ''}:{resource}")

    def role_arn(self, role_name: str) -> str:
        return self.arn("iam", f"role/{role_name}", region=False)

    def policy_arn(self, policy_name: str) -> str:
        return self.arn("iam", f"policy/{policy_name}", region=False)

    @property
    def account_root(self) -> str:
        return account_root(self.account)

    @staticmethod
    def s3_arn(bucket: str, key: str = "") -> str:
        """``arn:aws:s3:::bucket`` or ``arn:aws:s3:::bucket/key`` (S3 ARNs carry no region or account)."""
        return f"arn:{PARTITION}:s3:::{bucket}" + (f"/{key}" if key else "")

    def log_group_arn(self, log_group: str) -> str:
        """``arn:aws:logs:<region>:<account>:log-group:<name>`` (``*`` for every group)."""
        return self.arn("logs", f"log-group:{log_group}")

    def lambda_arn(self, function_name: str) -> str:
        return self.arn("lambda", f"function:{function_name}")

    def codebuild_project_arn(self, project_name: str) -> str:
        return self.arn("codebuild", f"project/{project_name}")

    def codecommit_arn(self, repository: str) -> str:
        return self.arn("codecommit", repository)

    def codepipeline_arn(self, pipeline_name: str) -> str:
        return self.arn("codepipeline", pipeline_name)

    def event_rule_arn(self, rule_name: str) -> str:
        """An EventBridge rule on the account's default event bus."""
        return self.arn("events", f"rule/{rule_name}")

    def ecr_repository_url(self, repository: str) -> str:
        """``<account>.dkr.ecr.<region>.amazonaws.com/<repository>``: what ECR returns as the repository's URL."""
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com/{repository}"

    def state_machine_arn_of(self, state_machine: str) -> str:
        return self.arn("states", f"stateMachine:{state_machine}")

    def sagemaker_arn(self, resource: str) -> str:
        """``arn:aws:sagemaker:<region>:<account>:<resource>`` (``training-job/...``, ``endpoint/...``), in lower
        case: SageMaker's ARNs name every resource in lower case whatever its name's case (an endpoint
        ``Credit-Model`` is ``endpoint/credit-model``), and IAM compares ARNs case-sensitively."""
        return self.arn("sagemaker", resource.lower())

    # --- shared pieces (Foundation, Notifications) --------------------------------------------------

    @property
    def bucket(self) -> str:
        """The stack's bucket: artifacts, data, models, data capture, each under its own prefix."""
        return f"{self.prefix}-{self.account}-{self.region}"

    @property
    def kms_alias(self) -> str:
        return f"alias/{self.prefix}"

    @property
    def topic(self) -> str:
        return f"{self.prefix}-notifications"

    # --- training ---------------------------------------------------------------------------------

    @property
    def image_repository(self) -> str:
        """ECR repository of the training and serving image."""
        return f"{self.prefix}-model"

    @property
    def training_image_repository_arn(self) -> str:
        """The ECR repository of the training and serving image (``image_repository``)."""
        return self.arn("ecr", f"repository/{self.image_repository}")

    @property
    def state_machine(self) -> str:
        return f"{self.prefix}-training"

    @property
    def state_machine_arn(self) -> str:
        """Known before the state machine exists, which breaks the workflow <-> approval API cycle."""
        return self.state_machine_arn_of(self.state_machine)

    @property
    def model_package_group(self) -> str:
        """The model package group the training workflow of this stack registers models in."""
        return f"{self.prefix}-models"

    @property
    def model_package_group_arn(self) -> str:
        return self.sagemaker_arn(f"model-package-group/{self.model_package_group}")

    # --- serving ----------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The stable SageMaker endpoint the inference API invokes (the same name on every update)."""
        return f"{self.prefix}-endpoint"

    @property
    def endpoint_arn(self) -> str:
        return self.sagemaker_arn(f"endpoint/{self.endpoint}")

    @property
    def endpoint_model_role(self) -> str:
        """Execution role of the endpoint's models; the registry stack lets it read models and images."""
        return f"{self.prefix}-endpoint-model"

    @property
    def endpoint_model_role_arn(self) -> str:
        return self.role_arn(self.endpoint_model_role)

    @property
    def endpoint_tester_role(self) -> str:
        """Role the promotion's integration tests assume to invoke this stack's endpoint."""
        return f"{self.prefix}-endpoint-tester"

    @property
    def endpoint_tester_role_arn(self) -> str:
        return self.role_arn(self.endpoint_tester_role)

    @property
    def inference_function(self) -> str:
        """The inference proxy Lambda (the training workflow smoke-tests the endpoint through it)."""
        return f"{self.prefix}-inference"

    # --- monitoring ---------------------------------------------------------------------------------

    @property
    def endpoint_monitor(self) -> MonitorNames:
        """The stack's own endpoint's monitors: ``<endpoint>-monitor`` (role), ``<endpoint>-data-quality``."""
        return MonitorNames(role=short_name(self.endpoint, "monitor", limit=IAM_ROLE_NAME_MAX), owner=(self.endpoint,))

    @property
    def clarify_endpoint_prefix(self) -> str:
        """Clarify's shadow endpoints and their configurations in this stack (``mlops-<env>-clarify-...``), on which
        explainability and bias baselines ask a served model (``components.clarify_config.ShadowModel``)."""
        return f"{self.prefix}-clarify"

    def catalog_monitor(self, model_name: str) -> MonitorNames:
        """A real-time catalog entry's monitors, by ``catalog_name`` whatever its endpoint_name: ``...-monitor`` (role)."""
        return MonitorNames(role=self.catalog_name(model_name, "monitor", limit=IAM_ROLE_NAME_MAX),
                            owner=(self.prefix, CATALOG_INFIX, model_name))

    @staticmethod
    def catalog_baseline_folder(model_name: str) -> str:
        """The key prefix of an uploaded entry's baselines in the registry bucket:
        ``workflow/baselines/byom/<model_name>``."""
        return f"{CATALOG_BASELINE_PREFIX}/{model_name}"

    def processing_job_console_url(self) -> str:
        """The SageMaker console's processing job page, without the job's name (append it)."""
        return (f"https://{self.region}.console.aws.amazon.com/sagemaker/home?region={self.region}"
                f"#/processing-jobs/")

    # --- promotion --------------------------------------------------------------------------------

    def promotion_deploy_role(self, target_environment: str) -> str:
        """Role of the registry stack's build that deploys ``target_environment``; that stack's deploy role
        (its ``deployRoleArn``) trusts it."""
        return f"{self.prefix}-promotion-deploy-{target_environment}"

    def promotion_deploy_role_arn(self, target_environment: str) -> str:
        return self.role_arn(self.promotion_deploy_role(target_environment))

    @property
    def provisioning_deploy_role(self) -> str:
        """Role of the provisioning API's deploy of this (the registry) stack; the stack's deploy role trusts it
        (``bootstrap/``), as it trusts the promotion's deploy of catalog packages to this stack."""
        return f"{self.prefix}-provisioning-deploy"

    @property
    def provisioning_deploy_role_arn(self) -> str:
        return self.role_arn(self.provisioning_deploy_role)

    @property
    def promotion_tests_role(self) -> str:
        """Role of the integration-test build in the registry stack; target testers trust it."""
        return f"{self.prefix}-promotion-tests"

    @property
    def promotion_tests_role_arn(self) -> str:
        return self.role_arn(self.promotion_tests_role)

    # --- provisioning API (the registry stack) ------------------------------------------------------

    @property
    def provisioning_function(self) -> str:
        """The provisioning API's Lambda (``lambdas/provisioning_api``)."""
        return f"{self.prefix}-provisioning-api"

    @property
    def provisioning_function_role_arn(self) -> str:
        """Its execution role: the one principal every stack's catalog status role trusts."""
        return self.role_arn(function_role(self.provisioning_function))

    @property
    def github_role_arns(self) -> tuple[str, ...]:
        """The GitHub workflows' roles in this stack's account (deploy, preview): both run the program."""
        return (self.role_arn(github_deploy_role(self.project)), self.role_arn(github_preview_role(self.project)))

    # --- catalog status (every stack; the registry's provisioning API reads it) ----------------------

    @property
    def catalog_status_parameter(self) -> str:
        """The SSM parameter where the stack publishes what its catalog entries run as (``CatalogStatus``)."""
        return f"/{self.prefix}/catalog-status"

    @property
    def catalog_status_parameter_arn(self) -> str:
        return self.arn("ssm", f"parameter{self.catalog_status_parameter}")

    @property
    def catalog_status_role(self) -> str:
        """The role the registry's provisioning API assumes to read this stack's catalog status."""
        return f"{self.prefix}-catalog-status"

    @property
    def catalog_status_role_arn(self) -> str:
        return self.role_arn(self.catalog_status_role)

    @property
    def provisioning_events_function(self) -> str:
        """Records the deploys' results in the catalog store (``lambdas/provisioning_events``)."""
        return f"{self.prefix}-provisioning-events"

    @property
    def provisioning_pipeline(self) -> str:
        """The queued pipeline that deploys the registry stack for the provisioning API."""
        return f"{self.prefix}-provisioning"

    @property
    def provisioning_pipeline_arn(self) -> str:
        return self.codepipeline_arn(self.provisioning_pipeline)

    @property
    def provisioning_deploy_project(self) -> str:
        return f"{self.prefix}-provisioning-deploy"
