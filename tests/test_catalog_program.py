"""The model catalog in the program: read before any resource, carried on Settings, refused with exit 2."""

from __future__ import annotations

import json

import pytest
import yaml

from catalog.validate import CatalogError
from program.catalog import load_stack_catalog, topology_environments
from program.settings import SettingsError
from tests.catalog.bodies import catalog, framework_body
from tests.catalog.monitor_bodies import monitor_body
from tools import mockrun, preview
from tools.mockrun import ROOT, STACKS, run_components, run_program


def write(tmp_path, document) -> str:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_catalog_file_is_a_declared_setting_defaulting_to_the_shipped_example():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]["catalogFile"]
    assert declared["type"] == "string" and declared["default"] == "mlops-config.json"
    assert (ROOT / declared["default"]).is_file()


def test_the_topology_is_the_stack_files_and_this_stack():
    assert topology_environments(ROOT) == STACKS == ("dev", "prod", "staging")
    assert topology_environments(ROOT, "qa") == ("dev", "prod", "qa", "staging")


@pytest.mark.parametrize("stack", STACKS)
def test_each_stack_carries_the_validated_example_catalog(stack):
    seen = {}

    def build(settings):
        seen["settings"] = settings
        return {}

    run_components(stack, build)
    stack_catalog = seen["settings"].catalog
    assert stack_catalog.file == "mlops-config.json"
    assert [e.label for e in stack_catalog.catalog.entries] == [
        "pipelines[0] (model_name 'iris-xgboost')", "pipelines[1] (model_name 'iris-tree')",
        "pipelines[2] (model_name 'iris-xgboost-batch')", "pipelines[3] (model_name 'iris-tree-batch')",
        "pipelines[4] (image builder iris-tree:1.0)", "pipelines[5] (byom_data_quality_monitor 'iris-xgboost')",
        "pipelines[6] (byom_model_quality_monitor 'iris-xgboost')"]
    # per-environment values resolve for this stack's environment
    capture = stack_catalog.catalog.model("iris-tree").value_for("data_capture_location", stack)
    assert capture.bucket.startswith(f"mlops-{stack}-")
    # built-in images resolved by sagemaker-core for the stack's region (never a hand-written registry table)
    for name in ("iris-xgboost", "iris-xgboost-batch"):
        assert stack_catalog.builtin_image(name).endswith(".dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1")


@pytest.mark.parametrize("stack", STACKS)
def test_entries_add_only_their_own_resources(stack, stack_run, tmp_path):
    """The shipped catalog adds to a stack only resources named for the catalog (``-byom-``), and removes
    nothing: without entries the stack is what it was before the catalog. dev (the registry) builds the image
    entry's image; entries that create nothing yet add nothing."""
    empty = run_program(stack, overrides={"catalogFile": write(tmp_path, catalog()), "catalogPackages": "{}"})
    before = {(r.type, r.name) for r in empty.resources}
    after = {(r.type, r.name) for r in stack_run(stack).resources}
    assert before <= after
    added = after - before
    assert all(any(part in name for part in ("-byom-", "-batch-", "-inference-", "-promotion-deploy-dev"))
               for _, name in added), sorted(added)
    components = {(t, n) for t, n in added if not t.startswith("aws:")}
    batch = {("mlops:catalog:BatchPipeline", f"mlops-{stack}-batch-{model}")
             for model in ("iris-xgboost-batch", "iris-tree-batch")}
    assert batch <= components
    images = {("mlops:catalog:ImageBuild", "mlops-dev-byom-image-iris-tree:1.0"),
              ("mlops:registry:ModelImageRepository", "mlops-dev-byom-image-iris-tree")}
    assert (images <= components) == (stack == "dev")


def test_an_empty_catalog_creates_no_catalog_resources(stack_run, tmp_path):
    """What entries create is tested per kind (tests/test_catalog_realtime.py, ...); without entries a stack
    has only its own resources."""
    empty = run_program("dev", overrides={"catalogFile": write(tmp_path, catalog()), "catalogPackages": "{}"})
    assert not [r.name for r in empty.resources if "-byom-" in r.name or "-inference-models" in r.name]
    assert empty.outputs["catalogEndpoints"] == {}
    assert {(r.type, r.name) for r in empty.resources} < {(r.type, r.name) for r in stack_run("dev").resources}


def test_uploaded_entries_add_their_registration_and_the_registry_deploy_stage_only(stack_run, tmp_path):
    """What the shipped entries add to the registry stack (tests/test_catalog_upload.py has the details):
    the upload registration of the entries with model_artifact_location and the promotion's stage that
    deploys approved catalog packages to the registry stack itself. (The real-time and batch entries'
    components are another part of issue 11.)"""
    empty = run_program("dev", overrides={"catalogFile": write(tmp_path, catalog()), "catalogPackages": "{}"})
    added = {(r.type, r.name) for r in stack_run("dev").resources} - {(r.type, r.name) for r in empty.resources}
    assert {name for _, name in added if name.startswith("mlops-dev-byom-upload-") and name.endswith("-models")} == {
        f"mlops-dev-byom-upload-{m}-models" for m in ("iris-xgboost", "iris-tree", "iris-xgboost-batch")}


def test_an_invalid_catalog_stops_the_program_before_any_resource(tmp_path):
    bad = catalog(framework_body("byom_realtime_builtin") | {"inference_instance": "m5.large"},
                  {**monitor_body("byom_model_quality_monitor"), "monitoring_output_location": "b/p"})
    records: list = []
    with pytest.raises(SettingsError) as error:
        run_program("dev", overrides={"catalogFile": write(tmp_path, bad)}, records=records)
    assert records == []
    source = str(tmp_path / "catalog.json")
    assert error.value.problems == [
        f"{source}: pipelines[0] (model_name 'testmodel'): inference_instance = 'm5.large' is invalid: expected a "
        "SageMaker instance type such as ml.m5.large (ml.<family>.<size>)",
        f"{source}: pipelines[1] (byom_model_quality_monitor 'testmodel'): monitoring_output_location is refused in a "
        "byom_model_quality_monitor entry: reports land in the stack bucket under monitoring/<endpoint>/<monitor type>/, "
        "where the alarms and notifications link (docs/monitoring.md): omit it"]


def test_settings_and_catalog_problems_are_reported_together(tmp_path):
    bad = catalog(framework_body("byom_image_builder") | {"image_tag": ""})
    with pytest.raises(SettingsError) as error:
        run_program("dev", overrides={"catalogFile": write(tmp_path, bad), "trainingInstanceCount": "0"},
                    records=[])
    problems = error.value.problems
    assert len(problems) == 2
    assert problems[0].startswith("mlops:trainingInstanceCount = '0' is invalid")
    assert "image_tag = '' is invalid" in problems[1]


def test_the_preview_exits_2_with_one_line_per_catalog_problem(tmp_path, monkeypatch, capsys):
    bad = catalog(framework_body("byom_batch_custom") | {"model_name": "iris_tree", "inference_instance_count": "0"})
    path = write(tmp_path, bad)
    real = mockrun.load_stack_config
    monkeypatch.setattr(mockrun, "load_stack_config", lambda stack, *args: {**real(stack, *args), "mlops:catalogFile": path})
    assert preview.main(["--stack", "dev", "--no-policy"]) == preview.EXIT_CONFIG
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == [
        f"error: stack dev: {path}: pipelines[0] (model_name 'iris_tree'): model_name = 'iris_tree' is invalid: "
        "expected a SageMaker name: 1 to 63 letters, digits or '-', starting and ending with a letter or digit",
        f"error: stack dev: {path}: pipelines[0] (model_name 'iris_tree'): inference_instance_count = '0' is "
        "invalid: expected a whole number from 1 to 20 (a number or a numeric string)"]


def test_a_missing_catalog_file_is_a_config_error(tmp_path):
    with pytest.raises(SettingsError) as error:
        run_program("dev", overrides={"catalogFile": str(tmp_path / "none.json")}, records=[])
    (problem,) = error.value.problems
    assert "none.json: no such file" in problem


def test_catalog_file_must_name_a_json_file():
    with pytest.raises(SettingsError) as error:
        run_program("dev", overrides={"catalogFile": "mlops-config.yaml"}, records=[])
    (problem,) = error.value.problems
    assert problem.startswith("mlops:catalogFile = 'mlops-config.yaml' is invalid: expected the path of the model "
                              "catalog, a .json file")


def test_per_environment_values_must_name_the_topologys_environments(tmp_path):
    body = framework_body("byom_realtime_custom") | {"inference_instance": {"dev": "ml.m5.large", "qa": "ml.m5.large"}}
    with pytest.raises(CatalogError) as error:
        load_stack_catalog(write(tmp_path, catalog(body)), environment="dev", region="eu-west-1")
    assert [p.split(": ", 2)[2] for p in error.value.problems] == [
        "inference_instance.qa: 'qa' is not an environment of the topology (environments: dev, prod, staging)"]


def test_the_stack_region_must_have_the_builtin_image(tmp_path):
    body = framework_body("byom_realtime_builtin") | {"model_framework": "lda", "model_framework_version": "1"}
    path = write(tmp_path, catalog(body))
    assert load_stack_catalog(path, environment="dev", region="eu-west-1").builtin_image("testmodel")
    with pytest.raises(CatalogError) as error:
        load_stack_catalog(path, environment="dev", region="af-south-1")
    (problem,) = error.value.problems
    assert "model_framework 'lda' version '1' has no SageMaker image in af-south-1, where dev deploys" in problem


def test_the_instance_type_is_checked_too(tmp_path):
    """The table is per region; the images (program/images.py, from sagemaker-core) also say which serve
    which processors (xgboost 0.90-1 has no GPU image, Graviton serves only some versions)."""
    body = framework_body("byom_realtime_builtin") | {"inference_instance": "ml.p3.2xlarge"}
    stack_catalog = load_stack_catalog(write(tmp_path, catalog(body)), environment="dev", region="eu-west-1")
    with pytest.raises(CatalogError) as error:
        stack_catalog.builtin_image("testmodel")
    (problem,) = error.value.problems
    assert problem.endswith("pipelines[0] (model_name 'testmodel'): model_framework 'xgboost' version '0.90-1' has no "
                            "inference image for ml.p3.2xlarge in eu-west-1 (xgboost 0.90-1 has no image for "
                            "ml.p3.2xlarge (a gpu instance); it has images for cpu instances)")


def test_loading_the_catalog_never_imports_sagemaker_core():
    """The import takes seconds; the preview checks regions with the shipped table (issue 15, item 10)."""
    import subprocess
    import sys

    code = ("import sys; from program.catalog import load_stack_catalog; "
            "c = load_stack_catalog('mlops-config.json', environment='dev', region='eu-west-1'); "
            "print(len(c.catalog.entries), 'sagemaker.core' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["7", "False"], result.stderr
