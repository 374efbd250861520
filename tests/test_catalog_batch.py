"""Batch catalog entries (byom_batch_builtin, byom_batch_custom) as batch transform pipelines."""

from __future__ import annotations

import fnmatch
import json

import pytest

from components.iam import state_machine_logging_statements
from components.names import Names
from components.workflow.batch import B
from tests.catalog.bodies import IMAGE, catalog, framework_body
from tools.mockrun import run_program
from tools.tokens import Token


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_stack_bucket_sends_its_object_events_to_eventbridge(stack_run, stack):
    run = stack_run(stack)
    (notification,) = run.by_type(Token.S3_BUCKET_NOTIFICATION)
    bucket = run.one(Token.S3_BUCKET)
    assert notification.inputs == {"bucket": bucket.id, "eventbridge": True}
    assert notification.parent_name == bucket.parent_name


# --------------------------------------------------------------------------------------------------
# the shipped example catalog: one pipeline per batch entry in every stack

ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
REGION = "eu-west-1"
DEV_BUCKET = "mlops-dev-111111111111-eu-west-1"


def key_arn(stack: str) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNTS[stack]}:key/mlops-{stack}-foundation-key-0000"


def policy(run, name: str) -> list[dict]:
    return json.loads(run.named(name).inputs["policy"])["Statement"]


def definition(run, name: str) -> dict:
    return json.loads(run.named(f"{name}-state-machine").inputs["definition"])


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_each_stack_has_one_pipeline_per_batch_entry_and_lists_them_in_its_outputs(stack_run, stack):
    run = stack_run(stack)
    pipelines = run.by_type("mlops:catalog:BatchPipeline")
    assert sorted(p.name for p in pipelines) == [f"mlops-{stack}-batch-iris-tree-batch",
                                                 f"mlops-{stack}-batch-iris-xgboost-batch"]
    bucket = f"s3://mlops-{stack}-{ACCOUNTS[stack]}-{REGION}"
    assert run.outputs["catalogBatchPipelines"] == {
        model: {"stateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNTS[stack]}:stateMachine:mlops-{stack}-byom-{model}-batch",
                "input": f"{bucket}/batch/{folder}/input", "output": f"{bucket}/batch/{folder}/output"}
        for model, folder in (("iris-xgboost-batch", "iris-xgboost"), ("iris-tree-batch", "iris-tree"))}
    # one notify function for all of them; nothing is scheduled unless an entry sets batch_schedule
    assert run.one(Token.LAMBDA_FUNCTION, f"mlops-{stack}-batch-notify-function").inputs["name"] == f"mlops-{stack}-batch-notify"
    assert [r.name for r in run.by_type(Token.CLOUDWATCH_EVENT_RULE) if "schedule" in r.name] == []


def test_the_execution_role_reads_its_input_writes_its_output_and_reads_only_its_artifact(stack_run):
    run = stack_run("dev")
    via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}
    logs = f"arn:aws:logs:{REGION}:111111111111:log-group:/aws/sagemaker/TransformJobs"
    assert policy(run, "mlops-dev-batch-iris-xgboost-batch-model-policy") == [
        {"Sid": "ListInput", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{DEV_BUCKET}"],
         "Condition": {"StringLike": {"s3:prefix": ["batch/iris-xgboost/input", "batch/iris-xgboost/input/*"]}}},
        {"Sid": "ReadInput", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [f"arn:aws:s3:::{DEV_BUCKET}/batch/iris-xgboost/input",
                      f"arn:aws:s3:::{DEV_BUCKET}/batch/iris-xgboost/input/*"]},
        {"Sid": "WriteOutput", "Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
         "Resource": [f"arn:aws:s3:::{DEV_BUCKET}/batch/iris-xgboost/output/*"]},
        # the package registered from the entry's upload: that object, in the registry's bucket
        {"Sid": "ReadModelArtifact", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [f"arn:aws:s3:::{DEV_BUCKET}/models/iris-xgboost/model.tar.gz"]},
        {"Sid": "DecryptThroughS3", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [key_arn("dev")],
         "Condition": via_s3},
        {"Sid": "EncryptOutputThroughS3", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Encrypt"],
         "Resource": [key_arn("dev")], "Condition": via_s3},
        # a built-in algorithm's image: SageMaker pulls it from AWS's registry, the role needs no ECR grant
        {"Sid": "WriteJobLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [f"{logs}:log-stream:mlops-dev-byom-iris-x-b90829b3-*"]},
        {"Sid": "FindJobLogGroup", "Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:DescribeLogStreams"],
         "Resource": [f"{logs}:*"]},
        {"Sid": "PublishJobMetrics", "Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": ["*"],
         "Condition": {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}},
    ]


def test_a_trained_package_in_another_account_is_read_from_the_registry(stack_run):
    """iris-tree-batch names a package of dev's training workflow: staging reads dev's workflow/ and image."""
    statements = {s["Sid"]: s for s in policy(stack_run("staging"), "mlops-staging-batch-iris-tree-batch-model-policy")}
    assert statements["ReadModelArtifact"]["Resource"] == [f"arn:aws:s3:::{DEV_BUCKET}/workflow/*"]
    assert statements["DecryptThroughS3"]["Resource"] == [key_arn("staging"), f"arn:aws:kms:{REGION}:111111111111:key/*"]
    assert statements["PullModelImage"] == {
        "Sid": "PullModelImage", "Effect": "Allow",
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
        "Resource": [f"arn:aws:ecr:{REGION}:111111111111:repository/mlops-dev-model"]}
    assert statements["EcrLogin"]["Resource"] == ["*"]
    assert statements["WriteOutput"]["Resource"] == [
        f"arn:aws:s3:::mlops-staging-222222222222-{REGION}/batch/iris-tree/output/*"]


def test_the_state_machine_role_touches_only_its_model_jobs_role_key_and_notify_function(stack_run):
    run = stack_run("dev")
    model = "arn:aws:sagemaker:eu-west-1:111111111111:model/mlops-dev-byom-iris-tree-batch-v1-25e386f5"
    jobs = f"arn:aws:sagemaker:{REGION}:111111111111:transform-job/mlops-dev-byom-iris-t-d1cd79a4-{'?' * 32}"
    assert policy(run, "mlops-dev-batch-iris-tree-batch-sfn-policy") == [
        {"Sid": "FindAndCreateOwnModel", "Effect": "Allow", "Action": ["sagemaker:DescribeModel", "sagemaker:CreateModel"],
         "Resource": [model]},
        {"Sid": "UseServedPackage", "Effect": "Allow",
         "Action": ["sagemaker:CreateModel", "sagemaker:DescribeModelPackage"],
         "Resource": ["arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-models/1"]},
        {"Sid": "RunOwnTransformJobs", "Effect": "Allow", "Action": ["sagemaker:CreateTransformJob"], "Resource": [jobs],
         "Condition": {"ArnEquals": {"sagemaker:ModelArn": model}}},
        {"Sid": "WatchOwnTransformJobs", "Effect": "Allow",
         "Action": ["sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"], "Resource": [jobs]},
        {"Sid": "PassOwnExecutionRole", "Effect": "Allow", "Action": ["iam:PassRole"],
         "Resource": ["arn:aws:iam::111111111111:role/mlops-dev-byom-iris-tree-batch-batch-model"],
         "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}},
        {"Sid": "SyncTransformJobEvents", "Effect": "Allow",
         "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
         "Resource": [f"arn:aws:events:{REGION}:111111111111:rule/StepFunctionsGetEventsForSageMakerTransformJobsRule"]},
        {"Sid": "Notify", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
         "Resource": [f"arn:aws:lambda:{REGION}:111111111111:function:mlops-dev-batch-notify"]},
        {"Sid": "LetSageMakerUseJobKey", "Effect": "Allow", "Action": ["kms:CreateGrant"], "Resource": [key_arn("dev")],
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
        {"Sid": "DescribeJobKey", "Effect": "Allow", "Action": ["kms:DescribeKey"], "Resource": [key_arn("dev")]},
        *state_machine_logging_statements(),
    ]
    trust = json.loads(run.named("mlops-dev-batch-iris-tree-batch-sfn-role").inputs["assumeRolePolicy"])["Statement"]
    assert trust[0]["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:states:{REGION}:111111111111:stateMachine:mlops-dev-byom-iris-tree-batch-batch"}


def test_the_job_pattern_covers_no_other_entrys_jobs():
    names = Names("mlops", "dev", "111111111111", REGION)
    pattern = names.catalog_batch_job_arn_pattern("a")
    other = names.sagemaker_arn(f"transform-job/{names.catalog_batch_job_prefix('a-batch')}-{'0' * 32}")
    own = names.sagemaker_arn(f"transform-job/{names.catalog_batch_job_prefix('a')}-{'0' * 32}")
    assert fnmatch.fnmatchcase(own, pattern) and not fnmatch.fnmatchcase(other, pattern)


def test_an_upload_under_the_input_prefix_starts_the_pipeline(stack_run):
    run = stack_run("prod")
    rule = run.named("mlops-prod-batch-iris-xgboost-batch-upload")
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.s3"], "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [f"mlops-prod-333333333333-{REGION}"]},
                   "object": {"key": ["batch/iris-xgboost/input", {"prefix": "batch/iris-xgboost/input/"}]}}}
    target = run.named("mlops-prod-batch-iris-xgboost-batch-upload-target")
    machine = run.named("mlops-prod-batch-iris-xgboost-batch-state-machine")
    events_role = run.named("mlops-prod-batch-iris-xgboost-batch-events-role")
    assert (target.inputs["arn"], target.inputs["roleArn"]) == (machine.outputs["arn"], events_role.outputs["arn"])
    assert "input" not in target.inputs  # the event itself is the execution's input
    assert policy(run, "mlops-prod-batch-iris-xgboost-batch-events-policy") == [
        {"Sid": "StartPipeline", "Effect": "Allow", "Action": ["states:StartExecution"], "Resource": [machine.outputs["arn"]]}]


def test_the_state_machine_runs_the_entrys_values(stack_run):
    run = stack_run("staging")
    states = definition(run, "mlops-staging-batch-iris-xgboost-batch")["States"]
    role = run.named("mlops-staging-batch-iris-xgboost-batch-model-role").outputs["arn"]
    package = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-byom-iris-xgboost-batch-models/1"
    assert states[B.CREATE_MODEL]["Parameters"]["PrimaryContainer"] == {"ModelPackageName": package}
    assert states[B.CREATE_MODEL]["Parameters"]["ExecutionRoleArn"] == role
    transform = states[B.TRANSFORM]["Parameters"]
    assert transform["TransformResources"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                               "VolumeKmsKeyId": key_arn("staging")}
    assert transform["TransformOutput"]["KmsKeyId"] == key_arn("staging")
    assert transform["TransformOutput"]["S3OutputPath.$"] == (
        f"States.Format('s3://mlops-staging-222222222222-{REGION}/batch/iris-xgboost/output/{{}}', $.run.jobName)")
    assert states[B.NOTIFY_SUCCESS]["Parameters"]["FunctionName"] == (
        f"arn:aws:lambda:{REGION}:222222222222:function:mlops-staging-batch-notify")
    machine = run.named("mlops-staging-batch-iris-xgboost-batch-state-machine")
    assert machine.inputs["loggingConfiguration"]["includeExecutionData"] is False
    assert machine.inputs["tracingConfiguration"] == {"enabled": True}


# --------------------------------------------------------------------------------------------------
# catalogs of our own: schedules, keys, framework bodies, nothing served yet


def run_with(tmp_path, *bodies, packages=None, stack="dev"):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog(*bodies)))
    return run_program(stack, overrides={"catalogFile": str(path), "catalogPackages": json.dumps(packages or {})})


PINNED = {"testmodel": "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-byom-testmodel-models/4"}


def test_a_schedule_transforms_the_whole_prefix(tmp_path):
    body = framework_body("byom_batch_builtin") | {"batch_schedule": "cron(0 2 * * ? *)"}
    run = run_with(tmp_path, body, packages=PINNED)
    rule = run.named("mlops-dev-batch-testmodel-schedule")
    assert rule.inputs["scheduleExpression"] == "cron(0 2 * * ? *)"
    assert rule.inputs["name"] == "mlops-dev-byom-testmodel-batch-schedule"
    target = run.named("mlops-dev-batch-testmodel-schedule-target")
    assert json.loads(target.inputs["input"]) == {"inputUri": "s3://inference/data.csv/"}
    assert target.inputs["arn"] == run.named("mlops-dev-batch-testmodel-state-machine").outputs["arn"]


def test_the_schedule_may_differ_per_environment(tmp_path):
    body = framework_body("byom_batch_custom", multi=True) | {
        "batch_schedule": {"dev": "rate(1 day)", "staging": "rate(12 hours)", "prod": "rate(7 days)"}}
    for stack, expression in (("dev", "rate(1 day)"), ("prod", "rate(7 days)")):
        run = run_with(tmp_path, body, packages=PINNED, stack=stack)
        assert run.named(f"mlops-{stack}-batch-testmodel-schedule").inputs["scheduleExpression"] == expression


@pytest.mark.parametrize("kind", ["byom_batch_builtin", "byom_batch_custom"])
@pytest.mark.parametrize("multi", [False, True])
def test_framework_bodies_become_pipelines(tmp_path, kind, multi):
    run = run_with(tmp_path, framework_body(kind, multi=multi), packages=PINNED)
    (pipeline,) = run.by_type("mlops:catalog:BatchPipeline")
    assert pipeline.name == "mlops-dev-batch-testmodel"
    output = "bucket/dev_output" if multi else "bucket/output"
    assert run.outputs["catalogBatchPipelines"]["testmodel"]["input"] == "s3://inference/data.csv"
    assert run.outputs["catalogBatchPipelines"]["testmodel"]["output"] == f"s3://{output}"
    statements = {s["Sid"]: s for s in policy(run, "mlops-dev-batch-testmodel-model-policy")}
    assert statements["ReadInput"]["Resource"] == ["arn:aws:s3:::inference/data.csv", "arn:aws:s3:::inference/data.csv/*"]
    assert statements["WriteOutput"]["Resource"] == [f"arn:aws:s3:::{output}/*"]
    assert statements["ReadModelArtifact"]["Resource"] == [f"arn:aws:s3:::{DEV_BUCKET}/model.tar.gz"]
    if kind == "byom_batch_custom":  # the entry's own image, nothing else
        assert statements["PullModelImage"]["Resource"] == ["arn:aws:ecr:us-east-1:123456789012:repository/mlops-ecrrep"]
        assert IMAGE.startswith("123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-ecrrep:")
    else:
        assert "PullModelImage" not in statements and "EcrLogin" not in statements
    rule = json.loads(run.named("mlops-dev-batch-testmodel-upload").inputs["eventPattern"])
    assert rule["detail"] == {"bucket": {"name": ["inference"]}, "object": {"key": ["data.csv", {"prefix": "data.csv/"}]}}


def test_the_entrys_own_key_encrypts_output_and_volumes(tmp_path):
    key = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    run = run_with(tmp_path, framework_body("byom_batch_builtin") | {"kms_key_arn": key}, packages=PINNED)
    transform = definition(run, "mlops-dev-batch-testmodel")["States"][B.TRANSFORM]["Parameters"]
    assert transform["TransformOutput"]["KmsKeyId"] == key and transform["TransformResources"]["VolumeKmsKeyId"] == key
    model = {s["Sid"]: s for s in policy(run, "mlops-dev-batch-testmodel-model-policy")}
    assert model["EncryptOutputThroughS3"]["Resource"] == [key]
    assert model["DecryptThroughS3"]["Resource"] == [key, key_arn("dev")]
    machine = {s["Sid"]: s for s in policy(run, "mlops-dev-batch-testmodel-sfn-policy")}
    assert machine["LetSageMakerUseJobKey"]["Resource"] == [key] and machine["DescribeJobKey"]["Resource"] == [key]


def test_an_entry_with_nothing_served_yet_gets_no_pipeline(tmp_path):
    run = run_with(tmp_path, framework_body("byom_batch_builtin"))
    assert run.by_type("mlops:catalog:BatchPipeline") == []
    assert "catalogBatchPipelines" not in run.outputs
    assert [r for r in run.resources if "batch-notify" in r.name] == []


def test_an_entry_that_does_not_reach_the_stack_gets_no_pipeline(tmp_path):
    body = framework_body("byom_batch_builtin") | {"inference_instance": {"staging": "ml.m5.large"}}
    assert run_with(tmp_path, body, packages=PINNED, stack="staging").by_type("mlops:catalog:BatchPipeline")
    assert run_with(tmp_path, body, stack="dev").by_type("mlops:catalog:BatchPipeline") == []
