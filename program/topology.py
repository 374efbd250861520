"""Which stack plays which part: who owns the model registry, who reads it, who tests whom.

Pure functions of the settings; the composition asks them, the components receive their answers.
"""

from __future__ import annotations

from catalog.entries import ModelEntry
from components.foundation import ArtifactGrant
from components.names import Names, account_of
from components.promotion_stages import PromotionTarget
from program.settings import PromotionTargetSettings, Settings


def stack_names(settings: Settings) -> Names:
    return Names(project=settings.project, environment=settings.environment, account=settings.account_id,
                 region=settings.region)


def registry_names(settings: Settings) -> Names:
    """The model registry's stack: ``registryEnvironment`` in ``registryAccountId`` (default: ours)."""
    return stack_names(settings).of(settings.registry_environment, settings.endpoint.registry_account_id)


def target_names(settings: Settings, target: PromotionTargetSettings) -> Names:
    """A promotion target's names: its environment, in the account of its deploy role."""
    return stack_names(settings).of(target.environment, account_of(target.deploy_role_arn))


def promotion_targets(settings: Settings) -> tuple[PromotionTarget, ...]:
    return tuple(PromotionTarget(t.environment, target_names(settings, t), t.deploy_role_arn, t.approval,
                                 t.integration_tests) for t in settings.promotion.targets)


def model_reader_role_arns(settings: Settings) -> tuple[str, ...]:
    """Execution roles of the promoted endpoints that live in other accounts than the registry.

    The registry stack grants exactly these roles read access to model artifacts (bucket and key) and
    to the model image (ECR): cross-account access needs both the reader's identity policy (set by
    ``ModelEndpoint``) and the owner's resource policies (set here). Empty unless this stack owns the
    registry and promotion targets another account.
    """
    if not settings.is_registry:
        return ()
    return tuple(target.names.endpoint_model_role_arn for target in promotion_targets(settings)
                 if target.names.account != settings.account_id)


def baseline_reader_role_arns(settings: Settings) -> tuple[str, ...]:
    """Monitor roles of the promoted endpoints in other accounts than the registry: the registry stack lets
    exactly these read the baselines (``workflow/baselines/``) its packages carry, and decrypt them through
    S3: the monitor role of each target's own endpoint and of each real-time catalog entry reaching that
    target. Every target's, whether its stack turns monitoring on or not (matched by ``aws:PrincipalArn``, a
    role that does not exist grants nothing)."""
    if not settings.is_registry:
        return ()
    readers = []
    for target in promotion_targets(settings):
        if target.names.account == settings.account_id:
            continue
        names = target.names
        monitors = [names.endpoint_monitor]
        monitors += [names.catalog_monitor(entry.model_name) for entry in settings.catalog.catalog.realtime
                     if entry.reaches(target.environment)]
        readers += [names.role_arn(m.role) for m in monitors]
    return tuple(readers)


def _catalog_model_role_arn(entry: ModelEntry, names: Names) -> str:
    """The role an entry's model runs as in the stack of ``names`` (endpoint model role or batch role)."""
    return (names.catalog_endpoint_model_role_arn(entry.model_name) if entry.realtime
            else names.catalog_batch_execution_role_arn(entry.model_name))


def _catalog_readers(settings: Settings) -> list[tuple[ModelEntry, str, str]]:
    """Each model entry, with each promotion target in another account that it reaches: the target's
    environment and the role the entry's model runs as there."""
    if not settings.is_registry:
        return []
    return [(entry, target.environment, _catalog_model_role_arn(entry, target.names))
            for target in promotion_targets(settings) if target.names.account != settings.account_id
            for entry in settings.catalog.catalog.models if entry.reaches(target.environment)]


def catalog_artifact_grants(settings: Settings) -> tuple[ArtifactGrant, ...]:
    """What the registry bucket lets other accounts' catalog roles read: each uploaded entry's own
    ``model_artifact_location`` (its value for each such environment, every version), to that entry's roles
    only."""
    grants: dict[str, tuple[list[str], list[str]]] = {}
    for entry, environment, role in _catalog_readers(settings):
        if entry.model_artifact_location is not None:
            keys, roles = grants.setdefault(entry.model_name, ([], []))
            key = entry.value_for("model_artifact_location", environment)
            keys.extend([key] if key not in keys else [])
            roles.append(role)
    return tuple(ArtifactGrant(tuple(keys), tuple(roles)) for keys, roles in grants.values())


def catalog_reader_role_arns(settings: Settings) -> tuple[str, ...]:
    """Other accounts' catalog roles: they pull images from the registry's repositories and decrypt through
    S3 and ECR (what they may read is limited by the bucket's and repositories' policies)."""
    return tuple(role for _, _, role in _catalog_readers(settings))


def package_reader_role_arns(settings: Settings) -> tuple[str, ...]:
    """Roles that read models under ``workflow/``: the promoted endpoints' and the catalog roles of entries
    serving a registered package (``model_package_name``)."""
    return model_reader_role_arns(settings) + tuple(
        role for entry, _, role in _catalog_readers(settings) if entry.model_package_name is not None)


def catalog_store_reader_role_arns(settings: Settings) -> tuple[str, ...]:
    """The GitHub workflows' roles (deploy and preview: both run the program, which reads the catalog store) of
    the other accounts the registry stack promotes to; the registry's own account grants its roles by IAM
    (``bootstrap/``). Matched by ``aws:PrincipalArn``: an account without GitHub roles gets nothing."""
    if not settings.is_registry:
        return ()
    names = stack_names(settings)
    accounts = sorted({t.names.account for t in promotion_targets(settings)} - {settings.account_id})
    return tuple(arn for account in accounts for arn in names.of(settings.environment, account).github_role_arns)
