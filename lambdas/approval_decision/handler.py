"""Approval decision: the page behind the signed links in the approval e-mail.

API Gateway REST (v1 proxy) event. GET (and HEAD) verify the link and show a confirmation form; they
change nothing, so mail scanners that prefetch links cannot decide. POST (the form) verifies the link
again and delivers the decision to the workflow with SendTaskSuccess or SendTaskFailure(error="Rejected").
Every refusal is a 4xx page that says why; nothing changes on a refusal.

The record tells the truth about the delivery, whatever happens to the Step Functions call:

    pending --POST--> sending --call answered OK--------------------------------> approved | rejected
                         |    --answer lost, a later attempt finds the task closed--> approved | rejected
                         |    --refused before it could take effect (throttled)----> pending (link works again)
                         |    --first attempt finds the task closed----------------> closed
                         '-- outcome unknown (timeout, lost answer, 5xx): stays sending; a repeated POST
                             sends the same decision again, which cannot decide twice, and settles it.

`delivery` on a decided record says how it was settled: "confirmed" (Step Functions answered the call)
or "inferred" (an earlier attempt's answer was lost and a later one found the task no longer waiting).
Every call counts against BUDGET_SECONDS, so the page is answered inside API Gateway's 29 s.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.config import Config
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
# Refusals that leave the task untouched and may pass: throttling (botocore's standard-mode throttling
# codes that Step Functions can return, and the KMS throttling SendTask* models) or HTTP 429.
RETRYABLE_ERRORS = {"ThrottlingException", "Throttling", "ThrottledException", "RequestThrottledException",
                    "TooManyRequestsException", "RequestLimitExceeded", "KmsThrottlingException"}
STATUS_FOR = {"approve": "approved", "reject": "rejected"}

# Time. API Gateway gives up on the integration after 29 s; the function's timeout (27 s, in
# components/approval_api.py) is above BUDGET_SECONDS, which bounds everything a request does: a call is
# only started when the time left covers its worst case (every attempt running into its connect and read
# timeouts, plus botocore's backoff) and the worst case of the record update that must follow it.
BUDGET_SECONDS = 24.0
DEPENDENCY_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 2})
# No botocore retries for SendTask*: after a lost answer a retry sees the task closed by the first attempt,
# which only this code can tell apart from "the workflow was not waiting" (it knows what came before).
STEP_FUNCTIONS_CONFIG = Config(connect_timeout=1, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 1})
SEND_ATTEMPTS = 3
SEND_BACKOFF_SECONDS = 0.25  # doubled after each attempt
SAFETY_SECONDS = 1.0  # kept free of the Lambda's remaining time, for answering

_clock = time.monotonic  # tests replace these two to run the time budget without waiting
_sleep = time.sleep


def worst_case_seconds(config: Config) -> float:
    """The longest one call with `config` can take: every attempt reaching its connect and read timeouts,
    and botocore's standard-mode backoff between attempts (rand * min(1 s * 2^i, 20 s) for throttling)."""
    attempts = int(config.retries["total_max_attempts"])
    backoff = sum(min(2.0 ** i, 20.0) for i in range(attempts - 1))
    return attempts * (float(config.connect_timeout) + float(config.read_timeout)) + backoff


DEPENDENCY_WORST = worst_case_seconds(DEPENDENCY_CONFIG)
SEND_WORST = worst_case_seconds(STEP_FUNCTIONS_CONFIG)


class Deadline:
    """The time this request may still spend: BUDGET_SECONDS, or less when Lambda has less left."""

    def __init__(self, context):
        budget = BUDGET_SECONDS
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining):
            budget = min(budget, remaining() / 1000 - SAFETY_SECONDS)
        self.end = _clock() + budget

    def allows(self, seconds: float) -> bool:
        return _clock() + seconds <= self.end


class Refusal(Exception):
    """A request we answer with a 4xx (or 503) page; the message is shown to the user."""

    def __init__(self, status: int, title: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.title, self.headers = status, title, headers


@dataclass(frozen=True)
class Decision:
    """What a POST decided, as recorded while it is being delivered."""

    status: str  # approved | rejected
    approver: str
    comment: str
    decided_at: str
    send_id: str  # tells this request's "sending" write apart from a concurrent one's


def handler(event, context):
    try:
        return _handle(event if isinstance(event, dict) else {}, Deadline(context))
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


def _handle(event: dict, deadline: Deadline) -> dict:
    method = str(event.get("httpMethod") or "").upper()
    if method in ("GET", "HEAD"):
        fields = web.query_params(event)
    elif method == "POST":
        fields = web.form_fields(event)
    else:
        raise Refusal(405, "Method not allowed", f"{text.clip(method, 10) or 'This method'} is not supported here: open the link (GET) and confirm with the form (POST).", {"Allow": "GET, HEAD, POST"})

    link = links.parse_params(fields)
    record = _load_verified(link)

    if record["status"] == "sending":
        return _deliver(link, record, _recorded_decision(record), deadline, fresh=False) if method == "POST" else _sending_page(link, record)
    if method == "POST":
        return _decide(link, record, fields, deadline)
    return _confirmation_page(link, record)


def _dynamodb():
    return aws.client("dynamodb", DEPENDENCY_CONFIG)


def _load_verified(link: links.LinkParams) -> dict:
    """The record behind a link whose signature verifies and that can still act: pending, or sending the
    link's own decision. Anything else is a Refusal that says why."""
    table = aws.require_env("APPROVALS_TABLE")
    item = _dynamodb().get_item(TableName=table, Key={"id": {"S": link.approval_id}}, ConsistentRead=True).get("Item")
    if not item:
        raise Refusal(404, "Unknown approval link", "This link does not match any approval request. Check that it was copied completely from the e-mail.")
    record = {name: next(iter(value.values())) for name, value in item.items()}
    key = links.signing_key(aws.require_env("SIGNING_SECRET_ARN"), DEPENDENCY_CONFIG)
    if not links.verify(key, record["taskToken"], link):
        log.warning("signature mismatch", approvalId=link.approval_id)
        raise Refusal(403, "Invalid link", "This link's signature does not match: the link was altered or was not issued by this system. Nothing was changed.")
    status = record.get("status")
    if time.time() > link.expires:
        unconfirmed = (" A decision was sent to the workflow before, but its delivery was never confirmed: the "
                       "execution's history in the Step Functions console shows whether it arrived.") if status == "sending" else ""
        raise Refusal(410, "Link expired", f"This link expired at {text.iso_utc(link.expires)}. Nothing was changed; the request can no longer be decided with it.{unconfirmed}")
    if status == "closed":
        raise Refusal(410, "No longer waiting", "The workflow is no longer waiting for this decision: the approval timed out, the execution was stopped, or it already moved on. Nothing was decided with these links.")
    if status == "sending" and record.get("decision") != STATUS_FOR[link.decision]:
        raise Refusal(409, "Already decided", _already_decided(record))
    if status not in ("pending", "sending"):
        raise Refusal(409, "Already decided", _already_decided(record))
    return record


def _already_decided(record: dict) -> str:
    who = record.get("approver")
    when = record.get("decidedAt")
    detail = f" by {who}" if who else ""
    detail += f" at {when}" if when else ""
    if record.get("status") == "sending":
        return (f"A decision to {'approve' if record.get('decision') == 'approved' else 'reject'} this model was "
                f"made{detail} and is being delivered to the workflow. Each request is decided once; nothing was changed.")
    return f"This request was already {record.get('status', 'decided')}{detail}. Each link works once; nothing was changed."


def _hidden_link_fields(link: links.LinkParams) -> str:
    return "".join(
        f'<input type="hidden" name="{name}" value="{web.esc(value)}">'
        for name, value in (("id", link.approval_id), ("decision", link.decision), ("expires", link.expires), ("sig", link.sig))
    )


# What the page shows of the model: a trained model's commit, or an uploaded model's catalog entry, artifact
# and S3 version (the approval request stores one kind or the other).
TRAINED_DETAILS = (("Commit", "commitId"),)
UPLOADED_DETAILS = (("Model", "modelName"), ("Artifact", "artifact"), ("S3 version", "artifactVersion"))


def _uploaded(record: dict) -> bool:
    return "modelName" in record


def _details(record: dict) -> str:
    fields = (*(UPLOADED_DETAILS if _uploaded(record) else TRAINED_DETAILS),
              ("Model package", "modelPackageArn"), ("Execution", "executionArn"))
    return "".join(f"<dt>{label}</dt><dd>{web.esc(record.get(field, ''))}</dd>" for label, field in fields)


def _model_words(record: dict) -> str:
    """How the result page names the model: ``the model from commit <sha>`` or ``the model uploaded for <name>``."""
    if _uploaded(record):
        return f"The model uploaded for {record.get('modelName', '')} (S3 version {record.get('artifactVersion', '')})"
    return f"The model from commit {record.get('commitId', '')}"


def _confirmation_page(link: links.LinkParams, record: dict, error: str = "", approver: str = "", comment: str = "", status: int = 200) -> dict:
    verb = "Approve" if link.decision == "approve" else "Reject"
    action = "promoted" if _uploaded(record) else "deployed"
    consequence = (f"The model will be {action}." if link.decision == "approve"
                   else f"The model will not be {action} and the workflow ends.")
    body = (
        f"<p>You are about to <strong>{verb.lower()}</strong> this model. {consequence}</p>"
        f"<dl>{_details(record)}<dt>Link expires</dt><dd>{text.iso_utc(link.expires)}</dd></dl>"
        + _evaluation_html(record)
        + (f'<p class="err">{web.esc(error)}</p>' if error else "")
        + f'<form method="post">{_hidden_link_fields(link)}'
        f'<label for="approver">Your name or e-mail (required)</label>'
        # What the user typed comes back at most as long as the fields allow, however long it was.
        f'<input id="approver" name="approver" required maxlength="{MAX_APPROVER_LENGTH}" autocomplete="email" value="{web.esc(approver[:MAX_APPROVER_LENGTH])}">'
        f'<label for="comment">Comment (optional, one line)</label>'
        f'<input id="comment" name="comment" maxlength="{MAX_COMMENT_LENGTH}" value="{web.esc(comment[:MAX_COMMENT_LENGTH])}">'
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


def _sending_page(link: links.LinkParams, record: dict, status: int = 200, intro: str = "") -> dict:
    """A decision that was sent but whose arrival is not confirmed: what was decided, and a button that
    sends the same decision again (it cannot decide twice) to settle it."""
    verb = "approve" if record.get("decision") == "approved" else "reject"
    intro = intro or (f"A decision to <strong>{verb}</strong> this model was sent to the workflow, but Step Functions "
                      "has not confirmed that it arrived.")
    body = (
        f"<p>{intro}</p>"
        f"<dl>{_details(record)}<dt>Decided by</dt><dd>{web.esc(record.get('approver', ''))}</dd>"
        f"<dt>Decided at</dt><dd>{web.esc(record.get('decidedAt', ''))}</dd></dl>"
        "<p>Nothing else can be decided with these links. Press the button to send the same decision again: "
        "it cannot take effect twice, and the answer says whether the workflow received it.</p>"
        f'<form method="post">{_hidden_link_fields(link)}<button type="submit">Check again</button></form>'
    )
    return web.page(status, "Decision sent, not yet confirmed", body, {"Retry-After": "30"} if status == 202 else None)


def _clean_inputs(fields: dict[str, str]) -> tuple[str, str, str]:
    """(approver, comment, problem): the problem is '' when the inputs are acceptable.

    Both go into e-mails, the model registry and pages: one line each, no control or bidirectional
    formatting characters, bounded lengths. Spaces around them are dropped; nothing else is changed."""
    approver = (fields.get("approver") or "").strip()
    comment = (fields.get("comment") or "").strip()
    if not approver:
        return approver, comment, "Enter your name or e-mail address: it is recorded with the decision."
    if len(approver) > MAX_APPROVER_LENGTH:
        return approver, comment, f"The name is longer than {MAX_APPROVER_LENGTH} characters."
    if len(comment) > MAX_COMMENT_LENGTH:
        return approver, comment, f"The comment is longer than {MAX_COMMENT_LENGTH} characters."
    for label, value in (("name", approver), ("comment", comment)):
        bad = text.unsafe_character(value)
        if bad:
            return approver, comment, (f"The {label} contains a line break, control or text-direction character "
                                       f"({bad}): write it on one line without such characters.")
    if _utf16_length(REJECTED_DESCRIPTION_PREFIX + _cause(approver, comment, DECIDED_AT_EXAMPLE)) > APPROVAL_DESCRIPTION_MAX_LENGTH:
        return approver, comment, ("The name and comment are too long together once recorded (quotes and "
                                   "backslashes count twice); shorten the comment.")
    return approver, comment, ""


def _utf16_length(text: str) -> int:
    """Length as AWS's Java services count it (a character outside the BMP, an emoji, counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def _cause(approver: str, comment: str, decided_at: str) -> str:
    """What a rejection records (SendTaskFailure cause; the workflow copies it to the registry)."""
    return json.dumps({"approver": approver, "comment": comment, "decidedAt": decided_at}, ensure_ascii=False)


def _recorded_decision(record: dict) -> Decision:
    return Decision(status=record["decision"], approver=record.get("approver", ""), comment=record.get("comment", ""),
                    decided_at=record.get("decidedAt", ""), send_id=record.get("sendId", ""))


def _decide(link: links.LinkParams, record: dict, fields: dict[str, str], deadline: Deadline) -> dict:
    approver, comment, problem = _clean_inputs(fields)
    if problem:
        return _confirmation_page(link, record, error=problem, approver=approver, comment=comment, status=400)
    # Record "sending", make at least one attempt, then settle the record: all of it or nothing.
    if not deadline.allows(DEPENDENCY_WORST + SEND_WORST + DEPENDENCY_WORST):
        raise Refusal(503, "Temporarily unavailable", "The approval service is answering slowly. Nothing was changed; please try again in a minute.", {"Retry-After": "60"})

    now = time.time()
    decision = Decision(status=STATUS_FOR[link.decision], approver=approver, comment=comment,
                        decided_at=datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        send_id=secrets.token_hex(8))
    try:
        _write_sending(link.approval_id, decision, decision.send_id,
                       condition="#status = :pending AND expiresAt >= :now", now={"N": str(int(now))})
    except ClientError as exc:
        if aws.error_code(exc) != "ConditionalCheckFailedException":
            raise
        # Another click a moment ago (a double click), or the link expired in between: re-read to say which.
        if deadline.allows(DEPENDENCY_WORST * 2):
            current = _load_verified(link)
            if current["status"] == "sending" and deadline.allows(SEND_WORST + DEPENDENCY_WORST):
                return _deliver(link, current, _recorded_decision(current), deadline, fresh=False)
        raise Refusal(409, "Decided at the same moment", "Another click is deciding this request at the same moment; this one changed nothing. Open the link again to see the outcome.") from None
    return _deliver(link, record, decision, deadline, fresh=True)


def _deliver(link: links.LinkParams, record: dict, decision: Decision, deadline: Deadline, fresh: bool) -> dict:
    """Send `decision` until Step Functions settles it or the time is up, then make the record say so.

    `fresh`: this request wrote "sending" itself, so no earlier attempt exists. Otherwise an earlier
    attempt's fate is unknown, and a closed task is taken as that attempt having arrived."""
    ids = {"approvalId": link.approval_id, "executionArn": record.get("executionArn")}
    maybe_arrived = not fresh  # some attempt, earlier or here, may have reached the workflow
    unknown_here = False  # one of this request's attempts may have
    for attempt in range(SEND_ATTEMPTS):
        if attempt:
            pause = SEND_BACKOFF_SECONDS * 2 ** (attempt - 1)
            if not deadline.allows(pause + SEND_WORST + DEPENDENCY_WORST):
                break
            _sleep(pause)
        elif not deadline.allows(SEND_WORST + DEPENDENCY_WORST):
            break
        try:
            _resume_workflow(decision, record["taskToken"])
        except ClientError as exc:
            code = aws.error_code(exc)
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 400)
            if code in TASK_GONE_ERRORS:
                if maybe_arrived:
                    log.warning("task closed after an unconfirmed attempt: taken as delivered", **ids, error=code)
                    return _settled(link, record, decision, "inferred")
                log.warning("workflow no longer waiting", **ids, error=code)
                return _closed(link, decision, code)
            if status >= 500:  # the service failed somewhere: before or after acting on the call
                maybe_arrived = unknown_here = True
            elif code not in RETRYABLE_ERRORS and status != 429:  # refused (access, validation): retrying does not help
                log.error("decision refused by Step Functions", **ids, error=code)
                break
            log.warning("decision not delivered", **ids, error=code, attempt=attempt + 1)
        except BotoCoreError as exc:
            # A timeout or a broken connection: the call may have arrived and only its answer was lost.
            maybe_arrived = unknown_here = True
            log.warning("decision delivery unconfirmed", **ids, error=aws.error_code(exc), attempt=attempt + 1)
        else:
            return _settled(link, record, decision, "confirmed")

    if maybe_arrived:
        if unknown_here:
            _keep_sending(link.approval_id, decision)
        return _sending_page(link, {**record, "decision": decision.status, "approver": decision.approver,
                                    "decidedAt": decision.decided_at}, status=202,
                             intro="Your decision was sent to the workflow, but Step Functions did not confirm that it "
                                   "arrived. It is recorded as sent.")
    if _restore_pending(link.approval_id, decision):
        raise Refusal(503, "Temporarily unavailable", "Step Functions could not be reached. Nothing was changed and the link still works: please try again in a minute.", {"Retry-After": "60"})
    raise Refusal(503, "Temporarily unavailable", "Step Functions could not be reached and your decision was not delivered. Send the form again in a minute: it delivers the decision you made.", {"Retry-After": "60"})


def _resume_workflow(decision: Decision, task_token: str) -> None:
    sfn = aws.client("stepfunctions", STEP_FUNCTIONS_CONFIG)
    if decision.status == "approved":
        output = {"decision": "approved", "approver": decision.approver, "comment": decision.comment, "decidedAt": decision.decided_at}
        sfn.send_task_success(taskToken=task_token, output=json.dumps(output))
    else:
        sfn.send_task_failure(taskToken=task_token, error="Rejected", cause=_cause(decision.approver, decision.comment, decision.decided_at))


def _settled(link: links.LinkParams, record: dict, decision: Decision, delivery: str) -> dict:
    """The workflow has the decision: record it as made (unless that write fails: the record then stays
    "sending", which a repeated POST settles) and thank the user."""
    try:
        _dynamodb().update_item(
            TableName=aws.require_env("APPROVALS_TABLE"),
            Key={"id": {"S": link.approval_id}},
            UpdateExpression=("SET #status = :decision, decision = :decision, approver = :approver, #comment = :comment, "
                              "decidedAt = :decidedAt, delivery = :delivery REMOVE sendId"),
            # Not yet decided (nor being delivered the other way); or decided so by inference, which a
            # confirmation upgrades. A record that is already settled is left as it is.
            ConditionExpression=("((#status = :pending OR #status = :sending) AND (attribute_not_exists(decision) OR decision = :decision))"
                                 " OR (#status = :decision AND delivery = :inferred AND :delivery = :confirmed)"),
            ExpressionAttributeNames={"#status": "status", "#comment": "comment"},
            ExpressionAttributeValues={
                ":decision": {"S": decision.status}, ":pending": {"S": "pending"}, ":sending": {"S": "sending"},
                ":approver": {"S": decision.approver}, ":comment": {"S": decision.comment},
                ":decidedAt": {"S": decision.decided_at}, ":delivery": {"S": delivery},
                ":inferred": {"S": "inferred"}, ":confirmed": {"S": "confirmed"},
            },
        )
    except ClientError as exc:
        if aws.error_code(exc) != "ConditionalCheckFailedException":  # else: a concurrent click recorded it
            log.error("could not record the delivered decision", approvalId=link.approval_id, error=aws.error_code(exc))
    except BotoCoreError as exc:
        log.error("could not record the delivered decision", approvalId=link.approval_id, error=aws.error_code(exc))
    log.info("decision recorded", approvalId=link.approval_id, executionArn=record.get("executionArn"),
             decision=decision.status, approver=decision.approver, delivery=delivery)
    model, uploaded = _model_words(record), _uploaded(record)
    if decision.status == "approved":
        title, message = "Approved", (f"Thank you, {decision.approver}. {model} is approved and will now be "
                                      f"{'promoted' if uploaded else 'deployed'}.")
    else:
        title, message = "Rejected", (f"Thank you, {decision.approver}. {model} is rejected; the workflow ends "
                                      f"without {'promoting' if uploaded else 'deploying'} it.")
    if delivery == "inferred":
        message += " (The workflow had already received this decision from an earlier, unconfirmed attempt.)"
    return web.message_page(200, title, message)


def _closed(link: links.LinkParams, decision: Decision, code: str) -> dict:
    """The first attempt found the task closed: nothing was decided, and nothing can be any more."""
    try:
        _dynamodb().update_item(
            TableName=aws.require_env("APPROVALS_TABLE"),
            Key={"id": {"S": link.approval_id}},
            UpdateExpression="SET #status = :closed, closedReason = :reason REMOVE decision, approver, #comment, decidedAt, sendId",
            ConditionExpression="#status = :sending AND sendId = :sendId",
            ExpressionAttributeNames={"#status": "status", "#comment": "comment"},
            ExpressionAttributeValues={":closed": {"S": "closed"}, ":sending": {"S": "sending"},
                                       ":sendId": {"S": decision.send_id}, ":reason": {"S": code}},
        )
    except ClientError as exc:
        if aws.error_code(exc) == "ConditionalCheckFailedException":  # a concurrent click settled it meanwhile
            raise Refusal(409, "Already decided", "This request was decided a moment ago by another click. Nothing was changed.") from None
        log.error("could not close the approval record", approvalId=link.approval_id, error=aws.error_code(exc))
    except BotoCoreError as exc:
        log.error("could not close the approval record", approvalId=link.approval_id, error=aws.error_code(exc))
    raise Refusal(410, "No longer waiting", "The workflow is no longer waiting for this decision: the approval timed out, the execution was stopped, or it already moved on. Nothing was decided.")


def _write_sending(approval_id: str, decision: Decision, send_id: str, *, condition: str,
                   **values: dict[str, str]) -> None:
    """Record `decision` as being sent (status "sending", attempt `send_id`) where `condition` holds; `values`
    are the condition's further placeholders (``now`` for ``:now``)."""
    _dynamodb().update_item(
        TableName=aws.require_env("APPROVALS_TABLE"),
        Key={"id": {"S": approval_id}},
        UpdateExpression=("SET #status = :sending, decision = :decision, approver = :approver, #comment = :comment, "
                          "decidedAt = :decidedAt, sendId = :sendId"),
        ConditionExpression=condition,
        ExpressionAttributeNames={"#status": "status", "#comment": "comment"},
        ExpressionAttributeValues={
            ":sending": {"S": "sending"}, ":pending": {"S": "pending"}, ":decision": {"S": decision.status},
            ":approver": {"S": decision.approver}, ":comment": {"S": decision.comment},
            ":decidedAt": {"S": decision.decided_at}, ":sendId": {"S": send_id},
            **{f":{name}": value for name, value in values.items()},
        },
    )


def _keep_sending(approval_id: str, decision: Decision) -> None:
    """After an attempt whose fate is unknown the record must say "sending", even if a concurrent request
    that saw only refusals has just put it back to pending."""
    try:
        _write_sending(approval_id, decision, secrets.token_hex(8),
                       condition="#status = :pending OR (#status = :sending AND decision = :decision)")
    except (ClientError, BotoCoreError) as exc:
        if aws.error_code(exc) != "ConditionalCheckFailedException":  # else: settled meanwhile
            log.error("could not keep the record as sending", approvalId=approval_id, error=aws.error_code(exc))


def _restore_pending(approval_id: str, decision: Decision) -> bool:
    """Undo our own "sending" write (only if it is still ours) so the link works again; False if that failed."""
    try:
        _dynamodb().update_item(
            TableName=aws.require_env("APPROVALS_TABLE"),
            Key={"id": {"S": approval_id}},
            UpdateExpression="SET #status = :pending REMOVE decision, approver, #comment, decidedAt, sendId",
            ConditionExpression="#status = :sending AND sendId = :sendId",
            ExpressionAttributeNames={"#status": "status", "#comment": "comment"},
            ExpressionAttributeValues={":pending": {"S": "pending"}, ":sending": {"S": "sending"}, ":sendId": {"S": decision.send_id}},
        )
    except (ClientError, BotoCoreError) as exc:
        log.error("could not restore pending status", approvalId=approval_id, error=aws.error_code(exc))
        return False
    return True
