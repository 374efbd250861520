"""Bring your own model, from upload to prod: the registry stack's groups, upload rules and registration
state machine under Pulumi's mocks (exact IAM, the EventBridge pattern matching only the entry's key)."""

from __future__ import annotations

from tools.tokens import Token


def test_every_stack_bucket_is_versioned_and_sends_its_object_events_to_eventbridge(each_stack):
    (bucket,) = each_stack.by_type(Token.S3_BUCKET)
    (versioning,) = each_stack.by_type(Token.S3_BUCKET_VERSIONING)
    (notification,) = each_stack.by_type(Token.S3_BUCKET_NOTIFICATION)
    assert versioning.inputs["bucket"] == bucket.name
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    assert notification.inputs["bucket"] == bucket.name
    assert notification.inputs["eventbridge"] is True


# --- the registry stack's upload registration ----------------------------------------------------------

import json  # noqa: E402

import pytest  # noqa: E402
from moto.events.models import EventPattern  # noqa: E402

from components.model_upload import upload_event_pattern  # noqa: E402
from components.upload_definition import RegistrationParams, build_definition  # noqa: E402
from components.workflow.baseline import BaselineJobSpec  # noqa: E402
from program.images import model_monitor_image_uri  # noqa: E402
from tests.conftest import policy_statements  # noqa: E402

UPLOADED = ("iris-xgboost", "iris-tree", "iris-xgboost-batch")  # the shipped entries with model_artifact_location
ACCOUNT = "111111111111"
SAGEMAKER = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}"
MACHINE = f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:mlops-dev-byom-registration"
BUCKET = f"mlops-dev-{ACCOUNT}-eu-west-1"
BASELINE_RUN_SIDS = ("RunBaselineJobs", "PassBaselineRoles", "SyncBaselineJobEvents", "LetSageMakerUseStackKey",
                     "DescribeStackKey")


def upload(run, role: str):
    return run.named(f"mlops-dev-byom-upload-{role}")


def statements_of(run, name: str) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy_statements(run.named(name).inputs["policy"])}


def test_uploads_are_registered_only_in_the_registry_stack(stack_run):
    dev = stack_run("dev")
    assert sorted(r.inputs["modelPackageGroupName"] for r in dev.by_type(Token.SAGEMAKER_MODEL_PACKAGE_GROUP)) == \
        sorted(["mlops-dev-models", *(f"mlops-dev-byom-{m}-models" for m in UPLOADED)])
    assert dev.outputs["catalogPackageGroups"] == {m: f"mlops-dev-byom-{m}-models" for m in UPLOADED}
    assert dev.outputs["catalogRegistrationStateMachineArn"] == MACHINE
    for stack in ("staging", "prod"):
        assert not [r for r in stack_run(stack).resources if "byom-upload" in r.name]
        assert "catalogPackageGroups" not in stack_run(stack).outputs


def test_each_entrys_rule_matches_an_upload_of_exactly_its_key(stack_run):
    """The recorded patterns, evaluated by moto's EventBridge pattern matcher (what its rules use)."""
    dev = stack_run("dev")
    keys = {"iris-xgboost": "models/iris-xgboost/model.tar.gz", "iris-tree": "models/iris-tree/model.tar.gz",
            "iris-xgboost-batch": "models/iris-xgboost/model.tar.gz"}  # two entries, one artifact: both register

    def event(key: str, bucket: str = BUCKET, detail_type: str = "Object Created", source: str = "aws.s3") -> dict:
        return {"id": "1", "account": ACCOUNT, "source": source, "time": "2025-01-01T00:00:00Z",
                "region": "eu-west-1", "resources": [], "detail-type": detail_type,
                "detail": {"bucket": {"name": bucket}, "object": {"key": key, "version-id": "v1"}}}

    for model, key in keys.items():
        rule = upload(dev, f"{model}-rule").inputs
        assert rule["name"] == f"mlops-dev-byom-{model}-upload"
        assert json.loads(rule["eventPattern"]) == upload_event_pattern(BUCKET, key)
        pattern = EventPattern.load(rule["eventPattern"])
        assert pattern.matches_event(event(key))
        other_entry = "models/iris-xgboost/model.tar.gz" if "tree" in key else "models/iris-tree/model.tar.gz"
        for other in (key + ".bak", key.rsplit("/", 1)[0] + "/", key.rsplit("/", 1)[0], other_entry, "x/" + key):
            assert not pattern.matches_event(event(other)), other
        assert not pattern.matches_event(event(key, bucket="mlops-staging-222222222222-eu-west-1"))
        assert not pattern.matches_event(event(key, detail_type="Object Deleted"))
        assert not pattern.matches_event(event(key, source="custom.s3"))


def test_the_rule_passes_the_entry_and_the_uploaded_object_to_the_registration(stack_run):
    dev = stack_run("dev")
    target = upload(dev, "iris-tree-target").inputs
    assert target["arn"] == MACHINE and target["rule"] == "mlops-dev-byom-iris-tree-upload"
    assert target["roleArn"] == upload(dev, "events-role").outputs["arn"]
    transformer = target["inputTransformer"]
    assert transformer["inputPaths"] == {"bucket": "$.detail.bucket.name", "key": "$.detail.object.key",
                                         "versionId": "$.detail.object.version-id"}
    assert json.loads(transformer["inputTemplate"]) == {
        "modelName": "iris-tree", "modelPackageGroupName": "mlops-dev-byom-iris-tree-models",
        "imageUri": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/mlops-dev-iris-tree:1.0",  # custom_image_uri
        "bucket": "<bucket>", "key": "<key>", "versionId": "<versionId>",
        "specification": {"SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"],
                          # every environment's instance type: the package serves dev, staging and prod
                          "SupportedRealtimeInferenceInstanceTypes": ["ml.t2.medium", "ml.m5.large", "ml.c5.xlarge"]},
        # baseline_data: the entry's baseline job (tests/test_catalog_upload_baseline.py)
        "baselineJob": {"jobPrefix": "mlops-dev-byom-iris-t-24668536",
                        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-byom-iris-tree-baseline",
                        "data": f"s3://{BUCKET}/data/train",
                        "output": f"s3://{BUCKET}/workflow/baselines/byom/iris-tree"}}
    builtin = json.loads(upload(dev, "iris-xgboost-batch-target").inputs["inputTransformer"]["inputTemplate"])
    # built-in: the algorithm's image resolved by sagemaker-core for the region at deploy time
    assert builtin["imageUri"].endswith(".dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1")
    assert builtin["specification"]["SupportedTransformInstanceTypes"] == ["ml.m5.large"]


def test_the_registration_state_machine_is_the_real_definition_with_exactly_its_permissions(stack_run):
    dev = stack_run("dev")
    machine = upload(dev, "state-machine").inputs
    request = dev.named("mlops-dev-approval-request-function").outputs["arn"]
    notify = dev.named("mlops-dev-workflow-notify-function").outputs["arn"]
    key = dev.named("mlops-dev-foundation-key").outputs["arn"]
    analyzer = model_monitor_image_uri("eu-west-1")
    assert json.loads(machine["definition"]) == build_definition(RegistrationParams(
        approval_request_function_arn=request, notify_function_arn=notify, approval_timeout_seconds=14400,
        baseline=BaselineJobSpec(image_uri=analyzer, kms_key_arn=key)))
    assert machine["roleArn"] == upload(dev, "registration-role").outputs["arn"]
    assert machine["loggingConfiguration"]["includeExecutionData"] is False  # the approval input has the token
    groups = [f"{SAGEMAKER}:model-package-group/mlops-dev-byom-{m}-models" for m in UPLOADED]
    packages = [f"{SAGEMAKER}:model-package/mlops-dev-byom-{m}-models/*" for m in UPLOADED]
    s = statements_of(dev, "mlops-dev-byom-upload-registration-policy")
    assert set(s) == {"RegisterUploadedModels", "DecideUploadedModels", "RequestApprovalAndNotify", "DeliverLogs",
                      "Tracing", *BASELINE_RUN_SIDS}  # the shipped uploaded entries have baseline_data
    assert s["RegisterUploadedModels"]["Action"] == ["sagemaker:CreateModelPackage"]
    assert s["RegisterUploadedModels"]["Resource"] == groups + packages
    assert s["DecideUploadedModels"]["Action"] == ["sagemaker:UpdateModelPackage"]
    assert s["DecideUploadedModels"]["Resource"] == packages
    assert s["RequestApprovalAndNotify"] == {"Sid": "RequestApprovalAndNotify", "Effect": "Allow",
                                             "Action": ["lambda:InvokeFunction"], "Resource": [request, notify]}
    (trust,) = policy_statements(upload(dev, "registration-role").inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert trust["Condition"]["ArnLike"]["aws:SourceArn"] == MACHINE
    assert statements_of(dev, "mlops-dev-byom-upload-events-policy") == {"StartRegistration": {
        "Sid": "StartRegistration", "Effect": "Allow", "Action": ["states:StartExecution"], "Resource": [MACHINE]}}
    # The one approval API resumes the registration's approval tasks as well as the training workflow's.
    resume = statements_of(dev, "mlops-dev-approval-decide-policy")["ResumeWorkflow"]
    assert resume["Resource"] == [dev.outputs["stateMachineArn"], MACHINE]


def test_the_groups_are_shared_with_the_target_accounts_like_the_trained_group(stack_run):
    dev = stack_run("dev")
    trained = policy_statements(dev.named("mlops-dev-promotion-registry-policy").inputs["resourcePolicy"])
    for model in UPLOADED:
        policy = upload(dev, f"{model}-registry-policy").inputs
        assert policy["modelPackageGroupName"] == f"mlops-dev-byom-{model}-models"
        group, packages = policy_statements(policy["resourcePolicy"])
        assert group["Principal"] == packages["Principal"] == trained[0]["Principal"]
        assert group["Action"] == trained[0]["Action"] and packages["Action"] == trained[1]["Action"]
        assert group["Resource"] == f"{SAGEMAKER}:model-package-group/mlops-dev-byom-{model}-models"
        assert packages["Resource"] == f"{SAGEMAKER}:model-package/mlops-dev-byom-{model}-models/*"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_stack_exports_the_catalog_packages_it_serves(stack_run, stack_config, stack):
    pinned = json.loads(stack_config(stack)["mlops:catalogPackages"])
    assert stack_run(stack).outputs["catalogPackages"] == {
        **pinned,
        # an entry with model_package_name serves that package (program/catalog_packages.py)
        "iris-tree-batch": f"{SAGEMAKER}:model-package/mlops-dev-models/1"}


def test_the_promotion_deploys_catalog_packages_to_the_registry_stack_first(stack_run):
    dev = stack_run("dev")
    s = statements_of(dev, "mlops-dev-promotion-deploy-dev-policy")
    assert s["AssumeTargetDeployRole"]["Resource"] == [dev.config["mlops:deployRoleArn"]]
    role = dev.named("mlops-dev-promotion-deploy-dev-role").inputs
    assert role["name"] == "mlops-dev-promotion-deploy-dev"  # bootstrap's deployer trusts exactly this name
    stages = [s["name"] for s in dev.named("mlops-dev-promotion-pipeline").inputs["stages"]]
    assert stages[:3] == ["Source", "DeployDev", "DeployStaging"]


def test_without_catalog_uploads_the_promotion_is_as_before(run_stack, tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"pipelines": []}))
    run = run_stack("dev", overrides={"catalogFile": str(path), "catalogPackages": "{}"})
    stages = [s["name"] for s in run.named("mlops-dev-promotion-pipeline").inputs["stages"]]
    assert stages == ["Source", "DeployStaging", "TestStaging", "PreviewProd", "ApproveProd", "DeployProd"]
    assert json.loads(run.named("mlops-dev-promotion-approved-rule").inputs["eventPattern"])["detail"][
        "ModelPackageGroupName"] == ["mlops-dev-models"]
    resume = statements_of(run, "mlops-dev-approval-decide-policy")["ResumeWorkflow"]
    assert resume["Resource"] == [run.outputs["stateMachineArn"]]
    assert run.outputs["catalogPackages"] == {} and not [r for r in run.resources if "byom" in r.name]


@pytest.mark.parametrize("baseline", [None, BaselineJobSpec(
    image_uri=f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer",
    kms_key_arn=f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k")], ids=["without-baselines", "with-baselines"])
def test_the_registration_definition_passes_statelint(tmp_path, baseline):
    import subprocess
    import sys

    path = tmp_path / "registration.json"
    path.write_text(json.dumps(build_definition(RegistrationParams(
        approval_request_function_arn=f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:a",
        notify_function_arn=f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:n", baseline=baseline))))
    result = subprocess.run([sys.executable, "-m", "statelint", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.parametrize("bad, says", [
    ({"approval_request_function_arn": "approval-request"}, "approval_request_function_arn='approval-request'"),
    ({"approval_timeout_seconds": 0}, "approval_timeout_seconds=0"),
    ({"retry_backoff_rate": 0.5}, "retry_backoff_rate=0.5"),
    ({"baseline": BaselineJobSpec(image_uri="analyzer:latest", kms_key_arn=f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k")},
     "baseline.image_uri='analyzer:latest' is not allowed: use an ECR image URI"),
    ({"baseline": BaselineJobSpec(image_uri=f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/a", kms_key_arn="key",
                                  volume_gb=0)},
     "baseline.kms_key_arn='key' is not allowed: use a KMS key ARN .*; baseline.volume_gb=0 is not allowed"),
])
def test_bad_registration_parameters_are_refused_by_name(bad, says):
    values = {"approval_request_function_arn": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:a",
              "notify_function_arn": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:n", **bad}
    with pytest.raises(ValueError, match=says.replace("(", r"\(")):
        RegistrationParams(**values)
