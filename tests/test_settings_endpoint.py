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
        ("promotionStagingRoleArn", "arn:aws:iam::222222222222:user/deployer", "IAM role ARN"),
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


def test_promotion_roles_belong_to_the_registry_stack_only():
    role = "arn:aws:iam::333333333333:role/mlops-deployer"
    (problem,) = problems("prod", promotionProdRoleArn=role)
    assert problem.startswith(f"mlops:promotionProdRoleArn = {role!r} is invalid with modelDeployment = 'promotion'")


def test_promotion_needs_both_roles_or_neither():
    (problem,) = problems("dev", promotionProdRoleArn="")
    assert problem.startswith("mlops:promotionProdRoleArn is missing: promotion needs both")
    settings = Settings.from_raw(raw_settings("dev", promotionProdRoleArn="", promotionStagingRoleArn=""), stack="dev")
    assert not settings.promotion.enabled
