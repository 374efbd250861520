"""Monitor bodies in the AWS MLOps Framework's provisioning format (its tests' ``api_data_quality_event`` and
the model quality / bias / explainability events built on it), attached to the real-time body of
``tests.catalog.bodies`` (endpoint_name ``test-endpoint``) — less the two fields the catalog refuses
(``data_capture_location``, ``monitoring_output_location``: ``FRAMEWORK_ONLY``)."""

from __future__ import annotations

import copy
from typing import Any

FRAMEWORK_ONLY = {"data_capture_location": "testbucket/xgboost/datacapture",
                  "monitoring_output_location": "testbucket/model_monitor/monitor_output"}
BIAS_CONFIG = {"label_values_or_threshold": [1], "facet_name": "Account Length", "facet_values_or_threshold": [100]}
PREDICTED_LABEL = {"probability_threshold": 0.8}
SHAP_CONFIG = {"baseline": "s3://testbucket/baselines/shap_baseline.csv", "num_samples": 100, "agg_method": "mean_abs",
               "save_local_shap_values": False}


def monitor_body(kind: str, problem_type: str = "Regression", endpoint: str = "test-endpoint") -> dict[str, Any]:
    body: dict[str, Any] = {
        "pipeline_type": kind, "model_name": "testmodel", "endpoint_name": endpoint,
        "baseline_data": "training_data.csv", "baseline_job_output_location": "testbucket/baseline_output",
        "schedule_expression": "cron(0 * ? * * *)", "instance_type": "ml.m5.large", "instance_volume_size": "20",
        "baseline_max_runtime_seconds": "3600", "monitor_max_runtime_seconds": "1800",
    }
    if kind == "byom_data_quality_monitor":
        return body
    body.update({"problem_type": problem_type, "monitor_inference_attribute": "0"})
    if kind == "byom_model_quality_monitor":
        body.update({"baseline_inference_attribute": "prediction", "baseline_ground_truth_attribute": "label",
                     "monitor_ground_truth_input": "s3://test-bucket/groundtruth"})
        if problem_type == "BinaryClassification":
            body.update({"baseline_probability_attribute": "probability", "monitor_probability_attribute": "0",
                         "probability_threshold_attribute": "0.5"})
    elif kind == "byom_model_bias_monitor":
        body.update({"monitor_ground_truth_input": "s3://test-bucket/groundtruth", "bias_config": BIAS_CONFIG})
        if problem_type != "Regression":
            body["model_predicted_label_config"] = PREDICTED_LABEL
    else:
        body["shap_config"] = SHAP_CONFIG
    return copy.deepcopy(body)


MONITOR_BODIES = [
    (f"{kind}-{problem}", monitor_body(kind, problem))
    for kind in ("byom_model_quality_monitor", "byom_model_bias_monitor", "byom_model_explainability_monitor")
    for problem in ("BinaryClassification", "MulticlassClassification", "Regression")
] + [("byom_data_quality_monitor", monitor_body("byom_data_quality_monitor"))]
