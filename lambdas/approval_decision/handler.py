"""Approval decision: the page behind the signed links in the approval e-mail.

API Gateway REST (v1 proxy) event. GET (and HEAD) verify the link and show a confirmation form; they
change nothing, so mail scanners that prefetch links cannot decide. POST (the form) verifies the link
again, moves the record from pending to approved / rejected with a conditional write (a link works
once), then resumes the workflow with SendTaskSuccess or SendTaskFailure(error="Rejected").
Every refusal is a 4xx page that says why; nothing changes on a refusal.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from common import aws, evaluation, links, text, web
from common.logs import get_logger

log = get_logger("approval_decision")

MAX_APPROVER_LENGTH = 200
MAX_COMMENT_LENGTH = 600
# The workflow writes the decision into the model package's ApprovalDescription: one line (SageMaker's
# pattern ".*" is Java's, whose "." matches none of LINE_BREAKS) of at most 1024 UTF-16 code units.
# The longest text it builds is "Rejected by the approver: <cause JSON>" (JSON escapes "\n"; the approved
# text carries the comment as a JSON string too), so that one must fit, whatever the characters.
APPROVAL_DESCRIPTION_MAX_LENGTH = 1024
REJECTED_DESCRIPTION_PREFIX = "Rejected by the approver: "
# Line breaks a comment may contain; each becomes "\n", which the JSON the workflow embeds escapes.
LINE_BREAKS = ("\r\n", "\r", "\u0085", "\u2028", "\u2029")
DECIDED_AT_EXAMPLE = "2026-01-01T00:00:00Z"  # the format decidedAt is written in
TASK_GONE_ERRORS = {"InvalidToken", "TaskTimedOut", "TaskDoesNotExist"}
STATUS_FOR = {"approve": "approved", "reject": "rejected"}


class Refusal(Exception):
    """A request we answer with a 4xx (or 503) page; the message is shown to the user."""

    def __init__(self, status: int, title: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.title, self.headers = status, title, headers


def handler(event, context):
    try:
        return _handle(event if isinstance(event, dict) else {})
    except Refusal as refusal:
        return web.message_page(refusal.status, refusal.title, str(refusal), refusal.headers)
    except web.BadRequest as exc:
        return web.message_page(exc.status, "Request not accepted", str(exc))
    except links.InvalidLink as exc:
        return web.message_page(400, "Invalid link", str(exc))
    except (ClientError, BotoCoreError) as exc:
        log.error("dependency failed", error=aws.error_code(exc))
        return web.message_page(
            503, "Temporarily unavailable", "The approval service could not be reached. Nothing was changed; please try the link again in a minute.",
            {"Retry-After": "60"},
        )


def _handle(event: dict) -> dict:
    method = str(event.get("httpMethod") or "").upper()
    if method in ("GET", "HEAD"):
        fields = web.query_params(event)
    elif method == "POST":
        fields = web.form_fields(event)
    else:
        raise Refusal(405, "Method not allowed", f"{method or 'This method'} is not supported here: open the link (GET) and confirm with the form (POST).", {"Allow": "GET, HEAD, POST"})

    link = links.parse_params(fields)
    record = _load_verified(link)

    if method == "POST":
        return _decide(link, record, fields)
    return _confirmation_page(link, record)


def _load_verified(link: links.LinkParams) -> dict:
    table = aws.require_env("APPROVALS_TABLE")
    item = aws.client("dynamodb").get_item(TableName=table, Key={"id": {"S": link.approval_id}}, ConsistentRead=True).get("Item")
    if not item:
        raise Refusal(404, "Unknown approval link", "This link does not match any approval request. Check that it was copied completely from the e-mail.")
    record = {name: next(iter(value.values())) for name, value in item.items()}
    key = links.signing_key(aws.require_env("SIGNING_SECRET_ARN"))
    if not links.verify(key, record["taskToken"], link):
        log.warning("signature mismatch", approvalId=link.approval_id)
        raise Refusal(403, "Invalid link", "This link's signature does not match: the link was altered or was not issued by this system. Nothing was changed.")
    if time.time() > link.expires:
        raise Refusal(410, "Link expired", f"This link expired at {text.iso_utc(link.expires)}. Nothing was changed; the request can no longer be decided with it.")
    if record.get("status") != "pending":
        raise Refusal(409, "Already decided", _already_decided(record))
    return record


def _already_decided(record: dict) -> str:
    who = record.get("approver")
    when = record.get("decidedAt")
    detail = f" by {who}" if who else ""
    detail += f" at {when}" if when else ""
    return f"This request was already {record.get('status', 'decided')}{detail}. Each link works once; nothing was changed."


def _confirmation_page(link: links.LinkParams, record: dict, error: str = "", approver: str = "", comment: str = "", status: int = 200) -> dict:
    verb = "Approve" if link.decision == "approve" else "Reject"
    consequence = "The model will be deployed." if link.decision == "approve" else "The model will not be deployed and the workflow ends."
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{web.esc(value)}">'
        for name, value in (("id", link.approval_id), ("decision", link.decision), ("expires", link.expires), ("sig", link.sig))
    )
    details = "".join(
        f"<dt>{label}</dt><dd>{web.esc(record.get(field, ''))}</dd>"
        for label, field in (("Commit", "commitId"), ("Model package", "modelPackageArn"), ("Execution", "executionArn"))
    )
    body = (
        f"<p>You are about to <strong>{verb.lower()}</strong> this model. {consequence}</p>"
        f"<dl>{details}<dt>Link expires</dt><dd>{text.iso_utc(link.expires)}</dd></dl>"
        + _evaluation_html(record)
        + (f'<p class="err">{web.esc(error)}</p>' if error else "")
        + f'<form method="post">{hidden}'
        f'<label for="approver">Your name or e-mail (required)</label>'
        f'<input id="approver" name="approver" required maxlength="{MAX_APPROVER_LENGTH}" autocomplete="email" value="{web.esc(approver)}">'
        f'<label for="comment">Comment (optional)</label>'
        f'<textarea id="comment" name="comment" rows="4" maxlength="{MAX_COMMENT_LENGTH}">{web.esc(comment)}</textarea>'
        f'<button type="submit">{verb}</button></form>'
    )
    return web.page(status, f"{verb} model?", body)


def _evaluation_html(record: dict) -> str:
    """The evaluation the approval request stored with the record (nothing for records without one)."""
    try:
        report = json.loads(record.get("evaluation") or "{}")
    except ValueError:
        return ""
    return evaluation.html_section(report) if isinstance(report, dict) and report else ""


def _clean_inputs(fields: dict[str, str]) -> tuple[str, str, str]:
    """(approver, comment, problem): the problem is '' when the inputs are acceptable."""
    approver = " ".join((fields.get("approver") or "").split())
    comment = fields.get("comment") or ""
    for line_break in LINE_BREAKS:
        comment = comment.replace(line_break, "\n")
    comment = comment.strip()
    if not approver:
        return approver, comment, "Enter your name or e-mail address: it is recorded with the decision."
    if len(approver) > MAX_APPROVER_LENGTH:
        return approver, comment, f"The name is longer than {MAX_APPROVER_LENGTH} characters."
    if len(comment) > MAX_COMMENT_LENGTH:
        return approver, comment, f"The comment is longer than {MAX_COMMENT_LENGTH} characters."
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in approver + comment):
        return approver, comment, "The name or comment contains control characters."
    if _utf16_length(REJECTED_DESCRIPTION_PREFIX + _cause(approver, comment, DECIDED_AT_EXAMPLE)) > APPROVAL_DESCRIPTION_MAX_LENGTH:
        return approver, comment, ("The name and comment are too long together once recorded (quotes and line "
                                   "breaks count twice); shorten the comment.")
    return approver, comment, ""


def _utf16_length(text: str) -> int:
    """Length as AWS's Java services count it (a character outside the BMP, an emoji, counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def _cause(approver: str, comment: str, decided_at: str) -> str:
    """What a rejection records (SendTaskFailure cause; the workflow copies it to the registry)."""
    return json.dumps({"approver": approver, "comment": comment, "decidedAt": decided_at}, ensure_ascii=False)


def _decide(link: links.LinkParams, record: dict, fields: dict[str, str]) -> dict:
    approver, comment, problem = _clean_inputs(fields)
    if problem:
        return _confirmation_page(link, record, error=problem, approver=approver, comment=comment, status=400)

    table = aws.require_env("APPROVALS_TABLE")
    dynamodb = aws.client("dynamodb")
    status = STATUS_FOR[link.decision]
    now = time.time()
    decided_at = datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"id": {"S": link.approval_id}},
            UpdateExpression="SET #status = :decided, approver = :approver, #comment = :comment, decidedAt = :decidedAt",
            ConditionExpression="#status = :pending AND expiresAt >= :now",
            ExpressionAttributeNames={"#status": "status", "#comment": "comment"},
            ExpressionAttributeValues={
                ":decided": {"S": status},
                ":pending": {"S": "pending"},
                ":approver": {"S": approver},
                ":comment": {"S": comment},
                ":decidedAt": {"S": decided_at},
                ":now": {"N": str(int(now))},
            },
        )
    except ClientError as exc:
        if aws.error_code(exc) != "ConditionalCheckFailedException":
            raise
        # Someone used the link a moment ago, or it expired in between: re-read to say which.
        _load_verified(link)
        raise Refusal(409, "Already decided", "This request was decided a moment ago by another click. Nothing was changed.") from None

    try:
        _resume_workflow(link.decision, approver, comment, decided_at, record["taskToken"])
    except (ClientError, BotoCoreError) as exc:
        code = aws.error_code(exc)
        _restore_pending(table, link.approval_id, status, decided_at)
        if code in TASK_GONE_ERRORS:
            log.warning("workflow no longer waiting", approvalId=link.approval_id, executionArn=record.get("executionArn"), error=code)
            raise Refusal(410, "No longer waiting", "The workflow is no longer waiting for this decision: the approval timed out, the execution was stopped, or it already moved on. Nothing was changed.") from None
        log.error("could not resume workflow", approvalId=link.approval_id, executionArn=record.get("executionArn"), error=code)
        raise Refusal(503, "Temporarily unavailable", "Step Functions could not be reached. Nothing was changed and the link still works: please try again in a minute.", {"Retry-After": "60"}) from None

    log.info("decision recorded", approvalId=link.approval_id, executionArn=record.get("executionArn"), decision=status, approver=approver)
    if link.decision == "approve":
        title, message = "Approved", f"Thank you, {approver}. The model from commit {record.get('commitId', '')} is approved and will now be deployed."
    else:
        title, message = "Rejected", f"Thank you, {approver}. The model from commit {record.get('commitId', '')} is rejected; the workflow ends without deploying it."
    return web.message_page(200, title, message)


def _resume_workflow(decision: str, approver: str, comment: str, decided_at: str, task_token: str) -> None:
    sfn = aws.client("stepfunctions")
    if decision == "approve":
        output = {"decision": "approved", "approver": approver, "comment": comment, "decidedAt": decided_at}
        sfn.send_task_success(taskToken=task_token, output=json.dumps(output))
    else:
        sfn.send_task_failure(taskToken=task_token, error="Rejected", cause=_cause(approver, comment, decided_at))


def _restore_pending(table: str, approval_id: str, status: str, decided_at: str) -> None:
    """Undo our own pending -> decided write so the link keeps working (only if it is still ours)."""
    try:
        aws.client("dynamodb").update_item(
            TableName=table,
            Key={"id": {"S": approval_id}},
            UpdateExpression="SET #status = :pending REMOVE approver, #comment, decidedAt",
            ConditionExpression="#status = :decided AND decidedAt = :decidedAt",
            ExpressionAttributeNames={"#status": "status", "#comment": "comment"},
            ExpressionAttributeValues={":pending": {"S": "pending"}, ":decided": {"S": status}, ":decidedAt": {"S": decided_at}},
        )
    except (ClientError, BotoCoreError) as exc:
        log.error("could not restore pending status", approvalId=approval_id, error=aws.error_code(exc))
