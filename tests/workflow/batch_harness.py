"""Run a catalog entry's batch pipeline in moto, from an S3 upload to the notification.

The embedded AWS is ``tools.localaws.emulator`` (the ``.sync`` transform, in-process Lambda, SageMaker
error names), with the simulated SageMaker of ``tests.workflow.harness``. What this adds:

- the entry's input bucket with EventBridge notifications on, and the real upload rule
  (``components.batch_pipeline.upload_pattern``) in moto's EventBridge: moto's S3 sends the "Object
  Created" event of an upload to the rules that match it; moto 5.2.5 delivers no event to a Step Functions
  target, so the harness records what reaches the pipeline's target and starts the execution with it,
  unchanged, as EventBridge does;
- `BatchSimulator`: a transform that writes one prediction per input line to
  ``<S3OutputPath>/<object name>.out`` (no label column, unlike the training workflow's evaluation);
- `BatchHarness.upload(...)` / `.request(...)` -> `ExecutionResult`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock
from urllib.parse import urlparse

import boto3
from moto.events.models import Rule

from catalog.entries import S3Location
from components.batch_pipeline import upload_pattern
from components.workflow.batch import BatchDefinitionParams, build_batch_definition
from tests.workflow.harness import (
    ACCOUNT,
    REGION,
    ExecutionResult,
    SageMakerScenario,
    SageMakerSimulator,
    finish_execution,
    iris_rule,
)
from tools.localaws.emulator import EmbeddedAws, LocalFunction

BUCKET = "mlops-test-batch"
INPUT = S3Location(BUCKET, "batch/iris/input")
OUTPUT = S3Location(BUCKET, "batch/iris/output")
MODEL_NAME = "iris"
SAGEMAKER_MODEL = "mlops-test-byom-iris-v3-0123abcd"
PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/mlops-test-byom-iris-models/3"
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlops-test-byom-iris-batch-model"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NOTIFY_FUNCTION = "mlops-test-batch-notify"
JOB_PREFIX = "mlops-test-byom-iris-batch"
ROWS = ["5.1,3.5,1.4,0.2", "7.0,3.2,4.7,1.4", "6.3,3.3,6.0,2.5"]


def batch_params(**overrides: Any) -> BatchDefinitionParams:
    values: dict[str, Any] = dict(
        model_name=MODEL_NAME, sagemaker_model_name=SAGEMAKER_MODEL, model_package_arn=PACKAGE,
        execution_role_arn=EXECUTION_ROLE, job_name_prefix=JOB_PREFIX, input_uri=INPUT.uri, output_uri=OUTPUT.uri,
        kms_key_arn=KMS_KEY, notify_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{NOTIFY_FUNCTION}",
        instance_type="ml.m5.large", instance_count=2, content_type="text/csv", accept="text/csv",
        retry_interval_seconds=1, retry_max_attempts=1, retry_backoff_rate=1.0,
    )
    values.update(overrides)
    return BatchDefinitionParams(**values)


class BatchSimulator(SageMakerSimulator):
    """Transform jobs that predict one label per input line; the requests as the state machine sent them."""

    def __init__(self) -> None:
        super().__init__()
        self.transform_requests: list[dict[str, Any]] = []

    def job_created(self, kind: str, name: str, request: Any = None) -> None:
        super().job_created(kind, name, request)
        if kind == "transform":
            self.transform_requests.append(dict(request))

    def _write_transform_output(self, job: Any) -> None:
        s3 = boto3.client("s3", region_name=self.region)
        source = urlparse(job.transform_input["DataSource"]["S3DataSource"]["S3Uri"])
        target = urlparse(job.transform_output["S3OutputPath"])
        listing = s3.list_objects_v2(Bucket=source.netloc, Prefix=source.path.lstrip("/"))
        for obj in listing.get("Contents", []):
            rows = s3.get_object(Bucket=source.netloc, Key=obj["Key"])["Body"].read().decode().splitlines()
            predictions = [self.scenario.predict([float(v) for v in row.split(",")]) for row in rows if row]
            key = f"{target.path.strip('/')}/{obj['Key'].rsplit('/', 1)[-1]}.out"
            s3.put_object(Bucket=target.netloc, Key=key, Body="\n".join(predictions).encode())


class BatchHarness:
    def __init__(self, params: BatchDefinitionParams | None = None) -> None:
        self.params = params or batch_params()
        self.sim = BatchSimulator()
        self.aws = EmbeddedAws(ACCOUNT, REGION, self.sim, {})
        self.state_machine_arn = ""
        self.topic_arn = ""
        self.delivered: list[tuple[str, dict[str, Any]]] = []
        """(target ARN, input) of every event the rules sent to a Step Functions target."""

    @contextmanager
    def running(self) -> Iterator[BatchHarness]:
        with self.aws.running(), mock.patch.object(Rule, "send_to_targets", self._send_to_targets()):
            self._create_resources()
            yield self

    def _send_to_targets(self):
        original = Rule.send_to_targets
        delivered = self.delivered

        def send_to_targets(rule: Rule, event: Any, transform_input: bool = True) -> None:
            if not rule.event_pattern.matches_event(event):
                return
            is_pipeline = lambda target: target["Arn"].startswith("arn:aws:states:")  # noqa: E731
            for target in filter(is_pipeline, rule.targets):
                # A constant Input replaces the event (the schedule's target); otherwise the event goes unchanged.
                delivered.append((target["Arn"], json.loads(target["Input"]) if target.get("Input") else event))
            others = [t for t in rule.targets if not is_pipeline(t)]
            if others:
                saved, rule.targets = rule.targets, others
                try:
                    original(rule, event, transform_input)
                finally:
                    rule.targets = saved

        return send_to_targets

    def _create_resources(self) -> None:
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_notification_configuration(Bucket=BUCKET,
                                                 NotificationConfiguration={"EventBridgeConfiguration": {}})
        self.topic_arn = boto3.client("sns", region_name=REGION).create_topic(Name="mlops-test-notifications")["TopicArn"]
        self.aws.lambdas.functions = {NOTIFY_FUNCTION: LocalFunction(NOTIFY_FUNCTION, "notify", {"TOPIC_ARN": self.topic_arn})}
        self.state_machine_arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name="mlops-test-byom-iris-batch", definition=json.dumps(build_batch_definition(self.params)),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/mlops-test-byom-iris-batch-sfn")["stateMachineArn"]
        events = boto3.client("events", region_name=REGION)
        events.put_rule(Name="mlops-test-byom-iris-batch-upload", EventPattern=json.dumps(upload_pattern(INPUT)))
        events.put_targets(Rule="mlops-test-byom-iris-batch-upload", Targets=[
            {"Id": "pipeline", "Arn": self.state_machine_arn,
             "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/mlops-test-byom-iris-batch-events"}])

    # running -------------------------------------------------------------------------------------
    def put(self, key: str, rows: list[str] = ROWS) -> None:
        boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body="\n".join(rows).encode())

    def upload(self, key: str, rows: list[str] = ROWS, scenario: SageMakerScenario | None = None) -> ExecutionResult:
        """Put an object; the rule's event starts the pipeline (exactly one execution) and it runs to the end."""
        before = len(self.delivered)
        self.put(key, rows)
        started = self.delivered[before:]
        assert [arn for arn, _ in started] == [self.state_machine_arn], f"the upload of {key} started {started}"
        return self.run(started[0][1], scenario)

    def run(self, execution_input: Any, scenario: SageMakerScenario | None = None, timeout: float = 60) -> ExecutionResult:
        self.sim.start(scenario or SageMakerScenario(predict=iris_rule))
        arn = boto3.client("stepfunctions", region_name=REGION).start_execution(
            stateMachineArn=self.state_machine_arn, name=f"run-{secrets.token_hex(4)}",
            input=json.dumps(execution_input))["executionArn"]
        return finish_execution(arn, timeout=timeout)

    def messages(self) -> list[tuple[str | None, str]]:
        return self.aws.published(self.topic_arn)

    def read(self, uri: str) -> str:
        location = urlparse(uri)
        body = boto3.client("s3", region_name=REGION).get_object(Bucket=location.netloc, Key=location.path.lstrip("/"))
        return body["Body"].read().decode()

    def keys(self, prefix: str) -> list[str]:
        listing = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(obj["Key"] for obj in listing.get("Contents", []))
