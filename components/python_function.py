"""A Lambda function from a folder of ``lambdas/``, with its own least-privilege role and log group.

Every function the platform deploys is built the same way:
- code: ``lambdas/<folder>/`` plus the shared ``lambdas/common/`` package (stdlib + boto3), plus the
  pure-Python packages named in ``packages`` copied from the deploying environment (requirements.txt
  pins them; a package with native code is refused, since the function runs on arm64), plus the
  repository's own standard-library modules named in ``modules`` (``catalog``: the provisioning API
  validates with the program's validator, the same files, never a copy);
- runtime python3.12, arm64, X-Ray tracing active, environment encrypted with the stack's KMS key;
- a log group ``/aws/lambda/<name>`` with the stack's retention, KMS-encrypted, created before the
  function so Lambda never creates an unmanaged one;
- a role trusted by Lambda for this account only, allowed exactly the given statements plus writing to
  its own log group (and X-Ray, which has no resource-level permissions).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.context import StackContext
from components.iam import service_role, statement
from components.names import function_role

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = ROOT / "lambdas"
MODULE_SUFFIXES = (".py", ".json")
RUNTIME = "python3.12"


@dataclass(frozen=True)
class PythonFunctionArgs:
    ctx: StackContext
    """Account, region, the stack key (environment and logs) and log retention."""
    function_name: str
    """Physical name, e.g. ``mlops-dev-approval-request``."""
    folder: str
    """Folder under ``lambdas/`` holding ``handler.py``."""
    description: str
    statements: Sequence[dict[str, Any]] = ()
    """Extra IAM statements (see ``components.iam.statement``): exact actions, exact resources."""
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    timeout_seconds: int = 30
    memory_mb: int = 256
    packages: Sequence[str] = ()
    """Distributions (pure Python, pinned in requirements.txt) to ship in the zip, e.g. ``("drawsvg",)``."""
    modules: Sequence[str] = ()
    """Standard-library packages or modules of this repository to ship at their own path, e.g. ``("catalog",
    "components/names.py")``: their ``.py`` and ``.json`` files."""


def package_assets(distribution: str) -> dict[str, pulumi.Asset | pulumi.Archive]:
    """Every file an installed pure-Python distribution consists of (its licence included), by archive path."""
    dist = importlib.metadata.distribution(distribution)
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {}
    for file in dist.files or []:
        if file.suffix in (".so", ".pyd", ".dylib"):
            raise ValueError(f"package {distribution} contains native code ({file}); the functions run on arm64, "
                             f"so only pure-Python packages can be copied into their zip")
        path = Path(str(dist.locate_file(file)))
        if ".." in file.parts or "__pycache__" in file.parts or file.suffix == ".pyc" or not path.is_file():
            continue  # scripts outside site-packages, byte code, files the installer did not keep
        assets[file.as_posix()] = pulumi.FileAsset(str(path))
    if not assets:
        raise ValueError(f"package {distribution} is installed without files to package")
    return assets


def module_assets(module: str) -> dict[str, pulumi.Asset | pulumi.Archive]:
    """The ``.py`` and ``.json`` files of a repository package (a folder) or module (a file), by their
    path in the repository."""
    path = ROOT / module
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.suffix in MODULE_SUFFIXES and "__pycache__" not in p.parts)
    if not files or ROOT not in path.resolve().parents:
        raise FileNotFoundError(f"{module} is not a package or module of this repository")
    return {f.relative_to(ROOT).as_posix(): pulumi.FileAsset(str(f)) for f in files}


def code_archive(folder: str, packages: Sequence[str] = (), modules: Sequence[str] = ()) -> pulumi.AssetArchive:
    """The function's folder at the archive root plus the shared ``common`` package, ``packages`` and
    ``modules``."""
    source = LAMBDAS_DIR / folder
    if not (source / "handler.py").is_file():
        raise FileNotFoundError(f"lambdas/{folder}/handler.py does not exist")
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {
        path.relative_to(source).as_posix(): pulumi.FileAsset(str(path))
        for path in sorted(source.rglob("*.py")) if "__pycache__" not in path.parts
    }
    assets["common"] = pulumi.FileArchive(str(LAMBDAS_DIR / "common"))
    for distribution in packages:
        assets.update(package_assets(distribution))
    for module in modules:
        assets.update(module_assets(module))
    return pulumi.AssetArchive(assets)


class PythonFunction(pulumi.ComponentResource):
    function_arn: pulumi.Output[str]
    function_name: pulumi.Output[str]
    invoke_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: PythonFunctionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:lambda:PythonFunction", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ctx = args.ctx
        function_arn = ctx.names.lambda_arn(args.function_name)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/lambda/{args.function_name}",
            retention_in_days=ctx.log_retention_days, kms_key_id=ctx.kms_key_arn, opts=child)
        role, role_policy = service_role(
            name, role_name=function_role(args.function_name),
            description=f"Execution role of the {args.function_name} Lambda function",
            service="lambda.amazonaws.com", account_id=ctx.account, source_arn=function_arn, opts=child,
            statements=[
                statement("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"],
                          [pulumi.Output.concat(log_group.arn, ":*")]),
                # X-Ray has no resource-level permissions: "*" is the only valid resource for these two.
                statement("Tracing", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]),
                statement("DecryptEnvironment", ["kms:Decrypt"], [ctx.kms_key_arn]),
                *args.statements,
            ])

        function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            description=args.description,
            runtime=RUNTIME,
            architectures=["arm64"],
            handler="handler.handler",
            code=code_archive(args.folder, args.packages, args.modules),
            role=role.arn,
            timeout=args.timeout_seconds,
            memory_size=args.memory_mb,
            kms_key_arn=ctx.kms_key_arn,
            tracing_config={"mode": "Active"},
            logging_config={"log_format": "JSON", "log_group": log_group.name},
            environment={"variables": dict(args.environment)} if args.environment else None,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, role_policy]),
        )
        self.function_arn = function.arn
        self.function_name = function.name
        self.invoke_arn = function.invoke_arn
        self.role_arn = role.arn
        self.register_outputs({"function_arn": self.function_arn, "role_arn": self.role_arn})
