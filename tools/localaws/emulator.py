"""moto, patched to run the training workflow's state machine with the real Lambda handlers.

`EmbeddedAws(account, region, sagemaker, functions).running()` starts ``mock_aws`` with the Step
Functions interpreter on and Docker-free Lambda, in the given account (``MOTO_ACCOUNT_ID``), and
applies the patches below for as long as it runs. Tests and ``make run`` share it; they differ only in
the `SageMakerModel` they plug in (what training jobs, transforms and endpoints do) and the functions.

moto 5.2.5 internals it patches (moto is pinned exactly: these are private), and why:

1. ``state_task_factory.state_task_service_for`` - the one place the interpreter picks a service
   integration. moto lists ``sagemaker`` as unsupported (no ``.sync``), so for ``sagemaker`` we
   return `SageMakerTaskService`: it forwards the request-response calls to moto's SageMaker, emulates
   ``UpdateEndpoint`` (moto 5.2.5 has none), and implements ``createTrainingJob.sync``,
   ``createTransformJob.sync`` and ``createProcessingJob.sync`` the way Step Functions does: poll ``Describe*Job`` until the job ends;
   Completed gives the description as the task result, Failed / Stopped gives ``States.TaskFailed``
   with the description as the cause. API errors are reported as ``SageMaker.AmazonSageMakerException``
   like the optimised integration on AWS.
2. ``state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK`` - the ``.sync`` poll interval.
3. ``state_task_service_aws_sdk._SERVICE_ERROR_NAMES`` gains ``sagemaker -> SageMaker`` so AWS SDK
   integration errors are named ``SageMaker.SageMakerException`` as on AWS (moto would say
   ``sagemaker.sagemakerException``).
4. ``LambdaSimpleBackend.invoke`` (moto's Docker-free Lambda, which echoes the payload) dispatches
   the invocation to the real handler in ``lambdas/<package>/handler.py`` in-process, with that
   function's environment. A handler exception becomes a ``FunctionError: Unhandled`` response with
   ``errorType`` / ``errorMessage``, as on AWS.
5. ``SageMakerModelBackend.describe_endpoint`` asks the `SageMakerModel` to advance the endpoint's
   lifecycle (Creating / Updating until it is ready, then InService or Failed); moto creates endpoints
   InService at once.
6. ``SageMakerRuntimeResponse.invoke_endpoint`` hands the call to the `SageMakerModel` (moto 5.2.5
   loses the endpoint name from the URL path and answers any call with static data).
7. ``StateTaskServiceAwsSdk._eval_service_task`` returns the response as JSON data: moto leaves
   datetime objects in AWS SDK results, which AWS never hands to a state (``States.JsonToString``
   of a DescribeEndpoint result would fail).
8. ``StepFunctionResponse.send_task_failure`` passes ``cause`` on to the backend (moto 5.2.5's
   response handler drops it, so a rejection would reach the workflow without its cause).
9. ``SageMakerResponse.call_action`` asks the `SageMakerModel` whether to throttle the call
   (`SageMakerModel.throttle`, never by default): a throttled call gets SageMaker's throttling error
   (HTTP 400, ``ThrottlingException``, which SageMaker's API model does not declare), whichever
   integration made it; the interpreter's boto clients do not retry (moto configures them with
   ``max_attempts: 0``), so each one reaches the state's Retry.
10. ``eval_jsonata_expression`` (imported by ``string_expression`` and ``jsonata.validations``): moto
    ships LocalStack's JSONata support without its evaluator (a JVM bridge), so JSONata states
    (ValidateInput, InvalidInput) are evaluated with jsonata-python, a port of the same jsonata-java.
11. Optionally (``wait_cap_seconds``), ``WaitFunction._wait_interval``: a Wait state waits at most that
   long. The definition is not changed; only the emulated clock is impatient (``make run`` uses it so a
   30-second endpoint poll does not dominate a local run).
12. ``events.models.Rule.send_to_targets``: a rule whose target is a Step Functions state machine starts
    an execution with the target's input transformer applied, as EventBridge does (moto 5.2.5 supports
    no state machine targets, and S3's EventBridge notifications skip input transformers); other targets
    are left to moto. So an upload to a bucket with EventBridge notifications starts the registration of
    an uploaded model, and ``put_events`` of an approval event starts the promotion's trigger.
13. ``Preprocessor.visitPayload_binding_value``: a Parameters key that is an ASL keyword with ``.$``
    (``"RoleArn.$"``, which the grammar also knows as ``Credentials``' field) is a path binding, as on AWS;
    moto's grammar lexes it as that keyword and kept it as a literal key with the path as its string value.
14. ``StepFunctionsParserBackend.start_execution``: an execution started without a name (EventBridge's
    targets, ``StartExecution`` without ``name``) is named by a new UUID, as Step Functions does; moto 5.2.5
    leaves it None, so ``$$.Execution.Name`` is null and every such execution's ARN ends in ``:None``.
15. Intrinsic functions as Step Functions reads them. ``Preprocessor.visitString_intrinsic_function``: the
    function is the value of its JSON string; moto parsed the raw JSON text, so an escaped quote (``\\'`` in
    the value, ``\\\\'`` in the JSON) ended the literal. ``StringFormat._eval_body``: in a literal template a
    backslash makes the next character (``'`` ``{`` ``}`` ``\\``) text and only ``{}`` is a placeholder; moto
    used ``str.format`` (an escaped brace was a KeyError, the backslashes stayed in the text).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import secrets
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast
from unittest import mock
from urllib.parse import unquote, urlparse

import jsonata
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.responses import EmptyResult
from moto.events.models import Rule
from moto.events.utils import EventTemplateParser
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from moto.sns.models import sns_backends
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.payload.payloadvalue.payloadbinding.payload_binding import (
    PayloadBindingStringExpressionSimple,
)
from moto.stepfunctions.parser.asl.component.common.payload.payloadvalue.payloadvaluelit.payload_value_str import (
    PayloadValueStr,
)
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.intrinsic.argument.argument import ArgumentLiteral
from moto.stepfunctions.parser.asl.component.intrinsic.function.statesfunction.generic.string_format import (
    StringFormat,
)
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
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.jsonata import validations as jsonata_validations
from moto.stepfunctions.parser.asl.jsonata.jsonata import JSONataException
from moto.stepfunctions.parser.asl.parse.intrinsic.intrinsic_parser import IntrinsicParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDAS_DIR = REPO_ROOT / "lambdas"

__all__ = [
    "EmbeddedAws", "LambdaDispatcher", "LocalFunction", "Invocation", "SageMakerModel", "SageMakerTaskService",
    "client_error", "load_handler",
]


def client_error(code: str, message: str, operation: str, status: int = 400) -> ClientError:
    """A botocore ClientError as an AWS API would raise it."""
    return ClientError(
        {"Error": {"Code": code, "Message": message},
         "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": secrets.token_hex(8)}},
        operation,
    )


def eval_jsonata(expression: str) -> Any:
    """What moto's JVM bridge would return: the expression's value as plain JSON data (item 10)."""
    try:
        return json.loads(json.dumps(jsonata.Jsonata(expression).evaluate(None)))
    except Exception as exc:  # re-raised as moto's JSONataException: States.QueryEvaluationError, as AWS does
        raise JSONataException("UNKNOWN", str(exc)) from exc


# --------------------------------------------------------------------------------------------
# what SageMaker jobs and endpoints do


class SageMakerModel:
    """Job and endpoint lifecycles on top of moto's SageMaker backend; subclasses say what they do.

    The task service calls `job_created` after Create*Job and `poll_job` before each Describe*Job of a
    ``.sync`` task; `endpoint_changing` after CreateEndpoint / UpdateEndpoint and `advance_endpoint`
    before each DescribeEndpoint; `invoke` answers ``sagemaker-runtime:InvokeEndpoint``.
    """

    def __init__(self) -> None:
        self.account = ""
        self.region = ""
        self.lock = threading.RLock()

    def bind(self, account: str, region: str) -> None:
        self.account, self.region = account, region

    @property
    def backend(self) -> SageMakerModelBackend:
        return sagemaker_backends[self.account][self.region]

    def job(self, kind: str, name: str) -> Any:
        """moto's record of a ``training``, ``transform`` or ``processing`` job."""
        jobs: dict[str, dict[str, Any]] = {"training": self.backend.training_jobs, "transform": self.backend.transform_jobs,
                "processing": self.backend.processing_jobs}
        return jobs[kind][name]

    # jobs ----------------------------------------------------------------------------------
    def job_created(self, kind: str, name: str, request: Mapping[str, Any] | None = None) -> None:
        """Create*Job was accepted; `request` is the job's request as the state machine sent it."""
        setattr(self.job(kind, name), f"{kind}_job_status", "InProgress")

    def poll_job(self, kind: str, name: str) -> None:
        """One Describe*Job poll: move the job on (set its status to Completed / Failed when it ends)."""
        raise NotImplementedError

    # endpoints -----------------------------------------------------------------------------
    def endpoint_changing(self, name: str, status: str) -> None:
        """CreateEndpoint (status Creating) or UpdateEndpoint (Updating) was accepted for `name`."""
        self.backend.endpoints[name].endpoint_status = status

    def advance_endpoint(self, name: str) -> None:
        """One DescribeEndpoint poll: move a Creating / Updating endpoint on."""

    def update_endpoint(self, endpoint_name: str, endpoint_config_name: str) -> dict[str, str]:
        """UpdateEndpoint as SageMaker does it (moto 5.2.5 does not implement it)."""
        endpoint = self.backend.endpoints.get(endpoint_name)
        if endpoint is None:
            raise client_error("ValidationException", f"Could not find endpoint \"{endpoint_name}\".", "UpdateEndpoint")
        if endpoint.endpoint_status != "InService":
            raise client_error("ValidationException", f"Cannot update in-progress endpoint \"{endpoint.arn}\".", "UpdateEndpoint")
        config = self.backend.endpoint_configs.get(endpoint_config_name)
        if config is None:
            raise client_error("ValidationException", f"Could not find endpoint configuration \"{endpoint_config_name}\".", "UpdateEndpoint")
        endpoint.endpoint_config_name = endpoint_config_name
        endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
        self.endpoint_changing(endpoint_name, "Updating")
        return {"EndpointArn": endpoint.arn}

    def invoke(self, endpoint_name: str, body: bytes, content_type: str, accept: str) -> tuple[int, dict[str, str], bytes]:
        """InvokeEndpoint: (HTTP status, headers, body) of sagemaker-runtime's answer."""
        raise NotImplementedError

    def not_in_service(self, endpoint_name: str) -> tuple[int, dict[str, str], bytes] | None:
        """The runtime's ValidationError for an endpoint that does not exist or is not InService."""
        endpoint = self.backend.endpoints.get(endpoint_name)
        if endpoint is not None and endpoint.endpoint_status == "InService":
            return None
        state = "not found" if endpoint is None else f"not InService ({endpoint.endpoint_status})"
        return runtime_error(400, "ValidationException", f"Endpoint {endpoint_name} of account {self.account} {state}.")

    def throttle(self, action: str) -> bool:
        """Should this call of SageMaker API `action` be throttled? (Item 9; tests override it.)"""
        return False

    def close(self) -> None:
        """Stop whatever the model started (processes, threads)."""


_original_payload_binding_value = Preprocessor.visitPayload_binding_value


def keyword_path_binding(preprocessor: Preprocessor, ctx: Any) -> Any:
    """Item 13: ``"<Keyword>.$": "<path or intrinsic function>"`` in a payload is a binding, as any other
    ``"<key>.$"``; everything else is parsed by moto."""
    binding = _original_payload_binding_value(preprocessor, ctx)
    value = binding.payload_value
    if not (binding.field.endswith(".$") and isinstance(value, PayloadValueStr)):
        return binding
    text = value.val
    expression: Any
    if text.startswith("$$"):
        expression = string_expression.StringContextPath(context_object_path=text)
    elif text.startswith("$"):
        expression = string_expression.StringJsonPath(json_path=text)
    else:
        function, _ = IntrinsicParser.parse(text)
        expression = string_expression.StringIntrinsicFunction(intrinsic_function_derivation=text, function=function)
    return PayloadBindingStringExpressionSimple(field=binding.field[:-2], string_expression_simple=expression)


def json_intrinsic_function(preprocessor: Preprocessor, ctx: Any) -> Any:
    """Item 15: the intrinsic function is the value of its JSON string (``\\\\'`` in the JSON is ``\\'``)."""
    text = json.loads(ctx.STRINGINTRINSICFUNC().getText())
    function, _ = IntrinsicParser.parse(text)
    return string_expression.StringIntrinsicFunction(intrinsic_function_derivation=text, function=function)


_FORMAT_TOKEN = re.compile(r"\\(.)|\{\}", re.DOTALL)


def format_template(template: str, values: list[str], *, literal: bool) -> str:
    """``States.Format``: each ``{}`` of `template` is the next of `values`; in a `literal` template (written
    in the definition) a backslash makes the next character (``'`` ``{`` ``}`` ``\\``) plain text."""
    rest = iter(values)

    def token(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(1) if literal else match.group(0)
        try:
            return next(rest)
        except StopIteration:
            raise ValueError(f"States.Format: the template {template!r} has more {{}} than arguments") from None

    return _FORMAT_TOKEN.sub(token, template)


def string_format(function: StringFormat, env: Any) -> None:
    """Item 15: ``States.Format`` by `format_template` (values as moto renders them)."""
    function.argument_list.eval(env=env)
    template, *values = env.stack.pop()
    literal = isinstance(function.argument_list.arguments[0], ArgumentLiteral)
    env.stack.append(format_template(template, [StringFormat._to_str_repr(v) for v in values], literal=literal))


def runtime_error(status: int, code: str, message: str, **extra: Any) -> tuple[int, dict[str, str], bytes]:
    """A sagemaker-runtime (rest-json) error response botocore parses into a ClientError."""
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code}, json.dumps({"message": message, **extra}).encode()


class SageMakerTaskService(StateTaskServiceCallback):
    """arn:aws:states:::sagemaker:* for moto's interpreter (see the module docstring, item 1)."""

    _REQUEST_RESPONSE: ClassVar[frozenset[str]] = frozenset({"createModel", "createEndpointConfig", "createEndpoint", "updateEndpoint"})
    _SYNC_JOBS: ClassVar[dict[str, str]] = {"createTrainingJob": "training", "createTransformJob": "transform",
                                            "createProcessingJob": "processing"}

    def __init__(self, model: SageMakerModel):
        # WaitForTaskToken must be listed for the base class's bookkeeping; _validate refuses it.
        super().__init__(supported_integration_patterns={ResourceCondition.Sync, ResourceCondition.WaitForTaskToken})  # type: ignore[arg-type]  # moto declares an enum, passes strings
        self._model = model

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
                event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(  # type: ignore[typeddict-item]  # total=True in moto, partial in use
                    error=error, cause=cause, resource=self._get_sfn_resource(), resourceType=self._get_sfn_resource_type(),
                )),
            )
        return super()._from_error(env=env, ex=ex)

    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        action = self.resource.api_action
        if action == "updateEndpoint":
            response = self._model.update_endpoint(normalised_parameters["EndpointName"], normalised_parameters["EndpointConfigName"])
        else:
            client = boto_client_for(region=resource_runtime_part.region, service="sagemaker", state_credentials=state_credentials)
            response = getattr(client, self._get_boto_service_action())(**normalised_parameters)
            response.pop("ResponseMetadata", None)
        if action in self._SYNC_JOBS:
            kind = self._SYNC_JOBS[action]
            self._model.job_created(kind, normalised_parameters[f"{kind.capitalize()}JobName"], normalised_parameters)
        elif action == "createEndpoint":
            self._model.endpoint_changing(normalised_parameters["EndpointName"], "Creating")
        env.stack.append(response)

    def _build_sync_resolver(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        kind = self._SYNC_JOBS[self.resource.api_action]
        name = normalised_parameters[f"{kind.capitalize()}JobName"]
        client = boto_client_for(region=resource_runtime_part.region, service="sagemaker", state_credentials=state_credentials)
        describe = getattr(client, f"describe_{kind}_job")
        env.stack.pop()  # the Create*Job response; the result is the final description

        def resolve() -> dict | None:
            self._model.poll_job(kind, name)
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
                    event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(  # type: ignore[typeddict-item]
                        resource=self._get_sfn_resource(), resourceType=self._get_sfn_resource_type(),
                        error=StatesErrorNameType.StatesTaskFailed.to_name(), cause=to_json_str(description),
                    )),
                ))
            return None

        return resolve


# --------------------------------------------------------------------------------------------
# in-process Lambda


@dataclass(frozen=True)
class LocalFunction:
    """A Lambda function as deployed: its code (``lambdas/<package>/handler.py``) and environment."""

    name: str
    package: str
    environment: Mapping[str, str] = field(default_factory=dict)


class _Context:
    def __init__(self, name: str, arn: str):
        self.function_name = name
        self.aws_request_id = secrets.token_hex(16)
        self.invoked_function_arn = arn

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


@dataclass
class Invocation:
    function: str
    """The package (``lambdas/<package>``) that handled it."""
    event: Any
    result: Any = None
    error: str | None = None


def load_handler(package: str) -> Callable[[Any, Any], Any]:
    """lambdas/<package>/handler.py's handler, imported the way the Lambda zip lays it out."""
    if str(LAMBDAS_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDAS_DIR))
    return importlib.import_module(f"{package}.handler").handler


def reset_lambda_caches() -> None:
    """The handlers cache boto3 clients and the signing key per container; start clean."""
    if str(LAMBDAS_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDAS_DIR))
    for module, reset in (("common.aws", "reset_clients"), ("common.links", "reset_key_cache")):
        getattr(importlib.import_module(module), reset)()


class LambdaDispatcher:
    """Runs invocations of the known functions with their real handler and their own environment.

    One invocation at a time (like one Lambda container per function, but one process for all): the
    function's environment is in ``os.environ`` exactly while its handler runs.
    """

    def __init__(self, functions: Mapping[str, LocalFunction], account: str, region: str) -> None:
        self.functions = dict(functions)
        self.account, self.region = account, region
        self.invocations: list[Invocation] = []
        self.overrides: dict[str, Callable[[Any], Any]] = {}
        self._lock = threading.RLock()

    def function(self, function_name: str) -> LocalFunction:
        name = function_name.rsplit(":function:", 1)[-1].split(":", 1)[0]
        if name not in self.functions:
            raise UnknownFunctionException(f"arn:aws:lambda:{self.region}:{self.account}:function:{name}")
        return self.functions[name]

    def call(self, function_name: str, event: Any) -> Any:
        """Invoke synchronously and return the handler's result (its exception propagates)."""
        function = self.function(function_name)
        call = Invocation(function=function.package, event=event)
        with self._lock:
            self.invocations.append(call)
            override = self.overrides.get(function.package)
            try:
                with mock.patch.dict(os.environ, dict(function.environment)):
                    if override is not None:
                        call.result = override(event)
                    else:
                        arn = f"arn:aws:lambda:{self.region}:{self.account}:function:{function.name}"
                        call.result = load_handler(function.package)(event, _Context(function.name, arn))
            except Exception as exc:
                call.error = type(exc).__name__
                raise
        return call.result

    def invoke(self, function_name: str, body: Any) -> tuple[bytes, str | None]:
        """moto's Lambda invoke: (payload, function error) as the Invoke API returns them."""
        event = json.loads(body) if body else {}
        try:
            result = self.call(function_name, event)
        except UnknownFunctionException:
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the caller like Lambda does
            payload = {"errorMessage": str(exc), "errorType": type(exc).__name__,
                       "stackTrace": traceback.format_tb(exc.__traceback__)[-3:]}
            return json.dumps(payload).encode(), "Unhandled"
        return json.dumps(result).encode(), None

    def calls(self, package: str) -> list[Invocation]:
        return [c for c in self.invocations if c.function == package]


# --------------------------------------------------------------------------------------------
# the embedded account


class EmbeddedAws:
    """A moto account in which the workflow's state machine runs; see the module docstring."""

    def __init__(self, account: str, region: str, sagemaker: SageMakerModel, functions: Mapping[str, LocalFunction], *,
                 sync_poll_seconds: float = 0.05, wait_cap_seconds: float | None = None) -> None:
        self.account, self.region = account, region
        self.sagemaker = sagemaker
        self.sagemaker.bind(account, region)
        self.lambdas = LambdaDispatcher(functions, account, region)
        self.sync_poll_seconds = sync_poll_seconds
        self.wait_cap_seconds = wait_cap_seconds

    @contextmanager
    def running(self) -> Iterator[EmbeddedAws]:
        with ExitStack() as stack:
            stack.enter_context(mock.patch.dict(os.environ, {
                "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region, "MOTO_ACCOUNT_ID": self.account,
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            }))
            stack.enter_context(mock_aws(config={
                "stepfunctions": {"execute_state_machine": True},
                "lambda": {"use_docker": False},
            }))
            self._patch_moto(stack)
            # The interpreter logs every failed path lookup as an error, including the IsPresent checks
            # that are meant to fail; the execution's own history says what went wrong.
            quiet = logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component")
            stack.callback(quiet.setLevel, quiet.level)
            quiet.setLevel(logging.CRITICAL)
            reset_lambda_caches()
            stack.callback(reset_lambda_caches)
            stack.callback(self.sagemaker.close)
            yield self

    def _patch_moto(self, stack: ExitStack) -> None:
        original_factory = state_task_factory.state_task_service_for
        model, dispatcher = self.sagemaker, self.lambdas

        def service_for(service_name: str):
            return SageMakerTaskService(model) if service_name == "sagemaker" else original_factory(service_name)

        def lambda_invoke(backend, function_name, qualifier, body, headers, response_headers):
            payload, function_error = dispatcher.invoke(function_name, body)
            if function_error:
                response_headers["x-amz-function-error"] = function_error
            return payload

        original_describe = SageMakerModelBackend.describe_endpoint

        def describe_endpoint(backend, endpoint_name):
            model.advance_endpoint(endpoint_name)
            return original_describe(backend, endpoint_name)

        def invoke_endpoint(response):
            endpoint_name = unquote(urlparse(response.path).path.split("/")[2])  # /endpoints/<name>/invocations
            body = response.body.encode() if isinstance(response.body, str) else response.body
            headers = {k.lower(): v for k, v in response.headers.items()}
            return model.invoke(endpoint_name, body or b"", headers.get("content-type", ""), headers.get("accept", ""))

        original_sdk_task = StateTaskServiceAwsSdk._eval_service_task

        def sdk_task_as_json(service, env, *args, **kwargs):
            original_sdk_task(service, env, *args, **kwargs)
            env.stack.append(json.loads(to_json_str(env.stack.pop())))

        def send_task_failure(response):
            response.stepfunction_backend.send_task_failure(
                response._get_param("taskToken"), error=response._get_param("error"), cause=response._get_param("cause")
            )
            return EmptyResult()

        original_call_action = SageMakerResponse.call_action

        def call_action(response):
            if model.throttle(response._get_action()):
                body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
                return 400, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": secrets.token_hex(8)}, body
            return original_call_action(response)

        original_send_to_targets = Rule.send_to_targets

        def send_to_targets(rule, event, transform_input=True):
            machines = [t for t in rule.targets if ":states:" in t["Arn"] and ":stateMachine:" in t["Arn"]]
            if machines and rule.event_pattern.matches_event(event):
                import boto3

                sfn = boto3.client("stepfunctions", region_name=rule.region_name)
                for target in machines:
                    transformer = target.get("InputTransformer")
                    payload = event if not transformer else EventTemplateParser.parse(
                        input_template=transformer.get("InputTemplate"),
                        input_paths_map=transformer.get("InputPathsMap", {}),
                        event=cast(Any, {"ingestion-time": event.get("time"), **event}))
                    sfn.start_execution(stateMachineArn=target["Arn"], input=json.dumps(payload, default=str))
            others = [t for t in rule.targets if t not in machines]
            if others:
                kept, rule.targets = rule.targets, others
                try:
                    original_send_to_targets(rule, event, transform_input)
                finally:
                    rule.targets = kept

        original_start_execution = StepFunctionsParserBackend.start_execution

        def start_execution(backend, state_machine_arn, name=None, *args, **kwargs):
            return original_start_execution(backend, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

        stack.enter_context(mock.patch.object(Rule, "send_to_targets", send_to_targets))
        stack.enter_context(mock.patch.object(StepFunctionsParserBackend, "start_execution", start_execution))
        stack.enter_context(mock.patch.object(Preprocessor, "visitPayload_binding_value", keyword_path_binding))
        stack.enter_context(mock.patch.object(Preprocessor, "visitString_intrinsic_function", json_intrinsic_function))
        stack.enter_context(mock.patch.object(StringFormat, "_eval_body", string_format))
        for module in (string_expression, jsonata_validations):
            stack.enter_context(mock.patch.object(module, "eval_jsonata_expression", eval_jsonata))
        stack.enter_context(mock.patch.object(SageMakerResponse, "call_action", call_action))
        stack.enter_context(mock.patch.object(StepFunctionResponse, "send_task_failure", send_task_failure))
        stack.enter_context(mock.patch.object(state_task_factory, "state_task_service_for", service_for))
        stack.enter_context(mock.patch.object(StateTaskServiceAwsSdk, "_eval_service_task", sdk_task_as_json))
        stack.enter_context(mock.patch.object(state_task_service_callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", self.sync_poll_seconds))
        stack.enter_context(mock.patch.dict(state_task_service_aws_sdk._SERVICE_ERROR_NAMES, {"sagemaker": "SageMaker"}))
        stack.enter_context(mock.patch.object(LambdaSimpleBackend, "invoke", lambda_invoke))
        stack.enter_context(mock.patch.object(SageMakerModelBackend, "describe_endpoint", describe_endpoint))
        stack.enter_context(mock.patch.object(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint))
        if self.wait_cap_seconds is not None:
            cap = self.wait_cap_seconds

            def capped_wait(function, env, wait_seconds):
                if wait_seconds > 0:
                    env.program_state_event.wait(min(wait_seconds, cap))

            stack.enter_context(mock.patch.object(WaitFunction, "_wait_interval", capped_wait))

    def published(self, topic_arn: str) -> list[tuple[str | None, str]]:
        """(subject, message) of everything published to `topic_arn`, oldest first."""
        topic = sns_backends[self.account][self.region].topics[topic_arn]
        return [(subject, message) for _id, message, subject, _attrs, _group in list(topic.sent_notifications)]
