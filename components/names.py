"""Every physical name and ARN that crosses a component or a stack boundary, in one place.

A stack's names follow from four primitives: the project, the environment, the account and the region
(``Names``). One stack reaches another's resources (the registry's bucket and model package group, a
target's endpoint and tester role) through ``names.of(environment, account)``, never by rebuilding the
string itself, so the two sides cannot drift apart. ARNs are built by ``Names.arn`` and taken apart by
``account_of``; nothing else in the program formats or splits an ARN.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from catalog.validate import ECR_IMAGE_URI

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
MONITORING_PREFIX = "monitoring"
"""What the endpoints' monitors write: one folder per endpoint, one below it per monitor type."""


SAGEMAKER_NAME_MAX = 63
"""SageMaker names (models, endpoints, groups, jobs): ``^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$``."""
IAM_ROLE_NAME_MAX = 64
"""IAM role names: at most 64 characters."""
STATE_MACHINE_NAME_MAX = 80
EVENT_RULE_NAME_MAX = 64
BATCH_RUN_ID_LENGTH = 32
"""A batch pipeline's run id: the MD5 hex digest of the execution ARN."""
BATCH_JOB_PREFIX_MAX = SAGEMAKER_NAME_MAX - 1 - BATCH_RUN_ID_LENGTH
ECR_REPOSITORY_NAME_MAX = 256
CATALOG_INFIX = "byom"
"""Every name of a catalog entry's resources carries it, so no ``model_name`` can collide with a name of
the trained model's resources (``mlops-dev-endpoint`` vs an entry named ``endpoint``)."""


def short_name(*parts: str, limit: int = SAGEMAKER_NAME_MAX) -> str:
    """``parts`` joined with ``-``; longer than ``limit``, cut and ended with 8 hex digits of a hash of the
    whole, so distinct long names stay distinct and every name stays within the service's limit."""
    name = "-".join(parts)
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:limit - 9].rstrip('-')}-{digest}"


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


def account_root(account: str) -> str:
    """The principal that stands for a whole account in resource and trust policies."""
    return f"arn:{PARTITION}:iam::{account}:root"


def account_roots(arns: Iterable[str]) -> list[str]:
    """The accounts of ``arns`` as principals, sorted and without repeats (a policy then narrows them
    to the exact roles with ``aws:PrincipalArn``)."""
    return sorted({account_root(account_of(arn)) for arn in arns})


@dataclass(frozen=True)
class MonitorNames:
    """One endpoint's monitors (``Names.endpoint_monitor``, ``Names.catalog_monitor``): one role for all, and per
    monitor type its job definition and schedule (``monitor``, 63 characters) and its EventBridge rules
    (``rule``, 64), each name starting with ``owner`` joined by ``-``."""

    role: str
    owner: tuple[str, ...]

    def monitor(self, monitor_type: str) -> str:
        return short_name(*self.owner, monitor_type)

    def rule(self, monitor_type: str, outcome: str) -> str:
        return short_name(*self.owner, monitor_type, outcome, limit=EVENT_RULE_NAME_MAX)


@dataclass(frozen=True)
class Names:
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
        """``arn:aws:sagemaker:<region>:<account>:<resource>`` (``training-job/...``, ``endpoint/...``)."""
        return self.arn("sagemaker", resource)

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

    def catalog_monitor(self, model_name: str) -> MonitorNames:
        """A real-time catalog entry's monitors, by ``catalog_name`` whatever its endpoint_name: ``...-monitor`` (role)."""
        return MonitorNames(role=self.catalog_name(model_name, "monitor", limit=IAM_ROLE_NAME_MAX),
                            owner=(self.prefix, CATALOG_INFIX, model_name))

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
    def promotion_tests_role(self) -> str:
        """Role of the integration-test build in the registry stack; target testers trust it."""
        return f"{self.prefix}-promotion-tests"

    @property
    def promotion_tests_role_arn(self) -> str:
        return self.role_arn(self.promotion_tests_role)

    # --- model catalog (mlops-config.json) -----------------------------------------------------------

    def catalog_name(self, model_name: str, kind: str, *, limit: int = SAGEMAKER_NAME_MAX) -> str:
        """A name of one catalog entry's resource: ``mlops-dev-byom-<model_name>-<kind>``, within ``limit``
        (63 for SageMaker, 64 for IAM roles, 80 for state machines)."""
        return short_name(self.prefix, CATALOG_INFIX, model_name, kind, limit=limit)

    def catalog_package_group(self, model_name: str) -> str:
        """The model package group of a catalog entry (in the registry stack): uploads of its
        ``model_artifact_location`` are registered here, approved, and promoted from here."""
        return self.catalog_name(model_name, "models")

    def catalog_package_group_arn(self, model_name: str) -> str:
        return self.sagemaker_arn(f"model-package-group/{self.catalog_package_group(model_name)}")

    def catalog_endpoint(self, model_name: str) -> str:
        """The default endpoint of a real-time catalog entry (its ``endpoint_name`` overrides it)."""
        return self.catalog_name(model_name, "endpoint")

    def within_prefix(self, name: str, *, limit: int = SAGEMAKER_NAME_MAX) -> str:
        """A name a catalog entry chooses (``ecr_repo_name``, ``endpoint_name``), inside the stack's names:
        as given when it starts with ``mlops-<env>-``, else with that prefix (``iris-tree`` ->
        ``mlops-dev-iris-tree``, within ``limit``), because the stack's deploy role creates only names under
        its prefix."""
        return name if name.startswith(f"{self.prefix}-") else short_name(self.prefix, name, limit=limit)

    def catalog_repository(self, ecr_repo_name: str) -> str:
        """The ECR repository an image builder entry pushes to: ``ecr_repo_name`` inside the registry stack's
        prefix (``within_prefix``)."""
        return self.within_prefix(ecr_repo_name, limit=ECR_REPOSITORY_NAME_MAX)

    def catalog_image_uri(self, repository: str, tag: str) -> str:
        """The image a ``byom_image_builder`` entry builds (``ecr_repo_name``, ``image_tag``), on the names of the
        registry stack that builds it: ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>``, exactly
        what a custom entry's ``custom_image_uri`` names to use it."""
        return f"{self.ecr_repository_url(self.catalog_repository(repository))}:{tag}"

    def catalog_image_name(self, repository: str, tag: str, kind: str, *, limit: int = IAM_ROLE_NAME_MAX) -> str:
        """A name of the resources that build one catalog image (project, roles, rules):
        ``mlops-dev-byom-<repository>-<tag>-<hash>-<kind>``. Characters CodeBuild, IAM and EventBridge names do
        not accept (``/``, ``.``, ``_``) become ``-``; the 8 hex digits of a hash of ``<repository>:<tag>`` keep
        names that read alike apart (``a.b:1`` and ``a-b:1``, ``a-b:c`` and ``a:b-c``)."""
        readable = re.sub(r"[^A-Za-z0-9]+", "-", f"{repository}-{tag}").strip("-")
        digest = hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()[:8]
        return short_name(self.prefix, CATALOG_INFIX, readable, digest, kind, limit=limit)
    # --- model catalog: batch pipelines ----------------------------------------------------------------

    def catalog_batch_state_machine(self, model_name: str) -> str:
        """The batch pipeline (Step Functions state machine) of a batch catalog entry."""
        return self.catalog_name(model_name, "batch", limit=STATE_MACHINE_NAME_MAX)

    def catalog_batch_job_prefix(self, model_name: str) -> str:
        """Every transform job of the entry's pipeline is ``<prefix>-<32 hex digits>`` (63 at most)."""
        return self.catalog_name(model_name, "batch", limit=BATCH_JOB_PREFIX_MAX)

    def catalog_batch_job_arn_pattern(self, model_name: str) -> str:
        """The entry's transform jobs and no other's: ``?`` matches one character, so the pattern covers
        exactly ``<prefix>-`` plus a run id, never the jobs of an entry whose prefix merely starts alike."""
        prefix = self.catalog_batch_job_prefix(model_name)
        return self.sagemaker_arn(f"transform-job/{prefix}-{'?' * BATCH_RUN_ID_LENGTH}".lower())

    def catalog_batch_model(self, model_name: str, model_package_arn: str) -> str:
        """The SageMaker model the entry's pipeline builds from ``model_package_arn``:
        ``...-v<version>-<8 hex digits of the ARN>``, so another package (even with the same version number
        in another group) is another model."""
        version = model_package_arn.rsplit("/", 1)[-1]
        digest = hashlib.sha256(model_package_arn.encode()).hexdigest()[:8]
        return self.catalog_name(model_name, f"v{version}-{digest}")

    def catalog_batch_model_arn(self, model_name: str, model_package_arn: str) -> str:
        """SageMaker writes its ARNs in lower case, and IAM compares them as written."""
        return self.sagemaker_arn(f"model/{self.catalog_batch_model(model_name, model_package_arn)}".lower())

    def catalog_batch_role(self, model_name: str, role: str) -> str:
        """A role of the entry's pipeline: ``model`` (SageMaker's execution role), ``sfn``, ``events``."""
        return self.catalog_name(model_name, f"batch-{role}", limit=IAM_ROLE_NAME_MAX)

    def catalog_batch_execution_role_arn(self, model_name: str) -> str:
        """The role the entry's model and transform jobs run as; the registry stack grants it the package's
        artifact and image when it lives in another account."""
        return self.role_arn(self.catalog_batch_role(model_name, "model"))

    def catalog_batch_rule(self, model_name: str, trigger: str) -> str:
        """The EventBridge rule that starts the entry's pipeline: ``upload`` or ``schedule``."""
        return self.catalog_name(model_name, f"batch-{trigger}", limit=EVENT_RULE_NAME_MAX)

    @property
    def batch_notify_function(self) -> str:
        """The Lambda function every batch pipeline of the stack notifies through."""
        return f"{self.prefix}-batch-notify"

    @property
    def training_image_repository_arn(self) -> str:
        """The ECR repository of the training and serving image (``image_repository``)."""
        return self.arn("ecr", f"repository/{self.image_repository}")

    @staticmethod
    def model_package_group_of(model_package_arn: str) -> str:
        """The group of a versioned package ARN (``...:model-package/<group>/<version>`` -> ``<group>``)."""
        return model_package_arn.rsplit(":", 1)[-1].split("/")[1]

    def catalog_endpoint_name(self, model_name: str, endpoint_name: str | None = None) -> str:
        """The endpoint of a real-time catalog entry: its ``endpoint_name`` where it starts with this stack's
        prefix, else that name prefixed (``iris-tree`` -> ``mlops-dev-iris-tree``, within 63 characters), since
        the stack's deploy role creates only names under its prefix; without one, ``catalog_endpoint``."""
        if not endpoint_name:
            return self.catalog_endpoint(model_name)
        return self.within_prefix(endpoint_name)

    def catalog_endpoint_model_role(self, model_name: str) -> str:
        """Execution role of a real-time catalog entry's model: reads only that entry's artifact and image."""
        return self.catalog_name(model_name, "endpoint-model", limit=IAM_ROLE_NAME_MAX)

    def catalog_endpoint_model_role_arn(self, model_name: str) -> str:
        return self.role_arn(self.catalog_endpoint_model_role(model_name))
    def catalog_upload_rule(self, model_name: str) -> str:
        """The EventBridge rule that starts the registration when the entry's model_artifact_location is
        uploaded (rule names: at most 64 characters)."""
        return self.catalog_name(model_name, "upload", limit=64)

    @property
    def catalog_registration_state_machine(self) -> str:
        """The registry stack's one state machine that registers uploaded models (every entry's rule starts it)."""
        return f"{self.prefix}-{CATALOG_INFIX}-registration"

    @property
    def catalog_registration_state_machine_arn(self) -> str:
        """Known before the state machine exists: the approval API resumes its approval tasks."""
        return self.state_machine_arn_of(self.catalog_registration_state_machine)
