"""Run the training workflow in moto's Step Functions interpreter, with the real Lambda handlers.

The embedded AWS itself (moto, its Step Functions interpreter and the patches that make the workflow
run: the SageMaker ``.sync`` task service, in-process Lambda dispatch, ...) is the product module
``tools.localaws.emulator``, which ``make run`` uses too. This file adds what only the tests need:

- `SageMakerSimulator`: SageMaker jobs and endpoints *simulated* per `SageMakerScenario` (how many
  polls a job stays InProgress, whether training or the transform fails and why, what the model
  predicts: the transform writes ``<label>,<prediction>`` lines to S3 as the DataProcessing filters
  would, and the real evaluate handler scores them; how the endpoint behaves). ``make run`` plugs in
  the real container instead (``tools.localaws.container``).
- `WorkflowHarness`: a test account with the workflow built from `definition_params` (tiny waits and
  retries), the resources the handlers need, and `run(input, on_approval=...)`, which returns the final
  status, output, error, cause and the sequence of states entered.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlencode, urlparse

import boto3

from components.workflow.definition import build_definition
from components.workflow.params import WorkflowDefinitionParams
from tools.localaws.baseline import run_baseline_job
from tools.localaws.emulator import EmbeddedAws, LocalFunction, SageMakerModel, load_handler

ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"
DATA_BUCKET = "mlops-test-data"
ARTIFACT_BUCKET = "mlops-test-artifacts"
APPROVAL_API_URL = "https://approvals.example.test/v1/decide"
INFERENCE_URL = "https://inference.example.test/v1/predict"
ENDPOINT_NAME = "mlops-test-iris"
MODEL_PACKAGE_GROUP = "mlops-test-iris"
# What sagemaker-core's image_uris gives for framework="model-monitor" in REGION.
BASELINE_IMAGE = "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"

# Lambda function name in the definition -> package in lambdas/ holding handler.py.
FUNCTIONS = {
    "mlops-test-approval-request": "approval_request",
    "mlops-test-evaluate": "evaluate",
    "mlops-test-notify": "notify",
    "mlops-test-inference-proxy": "inference_proxy",
}
DECISION_PACKAGE = "approval_decision"

# A small iris-like held-out set: "label,f1,f2,f3,f4" with no header, as the transform expects.
TEST_ROWS = [
    "setosa,5.1,3.5,1.4,0.2", "setosa,4.9,3.0,1.4,0.2", "setosa,4.7,3.2,1.3,0.2",
    "versicolor,7.0,3.2,4.7,1.4", "versicolor,6.4,3.2,4.5,1.5", "versicolor,6.9,3.1,4.9,1.5",
    "virginica,6.3,3.3,6.0,2.5", "virginica,5.8,2.7,5.1,1.9", "virginica,7.1,3.0,5.9,2.1",
    "virginica,6.5,3.0,5.8,2.2",
]


def iris_rule(features: list[float]) -> str:
    """A stand-in model that gets the rows above right (petal length decides)."""
    petal_length = features[2]
    return "setosa" if petal_length < 2.5 else "versicolor" if petal_length < 5.0 else "virginica"


@dataclass(frozen=True)
class SageMakerScenario:
    """How the simulated SageMaker behaves during one execution."""

    job_polls: int = 1
    """Describe*Job polls that still see InProgress before a job ends."""
    training_failure: str | None = None
    """FailureReason of a failed training job; None lets training complete."""
    transform_failure: str | None = None
    """FailureReason of a failed batch transform; None lets it complete and write its output."""
    baseline_failure: str | None = None
    """FailureReason of a failed baseline processing job; None lets it write statistics.json and
    constraints.json (the stand-in analyzer, tools.localaws.baseline)."""
    predict: Callable[[list[float]], str] = iris_rule
    """The trained model: features -> label (used by the transform and by the endpoint)."""
    endpoint_polls: int = 2
    """DescribeEndpoint calls that see Creating / Updating after CreateEndpoint / UpdateEndpoint."""
    endpoint_failure: str | None = None
    """FailureReason when the endpoint should end Failed instead of InService."""
    throttled: Mapping[str, int] = field(default_factory=dict)
    """SageMaker API action (``DescribeEndpoint``) -> how many of its first calls are throttled."""


@dataclass
class ExecutionResult:
    status: str
    output: Any
    error: str | None
    cause: str | None
    states: list[str]
    history: list[dict[str, Any]]

    def task_parameters(self, state: str) -> dict[str, Any]:
        """The resolved Parameters of the last TaskScheduled event of `state`."""
        current = None
        found = None
        for event in self.history:
            if event["type"] == "TaskStateEntered":
                current = event["stateEnteredEventDetails"]["name"]
            if event["type"] == "TaskScheduled" and current == state:
                found = json.loads(event["taskScheduledEventDetails"]["parameters"])
        if found is None:
            raise AssertionError(f"state {state} scheduled no task; states entered: {self.states}")
        return found


def entered_states(history: list[dict[str, Any]]) -> list[str]:
    """The names of the states an execution's history entered, in order."""
    return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]


def read_s3(uri: str) -> str:
    """The text of the object at ``s3://bucket/key`` in the test account."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return boto3.client("s3", region_name=REGION).get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def wait_for(found, timeout: float = 10.0):
    """``found()``'s first truthy value, asked every 50 ms for at most ``timeout`` seconds (an event-started
    execution appears a moment after the upload that started it)."""
    deadline = time.monotonic() + timeout
    while not (value := found()):
        if time.monotonic() > deadline:
            raise AssertionError("nothing happened in time")
        time.sleep(0.05)
    return value


def finish_execution(execution_arn: str, *, timeout: float,
                     while_running: Callable[[], None] = lambda: None) -> ExecutionResult:
    """Poll a started execution until it ends, calling `while_running` at every poll; after `timeout`
    seconds stop it (error HarnessTimeout) and fail. Returns how it ended."""
    sfn = boto3.client("stepfunctions", region_name=REGION)

    def history() -> list[dict[str, Any]]:
        return sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]

    deadline = time.monotonic() + timeout
    while (description := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        while_running()
        if time.monotonic() > deadline:
            sfn.stop_execution(executionArn=execution_arn, error="HarnessTimeout")
            raise AssertionError(f"execution still running after {timeout}s; states: {entered_states(history())}")
        time.sleep(0.05)
    events = history()
    return ExecutionResult(
        status=description["status"],
        output=json.loads(description["output"]) if description.get("output") else None,
        error=description.get("error"),
        cause=description.get("cause"),
        states=entered_states(events),
        history=events,
    )


def definition_params(**overrides: Any) -> WorkflowDefinitionParams:
    """Realistic parameters for the test account, with tiny waits and retries."""
    fn = lambda name: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"  # noqa: E731
    values: dict[str, Any] = dict(
        name_prefix="mlops-test",
        sagemaker_role_arn=f"arn:aws:iam::{ACCOUNT}:role/mlops-test-sagemaker",
        training_data_uri=f"s3://{DATA_BUCKET}/iris/train/",
        validation_data_uri=f"s3://{DATA_BUCKET}/iris/validation/",
        test_data_uri=f"s3://{DATA_BUCKET}/iris/test/",
        output_prefix=f"s3://{ARTIFACT_BUCKET}/workflow",
        kms_key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        model_package_group_name=MODEL_PACKAGE_GROUP,
        endpoint_name=ENDPOINT_NAME,
        approval_request_function_arn=fn("mlops-test-approval-request"),
        evaluate_function_arn=fn("mlops-test-evaluate"),
        notify_function_arn=fn("mlops-test-notify"),
        smoke_test_function_arn=fn("mlops-test-inference-proxy"),
        inference_url=INFERENCE_URL,
        baseline_image_uri=BASELINE_IMAGE,
        default_hyperparameters={"max_depth": "5", "criterion": "gini"},
        min_accuracy=0.9,
        approval_timeout_seconds=600,
        endpoint_poll_seconds=1,
        endpoint_max_polls=5,
        retry_interval_seconds=1,
        retry_max_attempts=1,
        retry_backoff_rate=1.0,
    )
    values.update(overrides)
    return WorkflowDefinitionParams(**values)


# --------------------------------------------------------------------------------------------
# simulated SageMaker


class SageMakerSimulator(SageMakerModel):
    """Job and endpoint lifecycles per `SageMakerScenario`, on top of moto's SageMaker backend."""

    def __init__(self) -> None:
        super().__init__()
        self.scenario = SageMakerScenario()
        self.throttles_left: dict[str, int] = {}
        self.throttled_calls: list[str] = []
        self._job_polls: dict[tuple[str, str], int] = {}
        self._endpoint_polls: dict[str, int] = {}

    def start(self, scenario: SageMakerScenario) -> None:
        self.scenario = scenario
        self.throttles_left = dict(scenario.throttled)

    def throttle(self, action: str) -> bool:
        """Should this call of `action` be throttled? (Counts down the scenario's throttled calls.)"""
        with self.lock:
            if self.throttles_left.get(action, 0) <= 0:
                return False
            self.throttles_left[action] -= 1
            self.throttled_calls.append(action)
            return True

    # jobs --------------------------------------------------------------------------------
    def job_created(self, kind: str, name: str, request: Any = None) -> None:
        super().job_created(kind, name, request)
        self._job_polls[(kind, name)] = self.scenario.job_polls

    def poll_job(self, kind: str, name: str) -> None:
        """One Describe*Job poll: finish the job once its InProgress polls are used up."""
        job = self.job(kind, name)
        if getattr(job, f"{kind}_job_status") != "InProgress":
            return
        left = self._job_polls.get((kind, name), 0)
        if left > 0:
            self._job_polls[(kind, name)] = left - 1
            return
        failure = {"training": self.scenario.training_failure, "transform": self.scenario.transform_failure,
                   "processing": self.scenario.baseline_failure}[kind]
        if failure:
            setattr(job, f"{kind}_job_status", "Failed")
            job.failure_reason = failure
            return
        if kind == "transform":
            self._write_transform_output(job)
        if kind == "processing":
            run_baseline_job(job, boto3.client("s3", region_name=self.region))
        setattr(job, f"{kind}_job_status", "Completed")

    def _write_transform_output(self, job: Any) -> None:
        """What the transform writes: for each input object, '<label>,<prediction>' per line."""
        s3 = boto3.client("s3", region_name=self.region)
        source = urlparse(job.transform_input["DataSource"]["S3DataSource"]["S3Uri"])
        target = urlparse(job.transform_output["S3OutputPath"])
        listing = s3.list_objects_v2(Bucket=source.netloc, Prefix=source.path.lstrip("/"))
        for obj in listing.get("Contents", []):
            rows = s3.get_object(Bucket=source.netloc, Key=obj["Key"])["Body"].read().decode().splitlines()
            lines = []
            for row in filter(None, rows):
                label, *features = row.split(",")  # InputFilter $[1:], JoinSource Input, OutputFilter $[0,-1]
                lines.append(f"{label},{self.scenario.predict([float(v) for v in features])}")
            key = f"{target.path.strip('/')}/{obj['Key'].rsplit('/', 1)[-1]}.out"
            s3.put_object(Bucket=target.netloc, Key=key, Body="\n".join(lines).encode())

    # endpoints ---------------------------------------------------------------------------
    def endpoint_changing(self, name: str, status: str) -> None:
        super().endpoint_changing(name, status)
        self._endpoint_polls[name] = self.scenario.endpoint_polls

    def advance_endpoint(self, name: str) -> None:
        with self.lock:
            left = self._endpoint_polls.get(name)
            if left is None or name not in self.backend.endpoints:
                return
            if left > 0:
                self._endpoint_polls[name] = left - 1
                return
            del self._endpoint_polls[name]
            endpoint = self.backend.endpoints[name]
            if self.scenario.endpoint_failure:
                endpoint.endpoint_status = "Failed"
                endpoint.failure_reason = self.scenario.endpoint_failure
            else:
                endpoint.endpoint_status = "InService"

    def invoke(self, endpoint_name: str, body: bytes, content_type: str, accept: str) -> tuple[int, dict[str, str], bytes]:
        refusal = self.not_in_service(endpoint_name)
        if refusal:
            return refusal
        records = [[float(v) for v in line.split(",")] for line in body.decode().splitlines() if line]
        answer = json.dumps({"predictions": [self.scenario.predict(r) for r in records]}).encode()
        return 200, {"Content-Type": "application/json", "x-Amzn-Invoked-Production-Variant": "AllTraffic"}, answer


# --------------------------------------------------------------------------------------------
# the harness


class WorkflowHarness:
    """A moto account (``tools.localaws.emulator``) with the workflow deployed; see the module docstring."""

    def __init__(self, params: WorkflowDefinitionParams | None = None):
        self.params = params or definition_params()
        self.sim = SageMakerSimulator()
        self.aws = EmbeddedAws(ACCOUNT, REGION, self.sim, {})
        self.lambdas = self.aws.lambdas
        self.state_machine_arn = ""
        self.topic_arn = ""

    # setup --------------------------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[WorkflowHarness]:
        with self.aws.running():
            environment = self._create_resources()
            # Every function gets the union of the environments (names do not clash); tests that call a
            # handler directly find it in os.environ too.
            self.lambdas.functions = {name: LocalFunction(name, package, environment) for name, package in FUNCTIONS.items()}
            with mock.patch.dict("os.environ", environment):
                yield self

    def _create_resources(self) -> dict[str, str]:
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (DATA_BUCKET, ARTIFACT_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=DATA_BUCKET, Key="iris/test/test.csv", Body="\n".join(TEST_ROWS).encode())
        s3.put_object(Bucket=DATA_BUCKET, Key="iris/train/train.csv", Body="\n".join(TEST_ROWS).encode())
        self.topic_arn = boto3.client("sns", region_name=REGION).create_topic(Name="mlops-test-notifications")["TopicArn"]
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName="mlops-test-approvals",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="mlops-test-approval-signing", SecretString=secrets.token_urlsafe(48)
        )["ARN"]
        boto3.client("sagemaker", region_name=REGION).create_model_package_group(ModelPackageGroupName=MODEL_PACKAGE_GROUP)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        self.state_machine_arn = sfn.create_state_machine(
            name="mlops-test-training-workflow",
            definition=json.dumps(build_definition(self.params)),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/mlops-test-workflow",
        )["stateMachineArn"]
        # The union of the functions' environments (names do not clash).
        return {
            "TOPIC_ARN": self.topic_arn,
            "APPROVALS_TABLE": "mlops-test-approvals",
            "SIGNING_SECRET_ARN": secret_arn,
            "APPROVAL_API_URL": APPROVAL_API_URL,
            "LINK_TTL_SECONDS": "3600",
            "ENDPOINT_NAME": self.params.endpoint_name,
            "FEATURE_COUNT": "4",
        }

    def existing_endpoint(self, config_name: str = "previous-config") -> str:
        """Deploy an endpoint the way an earlier run would have; returns its config name."""
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_model(
            ModelName="previous-model", ExecutionRoleArn=self.params.sagemaker_role_arn,
            PrimaryContainer={"Image": "123.dkr.ecr.eu-west-1.amazonaws.com/iris:old", "ModelDataUrl": f"s3://{ARTIFACT_BUCKET}/old/model.tar.gz"},
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName=config_name,
            ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "previous-model", "InstanceType": "ml.t2.medium", "InitialInstanceCount": 1}],
        )
        sagemaker.create_endpoint(EndpointName=self.params.endpoint_name, EndpointConfigName=config_name)
        return config_name

    # running --------------------------------------------------------------------------------
    def run(
        self,
        execution_input: dict[str, Any],
        *,
        scenario: SageMakerScenario | None = None,
        on_approval: Callable[[WorkflowHarness], Any] | None = None,
        timeout: float = 60.0,
        name: str | None = None,
    ) -> ExecutionResult:
        """Start an execution and drive it to the end; `on_approval` runs once the approval e-mail is out."""
        self.sim.start(scenario or SageMakerScenario())
        sfn = boto3.client("stepfunctions", region_name=REGION)
        approvals_before = len(self.approval_messages())
        execution_arn = sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=name or f"run-{secrets.token_hex(4)}", input=json.dumps(execution_input)
        )["executionArn"]
        return self.finish(execution_arn, on_approval=on_approval, approvals_before=approvals_before, timeout=timeout)

    def finish(self, execution_arn: str, *, on_approval: Callable[[WorkflowHarness], Any] | None = None,
               approvals_before: int = 0, timeout: float = 60.0) -> ExecutionResult:
        """Drive a started execution to its end; `on_approval` runs once, when an approval e-mail beyond the
        first `approvals_before` is out."""
        decided = False

        def decide_once() -> None:
            nonlocal decided
            if on_approval and not decided and len(self.approval_messages()) > approvals_before:
                decided = True
                on_approval(self)

        return finish_execution(execution_arn, timeout=timeout, while_running=decide_once)

    # messages and approvals -----------------------------------------------------------------
    def messages(self) -> list[tuple[str | None, str]]:
        """(subject, message) of everything published to the notification topic, oldest first."""
        return self.aws.published(self.topic_arn)

    def approval_messages(self) -> list[str]:
        return [message for subject, message in self.messages() if subject and subject.startswith("Approval needed")]

    def approval_links(self) -> dict[str, str]:
        """The approve / reject links of the latest approval e-mail."""
        message = self.approval_messages()[-1]
        found = {}
        for url in re.findall(r"https://\S+", message):
            decision = parse_qs(urlparse(url).query).get("decision", [""])[0]
            if decision:
                found[decision] = url
        assert set(found) == {"approve", "reject"}, f"approval e-mail without both links: {message}"
        return found

    def decide(self, decision: str, approver: str = "alice@example.com", comment: str = "") -> dict[str, Any]:
        """Click the e-mailed link (GET shows a page) and confirm the form (POST), through the real handler."""
        handler = load_handler(DECISION_PACKAGE)
        url = self.approval_links()[decision]
        query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
        page = handler({"httpMethod": "GET", "queryStringParameters": query, "headers": {}}, None)
        assert page["statusCode"] == 200, page
        form = urlencode({**query, "approver": approver, "comment": comment})
        response = handler(
            {"httpMethod": "POST", "headers": {"Content-Type": "application/x-www-form-urlencoded"}, "body": form,
             "isBase64Encoded": False, "queryStringParameters": None},
            None,
        )
        assert response["statusCode"] == 200, response
        return response


def approve(comment: str = "looks good") -> Callable[[WorkflowHarness], Any]:
    return lambda harness: harness.decide("approve", comment=comment)


def reject(comment: str = "accuracy on versicolor too low") -> Callable[[WorkflowHarness], Any]:
    return lambda harness: harness.decide("reject", approver="bob@example.com", comment=comment)


__all__ = [
    "ACCOUNT", "BASELINE_IMAGE", "REGION", "ENDPOINT_NAME", "INFERENCE_URL", "MODEL_PACKAGE_GROUP", "TEST_ROWS",
    "ExecutionResult", "SageMakerScenario", "WorkflowHarness", "approve", "definition_params", "entered_states",
    "finish_execution", "iris_rule", "reject",
]
