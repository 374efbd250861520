"""Settings of the endpoint, the inference API and promotion: one test per validation rule."""

from __future__ import annotations

import pytest

from program.settings import Settings, SettingsError
from tests.test_settings import raw_settings

PACKAGE = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-models/7"


def problems(stack: str = "dev", **changes: str | None) -> list[str]:
    with pytest.raises(SettingsError) as error:
        Settings.from_raw(raw_settings(stack, **changes), stack=stack)
    return error.value.problems


def test_stack_files_parse_into_endpoint_inference_and_promotion_settings():
    dev = Settings.from_raw(raw_settings("dev"), stack="dev")
    staging = Settings.from_raw(raw_settings("staging"), stack="staging")
    prod = Settings.from_raw(raw_settings("prod"), stack="prod")
    assert dev.promotion.enabled and not staging.promotion.enabled and not prod.promotion.enabled
    assert dev.endpoint.model_package_arn is None
    assert staging.endpoint.registry_account_id == prod.endpoint.registry_account_id == dev.account_id
    assert staging.endpoint.model_package_arn.startswith(f"arn:aws:sagemaker:eu-west-1:{dev.account_id}:")
    assert dev.inference.auth == "api-key" and prod.inference.auth == "iam"
    assert dev.endpoint.feature_count == 4


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("modelPackageArn", "arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/mlops-dev-models",
         "a versioned model package ARN"),
        ("modelPackageArn", "mlops-dev-models/3", "a versioned model package ARN"),
        ("registryAccountId", "1111", "12-digit account id"),
        ("modelFeatureCount", "0", "an integer from 1 to 10000"),
        ("inferenceAuth", "none", "one of iam, api-key"),
        ("inferenceThrottleRateLimit", "0", "an integer from 1 to 10000"),
        ("inferenceThrottleBurstLimit", "9999", "an integer from 1 to 5000"),
        ("promotionTargets", '[{"environment": "staging", "deployRoleArn": "arn:aws:iam::222222222222:user/d"}]',
         "deployRoleArn = 'arn:aws:iam::222222222222:user/d' is invalid: expected an IAM role ARN"),
        ("promotionTargets", '{"environment": "staging"}', "a list of {"),
        ("registryEnvironment", "Dev", "an environment name"),
        ("environment", "x", "an environment name: 2 to 16 lowercase letters"),
        ("endpointTesterRole", "yes", "true or false"),
        ("promotionBranch", "a branch", "a git branch name"),
        ("promotionPulumiBackendUrl", "http://insecure.example.com", "a Pulumi backend URL"),
        ("promotionPulumiTokenSecretArn", "arn:aws:ssm:eu-west-1:111111111111:parameter/x", "Secrets Manager"),
    ],
)
def test_invalid_value_names_key_value_and_what_is_allowed(key, value, expected):
    stack = "staging" if key in ("modelPackageArn", "registryAccountId") else "dev"
    (problem,) = problems(stack, **{key: value})
    assert problem.startswith(f"mlops:{key} = {value!r} is invalid")
    assert expected in problem


def test_pinned_package_must_come_from_the_registry_account():
    other = PACKAGE.replace("111111111111", "999999999999")
    (problem,) = problems("staging", modelPackageArn=other)
    assert "the package is in account 999999999999 but the model registry is in account 111111111111" in problem


def test_registry_defaults_to_the_stacks_own_account():
    own = PACKAGE.replace("111111111111", "222222222222")
    settings = Settings.from_raw(raw_settings("staging", registryAccountId="", modelPackageArn=own), stack="staging")
    assert settings.endpoint.registry_account_id is None
    (problem,) = problems("staging", registryAccountId="", modelPackageArn=PACKAGE)
    assert "model registry is in account 222222222222" in problem


def test_workflow_managed_stack_cannot_pin_a_package():
    (problem,) = problems("dev", modelPackageArn=PACKAGE)
    assert problem.startswith(f"mlops:modelPackageArn = {PACKAGE!r} is invalid with modelDeployment = 'workflow'")


def test_promotion_targets_belong_to_the_registry_stack_only():
    targets = '[{"environment": "qa", "deployRoleArn": "arn:aws:iam::444444444444:role/mlops-deployer"}]'
    found = problems("prod", promotionTargets=targets)
    assert any(p.startswith("mlops:promotionTargets is invalid in environment 'prod': promotion runs in the stack "
                            "that owns the model registry (registryEnvironment = 'dev')") for p in found), found


def test_every_problem_of_every_target_is_reported_at_once():
    targets = ('[{"environment": "staging", "deployRoleArn": "arn:aws:iam::222222222222:role/d", "aproval": true},'
               ' {"environment": "staging", "deployRoleArn": "nope", "approval": "yes"}, 7]')
    (problem,) = problems("dev", promotionTargets=targets)
    for expected in ("entry 0 has unknown field(s) aproval", "entry 1: environment 'staging' is listed twice",
                     "entry 1: deployRoleArn = 'nope' is invalid", "entry 1: approval = 'yes' is invalid",
                     "entry 2 is 7: expected an object"):
        assert expected in problem, problem


def test_a_target_is_not_the_registry_itself():
    targets = '[{"environment": "dev", "deployRoleArn": "arn:aws:iam::111111111111:role/d"}]'
    (problem,) = problems("dev", promotionTargets=targets)
    assert "promotionTargets lists this stack's own environment 'dev'" in problem


def test_no_targets_no_promotion():
    settings = Settings.from_raw(raw_settings("dev", promotionTargets="[]"), stack="dev")
    assert not settings.promotion.enabled
    targets = Settings.from_raw(raw_settings("dev"), stack="dev").promotion.targets
    assert [(t.environment, t.approval, t.integration_tests) for t in targets] == [
        ("staging", False, True), ("prod", True, False)]


def test_tester_role_only_where_promotion_deploys_the_endpoint():
    found = problems("dev", endpointTesterRole="true")
    assert any("endpointTesterRole = true is invalid in the registry stack" in p for p in found), found
    found = problems("prod", endpointTesterRole="true", modelDeployment="workflow", training="on",
                     sourceRepository="o/r", sourceConnectionArn="arn:aws:codestar-connections:eu-west-1:"
                                                                "333333333333:connection/" + "0" * 36)
    assert any("endpointTesterRole = true is invalid with modelDeployment = 'workflow'" in p for p in found), found
