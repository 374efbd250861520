"""The baseline of one catalog monitor entry, made whenever its ``baseline_data`` is uploaded.

Like the upload registration of uploaded models (``components.model_upload``: the same event pattern)::

    EventBridge rule: "Object Created" in the stack bucket for exactly the entry's baseline_data key
      -> a Step Functions state machine (its own role):
         [bias / explainability: PrepareAnalysis: the entry's configuration function reads the CSV's header
          row and writes the Clarify analysis configurations (lambdas/clarify_config)]
         Baseline: a SageMaker processing job (.sync) over that CSV (with a header):
                   data / model quality: Model Monitor's analyzer, writing statistics.json and constraints.json
                   into baseline_job_output_location (model quality: analysis_type MODEL_QUALITY with the
                   entry's problem type and the baseline's inference / probability / ground truth columns);
                   bias / explainability: Clarify, writing analysis.json there (components/clarify_config.py)
         [bias / explainability: PublishAnalysis: the monitoring configuration takes effect]
      (bias / explainability: also whenever a deploy changes the served model, whose name each deploy writes
       to baseline/model.json: the configurations name the model Clarify asks)
         -> NotifySuccess (the topic: where the files are) -> Succeeded
         any error -> NotifyFailure (the topic: BaselineFailed, the step's error and cause) -> BaselineFailed

The job runs as its own role (lists and reads only that object, writes only the output prefix, KMS through S3,
its volume with the stack key), its volume and output encrypted, with the entry's ``instance_type``,
``instance_volume_size`` and ``baseline_max_runtime_seconds``; the analyzer with network isolation. Clarify's
baseline asks the served model for predictions on a shadow endpoint it creates and deletes
(``shadow_endpoint_statements``: only ``<Names.clarify_endpoint_prefix>-*``), which network isolation would cut
off, so it runs without. The model is the one the endpoint serves when the stack is deployed: after a new
model, upload baseline_data again (a new model wants a new baseline anyway). The monitor's job definition reads the files at that
output location (``program.catalog_monitoring.baseline_uris``): until the first baseline run has written them,
its executions fail and say so (docs/monitoring.md).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

import pulumi
import pulumi_aws as aws

from catalog.entries import S3Location
from components.clarify_config import (
    ClarifyAnalysis,
    ShadowModel,
    analysis_fields,
)
from components.clarify_monitoring import ConfigKeys, shadow_endpoint_statements
from components.context import StackContext
from components.iam import read_location_statements, service_role, state_machine_logging_statements, statement
from components.model_upload import upload_event_pattern
from components.monitor_common import OUTPUT_PATH, ProcessingSettings
from components.names import Names, s3_uri_arn
from components.notifications import publish_statements
from components.python_function import PythonFunction, PythonFunctionArgs
from components.state_machine import logged_state_machine
from components.workflow.baseline import INPUT_PATH, SYNC_RULE, processing_job_parameters
from components.workflow.states import LAMBDA_TRANSIENT_ERRORS, SAGEMAKER_TRANSIENT_ERRORS
from components.workflow.steps import format_literal

BASELINE_FAILED = "BaselineFailed"
"""The execution's error when the baseline job fails (the notification names it, with the cause)."""
DATASET_FORMAT = '{"csv": {"header": true}}'
"""The framework's baselines: CSV with a header (the attributes name its columns)."""


@dataclass(frozen=True)
class BaselineRun:
    """One monitor entry's baseline, resolved for this stack's environment."""

    label: str
    """How notifications name the entry: ``pipelines[5] (byom_data_quality_monitor 'iris-xgboost')``."""
    monitor_type: str
    """``data-quality``, ``model-quality``, ``model-bias`` or ``model-explainability``."""
    data_key: str
    """``baseline_data``: an object key in the stack bucket."""
    output_uri: str
    """``baseline_job_output_location`` as ``s3://bucket/prefix``."""
    instance_type: str
    volume_gb: int
    max_runtime_seconds: int
    problem_type: str | None = None
    inference_attribute: str | None = None
    probability_attribute: str | None = None
    ground_truth_attribute: str | None = None
    probability_threshold: float | None = None
    """``probability_threshold_attribute``: a binary model's probability above it is the positive label."""
    data_key_arn: str | None = None
    """The entry's ``kms_key_arn`` (its locations' key), used through S3; None: the stack key only."""
    clarify: ClarifyBaseline | None = None
    """Bias / explainability: what Clarify analyses; None for data / model quality."""

    @property
    def files(self) -> str:
        """What the run writes into ``output_uri``."""
        return "analysis.json" if self.clarify else "statistics.json, constraints.json"


@dataclass(frozen=True)
class ClarifyBaseline:
    """A bias / explainability monitor's baseline: its analysis (without headers: the run reads them from the
    baseline data) and the served model it asks for predictions, on a shadow endpoint."""

    analysis: ClarifyAnalysis
    model_name: pulumi.Input[str]
    """The served endpoint's model (``definition`` takes it resolved)."""
    instance_type: str
    """The served endpoint's instance type: the shadow endpoint's."""
    shadow_endpoint_prefix: str
    """``Names.clarify_endpoint_prefix``: the shadow endpoints the job's role may create and delete."""
    keys: ConfigKeys
    """Where the configurations go in the stack bucket (``components.clarify_monitoring.config_keys``)."""

    def shadow_model(self) -> ShadowModel:
        if not isinstance(self.model_name, str):
            raise TypeError("ClarifyBaseline.model_name must be resolved before the definition is written")
        return ShadowModel(self.model_name, self.instance_type, self.shadow_endpoint_prefix)


@dataclass(frozen=True)
class BaselineNames:
    machine: str
    """The state machine's name, also its role's (``Names.catalog_name``), and the job names' start."""
    job_role: str
    events_role: str
    rule: str
    config_function: str | None = None
    """Bias / explainability: the configuration function's name (its role: ``<name>-fn``)."""
    model_rule: str | None = None
    """Bias / explainability: the rule that starts the run when the served model changes."""


@dataclass(frozen=True)
class MonitorBaselineArgs:
    ctx: StackContext
    run: BaselineRun
    names: BaselineNames
    image_uri: str
    """Model Monitor's analyzer image in the stack's region."""


def analyzer_environment(run: BaselineRun) -> dict[str, str]:
    """The analyzer's configuration (environment variables) for the run's monitor type."""
    env = {"dataset_format": DATASET_FORMAT, "dataset_source": INPUT_PATH, "output_path": OUTPUT_PATH,
           "publish_cloudwatch_metrics": "Disabled"}
    if run.monitor_type == "model-quality":
        env["analysis_type"] = "MODEL_QUALITY"
        extra = {"problem_type": run.problem_type, "inference_attribute": run.inference_attribute,
                 "probability_attribute": run.probability_attribute,
                 "ground_truth_attribute": run.ground_truth_attribute,
                 "probability_threshold_attribute": None if run.probability_threshold is None else
                 str(run.probability_threshold)}
        env.update({k: v for k, v in extra.items() if v is not None})
    return env


def _analyzer_job(run: BaselineRun, source: str, image_uri: str, job_role_arn: str, kms_key_arn: str) -> dict[str, Any]:
    job = processing_job_parameters(
        job_name="", role_arn=job_role_arn, image_uri=image_uri, dataset=source, output=run.output_uri,
        instance_type=run.instance_type, volume_gb=run.volume_gb, max_runtime_seconds=run.max_runtime_seconds,
        kms_key_arn=kms_key_arn, output_kms_key_arn=run.data_key_arn, network_isolation=True,
        environment=analyzer_environment(run))
    del job["ProcessingJobName"]  # the definition names the job from the execution
    return job


def clarify_processing_job(*, image_uri: str, role_arn: str, dataset_uri: str, config_uri: str, output_uri: str,
                           output_kms_key_arn: str, settings: ProcessingSettings) -> dict[str, Any]:
    """The Clarify baseline's ``CreateProcessingJob`` request without its name: the Clarify image, the
    ``analysis_config`` (``config_uri``) and ``dataset`` inputs and the ``analysis_result`` output Clarify requires
    by name (its paths: the SDK's SageMakerClarifyProcessor), KMS on the output; cluster, volume key, isolation and
    runtime from ``settings``. No container environment: Clarify takes everything from the analysis configuration
    (the SDK's processor sets none either)."""
    def s3_input(name: str, uri: str, path: str) -> dict[str, Any]:
        return {"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": path, "S3DataType": "S3Prefix",
                                               "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}}

    return {
        "AppSpecification": {"ImageUri": image_uri},
        "RoleArn": role_arn,
        "ProcessingInputs": [s3_input("analysis_config", config_uri, "/opt/ml/processing/input/config"),
                             s3_input("dataset", dataset_uri, "/opt/ml/processing/input/data")],
        "ProcessingOutputConfig": {"KmsKeyId": output_kms_key_arn, "Outputs": [{
            "OutputName": "analysis_result",
            "S3Output": {"S3Uri": output_uri, "LocalPath": OUTPUT_PATH, "S3UploadMode": "EndOfJob"}}]},
        **settings.processing_job_parameters(),
    }


def _clarify_job(run: BaselineRun, clarify: ClarifyBaseline, source: str, *, image_uri: str, bucket: str,
                 job_role_arn: str, kms_key_arn: str) -> dict[str, Any]:
    # Clarify asks the model on a shadow endpoint it creates: network isolation would cut it off.
    return clarify_processing_job(
        image_uri=image_uri, role_arn=job_role_arn, dataset_uri=source,
        config_uri=f"s3://{bucket}/{clarify.keys.baseline}", output_uri=run.output_uri,
        output_kms_key_arn=run.data_key_arn or kms_key_arn, settings=ProcessingSettings(
            instance_type=run.instance_type, instance_count=1, volume_gb=run.volume_gb, volume_key_arn=kms_key_arn,
            max_runtime_seconds=run.max_runtime_seconds, network_isolation=False))


def configuration_event(run: BaselineRun, clarify: ClarifyBaseline, action: str, *, bucket: str,
                        kms_key_arn: str) -> dict[str, Any]:
    """The configuration function's event for ``action`` (``prepare`` / ``publish``: lambdas/clarify_config)."""
    staged = {"stagedConfig": f"s3://{bucket}/{clarify.keys.staged}", "kmsKeyArn": kms_key_arn}
    if action == "publish":
        return {"action": action, **staged, "monitoringConfig": f"s3://{bucket}/{clarify.keys.live}"}
    return {"action": action, "dataset": f"s3://{bucket}/{run.data_key}", "model": asdict(clarify.shadow_model()),
            "analysis": analysis_fields(clarify.analysis),
            "baselineConfig": f"s3://{bucket}/{clarify.keys.baseline}", **staged}


_CATCH = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}]


def definition(run: BaselineRun, *, image_uri: str, bucket: str, job_prefix: str, job_role_arn: str, kms_key_arn: str,
               topic_arn: str, config_function_arn: str | None = None) -> dict[str, Any]:
    """The state machine's Amazon States Language definition (plain values): the job runs ``image_uri`` (the
    analyzer, or Clarify), is named ``<job_prefix, at most 54 characters>-<the execution name's first part>``,
    runs as ``job_role_arn`` with ``kms_key_arn`` on its volume (and its output, unless the entry has its own
    key), and its outcome is published to ``topic_arn``; ``config_function_arn``: the configuration function of
    a bias / explainability run."""
    job_name = (f"States.Format('{format_literal(job_prefix[:54])}-{{}}', "
                "States.ArrayGetItem(States.StringSplit($$.Execution.Name, '-'), 0))")
    source = f"s3://{bucket}/{run.data_key}"
    # Text in a States.Format template: the label quotes the model name ('iris-xgboost'), a key may hold ' { } \.
    failed = format_literal(f"{BASELINE_FAILED}: {run.label}: the {run.monitor_type} baseline of {source} failed")
    clarify = run.clarify
    job = (_analyzer_job(run, source, image_uri, job_role_arn, kms_key_arn) if clarify is None else
           _clarify_job(run, clarify, source, image_uri=image_uri, bucket=bucket, job_role_arn=job_role_arn,
                        kms_key_arn=kms_key_arn))
    states: dict[str, Any] = {
        "Baseline": {
            "Type": "Task", "Resource": "arn:aws:states:::sagemaker:createProcessingJob.sync",
            "Parameters": {"ProcessingJobName.$": job_name, **job},
            # SageMaker's API errors, throttling included (a failed job is States.TaskFailed: not retried).
            "ResultPath": "$.baseline", "Retry": [{"ErrorEquals": list(SAGEMAKER_TRANSIENT_ERRORS),
                                                   "IntervalSeconds": 5, "MaxAttempts": 3, "BackoffRate": 2}],
            "Catch": _CATCH, "Next": "NotifySuccess",
        },
    }
    start = "Baseline"
    if clarify is not None:
        if config_function_arn is None:
            raise ValueError(f"{run.label}: a {run.monitor_type} baseline needs its configuration function")

        def configure(action: str, result: str | None, after: str) -> dict[str, Any]:
            return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": config_function_arn, "Payload": configuration_event(
                        run, clarify, action, bucket=bucket, kms_key_arn=kms_key_arn)},
                    "ResultSelector": {"result.$": "$.Payload"}, "ResultPath": result,
                    "Retry": [{"ErrorEquals": list(LAMBDA_TRANSIENT_ERRORS), "IntervalSeconds": 2,
                               "MaxAttempts": 3, "BackoffRate": 2}],
                    "Catch": _CATCH, "Next": after}

        start = "PrepareAnalysis"
        states = {"PrepareAnalysis": configure("prepare", "$.analysis", "Baseline"), **states,
                  "PublishAnalysis": configure("publish", None, "NotifySuccess")}
        states["Baseline"]["Next"] = "PublishAnalysis"
    return {
        "Comment": f"The {run.monitor_type} baseline of {run.label} from {source}",
        "StartAt": start,
        "States": {
            **states,
            "NotifySuccess": {
                "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": topic_arn, "Subject": f"Baseline made: {run.monitor_type}"[:100],
                               "Message": f"{run.label}: the {run.monitor_type} baseline of {source} is in "
                                          f"{run.output_uri}/ ({run.files}); the monitor "
                                          "compares with it from its next execution."},
                "ResultPath": None, "Next": "Succeeded"},
            "NotifyFailure": {
                "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": topic_arn, "Subject": f"{BASELINE_FAILED}: {run.monitor_type}"[:100],
                               "Message.$": f"States.Format('{failed} ({{}}): {{}}', $.error.Error, $.error.Cause)"},
                "ResultPath": None, "Next": BASELINE_FAILED},
            "Succeeded": {"Type": "Succeed"},
            BASELINE_FAILED: {"Type": "Fail", "Error": BASELINE_FAILED,
                              "Cause": f"The {run.monitor_type} baseline job of {run.label} failed (see the notification)"},
        },
    }


class MonitorBaseline(pulumi.ComponentResource):
    state_machine_arn: pulumi.Output[str]

    def __init__(self, name: str, args: MonitorBaselineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:monitoring:MonitorBaseline", name, None, opts)
        a, ctx, run, n = args, args.ctx, args.run, args.names
        child = pulumi.ResourceOptions(parent=self)
        names = ctx.names
        via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{ctx.region}.amazonaws.com"}}
        data_keys = [run.data_key_arn] if run.data_key_arn else []
        job_role, _ = service_role(
            f"{name}-job", role_name=n.job_role, description=f"The {run.monitor_type} baseline job of {run.label}",
            service="sagemaker.amazonaws.com", account_id=ctx.account, opts=child, statements=[
                # The job's input is an S3Prefix: SageMaker lists the key before it downloads it.
                *read_location_statements("ListBaselineData", "ReadBaselineData", S3Location(names.bucket, run.data_key)),
                *(_clarify_job_statements(ctx, run.clarify) if run.clarify else []),
                statement("WriteBaseline", ["s3:PutObject"], [s3_uri_arn(run.output_uri) + "/*"]),
                statement("DecryptThroughS3", ["kms:Decrypt"], [ctx.kms_key_arn, *data_keys], condition=via_s3),
                statement("EncryptThroughS3", ["kms:GenerateDataKey"], [ctx.kms_key_arn, *data_keys], condition=via_s3),
                statement("EncryptJobVolume", ["kms:CreateGrant"], [ctx.kms_key_arn], condition={
                    "StringEquals": {"kms:ViaService": f"sagemaker.{ctx.region}.amazonaws.com"},
                    "Bool": {"kms:GrantIsForAWSResource": "true"}}),
                statement("WriteJobLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                          [names.log_group_arn("/aws/sagemaker/ProcessingJobs:*")]),
            ])
        function = self._config_function(name, args) if run.clarify else None
        invoke = [] if function is None else [
            statement("ConfigureAnalysis", ["lambda:InvokeFunction"], [function.function_arn])]
        function_arn = None if function is None else function.function_arn
        model_name = None if run.clarify is None else run.clarify.model_name

        def document_of(v: list[Any]) -> str:
            resolved = run if run.clarify is None else replace(run, clarify=replace(run.clarify, model_name=v[4]))
            return json.dumps(definition(resolved, image_uri=a.image_uri, bucket=names.bucket, job_prefix=n.machine,
                                         job_role_arn=v[0], kms_key_arn=v[1], topic_arn=v[2],
                                         config_function_arn=v[3]), indent=2)

        document = pulumi.Output.all(job_role.arn, ctx.kms_key_arn, ctx.topic_arn, function_arn, model_name).apply(
            document_of)
        machine = logged_state_machine(
            name, ctx=ctx, machine_name=n.machine, definition=document, role_base=f"{name}-run", role_name=n.machine,
            role_description=f"Runs the {run.monitor_type} baseline of {run.label}", parent=self, statements=[
                statement("RunBaselineJob", ["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob",
                                             "sagemaker:StopProcessingJob", "sagemaker:AddTags"],
                          [names.sagemaker_arn(f"processing-job/{n.machine[:54]}-*")]),
                statement("PassJobRole", ["iam:PassRole"], [job_role.arn],
                          condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}),
                statement("WaitForJob", ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                          [names.event_rule_arn(SYNC_RULE)]),
                *invoke,
                *publish_statements(ctx.topic_arn, ctx.kms_key_arn),
                *state_machine_logging_statements(),
            ])
        events_role, _ = service_role(
            f"{name}-events", role_name=n.events_role, description=f"An upload of {run.data_key} starts its baseline",
            service="events.amazonaws.com", account_id=ctx.account, opts=child,
            statements=[statement("StartBaseline", ["states:StartExecution"], [machine.arn])])
        rule = aws.cloudwatch.EventRule(
            f"{name}-rule", name=n.rule,
            description=f"An upload of {run.data_key}: make the {run.monitor_type} baseline of {run.label}"[:512],
            event_pattern=json.dumps(upload_event_pattern(names.bucket, run.data_key)), opts=child)
        aws.cloudwatch.EventTarget(
            f"{name}-target", rule=rule.name, arn=machine.arn, role_arn=events_role.arn,
            retry_policy={"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 10}, opts=child)
        if run.clarify is not None:
            self._rerun_on_new_model(name, args, machine, events_role)
        self.state_machine_arn = machine.arn
        self.register_outputs({"state_machine_arn": self.state_machine_arn})

    def _rerun_on_new_model(self, name: str, args: MonitorBaselineArgs, machine: aws.sfn.StateMachine,
                            events_role: aws.iam.Role) -> None:
        """The configurations name the served model, which a deploy may replace (and delete): each deploy writes
        the model's name to ``keys.model``, after the state machine that names it, and a change of that object
        runs the baseline again, for the new model (the first deploy's run asks for baseline_data if it is not
        there yet)."""
        ctx, run, n = args.ctx, args.run, args.names
        assert run.clarify is not None and n.model_rule is not None
        child = pulumi.ResourceOptions(parent=self)
        key, instance_type = run.clarify.keys.model, run.clarify.instance_type
        aws.s3.BucketObjectv2(
            f"{name}-model", bucket=ctx.bucket_name, key=key, content_type="application/json",
            content=pulumi.Output.from_input(run.clarify.model_name).apply(
                lambda model: json.dumps({"model_name": model, "instance_type": instance_type})),
            server_side_encryption="aws:kms", kms_key_id=ctx.kms_key_arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[machine]))
        rule = aws.cloudwatch.EventRule(
            f"{name}-model-rule", name=n.model_rule,
            description=f"A new model behind {run.label}'s endpoint: make its {run.monitor_type} baseline again"[:512],
            event_pattern=json.dumps(upload_event_pattern(ctx.names.bucket, key)), opts=child)
        aws.cloudwatch.EventTarget(
            f"{name}-model-target", rule=rule.name, arn=machine.arn, role_arn=events_role.arn,
            retry_policy={"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 10}, opts=child)

    def _config_function(self, name: str, args: MonitorBaselineArgs) -> PythonFunction:
        """The bias / explainability run's configuration function (lambdas/clarify_config): reads the first
        bytes of the baseline data, writes the baseline and staged configurations, copies the staged one live."""
        ctx, run, names = args.ctx, args.run, args.ctx.names
        assert run.clarify is not None and args.names.config_function is not None
        keys, bucket = run.clarify.keys, names.bucket
        via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{ctx.region}.amazonaws.com"}}
        data_keys = [run.data_key_arn] if run.data_key_arn else []
        return PythonFunction(f"{name}-config", PythonFunctionArgs(
            ctx, function_name=args.names.config_function, folder="clarify_config",
            description=f"Clarify configurations of {run.label} from its baseline data's header row"[:256],
            modules=("components/clarify_config.py",), statements=[
                # Without it S3 answers a missing baseline_data with AccessDenied instead of NoSuchKey.
                statement("FindBaselineData", ["s3:ListBucket"], [Names.s3_arn(bucket)],
                          condition={"StringEquals": {"s3:prefix": run.data_key}}),
                statement("ReadHeaderRowAndStagedConfig", ["s3:GetObject"], [
                    Names.s3_arn(bucket, run.data_key), Names.s3_arn(bucket, keys.staged)]),
                statement("WriteConfigs", ["s3:PutObject"], [
                    Names.s3_arn(bucket, keys.baseline), Names.s3_arn(bucket, keys.staged),
                    Names.s3_arn(bucket, keys.live)]),
                statement("DecryptThroughS3", ["kms:Decrypt"], [ctx.kms_key_arn, *data_keys], condition=via_s3),
                statement("EncryptThroughS3", ["kms:GenerateDataKey"], [ctx.kms_key_arn], condition=via_s3),
            ]), opts=pulumi.ResourceOptions(parent=self))


def _clarify_job_statements(ctx: StackContext, clarify: ClarifyBaseline) -> list[dict[str, Any]]:
    """What Clarify's baseline job reads besides the data (its configuration, a SHAP baseline file) and asks:
    the served model, on a shadow endpoint (``shadow_endpoint_statements``)."""
    names = ctx.names
    shap_baseline = clarify.analysis.shap_config.get("baseline")  # rows, or the S3 URI of a file of them
    shap_file = [s3_uri_arn(shap_baseline)] if isinstance(shap_baseline, str) else []
    return [
        # Clarify's analysis_config input is an S3Prefix too.
        *read_location_statements("ListAnalysisConfig", "ReadAnalysisConfig",
                                  S3Location(names.bucket, clarify.keys.baseline)),
        *([statement("ReadShapBaseline", ["s3:GetObject"], shap_file)] if shap_file else []),
        *shadow_endpoint_statements(names, clarify.shadow_endpoint_prefix),
    ]
