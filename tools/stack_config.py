"""A stack's configuration as the Pulumi CLI hands it to the program, checked as the CLI checks it.

The mocks read neither ``Pulumi.yaml`` nor ``Pulumi.<stack>.yaml``; ``load_stack_config`` does what
``pulumi preview`` does before the program starts (pulumi/pulumi ``sdk/go/common/workspace/config.go``
``mergeConfig`` and ``validateStackConfigValues``, ``project.go`` ``ValidateConfigValue``):

1. both files are read the way the CLI's YAML library (gopkg.in/yaml.v3) reads them: ``yes``/``on``
   stay strings, ``0755`` is an octal number, ``012345678901`` is the number 12345678901 (``CliLoader``);
2. every value becomes the string the program receives: text as it is, numbers and booleans as JSON,
   lists and objects as JSON (``config_string``);
3. ``Pulumi.yaml``'s ``default`` / ``value`` fill the keys the stack does not set;
4. every key declared with a ``type`` is checked against it (string, integer, boolean, array with
   ``items``), with the CLI's wording: ``Stack 'dev' with configuration key 'protect' must be of type
   'boolean'``. The CLI stops at the first problem; this reports them all, one line each.

What cannot be done offline: secrets (``secure:`` values) cannot be decrypted, so they reach the program
as ``<secret>`` and their type is not checked; an ESC environment (``environment:`` in the stack file)
is not read.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SECRET_PLACEHOLDER = "<secret>"


class StackConfigError(ValueError):
    """The stack file is missing or unreadable, or a value has the wrong type. One line per problem."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Secret:
    """A ``secure:`` value: ciphertext that only the CLI (with the stack's secrets provider) can decrypt."""

    ciphertext: str


# ---------------------------------------------------------------------------------------------------
# YAML as gopkg.in/yaml.v3 resolves plain scalars (resolve.go): YAML 1.2 booleans and nulls, Go's
# base-0 integers (0x.., 0o.., 0b.. and a leading 0 for octal), then its float syntax; everything else
# (dates, yes/no/on/off, 1:30, 1.2.3) is a string.

_GO_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_GO_INT = re.compile(r"^([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")
_INT64 = (-(2**63), 2**64 - 1)  # ParseInt, then ParseUint for the positive rest


def _go_number(text: str) -> int | float | str:
    plain = text.replace("_", "")
    match = _GO_INT.match(plain)
    if match:
        sign, digits = match.groups()
        octal_11 = digits[0] == "0" and len(digits) > 1 and digits[1].isdigit()  # 0755: YAML 1.1 octal, still decoded by yaml.v3
        value = int(digits, 8 if octal_11 else 0)
        value = -value if sign == "-" else value
        if _INT64[0] <= value <= _INT64[1]:
            return value
    if _GO_FLOAT.match(plain):
        return float(plain)
    return text


class CliLoader(yaml.SafeLoader):
    """A SafeLoader that gives plain scalars the types the Pulumi CLI's YAML library gives them."""


CliLoader.yaml_implicit_resolvers = {}
CliLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"),
                                ["~", "n", "N", ""])
CliLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                list("tTfF"))
CliLoader.add_implicit_resolver("tag:yaml.org,2002:float",
                                re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+."))
CliLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])
CliLoader.add_implicit_resolver("!go-number", re.compile(r"^[-+]?\.?[0-9][0-9A-Za-z_.+-]*$"),
                                list("-+.0123456789"))
CliLoader.add_constructor("!go-number", lambda loader, node: _go_number(str(node.value)))
CliLoader.add_constructor("tag:yaml.org,2002:bool", lambda loader, node: str(node.value).lower() == "true")


def _secure(loader: CliLoader, node: yaml.MappingNode) -> Any:
    mapping = loader.construct_mapping(node, deep=True)
    if len(mapping) == 1 and isinstance(mapping.get("secure"), str):
        return Secret(mapping["secure"])
    return mapping


CliLoader.add_constructor("tag:yaml.org,2002:map", _secure)


def read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(), Loader=CliLoader)
    except yaml.YAMLError as exc:
        raise StackConfigError(f"{path.name} is not valid YAML: {exc}") from None


# ---------------------------------------------------------------------------------------------------
# Values as the program receives them


def _json_value(value: Any) -> Any:
    """Go's encoding/json writes a whole float64 without a fraction (12345678901, not 12345678901.0)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, Secret):
        return {"secure": value.ciphertext}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value


def config_string(value: Any) -> str:
    """The string the program gets for a config value: text as it is, anything else as JSON."""
    if isinstance(value, Secret):
        return SECRET_PLACEHOLDER  # the ciphertext cannot be decrypted offline
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(_json_value(value), separators=(",", ":"), sort_keys=True)  # as Go's json.Marshal


# ---------------------------------------------------------------------------------------------------
# The CLI's type checks


def _atoi(text: str) -> bool:
    """Go's strconv.Atoi: optional sign, decimal digits, within int64."""
    return bool(re.fullmatch(r"[-+]?[0-9]+", text)) and -(2**63) <= int(text) < 2**63


def value_has_type(type_name: str, items: Mapping[str, Any] | None, value: Any) -> bool:
    """``ValidateConfigValue``: does ``value`` (a string, or a decoded JSON value) match the declaration?"""
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        if isinstance(value, float):
            return math.isinf(value) or value.is_integer()
        return isinstance(value, str) and _atoi(value)
    if type_name == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_name == "object":
        return isinstance(value, dict)
    if not isinstance(value, list) or items is None:
        return False
    return all(value_has_type(str(items.get("type", "")), items.get("items"), item) for item in value)


def full_type_name(type_name: str, items: Mapping[str, Any] | None) -> str:
    """``InferFullTypeName``: ``array<string>`` for an array of strings."""
    if items is not None:
        return f"array<{full_type_name(str(items.get('type', '')), items.get('items'))}>"
    return type_name


def _check_value(stack: str, key: str, decl: Mapping[str, Any], value: Any) -> str | None:
    if decl.get("secret") and not isinstance(value, Secret):
        return f"Stack '{stack}' with configuration key '{key}' must be encrypted as it's secret"
    if isinstance(value, Secret):
        return None  # the CLI decrypts and checks it; offline the plaintext is unknown
    # A list or object is checked as decoded JSON (numbers are float64 there), anything else as its string.
    content = (json.loads(config_string(value), parse_int=float) if isinstance(value, (list, dict))
               else config_string(value))
    if not value_has_type(str(decl["type"]), decl.get("items"), content):
        return (f"Stack '{stack}' with configuration key '{key}' must be of type "
                f"'{full_type_name(str(decl['type']), decl.get('items'))}'")
    return None


# ---------------------------------------------------------------------------------------------------
# Loading


def _declarations(project: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``Pulumi.yaml``'s config block with the shorthand rewritten (``RewriteShorthandConfigValues``):
    ``key: value`` is a default for a project key and a ``value`` for another namespace's key."""
    declarations = {}
    for key, decl in (project.get("config") or {}).items():
        if isinstance(decl, dict):
            declarations[key] = decl
        elif ":" not in key or key.startswith(f"{project['name']}:"):
            declarations[key] = {"default": decl}
        else:
            declarations[key] = {"value": decl}
    return declarations


def _full_key(project_name: str, key: str) -> str:
    return key if ":" in key else f"{project_name}:{key}"


def read_stack_values(stack: str, root: Path) -> dict[str, Any]:
    """The values ``Pulumi.<stack>.yaml`` sets, typed as the CLI decodes them (``Secret`` for secrets)."""
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        raise StackConfigError(f"no stack file {stack_file.name}: known stacks are {', '.join(known)}")
    document = read_yaml(stack_file) or {}
    return dict(document.get("config") or {}) if isinstance(document, dict) else {}


def load_stack_config(stack: str, root: Path, *, stack_values: Mapping[str, Any] | None = None) -> dict[str, str]:
    """``Pulumi.yaml`` defaults overlaid with the stack's values, type-checked, as the program gets them.

    ``stack_values`` replaces what the stack file sets (typed values, as ``read_stack_values`` returns
    them or as ``pulumi config set`` would store them). Raises ``StackConfigError`` with one line per
    problem.
    """
    project = read_yaml(root / "Pulumi.yaml") or {}
    name = str(project.get("name", ""))
    declarations = _declarations(project)
    values = dict(read_stack_values(stack, root) if stack_values is None else stack_values)
    problems = []
    for key, decl in sorted(declarations.items()):
        if "type" in decl and "default" in decl and not value_has_type(str(decl["type"]), decl.get("items"),
                                                                        decl["default"]):
            problems.append(f"The default value specified for configuration key '{key}' is not of the expected "
                            f"type '{full_type_name(str(decl['type']), decl.get('items'))}'")
        full = _full_key(name, key)
        if full not in values and ("value" in decl or "default" in decl):
            values[full] = decl["value"] if "value" in decl else decl["default"]
    for key, decl in sorted(declarations.items()):
        full = _full_key(name, key)
        if "type" in decl and full in values:
            problem = _check_value(stack, key, decl, values[full])
            if problem:
                problems.append(problem)
    if problems:
        raise StackConfigError(problems)
    return {key: config_string(value) for key, value in values.items()}
