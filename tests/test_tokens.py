"""tools/tokens.py: every type token is well formed, real, named after itself, and used by the mocks and rules."""

import functools
import importlib.util
import pathlib
import re
from collections.abc import Mapping, Set

import pytest

import policies.rules
from tools.mockrun import OUTPUT_TEMPLATES
from tools.tokens import AWS_NATIVE_PROVIDER, AWS_PROVIDER, PROVIDER_PREFIX, ROOT_STACK, Token

FORM = re.compile(r"^(?P<pkg>[a-z][a-z0-9]*):(?P<module>[a-z][a-z0-9]*)/(?P<name>[a-z][A-Za-z0-9]*):(?P<type>[A-Za-z][A-Za-z0-9]*)$")
NATIVE_FORM = re.compile(r"^aws-native:(?P<module>[a-z][a-z0-9]*):(?P<type>[A-Z][A-Za-z0-9]*)$")
_RESOURCE = re.compile(r"super\(\w+, __self__\)\.__init__\(\s*'(aws:[^']+)'")
_NATIVE_RESOURCE = re.compile(r"super\(\w+, __self__\)\.__init__\(\s*'(aws-native:[^']+)'")
_INVOKE = re.compile(r"pulumi\.runtime\.invoke(?:_output)?\(\s*'(aws:[^']+)'")


@functools.cache
def pulumi_aws_tokens() -> frozenset[str]:
    """Every resource and data-source token the installed (pinned) pulumi-aws registers."""
    spec = importlib.util.find_spec("pulumi_aws")
    assert spec is not None and spec.origin is not None, "pulumi_aws is not installed"
    tokens: set[str] = set()
    for source in pathlib.Path(spec.origin).parent.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        tokens.update(_RESOURCE.findall(text))
        tokens.update(_INVOKE.findall(text))
    return frozenset(tokens)


@functools.cache
def pulumi_aws_native_tokens() -> frozenset[str]:
    """Every SageMaker resource token the installed (pinned) pulumi-aws-native registers (the program uses no other)."""
    spec = importlib.util.find_spec("pulumi_aws_native")
    assert spec is not None and spec.origin is not None, "pulumi_aws_native is not installed"
    folder = pathlib.Path(spec.origin).parent / "sagemaker"
    return frozenset(t for source in folder.glob("*.py") for t in _NATIVE_RESOURCE.findall(source.read_text("utf-8")))


def native(token: str) -> bool:
    return token.startswith("aws-native:")


def member_name(token: str) -> str:
    """``aws:iam/rolePolicy:RolePolicy`` -> ``IAM_ROLE_POLICY``; ``aws:index/getRegion:getRegion`` -> ``GET_REGION``;
    ``aws-native:sagemaker:ModelBiasJobDefinition`` -> ``NATIVE_SAGEMAKER_MODEL_BIAS_JOB_DEFINITION``."""
    if native(token):
        match = NATIVE_FORM.match(token)
        assert match, token
        words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", match["type"]).upper()
        return f"NATIVE_{match['module'].upper()}_{words}"
    match = FORM.match(token)
    assert match, token
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", match["type"]).upper()
    return words if match["module"] == "index" else f"{match['module'].upper()}_{words}"


@pytest.mark.parametrize("token", list(Token), ids=[t.name for t in Token])
def test_token_has_the_form_pkg_module_name_type(token):
    if native(token):
        assert NATIVE_FORM.match(token), f"{token.name} = {token.value!r} is not aws-native:module:Type"
        return
    match = FORM.match(token)
    assert match, f"{token.name} = {token.value!r} is not pkg:module/name:Type"
    assert match["pkg"] == "aws"
    # The name part is the Type with a lower-case first letter (resources) or the Type itself (functions).
    assert match["name"] == match["type"][0].lower() + match["type"][1:], f"{token.value}: name and Type differ"


@pytest.mark.parametrize("token", list(Token), ids=[t.name for t in Token])
def test_member_is_named_after_its_token(token):
    assert token.name == member_name(token.value)


def test_the_pinned_pulumi_aws_defines_every_token():
    unknown = sorted(t.value for t in Token if not native(t) and t.value not in pulumi_aws_tokens())
    assert unknown == [], f"not defined by the installed pulumi-aws: {unknown}"


def test_the_pinned_pulumi_aws_native_defines_every_native_token():
    natives = [t.value for t in Token if native(t)]
    assert natives, "no aws-native tokens"
    unknown = sorted(t for t in natives if t not in pulumi_aws_native_tokens())
    assert unknown == [], f"not defined by the installed pulumi-aws-native: {unknown}"
    assert member_name("aws-native:sagemaker:ModelBiasJobDefinition") == "NATIVE_SAGEMAKER_MODEL_BIAS_JOB_DEFINITION"


def test_tokens_compare_equal_to_their_strings():
    assert Token.IAM_ROLE == "aws:iam/role:Role" and f"{Token.IAM_ROLE}" == "aws:iam/role:Role"
    assert {Token.IAM_ROLE: 1}["aws:iam/role:Role"] == 1


def test_mock_output_templates_are_keyed_by_enum_members():
    assert OUTPUT_TEMPLATES, "no output templates"
    strays = [key for key in OUTPUT_TEMPLATES if not isinstance(key, Token)]
    assert strays == [], f"OUTPUT_TEMPLATES keys that are not Token members: {strays}"


# ``*_TYPES`` constants of the rule modules that are not lists of tokens this enum should hold.
NOT_TOKEN_CONSTANTS = {
    "tagging.TAGGABLE_TYPES": "every taggable pulumi-aws type, derived and checked in tests/policies/test_pack.py",
    "sagemaker.DEFAULT_INSTANCE_TYPES": "EC2 instance types, not type tokens",
}


def _rule_type_constants() -> list[tuple[str, str]]:
    """``(module.CONSTANT, token)`` for every ``*_TYPE`` / ``*_TYPES`` constant of the rule modules."""
    found = []
    for path in sorted(pathlib.Path(policies.rules.__file__).parent.glob("[!_]*.py")):
        module = importlib.import_module(f"policies.rules.{path.stem}")
        for attr, value in vars(module).items():
            if not attr.isupper() or not (attr.endswith("_TYPE") or attr.endswith("_TYPES")):
                continue
            if f"{path.stem}.{attr}" in NOT_TOKEN_CONSTANTS:
                continue
            values = [value] if isinstance(value, str) else list(value) if isinstance(value, (Set, Mapping)) else None
            assert values is not None, f"{path.stem}.{attr} is neither a token nor a set/mapping of tokens"
            found += [(f"{path.stem}.{attr}", v) for v in values]
    return found


def test_policy_rule_type_constants_are_enum_members():
    # The pack keeps its own constants (it cannot import tools/); they must spell the same tokens.
    constants = _rule_type_constants()
    assert len(constants) >= 20, constants
    strays = [(where, value) for where, value in constants if value not in set(Token)]
    assert strays == [], f"rule constants that are not Token members: {strays}"


def test_pulumi_builtin_types_are_not_tokens():
    assert AWS_PROVIDER == PROVIDER_PREFIX + "aws" == "pulumi:providers:aws"
    assert AWS_NATIVE_PROVIDER == PROVIDER_PREFIX + "aws-native" == "pulumi:providers:aws-native"
    assert ROOT_STACK == "pulumi:pulumi:Stack"
    assert not {AWS_PROVIDER, AWS_NATIVE_PROVIDER, ROOT_STACK} & set(Token)
