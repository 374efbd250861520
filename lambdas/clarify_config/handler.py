"""Clarify configurations of one bias / explainability monitor, from its baseline dataset's header row.

Two steps of the monitor's baseline run (``components/monitor_baseline.py``), which an upload of its
``baseline_data`` starts:

- ``"action": "prepare"`` (before the baseline job): as the AWS MLOps Framework does, the header row of that
  CSV names the columns, the label first. Reads only that row (one ranged GetObject), checks the monitor's
  analysis against it (``components/clarify_config.analysis_problems``: facets and group variable are
  features, SHAP baseline rows have one value per feature) and writes, KMS-encrypted, the baseline job's
  analysis configuration (``baselineConfig``) and the monitoring job's (``stagedConfig``);
- ``"action": "publish"`` (after the baseline job succeeded): copies ``stagedConfig`` to ``monitoringConfig``,
  which the job definition's ``ConfigUri`` names; so the monitor's configuration changes together with its
  baseline constraints, never before a baseline that failed.

Event (constant, written into the state machine by the program)::

    {"action": "prepare" | "publish", "dataset": "s3://<bucket>/<baseline_data>",
     "model": {"model_name": "...", "instance_type": "ml.m5.large", "endpoint_name_prefix": "mlops-<env>-clarify"},
     "analysis": {<analysis_fields>}, "baselineConfig": "s3://...", "stagedConfig": "s3://...",
     "monitoringConfig": "s3://...", "kmsKeyArn": "arn:aws:kms:..."}

A dataset that cannot give a usable header (missing or empty object, not UTF-8, no header row, names the
analysis does not find) raises ``InvalidBaselineData`` with every problem; the run then ends in
``BaselineFailed`` and its notification carries the message.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from common import aws
from common.logs import get_logger
from components.clarify_config import (
    ShadowModel,
    analysis_problems,
    analysis_with_headers,
    baseline_analysis_config,
    monitoring_analysis_config,
)

log = get_logger("clarify_config")

MAX_HEADER_BYTES = 65536
"""The header row must end within the object's first 64 KiB."""


class InvalidConfigurationRequest(ValueError):
    """The event is not what the state machine sends (a deployment error, not the user's data)."""


class InvalidBaselineData(ValueError):
    """The baseline dataset gives no header row the monitor's analysis can use."""


def _location(event: Mapping[str, Any], key: str) -> tuple[str, str]:
    value = event.get(key)
    parsed = urlparse(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme != "s3" or not parsed.netloc or len(parsed.path) < 2:
        raise InvalidConfigurationRequest(f"{key}: expected an s3://<bucket>/<key> URI, got {value!r}")
    return parsed.netloc, parsed.path[1:]


def _text(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidConfigurationRequest(f"{key}: expected a non-empty string, got {value!r}")
    return value


def _model(event: Mapping[str, Any]) -> ShadowModel:
    value = event.get("model")
    if not isinstance(value, Mapping) or set(value) != {"model_name", "instance_type", "endpoint_name_prefix"} or not all(
            isinstance(v, str) and v for v in value.values()):
        raise InvalidConfigurationRequest(f"model: expected model_name, instance_type and endpoint_name_prefix, got {value!r}")
    return ShadowModel(**value)


def header_row(data: bytes, complete: bool, where: str) -> tuple[str, ...]:
    """The column names of the CSV whose first bytes are ``data`` (``complete``: the whole object)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if complete or error.start < len(data) - 3:  # a cut multi-byte character at the end of the range is fine
            raise InvalidBaselineData(f"{where}: not UTF-8 text (byte {error.start} of the first row)") from None
        text = data[:error.start].decode("utf-8-sig")
    end = min((i for i in (text.find("\n"), text.find("\r")) if i >= 0), default=-1)
    if end < 0 and not complete:
        raise InvalidBaselineData(f"{where}: the header row does not end within the first {MAX_HEADER_BYTES} bytes")
    line = text if end < 0 else text[:end]
    if not line.strip():
        raise InvalidBaselineData(f"{where}: the first row is empty; baseline_data must start with a header row "
                                  "(the label first, then the features)")
    try:
        names = next(csv.reader([line], strict=True))
    except csv.Error as error:
        raise InvalidBaselineData(f"{where}: the header row is not valid CSV ({error})") from None
    if all(_number(name) for name in names):
        raise InvalidBaselineData(f"{where}: the first row ({line[:120]!r}) is all numbers; baseline_data must start "
                                  "with a header row naming the columns (the label first, then the features)")
    return tuple(names)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_header(bucket: str, key: str) -> tuple[str, ...]:
    where = f"s3://{bucket}/{key}"
    try:
        response = aws.client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_HEADER_BYTES - 1}")
    except ClientError as error:
        if aws.error_code(error) in ("NoSuchKey", "InvalidRange"):
            raise InvalidBaselineData(f"{where}: no object, or an empty one, to read the header row from") from None
        raise
    data = response["Body"].read()
    total = response.get("ContentRange", "").rpartition("/")[2]
    complete = not total.isdigit() or int(total) <= len(data)
    return header_row(data, complete, where)


def _put_json(bucket: str, key: str, document: dict[str, Any], kms_key_arn: str) -> None:
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(document, indent=2, sort_keys=True).encode(),
                                ContentType="application/json", ServerSideEncryption="aws:kms",
                                SSEKMSKeyId=kms_key_arn)


def handler(event, context):
    if not isinstance(event, Mapping):
        raise InvalidConfigurationRequest(f"expected an object, got {type(event).__name__}")
    action = event.get("action")
    staged, kms_key_arn = _location(event, "stagedConfig"), _text(event, "kmsKeyArn")
    if action == "publish":
        live = _location(event, "monitoringConfig")
        aws.client("s3").copy_object(Bucket=live[0], Key=live[1], CopySource={"Bucket": staged[0], "Key": staged[1]},
                                     ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key_arn)
        log.info("clarify monitoring configuration published", key=live[1])
        return {"monitoringConfig": f"s3://{live[0]}/{live[1]}"}
    if action != "prepare":
        raise InvalidConfigurationRequest(f"action: expected 'prepare' or 'publish', got {action!r}")
    dataset, baseline_config = _location(event, "dataset"), _location(event, "baselineConfig")
    model, fields = _model(event), event.get("analysis")
    if not isinstance(fields, Mapping):
        raise InvalidConfigurationRequest(f"analysis: expected an object, got {fields!r}")
    headers = read_header(*dataset)
    try:
        analysis = analysis_with_headers(fields, headers)
    except TypeError as error:
        raise InvalidConfigurationRequest(f"analysis: {error}") from None
    problems = analysis_problems(analysis)
    if problems:
        raise InvalidBaselineData(f"s3://{dataset[0]}/{dataset[1]}: header {list(headers)!r}: " + "; ".join(problems))
    _put_json(*baseline_config, baseline_analysis_config(analysis, model), kms_key_arn)
    _put_json(*staged, monitoring_analysis_config(analysis, model), kms_key_arn)
    log.info("clarify configurations written", monitorType=analysis.monitor_type, model=model.model_name,
             columns=len(headers))
    return {"headers": list(headers), "label": analysis.label,
            "baselineConfig": f"s3://{baseline_config[0]}/{baseline_config[1]}",
            "stagedConfig": f"s3://{staged[0]}/{staged[1]}"}
