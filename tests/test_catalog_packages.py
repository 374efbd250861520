"""Which package a catalog entry serves in a stack (program/catalog_packages.py), and the
``catalogPackages`` setting that pins it."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from components.model_registry import NoApprovedModelPackage
from program.catalog import load_stack_catalog
from program.catalog_packages import OFFLINE_VARIABLE, served_package_arn
from program.settings import Settings, SettingsError
from tests.catalog.bodies import catalog, framework_body
from tests.test_settings import raw_settings
from tools.mockrun import run_program

PINNED = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-byom-testmodel-models/3"
NEWEST = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-byom-testmodel-models/7"


def settings_with(tmp_path, body, stack="dev", **changes) -> Settings:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog(body)))
    settings = Settings.from_raw(raw_settings(stack, **({"catalogPackages": "{}"} | changes)), stack=stack, project="mlops")
    return replace(settings, catalog=load_stack_catalog(str(path), environment=settings.environment,
                                                        region=settings.region))


def entry_of(settings: Settings):
    return settings.catalog.catalog.models[0]


def test_the_entrys_own_model_package_comes_first(tmp_path):
    settings = settings_with(tmp_path, framework_body("byom_realtime_builtin", registry=True),
                             catalogPackages=json.dumps({"testmodel": PINNED}))
    own = entry_of(settings).value_for("model_package_name", "dev")
    assert served_package_arn(settings, entry_of(settings), lookup=lambda group: NEWEST) == own


def test_a_pinned_package_comes_before_the_registry(tmp_path):
    settings = settings_with(tmp_path, framework_body("byom_realtime_builtin"),
                             catalogPackages=json.dumps({"testmodel": PINNED}))
    assert served_package_arn(settings, entry_of(settings), lookup=lambda group: NEWEST) == PINNED


def test_otherwise_the_newest_approved_package_of_the_entrys_group(tmp_path):
    settings = settings_with(tmp_path, framework_body("byom_realtime_builtin"))
    asked = []
    assert served_package_arn(settings, entry_of(settings), lookup=lambda g: asked.append(g) or NEWEST) == NEWEST
    assert asked == ["mlops-dev-byom-testmodel-models"]


def test_cross_account_the_group_is_addressed_by_its_arn(tmp_path):
    settings = settings_with(tmp_path, framework_body("byom_realtime_builtin"), stack="staging",
                             modelPackageArn=None)
    asked = []
    served_package_arn(settings, entry_of(settings), lookup=lambda g: asked.append(g) or NEWEST)
    assert asked == ["arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/mlops-dev-byom-testmodel-models"]


def test_nothing_is_served_before_the_first_approval(tmp_path):
    settings = settings_with(tmp_path, framework_body("byom_realtime_builtin"))

    def none_approved(group):
        raise NoApprovedModelPackage(group)

    assert served_package_arn(settings, entry_of(settings), lookup=none_approved) is None


def test_offline_nothing_is_looked_up(tmp_path, monkeypatch):
    monkeypatch.setenv(OFFLINE_VARIABLE, "1")
    settings = settings_with(tmp_path, framework_body("byom_realtime_builtin"))
    assert served_package_arn(settings, entry_of(settings)) is None


def test_catalog_packages_must_be_an_object_of_package_arns():
    with pytest.raises(SettingsError) as error:
        Settings.from_raw(raw_settings("dev", catalogPackages=json.dumps({"iris": "arn:aws:s3:::x"})),
                          stack="dev", project="mlops")
    assert error.value.problems == [
        'mlops:catalogPackages = \'{"iris": "arn:aws:s3:::x"}\' is invalid: expected an object {"<model_name>": '
        '"<versioned model package ARN>", ...} (arn:aws:sagemaker:<region>:<account>:model-package/<group>/'
        "<version>); 'iris': 'arn:aws:s3:::x' is not a versioned model package ARN"]


def test_catalog_packages_pin_only_entries_of_the_catalog_from_the_registry_account():
    other = PINNED.replace("111111111111", "999999999999")
    with pytest.raises(SettingsError) as error:
        run_program("dev", overrides={"catalogPackages": json.dumps({"nope": PINNED, "iris-tree": other})},
                    records=[])
    assert error.value.problems == [
        "mlops:catalogPackages.iris-tree = '" + other + "' is invalid: the package is in account 999999999999 "
        "but the model registry is in account 111111111111",
        "mlops:catalogPackages.nope is invalid: mlops-config.json has no model entry 'nope' reaching environment "
        "'dev' (entries here: iris-tree, iris-tree-batch, iris-xgboost, iris-xgboost-batch)"]
