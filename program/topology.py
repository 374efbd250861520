"""Which stack plays which part: who owns the model registry, who reads it, who tests whom.

Pure functions of the settings; the composition asks them, the components receive their answers.
"""

from __future__ import annotations

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
