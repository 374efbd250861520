"""The provisioning API and its queued deploy in the program, under mocks: dev has them, staging and prod not;
exact routes, authorisation and IAM statements; the Lambdas' zips validate with the program's own validator;
the catalog is the file plus the store."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pulumi
import pytest

from catalog.validate import CatalogError
from components.provisioning_api import API_MODULES, ROUTES
from components.provisioning_deploy import DEPLOY_BUILDSPEC, EVENTS_MODULES, state_change_pattern
from components.python_function import code_archive
from program.catalog import STORE_VARIABLE, load_stack_catalog
from tests.catalog.bodies import framework_body
from tests.conftest import policy_statements
from tools import preview
from tools.mockrun import ROOT, run_components
from tools.tokens import Token

ACCOUNT = "111111111111"
BUCKET = f"mlops-dev-{ACCOUNT}-eu-west-1"
KEY = "arn:aws:kms:eu-west-1:111111111111:key/"


def part(run, role: str):
    return run.named(f"mlops-dev-provisioning-{role}")


def statements_of(run, role_policy: str) -> list[tuple[str, list[str], list[str], dict | None]]:
    return [(s["Sid"], s["Action"], s["Resource"], s.get("Condition"))
            for s in policy_statements(run.named(role_policy).inputs["policy"])]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_only_the_registry_stack_has_the_provisioning_api(stack_run, stack):
    run = stack_run(stack)
    assert not [r.name for r in run.resources if "provisioning" in r.name]
    assert not [key for key in run.outputs if key.startswith("provisioning")]


def test_every_route_is_iam_authorised_and_proxied_to_the_one_handler(stack_run):
    run = stack_run("dev")
    api = part(run, "api")
    methods = [r for r in run.by_type(Token.APIGATEWAY_METHOD) if r.parent == api.parent]
    assert len(methods) == len(ROUTES) == 6
    assert {m.inputs["authorization"] for m in methods} == {"AWS_IAM"}
    paths = {r.id: r.inputs["pathPart"] for r in run.by_type(Token.APIGATEWAY_RESOURCE)
             if r.name.startswith("mlops-dev-provisioning-")}
    assert sorted((m.inputs["httpMethod"], paths[m.inputs["resourceId"]]) for m in methods) == sorted([
        ("DELETE", "{model_name}"), ("GET", "{model_name}"), ("GET", "pipelines"), ("POST", "pipelines"),
        ("POST", "pipelinestatus"), ("POST", "provisionpipeline")])
    validator = part(run, "validator")
    for method in methods:
        with_id = paths[method.inputs["resourceId"]] == "{model_name}"
        assert (method.inputs.get("requestValidatorId") == validator.id) == with_id
    handler = part(run, "handler-function")
    integrations = [r for r in run.by_type(Token.APIGATEWAY_INTEGRATION) if r.name.startswith("mlops-dev-provisioning-")]
    assert len(integrations) == 6 and {i.inputs["uri"] for i in integrations} == {handler.outputs["invokeArn"]}
    assert {i.inputs["type"] for i in integrations} == {"AWS_PROXY"}
    assert run.outputs["provisioningUrl"] == f"https://{api.outputs['id']}.execute-api.eu-west-1.amazonaws.com/v1"


def test_the_invoke_policy_allows_exactly_the_apis_methods(stack_run):
    run = stack_run("dev")
    execution_arn = part(run, "api").outputs["executionArn"]
    (grant,) = policy_statements(part(run, "invoke-policy").inputs["policy"])
    assert grant["Action"] == ["execute-api:Invoke"]
    assert grant["Resource"] == [f"{execution_arn}/v1/POST/pipelines", f"{execution_arn}/v1/GET/pipelines",
                                 f"{execution_arn}/v1/GET/pipelines/*", f"{execution_arn}/v1/DELETE/pipelines/*",
                                 f"{execution_arn}/v1/POST/provisionpipeline", f"{execution_arn}/v1/POST/pipelinestatus"]
    assert run.outputs["provisioningInvokePolicyArn"].endswith(":policy/mlops-dev-provisioning-invoke")


def test_the_stage_logs_traces_and_throttles(stack_run):
    run = stack_run("dev")
    stage = part(run, "stage")
    assert stage.inputs["stageName"] == "v1" and stage.inputs["xrayTracingEnabled"] is True
    logs = part(run, "access-logs")
    assert stage.inputs["accessLogSettings"]["destinationArn"] == logs.outputs["arn"]
    assert logs.inputs["kmsKeyId"].startswith(KEY) and logs.inputs["retentionInDays"] == 14
    assert part(run, "throttling").inputs["settings"] | {"metricsEnabled": None} == {
        "throttlingRateLimit": 5, "throttlingBurstLimit": 10, "metricsEnabled": None, "loggingLevel": "ERROR",
        "dataTraceEnabled": False}


def test_the_api_role_writes_only_the_store_and_starts_only_its_deploy(stack_run):
    run = stack_run("dev")
    pipeline = f"arn:aws:codepipeline:eu-west-1:{ACCOUNT}:mlops-dev-provisioning"
    topic = f"arn:aws:sns:eu-west-1:{ACCOUNT}:mlops-dev-notifications"
    key = run.one(Token.KMS_KEY).outputs["arn"]
    own = statements_of(run, "mlops-dev-provisioning-handler-policy")[3:]  # after logs, tracing, environment key
    assert own == [
        ("ListCatalogStore", ["s3:ListBucket"], [f"arn:aws:s3:::{BUCKET}"],
         {"StringLike": {"s3:prefix": ["catalog/pipelines/", "catalog/pipelines/*"]}}),
        ("ReadCatalogStore", ["s3:GetObject"], [f"arn:aws:s3:::{BUCKET}/catalog/pipelines/*"], None),
        ("WriteCatalogStore", ["s3:PutObject"], [f"arn:aws:s3:::{BUCKET}/catalog/pipelines/*"], None),
        ("ReadDeployOutputs", ["s3:GetObject"], [f"arn:aws:s3:::{BUCKET}/catalog/deploys/dev.json"], None),
        # one status role per environment whose account the registry knows (test_catalog_status.py)
        ("ReadEnvironmentsCatalogStatus", ["sts:AssumeRole"], [
            "arn:aws:iam::111111111111:role/mlops-dev-catalog-status",
            "arn:aws:iam::222222222222:role/mlops-staging-catalog-status",
            "arn:aws:iam::333333333333:role/mlops-prod-catalog-status"], None),
        ("StartDeploys", ["codepipeline:StartPipelineExecution", "codepipeline:GetPipelineExecution"], [pipeline], None),
        ("NotifyFailures", ["sns:Publish"], [topic], None),
        ("UseStackKey", ["kms:Decrypt", "kms:GenerateDataKey"], [key], None),
    ]
    recorder = statements_of(run, "mlops-dev-provisioning-deploy-events-policy")[3:]
    assert [s[0] for s in recorder] == ["ListCatalogStore", "ReadCatalogStore", "WriteCatalogStore", "ReadDeploys",
                                        "NotifyFailures", "UseStackKey"]
    assert recorder[3][1:3] == (["codepipeline:GetPipelineExecution", "codepipeline:ListActionExecutions"], [pipeline])


def test_the_deploy_is_a_queued_pipeline_running_pulumi_up_for_the_registry_stack(stack_run, stack_config):
    run = stack_run("dev")
    pipeline = part(run, "deploy-pipeline")
    assert pipeline.inputs["pipelineType"] == "V2" and pipeline.inputs["executionMode"] == "QUEUED"
    source, deploy = pipeline.inputs["stages"]
    (action,) = source["actions"]
    assert action["configuration"]["BranchName"] == "main" and action["configuration"]["DetectChanges"] == "false"
    (build_action,) = deploy["actions"]
    project = part(run, "deploy-build")
    assert build_action["configuration"]["ProjectName"] == project.outputs["name"] == "mlops-dev-provisioning-deploy"
    assert [v["name"] for v in pipeline.inputs["variables"]] == ["PIPELINE_ID", "ACTION"]
    variables = {v["name"]: v["value"] for v in project.inputs["environment"]["environmentVariables"]}
    assert variables["TARGET_STACK"] == "dev" and variables["PULUMI_VERSION"] == "3.272.0"
    assert variables["PULUMI_ACCESS_TOKEN"] == stack_config("dev")["mlops:promotionPulumiTokenSecretArn"]
    assert project.inputs["source"]["buildspec"] == DEPLOY_BUILDSPEC
    assert ('pulumi up --yes --non-interactive --policy-pack policies --policy-pack-config '
            '"policies/config/$TARGET_STACK.json"') in DEPLOY_BUILDSPEC
    assert 'export MLOPS_CATALOG_STORE="$PWD/catalog-store"' in DEPLOY_BUILDSPEC
    assert project.inputs["encryptionKey"] == run.one(Token.KMS_KEY).outputs["arn"]


def test_the_deploy_role_is_the_registrys_own_provisioning_deploy_role(stack_run, stack_config):
    run = stack_run("dev")
    role = part(run, "deploy-build-role")
    assert role.inputs["name"] == "mlops-dev-provisioning-deploy"  # not the promotion's DeployDev role
    own = {sid: (actions, resources) for sid, actions, resources, _ in
           statements_of(run, "mlops-dev-provisioning-deploy-build-policy")}
    assert own["AssumeStackDeployRole"] == (["sts:AssumeRole"], [stack_config("dev")["mlops:deployRoleArn"]])
    assert own["ReadPulumiToken"] == (["secretsmanager:GetSecretValue"],
                                      [stack_config("dev")["mlops:promotionPulumiTokenSecretArn"]])
    assert own["ReadCatalogStore"] == (["s3:GetObject"], [f"arn:aws:s3:::{BUCKET}/catalog/pipelines/*"])
    assert own["RecordDeployOutputs"] == (["s3:PutObject"], [f"arn:aws:s3:::{BUCKET}/catalog/deploys/dev.json"])
    assert sorted(own) == sorted(["WriteOwnLogs", "ReadSourceArtifact", "UseStackKey", "AssumeStackDeployRole",
                                  "ReadPulumiToken", "ListCatalogStore", "ReadCatalogStore", "RecordDeployOutputs"])
    # promotion's deploys run the program too: they read the store, nothing more of it
    staging = {s["Sid"]: s for s in policy_statements(run.named("mlops-dev-promotion-deploy-staging-policy").inputs["policy"])}
    assert staging["ReadCatalogStore"]["Action"] == ["s3:GetObject"] and "WriteCatalogStore" not in staging


def test_state_changes_reach_the_recorder_and_failures_the_topic(stack_run):
    run = stack_run("dev")
    rule = part(run, "deploy-state-rule")
    assert json.loads(rule.inputs["eventPattern"]) == state_change_pattern("mlops-dev-provisioning")
    target = part(run, "deploy-state-target")
    assert target.inputs["arn"] == part(run, "deploy-events-function").outputs["arn"]
    permission = part(run, "deploy-events-permission")
    assert permission.inputs["principal"] == "events.amazonaws.com" and permission.inputs["sourceArn"] == rule.outputs["arn"]
    notifications = part(run, "deploy-notifications")
    assert notifications.inputs["eventTypeIds"] == ["codepipeline-pipeline-pipeline-execution-failed"]
    assert notifications.inputs["targets"][0]["address"] == run.one(Token.SNS_TOPIC).outputs["arn"]


def test_the_lambdas_environment_carries_the_topology_and_the_files_pipelines(stack_run):
    env = part(stack_run("dev"), "handler-function").inputs["environment"]["variables"]
    assert json.loads(env["ENVIRONMENTS"]) == ["dev", "prod", "staging"]
    assert json.loads(env["REGIONS"]) == {"dev": "eu-west-1", "staging": "eu-west-1", "prod": "eu-west-1"}
    assert json.loads(env["ACCOUNTS"]) == {"dev": ACCOUNT, "staging": "222222222222", "prod": "333333333333"}
    assert json.loads(env["FILE_PIPELINES"]) == ["iris-xgboost", "iris-tree", "iris-xgboost-batch", "iris-tree-batch",
                                                 "iris-tree:1.0", "iris-xgboost:byom_data_quality_monitor",
                                                 "iris-xgboost:byom_model_quality_monitor"]


@pytest.mark.parametrize("folder, modules", [("provisioning_api", API_MODULES), ("provisioning_events", EVENTS_MODULES)])
def test_the_zip_vendors_the_validator_and_imports_without_the_repository(folder, modules, tmp_path):
    """The function's archive (with what its component vendors), unpacked alone: the handler imports."""
    archive = code_archive(folder, modules=modules)
    for path, asset in archive.assets.items():
        target = tmp_path / path
        if isinstance(asset, pulumi.FileArchive):
            shutil.copytree(asset.path, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(asset.path, target)
    assert (tmp_path / "catalog/validate.py").is_file() and (tmp_path / "catalog/builtin_frameworks.json").is_file()
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import handler, catalog.validate, os; "
              "assert catalog.validate.__file__.startswith(sys.argv[1]), catalog.validate.__file__")
    subprocess.run([sys.executable, "-I", "-c", script, str(tmp_path)], check=True, cwd=tmp_path)
    # the same files as the program's, never a copy
    assert archive.assets["catalog/validate.py"].path == str(ROOT / "catalog" / "validate.py")


# --- the catalog: the file plus the store ---------------------------------------------------------------------


def record(body, retired: bool = False) -> bytes:
    return json.dumps({"pipeline_id": body.get("model_name", "x"), "entry": body, "retired": retired}).encode()


def test_stored_entries_join_the_files_after_them():
    stored = {"apimodel.json": record(framework_body("byom_batch_builtin") | {"model_name": "apimodel"}),
              "old.json": record(framework_body("byom_realtime_custom") | {"model_name": "old"}, retired=True)}
    catalog = load_stack_catalog("mlops-config.json", environment="dev", region="eu-west-1", stored=stored).catalog
    assert [e.label for e in catalog.entries][-2:] == ["pipelines[6] (byom_model_quality_monitor 'iris-xgboost')",
                                                       "catalog store apimodel.json (model_name 'apimodel')"]
    assert catalog.model("apimodel").value_for("inference_instance", "dev") == "ml.m5.large"


def test_an_entry_in_the_file_and_the_store_is_an_error_naming_both():
    stored = {"iris-tree.json": record(framework_body("byom_realtime_custom") | {"model_name": "Iris-Tree"}),
              "bad.json": b'{"pipeline_id": "bad"}'}
    with pytest.raises(CatalogError) as error:
        load_stack_catalog("mlops-config.json", environment="dev", region="eu-west-1", stored=stored)
    assert error.value.problems == [
        "catalog store bad.json: is not a catalog store record: expected an object with pipeline_id, entry and "
        "retired (written by the provisioning API)"]
    del stored["bad.json"]
    with pytest.raises(CatalogError) as error:
        load_stack_catalog("mlops-config.json", environment="dev", region="eu-west-1", stored=stored)
    assert error.value.problems == [
        "catalog store iris-tree.json (model_name 'Iris-Tree'): is also in mlops-config.json as pipelines[1] "
        "(model_name 'iris-tree'): an entry lives in one place; remove it from mlops-config.json, or retire the "
        "stored one (DELETE /v1/pipelines/Iris-Tree)"]


def test_the_preview_reads_a_local_copy_of_the_store(tmp_path, capsys, monkeypatch):
    (tmp_path / "apimodel.json").write_bytes(record(framework_body("byom_batch_builtin") | {"model_name": "apimodel"}))
    seen = {}

    def build(settings):
        seen["labels"] = [e.label for e in settings.catalog.catalog.entries]
        return {}

    monkeypatch.setenv(STORE_VARIABLE, str(tmp_path))
    run_components("dev", build)
    assert seen["labels"][-1] == f"catalog store {tmp_path} apimodel.json (model_name 'apimodel')"
    monkeypatch.delenv(STORE_VARIABLE)
    (tmp_path / "iris-tree.json").write_bytes(record(framework_body("byom_realtime_custom") | {"model_name": "iris-tree"}))
    assert preview.main(["--stack", "dev", "--no-policy", "--catalog-store", str(tmp_path)]) == preview.EXIT_CONFIG
    assert "is also in mlops-config.json as pipelines[1] (model_name 'iris-tree')" in capsys.readouterr().err
    assert preview.main(["--stack", "dev", "--no-policy", "--catalog-store", str(tmp_path / "none")]) == preview.EXIT_CONFIG
