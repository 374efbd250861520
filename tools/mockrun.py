"""Run the whole Pulumi program under Pulumi's mocks and record every resource it registers.

Used by the offline preview (``python -m tools.preview``) and by the tests. The program runs with the
stack's real config: ``Pulumi.yaml`` defaults overlaid with ``Pulumi.<stack>.yaml`` values, read, typed
and type-checked as the CLI would pass them (``tools.stack_config``; mocks read neither file by themselves).

What the mocks do:
- ``preview=False``, so every ``apply`` runs and every Output resolves: checks inside ``apply`` count.
- Each resource gets its inputs back as outputs plus the computed outputs AWS would add (ARNs, URLs,
  ids) from ``OUTPUT_TEMPLATES`` (keyed by ``tools.tokens.Token``), using the stack's account and
  region so ARNs look like the real ones.
- An invoke without a mock raises ``UnmockedInvokeError`` instead of silently returning ``{}``.
- A subclass of the SDK's ``MockMonitor`` records the parent, provider and protect flag of every
  registration, which the ``Mocks`` API alone does not show.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import runpy
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools import stack_config
from tools.tokens import PROVIDER_PREFIX, ROOT_STACK, Token

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "mlops"


def project_name(root: Path = ROOT) -> str:
    """The ``name`` in ``root/Pulumi.yaml``: the config namespace and the project of the stack's URNs."""
    return str((yaml.safe_load((root / "Pulumi.yaml").read_text()) or {})["name"])


def stack_names(root: Path = ROOT) -> tuple[str, ...]:
    """The stacks that have a stack file (``Pulumi.<stack>.yaml``), sorted: a new stack is a new file."""
    from program.catalog import topology_environments

    return topology_environments(root)


STACKS = stack_names()


class UnmockedInvokeError(RuntimeError):
    """The program called a data source (invoke) that the mocks do not know."""


def load_stack_config(stack: str, root: Path = ROOT) -> dict[str, str]:
    """``Pulumi.yaml`` defaults overlaid with ``Pulumi.<stack>.yaml`` values, keys namespaced, type-checked
    against ``Pulumi.yaml`` as the CLI checks them (``tools.stack_config``)."""
    return stack_config.load_stack_config(stack, root)


# ---------------------------------------------------------------------------------------------------
# Computed outputs that AWS would return


@dataclass(frozen=True)
class _Ctx:
    account: str
    region: str


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _physical(name: str, inputs: Mapping[str, Any], key: str = "name") -> str:
    value = inputs.get(key)
    return value if isinstance(value, str) and value else name


def _generic(token: str, name: str, inputs: Mapping[str, Any], ctx: _Ctx) -> dict[str, Any]:
    service = token.split(":")[1].split("/")[0]
    resource = token.split(":")[2]
    return {"arn": f"arn:aws:{service}:{ctx.region}:{ctx.account}:{_kebab(resource)}/{_physical(name, inputs)}"}


Template = Callable[[str, Mapping[str, Any], _Ctx], dict[str, Any]]


def _api_id(name: str) -> str:
    """A stable, API-Gateway-like 10-character id (the same in every process, unlike ``hash``)."""
    return hashlib.sha256(name.encode()).hexdigest()[:10]


def _named(service: str, resource: str, *, regional: bool = True) -> Template:
    """A resource AWS names as given: ``arn:aws:<service>:<region>:<account>:<resource><name>`` (no region
    for a global service) and its name."""
    def template(name: str, inputs: Mapping[str, Any], ctx: _Ctx) -> dict[str, Any]:
        region = ctx.region if regional else ""
        return {"arn": f"arn:aws:{service}:{region}:{ctx.account}:{resource}{_physical(name, inputs)}",
                "name": _physical(name, inputs)}

    return template


OUTPUT_TEMPLATES: dict[str, Template] = {
    Token.KMS_KEY: lambda n, i, c: {
        "arn": f"arn:aws:kms:{c.region}:{c.account}:key/{n}-0000", "keyId": f"{n}-0000"},
    Token.KMS_ALIAS: lambda n, i, c: {"arn": f"arn:aws:kms:{c.region}:{c.account}:{_physical(n, i)}"},
    Token.S3_BUCKET: lambda n, i, c: {
        "arn": f"arn:aws:s3:::{_physical(n, i, 'bucket')}", "bucket": _physical(n, i, "bucket"),
        "bucketRegionalDomainName": f"{_physical(n, i, 'bucket')}.s3.{c.region}.amazonaws.com"},
    Token.IAM_ROLE: _named("iam", "role/", regional=False),
    Token.IAM_POLICY: _named("iam", "policy/", regional=False),
    Token.SNS_TOPIC: lambda n, i, c: {"arn": f"arn:aws:sns:{c.region}:{c.account}:{_physical(n, i)}"},
    Token.SQS_QUEUE: lambda n, i, c: {
        "arn": f"arn:aws:sqs:{c.region}:{c.account}:{_physical(n, i)}",
        "url": f"https://sqs.{c.region}.amazonaws.com/{c.account}/{_physical(n, i)}"},
    Token.CLOUDWATCH_LOG_GROUP: _named("logs", "log-group:"),
    Token.LAMBDA_FUNCTION: lambda n, i, c: {
        "arn": f"arn:aws:lambda:{c.region}:{c.account}:function:{_physical(n, i)}",
        "name": _physical(n, i),
        "invokeArn": f"arn:aws:apigateway:{c.region}:lambda:path/2015-03-31/functions/"
                     f"arn:aws:lambda:{c.region}:{c.account}:function:{_physical(n, i)}/invocations"},
    Token.SFN_STATE_MACHINE: _named("states", "stateMachine:"),
    Token.ECR_REPOSITORY: lambda n, i, c: {
        "arn": f"arn:aws:ecr:{c.region}:{c.account}:repository/{_physical(n, i)}",
        "repositoryUrl": f"{c.account}.dkr.ecr.{c.region}.amazonaws.com/{_physical(n, i)}",
        "registryId": c.account},
    Token.SECRETSMANAGER_SECRET: lambda n, i, c: {
        "arn": f"arn:aws:secretsmanager:{c.region}:{c.account}:secret:{_physical(n, i)}-AbCdEf"},
    Token.DYNAMODB_TABLE: lambda n, i, c: {
        "arn": f"arn:aws:dynamodb:{c.region}:{c.account}:table/{_physical(n, i)}"},
    Token.APIGATEWAY_REST_API: lambda n, i, c: {
        "id": _api_id(n), "rootResourceId": f"{_api_id(n)[:6]}root",
        "executionArn": f"arn:aws:execute-api:{c.region}:{c.account}:{_api_id(n)}"},
    Token.APIGATEWAY_STAGE: lambda n, i, c: {
        "invokeUrl": f"https://{i.get('restApi', 'api')}.execute-api.{c.region}.amazonaws.com/{i.get('stageName')}",
        "executionArn": f"arn:aws:execute-api:{c.region}:{c.account}:{i.get('restApi')}/{i.get('stageName')}",
        "arn": f"arn:aws:apigateway:{c.region}::/restapis/{i.get('restApi')}/stages/{i.get('stageName')}"},
    Token.SAGEMAKER_MODEL_PACKAGE_GROUP: lambda n, i, c: {
        "arn": f"arn:aws:sagemaker:{c.region}:{c.account}:model-package-group/"
               f"{_physical(n, i, 'modelPackageGroupName')}"},
    Token.SAGEMAKER_ENDPOINT: _named("sagemaker", "endpoint/"),
    Token.SAGEMAKER_ENDPOINT_CONFIGURATION: _named("sagemaker", "endpoint-config/"),
    Token.SAGEMAKER_MODEL: _named("sagemaker", "model/"),
    Token.CODEPIPELINE_PIPELINE: _named("codepipeline", ""),
    Token.CODEBUILD_PROJECT: _named("codebuild", "project/"),
    Token.CLOUDWATCH_EVENT_RULE: _named("events", "rule/"),
}


def fake_outputs(token: str, name: str, inputs: Mapping[str, Any], ctx: _Ctx) -> dict[str, Any]:
    template = OUTPUT_TEMPLATES.get(token)
    computed = template(name, inputs, ctx) if template else _generic(token, name, inputs, ctx)
    outputs = dict(inputs)
    outputs.setdefault("name", name)
    outputs.update({k: v for k, v in computed.items() if k not in inputs or k == "arn"})
    return outputs


# ---------------------------------------------------------------------------------------------------
# Recording mocks


@dataclass
class RecordedResource:
    type: str
    name: str
    urn: str
    parent: str | None
    custom: bool
    provider: str | None
    protect: bool
    id: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str] = field(default_factory=list)
    """URNs of the resources this one explicitly depends on (``depends_on`` and input references)."""
    aliases: list[dict[str, Any]] = field(default_factory=list)
    """The ``aliases`` option as the engine receives it: ``{"spec": {"name": ...}}`` or ``{"urn": ...}``."""

    @property
    def parent_name(self) -> str | None:
        return self.parent.split("::")[-1] if self.parent else None

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "urn": self.urn, "parent": self.parent,
                "custom": self.custom, "provider": self.provider, "protect": self.protect, "id": self.id,
                "inputs": self.inputs, "outputs": self.outputs}


def _make_mocks(ctx: _Ctx):
    import pulumi

    class RecordingMocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            if args.typ.startswith(PROVIDER_PREFIX) or not args.custom:
                return (f"{args.name}_id" if args.custom else None), dict(args.inputs)
            outputs = fake_outputs(args.typ, args.name, args.inputs, ctx)
            return outputs.get("id") or args.name, outputs

        def call(self, args: pulumi.runtime.MockCallArgs):
            token = args.token
            if token == Token.GET_CALLER_IDENTITY:
                return {"accountId": ctx.account, "arn": f"arn:aws:iam::{ctx.account}:user/preview",
                        "userId": "AIDAPREVIEW", "id": ctx.account}
            if token == Token.GET_REGION:
                return {"region": ctx.region, "name": ctx.region, "id": ctx.region,
                        "endpoint": f"ec2.{ctx.region}.amazonaws.com", "description": ctx.region}
            if token == Token.GET_PARTITION:
                return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws",
                        "reverseDnsPrefix": "com.amazonaws"}
            if token == Token.SECRETSMANAGER_GET_RANDOM_PASSWORD:
                length = int(args.args.get("passwordLength") or 32)
                return {"randomPassword": "p" * length, "id": "random-password"}
            raise UnmockedInvokeError(f"invoke {token} has no mock: add one to tools/mockrun.py "
                                      f"(arguments: {dict(args.args)})")

    return RecordingMocks()


def _make_monitor(mocks, records: list[RecordedResource]):
    from google.protobuf import json_format
    from pulumi.runtime.mocks import MockMonitor

    class RecordingMonitor(MockMonitor):
        def RegisterResource(self, request):
            response = super().RegisterResource(request)
            if request.type != ROOT_STACK:
                registration = self.resources[response.urn]
                from pulumi.runtime import rpc
                from pulumi.runtime.sync_await import _sync_await

                inputs = _plain(_sync_await(_deserialize(rpc, request.object)))
                records.append(RecordedResource(
                    type=request.type, name=request.name, urn=response.urn,
                    parent=request.parent or None, custom=bool(request.custom),
                    provider=request.provider or None, protect=bool(request.protect),
                    id=registration.id, inputs=inputs, outputs=_plain(registration.state),
                    dependencies=list(request.dependencies),
                    aliases=[json_format.MessageToDict(alias) for alias in request.aliases]))
            return response

    return RecordingMonitor(mocks)


async def _deserialize(rpc, struct):
    return rpc.deserialize_properties(struct)


def _plain(value: Any) -> Any:
    """JSON-friendly copy of a property value (resource references become their URN; assets and archives
    the files they hold, as paths relative to the repository: ``{"archive": {"handler.py": {"file": ...}}}``)."""
    import pulumi

    if isinstance(value, pulumi.AssetArchive):
        return {"archive": {name: _plain(item) for name, item in sorted(value.assets.items())}}
    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        return {"file" if isinstance(value, pulumi.FileAsset) else "folder": _relative(value.path)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return f"<{type(value).__name__}>"


def _relative(path: str) -> str:
    resolved = Path(path).resolve()
    return resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else str(resolved)


# ---------------------------------------------------------------------------------------------------
# Running the program


@dataclass
class ProgramRun:
    stack: str
    config: dict[str, str]
    resources: list[RecordedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def by_type(self, token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == token]

    def one(self, token: str, name: str | None = None) -> RecordedResource:
        found = [r for r in self.by_type(token) if name is None or r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one {token} named {name!r}, found {[r.name for r in found]}")
        return found[0]

    def named(self, name: str) -> RecordedResource:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one resource named {name!r}, found {len(found)}")
        return found[0]


def _account_and_region(config: Mapping[str, str], project: str = PROJECT) -> _Ctx:
    """The stack's account: the first of ``allowedAccountIds`` (the program) or ``accountId`` (bootstrap/)."""
    try:
        accounts = json.loads(config.get(f"{project}:allowedAccountIds", "[]"))
        # `pulumi config set --path 'allowedAccountIds[0]' 123456789012` stores a number
        account = str(accounts[0]) if accounts and isinstance(accounts[0], (str, int)) else "000000000000"
    except (json.JSONDecodeError, TypeError, KeyError, IndexError):
        account = "000000000000"
    account = config.get(f"{project}:accountId") or account
    return _Ctx(account=account, region=config.get(f"{project}:region") or "eu-west-1")


def run_program(stack: str, *, config: Mapping[str, str] | None = None,
                overrides: Mapping[str, str | None] | None = None,
                program: Path = ROOT / "__main__.py",
                records: list[RecordedResource] | None = None, root: Path = ROOT) -> ProgramRun:
    """Run ``program`` for ``stack`` under mocks and return what it registered.

    ``root`` is the Pulumi project's folder (its ``Pulumi.yaml`` names the project, its
    ``Pulumi.<stack>.yaml`` holds the stack's config): the repository root for the program,
    ``bootstrap/`` for the bootstrap program (with ``program=root / "__main__.py"``).
    ``config`` replaces the stack's config entirely; ``overrides`` changes single keys (short keys
    like ``"trainingInstanceCount"`` are put in the project namespace; a value of None removes the
    key). Exceptions from the program (SettingsError among them) propagate unchanged; pass
    ``records`` to see what was registered before one was raised.
    """
    added_path = str(program.parent) not in sys.path
    if added_path:
        sys.path.insert(0, str(program.parent))
    try:
        return _run_under_mocks(stack, lambda: runpy.run_path(str(program), run_name="__main__"),
                                config=config, overrides=overrides, records=records,
                                project=PROJECT if root == ROOT else project_name(root), root=root)
    finally:
        if added_path:
            sys.path.remove(str(program.parent))


def run_components(stack: str, build: Callable[[Any], Any], *, config: Mapping[str, str] | None = None,
                   overrides: Mapping[str, str | None] | None = None,
                   records: list[RecordedResource] | None = None) -> ProgramRun:
    """Run ``build(settings)`` instead of the whole program: the components a test is about, under the
    same recording mocks and with the stack's real settings (``config`` and ``overrides`` as in
    ``run_program``). Whatever ``build`` returns as a dict becomes the run's outputs."""
    def program() -> None:
        import pulumi

        from program.settings import load_settings

        for key, value in (build(load_settings()) or {}).items():
            pulumi.export(key, value)

    return _run_under_mocks(stack, program, config=config, overrides=overrides, records=records)


def _run_under_mocks(stack: str, program: Callable[[], Any], *, config: Mapping[str, str] | None,
                     overrides: Mapping[str, str | None] | None,
                     records: list[RecordedResource] | None,
                     project: str = PROJECT, root: Path = ROOT) -> ProgramRun:
    import pulumi
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from program.catalog_packages import OFFLINE_VARIABLE

    values = dict(config) if config is not None else load_stack_config(stack, root)
    for key, value in (overrides or {}).items():
        full = key if ":" in key else f"{project}:{key}"
        if value is None:
            values.pop(full, None)
        else:
            values[full] = value
    ctx = _account_and_region(values, project)
    records = [] if records is None else records

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    offline_before = os.environ.get(OFFLINE_VARIABLE)
    os.environ[OFFLINE_VARIABLE] = "1"  # the program looks nothing up in AWS (program/catalog_packages.py)
    try:
        pulumi.runtime.reset_options(project=project, stack=stack)
        mocks = _make_mocks(ctx)
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False,
                                 monitor=_make_monitor(mocks, records))
        pulumi.runtime.set_all_config(values)
        from pulumi.runtime.settings import SETTINGS

        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()
        _sync_await(run_pulumi_func(program))
        outputs = _sync_await(_resolve_stack_outputs())
    finally:
        if offline_before is None:
            os.environ.pop(OFFLINE_VARIABLE, None)
        else:
            os.environ[OFFLINE_VARIABLE] = offline_before
        pulumi.runtime.reset_options()
        asyncio.set_event_loop(None)
        loop.close()
    return ProgramRun(stack=stack, config=values, resources=records, outputs=outputs)


async def _resolve_stack_outputs() -> dict[str, Any]:
    from pulumi.runtime.settings import get_root_resource

    root = get_root_resource()
    resolved = {}
    for key, value in (getattr(root, "outputs", None) or {}).items():
        resolved[key] = _plain(await value.future()) if hasattr(value, "future") else _plain(value)
    return resolved
