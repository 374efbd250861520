"""Bring your own model under moto, end to end: upload -> registered -> approved by the signed link ->
the promotion's trigger starts with the package. The real registration definition, the real EventBridge
pattern and input transformer of the component, the real approval request, decision and notify handlers.

moto's S3 sends the upload's "Object Created" event to EventBridge; the rule (the component's pattern)
starts the registration with the component's input transformer (``tools/localaws/emulator.py`` item 12).
After the approval, the SageMaker "Model Package State Change" event AWS would emit is put on the bus,
where the promotion's rule (``approved_package_event_pattern`` with every platform group) starts the
promotion's trigger state machine (``trigger_definition``).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import boto3
import pytest

from catalog.entries import S3Location
from components.model_upload import UploadEntry, upload_event_pattern, upload_input_transformer
from components.names import Names
from components.promotion import approved_package_event_pattern, trigger_definition
from components.upload_definition import UNVERSIONED_ERROR, RegistrationParams, build_definition, main_path
from components.workflow.baseline import BaselineJobSpec
from components.workflow.states import S
from tests.workflow.harness import (
    ACCOUNT,
    BASELINE_IMAGE,
    DATA_BUCKET,
    REGION,
    TEST_ROWS,
    ExecutionResult,
    SageMakerScenario,
    WorkflowHarness,
    read_s3,
    wait_for,
)

pytestmark = pytest.mark.slow

NAMES = Names("mlops", "dev", ACCOUNT, REGION)
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-dev-iris-tree:1.0"
TREE = UploadEntry(model_name="iris-tree", artifact_key="models/iris-tree/model.tar.gz", image_uri=IMAGE,
                   content_types=("text/csv",), response_types=("text/csv",),
                   instance_types=("ml.t2.medium", "ml.m5.large"), realtime=True)
BATCH = UploadEntry(model_name="iris-batch", artifact_key="models/iris-batch/model.tar.gz", image_uri=IMAGE,
                    content_types=("text/csv",), response_types=("text/csv",), instance_types=("ml.m5.large",),
                    realtime=False)
# An entry with baseline_data: the harness's training rows (headerless CSV, label first).
MONITORED = UploadEntry(model_name="iris-monitored", artifact_key="models/iris-monitored/model.tar.gz", image_uri=IMAGE,
                        content_types=("text/csv",), response_types=("text/csv",), instance_types=("ml.m5.large",),
                        realtime=True, baseline_data=S3Location(DATA_BUCKET, "iris/train"))
ENTRIES = (TREE, BATCH, MONITORED)
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PARAMS = RegistrationParams(approval_request_function_arn=f"{FN}mlops-test-approval-request",
                            notify_function_arn=f"{FN}mlops-test-notify", approval_timeout_seconds=600,
                            baseline=BaselineJobSpec(image_uri=BASELINE_IMAGE, kms_key_arn=KEY),
                            retry_interval_seconds=1, retry_max_attempts=1, retry_backoff_rate=1.0)
TRAINED_GROUP = "mlops-test-iris"
PROMOTION = "mlops-dev-promotion"

# An entry without baseline_data: checked for one, registered as before.
REGISTERED = [S.CHECK_UPLOAD, S.RESOLVE_PACKAGE, S.CHECK_BASELINE, S.REGISTER_MODEL, S.REQUEST_APPROVAL]


class UploadHarness(WorkflowHarness):
    """The workflow harness's account (functions, table, secret, topic) plus the registry bucket, the
    entries' groups and rules, the registration state machine and the promotion's rule and trigger."""

    def _create_resources(self) -> dict[str, str]:
        environment = super()._create_resources()
        s3, sagemaker = boto3.client("s3", region_name=REGION), boto3.client("sagemaker", region_name=REGION)
        events, sfn = boto3.client("events", region_name=REGION), boto3.client("stepfunctions", region_name=REGION)
        s3.create_bucket(Bucket=NAMES.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=NAMES.bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_notification_configuration(Bucket=NAMES.bucket,
                                                 NotificationConfiguration={"EventBridgeConfiguration": {}})
        self.registration_arn = sfn.create_state_machine(
            name=NAMES.catalog_registration_state_machine, definition=json.dumps(build_definition(PARAMS)),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/{NAMES.catalog_registration_state_machine}")["stateMachineArn"]
        for entry in ENTRIES:
            group = NAMES.catalog_package_group(entry.model_name)
            sagemaker.create_model_package_group(ModelPackageGroupName=group)
            rule = NAMES.catalog_upload_rule(entry.model_name)
            events.put_rule(Name=rule, EventPattern=json.dumps(upload_event_pattern(NAMES.bucket, entry.artifact_key)))
            transformer = upload_input_transformer(entry, group, NAMES)
            events.put_targets(Rule=rule, Targets=[{
                "Id": "registration", "Arn": self.registration_arn, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/events",
                "InputTransformer": {"InputPathsMap": transformer["input_paths"],
                                     "InputTemplate": transformer["input_template"]}}])
        self.trigger_arn = sfn.create_state_machine(
            name=f"{PROMOTION}-trigger", definition=json.dumps(trigger_definition(PROMOTION)),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/trigger")["stateMachineArn"]
        groups = [TRAINED_GROUP, *(NAMES.catalog_package_group(e.model_name) for e in ENTRIES)]
        events.put_rule(Name="mlops-dev-model-approved", EventPattern=json.dumps(approved_package_event_pattern(*groups)))
        events.put_targets(Rule="mlops-dev-model-approved", Targets=[
            {"Id": "trigger", "Arn": self.trigger_arn, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/events"}])
        return environment

    def executions(self, machine_arn: str) -> list[str]:
        listed = boto3.client("stepfunctions", region_name=REGION).list_executions(stateMachineArn=machine_arn)
        return [e["executionArn"] for e in listed["executions"]]

    def upload(self, key: str, body: bytes = b"model bytes") -> str:
        """Put an object in the registry bucket, as a team uploading its model does; returns its version id."""
        return boto3.client("s3", region_name=REGION).put_object(Bucket=NAMES.bucket, Key=key, Body=body)["VersionId"]

    def upload_and_finish(self, entry: UploadEntry, *, scenario: SageMakerScenario | None = None,
                          on_approval=None) -> tuple[str, ExecutionResult]:
        self.sim.start(scenario or SageMakerScenario())
        before, approvals = set(self.executions(self.registration_arn)), len(self.approval_messages())
        version = self.upload(entry.artifact_key)
        started = wait_for(lambda: set(self.executions(self.registration_arn)) - before)
        assert len(started) == 1, started  # one upload of one entry's key: one registration
        return version, self.finish(started.pop(), on_approval=on_approval, approvals_before=approvals)

    def approved_event(self, package_arn: str) -> dict[str, Any]:
        """The event SageMaker emits when a package becomes Approved (moto emits none)."""
        package = boto3.client("sagemaker", region_name=REGION).describe_model_package(ModelPackageName=package_arn)
        return {"Source": "aws.sagemaker", "DetailType": "SageMaker Model Package State Change",
                "Resources": [package_arn], "Detail": json.dumps({
                    "ModelPackageGroupName": package["ModelPackageGroupName"], "ModelPackageArn": package_arn,
                    "ModelPackageVersion": package["ModelPackageVersion"],
                    "ModelApprovalStatus": package["ModelApprovalStatus"], "ModelPackageStatus": "Completed"})}


@pytest.fixture
def harness():
    with UploadHarness().running() as running:
        yield running


def sagemaker():
    return boto3.client("sagemaker", region_name=REGION)


def packages(entry: UploadEntry) -> list[dict]:
    group = NAMES.catalog_package_group(entry.model_name)
    listed = sagemaker().list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    return [sagemaker().describe_model_package(ModelPackageName=p["ModelPackageArn"]) for p in listed]


def mails(harness, prefix: str) -> list[str]:
    return [message for subject, message in harness.messages() if subject and subject.startswith(prefix)]


def test_an_upload_is_registered_approved_by_the_signed_link_and_starts_the_promotion(harness):
    pending: dict[str, Any] = {}

    def look_then_approve(h):  # the package while the approval e-mail is out, then the approver's click
        (pending["package"],) = packages(TREE)
        h.decide("approve", comment="checked the offline evaluation")

    version, result = harness.upload_and_finish(TREE, on_approval=look_then_approve)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states == REGISTERED + [S.APPROVE_PACKAGE, S.NOTIFY_SUCCESS, S.BUILD_RESULT, S.SUCCEEDED]
    # Registered PendingManualApproval in the entry's own group, with the entry's image, the artifact and
    # the uploaded version.
    package = pending["package"]
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["ModelPackageGroupName"] == "mlops-dev-byom-iris-tree-models"
    (container,) = package["InferenceSpecification"]["Containers"]
    assert container == {"Image": IMAGE, "ModelDataUrl": f"s3://{NAMES.bucket}/models/iris-tree/model.tar.gz"}
    assert package["InferenceSpecification"]["SupportedRealtimeInferenceInstanceTypes"] == ["ml.t2.medium", "ml.m5.large"]
    assert package["CustomerMetadataProperties"] == {"ModelName": "iris-tree", "ArtifactVersionId": version}
    registration = result.task_parameters(S.REGISTER_MODEL)
    assert registration["ModelApprovalStatus"] == "PendingManualApproval"
    assert len(registration["ClientToken"]) == 32  # one package per group and version, however often delivered
    # The same approval as for trained models: its e-mail named the upload and its version.
    approval_call = harness.lambdas.calls("approval_request")[0].event
    assert approval_call["upload"] == {"modelName": "iris-tree", "versionId": version,
                                       "artifact": f"s3://{NAMES.bucket}/models/iris-tree/model.tar.gz"}
    assert "commitId" not in approval_call and approval_call["modelPackageArn"] == package["ModelPackageArn"]
    (approval_mail,) = mails(harness, "Approval needed: uploaded model iris-tree")
    assert f"S3 version:     {version}" in approval_mail
    # Approved, with who and why; the notification says so.
    (approved,) = packages(TREE)
    assert approved["ModelApprovalStatus"] == "Approved"
    assert approved["ApprovalDescription"].startswith("Approved by alice@example.com at ")
    assert result.output["modelPackageArn"] == approved["ModelPackageArn"] and result.output["versionId"] == version
    assert len(mails(harness, "Uploaded model approved: iris-tree")) == 1
    assert packages(BATCH) == []  # another entry's rule did not fire

    # The Approved package starts the promotion's trigger, whose input carries exactly that package.
    boto3.client("events", region_name=REGION).put_events(Entries=[harness.approved_event(approved["ModelPackageArn"])])
    (trigger,) = wait_for(lambda: harness.executions(harness.trigger_arn))
    trigger_input = json.loads(boto3.client("stepfunctions", region_name=REGION).describe_execution(
        executionArn=trigger)["input"])
    assert trigger_input["detail"]["ModelPackageArn"] == approved["ModelPackageArn"]
    assert trigger_input["detail"]["ModelPackageGroupName"] == "mlops-dev-byom-iris-tree-models"


def test_a_rejected_upload_is_marked_rejected_and_nothing_is_promoted(harness):
    version, result = harness.upload_and_finish(
        TREE, on_approval=lambda h: h.decide("reject", approver="bob@example.com", comment="wrong features"))

    assert result.status == "FAILED" and result.error == "Rejected"
    assert result.states == REGISTERED + [S.APPROVAL_REJECTED, S.MARK_REJECTED, S.NOTIFY_FAILURE, S.FAILED]
    (package,) = packages(TREE)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "wrong features" in package["ApprovalDescription"]
    (failure,) = mails(harness, "Model upload failed (Rejected): iris-tree")
    assert "Rejected by bob@example.com" in failure and f"S3 version:     {version}" in failure
    boto3.client("events", region_name=REGION).put_events(Entries=[harness.approved_event(package["ModelPackageArn"])])
    time.sleep(0.3)
    assert harness.executions(harness.trigger_arn) == []  # a Rejected package starts no promotion


def test_a_failed_registration_ends_in_a_named_failure_and_a_notification(harness):
    # SageMaker refuses CreateModelPackage (throttled beyond the state's retries).
    _, result = harness.upload_and_finish(BATCH, scenario=SageMakerScenario(throttled={"CreateModelPackage": 5}))

    assert result.status == "FAILED"
    assert result.states == [S.CHECK_UPLOAD, S.RESOLVE_PACKAGE, S.CHECK_BASELINE, S.REGISTER_MODEL,
                             S.REGISTRATION_FAILED, S.NOTIFY_FAILURE, S.FAILED]
    assert result.error == S.REGISTRATION_FAILED and "Rate exceeded" in (result.cause or "")
    assert packages(BATCH) == [] and harness.lambdas.calls("approval_request") == []
    (failure,) = mails(harness, f"Model upload failed ({S.REGISTRATION_FAILED}): iris-batch")
    assert "nothing is promoted" in failure


def test_a_batch_entrys_package_lists_transform_instance_types(harness):
    _, result = harness.upload_and_finish(BATCH, on_approval=lambda h: h.decide("approve"))
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    (package,) = packages(BATCH)
    assert package["InferenceSpecification"]["SupportedTransformInstanceTypes"] == ["ml.m5.large"]
    assert "SupportedRealtimeInferenceInstanceTypes" not in package["InferenceSpecification"]


def test_an_upload_without_a_version_is_refused_by_name(harness):
    sfn = boto3.client("stepfunctions", region_name=REGION)
    transformer = json.loads(upload_input_transformer(TREE, NAMES.catalog_package_group("iris-tree"))["input_template"])
    unversioned = {**transformer, "bucket": NAMES.bucket, "key": TREE.artifact_key}
    del unversioned["versionId"]
    execution = sfn.start_execution(stateMachineArn=harness.registration_arn, name=f"u-{secrets.token_hex(4)}",
                                    input=json.dumps(unversioned))["executionArn"]
    result = harness.finish(execution)
    assert result.status == "FAILED" and result.error == UNVERSIONED_ERROR
    assert result.states == [S.CHECK_UPLOAD, S.UPLOAD_NOT_VERSIONED, S.NOTIFY_FAILURE, S.FAILED]
    assert "must be versioned" in result.cause and packages(TREE) == []
    assert len(mails(harness, f"Model upload failed ({UNVERSIONED_ERROR}): iris-tree")) == 1


# --- baseline_data: the package is registered with its baseline, as a trained one --------------------------


def processing_jobs() -> list[str]:
    return [j["ProcessingJobName"] for j in sagemaker().list_processing_jobs()["ProcessingJobSummaries"]]


def test_an_entry_with_baseline_data_is_registered_with_its_baseline(harness):
    version, result = harness.upload_and_finish(MONITORED, on_approval=lambda h: h.decide("approve"))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states == list(main_path(PARAMS, baselined=True))
    # Model Monitor's analyzer over the entry's baseline_data, as the entry's role, into its own folder.
    job = result.task_parameters(S.BASELINE)
    prefix = NAMES.catalog_baseline_job_prefix("iris-monitored")
    assert job["ProcessingJobName"].startswith(f"{prefix}-") and len(job["ProcessingJobName"]) == len(prefix) + 33
    assert processing_jobs() == [job["ProcessingJobName"]]
    assert job["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-byom-iris-monitored-baseline"
    assert job["AppSpecification"] == {"ImageUri": BASELINE_IMAGE}
    assert job["ProcessingInputs"][0]["S3Input"]["S3Uri"] == f"s3://{DATA_BUCKET}/iris/train"
    assert job["NetworkConfig"] == {"EnableNetworkIsolation": True}
    assert job["ProcessingOutputConfig"]["KmsKeyId"] == job["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY
    # The folder is the upload's: the package's ClientToken (one per group and uploaded version).
    registration = result.task_parameters(S.REGISTER_WITH_BASELINE)
    folder = f"s3://{NAMES.bucket}/workflow/baselines/byom/iris-monitored/{registration['ClientToken']}"
    assert job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == folder
    # The package carries the two files as the training workflow registers them.
    (package,) = packages(MONITORED)
    files = {"Statistics": f"{folder}/statistics.json", "Constraints": f"{folder}/constraints.json"}
    sources = {kind: {"ContentType": "application/json", "S3Uri": uri} for kind, uri in files.items()}
    assert package["DriftCheckBaselines"] == {"ModelDataQuality": sources}
    assert package["ModelMetrics"] == {"ModelDataQuality": sources}
    assert package["ModelApprovalStatus"] == "Approved"
    assert registration["CustomerMetadataProperties"] == {
        "ModelName": "iris-monitored", "ArtifactVersionId": version, "BaselineJob": job["ProcessingJobName"]}
    constraints = json.loads(read_s3(files["Constraints"]))
    assert [f["name"] for f in constraints["features"]] == ["_c0", "_c1", "_c2", "_c3", "_c4"]  # label first
    assert json.loads(read_s3(files["Statistics"]))["dataset"] == {"item_count": len(TEST_ROWS)}


def test_a_failed_baseline_ends_in_a_named_failure_and_registers_nothing(harness):
    reason = "ClientError: No S3 objects found under S3 URL given in input data source."
    _, result = harness.upload_and_finish(MONITORED, scenario=SageMakerScenario(baseline_failure=reason))

    assert result.status == "FAILED" and result.error == S.BASELINE_FAILED
    assert result.states == [S.CHECK_UPLOAD, S.RESOLVE_PACKAGE, S.CHECK_BASELINE, S.BASELINE, S.BASELINE_FAILED,
                             S.NOTIFY_FAILURE, S.FAILED]
    assert json.loads(result.cause)["FailureReason"] == reason  # the DescribeProcessingJob output
    assert packages(MONITORED) == [] and harness.lambdas.calls("approval_request") == []
    (failure,) = mails(harness, f"Model upload failed ({S.BASELINE_FAILED}): iris-monitored")
    assert "No S3 objects found" in failure and "nothing is promoted" in failure


def test_an_entry_without_baseline_data_runs_no_baseline_and_registers_as_before(harness):
    _, result = harness.upload_and_finish(TREE, on_approval=lambda h: h.decide("approve"))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states == list(main_path(PARAMS))
    assert processing_jobs() == []
    (package,) = packages(TREE)
    assert "DriftCheckBaselines" not in package and "ModelMetrics" not in package
    assert set(result.task_parameters(S.REGISTER_MODEL)) == {
        "ModelPackageGroupName", "ModelPackageDescription", "ModelApprovalStatus", "InferenceSpecification",
        "MetadataProperties", "CustomerMetadataProperties", "ClientToken"}
