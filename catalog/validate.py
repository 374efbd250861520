"""Validation of the model catalog (``mlops-config.json``): every problem of every entry, at once.

Standard library only, so that the Pulumi program and the provisioning Lambda (which vendors this
package) apply the same rules with the same messages. ``docs/catalog.md`` describes the format.

    catalog = load_catalog_file(path, environments=("dev", "staging", "prod"),
                                regions={"dev": "eu-west-1"})
    entry = validate_entry(body, environments=...)     # one body, as the provisioning API receives it

Both raise ``CatalogError``; its ``problems`` holds one line per problem, each naming the entry (index
and model_name), the field, the value (shortened) and what is allowed. Messages stay short whatever
the input: values are shown truncated, containers by their size, and at most ``MAX_PROBLEMS`` lines are
kept. Any JSON nesting depth is refused before parsing instead of raising ``RecursionError``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import clarify
from .entries import (
    FIELDS_OF,
    IMAGE_BUILDER_TYPE,
    MODEL_BIAS_MONITOR,
    MODEL_EXPLAINABILITY_MONITOR,
    MODEL_QUALITY_MONITOR,
    MONITOR_TYPES,
    REALTIME_TYPES,
    SUPPORTED_TYPES,
    TRAINED_ENDPOINT,
    Catalog,
    EnvValue,
    ImageBuilderEntry,
    ModelEntry,
    MonitorEntry,
    S3Location,
)

FRAMEWORKS_FILE = Path(__file__).with_name("builtin_frameworks.json")
MAX_PROBLEMS = 100
"""Problems kept in one ``CatalogError``; a last line counts the rest."""
MAX_SHOWN = 60
"""Characters of a value or key shown in a message."""
MAX_DEPTH = 16
"""Deepest JSON nesting read; a catalog needs 4 (document, pipelines, entry, per-environment value)."""
MAX_DOCUMENT_BYTES = 1024 * 1024
"""Largest catalog read (about 2000 entries)."""
DEFAULT_CONTENT_TYPE = "text/csv"
DEFAULT_ACCEPT = "text/csv"
DEFAULT_INSTANCE_COUNT = 1

# SageMaker's name rule (botocore: EndpointName, EntityName; ModelName accepts the same names).
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
SAGEMAKER_NAME_MAX = 63
# Every SageMaker instance type is ml.<family>.<size>; some families have a '-' (ml.p6-b200.48xlarge).
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+(-[a-z0-9]+)*\.(medium|small|micro|x?large|[1-9][0-9]*xlarge)$")
ENVIRONMENT = re.compile(r"^[a-z][a-z0-9-]{1,15}$")
# ECR repository names (botocore ecr RepositoryName), 2 to 256 characters.
ECR_REPOSITORY = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
ECR_REPOSITORY_MAX = 256
# Docker's tag grammar (ECR itself allows 300 characters; docker push does not).
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
ECR_IMAGE_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z]{2}(-gov)?-[a-z]+-\d)\.amazonaws\.com(\.cn)?/"
    r"(?P<repository>[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@sha256:[0-9a-f]{64})$")
ECR_IMAGE_URI_MAX = 255  # botocore sagemaker ContainerImage
MODEL_PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:(?P<region>[a-z]{2}(-gov)?-[a-z]+-\d):\d{12}:"
                               r"model-package/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}/[1-9][0-9]{0,8}$")
KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z]{2}(-gov)?-[a-z]+-\d):\d{12}:key/"
                         r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$")
# Object keys and prefixes: S3's safe characters, no empty, '.' or '..' segment.
OBJECT_KEY = re.compile(r"^(?!.*//)(?!/)(?!(.*/)?\.\.?(/|$))[A-Za-z0-9!_.*'()=+@/-]+$")
OBJECT_KEY_MAX = 1024
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_FORBIDDEN_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_FORBIDDEN_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
MEDIA_TYPE = re.compile(r"^[a-z]+/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
                        r"(;\s?[A-Za-z0-9_.-]+=[A-Za-z0-9_.-]+)*$")
MEDIA_TYPE_MAX = 256
FRAMEWORK_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$")
INSTANCE_COUNT_MAX = 20
# EventBridge schedule expressions (events PutRule ScheduleExpression, at most 256 characters).
SCHEDULE_MAX = 256
RATE = re.compile(r"^rate\((?P<value>[1-9][0-9]{0,5}) (?P<unit>minutes?|hours?|days?)\)$")
CRON = re.compile(r"^cron\((?P<fields>[^()]*)\)$")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minutes", 0, 59, ()), ("hours", 0, 23, ()), ("day-of-month", 1, 31, ()), ("month", 1, 12, _MONTHS),
    ("day-of-week", 1, 7, _WEEKDAYS), ("year", 1970, 2199, ()),
)


class CatalogError(ValueError):
    """The catalog is invalid. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid model catalog:\n" + "\n".join(f"  - {p}" for p in problems))


class _Invalid(Exception):
    def __init__(self, allowed: str):
        self.allowed = allowed


# ---------------------------------------------------------------------------------------------------
# Showing values without ever printing much


def show(value: Any) -> str:
    """A short, one-line rendering of any value: strings truncated, containers by their size."""
    if isinstance(value, str):
        if len(value) > MAX_SHOWN:
            return repr(value[:MAX_SHOWN]) + f"... ({len(value)} characters)"
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if -10**18 < value < 10**18 else "a number of more than 18 digits"
    if isinstance(value, float):
        return repr(value)[:MAX_SHOWN]
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, Mapping):
        return f"an object with {len(value)} key(s)"
    return f"a {type(value).__name__}"


def _name(key: Any) -> str:
    """A key as it appears in a message (keys are author-supplied: bounded like values)."""
    text = key if isinstance(key, str) else show(key)
    return text if len(text) <= MAX_SHOWN and text.isprintable() else show(text)


# ---------------------------------------------------------------------------------------------------
# Parsers: one JSON value -> a typed value, or _Invalid(what is allowed)

Parser = Callable[[Any], Any]


def _text(pattern: re.Pattern[str], max_length: int, allowed: str) -> Parser:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or len(value) > max_length or not pattern.match(value):
            raise _Invalid(allowed)
        return value

    return parse


def _count(minimum: int, maximum: int) -> Parser:
    allowed = f"a whole number from {minimum} to {maximum} (a number or a numeric string)"

    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise _Invalid(allowed)
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,6}", value):
            number = int(value)
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        else:
            raise _Invalid(allowed)
        if not minimum <= number <= maximum:
            raise _Invalid(allowed)
        return number

    return parse


def _framework_version(value: Any) -> str:
    allowed = 'a version string such as "1.7-1" (or a whole number such as 1)'
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**6:
        return str(value)
    if isinstance(value, float):
        raise _Invalid(allowed + "; a JSON number with a fraction loses digits (0.90 reads as 0.9): quote it")
    if not isinstance(value, str) or not FRAMEWORK_VERSION.match(value):
        raise _Invalid(allowed)
    if value == "latest":
        raise _Invalid(allowed + "; 'latest' is refused: pin a version so that every deployment uses the same image")
    return value


def _framework(value: Any) -> str:
    frameworks = builtin_frameworks()
    if not isinstance(value, str) or value not in frameworks:
        raise _Invalid("a SageMaker built-in algorithm: one of " + ", ".join(sorted(frameworks)))
    return value


def bucket_problem(bucket: str) -> str | None:
    """Why ``bucket`` is not a valid S3 (general purpose) bucket name, or None."""
    if not BUCKET.match(bucket):
        return "3 to 63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit"
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        return "no '..', '.-' or '-.'"
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bucket):
        return "not an IP address"
    if bucket.startswith(_BUCKET_FORBIDDEN_PREFIXES) or bucket.endswith(_BUCKET_FORBIDDEN_SUFFIXES):
        return (f"not starting with {', '.join(_BUCKET_FORBIDDEN_PREFIXES)} nor ending with "
                f"{', '.join(_BUCKET_FORBIDDEN_SUFFIXES)} (reserved by S3)")
    return None


def _s3_location(max_uri: int) -> Parser:
    allowed = ("an S3 location bucket/prefix or s3://bucket/prefix: a valid bucket name, then a prefix of "
               "letters, digits and !_.*'()=+@/- without empty, '.' or '..' segments, "
               f"at most {max_uri} characters as s3://bucket/prefix")

    def parse(value: Any) -> S3Location:
        if not isinstance(value, str):
            raise _Invalid(allowed)
        text = value[len("s3://"):] if value.startswith("s3://") else value
        bucket, _, prefix = text.partition("/")
        prefix = prefix.rstrip("/")
        why = bucket_problem(bucket)
        if why:
            raise _Invalid(f"{allowed}; the bucket name must be {why}")
        if not prefix:
            raise _Invalid(f"{allowed}; a prefix is required so that the entry's roles reach only it")
        location = S3Location(bucket, prefix)
        if not OBJECT_KEY.match(prefix) or len(location.uri.encode()) > max_uri:
            raise _Invalid(allowed)
        return location

    return parse


def _object_key(suffix: str, example: str) -> Parser:
    allowed = (f"an object key in the assets bucket (the registry environment's stack bucket) ending in "
               f"{suffix}, such as {example}: letters, digits and !_.*'()=+@/-, no leading '/', no empty, '.' "
               f"or '..' segments, at most {OBJECT_KEY_MAX} bytes")

    def parse(value: Any) -> str:
        if isinstance(value, str) and value.startswith(("s3://", "https://", "http://")):
            raise _Invalid(allowed + "; not a URI: the platform owns the bucket so that uploads are versioned")
        if (not isinstance(value, str) or not value.endswith(suffix) or len(value) == len(suffix)
                or len(value.encode()) > OBJECT_KEY_MAX or not OBJECT_KEY.match(value)):
            raise _Invalid(allowed)
        return value

    return parse


_SCHEDULE_ALLOWED = ("an EventBridge schedule expression: rate(<n> <unit>) with the unit minute, hour or day (singular "
                     "for 1, plural above: rate(1 day), rate(6 hours)), or cron(<minutes> <hours> <day-of-month> "
                     "<month> <day-of-week> <year>) with '?' in exactly one of day-of-month and day-of-week, such as "
                     "cron(0 2 * * ? *) (every day at 02:00 UTC)")


def _cron_item(item: str, field: tuple[str, int, int, tuple[str, ...]]) -> bool:
    """One comma-separated item of a cron field: *, a value, a range, a step, or the field's specials."""
    name, low, high, names = field

    def value(text: str) -> bool:
        return text.upper() in names or (text.isdigit() and len(text) <= 4 and low <= int(text) <= high)

    if item == "*":
        return True
    if name == "day-of-month" and (item in ("L", "LW") or (item.endswith("W") and value(item[:-1]))):
        return True
    if name == "day-of-week":
        if item == "L" or (item.endswith("L") and value(item[:-1])):
            return True
        if "#" in item:
            day, _, nth = item.partition("#")
            return value(day) and nth in ("1", "2", "3", "4", "5")
    base, slash, step = item.partition("/")
    if slash and not (step.isdigit() and len(step) <= 4 and 1 <= int(step) <= high):
        return False
    if slash and base == "*":
        return True
    start, dash, end = base.partition("-")
    return value(start) and value(end) if dash else value(base)


def _schedule(value: Any) -> str:
    if not isinstance(value, str) or len(value) > SCHEDULE_MAX:
        raise _Invalid(_SCHEDULE_ALLOWED)
    rate = RATE.match(value)
    if rate:
        if (rate.group("value") == "1") != (not rate.group("unit").endswith("s")):
            raise _Invalid(_SCHEDULE_ALLOWED + "; the unit is singular for 1 and plural above")
        return value
    cron = CRON.match(value)
    if not cron:
        raise _Invalid(_SCHEDULE_ALLOWED)
    fields = cron.group("fields").split(" ")
    if len(fields) != len(_CRON_FIELDS):
        raise _Invalid(f"{_SCHEDULE_ALLOWED}; this cron expression has {len(fields)} fields separated by single "
                       f"spaces, not {len(_CRON_FIELDS)}")
    for text, field in zip(fields, _CRON_FIELDS, strict=True):
        if text == "?" and field[0] in ("day-of-month", "day-of-week"):
            continue
        if not all(_cron_item(item, field) for item in text.split(",")):
            raise _Invalid(f"{_SCHEDULE_ALLOWED}; its {field[0]} field {show(text)} is invalid (values {field[1]} to "
                           f"{field[2]}{', ' + '-'.join((field[3][0], field[3][-1])) if field[3] else ''}, "
                           f"with , - * /)")
    if (fields[2] == "?") == (fields[4] == "?"):
        raise _Invalid(f"{_SCHEDULE_ALLOWED}; give '?' in exactly one of day-of-month and day-of-week")
    return value


@dataclass(frozen=True)
class _Field:
    parse: Parser
    per_environment: bool = True
    """May be given as {"<environment>": value, ...}. Fields that name the entry or something built once
    may not."""
    takes_object: bool = False
    """The value itself is a JSON object (a Clarify configuration part): never read as per-environment."""


FIELDS: dict[str, _Field] = {
    "pipeline_type": _Field(_text(re.compile(r"^[a-z_]+$"), 64, "one of " + ", ".join(SUPPORTED_TYPES)),
                            per_environment=False),
    "model_name": _Field(_text(SAGEMAKER_NAME, SAGEMAKER_NAME_MAX,
                               "a SageMaker name: 1 to 63 letters, digits or '-', starting and ending with a "
                               "letter or digit"), per_environment=False),
    "model_framework": _Field(_framework),
    "model_framework_version": _Field(_framework_version),
    "model_artifact_location": _Field(_object_key(".tar.gz", "models/iris/model.tar.gz")),
    "custom_image_uri": _Field(_text(ECR_IMAGE_URI, ECR_IMAGE_URI_MAX,
                                     "an ECR image URI with a tag or digest: "
                                     "<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> or "
                                     "...@sha256:<digest>, at most 255 characters")),
    "model_package_name": _Field(_text(MODEL_PACKAGE_ARN, 2048,
                                       "a versioned model package ARN: "
                                       "arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>")),
    "inference_instance": _Field(_text(INSTANCE_TYPE, 64, "a SageMaker instance type such as ml.m5.large "
                                                          "(ml.<family>.<size>)")),
    "inference_instance_count": _Field(_count(1, INSTANCE_COUNT_MAX)),
    "content_type": _Field(_text(MEDIA_TYPE, MEDIA_TYPE_MAX, "a media type such as text/csv or application/json")),
    "accept": _Field(_text(MEDIA_TYPE, MEDIA_TYPE_MAX, "a media type such as text/csv or application/json")),
    "data_capture_location": _Field(_s3_location(512)),
    "endpoint_name": _Field(_text(SAGEMAKER_NAME, SAGEMAKER_NAME_MAX,
                                  "a SageMaker endpoint name: 1 to 63 letters, digits or '-', starting and ending "
                                  "with a letter or digit")),
    "batch_inference_data": _Field(_s3_location(1024)),
    "batch_job_output_location": _Field(_s3_location(1024)),
    "batch_schedule": _Field(_schedule),
    "baseline_data": _Field(_s3_location(1024)),
    "kms_key_arn": _Field(_text(KMS_KEY_ARN, 2048, "a KMS key ARN: arn:aws:kms:<region>:<account>:key/<key id>")),
    "custom_algorithm_docker": _Field(_object_key(".zip", "images/iris-tree.zip"), per_environment=False),
    "ecr_repo_name": _Field(_text(ECR_REPOSITORY, ECR_REPOSITORY_MAX,
                                  "an ECR repository name: 2 to 256 lowercase letters, digits, '.', '_', '-', '/' "
                                  "(groups separated by '/', each starting and ending with a letter or digit)"),
                            per_environment=False),
    "image_tag": _Field(_text(IMAGE_TAG, 128, "an image tag: 1 to 128 letters, digits, '_', '.' or '-', not "
                                              "starting with '.' or '-'"), per_environment=False),
}

# --- model monitors (issue 13): fields of the four monitor types ------------------------------------------
# SageMaker's monitoring schedules (ScheduleConfig.ScheduleExpression): hourly, daily at an hour, or every
# N hours from an hour; never more often than hourly.
MONITORING_CRON = re.compile(r"^cron\(0 (\*|(?P<hour>[01]?\d|2[0-3])(/(?P<every>[1-9]|1\d|2[0-4]))?) \? \* \* \*\)$")
MONITORING_CRON_ALLOWED = ("SageMaker's monitoring cron, at most hourly: cron(0 * ? * * *) (hourly), cron(0 H ? * * *) "
                           "(daily at hour H, UTC) or cron(0 H/N ? * * *) (every N hours from H, N 1-24)")
PROBLEM_TYPES = ("BinaryClassification", "MulticlassClassification", "Regression")  # botocore MonitoringProblemType
VOLUME_SIZE_MAX = 16384  # botocore ProcessingVolumeSizeInGB
MONITOR_RUNTIME_MAX = 86400  # botocore MonitoringMaxRuntimeInSeconds
DEFAULT_BASELINE_MAX_RUNTIME = 3600
ATTRIBUTE_MAX = 256  # botocore EndpointInput.InferenceAttribute / ProbabilityAttribute / FeaturesAttribute
GROUND_TRUTH_URI_MAX = 512  # botocore MonitoringS3Uri
REFUSED_FOR_MONITORS = {
    "data_capture_location": "the monitor reads what its endpoint captures (the real-time entry's "
                             "data_capture_location, or the stack's own capture for @trained): omit it",
    "monitoring_output_location": "reports land in the stack bucket under monitoring/<endpoint>/<monitor type>/, "
                                  "where the alarms and notifications link (docs/monitoring.md): omit it",
    "baseline_job_name": "the platform names the baseline run after the entry: omit it",
    "monitoring_schedule_name": "the platform names the schedule after its endpoint and type: omit it",
}
"""Fields of the AWS MLOps Framework's monitor bodies (or its template parameters) that the platform decides
itself: refused with the reason, never silently ignored."""


def monitoring_interval_seconds(schedule: str) -> int:
    """Seconds between two runs of a schedule ``MONITORING_CRON`` accepts (hourly, every N hours, daily)."""
    match = MONITORING_CRON.match(schedule)
    if match is None:
        raise ValueError(f"{schedule!r} is not a monitoring schedule")
    if match["hour"] is None:
        return 3600
    return 3600 * int(match["every"]) if match["every"] else 86400


def _attribute(value: Any) -> str:
    """An attribute of the captured or baseline data: a column name, a 0-based index, or a JMESPath."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**6:
        return str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > ATTRIBUTE_MAX or not value.isprintable():
        raise _Invalid(f"a column name or 0-based column index (for CSV) or a JMESPath (for JSON), 1 to "
                       f"{ATTRIBUTE_MAX} printable characters")
    return value.strip()


def _probability_threshold(value: Any) -> float:
    allowed = "a probability from 0 to 1 (a number or a numeric string), such as 0.5"
    if isinstance(value, str) and re.fullmatch(r"(0(\.[0-9]{1,6})?|1(\.0{1,6})?|\.[0-9]{1,6})", value.strip()):
        return float(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    raise _Invalid(allowed)


def _model_scores(value: Any) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**6:
        return value
    if isinstance(value, str) and 0 < len(value) <= ATTRIBUTE_MAX and value.isprintable():
        return value
    raise _Invalid(f"the 0-based index of the model's scores in its output, or a JMESPath to them (1 to "
                   f"{ATTRIBUTE_MAX} characters)")


def _monitored_endpoint(value: Any) -> str:
    if value == TRAINED_ENDPOINT:
        return value
    try:
        return str(FIELDS["endpoint_name"].parse(value))
    except _Invalid:
        raise _Invalid(f"{TRAINED_ENDPOINT!r} (the stack's own endpoint, serving the trained model) or a real-time "
                       f"catalog entry's endpoint: its endpoint_name as that entry writes it, or its model_name where "
                       f"it has none") from None


def _as_is(value: Any) -> Any:
    return value


MONITOR_FIELDS: dict[str, _Field] = {
    "endpoint_name": _Field(_monitored_endpoint),
    "baseline_data": _Field(_object_key(".csv", "baselines/iris/baseline.csv")),
    "baseline_job_output_location": _Field(_s3_location(1024)),
    "schedule_expression": _Field(_text(MONITORING_CRON, SCHEDULE_MAX, MONITORING_CRON_ALLOWED)),
    "instance_type": _Field(_text(INSTANCE_TYPE, 64, "a SageMaker processing instance type such as ml.m5.large "
                                                     "(ml.<family>.<size>)")),
    "instance_volume_size": _Field(_count(1, VOLUME_SIZE_MAX)),
    "baseline_max_runtime_seconds": _Field(_count(1, MONITOR_RUNTIME_MAX)),
    "monitor_max_runtime_seconds": _Field(_count(1, MONITOR_RUNTIME_MAX)),
    "problem_type": _Field(_text(re.compile("^(" + "|".join(PROBLEM_TYPES) + ")$"), 32, "one of " + ", ".join(PROBLEM_TYPES)),
                           per_environment=False),
    "monitor_inference_attribute": _Field(_attribute, per_environment=False),
    "monitor_probability_attribute": _Field(_attribute, per_environment=False),
    "probability_threshold_attribute": _Field(_probability_threshold, per_environment=False),
    "baseline_inference_attribute": _Field(_attribute, per_environment=False),
    "baseline_probability_attribute": _Field(_attribute, per_environment=False),
    "baseline_ground_truth_attribute": _Field(_attribute, per_environment=False),
    "monitor_ground_truth_input": _Field(_s3_location(GROUND_TRUTH_URI_MAX)),
    "features_attribute": _Field(_attribute, per_environment=False),
    "bias_config": _Field(_as_is, per_environment=False, takes_object=True),
    "model_predicted_label_config": _Field(_as_is, per_environment=False, takes_object=True),
    "shap_config": _Field(_as_is, per_environment=False, takes_object=True),
    "model_scores": _Field(_model_scores, per_environment=False),
}
"""How a monitor entry reads each of its fields (``kms_key_arn`` and ``model_name`` as every entry does)."""
for _name_of_field, _field in MONITOR_FIELDS.items():
    FIELDS.setdefault(_name_of_field, _field)
MONITOR_REQUIRED = ("pipeline_type", "model_name", "endpoint_name", "baseline_data", "baseline_job_output_location",
                    "schedule_expression", "monitor_max_runtime_seconds", "instance_type", "instance_volume_size")
"""Required in every monitor entry (the framework's get_required_keys, less the fields refused here)."""


def monitor_required(kind: str, problem_type: str | None) -> tuple[str, ...]:
    """The fields a monitor entry of ``kind`` requires with ``problem_type``, as the framework's
    ``get_required_keys`` does (``data_capture_location`` and ``monitoring_output_location`` aside)."""
    required = list(MONITOR_REQUIRED)
    if kind == MODEL_QUALITY_MONITOR:
        required += ["baseline_inference_attribute", "baseline_ground_truth_attribute"]
        if problem_type == "BinaryClassification":
            required.append("baseline_probability_attribute")
    if kind in (MODEL_QUALITY_MONITOR, MODEL_BIAS_MONITOR, MODEL_EXPLAINABILITY_MONITOR):
        required.append("problem_type")
        if problem_type in ("Regression", "MulticlassClassification"):
            required.append("monitor_inference_attribute")
    if kind in (MODEL_QUALITY_MONITOR, MODEL_BIAS_MONITOR):
        required.append("monitor_ground_truth_input")
    if kind == MODEL_BIAS_MONITOR:
        if problem_type in ("BinaryClassification", "MulticlassClassification"):
            required.append("model_predicted_label_config")
        required.append("bias_config")
    if kind == MODEL_EXPLAINABILITY_MONITOR:
        required.append("shap_config")
    return tuple(required)


def field_spec(kind: Any, key: str) -> _Field:
    """How ``key`` is read in an entry of ``kind``."""
    if kind in MONITOR_TYPES and key in MONITOR_FIELDS:
        return MONITOR_FIELDS[key]
    return FIELDS[key]
# --- end of model monitor fields ------------------------------------------------------------------------

ALLOWED = FIELDS_OF
"""The fields each pipeline type takes; any other field is refused."""
REQUIRED: dict[str, tuple[str, ...]] = {
    "byom_realtime_builtin": ("pipeline_type", "model_name", "inference_instance", "data_capture_location"),
    "byom_realtime_custom": ("pipeline_type", "model_name", "inference_instance", "data_capture_location"),
    "byom_batch_builtin": ("pipeline_type", "model_name", "inference_instance", "batch_inference_data",
                           "batch_job_output_location"),
    "byom_batch_custom": ("pipeline_type", "model_name", "inference_instance", "batch_inference_data",
                          "batch_job_output_location"),
    IMAGE_BUILDER_TYPE: ("pipeline_type", "custom_algorithm_docker", "ecr_repo_name", "image_tag"),
    **{kind: monitor_required(kind, None) for kind in MONITOR_TYPES},
}
"""Required whatever the model source (the AWS MLOps Framework's get_required_keys, less the model keys)."""
MODEL_KEYS: dict[str, tuple[str, ...]] = {
    "builtin": ("model_framework", "model_framework_version", "model_artifact_location"),
    "custom": ("custom_image_uri", "model_artifact_location"),
}
"""The model of a builtin / custom entry: these fields together, or ``model_package_name`` instead."""


@lru_cache(maxsize=1)
def _frameworks_document() -> dict[str, Any]:
    return json.loads(FRAMEWORKS_FILE.read_text())


def builtin_frameworks() -> dict[str, dict[str, list[str]]]:
    """framework -> version -> regions with an inference image (generated from sagemaker-core)."""
    return _frameworks_document()["frameworks"]


# ---------------------------------------------------------------------------------------------------
# Problems, collected per entry


class _Problems:
    def __init__(self, source: str):
        self.lines: list[str] = []
        self.dropped = 0
        self.prefix = f"{source}: " if source else ""

    def add(self, where: str, text: str) -> None:
        if len(self.lines) < MAX_PROBLEMS:
            self.lines.append(f"{self.prefix}{where}: {text}" if where else f"{self.prefix}{text}")
        else:
            self.dropped += 1

    def raise_if_any(self) -> None:
        if self.lines:
            extra = [f"{self.prefix}... and {self.dropped} more problem(s)"] if self.dropped else []
            raise CatalogError(self.lines + extra)


@dataclass(frozen=True)
class _Topology:
    environments: tuple[str, ...] | None
    regions: Mapping[str, str]


def _per_environment(field: str, value: Mapping[Any, Any], parse: Parser, topology: _Topology,
                     report: Callable[[str], None]) -> EnvValue | None:
    """``{"dev": ..., "prod": ...}``: every key an environment of the topology."""
    if not value:
        report(f"{field} is an empty object: expected a value, or one per environment")
        return None
    parsed, ok = [], True
    for environment, item in value.items():
        if not isinstance(environment, str) or not ENVIRONMENT.match(environment):
            report(f"{field} has the key {show(environment)}, which is not an environment name: a per-environment "
                   f"value is an object whose keys are environments")
            ok = False
            continue
        if topology.environments is not None and environment not in topology.environments:
            report(f"{field}.{environment}: {environment!r} is not an environment of the topology "
                   f"(environments: {', '.join(topology.environments)})")
            ok = False
            continue
        if isinstance(item, Mapping | list):
            report(f"{field}.{environment} = {show(item)} is invalid: a per-environment value holds one plain "
                   "value per environment")
            ok = False
            continue
        try:
            parsed.append((environment, parse(item)))
        except _Invalid as invalid:
            report(f"{field}.{environment} = {show(item)} is invalid: expected {invalid.allowed}")
            ok = False
    return EnvValue(by_environment=tuple(parsed)) if ok else None


def _environments_of(values: Iterable[EnvValue], topology: _Topology) -> list[str | None]:
    """The environments in which to check a combination of fields: None stands for 'everywhere'."""
    if topology.environments is not None and any(v.varies for v in values):
        return list(topology.environments)
    keys: list[str | None] = []
    for value in values:
        keys.extend(name for name, _ in value.by_environment if name not in keys)
    return keys or [None]


def _at(value: EnvValue, environment: str | None) -> Any:
    """The value in ``environment`` (None: 'everywhere', only meaningful for a value that does not vary)."""
    if not value.varies:
        return value.everywhere
    return dict(value.by_environment).get(environment) if environment is not None else None


def _suffix(environment: str | None, value: EnvValue) -> str:
    return f".{environment}" if environment is not None and value.varies else ""


# ---------------------------------------------------------------------------------------------------
# One entry


def _label(index: int | None, body: Mapping[str, Any], name: str | None = None) -> str:
    where = name or ("body" if index is None else f"pipelines[{index}]")
    kind = body.get("pipeline_type")
    if kind == IMAGE_BUILDER_TYPE:
        repo, tag = body.get("ecr_repo_name"), body.get("image_tag")
        if isinstance(repo, str) and isinstance(tag, str):
            return f"{where} (image builder {_name(repo + ':' + tag)})"
        return where
    name = body.get("model_name")
    if kind in MONITOR_TYPES and isinstance(name, str):
        return f"{where} ({kind} {show(name)})"
    return f"{where} (model_name {show(name)})" if isinstance(name, str) else where


def _check_entry(index: int | None, body: Any, topology: _Topology, problems: _Problems,
                 name: str | None = None) -> ModelEntry | ImageBuilderEntry | MonitorEntry | None:
    """One entry: ``pipelines[index]`` of a file, or the API's ``body``, or ``name`` (a stored entry)."""
    if not isinstance(body, Mapping):
        where = name or ("body" if index is None else f"pipelines[{index}]")
        problems.add("", f"{where} is {show(body)}: expected an object (one pipeline)")
        return None
    where = _label(index, body, name)
    count = len(problems.lines) + problems.dropped

    def report(text: str) -> None:
        problems.add(where, text)

    for key in getattr(body, "duplicate_keys", ()):
        report(f"{_name(key)} is given twice in this object (JSON keeps only the last): give it once")

    kind = body.get("pipeline_type")
    allowed_fields: tuple[str, ...] = tuple(FIELDS)
    if "pipeline_type" not in body:
        report("pipeline_type is missing: expected one of " + ", ".join(SUPPORTED_TYPES))
    elif kind not in SUPPORTED_TYPES:
        report(f"pipeline_type = {show(kind)} is invalid: expected one of {', '.join(SUPPORTED_TYPES)}")
    else:
        allowed_fields = ALLOWED[kind]

    values: dict[str, Any] = {}
    for key, value in body.items():
        if kind in MONITOR_TYPES and key in REFUSED_FOR_MONITORS:
            report(f"{key} is refused in a {kind} entry: {REFUSED_FOR_MONITORS[key]}")
            continue
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1) if isinstance(key, str) and len(key) < 64 else []
            hint = f"did you mean {close[0]!r}? " if close else ""
            report(f"{_name(key)} is not a catalog field ({hint}see docs/catalog.md for the fields)")
            continue
        if key not in allowed_fields:
            owners = [t for t, names in ALLOWED.items() if key in names]
            report(f"{key} is not used by {kind} (it belongs to {', '.join(owners)})")
            continue
        if key == "pipeline_type":
            continue
        spec = field_spec(kind, key)
        if isinstance(value, Mapping) and not spec.takes_object:
            if not spec.per_environment:
                report(f"{key} = {show(value)} is invalid: {key} cannot vary by environment (it names the entry "
                       f"or something built once)")
                continue
            parsed = _per_environment(key, value, spec.parse, topology, report)
            if parsed is not None:
                values[key] = parsed
            continue
        try:
            typed = spec.parse(value)
        except _Invalid as invalid:
            report(f"{key} = {show(value)} is invalid: expected {invalid.allowed}")
            continue
        values[key] = typed if not spec.per_environment else EnvValue(everywhere=typed)

    if kind not in SUPPORTED_TYPES:
        return None
    reach = _reach(values, topology, report)
    problem_type = values.get("problem_type")
    for key in (monitor_required(kind, problem_type) if kind in MONITOR_TYPES else REQUIRED[kind]):
        if key not in body:
            because = f" with problem_type {problem_type}" if problem_type and key not in REQUIRED[kind] else ""
            report(f"{key} is missing: required for {kind}{because}")
    if kind in MONITOR_TYPES:
        _check_monitor_values(kind, values, topology, report)
    elif kind != IMAGE_BUILDER_TYPE:
        _check_model_source(kind, body, report)
        _check_model_values(values, topology, report)
    if len(problems.lines) + problems.dropped > count:
        return None
    if kind in MONITOR_TYPES:
        return MonitorEntry(index=-1 if index is None else index, pipeline_type=kind, environments=reach,
                            **{"baseline_max_runtime_seconds": EnvValue(everywhere=DEFAULT_BASELINE_MAX_RUNTIME),
                               **values})
    if kind == IMAGE_BUILDER_TYPE:
        return ImageBuilderEntry(index=-1 if index is None else index, pipeline_type=kind,
                                 custom_algorithm_docker=values["custom_algorithm_docker"],
                                 ecr_repo_name=values["ecr_repo_name"], image_tag=values["image_tag"])
    defaults = {"inference_instance_count": EnvValue(everywhere=DEFAULT_INSTANCE_COUNT),
                "content_type": EnvValue(everywhere=DEFAULT_CONTENT_TYPE),
                "accept": EnvValue(everywhere=DEFAULT_ACCEPT)}
    return ModelEntry(index=-1 if index is None else index, pipeline_type=kind, environments=reach,
                      **{**defaults, **values})


def _reach(values: Mapping[str, Any], topology: _Topology, report: Callable[[str], None]) -> tuple[str, ...]:
    """The environments an entry reaches: those its per-environment values name (each the same ones),
    or every environment (empty tuple) when it has none."""
    named = {key: tuple(name for name, _ in value.by_environment) for key, value in values.items()
             if isinstance(value, EnvValue) and value.varies}
    sets = {frozenset(environments) for environments in named.values()}
    if len(sets) > 1:
        described = "; ".join(f"{key} names {', '.join(sorted(environments))}" for key, environments in named.items())
        report(f"the per-environment values name different environments ({described}): an entry reaches the "
               f"environments its per-environment values name, so each of them names the same ones")
        return ()
    if not sets:
        return ()
    (environments,) = sets
    order = topology.environments or tuple(sorted(environments))
    return tuple(e for e in order if e in environments)


def _check_model_source(kind: str, body: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """The model: the image and artifact fields together, or model_package_name instead (not both)."""
    model_keys = MODEL_KEYS["builtin" if kind.endswith("_builtin") else "custom"]
    given = [k for k in model_keys if k in body]
    if "model_package_name" in body:
        if given:
            report(f"model_package_name and {', '.join(given)} exclude each other: give the model package (its "
                   f"image and artifact come from the registry) or {' + '.join(model_keys)}, not both")
        if "baseline_data" in body:
            report("baseline_data is only for an uploaded model (model_artifact_location): a registered "
                   "package (model_package_name) already carries its baseline, or none; leave baseline_data out")
    elif not given:
        report(f"the model is missing: {kind} needs {' + '.join(model_keys)}, or model_package_name")
    else:
        for key in model_keys:
            if key not in body:
                report(f"{key} is missing: required with {', '.join(given)} for {kind} "
                       f"(or give model_package_name instead of the model fields)")


def _check_model_values(values: Mapping[str, EnvValue], topology: _Topology, report: Callable[[str], None]) -> None:
    """Rules over several fields, per environment: framework/version/region, regional keys, batch paths."""
    framework, version = values.get("model_framework"), values.get("model_framework_version")
    table = builtin_frameworks()
    if framework is not None and version is not None:
        for environment in _environments_of((framework, version), topology):
            fw, ver = _at(framework, environment), _at(version, environment)
            if fw is None or ver is None:
                continue
            versions = table[fw]
            if ver not in versions:
                shown = [v for v in versions if v != "latest"]
                report(f"model_framework_version{_suffix(environment, version)} = {ver!r} is invalid for "
                       f"model_framework {fw!r}: expected one of {', '.join(shown)}")
                continue
            missing = [env for env, region in _regions(environment, topology) if region not in versions[ver]]
            if missing:
                regions = sorted({topology.regions[env] for env in missing})
                verb = "deploys" if len(missing) == 1 else "deploy"
                report(f"model_framework {fw!r} version {ver!r} has no SageMaker image in {', '.join(regions)}, "
                       f"where {', '.join(missing)} {verb}; it has one in {len(versions[ver])} regions, e.g. "
                       f"{', '.join(versions[ver][:5])}")
    kms = values.get("kms_key_arn")
    if kms is not None:
        for environment in _environments_of((kms,), topology):
            arn = _at(kms, environment)
            match = KMS_KEY_ARN.match(arn) if arn is not None else None
            if match is None:
                continue
            elsewhere = [env for env, region in _regions(environment, topology) if region != match.group("region")]
            if elsewhere:
                report(f"kms_key_arn{_suffix(environment, kms)} = {show(arn)} is invalid: the key is in "
                       f"{match.group('region')} but {_deploy(elsewhere, topology)} (KMS keys are regional)")
    source, output = values.get("batch_inference_data"), values.get("batch_job_output_location")
    if source is not None and output is not None:
        for environment in _environments_of((source, output), topology):
            data, out = _at(source, environment), _at(output, environment)
            if data is not None and out is not None and _overlap(data, out):
                report(f"batch_job_output_location{_suffix(environment, output)} = {show(out.uri)} is invalid: it "
                       f"overlaps batch_inference_data {show(data.uri)}; an upload there starts the batch job, so "
                       f"output inside the input (or input inside the output) would start it again")


def _regions(environment: str | None, topology: _Topology) -> list[tuple[str, str]]:
    """(environment, region) pairs a value applies to: one environment, or all with a known region."""
    if environment is None:
        return list(topology.regions.items())
    region = topology.regions.get(environment)
    return [(environment, region)] if region is not None else []


def _deploy(environments: list[str], topology: _Topology) -> str:
    """``dev deploys to eu-west-1`` / ``dev, prod deploy to eu-west-1, us-east-1``."""
    regions = sorted({topology.regions[e] for e in environments})
    verb = "deploys" if len(environments) == 1 else "deploy"
    return f"{', '.join(environments)} {verb} to {', '.join(regions)}"


def _overlap(a: S3Location, b: S3Location) -> bool:
    if a.bucket != b.bucket:
        return False
    x, y = a.prefix + "/", b.prefix + "/"
    return x.startswith(y) or y.startswith(x)


# ---------------------------------------------------------------------------------------------------
# Model monitors (issue 13): one entry's values, then their endpoints across the catalog


def _check_monitor_values(kind: str, values: Mapping[str, Any], topology: _Topology,
                          report: Callable[[str], None]) -> None:
    """Rules over several fields of a monitor entry: how the label is read, runtime within the schedule's
    interval, the Clarify parts' shape, the key's region."""
    problem_type = values.get("problem_type")
    if (kind == MODEL_QUALITY_MONITOR and problem_type == "BinaryClassification"
            and not {"monitor_inference_attribute", "monitor_probability_attribute"} & set(values)):
        report("monitor_inference_attribute or monitor_probability_attribute is missing: a BinaryClassification "
               "model quality monitor reads the predicted label from the endpoint's output, or derives it from the "
               "probability with probability_threshold_attribute")
    if "probability_threshold_attribute" in values and "monitor_probability_attribute" not in values:
        report("probability_threshold_attribute is given without monitor_probability_attribute: the threshold turns "
               "that probability into a label; give both, or neither")
    schedule, runtime = values.get("schedule_expression"), values.get("monitor_max_runtime_seconds")
    if schedule is not None and runtime is not None:
        for environment in _environments_of((schedule, runtime), topology):
            cron, seconds = _at(schedule, environment), _at(runtime, environment)
            if cron is None or seconds is None:
                continue
            interval = monitoring_interval_seconds(cron)
            if seconds > interval:
                report(f"monitor_max_runtime_seconds{_suffix(environment, runtime)} = {seconds} is invalid with "
                       f"schedule_expression {cron!r}: SageMaker allows at most the schedule's interval, {interval} "
                       f"seconds")
    for field in clarify.SHAPES:
        if field in values:
            for problem in clarify.problems(field, values[field], show):
                report(problem)
    _check_model_values(values, topology, report)  # the key's region (the only model rule a monitor has)


def _endpoint_references(entries: Iterable[Any], environment: str | None) -> dict[str, list[ModelEntry]]:
    """How monitors name the real-time entries reaching ``environment`` (None: any): each entry by its
    endpoint_name there, or its model_name where it has none."""
    found: dict[str, list[ModelEntry]] = {}
    for entry in entries:
        if not isinstance(entry, ModelEntry) or entry.pipeline_type not in REALTIME_TYPES:
            continue
        if environment is not None and not entry.reaches(environment):
            continue
        if entry.endpoint_name is None:
            names = [entry.model_name]
        elif environment is None:
            names = list(entry.endpoint_name.values())
        else:
            names = [entry.endpoint_name.for_environment(environment)]
        for name in names:
            found.setdefault(name, []).append(entry)
    return found


def _check_monitors(entries: list[Any], topology: _Topology, problems: _Problems) -> None:
    """Each monitor names an endpoint served where it deploys, at most one monitor of a type per endpoint,
    and one entry per model_name and type."""
    monitors = [e for e in entries if isinstance(e, MonitorEntry)]
    if not monitors:
        return
    named = sorted({name for e in entries for value in vars(e).values() if isinstance(value, EnvValue)
                    for name, _ in value.by_environment})
    environments: list[str | None] = list(topology.environments or named) or [None]
    ids: dict[str, MonitorEntry] = {}
    for monitor in monitors:
        key = pipeline_id(monitor).lower()
        if key in ids:
            problems.add(monitor.label, f"is a second {monitor.pipeline_type} named {monitor.model_name!r} (the "
                                        f"first: {ids[key].label}): give each monitor of a type its own model_name")
        ids.setdefault(key, monitor)
    attached: dict[tuple[str | None, int | str, str], MonitorEntry] = {}
    found: dict[tuple[str, str], list[str]] = {}
    """(entry label, problem with {where} for its environments) -> those environments"""
    for environment in environments:
        references = _endpoint_references(entries, environment)
        for monitor in monitors:
            if environment is not None and not monitor.reaches(environment):
                continue
            value = monitor.endpoint_name
            name = str(value.for_environment(environment) if environment is not None and value.varies
                       else value.everywhere)
            field = f"endpoint_name{_suffix(environment, value)}"
            target: int | str
            if name == TRAINED_ENDPOINT:
                target = TRAINED_ENDPOINT
            elif len(references.get(name, [])) == 1:
                target = id(references[name][0])
            else:
                if name in references:
                    text = (f"{field} = {name!r} is ambiguous{{where}}: it names "
                            f"{', '.join(e.label for e in references[name])}; give those entries distinct endpoint_name "
                            f"values")
                else:
                    known = ", ".join(repr(n) for n in sorted(references)) or "none"
                    text = (f"{field} = {name!r} names no endpoint served{{where}}: expected {TRAINED_ENDPOINT!r} (the "
                            f"stack's own endpoint, serving the trained model) or a real-time entry's endpoint_name, or "
                            f"its model_name where it has none (real-time endpoints{{where}}: {known})")
                found.setdefault((monitor.label, text), []).append(environment or "")
                continue
            slot = (environment, target, monitor.pipeline_type)
            if slot in attached:
                text = (f"{field} = {name!r} already has a {monitor.pipeline_type}{{where}} ({attached[slot].label}): "
                        f"SageMaker runs one schedule of each monitoring type per endpoint")
                found.setdefault((monitor.label, text), []).append(environment or "")
                continue
            attached[slot] = monitor
    for (label, text), names in found.items():
        where = f" in {', '.join(names)}" if any(names) else ""
        problems.add(label, text.format(where=where))


# ---------------------------------------------------------------------------------------------------
# The whole catalog


def _check_unique(entries: list[ModelEntry | ImageBuilderEntry | MonitorEntry], topology: _Topology, problems: _Problems) -> None:
    names: dict[str, ModelEntry] = {}
    endpoints: dict[tuple[str | None, str], ModelEntry] = {}
    images: dict[tuple[str, str], ImageBuilderEntry] = {}
    for entry in entries:
        if isinstance(entry, MonitorEntry):
            continue  # _check_monitors
        if isinstance(entry, ImageBuilderEntry):
            key = (entry.ecr_repo_name, entry.image_tag)
            if key in images:
                problems.add(entry.label, f"builds {entry.ecr_repo_name}:{entry.image_tag}, as "
                                          f"{images[key].label} does: each image is built by one entry")
            images.setdefault(key, entry)
            continue
        folded = entry.model_name.lower()
        if folded in names:
            problems.add(entry.label, f"model_name {entry.model_name!r} is already used by {names[folded].label}: "
                                      f"model names are unique, and may not differ only in letter case")
        names.setdefault(folded, entry)
        if entry.endpoint_name is None:
            continue
        for environment in _environments_of((entry.endpoint_name,), topology):
            name = _at(entry.endpoint_name, environment)
            if name is None:  # the entry does not reach this environment
                continue
            key2 = (environment, name.lower())
            if key2 in endpoints:
                where = f" in {environment}" if environment else ""
                problems.add(entry.label, f"endpoint_name {name!r} is already used{where} by {endpoints[key2].label}: "
                                          f"each real-time entry has its own endpoint")
            endpoints.setdefault(key2, entry)


def _topology(environments: Collection[str] | None, regions: Mapping[str, str] | None) -> _Topology:
    return _Topology(tuple(sorted(environments)) if environments is not None else None, dict(regions or {}))


def validate_catalog(document: Any, *, environments: Collection[str] | None = None,
                     regions: Mapping[str, str] | None = None, source: str = "mlops-config.json") -> Catalog:
    """Check a parsed catalog document ``{"pipelines": [...]}`` and return its typed entries.

    ``environments``: the topology's environments; per-environment values must name exactly these
    (None: any environment name is accepted and coverage is not checked). ``regions``: environment ->
    region, to check that built-in images and KMS keys exist where each environment deploys.
    Raises ``CatalogError`` with every problem found.
    """
    problems = _Problems(source)
    topology = _topology(environments, regions)
    if not isinstance(document, Mapping):
        problems.add("", f"the document is {show(document)}: expected an object "
                         '{"pipelines": [<entry>, ...]}')
        problems.raise_if_any()
    for key in getattr(document, "duplicate_keys", ()):
        problems.add("", f"{_name(key)} is given twice at the top level: give it once")
    for key in document:
        if key not in ("pipelines", "$schema"):
            problems.add("", f"{_name(key)} is not a top-level key: the document holds \"pipelines\" (and "
                             "optionally \"$schema\") only")
    if "$schema" in document and not isinstance(document["$schema"], str):
        problems.add("", f"$schema = {show(document['$schema'])} is invalid: expected the schema's path or URL")
    pipelines = document.get("pipelines")
    if not isinstance(pipelines, list):
        problems.add("", f"pipelines {'is missing' if 'pipelines' not in document else '= ' + show(pipelines)}"
                         f": expected a list of pipeline entries (it may be empty)")
        problems.raise_if_any()
    entries = []
    for index, body in enumerate(pipelines):
        entry = _check_entry(index, body, topology, problems)
        if entry is not None:
            entries.append(entry)
    _check_unique(entries, topology, problems)
    _check_monitors(entries, topology, problems)
    problems.raise_if_any()
    return Catalog(entries=tuple(entries), environments=topology.environments or ())


def merge_stored(catalog: Catalog, stored: Mapping[str, Any], *, environments: Collection[str] | None = None,
                 regions: Mapping[str, str] | None = None, source: str = "mlops-config.json",
                 store: str = "catalog store") -> Catalog:
    """The file's validated ``catalog`` plus the entries of the catalog store (the provisioning API's):
    ``stored`` maps each stored object's name to its entry body (as POSTed). Every stored body is checked
    as the API checks it, then the whole: an entry in both places is an error naming both (it lives in
    one place: the file, or the store), and names stay unique across both. Stored entries come after
    the file's, in the order of their object names, labelled ``<store> <name>``.
    Raises ``CatalogError`` with every problem found."""
    problems = _Problems("")
    topology = _topology(environments, regions)
    entries: list[ModelEntry | ImageBuilderEntry | MonitorEntry] = []
    for name in sorted(stored):
        label = f"{store} {_name(name)}"
        entry = _check_entry(None, stored[name], topology, problems, name=label)
        if entry is not None:
            entries.append(replace(entry, source=label))
    in_file = {identity(entry): entry for entry in catalog.entries}
    separate = []
    for entry in entries:
        twin = in_file.get(identity(entry))
        if twin is None:
            separate.append(entry)
            continue
        problems.add(entry.label, f"is also in {source} as {twin.label}: an entry lives in one place; remove it from "
                                  f"{source}, or retire the stored one (DELETE /v1/pipelines/{pipeline_id(entry)})")
    _check_unique([*catalog.entries, *separate], topology, problems)
    _check_monitors([*catalog.entries, *separate], topology, problems)
    problems.raise_if_any()
    return Catalog(entries=(*catalog.entries, *entries), environments=catalog.environments)


def identity(entry: ModelEntry | ImageBuilderEntry | MonitorEntry) -> tuple[str, str]:
    """What makes two entries the same pipeline: the model name ignoring case, or the image built, or a
    monitor's model name and type."""
    if isinstance(entry, MonitorEntry):
        return ("monitor", pipeline_id(entry).lower())
    if isinstance(entry, ImageBuilderEntry):
        return ("image", f"{entry.ecr_repo_name}:{entry.image_tag}")
    return ("model", entry.model_name.lower())


def pipeline_id(entry: ModelEntry | ImageBuilderEntry | MonitorEntry) -> str:
    """How the provisioning API names a pipeline: its ``model_name``, or for an image builder
    ``<ecr_repo_name>:<image_tag>`` with each ``/`` of the repository written ``~`` (one URL path segment), or
    for a monitor ``<model_name in lower case>:<pipeline_type>`` (``iris:byom_data_quality_monitor``)."""
    if isinstance(entry, MonitorEntry):
        return f"{entry.model_name.lower()}:{entry.pipeline_type}"
    if isinstance(entry, ImageBuilderEntry):
        return f"{entry.ecr_repo_name.replace('/', '~')}:{entry.image_tag}"
    return entry.model_name


def validate_entry(body: Any, *, environments: Collection[str] | None = None,
                   regions: Mapping[str, str] | None = None) -> ModelEntry | ImageBuilderEntry | MonitorEntry:
    """Check one pipeline body (the provisioning API's request); problems are named ``body``."""
    problems = _Problems("")
    entry = _check_entry(None, body, _topology(environments, regions), problems)
    problems.raise_if_any()
    assert entry is not None  # no problem means an entry
    return entry


# ---------------------------------------------------------------------------------------------------
# Reading JSON safely


class _Object(dict):
    """A JSON object that remembers the keys it was given more than once."""

    duplicate_keys: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    result = _Object()
    duplicates = []
    for key, value in pairs:
        if key in result and key not in duplicates:
            duplicates.append(key)
        result[key] = value
    result.duplicate_keys = tuple(duplicates)
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _too_deep(text: str) -> bool:
    """Nesting deeper than MAX_DEPTH, counted outside strings without recursion."""
    depth = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]', text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif token in "]}":
            depth -= 1
    return False


def parse_document(data: str | bytes, *, source: str = "mlops-config.json") -> Any:
    """JSON text -> value, refusing what ``json`` would accept silently or crash on: more than
    ``MAX_DOCUMENT_BYTES``, nesting deeper than ``MAX_DEPTH``, NaN/Infinity, invalid UTF-8. Objects
    remember duplicated keys for the validator to report."""
    prefix = f"{source}: " if source else ""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise CatalogError([f"{prefix}the document has {size} bytes: at most {MAX_DOCUMENT_BYTES} are read"])
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise CatalogError([f"{prefix}is not UTF-8 text (byte {error.start})"]) from None
    else:
        text = data.removeprefix("\ufeff")
    if _too_deep(text):
        raise CatalogError([f"{prefix}is nested deeper than {MAX_DEPTH} levels: a catalog needs 4 (document, "
                            "pipelines, entry, per-environment value)"])
    try:
        return json.loads(text, object_pairs_hook=_object, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise CatalogError([f"{prefix}is not valid JSON: {error.msg} at line {error.lineno} column "
                            f"{error.colno}"]) from None
    except (ValueError, RecursionError) as error:  # NaN/Infinity, integers of more than 4300 digits
        reason = str(error).split(":")[0][:MAX_SHOWN * 2]
        raise CatalogError([f"{prefix}is not valid JSON: {reason}"]) from None


def load_catalog_file(path: Path | str, *, environments: Collection[str] | None = None,
                      regions: Mapping[str, str] | None = None, source: str | None = None) -> Catalog:
    """Read and validate a catalog file (``source``, default the file's name, prefixes every problem)."""
    path = Path(path)
    source = path.name if source is None else source
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CatalogError([f"{source}: no such file ({path}); create it with {{\"pipelines\": []}} "
                            "for an empty catalog"]) from None
    except OSError as error:
        raise CatalogError([f"{source}: cannot be read: {error.strerror}"]) from None
    return validate_catalog(parse_document(data, source=source), environments=environments, regions=regions,
                            source=source)
