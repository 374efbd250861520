"""The whole program per stack under mocks: provider, tags, account guard, per-environment differences."""

from __future__ import annotations

import json
import textwrap

import pytest

from program.settings import SettingsError
from tools.mockrun import UnmockedInvokeError, run_program
from tools.tokens import AWS_NATIVE_PROVIDER, AWS_PROVIDER, PROVIDER_PREFIX, Token

PROVIDER = AWS_PROVIDER
REQUIRED_TAGS = {"Environment", "Project", "Owner", "CostCenter", "ManagedBy"}


def test_every_resource_has_its_own_urn(each_stack):
    """The engine refuses a second registration of one URN (a type and name given twice); the mocks do not."""
    urns = [r.urn for r in each_stack.resources]
    assert sorted({u for u in urns if urns.count(u) > 1}) == []


def test_one_explicit_provider_with_default_tags(each_stack):
    provider = each_stack.one(PROVIDER)
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert set(tags) == REQUIRED_TAGS
    assert tags["Environment"] == each_stack.stack
    assert tags["Project"] == "mlops"
    assert tags["ManagedBy"] == "pulumi"


def test_the_native_provider_is_configured_like_the_aws_one(each_stack):
    """pulumi-aws-native (the model quality, bias and explainability job definitions) gets the same region,
    account guard, deploy role and default tags as pulumi-aws."""
    aws_provider, native = each_stack.one(PROVIDER), each_stack.one(AWS_NATIVE_PROVIDER)
    assert native.inputs["region"] == aws_provider.inputs["region"]
    assert native.inputs["allowedAccountIds"] == aws_provider.inputs["allowedAccountIds"]
    assert json.loads(native.inputs["defaultTags"]) == json.loads(aws_provider.inputs["defaultTags"])
    assert [json.loads(native.inputs["assumeRole"])] == json.loads(aws_provider.inputs["assumeRoles"])


def test_every_native_resource_uses_the_stack_native_provider(each_stack):
    native = each_stack.one(AWS_NATIVE_PROVIDER)
    for resource in each_stack.resources:
        if resource.custom and resource.type.startswith("aws-native:"):
            assert resource.provider and resource.provider.startswith(native.urn + "::"), resource.name


def test_provider_guards_the_account(each_stack):
    provider = each_stack.one(PROVIDER)
    expected = json.loads(each_stack.config["mlops:allowedAccountIds"])
    assert json.loads(provider.inputs["allowedAccountIds"]) == expected
    assert provider.inputs["region"] == each_stack.config["mlops:region"]


def test_each_stack_deploys_into_its_own_account(stack_run):
    accounts = {s: json.loads(stack_run(s).one(PROVIDER).inputs["allowedAccountIds"])[0]
                for s in ("dev", "staging", "prod")}
    assert len(set(accounts.values())) == 3, accounts


def test_every_stack_deploys_through_its_accounts_deploy_role(stack_run):
    """dev too: the deploy role bootstrap/ creates in each account (the workflows' roles may only assume it)."""
    for stack in ("dev", "staging", "prod"):
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

    for key in ("logRetentionDays", "endpointInstanceType", "endpointMaxCapacity",
                "notificationEmails", "allowedAccountIds"):
        values = [config(s, key) for s in ("dev", "staging", "prod")]
        assert len(set(values)) == 3, (key, values)
    assert int(config("dev", "logRetentionDays")) < int(config("prod", "logRetentionDays"))
    assert config("prod", "protect") == "true" and config("dev", "protect") == "false"


def test_names_carry_the_environment(each_stack):
    for resource in each_stack.resources:
        if not resource.type.startswith(PROVIDER_PREFIX):
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
    # inference; the approval API where it trains; the provisioning API in the registry stack
    assert len(stages) == (3 if each_stack.stack == "dev" else 1)
    for stage in stages:
        assert account.urn in stage.dependencies, stage.name


# --- roles of a stack: who trains, who owns the account's singletons -----------------------------------

TRAINING_TYPES = (Token.CODEPIPELINE_PIPELINE, Token.SFN_STATE_MACHINE, Token.DYNAMODB_TABLE, Token.ECR_REPOSITORY)
SOURCE = {"sourceProvider": "codestar", "sourceRepository": "example-org/mlops-iris",
          "sourceConnectionArn": "arn:aws:codestar-connections:eu-west-1:333333333333:connection/"
                                 "7b1d2f3e-3333-4c6d-9e0f-3456789abcde"}


def test_only_the_registry_stack_trains_by_default(stack_run):
    dev = stack_run("dev")
    assert all(dev.by_type(token) for token in TRAINING_TYPES)
    assert {"trainingPipelineName", "stateMachineArn", "approvalUrl"} <= set(dev.outputs)
    for stack in ("staging", "prod"):
        run = stack_run(stack)
        # (the catalog's batch entries and monitor entries' baseline runs have state machines of their own:
        # tests/test_catalog_batch.py, tests/test_catalog_monitor_entries.py)
        assert [r.name for token in TRAINING_TYPES for r in run.by_type(token)
                if not r.name.startswith(f"mlops-{stack}-batch-") and "-baseline-" not in r.name] == [], stack
        assert not [r for r in run.resources if "approval" in r.name or "workflow" in r.name], stack
        assert {"trainingPipelineName", "stateMachineArn", "approvalUrl", "imageRepositoryUrl"}.isdisjoint(
            run.outputs), stack
        assert run.by_type(Token.SAGEMAKER_ENDPOINT) and "inferenceUrl" in run.outputs  # it serves


def test_a_stack_file_can_ask_for_training(run_stack):
    run = run_stack("prod", overrides={"training": "on", **SOURCE})
    assert run.one(Token.SFN_STATE_MACHINE, "mlops-prod-workflow-state-machine").inputs["name"] == "mlops-prod-training"
    assert "approvalUrl" in run.outputs


def test_training_needs_a_source_only_where_it_runs(run_stack):
    with pytest.raises(SettingsError, match="sourceConnectionArn is missing: it is required when sourceProvider"):
        run_stack("prod", overrides={"training": "on"})


def test_a_stack_whose_workflow_deploys_its_endpoint_must_train(run_stack):
    with pytest.raises(SettingsError) as error:
        run_stack("dev", overrides={"training": "off"})
    assert any("modelDeployment = 'workflow' is invalid with training = 'off'" in p for p in error.value.problems)
    assert any("promotionTargets is invalid with training = 'off'" in p for p in error.value.problems)


def test_one_stack_per_account_owns_the_api_gateway_logging_role(run_stack):
    """Single-account layout: every stack in 111111111111; only dev creates the account's setting and
    role, so no stack overwrites it and destroying staging cannot delete the role dev's APIs use."""
    runs = [run_stack(stack, overrides={"allowedAccountIds": '["111111111111"]',
                                        "accountResources": "true" if stack == "dev" else "false"})
            for stack in ("dev", "staging", "prod")]
    owners = [run.stack for run in runs if run.by_type(Token.APIGATEWAY_ACCOUNT)]
    assert owners == ["dev"]
    for run in runs[1:]:
        assert not [r for r in run.by_type(Token.IAM_ROLE) if "apigateway" in r.name]
        for stage in run.by_type(Token.APIGATEWAY_STAGE):
            assert stage.dependencies == [] or all("apigateway-account" not in d for d in stage.dependencies)
