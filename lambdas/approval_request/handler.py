"""Approval request: store a pending approval and e-mail signed approve / reject links.

Invoked by Step Functions with ``lambda:invoke.waitForTaskToken``; the execution then waits until the
approval_decision function calls SendTaskSuccess / SendTaskFailure with the stored task token.
The task token is written to DynamoDB only: it never appears in a link, the e-mail or a log line.
"""

from __future__ import annotations

import json
import re
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
            **_subject_attributes(request),
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
        Subject=text.subject(f"Approval needed: uploaded model {request['upload']['modelName']}" if "upload" in request
                             else f"Approval needed: model from commit {request['commitId'][:12]}"),
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


def _subject_attributes(request: dict) -> dict[str, dict[str, str]]:
    """What the approval page shows of the model: the commit and evaluation of a trained model, or the
    catalog entry, artifact and S3 version of an uploaded one."""
    if "upload" in request:
        upload = request["upload"]
        return {"modelName": {"S": upload["modelName"]}, "artifact": {"S": upload["artifact"]},
                "artifactVersion": {"S": upload["versionId"]}}
    return {"commitId": {"S": request["commitId"]},
            "evaluation": {"S": _stored_evaluation(request["evaluation"]["metrics"])}}


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


# Every value below reaches the e-mail (and the commit and ARNs the decision page): each must match its
# format as a whole (fullmatch), so none can carry a line break or anything else that forges a line.
COMMIT_ID = re.compile(r"[0-9a-f]{40}|s3-[0-9a-f]{32}(-[0-9]{1,5})?")  # pipeline/build_image.py's two kinds
_PARTITION_REGION_ACCOUNT = r"aws(-[a-z]+)*:{service}:(?P<region>[a-z]{{2,4}}(-[a-z]+)+-[0-9]{{1,2}}):[0-9]{{12}}"
REGION_LENGTH = range(9, 17)  # 9 to 16 characters, as SageMaker's ARN patterns have it
# Step Functions names: 1-80 characters, no white space, brackets, wildcards, control characters or
# any of " # % \ ^ | ~ ` $ & , ; : / (the Step Functions developer guide's naming rules).
_SFN_NAME = r"[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]{1,80}"
EXECUTION_ARN = re.compile(
    "arn:" + _PARTITION_REGION_ACCOUNT.format(service="states") + f":execution:{_SFN_NAME}:{_SFN_NAME}")
# A versioned package in a group: model-package/<group>/<version>; the group is a SageMaker entity name.
MODEL_PACKAGE_ARN = re.compile(
    "arn:" + _PARTITION_REGION_ACCOUNT.format(service="sagemaker")
    + r":model-package/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}/[0-9]{1,10}")
TRANSFORM_OUTPUT = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[!-~]{0,1024}")  # printable ASCII, no spaces
# An uploaded model (the upload registration): its catalog entry, the object and the object's S3 version.
MODEL_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")  # a catalog model_name (SageMaker's pattern)
ARTIFACT = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[!-~]{1,1024}")
VERSION_ID = re.compile(r"[!-~]{1,1024}")  # S3 version ids are opaque printable ASCII, at most 1024 bytes
UPLOAD_KEYS = ("modelName", "artifact", "versionId")
MAX_ARN_LENGTH = 256  # Step Functions' Arn shape; model package ARNs built by the regex stay shorter
MAX_METRIC_DEPTH = 4
MAX_METRIC_ENTRIES = 1000
MAX_METRIC_KEY_LENGTH = 100
MAX_METRIC_TEXT_LENGTH = 2048
PICTURE_KEY = "confusionMatrixSvg"


def matches(pattern: re.Pattern[str], value: str) -> bool:
    """`value` is wholly of `pattern`'s format (a region of plausible length) and cannot break a line."""
    match = pattern.fullmatch(value)
    if match is None or text.unsafe_character(value):
        return False
    return "region" not in pattern.groupindex or len(match["region"]) in REGION_LENGTH


def _validate(event) -> dict:
    if not isinstance(event, dict):
        raise InvalidApprovalRequest(f"the event must be a JSON object, not {type(event).__name__}")
    problems = []

    def text_field(name: str, pattern: re.Pattern[str] | None, allowed: str, max_len: int) -> str:
        value = event.get(name)
        if not isinstance(value, str) or not value:
            problems.append(f"{name} is missing or not a non-empty string")
            return ""
        if len(value) > max_len:
            problems.append(f"{name} is longer than {max_len} characters")
        elif pattern is not None and not matches(pattern, value):
            problems.append(f"{name} must be {allowed}")
        return value

    request: dict[str, Any] = {
        "taskToken": text_field("taskToken", None, "", MAX_TOKEN_LENGTH),
        "executionArn": text_field(
            "executionArn", EXECUTION_ARN, "a Step Functions execution ARN "
            "(arn:<partition>:states:<region>:<account>:execution:<state machine>:<name>)", MAX_ARN_LENGTH),
        "modelPackageArn": text_field(
            "modelPackageArn", MODEL_PACKAGE_ARN, "a versioned model package ARN "
            "(arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>)", MAX_ARN_LENGTH),
    }
    timeout = event.get("timeoutSeconds")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1):
        problems.append("timeoutSeconds, when given, must be a positive whole number of seconds")
        timeout = None
    request["timeoutSeconds"] = timeout
    if "upload" in event:
        # An uploaded model: no commit and no evaluation, the artifact's object version instead.
        both = [key for key in ("commitId", "evaluation") if key in event]
        if both:
            problems.append(f"{' and '.join(both)} cannot come with upload: the request is for a trained model "
                            "(commitId and evaluation) or for an uploaded one (upload)")
        request["upload"] = _upload(event["upload"], problems)
    else:
        request["commitId"] = text_field(
            "commitId", COMMIT_ID, "a full 40-character lowercase git commit SHA or s3-<ETag> "
            "(32 hexadecimal digits, optionally -<parts>)", 64)
        request["evaluation"] = _evaluation(event.get("evaluation"), problems)
    if problems:
        # The message names keys only; it never echoes values (the task token is one of them).
        raise InvalidApprovalRequest("invalid approval request: " + "; ".join(problems))
    return request


def _upload(upload: Any, problems: list[str]) -> dict[str, Any]:
    """The uploaded model's modelName, artifact (s3://bucket/key) and versionId, each one line of its format."""
    if not isinstance(upload, dict):
        problems.append("upload must be an object with " + ", ".join(UPLOAD_KEYS))
        return {}
    allowed = {"modelName": (MODEL_NAME, "a catalog model_name (1-63 letters, digits or -)"),
               "artifact": (ARTIFACT, "an s3://<bucket>/<key> URI of printable ASCII without spaces"),
               "versionId": (VERSION_ID, "an S3 version id (1-1024 printable ASCII characters without spaces)")}
    for key, (pattern, what) in allowed.items():
        value = upload.get(key)
        if not isinstance(value, str) or not matches(pattern, value):
            problems.append(f"upload.{key} must be {what}")
    unknown = sorted(str(key)[:40] for key in upload if key not in allowed)
    if unknown:
        problems.append(f"upload has unknown keys {unknown}: expected {', '.join(UPLOAD_KEYS)}")
    return {key: upload.get(key) for key in UPLOAD_KEYS}


def _evaluation(evaluation: Any, problems: list[str]) -> dict:
    """A trained model's evaluation: the transform output and the evaluate function's report."""
    if not isinstance(evaluation, dict):
        problems.append("evaluation is missing or not an object with transformOutput and metrics")
        evaluation = {}
    else:
        output = evaluation.get("transformOutput")
        if not isinstance(output, str) or not TRANSFORM_OUTPUT.fullmatch(output):
            problems.append("evaluation.transformOutput must be an s3://<bucket>/<prefix> URI of printable "
                            "ASCII without spaces, at most 1024 characters after the bucket")
        if not isinstance(evaluation.get("metrics"), dict):
            problems.append("evaluation.metrics must be an object, e.g. {\"accuracy\": 0.97}")
        else:
            problems.extend(_metric_problems(evaluation["metrics"]))
    return evaluation


def _metric_problems(metrics: dict) -> list[str]:
    """What makes the metrics unfit for the e-mail: too deep or too many, keys or texts that are long or
    hold a line break or control character. Paths name keys by position, never by their text."""
    problems: list[str] = []
    entries = 0

    def visit(value: Any, path: str, depth: int) -> None:
        nonlocal entries
        if len(problems) >= 3:
            return
        entries += 1
        if entries > MAX_METRIC_ENTRIES:
            problems.append(f"evaluation.metrics has more than {MAX_METRIC_ENTRIES} values")
            return
        if isinstance(value, (dict, list)):
            if depth >= MAX_METRIC_DEPTH:
                problems.append(f"{path} nests deeper than {MAX_METRIC_DEPTH} levels")
                return
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for position, (key, item) in enumerate(items):
                if isinstance(key, str):
                    if not key or len(key) > MAX_METRIC_KEY_LENGTH or text.unsafe_character(key):
                        problems.append(f"{path}, key {position}, must be 1 to {MAX_METRIC_KEY_LENGTH} characters "
                                        "without line breaks or control characters")
                        return
                    visit(item, f"{path}.{key}" if len(path) < 200 else path, depth + 1)
                else:
                    visit(item, f"{path}[{key}]", depth + 1)
        elif isinstance(value, str):
            if len(value) > MAX_METRIC_TEXT_LENGTH or text.unsafe_character(value):
                problems.append(f"{path} must be text of at most {MAX_METRIC_TEXT_LENGTH} characters without line "
                                "breaks or control characters")
        elif not (value is None or isinstance(value, (bool, int, float))):
            problems.append(f"{path} must be a number, text, true/false, null, a list or an object")

    # The picture never reaches the e-mail: the approval page shows it only after rebuilding it from an
    # allow-list of SVG elements (common/evaluation.py). It must be text of a bounded size; its lines are its own.
    picture = metrics.get(PICTURE_KEY)
    if picture is not None and not (isinstance(picture, str) and len(picture.encode()) <= MAX_STORED_EVALUATION_BYTES):
        problems.append(f"evaluation.metrics.{PICTURE_KEY} must be SVG text of at most {MAX_STORED_EVALUATION_BYTES} bytes")
    visit({k: v for k, v in metrics.items() if k != PICTURE_KEY}, "evaluation.metrics", 0)
    return problems


def _message(request: dict, urls: dict[str, str], expires_at: int) -> str:
    console = text.console_execution_url(request["executionArn"])
    hours = max(1, round((expires_at - time.time()) / 3600))
    upload = request.get("upload")
    if upload:
        lines = [
            f"A model uploaded for the catalog entry {upload['modelName']} is waiting for your decision before it is "
            "promoted.",
            "",
            f"Model:          {upload['modelName']}",
            f"Artifact:       {upload['artifact']}",
            f"S3 version:     {upload['versionId']}",
        ]
    else:
        lines = [
            "A newly trained model is waiting for your decision before it is deployed.",
            "",
            f"Commit:         {request['commitId']}",
        ]
    lines += [
        f"Model package:  {request['modelPackageArn']}",
        f"Execution:      {request['executionArn']}",
    ]
    if console:
        lines.append(f"Console:        {console}")
    lines += [] if upload else _evaluation_lines(request["evaluation"])
    lines += [
        "",
        f"To APPROVE and {'promote' if upload else 'deploy'} this model, open:",
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


def _evaluation_lines(evaluation: dict) -> list[str]:
    return [
        "",
        "Evaluation on the held-out test data",
        *evaluation_view.text_lines(evaluation["metrics"], indent=2),
        "",
        f"  Batch transform output: {evaluation['transformOutput']}",
        *([f"  Report: {evaluation['metrics']['report']}"] if isinstance(evaluation["metrics"].get("report"), str) else []),
        *([f"  Confusion matrix picture: {evaluation['metrics']['confusionMatrixImage']} (also on the approval page)"]
          if isinstance(evaluation["metrics"].get("confusionMatrixImage"), str) else []),
    ]
