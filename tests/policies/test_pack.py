"""The pack as a whole: rule metadata, one mirror test file per rule module, per-environment config files,
the taggable-type list."""

import importlib
import json
import pathlib
import re

import pytest
from pulumi_policy import EnforcementLevel

from policies.rules import ALL_POLICIES
from tests.policies.derive_taggable_types import TARGET, derive
from tools.policy_runner import PolicyConfigError, PolicyDescriptor, parse_policy_config, reconcile_policy_config
from tools.tokens import Token

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[2] / "policies" / "config"
RULES_DIR = CONFIG_DIR.parent / "rules"
TESTS_DIR = pathlib.Path(__file__).resolve().parent
PACK_TESTS = {"test_pack.py", "test_runner.py"}  # the pack as a whole and its gRPC runner
NAME = re.compile(r"^aws-[a-z0-9]+-[a-z0-9]+-(enable|disallow|configure|missing)-[a-z0-9-]+$")
PACK_DEFAULT = "mandatory"  # policies/__main__.py


def descriptors():
    return [
        PolicyDescriptor(
            name=p.name,
            enforcement_level=(p.enforcement_level or EnforcementLevel(PACK_DEFAULT)).value,
            config_properties=p.config_schema.properties if p.config_schema else {},
            config_required=tuple(p.config_schema.required or ()) if p.config_schema else (),
        )
        for p in ALL_POLICIES
    ]


@pytest.mark.parametrize("policy", ALL_POLICIES, ids=lambda p: p.name)
def test_rule_metadata(policy):
    assert NAME.match(policy.name), f"{policy.name} does not follow aws-<service>-<resource>-<verb>-<thing>"
    assert policy.description and policy.description.endswith(".")
    assert policy.severity is not None
    assert policy.remediation_steps and len(policy.remediation_steps) > 30
    assert callable(policy.check)


def test_rule_names_unique():
    names = [p.name for p in ALL_POLICIES]
    assert len(names) == len(set(names))


def rule_modules() -> list[str]:
    return sorted(p.stem for p in RULES_DIR.glob("*.py") if p.name != "__init__.py")


def mirror(module: str) -> str:
    """policies/rules/<area>.py is tested in tests/policies/test_<area>.py (``_support`` in test_support.py)."""
    return f"test_{module.lstrip('_')}.py"


def test_every_rule_module_has_its_mirror_test_file():
    missing = [f"policies/rules/{m}.py -> tests/policies/{mirror(m)}" for m in rule_modules()
               if not (TESTS_DIR / mirror(m)).is_file()]
    assert missing == [], f"rule modules without their test file: {missing}"


def test_every_test_file_mirrors_a_rule_module_or_tests_the_pack():
    expected = {mirror(m) for m in rule_modules()} | PACK_TESTS
    strays = sorted(p.name for p in TESTS_DIR.glob("test_*.py") if p.name not in expected)
    assert strays == [], f"test files that mirror no policies/rules module: {strays}"


@pytest.mark.parametrize("module", [m for m in rule_modules() if not m.startswith("_")])
def test_every_rule_of_a_module_is_in_the_pack_and_in_its_mirror_metadata(module):
    rules = importlib.import_module(f"policies.rules.{module}").POLICIES
    spec = importlib.import_module(f"tests.policies.{mirror(module).removesuffix('.py')}")
    assert [row[0] for row in spec.METADATA] == rules, f"{mirror(module)} METADATA does not list {module}.POLICIES in order"
    assert all(any(rule is p for p in ALL_POLICIES) for rule in rules), f"{module}.POLICIES not all in ALL_POLICIES"


@pytest.mark.parametrize("env,level", [("dev", "advisory"), ("staging", "mandatory"), ("prod", "mandatory")])
def test_environment_config_is_valid_and_sets_the_level(env, level):
    reconciled = reconcile_policy_config(descriptors(), parse_policy_config(CONFIG_DIR / f"{env}.json"))
    assert set(reconciled) == {p.name for p in ALL_POLICIES}
    assert {c.enforcement_level for c in reconciled.values()} == {level}


def test_schema_defaults_are_applied_and_overridden():
    reconciled = reconcile_policy_config(descriptors(), parse_policy_config(CONFIG_DIR / "prod.json"))
    assert reconciled["aws-s3-bucket-missing-encryption"].properties == {"allowedAlgorithms": ["aws:kms", "aws:kms:dsse"]}
    assert reconciled["aws-lambda-function-configure-timeout"].properties == {"maxTimeoutSeconds": 300}
    dev = reconcile_policy_config(descriptors(), parse_policy_config(CONFIG_DIR / "dev.json"))
    assert dev["aws-sagemaker-endpoint-configure-instance-budget"].properties == {"maxEndpointInstances": 2}


def test_environments_differ_where_they_should():
    def props(env, policy):
        return json.loads((CONFIG_DIR / f"{env}.json").read_text())[policy]

    capture = "aws-sagemaker-endpointconfig-enable-data-capture"
    assert props("dev", capture)["requireDataCapture"] is False
    assert props("prod", capture)["requireDataCapture"] is True
    budget = "aws-sagemaker-endpoint-configure-instance-budget"
    assert props("dev", budget)["maxEndpointInstances"] < props("prod", budget)["maxEndpointInstances"]


BAD_CONFIGS = [
    ({"all": "strict"}, "'strict' is not an enforcement level"),
    ({"aws-no-such-rule": "advisory"}, "aws-no-such-rule: no such policy"),
    ({"aws-lambda-function-configure-timeout": {"maxTimeoutSeconds": 2000}}, "2000 is greater than the maximum of 900"),
    ({"aws-lambda-function-configure-timeout": {"maxTimeout": 60}}, "Additional properties are not allowed ('maxTimeout'"),
    ({"aws-sagemaker-endpointconfig-configure-instance-type": {"allowedInstanceTypes": ["m5.large"]}}, "does not match"),
    ({"aws-s3-bucket-missing-encryption": {"enforcementLevel": "off"}}, "enforcementLevel 'off'"),
]


@pytest.mark.parametrize("raw,message", BAD_CONFIGS, ids=[m for _, m in BAD_CONFIGS])
def test_bad_config_is_rejected_with_a_clear_message(raw, message):
    with pytest.raises(PolicyConfigError) as excinfo:
        reconcile_policy_config(descriptors(), parse_policy_config(raw))
    assert message in str(excinfo.value)


def test_taggable_types_match_the_pinned_pulumi_aws():
    shipped = json.loads(TARGET.read_text())
    assert shipped == derive(), "regenerate with: .venv/bin/python -m tests.policies.derive_taggable_types --write"
    assert Token.S3_BUCKET in shipped and Token.S3_BUCKET_POLICY not in shipped
