"""What a stack's Pulumi program records, read for a local run: nothing here is a second copy.

`StackSpec.from_run(run)` takes a ``tools.mockrun.ProgramRun`` (the same run the offline preview
prints) and extracts what the embedded AWS needs: the training state machine's definition exactly as
recorded, every Lambda function with the code folder its archive holds and its environment, the REST
APIs' routes (resource paths, methods, the function each integration proxies to, whether an API key is
required), and the names and ARNs of the resources the handlers use (bucket, topic, approvals table,
signing secret, model package group, endpoint).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.workflow.states import S
from tools.localaws.emulator import LAMBDAS_DIR, LocalFunction
from tools.mockrun import ProgramRun, RecordedResource
from tools.tokens import Token


class NotATrainingStack(ValueError):
    """The stack records no training workflow (it does not train)."""


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    """Resource path below the stage, e.g. ``/decision``."""
    function: str
    """Name of the Lambda function the AWS_PROXY integration invokes."""
    api_key_required: bool = False


@dataclass(frozen=True)
class RestApi:
    name: str
    """The API's physical name, e.g. ``mlops-dev-approval``."""
    stage: str
    url: str
    """The stage's invoke URL on AWS as the program records it (``https://<id>.execute-api...``)."""
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class StackSpec:
    stack: str
    account: str
    region: str
    state_machine_name: str
    state_machine_role_arn: str
    definition: str
    """The state machine definition, byte for byte as the program passes it to ``aws.sfn.StateMachine``."""
    functions: Mapping[str, LocalFunction]
    apis: tuple[RestApi, ...]
    bucket: str
    topic_arn: str
    table_name: str
    table_hash_key: str
    secret_name: str
    secret_arn: str
    model_package_group: str
    endpoint_name: str
    image_repository_url: str
    outputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def data_defaults(self) -> dict[str, str]:
        """The S3 URIs the workflow reads when the input names none (its ApplyDefaults state)."""
        defaults = json.loads(self.definition)["States"][S.APPLY_DEFAULTS]["Parameters"]["defaults"]
        return {key: value for key, value in defaults.items() if isinstance(value, str)}

    @classmethod
    def from_run(cls, run: ProgramRun) -> StackSpec:
        outputs = run.outputs
        machine_arn = outputs.get("stateMachineArn")
        if not machine_arn:
            raise NotATrainingStack(
                f"stack {run.stack} has no training workflow (no stateMachineArn output): only stacks that train "
                f"(training: auto in the registry environment, or training: on) can run it")
        machine = _one(run, Token.SFN_STATE_MACHINE, lambda r: r.outputs.get("arn") == machine_arn)
        account, region = machine_arn.split(":")[4], machine_arn.split(":")[3]
        table = _one(run, Token.DYNAMODB_TABLE, lambda r: True)
        secret = _one(run, Token.SECRETSMANAGER_SECRET, lambda r: True)
        return cls(
            stack=run.stack, account=account, region=region,
            state_machine_name=machine.inputs["name"], state_machine_role_arn=machine.inputs["roleArn"],
            definition=machine.inputs["definition"],
            functions=_functions(run), apis=_rest_apis(run),
            bucket=outputs["bucketName"], topic_arn=outputs["notificationTopicArn"],
            table_name=table.inputs["name"], table_hash_key=table.inputs["hashKey"],
            secret_name=secret.inputs["name"], secret_arn=secret.outputs["arn"],
            model_package_group=outputs["modelPackageGroupName"], endpoint_name=outputs["endpointName"],
            image_repository_url=outputs["imageRepositoryUrl"], outputs=dict(outputs),
        )


def _one(run: ProgramRun, token: str, match) -> RecordedResource:
    found = [r for r in run.by_type(token) if match(r)]
    if len(found) != 1:
        raise AssertionError(f"stack {run.stack}: expected one {token} for a local run, found {[r.name for r in found]}")
    return found[0]


def _functions(run: ProgramRun) -> dict[str, LocalFunction]:
    """Every Lambda function: the ``lambdas/`` package its archive's handler.py comes from, its environment."""
    functions = {}
    for record in run.by_type(Token.LAMBDA_FUNCTION):
        archive = (record.inputs.get("code") or {}).get("archive") or {}
        handler = (archive.get("handler.py") or {}).get("file", "")
        package = Path(handler).parent
        if not handler or (Path(__file__).resolve().parents[2] / package).parent != LAMBDAS_DIR:
            raise AssertionError(f"function {record.inputs['name']}: its code archive has no lambdas/<package>/handler.py ({archive})")
        environment = ((record.inputs.get("environment") or {}).get("variables")) or {}
        name = record.inputs["name"]
        functions[name] = LocalFunction(name=name, package=package.name, environment=dict(environment))
    return functions


def _rest_apis(run: ProgramRun) -> tuple[RestApi, ...]:
    """Each REST API's stage and routes, from its resources, methods and AWS_PROXY integrations."""
    apis = []
    for api in run.by_type(Token.APIGATEWAY_REST_API):
        api_id = api.outputs["id"]
        root = api.outputs["rootResourceId"]
        resources = {r.outputs.get("id") or r.name: r for r in run.by_type(Token.APIGATEWAY_RESOURCE)
                     if r.inputs.get("restApi") == api_id}

        def path_of(resource_id: str, root: str = root, resources: dict = resources) -> str:
            parts = []
            while resource_id != root:
                resource = resources[resource_id]
                parts.append(resource.inputs["pathPart"])
                resource_id = resource.inputs["parentId"]
            return "/" + "/".join(reversed(parts))

        methods = {(m.inputs["resourceId"], m.inputs["httpMethod"]): m for m in run.by_type(Token.APIGATEWAY_METHOD)
                   if m.inputs.get("restApi") == api_id}
        routes = []
        for integration in run.by_type(Token.APIGATEWAY_INTEGRATION):
            inputs = integration.inputs
            if inputs.get("restApi") != api_id:
                continue
            if inputs.get("type") != "AWS_PROXY" or "/functions/" not in inputs.get("uri", ""):
                raise AssertionError(f"integration {integration.name}: only Lambda proxy integrations run locally")
            function_arn = inputs["uri"].split("/functions/", 1)[1].rsplit("/invocations", 1)[0]
            method = methods[(inputs["resourceId"], inputs["httpMethod"])]
            routes.append(Route(method=inputs["httpMethod"], path=path_of(inputs["resourceId"]),
                                function=function_arn.rsplit(":function:", 1)[1],
                                api_key_required=bool(method.inputs.get("apiKeyRequired"))))
        stages = [s for s in run.by_type(Token.APIGATEWAY_STAGE) if s.inputs.get("restApi") == api_id]
        if len(stages) != 1:
            raise AssertionError(f"REST API {api.inputs['name']}: expected one stage, found {len(stages)}")
        apis.append(RestApi(name=api.inputs["name"], stage=stages[0].inputs["stageName"],
                            url=stages[0].outputs["invokeUrl"], routes=tuple(sorted(routes, key=lambda r: (r.path, r.method)))))
    return tuple(apis)
