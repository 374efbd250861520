"""Judge a stack's recorded resources with the policy pack through its real gRPC analyzer.

This does what the Pulumi CLI does for ``pulumi preview --policy-pack policies
--policy-pack-config policies/config/<stack>.json`` (pkg: ``plugin.NewPolicyAnalyzer`` and
``analyzer.ReconcilePolicyPackConfig``):

1. start the pack like ``pulumi-analyzer-policy-python`` does: ``python -u -m pulumi.policy
   <engine> .`` in the pack directory, with PULUMI_PROJECT / PULUMI_STACK / PULUMI_DRY_RUN /
   PULUMI_ORGANIZATION set, using the virtualenv named in PulumiPolicy.yaml if it exists;
2. read the port from the first stdout line and connect;
3. ConfigureStack, GetAnalyzerInfo, then reconcile the config file with the policies' defaults and
   schemas (schema defaults, ``all``, per-policy levels and properties; JSON-schema validation) and
   Configure;
4. Analyze every resource (its inputs, its provider's inputs), then AnalyzeStack with all resources
   (their outputs over their inputs, like a provider's state), and stop the server.

Input records are what the program's mocks record (see ``run_policy_pack``).
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
import jsonschema
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
PACK_DIR = REPO_ROOT / "policies"
CONFIG_DIR = PACK_DIR / "config"

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")
_LEVEL_TO_WIRE = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}
_WIRE_TO_LEVEL = {v: k for k, v in _LEVEL_TO_WIRE.items()}
_WIRE_TO_SEVERITY = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}
_GRPC_OPTIONS = [("grpc.max_receive_message_length", 400 * 1024 * 1024), ("grpc.max_send_message_length", 400 * 1024 * 1024)]
_START_TIMEOUT_S = 60.0


class PolicyPackError(RuntimeError):
    """The pack could not be started, configured or run."""


class PolicyConfigError(ValueError):
    """The policy pack configuration is invalid; ``errors`` lists every problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("policy pack configuration is invalid:\n  " + "\n  ".join(errors))


# ----------------------------------------------------------------------------------------------
# Configuration, as the CLI handles it.
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyDescriptor:
    """What the CLI knows of a policy from GetAnalyzerInfo."""

    name: str
    enforcement_level: str
    config_properties: Mapping[str, Any] = field(default_factory=dict)
    config_required: tuple[str, ...] = ()
    severity: str = ""


@dataclass
class PolicyConfig:
    enforcement_level: str | None
    properties: dict[str, Any] | None


def parse_policy_config(raw: Mapping[str, Any] | str | os.PathLike[str] | None) -> dict[str, PolicyConfig]:
    """Parse a ``--policy-pack-config`` document: ``{"all": "mandatory", "<policy>": "advisory" |
    {"enforcementLevel": ..., <properties>}}``. Accepts a path or an already-loaded mapping."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        path = pathlib.Path(raw)
        try:
            raw = json.loads(path.read_text(encoding="utf-8") or "{}")
        except FileNotFoundError as exc:
            raise PolicyConfigError([f"config file {path} does not exist"]) from exc
        except json.JSONDecodeError as exc:
            raise PolicyConfigError([f"{path} is not valid JSON: {exc}"]) from exc
        if not isinstance(raw, Mapping):
            raise PolicyConfigError([f"{path} must hold a JSON object"])
    errors: list[str] = []
    result: dict[str, PolicyConfig] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            if value not in ENFORCEMENT_LEVELS:
                errors.append(f"{key}: {value!r} is not an enforcement level ({', '.join(ENFORCEMENT_LEVELS)})")
                continue
            result[key] = PolicyConfig(value, None)
        elif isinstance(value, Mapping):
            props = dict(value)
            level = props.pop("enforcementLevel", None)
            if level is not None and level not in ENFORCEMENT_LEVELS:
                errors.append(f"{key}: enforcementLevel {level!r} is not one of {', '.join(ENFORCEMENT_LEVELS)}")
                continue
            if level is None and not props:
                continue
            result[key] = PolicyConfig(level, props or None)
        else:
            errors.append(f"{key}: {value!r} is not a valid value; must be an enforcement level string or an object")
    if errors:
        raise PolicyConfigError(errors)
    return result


def _schema_for(policy: PolicyDescriptor, strict: bool) -> dict[str, Any]:
    properties = dict(policy.config_properties)
    properties["enforcementLevel"] = {"type": "string", "enum": list(ENFORCEMENT_LEVELS)}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if policy.config_required:
        schema["required"] = list(policy.config_required)
    if strict:
        schema["additionalProperties"] = False
    return schema


def reconcile_policy_config(
    policies: Iterable[PolicyDescriptor],
    config: Mapping[str, PolicyConfig],
    *,
    strict: bool = True,
) -> dict[str, PolicyConfig]:
    """Defaults from the schemas, then ``all``, then per-policy settings; validate the result.

    Mirrors the CLI's ReconcilePolicyPackConfig. ``strict`` (our addition) also rejects unknown
    policy names and unknown properties, which the CLI silently ignores, so typos cannot disable a
    setting unnoticed.
    """
    policies = list(policies)
    known = {p.name: p for p in policies}
    errors: list[str] = []
    if strict:
        for name in config:
            if name != "all" and name not in known:
                errors.append(f"{name}: no such policy in the pack")
    result: dict[str, PolicyConfig] = {}
    for policy in policies:
        defaults = {k: v["default"] for k, v in policy.config_properties.items() if isinstance(v, Mapping) and "default" in v}
        result[policy.name] = PolicyConfig(policy.enforcement_level, defaults or None)
    everything = config.get("all")
    if everything is not None and everything.enforcement_level:
        for value in result.values():
            value.enforcement_level = everything.enforcement_level
    for name, given in config.items():
        if name not in result:
            continue
        current = result[name]
        if given.enforcement_level:
            current.enforcement_level = given.enforcement_level
        if given.properties:
            current.properties = {**(current.properties or {}), **given.properties}
    for policy in policies:
        document = dict(result[policy.name].properties or {})
        validator = jsonschema.Draft7Validator(_schema_for(policy, strict))
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path)):
            where = ".".join(str(p) for p in error.path)
            errors.append(f"{policy.name}{'.' + where if where else ''}: {error.message}")
    if errors:
        raise PolicyConfigError(errors)
    return result


def default_config_path(stack: str, config_dir: pathlib.Path = CONFIG_DIR) -> pathlib.Path:
    """``policies/config/<stack>.json``. Every stack has one: without it the pack would judge the stack
    with every rule at its defaults, silently, so a missing file is an error that names it."""
    path = config_dir / f"{stack}.json"
    if not path.is_file():
        raise PolicyConfigError([f"stack {stack} has no policy configuration: create policies/config/{stack}.json "
                                 f"(start from the closest stack's file, e.g. {_closest_config(config_dir)}) and "
                                 f"pass it to `pulumi preview --policy-pack-config`"])
    return path


def _closest_config(config_dir: pathlib.Path) -> str:
    existing = sorted(p.name for p in config_dir.glob("*.json"))
    return f"policies/config/{existing[0]}" if existing else "the README's policy section"


# ----------------------------------------------------------------------------------------------
# The analyzer process.
# ----------------------------------------------------------------------------------------------


def _pack_python(pack_dir: pathlib.Path) -> str:
    """The interpreter the CLI would use: PulumiPolicy.yaml's virtualenv if present, else ours."""
    try:
        project = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise PolicyPackError(f"{pack_dir} has no PulumiPolicy.yaml") from exc
    runtime = project.get("runtime")
    options = runtime.get("options", {}) if isinstance(runtime, Mapping) else {}
    venv = options.get("virtualenv") if isinstance(options, Mapping) else None
    if venv:
        candidate = (pack_dir / venv / "bin" / "python").resolve()
        if candidate.is_file():
            return str(candidate)
    return sys.executable


class PolicyPackProcess:
    """Context manager: the pack's analyzer server and a stub connected to it."""

    def __init__(self, *, stack: str, project: str, pack_dir: pathlib.Path = PACK_DIR, organization: str = "organization"):
        self.stack, self.project, self.pack_dir, self.organization = stack, project, pack_dir, organization
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the pack process; closed in __exit__
        self._channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None

    def __enter__(self) -> PolicyPackProcess:
        env = dict(os.environ)
        env.update(
            PULUMI_PROJECT=self.project,
            PULUMI_STACK=self.stack,
            PULUMI_DRY_RUN="true",
            PULUMI_ORGANIZATION=self.organization,
        )
        env.pop("PYTHONHOME", None)
        # The engine address is unused by pulumi-policy's server; the CLI passes its own.
        command = [_pack_python(self.pack_dir), "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."]
        self._proc = subprocess.Popen(
            command, cwd=self.pack_dir, env=env, stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL
        )
        try:
            port = self._read_port()
            self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_GRPC_OPTIONS)
            grpc.channel_ready_future(self._channel).result(timeout=_START_TIMEOUT_S)
            self.stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _read_port(self) -> int:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(_START_TIMEOUT_S)
        text = line[0].decode(errors="replace").strip() if line else ""
        if not text.isdigit():
            self._proc.poll()
            raise PolicyPackError(
                f"policy pack in {self.pack_dir} did not print its port "
                f"(first stdout line {text!r}, exit code {self._proc.returncode}); stderr:\n{self.stderr()}"
            )
        return int(text)

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-4000:]

    def __exit__(self, *exc: object) -> None:
        if self._channel is not None:
            self._channel.close()
        if self._proc is not None and self._proc.poll() is None:
            # pulumi-policy's server stops cleanly on KeyboardInterrupt.
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr.close()


# ----------------------------------------------------------------------------------------------
# Marshalling records to the analyzer protocol.
# ----------------------------------------------------------------------------------------------


def _plain(value: Any, where: str) -> Any:
    """JSON-compatible copy of a recorded property value (assets and archives use the engine's
    signature encoding, as the CLI's MarshalProperties does)."""
    from pulumi_policy.deserialize import serialize_properties  # heavy import, only needed here

    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    try:
        return _plain(serialize_properties({"v": value})["v"], where)
    except TypeError as exc:
        raise PolicyPackError(f"{where}: cannot send a {type(value).__name__} to the policy pack") from exc


def _struct(props: Mapping[str, Any] | None, where: str) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    if props:
        struct.update(_plain(props, where))
    return struct


def _state(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a stack policy sees: a bridged provider's state holds every input, the computed
    outputs and the ``id``; mocks may return less, so inputs fill in and the record's id is added."""
    state = {**(record.get("inputs") or {}), **(record.get("outputs") or {})}
    if record.get("custom", True) and record.get("id") and "id" not in state:
        state["id"] = record["id"]
    return state


def _provider_urn(reference: str | None) -> str | None:
    """A provider reference is ``<provider urn>::<provider id>``."""
    if not reference:
        return None
    return reference.rsplit("::", 1)[0]


def _as_record(index: int, record: Any) -> Mapping[str, Any]:
    if hasattr(record, "as_dict"):  # tools.mockrun.RecordedResource
        record = record.as_dict()
    if not isinstance(record, Mapping):
        raise PolicyPackError(f"resources[{index}] must be a mapping, got {type(record).__name__}")
    missing = [key for key in ("type", "name", "urn") if not isinstance(record.get(key), str) or not record.get(key)]
    if missing:
        raise PolicyPackError(f"resources[{index}] lacks non-empty string field(s): {', '.join(missing)}")
    return record


# ----------------------------------------------------------------------------------------------
# The entry point.
# ----------------------------------------------------------------------------------------------


def run_policy_pack(
    resources: Iterable[Mapping[str, Any]],
    *,
    stack: str,
    project: str = "mlops",
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    pack_dir: str | os.PathLike[str] = PACK_DIR,
) -> list[dict[str, Any]]:
    """Run the policy pack over a stack's resources; return every violation.

    ``resources``: the records the program's mocks make, each a mapping with ``type``, ``name``,
    ``urn``, ``parent`` (URN or None), ``custom``, ``provider`` (``"<provider urn>::<id>"`` or
    None), ``id``, ``inputs`` and ``outputs`` (camelCase). Provider resources
    (``pulumi:providers:aws``) are in the same list.

    ``config``: a ``--policy-pack-config`` document (path or mapping); by default
    ``policies/config/<stack>.json`` if it exists.

    Returns dicts ``{"policy", "enforcement", "severity", "message", "urn", "type", "name"}``;
    ``urn``/``type``/``name`` are None for violations of the stack as a whole. Raises
    PolicyConfigError for an invalid configuration and PolicyPackError if the pack fails.
    """
    resources = [_as_record(index, record) for index, record in enumerate(resources)]
    by_urn = {r["urn"]: r for r in resources}
    pack_path = pathlib.Path(pack_dir)
    if config is None:
        config = default_config_path(stack, pack_path / "config")
    given = parse_policy_config(config)

    def provider_message(record: Mapping[str, Any], cls: type) -> Any:
        urn = _provider_urn(record.get("provider"))
        provider = by_urn.get(urn) if urn else None
        if provider is None:
            return None
        return cls(
            type=provider["type"],
            name=provider["name"],
            urn=provider["urn"],
            properties=_struct(provider.get("inputs"), f"{provider['name']}.inputs"),
        )

    with PolicyPackProcess(stack=stack, project=project, pack_dir=pack_path) as pack:
        stub = pack.stub
        assert stub is not None
        try:
            stub.ConfigureStack(
                analyzer_pb2.AnalyzerStackConfigureRequest(stack=stack, project=project, organization=pack.organization, dry_run=True)
            )
            info = stub.GetAnalyzerInfo(empty_pb2.Empty())
            descriptors = [
                PolicyDescriptor(
                    name=p.name,
                    enforcement_level=_WIRE_TO_LEVEL[p.enforcementLevel],
                    config_properties=json_format.MessageToDict(p.configSchema.properties),
                    config_required=tuple(p.configSchema.required),
                    severity=_WIRE_TO_SEVERITY.get(p.severity, ""),
                )
                for p in info.policies
            ]
            reconciled = reconcile_policy_config(descriptors, given)
            stub.Configure(
                analyzer_pb2.ConfigureAnalyzerRequest(
                    policyConfig={
                        name: analyzer_pb2.PolicyConfig(
                            enforcementLevel=_LEVEL_TO_WIRE[value.enforcement_level or "advisory"],
                            properties=_struct(value.properties, f"config.{name}"),
                        )
                        for name, value in reconciled.items()
                    }
                )
            )
            severities = {d.name: d.severity for d in descriptors}

            def violation(diag: Any, record: Mapping[str, Any] | None) -> dict[str, Any]:
                return {
                    "policy": diag.policyName,
                    "enforcement": _WIRE_TO_LEVEL.get(diag.enforcementLevel, "advisory"),
                    "severity": _WIRE_TO_SEVERITY.get(diag.severity) or severities.get(diag.policyName, ""),
                    "message": diag.message,
                    "urn": record["urn"] if record else None,
                    "type": record["type"] if record else None,
                    "name": record["name"] if record else None,
                }

            violations: list[dict[str, Any]] = []
            for record in resources:
                options = analyzer_pb2.AnalyzerResourceOptions(
                    parent=record.get("parent") or "", protect=bool(record.get("protect"))
                )
                response = stub.Analyze(
                    analyzer_pb2.AnalyzeRequest(
                        type=record["type"],
                        name=record["name"],
                        urn=record["urn"],
                        properties=_struct(record.get("inputs"), f"{record['name']}.inputs"),
                        options=options,
                        provider=provider_message(record, analyzer_pb2.AnalyzerProviderResource),
                    )
                )
                violations += [violation(d, by_urn.get(d.urn) or record) for d in response.diagnostics]

            stack_resources = [
                analyzer_pb2.AnalyzerResource(
                    type=record["type"],
                    name=record["name"],
                    urn=record["urn"],
                    properties=_struct(_state(record), f"{record['name']}.outputs"),
                    options=analyzer_pb2.AnalyzerResourceOptions(
                        parent=record.get("parent") or "", protect=bool(record.get("protect"))
                    ),
                    provider=provider_message(record, analyzer_pb2.AnalyzerProviderResource),
                    parent=record.get("parent") or "",
                )
                for record in resources
            ]
            response = stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=stack_resources))
            violations += [violation(d, by_urn.get(d.urn)) for d in response.diagnostics]
        except grpc.RpcError as exc:
            raise PolicyPackError(f"policy pack call failed: {exc.details()}\n{pack.stderr()}") from exc
    return violations


def has_mandatory(violations: Iterable[Mapping[str, Any]]) -> bool:
    """True if any violation blocks a deployment (the CLI exits non-zero on these)."""
    return any(v.get("enforcement") in ("mandatory", "remediate") for v in violations)
