"""The provisioning API: catalog entries by API call, with the catalog file's validator and rules.

REST API (stage ``v1``) in the registry stack, every method ``AWS_IAM`` (SigV4), one Lambda
(``lambdas/provisioning_api``) behind them all:

    POST   /v1/pipelines                one catalog entry as the body -> 400 with every problem, or
                                        202 {"pipeline_id", "status_url"}: stored, deploy started
    GET    /v1/pipelines                the stored pipelines and their provisioning state
    GET    /v1/pipelines/{model_name}   the entry as stored, its state (queued, running, succeeded, failed
                                        with the reason) and what is known per environment
    DELETE /v1/pipelines/{model_name}   retire it: kept as history, removed by the deploy this starts
    POST   /v1/provisionpipeline        the AWS MLOps Framework's routes, on the same handlers
    POST   /v1/pipelinestatus           ({"pipeline_id": ...})

The Lambda vendors ``catalog/`` (the validator, unchanged) and ``components/names.py`` (with its part
``components/catalog_names.py``); the program
gives it the topology's environments and regions, the pipelines of the committed catalog file (an
entry lives in one place) and the accounts of the environments. Its role may write only the catalog
store, start only the provisioning pipeline, and assume only the environments' catalog status roles
(``components/catalog_status.py``: what GET reports per environment, read live). The stage logs access, traces and throttles
(``logged_stage``); the exported managed policy allows exactly these six methods.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import catalog_store
from components.api_stage import logged_stage
from components.context import StackContext
from components.iam import policy_document, statement
from components.names import CATALOG_DEPLOYS_PREFIX, CATALOG_STORE_PREFIX
from components.notifications import publish_statements
from components.python_function import PythonFunction, PythonFunctionArgs

PATH_PARAMETER = "model_name"
ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "pipelines"), ("GET", "pipelines"), ("GET", "pipelines/{model_name}"),
    ("DELETE", "pipelines/{model_name}"), ("POST", "provisionpipeline"), ("POST", "pipelinestatus"))
"""(method, path under the stage): every method of the API."""

API_MODULES = ("catalog", "components/names.py", "components/catalog_names.py")
"""What the API's Lambda vendors from the repository: the validator and the names module (with its part)."""


@dataclass(frozen=True)
class ProvisioningApiArgs:
    ctx: StackContext
    pipeline_name: pulumi.Input[str]
    """The provisioning pipeline (``ProvisioningDeploy``) an accepted request starts."""
    pipeline_arn: pulumi.Input[str]
    environments: tuple[str, ...]
    """The topology's environments, which per-environment values must name."""
    regions: Mapping[str, str]
    """Environment -> region, where built-in images and KMS keys must exist."""
    accounts: Mapping[str, str] = field(default_factory=dict)
    """Environment -> account, for the names GET reports per environment."""
    status_role_arns: Mapping[str, str] = field(default_factory=dict)
    """Environment -> its catalog status role (``CatalogStatus``): GET assumes it to report each environment."""
    file_pipelines: tuple[str, ...] = ()
    """Pipeline ids of the committed catalog file: the API refuses them (an entry lives in one place)."""
    stage_name: str = "v1"
    throttle_rate_limit: float = 5.0
    throttle_burst_limit: int = 10


class ProvisioningApi(pulumi.ComponentResource):
    url: pulumi.Output[str]
    """``https://<api>.execute-api.<region>.amazonaws.com/v1``: append ``/pipelines``."""
    invoke_policy_arn: pulumi.Output[str]
    """Managed policy allowing exactly the API's methods on its stage; attach it to callers."""
    function_arn: pulumi.Output[str]
    rest_api_id: pulumi.Output[str]

    def __init__(self, name: str, args: ProvisioningApiArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:provisioning:ProvisioningApi", name, None, opts)
        a, ctx = args, args.ctx
        names = ctx.names
        child = pulumi.ResourceOptions(parent=self)

        function = PythonFunction(f"{name}-handler", PythonFunctionArgs(
            ctx=ctx, function_name=names.provisioning_function, folder="provisioning_api",
            description="Provisioning API: validates catalog entries, stores them, starts their deploy",
            statements=[
                *catalog_store.write_statements(ctx.bucket_arn),
                statement("ReadDeployOutputs", ["s3:GetObject"],
                          [catalog_store.deploy_outputs_arn(ctx.bucket_arn, names.environment)]),
                *assume_status_statements(a.status_role_arns),
                statement("StartDeploys", ["codepipeline:StartPipelineExecution", "codepipeline:GetPipelineExecution"],
                          [a.pipeline_arn]),
                # The key statement also covers the store's objects, encrypted with the stack key.
                *publish_statements(ctx.topic_arn, ctx.kms_key_arn, publish_sid="NotifyFailures",
                                    key_sid="UseStackKey"),
            ],
            environment={
                "STORE_BUCKET": names.bucket, "STORE_PREFIX": CATALOG_STORE_PREFIX,
                "DEPLOYS_PREFIX": CATALOG_DEPLOYS_PREFIX, "PIPELINE_NAME": a.pipeline_name,
                "TOPIC_ARN": ctx.topic_arn, "PROJECT": names.project, "STACK": names.environment,
                "ENVIRONMENTS": json.dumps(list(a.environments)), "REGIONS": json.dumps(dict(a.regions)),
                "ACCOUNTS": json.dumps(dict(a.accounts)), "FILE_PIPELINES": json.dumps(list(a.file_pipelines)),
            },
            modules=API_MODULES,
            timeout_seconds=28,  # API Gateway REST integrations give up after 29 s
        ), opts=child)

        api = aws.apigateway.RestApi(
            f"{name}-api", name=f"{ctx.prefix}-provisioning",
            description="Provision model-catalog pipelines: POST an entry, ask its state, retire it",
            endpoint_configuration={"types": "REGIONAL"}, opts=child)
        resources = self._resources(name, api)
        # API Gateway enforces a declared path parameter only through a validator of parameters.
        validator = aws.apigateway.RequestValidator(
            f"{name}-validator", rest_api=api.id, name="parameters", validate_request_parameters=True,
            validate_request_body=False, opts=child)
        depends: list[pulumi.Resource] = [validator]
        for method_name, path in ROUTES:
            key = f"{method_name.lower()}-{path.replace('/{model_name}', '-item')}"
            with_id = path.endswith("{model_name}")
            method = aws.apigateway.Method(
                f"{name}-{key}", rest_api=api.id, resource_id=resources[path].id, http_method=method_name,
                authorization="AWS_IAM",
                request_parameters={f"method.request.path.{PATH_PARAMETER}": True} if with_id else None,
                request_validator_id=validator.id if with_id else None, opts=child)
            integration = aws.apigateway.Integration(
                f"{name}-{key}-integration", rest_api=api.id, resource_id=resources[path].id,
                http_method=method.http_method, type="AWS_PROXY", integration_http_method="POST",
                uri=function.invoke_arn, opts=child)
            aws.lambda_.Permission(
                f"{name}-{key}-permission", action="lambda:InvokeFunction", function=function.function_name,
                principal="apigateway.amazonaws.com",
                source_arn=pulumi.Output.concat(api.execution_arn, f"/*/{method_name}/{_arn_path(path)}"),
                opts=child)
            depends += [method, integration]

        deployment = aws.apigateway.Deployment(
            f"{name}-deployment", rest_api=api.id,
            # Redeploy whenever the routes change.
            triggers={"redeployment": hashlib.sha256(json.dumps(ROUTES).encode()).hexdigest()[:16]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends))
        stage = logged_stage(
            name, ctx=ctx, parent=self, rest_api=api.id, deployment=deployment.id, stage_name=a.stage_name,
            log_group_name=f"/aws/apigateway/{ctx.prefix}-provisioning",
            throttle_rate_limit=a.throttle_rate_limit, throttle_burst_limit=a.throttle_burst_limit)
        policy = aws.iam.Policy(
            f"{name}-invoke-policy", name=f"{ctx.prefix}-provisioning-invoke",
            description=f"May call the {ctx.prefix} provisioning API (every method, nothing else)",
            policy=policy_document(statement("InvokeProvisioningApi", ["execute-api:Invoke"], [
                pulumi.Output.concat(api.execution_arn, f"/{a.stage_name}/{m}/{_arn_path(p)}") for m, p in ROUTES])),
            opts=child)

        self.url = stage.invoke_url
        self.invoke_policy_arn = policy.arn
        self.function_arn = function.function_arn
        self.rest_api_id = api.id
        self.register_outputs({"url": self.url, "invoke_policy_arn": self.invoke_policy_arn})

    def _resources(self, name: str, api: aws.apigateway.RestApi) -> dict[str, aws.apigateway.Resource]:
        child = pulumi.ResourceOptions(parent=self)
        pipelines = aws.apigateway.Resource(f"{name}-pipelines", rest_api=api.id, parent_id=api.root_resource_id,
                                            path_part="pipelines", opts=child)
        item = aws.apigateway.Resource(f"{name}-pipeline", rest_api=api.id, parent_id=pipelines.id,
                                       path_part=f"{{{PATH_PARAMETER}}}", opts=child)
        compat = {path: aws.apigateway.Resource(f"{name}-{path}", rest_api=api.id, parent_id=api.root_resource_id,
                                                path_part=path, opts=child)
                  for path in ("provisionpipeline", "pipelinestatus")}
        return {"pipelines": pipelines, "pipelines/{model_name}": item, **compat}


def assume_status_statements(status_role_arns: Mapping[str, str]) -> list[dict[str, object]]:
    """``sts:AssumeRole`` on exactly the environments' catalog status roles (none: no statement)."""
    roles = sorted(set(status_role_arns.values()))
    return [statement("ReadEnvironmentsCatalogStatus", ["sts:AssumeRole"], roles)] if roles else []


def _arn_path(path: str) -> str:
    """A route's path in an execute-api ARN: a path parameter matches any one segment."""
    return path.replace(f"{{{PATH_PARAMETER}}}", "*")
