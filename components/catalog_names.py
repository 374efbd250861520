"""The names of the model catalog's resources (``mlops-config.json`` entries), a part of ``Names``.

``Names`` (components/names.py) inherits them: callers write ``names.catalog_endpoint(model)`` and import
from the names module, which re-exports the limits below. Kept apart only for size: every method builds on
``Names``' primitives (``prefix``, ``sagemaker_arn``, ``role_arn``, ...).
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

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


class CatalogNames:
    """Names of catalog entries' resources; mixed into ``Names``."""

    if TYPE_CHECKING:
        @property
        def prefix(self) -> str: ...

        def sagemaker_arn(self, resource: str) -> str: ...
        def role_arn(self, role_name: str) -> str: ...
        def ecr_repository_url(self, repository: str) -> str: ...
        def state_machine_arn_of(self, state_machine: str) -> str: ...

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
        """The entry's transform jobs and no other's (``run_job_arn_pattern``)."""
        return self.run_job_arn_pattern("transform-job", self.catalog_batch_job_prefix(model_name))

    def run_job_arn_pattern(self, job_type: str, prefix: str) -> str:
        """The jobs named ``<prefix>-<run id>`` (32 hex digits) and no other's: ``?`` matches one character, so
        the pattern covers exactly ``<prefix>-`` plus a run id, never the jobs of an entry whose prefix merely
        starts alike. Lower case: SageMaker writes its ARNs so, and IAM compares them as written."""
        return self.sagemaker_arn(f"{job_type}/{prefix}-{'?' * BATCH_RUN_ID_LENGTH}".lower())

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
    # --- model catalog: baselines of uploaded models (``baseline_data``) ---------------------------------

    def catalog_baseline_job_prefix(self, model_name: str) -> str:
        """Every baseline job of the entry is ``<prefix>-<32 hex digits>`` (63 at most)."""
        return self.catalog_name(model_name, "baseline", limit=BATCH_JOB_PREFIX_MAX)

    def catalog_baseline_job_arn_pattern(self, model_name: str) -> str:
        return self.run_job_arn_pattern("processing-job", self.catalog_baseline_job_prefix(model_name))

    def catalog_baseline_role(self, model_name: str) -> str:
        """The role the entry's baseline jobs run as: reads its baseline_data, writes its baseline folder."""
        return self.catalog_name(model_name, "baseline", limit=IAM_ROLE_NAME_MAX)

    def catalog_baseline_role_arn(self, model_name: str) -> str:
        return self.role_arn(self.catalog_baseline_role(model_name))

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
