"""A stand-in for SageMaker Model Monitor's analyzer: the data quality baseline of a CSV dataset (and, for a
Clarify baseline job, a stand-in of Clarify's ``analysis.json``).

The Baseline step of the training workflow runs AWS's analyzer image (``sagemaker-model-monitor-analyzer``)
as a processing job; no container runs here, so the embedded AWS (``make run``, the workflow tests)
writes what that job writes, in its format and with its column names, computed from the same rows:
``statistics.json`` (per column: inferred type, counts, mean / min / max or the categories) and
``constraints.json`` (per column: type, completeness, the categories of a string column, and the
analyzer's default ``monitoring_config``). It is deliberately small: no KLL sketches or distributions,
which only monitoring executions on AWS compare.

A Clarify baseline job (its inputs ``analysis_config`` and ``dataset``, as Clarify requires them by name)
writes ``analysis.json`` instead: the configuration's label and features, the dataset's record count, and
no metrics (Clarify computes those on AWS); a dataset whose header row is not the configuration's ``headers``
fails the job as Clarify would fail to find its columns.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any

__all__ = ["baseline_files", "clarify_analysis", "run_baseline_job"]

# The analyzer's defaults (what constraints.json carries unless edited): a feature drifts when the
# distance between its baseline and current distributions exceeds 0.1.
MONITORING_CONFIG = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _column(name: str, values: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    present = [v for v in values if v.strip()]
    common = {"num_present": len(present), "num_missing": len(values) - len(present)}
    numbers = [_number(v) for v in present]
    completeness = len(present) / len(values) if values else 0.0
    if present and all(n is not None for n in numbers):
        floats = [n for n in numbers if n is not None]
        kind = "Integral" if all(f.is_integer() and "." not in v for f, v in zip(floats, present, strict=True)) else "Fractional"
        statistics = {"name": name, "inferred_type": kind, "numerical_statistics": {
            "common": common, "mean": sum(floats) / len(floats), "sum": sum(floats), "min": min(floats), "max": max(floats)}}
        constraint = {"name": name, "inferred_type": kind, "completeness": completeness,
                      "num_constraints": {"is_non_negative": min(floats) >= 0}}
        return statistics, constraint
    categories = sorted(set(present))
    buckets = [{"value": c, "count": present.count(c)} for c in categories]
    statistics = {"name": name, "inferred_type": "String", "string_statistics": {
        "common": common, "distinct_count": len(categories), "distribution": {"categorical": {"buckets": buckets}}}}
    constraint = {"name": name, "inferred_type": "String", "completeness": completeness,
                  "string_constraints": {"domains": categories}}
    return statistics, constraint


def baseline_files(lines: Iterable[str]) -> dict[str, str]:
    """``{"statistics.json": ..., "constraints.json": ...}`` for headerless CSV `lines` (columns ``_c0``...)."""
    rows = [line.split(",") for line in lines if line.strip()]
    width = max((len(row) for row in rows), default=0)
    columns = [(f"_c{i}", [row[i] if i < len(row) else "" for row in rows]) for i in range(width)]
    pairs = [_column(name, values) for name, values in columns]
    statistics = {"version": 0.0, "dataset": {"item_count": len(rows)}, "features": [s for s, _ in pairs]}
    constraints = {"version": 0.0, "features": [c for _, c in pairs], "monitoring_config": MONITORING_CONFIG}
    return {"statistics.json": json.dumps(statistics, indent=2), "constraints.json": json.dumps(constraints, indent=2)}


def _lines(s3: Any, source: str) -> list[str]:
    """Every line of every object under the S3 prefix ``source`` (a processing job's S3Prefix input)."""
    bucket, _, prefix = source.removeprefix("s3://").partition("/")
    lines: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith("/"):
                lines += s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode("utf-8").splitlines()
    if not lines:
        raise ValueError(f"ClientError: No S3 objects found under S3 URL \"{source}\" given in input data source.")
    return lines


def clarify_analysis(config: dict[str, Any], lines: list[str]) -> dict[str, Any]:
    """The stand-in ``analysis.json`` of a Clarify baseline over ``lines`` (CSV with a header row)."""
    header = next(csv.reader(lines[:1]))
    if header != config["headers"]:
        raise ValueError(f"ClientError: the dataset's columns {header} are not the analysis configuration's "
                         f"headers {config['headers']}")
    methods = sorted(config.get("methods", {}))
    return {"version": "1.0", "label": config["label"], "features": header[1:], "record_count": len(lines) - 1,
            "methods": methods, "stand_in": "tools.localaws.baseline: no metrics are computed offline"}


def run_baseline_job(job: Any, s3: Any) -> str:
    """What the baseline processing job `job` (moto's record) does: read every object under its input's
    S3 prefix, write the two files (Clarify: ``analysis.json``) under its output's S3 URI; returns that URI.
    Raises ValueError with the job's FailureReason when the input prefix holds no object."""
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in job.processing_inputs}
    target = job.processing_output_config["Outputs"][0]["S3Output"]["S3Uri"].rstrip("/")
    out_bucket, _, out_prefix = target.removeprefix("s3://").partition("/")
    if "analysis_config" in inputs:  # Clarify's inputs, by the names it requires
        config = json.loads("\n".join(_lines(s3, inputs["analysis_config"])))
        files = {"analysis.json": json.dumps(clarify_analysis(config, _lines(s3, inputs["dataset"])), indent=2)}
    else:
        files = baseline_files(_lines(s3, job.processing_inputs[0]["S3Input"]["S3Uri"]))
    for name, body in files.items():
        s3.put_object(Bucket=out_bucket, Key=f"{out_prefix}/{name}", Body=body.encode())
    return target
