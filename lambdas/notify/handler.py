"""Notify: one readable SNS e-mail at the end of a workflow execution, success or failure: the training
workflow's, or a catalog entry's batch pipeline's (``"pipeline": "batch"``)."""

from __future__ import annotations

import json

from common import aws, text
from common.logs import get_logger

log = get_logger("notify")

MAX_CAUSE_CHARS = 4000
STATUSES = ("SUCCEEDED", "FAILED")


class InvalidNotification(ValueError):
    """The Step Functions payload does not say whether the workflow succeeded or failed."""


def handler(event, context):
    if not isinstance(event, dict) or event.get("status") not in STATUSES:
        got = event.get("status") if isinstance(event, dict) else type(event).__name__
        raise InvalidNotification(f"status must be one of {', '.join(STATUSES)}; got {got!r}")
    topic_arn = aws.require_env("TOPIC_ARN")
    commit = _str(event.get("commitId")) or "(unknown commit)"
    upload = event.get("upload")
    if _str(event.get("pipeline")) == "batch":
        subject, message = _batch(event)
    elif isinstance(upload, dict):
        subject, message = _upload_message(event, upload)
    elif event["status"] == "SUCCEEDED":
        subject, message = _success(event, commit)
    else:
        subject, message = _failure(event, commit)
    response = aws.client("sns").publish(TopicArn=topic_arn, Subject=text.subject(subject), Message=message)
    log.info("notification sent", status=event["status"], executionArn=event.get("executionArn"), error=event.get("error"), messageId=response["MessageId"])
    return {"messageId": response["MessageId"]}


def _str(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _context_lines(event: dict) -> list[str]:
    lines = []
    for label, key in (("Endpoint", "endpointName"), ("Model package", "modelPackageArn"), ("Execution", "executionArn")):
        if _str(event.get(key)):
            lines.append(f"{label + ':':<15} {event[key]}")
    console = text.console_execution_url(_str(event.get("executionArn")))
    if console:
        lines.append(f"{'Console:':<15} {console}")
    return lines


def _success(event: dict, commit: str) -> tuple[str, str]:
    if _str(event.get("deployment")) == "promotion":
        lines = [f"The model trained from commit {commit} is approved.",
                 "Model promotion deploys approved packages to this stage's endpoint; this run changed no endpoint.",
                 ""]
        return f"Model approved: commit {commit[:12]}", "\n".join(lines + _context_lines(event))
    url = _str(event.get("inferenceUrl"))
    lines = [f"The model trained from commit {commit} is approved, deployed and answered its smoke test.", ""]
    if url:
        lines += [
            f"Inference API:  {url}",
            "",
            "Try it:",
            f"  curl -s -X POST '{url}' -H 'Content-Type: application/json' -d '{{\"data\": \"5.1,3.5,1.4,0.2\"}}'",
            "",
        ]
    lines += _context_lines(event)
    return f"Model deployed: commit {commit[:12]}", "\n".join(lines)


def _upload_message(event: dict, upload: dict) -> tuple[str, str]:
    """The end of an upload registration: the package approved (promotion takes it on), or why not."""
    model = _str(upload.get("modelName")) or "(unknown model)"
    artifact = [f"{'Artifact:':<15} {upload['artifact']}"] if _str(upload.get("artifact")) else []
    version = [f"{'S3 version:':<15} {upload['versionId']}"] if _str(upload.get("versionId")) else []
    if event["status"] == "SUCCEEDED":
        lines = [f"The model uploaded for {model} is registered and approved.",
                 "Model promotion now carries it through the environments in order.", "",
                 *artifact, *version, *_context_lines(event)]
        return f"Uploaded model approved: {model}", "\n".join(lines)
    error = _str(event.get("error")) or "unknown error"
    reason = readable_cause(error, event.get("cause"))
    lines = [f"The registration of the model uploaded for {model} failed; nothing is promoted.", "",
             f"Error:  {error}", "Reason:", *(f"  {line}" for line in reason.splitlines()), "",
             *artifact, *version, *_context_lines(event), "",
             "The execution's history in the console shows the failed state and its input."]
    return f"Model upload failed ({error}): {model}", "\n".join(lines)


def _failure(event: dict, commit: str) -> tuple[str, str]:
    error = _str(event.get("error")) or "unknown error"
    reason = readable_cause(error, event.get("cause"))
    lines = [
        f"The training workflow for commit {commit} failed.",
        "",
        f"Error:  {error}",
        "Reason:",
        *(f"  {line}" for line in reason.splitlines()),
        "",
        *_context_lines(event),
        "",
        "The execution's history in the console shows the failed state and its input.",
    ]
    return f"Model workflow failed ({error}): commit {commit[:12]}", "\n".join(lines)


def _batch(event: dict) -> tuple[str, str]:
    """A catalog entry's batch pipeline (components/workflow/batch.py): what was transformed, or which
    step failed and why."""
    model = _str(event.get("modelName")) or "(unknown model)"
    lines = [f"{label + ':':<15} {event[key]}" for label, key in (
        ("Input", "input"), ("Output", "output"), ("Transform job", "transformJobName"),
        ("Model package", "modelPackageArn"), ("Execution", "executionArn")) if _str(event.get(key))]
    console = text.console_execution_url(_str(event.get("executionArn")))
    if console:
        lines.append(f"{'Console:':<15} {console}")
    if event["status"] == "SUCCEEDED":
        return (f"Batch transform done: {model}",
                "\n".join([f"The batch pipeline of {model} transformed its input.", "", *lines]))
    error = _str(event.get("error")) or "unknown error"
    step = _str(event.get("step")) or "(unknown step)"
    reason = readable_cause(error, event.get("cause"))
    message = [f"The batch pipeline of {model} failed in step {step}.", "", f"Error:  {error}", "Reason:",
               *(f"  {line}" for line in reason.splitlines()), "", *lines]
    return f"Batch pipeline failed ({error}): {model}", "\n".join(message)


def readable_cause(error: str, cause) -> str:
    """Turn a Step Functions error cause (often a JSON document) into a few readable lines."""
    if cause is None or cause == "":
        if error == "States.Timeout":
            return "The step did not finish within its time limit (for the approval: nobody decided in time)."
        return "No further details were given."
    parsed = _decode(cause)
    if isinstance(parsed, dict):
        lines = _known_shapes(error, parsed)
        if lines:
            return _truncate("\n".join(lines))
        return _truncate(json.dumps(parsed, indent=2, sort_keys=True, default=str))
    if isinstance(parsed, list):
        return _truncate(json.dumps(parsed, indent=2, default=str))
    return _truncate(str(parsed))


def _decode(value, depth: int = 0):
    """json.loads repeatedly: Step Functions often wraps a JSON document in a JSON string."""
    while isinstance(value, str) and depth < 3 and value.strip()[:1] in ("{", "[", '"'):
        try:
            value = json.loads(value)
        except ValueError:
            break
        depth += 1
    return value


def _known_shapes(error: str, cause: dict) -> list[str]:
    # Our own rejection (approval_decision's SendTaskFailure cause).
    if error == "Rejected" and "approver" in cause:
        line = f"Rejected by {cause.get('approver')}"
        if cause.get("decidedAt"):
            line += f" at {cause['decidedAt']}"
        comment = _str(cause.get("comment"))
        return [line + (f": {comment}" if comment else " (no comment).")]
    # A Lambda function error.
    if "errorMessage" in cause or "errorType" in cause:
        lines = [f"{cause.get('errorType', 'Error')}: {cause.get('errorMessage', '')}".rstrip(": ")]
        trace = cause.get("stackTrace")
        if isinstance(trace, list) and trace:
            lines.append("Last frames:")
            lines += [f"  {str(frame).strip()}" for frame in trace[-3:]]
        return lines
    # A SageMaker .sync job or endpoint description.
    for kind, name_key, status_key in (
        ("Training job", "TrainingJobName", "TrainingJobStatus"),
        ("Transform job", "TransformJobName", "TransformJobStatus"),
        ("Endpoint", "EndpointName", "EndpointStatus"),
        ("Processing job", "ProcessingJobName", "ProcessingJobStatus"),
    ):
        if name_key in cause or status_key in cause:
            line = f"{kind} {cause.get(name_key, '')} ended {cause.get(status_key, 'unsuccessfully')}".replace("  ", " ")
            return [line + ".", f"Failure reason: {cause.get('FailureReason') or 'not given'}"]
    # An AWS SDK error as recorded by Step Functions.
    if "Message" in cause or "message" in cause:
        return [str(cause.get("Message") or cause.get("message"))]
    return []


def _truncate(value: str) -> str:
    return value if len(value) <= MAX_CAUSE_CHARS else value[: MAX_CAUSE_CHARS - 30] + "\n... (truncated)"
