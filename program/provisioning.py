"""The provisioning API's composition: in the registry stack, where the promotion deploys from.

The API needs what the program knows of the topology (environments, their regions and accounts) and the
committed catalog file's pipelines; the deploy needs the repository, the Pulumi backend and the stack's
deploy role, which the promotion's settings already give. Other stacks have no provisioning API.
"""

from __future__ import annotations

from typing import Any

from catalog.validate import pipeline_id
from components.context import StackContext
from components.provisioning_api import ProvisioningApi, ProvisioningApiArgs
from components.provisioning_deploy import ProvisioningDeploy, ProvisioningDeployArgs
from program.catalog import topology_environments
from program.settings import Settings
from program.topology import promotion_targets


def provisions(settings: Settings) -> bool:
    """The registry stack with a promotion (the repository, the Pulumi backend) and a deploy role."""
    return settings.is_registry and settings.promotion.enabled and settings.deploy_role_arn is not None


def build_provisioning(ctx: StackContext, settings: Settings) -> dict[str, Any]:
    """The API and its queued deploy; returns the stack outputs they add (none outside the registry)."""
    if not provisions(settings):
        return {}
    assert settings.deploy_role_arn is not None
    names, p = ctx.names, settings.promotion
    deploy = ProvisioningDeploy(
        f"{names.prefix}-provisioning-deploy",
        ProvisioningDeployArgs(ctx, deploy_role_arn=settings.deploy_role_arn, source=settings.source, branch=p.branch,
                               pulumi_backend_url=p.pulumi_backend_url, pulumi_token_secret_arn=p.pulumi_token_secret_arn),
        opts=ctx.opts)
    targets = {t.environment: t.names for t in promotion_targets(settings)}
    known = {settings.environment: names, **targets}
    api = ProvisioningApi(
        f"{names.prefix}-provisioning",
        ProvisioningApiArgs(
            ctx, pipeline_name=deploy.pipeline_name, pipeline_arn=deploy.pipeline_arn,
            environments=topology_environments(current=settings.environment),
            regions={env: n.region for env, n in known.items()},
            accounts={env: n.account for env, n in known.items()},
            file_pipelines=tuple(pipeline_id(e) for e in settings.catalog.catalog.entries if not e.source)),
        opts=ctx.opts)
    return {"provisioningUrl": api.url, "provisioningInvokePolicyArn": api.invoke_policy_arn,
            "provisioningPipelineName": deploy.pipeline_name}
