"""Run the training workflow in moto's Step Functions interpreter, with the real Lambda handlers.

`WorkflowHarness` starts `mock_aws` with the interpreter on and Docker-free Lambda, creates what the
handlers need (SNS topic, approvals table, signing secret, data and artifact buckets, model package
group), registers the state machine built by `components.workflow.definition.build_definition`, and
runs executions to the end: `harness.run(input, on_approval=...)` returns the final status, output,
error, cause and the sequence of states entered.

moto 5.2.5 internals it patches (pin moto exactly; these are private), and why:

1. ``state_task_factory.state_task_service_for`` - the one place the interpreter picks a service
   integration. moto lists ``sagemaker`` as unsupported (no ``.sync``), so for ``sagemaker`` we
   return `SageMakerTaskService`: it forwards the request-response calls to moto's SageMaker, emulates
   ``UpdateEndpoint`` (moto 5.2.5 has none), and implements ``createTrainingJob.sync`` /
   ``createTransformJob.sync`` the way Step Functions does: poll ``Describe*Job`` until the job ends;
   Completed gives the description as the task result, Failed / Stopped gives ``States.TaskFailed``
   with the description as the cause. API errors are reported as ``SageMaker.AmazonSageMakerException``
   like the optimised integration on AWS.
2. ``state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK`` - the ``.sync`` poll interval
   (0.5 s) shortened so tests stay fast.
3. ``state_task_service_aws_sdk._SERVICE_ERROR_NAMES`` gains ``sagemaker -> SageMaker`` so AWS SDK
   integration errors are named ``SageMaker.SageMakerException`` as on AWS (moto would say
   ``sagemaker.sagemakerException``).
4. ``LambdaSimpleBackend.invoke`` (moto's Docker-free Lambda, which echoes the payload) dispatches
   the invocation to the real handler in ``lambdas/<name>/handler.py`` in-process. A handler exception
   becomes a ``FunctionError: Unhandled`` response with ``errorType`` / ``errorMessage``, as on AWS.
5. ``SageMakerModelBackend.describe_endpoint`` advances simulated endpoint lifecycles (Creating /
   Updating for a few polls, then InService or Failed) so the workflow's wait loop really loops;
   moto creates endpoints InService at once.
6. ``SageMakerRuntimeResponse.invoke_endpoint`` answers with the scenario's predictions for the CSV
   records sent, and refuses an endpoint that does not exist or is not InService, so the smoke test
   means something (moto 5.2.5 loses the endpoint name from the URL path and answers any call with
   static data).
7. ``StateTaskServiceAwsSdk._eval_service_task`` returns the response as JSON data: moto leaves
   datetime objects in AWS SDK results, which AWS never hands to a state (``States.JsonToString``
   of a DescribeEndpoint result would fail).
8. ``StepFunctionResponse.send_task_failure`` passes ``cause`` on to the backend (moto 5.2.5's
   response handler drops it, so a rejection would reach the workflow without its cause).
9. ``SageMakerResponse.call_action`` answers the first calls of the actions the scenario names in
   ``throttled`` with SageMaker's throttling error (HTTP 400, ``ThrottlingException``, which SageMaker's
   API model does not declare), whichever integration made the call; the interpreter's boto clients do
   not retry (moto configures them with ``max_attempts: 0``), so each one reaches the state's Retry.
10. ``eval_jsonata_expression`` (imported by ``string_expression`` and ``jsonata.validations``): moto ships
    LocalStack's JSONata support without its evaluator (a JVM bridge), so JSONata states (ValidateInput,
    InvalidInput) are evaluated with jsonata-python, a port of the same jsonata-java implementation.

SageMaker jobs are simulated by `SageMakerScenario`: how many polls a job stays InProgress, whether
training or the transform fails (and why), what the model predicts (the transform writes
``<label>,<prediction>`` lines to S3 as the DataProcessing filters would, and the real evaluate
handler scores them), and how the endpoint behaves.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, unquote, urlencode, urlparse

import boto3
import jsonata
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from moto.sns.models import sns_backends
from moto.core.responses import EmptyResult
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent, FailureEventException
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_callback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.jsonata import validations as jsonata_validations
from moto.stepfunctions.parser.asl.jsonata.jsonata import JSONataException
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.responses import StepFunctionResponse

from components.workflow.definition import build_definition
from components.workflow.params import WorkflowDefinitionParams

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDAS_DIR = REPO_ROOT / "lambdas"
ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"
DATA_BUCKET = "mlops-test-data"
ARTIFACT_BUCKET = "mlops-test-artifacts"
APPROVAL_API_URL = "https://approvals.example.test/v1/decide"
INFERENCE_URL = "https://inference.example.test/v1/predict"
ENDPOINT_NAME = "mlops-test-iris"
MODEL_PACKAGE_GROUP = "mlops-test-iris"

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


class SageMakerSimulator:
    """Job and endpoint lifecycles on top of moto's SageMaker backend."""

    def __init__(self) -> None:
        self.scenario = SageMakerScenario()
        self.throttles_left: dict[str, int] = {}
        self.throttled_calls: list[str] = []
        self._job_polls: dict[tuple[str, str], int] = {}
        self._endpoint_polls: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def backend(self) -> SageMakerModelBackend:
        return sagemaker_backends[ACCOUNT][REGION]

    def start(self, scenario: SageMakerScenario) -> None:
        self.scenario = scenario
        self.throttles_left = dict(scenario.throttled)

    def throttle(self, action: str) -> bool:
        """Should this call of `action` be throttled? (Counts down the scenario's throttled calls.)"""
        with self._lock:
            if self.throttles_left.get(action, 0) <= 0:
                return False
            self.throttles_left[action] -= 1
            self.throttled_calls.append(action)
            return True

    # jobs --------------------------------------------------------------------------------
    def job_created(self, kind: str, name: str) -> None:
        job = self._job(kind, name)
        setattr(job, f"{kind}_job_status", "InProgress")
        self._job_polls[(kind, name)] = self.scenario.job_polls

    def poll_job(self, kind: str, name: str) -> None:
        """One Describe*Job poll: finish the job once its InProgress polls are used up."""
        job = self._job(kind, name)
        if getattr(job, f"{kind}_job_status") != "InProgress":
            return
        left = self._job_polls.get((kind, name), 0)
        if left > 0:
            self._job_polls[(kind, name)] = left - 1
            return
        failure = self.scenario.training_failure if kind == "training" else self.scenario.transform_failure
        if failure:
            setattr(job, f"{kind}_job_status", "Failed")
            job.failure_reason = failure
            return
        if kind == "transform":
            self._write_transform_output(job)
        setattr(job, f"{kind}_job_status", "Completed")

    def _job(self, kind: str, name: str) -> Any:
        return (self.backend.training_jobs if kind == "training" else self.backend.transform_jobs)[name]

    def _write_transform_output(self, job: Any) -> None:
        """What the transform writes: for each input object, '<label>,<prediction>' per line."""
        s3 = boto3.client("s3", region_name=REGION)
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
        self.backend.endpoints[name].endpoint_status = status
        self._endpoint_polls[name] = self.scenario.endpoint_polls

    def update_endpoint(self, endpoint_name: str, endpoint_config_name: str) -> dict[str, str]:
        """UpdateEndpoint as SageMaker does it (moto 5.2.5 does not implement it)."""
        endpoint = self.backend.endpoints.get(endpoint_name)
        if endpoint is None:
            raise _client_error("ValidationException", f"Could not find endpoint \"{endpoint_name}\".", "UpdateEndpoint")
        if endpoint.endpoint_status != "InService":
            raise _client_error("ValidationException", f"Cannot update in-progress endpoint \"{endpoint.arn}\".", "UpdateEndpoint")
        config = self.backend.endpoint_configs.get(endpoint_config_name)
        if config is None:
            raise _client_error("ValidationException", f"Could not find endpoint configuration \"{endpoint_config_name}\".", "UpdateEndpoint")
        endpoint.endpoint_config_name = endpoint_config_name
        endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
        self.endpoint_changing(endpoint_name, "Updating")
        return {"EndpointArn": endpoint.arn}

    def advance_endpoint(self, name: str) -> None:
        with self._lock:
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

    def invoke(self, endpoint_name: str, body: bytes) -> tuple[str, str, str, str]:
        endpoint = self.backend.endpoints.get(endpoint_name)
        if endpoint is None or endpoint.endpoint_status != "InService":
            state = "not found" if endpoint is None else f"not InService ({endpoint.endpoint_status})"
            raise ValidationError(message=f"Endpoint {endpoint_name} of account {ACCOUNT} {state}.")
        records = [[float(v) for v in line.split(",")] for line in body.decode().splitlines() if line]
        return json.dumps({"predictions": [self.scenario.predict(r) for r in records]}), "application/json", "AllTraffic", ""


def _client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": secrets.token_hex(8)}},
        operation,
    )


class SageMakerTaskService(StateTaskServiceCallback):
    """arn:aws:states:::sagemaker:* for moto's interpreter (see the module docstring, item 1)."""

    _REQUEST_RESPONSE = {"createModel", "createEndpointConfig", "createEndpoint", "updateEndpoint"}
    _SYNC_JOBS = {"createTrainingJob": "training", "createTransformJob": "transform"}

    def __init__(self, simulator: SageMakerSimulator):
        # WaitForTaskToken must be listed for the base class's bookkeeping; _validate refuses it.
        super().__init__(supported_integration_patterns={ResourceCondition.Sync, ResourceCondition.WaitForTaskToken})
        self._sim = simulator

    def _validate_service_integration_is_supported(self) -> None:
        action, condition = self.resource.api_action, self.resource.condition
        if action not in self._REQUEST_RESPONSE | set(self._SYNC_JOBS):
            raise ValueError(f"sagemaker:{action} is not an optimised SageMaker integration")
        if condition is not None and (condition != ResourceCondition.Sync or action not in self._SYNC_JOBS):
            raise ValueError(f"sagemaker:{action}.{condition} is not supported by Step Functions")

    def _from_error(self, env, ex: Exception) -> FailureEvent:
        if isinstance(ex, ClientError):
            error = "SageMaker.AmazonSageMakerException"
            meta = ex.response.get("ResponseMetadata", {})
            cause = (
                f"{ex.response['Error'].get('Message')} (Service: AmazonSageMaker; Status Code: "
                f"{meta.get('HTTPStatusCode', 400)}; Error Code: {ex.response['Error'].get('Code')}; "
                f"Request ID: {meta.get('RequestId', '')}; Proxy: null)"
            )
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(error),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                    error=error, cause=cause, resource=self._get_sfn_resource(), resourceType=self._get_sfn_resource_type(),
                )),
            )
        return super()._from_error(env=env, ex=ex)

    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        action = self.resource.api_action
        if action == "updateEndpoint":
            response = self._sim.update_endpoint(normalised_parameters["EndpointName"], normalised_parameters["EndpointConfigName"])
        else:
            client = boto_client_for(region=resource_runtime_part.region, service="sagemaker", state_credentials=state_credentials)
            response = getattr(client, self._get_boto_service_action())(**normalised_parameters)
            response.pop("ResponseMetadata", None)
        if action in self._SYNC_JOBS:
            kind = self._SYNC_JOBS[action]
            self._sim.job_created(kind, normalised_parameters[f"{kind.capitalize()}JobName"])
        elif action == "createEndpoint":
            self._sim.endpoint_changing(normalised_parameters["EndpointName"], "Creating")
        env.stack.append(response)

    def _build_sync_resolver(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        kind = self._SYNC_JOBS[self.resource.api_action]
        name = normalised_parameters[f"{kind.capitalize()}JobName"]
        client = boto_client_for(region=resource_runtime_part.region, service="sagemaker", state_credentials=state_credentials)
        describe = getattr(client, f"describe_{kind}_job")
        env.stack.pop()  # the Create*Job response; the result is the final description

        def resolve() -> dict | None:
            self._sim.poll_job(kind, name)
            description = describe(**{f"{kind.capitalize()}JobName": name})
            description.pop("ResponseMetadata", None)
            status = description[f"{kind.capitalize()}JobStatus"]
            if status == "Completed":
                return json.loads(to_json_str(description))
            if status in ("Failed", "Stopped"):
                raise FailureEventException(FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                        resource=self._get_sfn_resource(), resourceType=self._get_sfn_resource_type(),
                        error=StatesErrorNameType.StatesTaskFailed.to_name(), cause=to_json_str(description),
                    )),
                ))
            return None

        return resolve


def eval_jsonata(expression: str) -> Any:
    """What moto's JVM bridge would return: the expression's value as plain JSON data (module docstring, item 10)."""
    try:
        return json.loads(json.dumps(jsonata.Jsonata(expression).evaluate(None)))
    except Exception as exc:  # noqa: BLE001 - moto turns this into States.QueryEvaluationError, as AWS does
        raise JSONataException("UNKNOWN", str(exc)) from exc


# --------------------------------------------------------------------------------------------
# in-process Lambda


class _Context:
    def __init__(self, name: str):
        self.function_name = name
        self.aws_request_id = secrets.token_hex(16)
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


@dataclass
class Invocation:
    function: str
    event: Any
    result: Any = None
    error: str | None = None


def load_handler(package: str) -> Callable[[Any, Any], Any]:
    """lambdas/<package>/handler.py's handler, imported the way the Lambda zip lays it out."""
    if str(LAMBDAS_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDAS_DIR))
    return importlib.import_module(f"{package}.handler").handler


class LambdaDispatcher:
    """Replaces LambdaSimpleBackend.invoke: run the real handler (module docstring, item 4)."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []
        self.overrides: dict[str, Callable[[Any], Any]] = {}

    def invoke(self, function_name: str, body: Any) -> tuple[bytes, str | None]:
        name = function_name.rsplit(":function:", 1)[-1].split(":", 1)[0]
        if name not in FUNCTIONS:
            raise UnknownFunctionException(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
        event = json.loads(body) if body else {}
        call = Invocation(function=FUNCTIONS[name], event=event)
        self.invocations.append(call)
        handler = self.overrides.get(FUNCTIONS[name]) or (lambda e: load_handler(FUNCTIONS[name])(e, _Context(name)))
        try:
            call.result = handler(event)
        except Exception as exc:  # noqa: BLE001 - reported to Step Functions like Lambda does
            call.error = type(exc).__name__
            payload = {"errorMessage": str(exc), "errorType": type(exc).__name__,
                       "stackTrace": traceback.format_tb(exc.__traceback__)[-3:]}
            return json.dumps(payload).encode(), "Unhandled"
        return json.dumps(call.result).encode(), None

    def calls(self, package: str) -> list[Invocation]:
        return [c for c in self.invocations if c.function == package]


# --------------------------------------------------------------------------------------------
# the harness


class WorkflowHarness:
    """A moto account with the workflow deployed; see the module docstring."""

    def __init__(self, params: WorkflowDefinitionParams | None = None):
        self.params = params or definition_params()
        self.sim = SageMakerSimulator()
        self.lambdas = LambdaDispatcher()
        self.state_machine_arn = ""
        self.topic_arn = ""

    # setup --------------------------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[WorkflowHarness]:
        with ExitStack() as stack:
            stack.enter_context(mock.patch.dict(os.environ, {
                "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            }))
            stack.enter_context(mock_aws(config={
                "stepfunctions": {"execute_state_machine": True},
                "lambda": {"use_docker": False},
            }))
            self._patch_moto(stack)
            self._reset_lambda_caches()
            stack.callback(self._reset_lambda_caches)
            stack.enter_context(mock.patch.dict(os.environ, self._create_resources()))
            yield self

    def _patch_moto(self, stack: ExitStack) -> None:
        original_factory = state_task_factory.state_task_service_for
        sim, dispatcher = self.sim, self.lambdas

        def service_for(service_name: str):
            return SageMakerTaskService(sim) if service_name == "sagemaker" else original_factory(service_name)

        def lambda_invoke(backend, function_name, qualifier, body, headers, response_headers):
            payload, function_error = dispatcher.invoke(function_name, body)
            if function_error:
                response_headers["x-amz-function-error"] = function_error
            return payload

        original_describe = SageMakerModelBackend.describe_endpoint

        def describe_endpoint(backend, endpoint_name):
            sim.advance_endpoint(endpoint_name)
            return original_describe(backend, endpoint_name)

        def invoke_endpoint(response):
            endpoint_name = unquote(urlparse(response.path).path.split("/")[2])  # /endpoints/<name>/invocations
            body = response.body.encode() if isinstance(response.body, str) else response.body
            answer, content_type, variant, _ = sim.invoke(endpoint_name, body)
            return 200, {"Content-Type": content_type, "x-Amzn-Invoked-Production-Variant": variant}, answer

        original_sdk_task = StateTaskServiceAwsSdk._eval_service_task

        def sdk_task_as_json(service, env, *args, **kwargs):
            original_sdk_task(service, env, *args, **kwargs)
            env.stack.append(json.loads(to_json_str(env.stack.pop())))

        original_call_action = SageMakerResponse.call_action

        def call_action(response):
            if sim.throttle(response._get_action()):
                body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
                return 400, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": secrets.token_hex(8)}, body
            return original_call_action(response)

        def send_task_failure(response):
            response.stepfunction_backend.send_task_failure(
                response._get_param("taskToken"), error=response._get_param("error"), cause=response._get_param("cause")
            )
            return EmptyResult()

        for module in (string_expression, jsonata_validations):
            stack.enter_context(mock.patch.object(module, "eval_jsonata_expression", eval_jsonata))
        stack.enter_context(mock.patch.object(StepFunctionResponse, "send_task_failure", send_task_failure))
        stack.enter_context(mock.patch.object(state_task_factory, "state_task_service_for", service_for))
        stack.enter_context(mock.patch.object(StateTaskServiceAwsSdk, "_eval_service_task", sdk_task_as_json))
        stack.enter_context(mock.patch.object(state_task_service_callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", 0.05))
        stack.enter_context(mock.patch.dict(state_task_service_aws_sdk._SERVICE_ERROR_NAMES, {"sagemaker": "SageMaker"}))
        stack.enter_context(mock.patch.object(LambdaSimpleBackend, "invoke", lambda_invoke))
        stack.enter_context(mock.patch.object(SageMakerModelBackend, "describe_endpoint", describe_endpoint))
        stack.enter_context(mock.patch.object(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint))
        stack.enter_context(mock.patch.object(SageMakerResponse, "call_action", call_action))

    def _create_resources(self) -> dict[str, str]:
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (DATA_BUCKET, ARTIFACT_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=DATA_BUCKET, Key="iris/test/test.csv", Body="\n".join(TEST_ROWS).encode())
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

    @staticmethod
    def _reset_lambda_caches() -> None:
        """The handlers cache boto3 clients and the signing key per container; start clean."""
        for module, reset in (("common.aws", "reset_clients"), ("common.links", "reset_key_cache")):
            if str(LAMBDAS_DIR) not in sys.path:
                sys.path.insert(0, str(LAMBDAS_DIR))
            getattr(importlib.import_module(module), reset)()

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
        deadline = time.monotonic() + timeout
        approved = False
        while True:
            description = sfn.describe_execution(executionArn=execution_arn)
            if description["status"] != "RUNNING":
                break
            if on_approval and not approved and len(self.approval_messages()) > approvals_before:
                approved = True
                on_approval(self)
            if time.monotonic() > deadline:
                sfn.stop_execution(executionArn=execution_arn, error="HarnessTimeout")
                raise AssertionError(f"execution still running after {timeout}s; states: {self._states(sfn, execution_arn)}")
            time.sleep(0.05)
        history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return ExecutionResult(
            status=description["status"],
            output=json.loads(description["output"]) if description.get("output") else None,
            error=description.get("error"),
            cause=description.get("cause"),
            states=[e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e],
            history=history,
        )

    @staticmethod
    def _states(sfn, execution_arn: str) -> list[str]:
        events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]

    # messages and approvals -----------------------------------------------------------------
    def messages(self) -> list[tuple[str | None, str]]:
        """(subject, message) of everything published to the notification topic, oldest first."""
        topic = sns_backends[ACCOUNT][REGION].topics[self.topic_arn]
        return [(subject, message) for _id, message, subject, _attrs, _group in topic.sent_notifications]

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
        page = handler({"httpMethod": "GET", "queryStringParameters": query, "headers": {}}, _Context("decision"))
        assert page["statusCode"] == 200, page
        form = urlencode({**query, "approver": approver, "comment": comment})
        response = handler(
            {"httpMethod": "POST", "headers": {"Content-Type": "application/x-www-form-urlencoded"}, "body": form,
             "isBase64Encoded": False, "queryStringParameters": None},
            _Context("decision"),
        )
        assert response["statusCode"] == 200, response
        return response


def approve(comment: str = "looks good") -> Callable[[WorkflowHarness], Any]:
    return lambda harness: harness.decide("approve", comment=comment)


def reject(comment: str = "accuracy on versicolor too low") -> Callable[[WorkflowHarness], Any]:
    return lambda harness: harness.decide("reject", approver="bob@example.com", comment=comment)


__all__ = [
    "ACCOUNT", "REGION", "ENDPOINT_NAME", "INFERENCE_URL", "MODEL_PACKAGE_GROUP", "TEST_ROWS",
    "ExecutionResult", "SageMakerScenario", "WorkflowHarness", "approve", "definition_params", "iris_rule", "reject",
]
