"""The processing settings monitors and baseline runs share (``components.monitor_common.ProcessingSettings``):
one set of values, in a job definition's shape and in CreateProcessingJob's."""

from __future__ import annotations

import json

from components.monitor_common import ProcessingSettings, monitoring_output_config
from components.specs import MonitorSpec

KEY = "arn:aws:kms:eu-west-1:222222222222:key/stack"
SPEC = MonitorSpec(schedule="cron(0 * ? * * *)", instance_type="ml.m5.xlarge", instance_count=2, volume_size_gb=30,
                   max_runtime_seconds=1800)


def test_a_monitor_spec_becomes_a_job_definitions_settings():
    settings = ProcessingSettings.of(SPEC, KEY, network_isolation=False)
    assert settings.job_definition_args() == {
        "job_resources": {"cluster_config": {"instance_type": "ml.m5.xlarge", "instance_count": 2,
                                             "volume_size_in_gb": 30, "volume_kms_key_id": KEY}},
        "network_config": {"enable_network_isolation": False},
        "stopping_condition": {"max_runtime_in_seconds": 1800},
    }


def test_the_same_settings_as_create_processing_job_parameters_in_order():
    """A Step Functions task's Parameters are written with json.dumps (no sorting): the order is part of the
    state machine's definition."""
    settings = ProcessingSettings(instance_type="ml.m5.large", instance_count=1, volume_gb=20, volume_key_arn=KEY,
                                  max_runtime_seconds=3600)
    assert json.dumps(settings.processing_job_parameters()) == json.dumps({
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 20, "VolumeKmsKeyId": KEY}},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "NetworkConfig": {"EnableNetworkIsolation": True},
    })


def test_the_reports_are_encrypted_and_uploaded_at_the_end_of_the_job():
    assert monitoring_output_config(KEY, "s3://bucket/monitoring/endpoint/model-quality") == {
        "kms_key_id": KEY, "monitoring_outputs": [{"s3_output": {
            "s3_uri": "s3://bucket/monitoring/endpoint/model-quality", "local_path": "/opt/ml/processing/output",
            "s3_upload_mode": "EndOfJob"}}]}
