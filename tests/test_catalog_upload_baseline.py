"""Uploaded models' baselines (``baseline_data``) in the registry stack, under Pulumi's mocks: each entry's
baseline job role and what the registration's state machine may do for it, statement by statement; the
registry bucket lets the promoted monitors read them. Their execution under moto is
tests/workflow/test_upload_execution.py."""

from __future__ import annotations

import json

from catalog.entries import S3Location
from components.names import BASELINE_PREFIX, CATALOG_BASELINE_PREFIX, Names
from components.upload_baseline import baseline_job_input, baseline_role_statements, baseline_run_statements
from tests.conftest import policy_statements

ACCOUNT = "111111111111"
NAMES = Names("mlops", "dev", ACCOUNT, "eu-west-1")
BUCKET = NAMES.bucket
BASELINED = ("iris-xgboost", "iris-tree", "iris-xgboost-batch")  # the shipped entries with baseline_data
VIA_S3 = {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}
LOGS = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/sagemaker/ProcessingJobs"


def statements(run, name: str) -> list[dict]:
    return policy_statements(run.named(name).inputs["policy"])


def expected_role_statements(model: str, key: str, data: S3Location, data_keys: list[str]) -> list[dict]:
    prefix = NAMES.catalog_baseline_job_prefix(model)
    return [
        {"Sid": "ListBaselineData", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{data.bucket}"],
         "Condition": {"StringLike": {"s3:prefix": [data.prefix, f"{data.prefix}/*"]}}},
        {"Sid": "ReadBaselineData", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [f"arn:aws:s3:::{data.bucket}/{data.prefix}", f"arn:aws:s3:::{data.bucket}/{data.prefix}/*"]},
        {"Sid": "WriteBaseline", "Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
         "Resource": [f"arn:aws:s3:::{BUCKET}/workflow/baselines/byom/{model}/*"]},
        {"Sid": "DecryptThroughS3", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": data_keys,
         "Condition": VIA_S3},
        {"Sid": "EncryptBaselineThroughS3", "Effect": "Allow", "Action": ["kms:GenerateDataKey"], "Resource": [key],
         "Condition": VIA_S3},
        {"Sid": "WriteJobLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [f"{LOGS}:log-stream:{prefix}-*"]},
        {"Sid": "FindJobLogGroup", "Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:DescribeLogStreams"],
         "Resource": [f"{LOGS}:*"]},
    ]


def test_each_baselined_entry_has_a_role_that_reads_only_its_data_and_writes_only_its_folder(stack_run):
    dev = stack_run("dev")
    key = dev.named("mlops-dev-foundation-key").outputs["arn"]
    for model in BASELINED:
        role = dev.named(f"mlops-dev-byom-upload-{model}-baseline-role").inputs
        assert role["name"] == NAMES.catalog_baseline_role(model) == f"mlops-dev-byom-{model}-baseline"
        (trust,) = policy_statements(role["assumeRolePolicy"])
        assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
        assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
        assert statements(dev, f"mlops-dev-byom-upload-{model}-baseline-policy") == expected_role_statements(
            model, key, S3Location(BUCKET, "data/train"), [key])
    for stack in ("staging", "prod"):  # uploads are registered (and baselined) in the registry stack only
        assert not [r for r in stack_run(stack).resources if r.name.endswith("-baseline-role")]


def test_the_registration_runs_only_the_entries_jobs_as_only_their_roles(stack_run):
    dev = stack_run("dev")
    key = dev.named("mlops-dev-foundation-key").outputs["arn"]
    by_sid = {s["Sid"]: s for s in statements(dev, "mlops-dev-byom-upload-registration-policy")}
    jobs = [f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:processing-job/{NAMES.catalog_baseline_job_prefix(m)}-{'?' * 32}"
            for m in BASELINED]
    assert [by_sid[sid] for sid in ("RunBaselineJobs", "PassBaselineRoles", "SyncBaselineJobEvents",
                                    "LetSageMakerUseStackKey", "DescribeStackKey")] == [
        {"Sid": "RunBaselineJobs", "Effect": "Allow",
         "Action": ["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob",
                    "sagemaker:AddTags"], "Resource": jobs},
        {"Sid": "PassBaselineRoles", "Effect": "Allow", "Action": ["iam:PassRole"],
         "Resource": [f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-byom-{m}-baseline" for m in BASELINED],
         "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}},
        {"Sid": "SyncBaselineJobEvents", "Effect": "Allow",
         "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
         "Resource": [f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/StepFunctionsGetEventsForSageMakerProcessingJobsRule"]},
        {"Sid": "LetSageMakerUseStackKey", "Effect": "Allow", "Action": ["kms:CreateGrant"], "Resource": [key],
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
        {"Sid": "DescribeStackKey", "Effect": "Allow", "Action": ["kms:DescribeKey"], "Resource": [key]},
    ]
    # The rule of each entry hands the registration exactly that entry's job prefix, role and folder.
    for model in BASELINED:
        template = json.loads(dev.named(f"mlops-dev-byom-upload-{model}-target").inputs["inputTransformer"]["inputTemplate"])
        assert template["baselineJob"] == baseline_job_input(NAMES, model, S3Location(BUCKET, "data/train"))


def test_job_names_fit_sagemaker_and_the_patterns_match_no_other_entry():
    long = "a" * 63
    for model in ("iris-tree", "iris-tree-batch", long):
        prefix = NAMES.catalog_baseline_job_prefix(model)
        assert len(prefix) + 1 + 32 <= 63
    assert NAMES.catalog_baseline_job_prefix("iris-tree") != NAMES.catalog_baseline_job_prefix("iris-tree-batch")
    assert NAMES.catalog_baseline_job_arn_pattern("iris-tree").endswith("-" + "?" * 32)


def test_an_entrys_key_may_encrypt_its_data_and_is_listed_once():
    data = S3Location("other-bucket", "train")
    own = [s for s in baseline_role_statements(NAMES, "m", data, ["k1", "k2", "k1"], "k1")
           if s["Sid"] == "DecryptThroughS3"]
    assert own[0]["Resource"] == ["k1", "k2"]
    assert baseline_run_statements(NAMES, ["m"], "k1")[0]["Resource"] == [NAMES.catalog_baseline_job_arn_pattern("m")]


def test_the_registry_bucket_lets_promoted_monitors_read_catalog_baselines(stack_run):
    """Catalog entries' baselines are under the training workflow's baseline prefix, which the registry
    bucket already shares with the promoted monitor roles (their own endpoint's and each real-time catalog
    entry's, program/topology.py baseline_reader_role_arns)."""
    assert CATALOG_BASELINE_PREFIX.startswith(f"{BASELINE_PREFIX}/")
    dev = stack_run("dev")
    (policy,) = [r for r in dev.resources if r.type == "aws:s3/bucketPolicy:BucketPolicy"]
    read = next(s for s in policy_statements(policy.inputs["policy"]) if s["Sid"] == "PromotedMonitorsReadBaselines")
    assert read["Resource"].endswith(f"/{BASELINE_PREFIX}/*")
    readers = read["Condition"]["ArnEquals"]["aws:PrincipalArn"]
    for stack, account in (("staging", "222222222222"), ("prod", "333333333333")):
        target = NAMES.of(stack, account)
        for model in ("iris-xgboost", "iris-tree"):  # the real-time uploaded entries reaching the target
            assert target.role_arn(target.catalog_monitor(model).role) in readers


def test_an_uploaded_entrys_package_without_a_baseline_is_told_to_add_baseline_data(run_stack, monkeypatch):
    """Registered before it had baseline_data: no monitor, and the warning says how to get one (iris-tree: its
    endpoint has no monitor entry of its own, whose baseline would be used instead)."""
    import program.monitoring

    real, warnings = program.monitoring.package_baseline, []
    monkeypatch.setattr(program.monitoring, "package_baseline", lambda arn, registry, describe=None:
                        None if "/mlops-dev-byom-iris-tree-models/" in arn else real(arn, registry, describe))
    monkeypatch.setattr(program.monitoring.pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))
    run_stack("staging")
    (warning,) = [w for w in warnings if "no data quality baseline" in w]
    assert "mlops-staging-iris-tree-staging gets no data quality monitor" in warning
    assert warning.endswith("give pipelines[1] (model_name 'iris-tree') baseline_data and upload its model again, "
                            "or set monitoringDataQuality false")
