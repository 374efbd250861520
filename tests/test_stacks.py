"""The whole program per stack under mocks: provider, tags, account guard, per-environment differences."""

from __future__ import annotations

import json
import textwrap

import pytest

from program.settings import SettingsError
from tools.mockrun import UnmockedInvokeError, run_program
from tools.tokens import AWS_PROVIDER, Token

PROVIDER = AWS_PROVIDER
REQUIRED_TAGS = {"Environment", "Project", "Owner", "CostCenter", "ManagedBy"}


def test_one_explicit_provider_with_default_tags(each_stack):
    provider = each_stack.one(PROVIDER)
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert set(tags) == REQUIRED_TAGS
    assert tags["Environment"] == each_stack.stack
    assert tags["Project"] == "mlops"
    assert tags["ManagedBy"] == "pulumi"


def test_provider_guards_the_account(each_stack):
    provider = each_stack.one(PROVIDER)
    expected = json.loads(each_stack.config["mlops:allowedAccountIds"])
    assert json.loads(provider.inputs["allowedAccountIds"]) == expected
    assert provider.inputs["region"] == each_stack.config["mlops:region"]


def test_each_stack_deploys_into_its_own_account(stack_run):
    accounts = {s: json.loads(stack_run(s).one(PROVIDER).inputs["allowedAccountIds"])[0]
                for s in ("dev", "staging", "prod")}
    assert len(set(accounts.values())) == 3, accounts


def test_cross_account_stacks_assume_the_deploy_role(stack_run):
    assert "assumeRoles" not in stack_run("dev").one(PROVIDER).inputs
    for stack in ("staging", "prod"):
        roles = json.loads(stack_run(stack).one(PROVIDER).inputs["assumeRoles"])
        assert roles == [{"roleArn": stack_run(stack).config["mlops:deployRoleArn"],
                          "sessionName": f"pulumi-mlops-{stack}"}]
        account = json.loads(stack_run(stack).config["mlops:allowedAccountIds"])[0]
        assert f"::{account}:role/" in roles[0]["roleArn"]


def test_every_aws_resource_uses_the_stack_provider(each_stack):
    provider = each_stack.one(PROVIDER)
    for resource in each_stack.resources:
        if resource.custom and resource.type.startswith("aws:"):
            assert resource.provider and resource.provider.startswith(provider.urn + "::"), resource.name


def test_stateful_resources_are_protected_only_where_configured(stack_run):
    def protected(stack):
        return {r.type for r in stack_run(stack).resources if r.protect}

    assert protected("dev") == set()
    assert protected("staging") == set()
    assert {Token.KMS_KEY, Token.S3_BUCKET} <= protected("prod")


def test_per_environment_settings_differ(stack_run):
    def config(stack, key):
        return stack_run(stack).config[f"mlops:{key}"]

    for key in ("logRetentionDays", "approvalTimeoutSeconds", "endpointInstanceType", "endpointMaxCapacity",
                "notificationEmails", "allowedAccountIds"):
        values = [config(s, key) for s in ("dev", "staging", "prod")]
        assert len(set(values)) == 3, (key, values)
    assert int(config("dev", "logRetentionDays")) < int(config("prod", "logRetentionDays"))
    assert config("prod", "protect") == "true" and config("dev", "protect") == "false"


def test_names_carry_the_environment(each_stack):
    for resource in each_stack.resources:
        if resource.type != PROVIDER:
            assert resource.name.startswith(f"mlops-{each_stack.stack}-"), resource.name


def test_invalid_config_stops_before_any_resource_is_registered():
    records = []
    with pytest.raises(SettingsError) as error:
        run_program("dev", overrides={"trainingInstanceCount": "-2", "environment": "QA"}, records=records)
    assert records == []
    assert "mlops:trainingInstanceCount = '-2' is invalid" in str(error.value)
    assert "mlops:environment = 'QA' is invalid: expected an environment name" in str(error.value)


def test_unmocked_invoke_fails_the_run(tmp_path):
    program = tmp_path / "__main__.py"
    program.write_text(textwrap.dedent("""
        import pulumi_aws as aws
        aws.ec2.get_vpc(default=True)
    """))
    with pytest.raises(UnmockedInvokeError, match=f"{Token.EC2_GET_VPC} has no mock"):
        run_program("dev", program=program)


def test_runs_are_isolated_from_each_other():
    first = run_program("dev")
    second = run_program("dev")
    assert sorted(r.urn for r in first.resources) == sorted(r.urn for r in second.resources)
    assert len({r.urn for r in second.resources}) == len(second.resources)


def test_source_errors_stop_the_program_before_any_resource():
    records = []
    with pytest.raises(SettingsError, match="sourceRepository = 'just-a-name' is invalid: expected owner/name"):
        run_program("dev", overrides={"sourceRepository": "just-a-name"}, records=records)
    assert records == []


def test_api_stages_wait_for_the_accounts_api_gateway_logging_role(each_stack):
    (account,) = each_stack.by_type(Token.APIGATEWAY_ACCOUNT)
    stages = each_stack.by_type(Token.APIGATEWAY_STAGE)
    assert len(stages) == 2  # the approval and the inference API
    for stage in stages:
        assert account.urn in stage.dependencies, stage.name
