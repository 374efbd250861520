"""The catalog store and the provisioning deploys, as the two provisioning functions use them.

A record (``catalog/store.py``) moves queued -> running -> succeeded | failed for the deploy it names
(``execution_id``). Every change is a conditional write (``If-Match`` the ETag read, ``If-None-Match: *``
for a new record), retried on a concurrent change, so the API and the event recorder never overwrite each
other. Whoever moves a record to ``failed`` publishes the failure on the stack's topic, with the entry
and the reason: once, whichever path (the state-change event, or a GET that found the deploy over)
sees it first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from catalog.store import FINISHED, object_name, read_record
from catalog.validate import CatalogError
from common import aws
from common.logs import get_logger

log = get_logger("provisioning")

PIPELINE_ID_VARIABLE = "PIPELINE_ID"
ACTION_VARIABLE = "ACTION"
FAILED_STATUSES = {"Failed": "failed", "Stopped": "was stopped", "Cancelled": "was cancelled",
                   "Superseded": "was superseded"}
"""CodePipeline execution statuses that end a deploy without success, and how a reason says it."""
WRITE_ATTEMPTS = 5


class StoreUnavailable(RuntimeError):
    """The catalog store could not be read or written; trying again later may work."""


class ConcurrentChange(RuntimeError):
    """The record kept changing under us (another request for the same pipeline)."""


class DeployNotStarted(RuntimeError):
    """CodePipeline refused to start the deploy; the record says why and the topic was told."""


class InvalidRecord(RuntimeError):
    """A stored object is not a record the API wrote."""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(pipeline_id: str) -> str:
    return f"{aws.require_env('STORE_PREFIX')}/{object_name(pipeline_id)}"


def load(pipeline_id: str) -> tuple[dict[str, Any], str] | None:
    """(record, ETag) of a pipeline, or None when the store has none."""
    key = _key(pipeline_id)
    try:
        response = aws.client("s3").get_object(Bucket=aws.require_env("STORE_BUCKET"), Key=key)
        data = response["Body"].read()
    except ClientError as exc:
        if aws.error_code(exc) in ("NoSuchKey", "404"):
            return None
        raise StoreUnavailable(f"the catalog store cannot be read ({aws.error_code(exc)})") from None
    except BotoCoreError as exc:
        raise StoreUnavailable(f"the catalog store cannot be read ({type(exc).__name__})") from None
    try:
        return read_record(data, source=key), response["ETag"]
    except CatalogError as error:
        raise InvalidRecord(error.problems[0]) from None


def save(record: dict[str, Any], etag: str | None) -> str:
    """Write ``record`` if the stored one is still ``etag`` (None: if there is none); its new ETag."""
    condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
    try:
        response = aws.client("s3").put_object(
            Bucket=aws.require_env("STORE_BUCKET"), Key=_key(record["pipeline_id"]),
            Body=json.dumps(record, indent=1, sort_keys=True).encode(), ContentType="application/json", **condition)
    except ClientError as exc:
        if aws.error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
            raise ConcurrentChange(f"pipeline {record['pipeline_id']} was changed by another request") from None
        raise StoreUnavailable(f"the catalog store cannot be written ({aws.error_code(exc)})") from None
    except BotoCoreError as exc:
        raise StoreUnavailable(f"the catalog store cannot be written ({type(exc).__name__})") from None
    return str(response["ETag"])


def update(pipeline_id: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict[str, Any] | None:
    """Apply ``change`` (the current record -> the new one, or None for no change) atomically; the new
    record, or None when there was no record or nothing changed."""
    for _ in range(WRITE_ATTEMPTS):
        found = load(pipeline_id)
        if found is None:
            return None
        current, etag = found
        changed = change(dict(current))
        if changed is None:
            return None
        try:
            save({**changed, "updated_at": now()}, etag)
            return changed
        except ConcurrentChange:
            continue
    raise ConcurrentChange(f"pipeline {pipeline_id} kept changing: try again")


def list_records() -> list[dict[str, Any]]:
    """Every record of the store (unreadable ones are logged and left out)."""
    bucket, prefix = aws.require_env("STORE_BUCKET"), aws.require_env("STORE_PREFIX")
    s3 = aws.client("s3")
    records = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
            for item in page.get("Contents", []):
                data = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                try:
                    records.append(read_record(data, source=item["Key"]))
                except CatalogError:
                    log.error("unreadable record", key=item["Key"])
    except ClientError as exc:
        raise StoreUnavailable(f"the catalog store cannot be listed ({aws.error_code(exc)})") from None
    except BotoCoreError as exc:
        raise StoreUnavailable(f"the catalog store cannot be listed ({type(exc).__name__})") from None
    return sorted(records, key=lambda r: r["pipeline_id"].lower())


# ---------------------------------------------------------------------------------------------------
# Deploys


def start_deploy(pipeline_id: str, action: str) -> str:
    """Queue a deploy of the registry stack for ``pipeline_id``; its CodePipeline execution id."""
    try:
        response = aws.client("codepipeline").start_pipeline_execution(
            name=aws.require_env("PIPELINE_NAME"),
            variables=[{"name": PIPELINE_ID_VARIABLE, "value": pipeline_id}, {"name": ACTION_VARIABLE, "value": action}])
    except ClientError as exc:
        raise DeployNotStarted(f"the deploy could not be started ({aws.error_code(exc)})") from None
    except BotoCoreError as exc:
        raise DeployNotStarted(f"the deploy could not be started ({type(exc).__name__})") from None
    return str(response["pipelineExecutionId"])


def execution(execution_id: str) -> dict[str, Any]:
    """The deploy's CodePipeline execution (status, statusSummary, variables)."""
    response = aws.client("codepipeline").get_pipeline_execution(
        pipelineName=aws.require_env("PIPELINE_NAME"), pipelineExecutionId=execution_id)
    return dict(response["pipelineExecution"])


def variables(run: dict[str, Any]) -> dict[str, str]:
    return {str(v.get("name")): str(v.get("resolvedValue")) for v in run.get("variables") or [] if isinstance(v, dict)}


def failure_reason(execution_id: str, status: str, summary: str | None) -> str:
    """Why a deploy ended without success: the failed action's error and its logs' link, when CodePipeline
    has them, else the execution's own summary."""
    verb = FAILED_STATUSES.get(status, status.lower())
    reason = f"the deploy {verb}"
    try:
        details = aws.client("codepipeline").list_action_executions(
            pipelineName=aws.require_env("PIPELINE_NAME"),
            filter={"pipelineExecutionId": execution_id})["actionExecutionDetails"]
    except (ClientError, BotoCoreError) as exc:
        log.warning("action executions unavailable", executionId=execution_id, error=aws.error_code(exc))
        details = []
    for detail in details:
        if detail.get("status") != "Failed":
            continue
        result = (detail.get("output") or {}).get("executionResult") or {}
        error = result.get("errorDetails") or {}
        message = error.get("message") or result.get("externalExecutionSummary") or "no message"
        reason += f" in {detail.get('stageName')}/{detail.get('actionName')}: {message}"
        if result.get("externalExecutionUrl"):
            reason += f" (logs: {result['externalExecutionUrl']})"
        return reason
    return reason + (f": {summary}" if summary else "")


def settle(pipeline_id: str, execution_id: str, state: str, reason: str | None = None) -> dict[str, Any] | None:
    """Move the record of ``pipeline_id`` to ``state`` for deploy ``execution_id``: never backwards, never for
    a deploy the record no longer names (a later request superseded it). Publishes a move to ``failed``."""

    def change(record: dict[str, Any]) -> dict[str, Any] | None:
        if record.get("execution_id") != execution_id or record.get("state") in FINISHED:
            return None
        if record.get("state") == state:
            return None
        return {**record, "state": state, "reason": reason}

    record = update(pipeline_id, change)
    if record is not None:
        log.info("provisioning state", pipelineId=pipeline_id, executionId=execution_id, state=state)
        if state == "failed":
            notify_failure(record)
    return record


def fail_unstarted(pipeline_id: str, reason: str) -> None:
    """An accepted request whose deploy could not start: its record says why, and the topic is told."""

    def change(record: dict[str, Any]) -> dict[str, Any] | None:
        return None if record.get("execution_id") else {**record, "state": "failed", "reason": reason}

    record = update(pipeline_id, change)
    if record is not None:
        notify_failure(record)


def notify_failure(record: dict[str, Any]) -> None:
    """The failure on the stack's topic: the pipeline, the reason, the deploy and the entry as stored (a
    catalog entry holds names, locations and ARNs, no secrets)."""
    stack = aws.require_env("STACK")
    action = "retirement" if record.get("retired") else "provisioning"
    message = "\n".join([
        f"The {action} of pipeline {record['pipeline_id']} in the {stack} stack failed.",
        "", f"Reason: {record.get('reason') or 'unknown'}",
        f"Deploy (CodePipeline execution of {aws.require_env('PIPELINE_NAME')}): {record.get('execution_id') or 'none'}",
        f"Requested at: {record.get('requested_at')}",
        "", "Entry:", json.dumps(record.get("entry"), indent=2, sort_keys=True),
        "", "Fix the entry and POST it again, or retire it (DELETE /v1/pipelines/<id>): a stored entry that does "
            "not deploy stops every later deploy of the stack.",
    ])
    subject = f"{stack}: {action} of {record['pipeline_id']} failed"[:100]
    try:
        aws.client("sns").publish(TopicArn=aws.require_env("TOPIC_ARN"), Subject=subject, Message=message)
    except (ClientError, BotoCoreError) as exc:
        # The record keeps the failure (GET shows it); the log says the notification was lost.
        log.error("failure notification not sent", pipelineId=record["pipeline_id"], error=aws.error_code(exc))
