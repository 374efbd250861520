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
from collections.abc import Mapping
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
    if realtime:
        return _endpoint(session, published, model_name)
    return _batch(session, published, model_name)


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


def _endpoint(session: boto3.Session, published: dict[str, Any], model_name: str) -> dict[str, Any]:
    served = published["endpoints"].get(model_name)
    if not isinstance(served, dict) or not isinstance(served.get("endpoint_name"), str):
        return {"status": NOT_DEPLOYED, "reason": "the stack serves no model package for this entry yet"}
    name = served["endpoint_name"]
    try:
        endpoint = session.client("sagemaker", config=CALL_CONFIG).describe_endpoint(EndpointName=name)
    except ClientError as exc:
        if aws.error_code(exc) == "ValidationException" and "Could not find endpoint" in str(exc):
            return {"endpoint_name": name, "status": NOT_DEPLOYED, "reason": "the endpoint does not exist"}
        raise Unreadable(f"cannot describe endpoint {name}: {aws.error_code(exc)}") from None
    except BotoCoreError as exc:
        raise Unreadable(f"cannot describe endpoint {name}: {aws.error_code(exc)}") from None
    answer = {"endpoint_name": name, "status": str(endpoint.get("EndpointStatus")), "inference_url": served.get("url")}
    if endpoint.get("FailureReason"):
        answer["failure_reason"] = str(endpoint["FailureReason"])
    return answer


def _batch(session: boto3.Session, published: dict[str, Any], model_name: str) -> dict[str, Any]:
    pipeline = published["batch"].get(model_name)
    if not isinstance(pipeline, dict) or not isinstance(pipeline.get("state_machine_arn"), str):
        return {"status": NOT_DEPLOYED, "reason": "the stack serves no model package for this entry yet"}
    arn = pipeline["state_machine_arn"]
    try:
        runs = session.client("stepfunctions", config=CALL_CONFIG).list_executions(
            stateMachineArn=arn, maxResults=1)["executions"]  # newest first
    except ClientError as exc:
        if aws.error_code(exc) == "StateMachineDoesNotExist":
            return {"state_machine_arn": arn, "status": NOT_DEPLOYED, "reason": "the batch pipeline does not exist"}
        raise Unreadable(f"cannot list the runs of {arn}: {aws.error_code(exc)}") from None
    except BotoCoreError as exc:
        raise Unreadable(f"cannot list the runs of {arn}: {aws.error_code(exc)}") from None
    if not runs:
        return {"state_machine_arn": arn, "status": "deployed", "last_run": NEVER_RUN}
    run = runs[0]
    return {"state_machine_arn": arn, "status": "deployed", "last_run": {
        "execution_arn": run["executionArn"], "status": run["status"], "started_at": _time(run.get("startDate")),
        "stopped_at": _time(run.get("stopDate"))}}


def _time(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else None
