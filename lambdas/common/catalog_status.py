"""Per environment, what one catalog entry runs as right now, read live from that environment's stack.

Every stack publishes its catalog status (``components/catalog_status.py``): an SSM parameter naming its
catalog endpoints (with their routes on its inference API) and its batch pipelines, and a role only the
registry's provisioning API may assume. For each environment the provisioning API asks ``read_all``:

1. assume the environment's status role (in the API's own account too: one code path);
2. read the parameter;
3. a real-time entry: ``DescribeEndpoint`` of its endpoint -> ``status`` (SageMaker's ``EndpointStatus``,
   ``failure_reason`` with ``Failed``), ``inference_url``; a batch entry: the newest execution of its
   pipeline -> ``last_run`` (status, start and stop time) or ``"never run"``. An entry the stack does not
   serve (no package yet) or whose resource does not exist is ``"not deployed"``.

An environment that cannot be read (access denied, throttling, a timeout, no status published yet) is
``{"status": "unknown", "reason": ...}``; the other environments' answers stand, and nothing is reported
as failed unless AWS says so. Every call has short timeouts and one retry, the environments are read in
parallel, and ``read_all`` returns within ``BUDGET_SECONDS`` whatever happens (API Gateway gives up after 29 s).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from common import aws
from common.logs import get_logger

log = get_logger("catalog_status")

BUDGET_SECONDS = 12.0
"""How long all environments together may take (the GET's other calls and the Lambda's 28 s leave room)."""
CALL_CONFIG = Config(connect_timeout=2, read_timeout=4, retries={"mode": "standard", "total_max_attempts": 2})
SESSION_NAME = "provisioning-api-status"
SESSION_SECONDS = 900
NOT_DEPLOYED = "not deployed"
NEVER_RUN = "never run"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class StatusSource:
    """Where one environment's catalog status is read: its status role, its parameter, its region."""

    role_arn: str
    parameter: str
    region: str


class Unreadable(Exception):
    """The environment's status cannot be read; the message is the reason reported."""


def unknown(reason: str) -> dict[str, Any]:
    return {"status": UNKNOWN, "reason": reason}


def read_all(sources: Mapping[str, StatusSource], model_name: str, realtime: bool,
             budget_seconds: float = BUDGET_SECONDS) -> dict[str, dict[str, Any]]:
    """Environment -> what ``model_name`` runs as there (``read_one``), or ``unknown`` with the reason."""
    if not sources:
        return {}
    sts = aws.client("sts", CALL_CONFIG)  # created here: boto3's default session is not thread-safe
    pool = ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="catalog-status")
    futures = {environment: pool.submit(read_one, sts, source, model_name, realtime)
               for environment, source in sources.items()}
    wait(futures.values(), timeout=budget_seconds)
    pool.shutdown(wait=False, cancel_futures=True)
    answers: dict[str, dict[str, Any]] = {}
    for environment, future in futures.items():
        if not future.done():
            log.warning("catalog status timed out", environment=environment)
            answers[environment] = unknown(f"no answer within {budget_seconds:g} s")
            continue
        try:
            answers[environment] = future.result()
        except Unreadable as exc:
            log.warning("catalog status unreadable", environment=environment, reason=str(exc))
            answers[environment] = unknown(str(exc))
        except Exception as exc:  # noqa: BLE001 - one environment's surprise must not fail the whole GET
            log.error("catalog status failed", environment=environment, error=type(exc).__name__)
            answers[environment] = unknown(f"reading the status failed ({type(exc).__name__})")
    return answers


def read_one(sts: Any, source: StatusSource, model_name: str, realtime: bool) -> dict[str, Any]:
    """What ``model_name`` runs as in the environment of ``source`` (``sts``: the API's own STS client);
    raises ``Unreadable``."""
    session = _session(sts, source)
    published = _published(session, source)
    return _read_entry(session, published, model_name, _ENDPOINT if realtime else _BATCH)


def _session(sts: Any, source: StatusSource) -> boto3.Session:
    try:
        credentials = sts.assume_role(
            RoleArn=source.role_arn, RoleSessionName=SESSION_NAME, DurationSeconds=SESSION_SECONDS)["Credentials"]
    except (ClientError, BotoCoreError) as exc:
        raise Unreadable(f"cannot assume {source.role_arn}: {aws.error_code(exc)}") from None
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                         aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"], region_name=source.region)


def _published(session: boto3.Session, source: StatusSource) -> dict[str, Any]:
    try:
        value = session.client("ssm", config=CALL_CONFIG).get_parameter(
            Name=source.parameter, WithDecryption=True)["Parameter"]["Value"]
    except ClientError as exc:
        if aws.error_code(exc) == "ParameterNotFound":
            raise Unreadable(f"the stack publishes no catalog status ({source.parameter}): it has not been "
                             "deployed with this version yet") from None
        raise Unreadable(f"cannot read {source.parameter}: {aws.error_code(exc)}") from None
    except BotoCoreError as exc:
        raise Unreadable(f"cannot read {source.parameter}: {aws.error_code(exc)}") from None
    try:
        published = json.loads(value)
    except ValueError:
        published = None
    if not isinstance(published, dict) or not isinstance(published.get("endpoints"), dict) \
            or not isinstance(published.get("batch"), dict):
        raise Unreadable(f"{source.parameter} is not a catalog status document")
    return published


@dataclass(frozen=True)
class _Kind:
    """How an entry of one kind is read: its section of the published document and the field naming its
    resource there, the call that reads the resource, the error that means it does not exist, and the answer."""

    section: str
    id_field: str
    service: str
    action: str
    """How the reason of an ``Unreadable`` names the call: ``cannot <action> <id>: <error code>``."""
    call: Callable[[Any, str], Any]
    """(the service's client, the resource's id) -> what the answer is made from."""
    missing_code: str
    missing_text: str
    """... and the text the error's message has when the resource does not exist (empty: any)."""
    missing_reason: str
    answer: Callable[[dict[str, Any], Any], dict[str, Any]]
    """(the published entry, the call's result) -> the answer's fields after the resource's id."""


def _read_entry(session: boto3.Session, published: dict[str, Any], model_name: str, kind: _Kind) -> dict[str, Any]:
    served = published[kind.section].get(model_name)
    if not isinstance(served, dict) or not isinstance(served.get(kind.id_field), str):
        return {"status": NOT_DEPLOYED, "reason": "the stack serves no model package for this entry yet"}
    resource = served[kind.id_field]
    try:
        result = kind.call(session.client(kind.service, config=CALL_CONFIG), resource)
    except ClientError as exc:
        if aws.error_code(exc) == kind.missing_code and kind.missing_text in str(exc):
            return {kind.id_field: resource, "status": NOT_DEPLOYED, "reason": kind.missing_reason}
        raise Unreadable(f"cannot {kind.action} {resource}: {aws.error_code(exc)}") from None
    except BotoCoreError as exc:
        raise Unreadable(f"cannot {kind.action} {resource}: {aws.error_code(exc)}") from None
    return {kind.id_field: resource, **kind.answer(served, result)}


def _endpoint_answer(served: dict[str, Any], endpoint: dict[str, Any]) -> dict[str, Any]:
    answer = {"status": str(endpoint.get("EndpointStatus")), "inference_url": served.get("url")}
    if endpoint.get("FailureReason"):
        answer["failure_reason"] = str(endpoint["FailureReason"])
    return answer


def _batch_answer(served: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    if not runs:
        return {"status": "deployed", "last_run": NEVER_RUN}
    run = runs[0]
    return {"status": "deployed", "last_run": {
        "execution_arn": run["executionArn"], "status": run["status"], "started_at": _time(run.get("startDate")),
        "stopped_at": _time(run.get("stopDate"))}}


_ENDPOINT = _Kind(
    section="endpoints", id_field="endpoint_name", service="sagemaker", action="describe endpoint",
    call=lambda client, name: client.describe_endpoint(EndpointName=name),
    missing_code="ValidationException", missing_text="Could not find endpoint",
    missing_reason="the endpoint does not exist", answer=_endpoint_answer)
_BATCH = _Kind(
    section="batch", id_field="state_machine_arn", service="stepfunctions", action="list the runs of",
    call=lambda client, arn: client.list_executions(stateMachineArn=arn, maxResults=1)["executions"],  # newest first
    missing_code="StateMachineDoesNotExist", missing_text="",
    missing_reason="the batch pipeline does not exist", answer=_batch_answer)


def _time(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else None
