"""Approval request: store a pending approval and e-mail signed approve / reject links.

Invoked by Step Functions with ``lambda:invoke.waitForTaskToken``; the execution then waits until the
approval_decision function calls SendTaskSuccess / SendTaskFailure with the stored task token.
The task token is written to DynamoDB only: it never appears in a link, the e-mail or a log line.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from common import aws, evaluation as evaluation_view, links, text
from common.logs import get_logger

log = get_logger("approval_request")

RECORD_RETENTION_SECONDS = 30 * 24 * 3600  # decided records stay this long after expiry, for audit
MAX_TOKEN_LENGTH = 2048  # SendTaskSuccess's limit
# What the approval page shows of the evaluation report, stored with the pending approval.
SHOWN_EVALUATION = ("accuracy", "minAccuracy", "passed", "records", "perClass", "confusionMatrix", "confusionMatrixSvg")
MAX_STORED_EVALUATION_BYTES = 200 * 1024  # well inside DynamoDB's 400 KB item limit


class InvalidApprovalRequest(ValueError):
    """The Step Functions payload is missing a key or has a value of the wrong shape."""


def handler(event, context):
    request = _validate(event)
    table = aws.require_env("APPROVALS_TABLE")
    topic_arn = aws.require_env("TOPIC_ARN")
    base_url = aws.require_env("APPROVAL_API_URL")
    link_ttl = _link_ttl()
    key = links.signing_key(aws.require_env("SIGNING_SECRET_ARN"))

    now = int(time.time())
    ttl = link_ttl if request["timeoutSeconds"] is None else min(link_ttl, request["timeoutSeconds"])
    expires_at = now + ttl
    approval_id = secrets.token_urlsafe(16)

    aws.client("dynamodb").put_item(
        TableName=table,
        Item={
            "id": {"S": approval_id},
            "taskToken": {"S": request["taskToken"]},
            "status": {"S": "pending"},
            "expiresAt": {"N": str(expires_at)},
            "ttl": {"N": str(expires_at + RECORD_RETENTION_SECONDS)},
            "createdAt": {"N": str(now)},
            "executionArn": {"S": request["executionArn"]},
            "modelPackageArn": {"S": request["modelPackageArn"]},
            "commitId": {"S": request["commitId"]},
            "evaluation": {"S": _stored_evaluation(request["evaluation"]["metrics"])},
        },
        ConditionExpression="attribute_not_exists(id)",
    )

    urls = {
        decision: links.build_link(
            base_url, approval_id, decision, expires_at, links.sign(key, request["taskToken"], decision, expires_at)
        )
        for decision in links.DECISIONS
    }
    response = aws.client("sns").publish(
        TopicArn=topic_arn,
        Subject=text.subject(f"Approval needed: model from commit {request['commitId'][:12]}"),
        Message=_message(request, urls, expires_at),
    )
    log.info(
        "approval requested",
        approvalId=approval_id,
        executionArn=request["executionArn"],
        modelPackageArn=request["modelPackageArn"],
        expiresAt=expires_at,
        messageId=response.get("MessageId"),
    )
    return {"approvalId": approval_id, "expiresAt": expires_at}


def _stored_evaluation(metrics: dict) -> str:
    """The part of the report the approval page shows, as JSON (the picture dropped if it would not fit)."""
    shown = {key: metrics[key] for key in SHOWN_EVALUATION if key in metrics}
    stored = json.dumps(shown)
    if len(stored.encode()) > MAX_STORED_EVALUATION_BYTES:
        shown.pop("confusionMatrixSvg", None)
        stored = json.dumps(shown)
    return stored[:MAX_STORED_EVALUATION_BYTES]


def _link_ttl() -> int:
    return aws.int_env("LINK_TTL_SECONDS", minimum=60, default=86400)


def _validate(event) -> dict:
    if not isinstance(event, dict):
        raise InvalidApprovalRequest(f"the event must be a JSON object, not {type(event).__name__}")
    problems = []

    def text_field(name: str, prefix: str = "", max_len: int = 2048) -> str:
        value = event.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{name} is missing or not a non-empty string")
            return ""
        if prefix and not value.startswith(prefix):
            problems.append(f"{name} must start with {prefix!r}")
        if len(value) > max_len:
            problems.append(f"{name} is longer than {max_len} characters")
        return value

    request: dict[str, Any] = {
        "taskToken": text_field("taskToken", max_len=MAX_TOKEN_LENGTH),
        "executionArn": text_field("executionArn", prefix="arn:"),
        "commitId": text_field("commitId", max_len=256),
        "modelPackageArn": text_field("modelPackageArn", prefix="arn:"),
    }
    evaluation = event.get("evaluation")
    if not isinstance(evaluation, dict):
        problems.append("evaluation is missing or not an object with transformOutput and metrics")
        evaluation = {}
    else:
        if not isinstance(evaluation.get("transformOutput"), str) or not evaluation["transformOutput"].startswith("s3://"):
            problems.append("evaluation.transformOutput must be an s3:// URI")
        if not isinstance(evaluation.get("metrics"), dict):
            problems.append("evaluation.metrics must be an object, e.g. {\"accuracy\": 0.97}")
    request["evaluation"] = evaluation

    timeout = event.get("timeoutSeconds")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1):
        problems.append("timeoutSeconds, when given, must be a positive whole number of seconds")
        timeout = None
    request["timeoutSeconds"] = timeout

    if problems:
        # The message names keys only; it never echoes values (the task token is one of them).
        raise InvalidApprovalRequest("invalid approval request: " + "; ".join(problems))
    return request


def _message(request: dict, urls: dict[str, str], expires_at: int) -> str:
    evaluation = request["evaluation"]
    console = text.console_execution_url(request["executionArn"])
    hours = max(1, round((expires_at - time.time()) / 3600))
    lines = [
        "A newly trained model is waiting for your decision before it is deployed.",
        "",
        f"Commit:         {request['commitId']}",
        f"Model package:  {request['modelPackageArn']}",
        f"Execution:      {request['executionArn']}",
    ]
    if console:
        lines.append(f"Console:        {console}")
    lines += [
        "",
        "Evaluation on the held-out test data",
        *evaluation_view.text_lines(evaluation["metrics"], indent=2),
        "",
        f"  Batch transform output: {evaluation['transformOutput']}",
        *([f"  Report: {evaluation['metrics']['report']}"] if isinstance(evaluation["metrics"].get("report"), str) else []),
        *([f"  Confusion matrix picture: {evaluation['metrics']['confusionMatrixImage']} (also on the approval page)"]
          if isinstance(evaluation["metrics"].get("confusionMatrixImage"), str) else []),
        "",
        "To APPROVE and deploy this model, open:",
        urls["approve"],
        "",
        "To REJECT it, open:",
        urls["reject"],
        "",
        "Each link opens a confirmation page where you enter your name and an optional comment;",
        "nothing happens until you confirm there. The links work once and expire at",
        f"{text.iso_utc(expires_at)} (in about {hours} hour{'s' if hours != 1 else ''}).",
        "Anyone holding a link can use it: do not forward this e-mail.",
    ]
    return "\n".join(lines)
