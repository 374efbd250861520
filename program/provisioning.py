"""The provisioning API's composition: in the registry stack, where the promotion deploys from.

The API needs what the program knows of the topology (environments, their regions and accounts) and the
committed catalog file's pipelines; the deploy needs the repository, the Pulumi backend and the stack's
deploy role, which the promotion's settings already give. Other stacks have no provisioning API.

Every stack (the registry's too) publishes its catalog status (``CatalogStatus``): what its catalog entries
run as, and a role the registry's API assumes to read it live; the API may assume exactly the status roles
of the environments whose accounts the registry stack knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from catalog.validate import pipeline_id
from components.catalog_status import CatalogStatus, CatalogStatusArgs
from components.context import StackContext
from components.inference_api import InferenceApi
from components.provisioning_api import ProvisioningApi, ProvisioningApiArgs
from components.provisioning_deploy import ProvisioningDeploy, ProvisioningDeployArgs
from program.catalog import topology_environments
from program.catalog_batch import served_batch
from program.catalog_realtime import ServedEntry
from program.settings import Settings
from program.topology import promotion_targets, registry_names


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
            status_role_arns={env: n.catalog_status_role_arn for env, n in sorted(known.items())},
            file_pipelines=tuple(pipeline_id(e) for e in settings.catalog.catalog.entries if not e.source)),
        opts=ctx.opts)
    return {"provisioningUrl": api.url, "provisioningInvokePolicyArn": api.invoke_policy_arn,
            "provisioningPipelineName": deploy.pipeline_name}


def build_catalog_status(ctx: StackContext, settings: Settings, inference_api: InferenceApi,
                         realtime: tuple[ServedEntry, ...], packages: Mapping[str, str]) -> CatalogStatus:
    """The stack's catalog status: its served real-time entries' endpoints and routes, its batch pipelines."""
    names = ctx.names
    endpoints = {s.entry.model_name: s.endpoint_name for s in realtime}
    return CatalogStatus(
        f"{names.prefix}-catalog-status",
        CatalogStatusArgs(
            ctx, reader_role_arn=registry_names(settings).provisioning_function_role_arn,
            inference_url=inference_api.url, endpoints=endpoints,
            endpoint_urls={m: inference_api.model_urls[m] for m in endpoints},
            batch_state_machine_arns={entry.model_name: names.state_machine_arn_of(
                names.catalog_batch_state_machine(entry.model_name)) for entry, _ in served_batch(settings, packages)}),
        opts=ctx.opts)
