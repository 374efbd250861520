"""Stack settings: every key declared in Pulumi.yaml, validated with errors that name key, value, rule."""

from __future__ import annotations

import json

import pytest
import yaml

from program.settings import KEYS, Settings, SettingsError
from tools.mockrun import ROOT, STACKS, load_stack_config


def raw_settings(stack: str = "dev", **changes: str | None) -> dict[str, str]:
    raw = {k.split(":", 1)[1]: v for k, v in load_stack_config(stack).items() if k.startswith("mlops:")}
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def test_every_key_in_pulumi_yaml_is_parsed_and_vice_versa():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert set(declared) == set(KEYS)
    for key, decl in declared.items():
        # promotionTargets (a list of objects) and catalogPackages (an object) cannot be typed in Pulumi.yaml:
        # untyped project values.
        expected = {None} if key in ("promotionTargets", "catalogPackages") else {"string", "integer", "boolean", "array"}
        assert decl.get("type") in expected, key
        assert decl.get("description"), key


def test_required_keys_have_no_default_and_optional_ones_do():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    required = {k for k, d in declared.items() if "default" not in d and "value" not in d}
    assert required == {"environment", "owner", "costCenter", "allowedAccountIds", "notificationEmails"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_is_valid(stack):
    settings = Settings.from_raw(raw_settings(stack), stack=stack)
    assert settings.environment == stack
    assert settings.tags["Environment"] == stack


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("environment", "Prod_1", "expected an environment name: 2 to 16 lowercase letters, digits or '-'"),
        ("trainingInstanceCount", "-1", "expected an integer from 1 to 20"),
        ("endpointInstanceCount", "two", "expected an integer from 1 to 20"),
        ("notificationEmails", json.dumps(["ops@example.com", "not-an-email"]), "expected a list of e-mail"),
        ("notificationEmails", "ops@example.com", "expected a list of e-mail"),
        ("trainingInstanceType", "m5.large", "must start with 'ml.'"),
        ("endpointInstanceType", "ml.banana", "SageMaker instance type"),
        ("allowedAccountIds", json.dumps(["12345"]), "12-digit AWS account ids"),
        ("allowedAccountIds", "[]", "with at least 1 item"),
        ("logRetentionDays", "10", "one of 1, 3, 5, 7, 14"),
        ("protect", "yes", "true or false"),
        ("minAccuracy", "1.5", "a number from 0.0 to 1.0"),
        ("deployRoleArn", "arn:aws:iam::123:user/x", "IAM role ARN"),
        ("region", "Europe", "AWS region name"),
        ("sourceProvider", "svn", "one of codestar, codecommit, s3"),
    ],
)
def test_invalid_value_names_key_value_and_what_is_allowed(key, value, expected):
    with pytest.raises(SettingsError) as error:
        Settings.from_raw(raw_settings(**{key: value}), stack="dev")
    (problem,) = error.value.problems
    assert problem.startswith(f"mlops:{key} = {value!r} is invalid")
    assert expected in problem


@pytest.mark.parametrize(
    ("key", "command"),
    [("environment", "pulumi config set environment <value>"), ("owner", "pulumi config set owner <value>"),
     ("costCenter", "pulumi config set costCenter <value>"),
     # lists are set item by item: `pulumi config set allowedAccountIds <value>` would store a string
     ("allowedAccountIds", "pulumi config set --path 'allowedAccountIds[0]' <value>"),
     ("notificationEmails", "pulumi config set --path 'notificationEmails[0]' <value>")],
)
def test_missing_required_key(key, command):
    with pytest.raises(SettingsError) as error:
        Settings.from_raw(raw_settings(**{key: None}), stack="dev")
    assert error.value.problems == [f"mlops:{key} is missing: it is required (set it with `{command}`)"]


def test_all_problems_are_reported_at_once():
    with pytest.raises(SettingsError) as error:
        Settings.from_raw(raw_settings(trainingInstanceCount="0", environment="T", owner=None), stack="dev")
    assert len(error.value.problems) == 3


def test_unknown_key_is_reported_as_a_probable_typo():
    with pytest.raises(SettingsError, match="mlops:trainingInstanceTyp is not a known setting"):
        Settings.from_raw(raw_settings(trainingInstanceTyp="ml.m5.large"), stack="dev")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"endpointMinCapacity": "3", "endpointMaxCapacity": "2", "endpointInstanceCount": "2"},
         "endpointMinCapacity = 3 is invalid: expected at most endpointMaxCapacity (2)"),
        ({"endpointInstanceCount": "5"}, "endpointInstanceCount = 5 is invalid"),
        ({"endpointDeploymentStrategy": "canary"}, "canary and linear traffic shifting need at least 2 instances"),
        ({"sourceConnectionArn": ""}, "sourceConnectionArn is missing: it is required when sourceProvider is 'codestar'"),
        ({"sourceProvider": "s3"}, "sourceBucket is missing: it is required when sourceProvider is 's3'"),
    ],
)
def test_cross_key_rules(changes, expected):
    with pytest.raises(SettingsError) as error:
        Settings.from_raw(raw_settings(**changes), stack="dev")
    assert any(expected in p for p in error.value.problems), error.value.problems


def test_settings_are_immutable():
    settings = Settings.from_raw(raw_settings(), stack="dev")
    with pytest.raises(AttributeError):
        settings.environment = "prod"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        settings.training.instance_count = 3  # type: ignore[misc]


def test_hyperparameters_come_from_config_as_strings():
    settings = Settings.from_raw(raw_settings(trainingMaxDepth="7", trainingCriterion="entropy"), stack="dev")
    assert settings.training.hyperparameters == {"max_depth": "7", "min_samples_leaf": "1", "criterion": "entropy"}


@pytest.mark.parametrize(
    ("key", "instead"),
    [("region", "set mlops:region instead (`pulumi config set region <region>`)"),
     ("profile", "export AWS_PROFILE=<profile> where pulumi runs instead"),
     ("assumeRoles", "set mlops:deployRoleArn instead"),
     ("skipCredentialsValidation", "remove it")],
)
def test_aws_provider_keys_are_refused_with_what_to_set_instead(key, instead):
    """aws:* configures Pulumi's default AWS provider; every resource here uses the stack's own provider."""
    with pytest.raises(SettingsError) as error:
        Settings.from_raw(raw_settings(), stack="dev", provider_keys=[key])
    (problem,) = error.value.problems
    assert problem.startswith(f"aws:{key} is set, but it configures Pulumi's default AWS provider, which this "
                              "program does not use")
    assert instead in problem and f"`pulumi config rm aws:{key}`" in problem


@pytest.mark.parametrize("key", ["aws:region", "aws:profile"])
def test_aws_provider_keys_in_the_stacks_config_stop_the_program(run_stack, key):
    """What the CLI passes from the stack file or an ESC environment's pulumiConfig reaches load_settings."""
    with pytest.raises(SettingsError) as error:
        run_stack("staging", overrides={key: "us-east-1" if key == "aws:region" else "ml-admin"})
    assert [p.split(" is set")[0] for p in error.value.problems] == [key]
