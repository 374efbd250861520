"""Which stack plays which part: who owns the model registry, who reads it, who tests whom.

Pure functions of the settings; the composition asks them, the components receive their answers.
"""

from __future__ import annotations

from components.names import Names, account_of
from program.settings import Settings

# The stack whose training workflow registers models (its names name the group and the bucket).
REGISTRY_ENVIRONMENT = "dev"


def stack_names(settings: Settings) -> Names:
    return Names(project=settings.project, environment=settings.environment, account=settings.account_id,
                 region=settings.region)


def registry_names(settings: Settings) -> Names:
    """The model registry's stack: ``REGISTRY_ENVIRONMENT`` in ``registryAccountId`` (default: ours)."""
    return stack_names(settings).of(REGISTRY_ENVIRONMENT, settings.endpoint.registry_account_id)


def model_reader_role_arns(settings: Settings) -> tuple[str, ...]:
    """Execution roles of the promoted endpoints that live in other accounts than the registry.

    The registry stack grants exactly these roles read access to model artifacts (bucket and key) and
    to the model image (ECR): cross-account access needs both the reader's identity policy (set by
    ``ModelEndpoint``) and the owner's resource policies (set here). Empty unless this stack owns the
    registry and promotion targets another account.
    """
    if settings.environment != REGISTRY_ENVIRONMENT:
        return ()
    names = stack_names(settings)
    readers = []
    for environment, deploy_role in (("staging", settings.promotion.staging_role_arn),
                                     ("prod", settings.promotion.prod_role_arn)):
        account = account_of(deploy_role) if deploy_role else None
        if account and account != settings.account_id:
            readers.append(names.of(environment, account).endpoint_model_role_arn)
    return tuple(readers)
