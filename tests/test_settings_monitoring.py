"""Settings of model monitoring: the keys, their rules, and the configurations that cannot work."""

from __future__ import annotations

import pytest

from program.settings import Settings, SettingsError, monitoring_interval_seconds
from tests.test_settings import raw_settings


def problems(stack: str = "staging", **changes: str | None) -> list[str]:
    with pytest.raises(SettingsError) as error:
        Settings.from_raw(raw_settings(stack, **changes), stack=stack)
    return error.value.problems


def test_monitoring_is_off_in_dev_and_on_in_staging_and_prod():
    assert not Settings.from_raw(raw_settings("dev"), stack="dev").monitoring.enabled
    for stack in ("staging", "prod"):
        monitoring = Settings.from_raw(raw_settings(stack), stack=stack).monitoring
        assert monitoring.data_quality
        assert monitoring.spec.schedule == "cron(0 * ? * * *)"
        assert (monitoring.spec.instance_type, monitoring.spec.instance_count) == ("ml.m5.large", 1)
        assert monitoring.spec.max_runtime_seconds == 3600 and monitoring.spec.drift_threshold == 0.1


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("monitoringDataQuality", "yes", "true or false"),
        ("monitoringSchedule", "rate(1 hour)", "SageMaker's monitoring cron, at most hourly"),
        ("monitoringSchedule", "cron(*/30 * ? * * *)", "cron(0 * ? * * *) (hourly)"),
        ("monitoringSchedule", "cron(0 25 ? * * *)", "cron(0 H ? * * *)"),
        ("monitoringSchedule", "cron(0 0/48 ? * * *)", "every N hours from H, N 1-24"),
        ("monitoringInstanceType", "m5.large", "must start with 'ml.'"),
        ("monitoringInstanceCount", "0", "an integer from 1 to 100"),
        ("monitoringVolumeSizeGb", "0", "an integer from 1 to 16384"),
        ("monitoringMaxRuntimeSeconds", "90000", "an integer from 60 to 86400"),
        ("monitoringDriftThreshold", "1.5", "a number from 0.0 to 1.0"),
    ],
)
def test_invalid_value_names_key_value_and_what_is_allowed(key, value, expected):
    (problem,) = problems(**{key: value})
    assert problem.startswith(f"mlops:{key} = {value!r} is invalid: expected")
    assert expected in problem


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [("cron(0 * ? * * *)", 3600), ("cron(0 12 ? * * *)", 86400), ("cron(0 0/6 ? * * *)", 21600),
     ("cron(0 17/12 ? * * *)", 43200), ("cron(0 5/1 ? * * *)", 3600)],
)
def test_every_schedule_sagemaker_documents_is_accepted_with_its_interval(schedule, seconds):
    settings = Settings.from_raw(raw_settings("staging", monitoringSchedule=schedule), stack="staging")
    assert settings.monitoring.spec.schedule == schedule
    assert monitoring_interval_seconds(schedule) == seconds


def test_a_runtime_longer_than_the_schedules_interval_is_refused():
    (problem,) = problems(monitoringMaxRuntimeSeconds="7200")
    assert problem == ("mlops:monitoringMaxRuntimeSeconds = 7200 is invalid with monitoringSchedule = "
                       "'cron(0 * ? * * *)': SageMaker allows at most the schedule's interval (3600 seconds); lower "
                       "it or run the monitor less often")
    daily = Settings.from_raw(raw_settings("staging", monitoringMaxRuntimeSeconds="7200",
                                           monitoringSchedule="cron(0 3 ? * * *)"), stack="staging")
    assert daily.monitoring.spec.max_runtime_seconds == 7200


def test_a_monitor_of_an_endpoint_that_captures_nothing_is_a_configuration_error_that_says_how_to_fix_it():
    (problem,) = problems(endpointDataCapturePercent="0")
    assert problem.startswith("mlops:monitoringDataQuality = true is invalid with endpointDataCapturePercent = 0: "
                              "the endpoint captures no requests")
    assert "`pulumi config set endpointDataCapturePercent 20`" in problem and "monitoringDataQuality false" in problem


def test_the_training_workflows_endpoint_cannot_be_monitored():
    (problem,) = problems("dev", monitoringDataQuality="true", endpointDataCapturePercent="10")
    assert problem.startswith("mlops:monitoringDataQuality = true is invalid with modelDeployment = 'workflow'")
    assert "the training workflow's endpoint captures none" in problem


def test_monitoring_problems_are_reported_with_the_others():
    found = problems(endpointDataCapturePercent="0", monitoringMaxRuntimeSeconds="4000", owner="")
    assert [p.split(" ", 1)[0] for p in found] == ["mlops:owner"]  # cross-key rules wait for valid keys
    found = problems(endpointDataCapturePercent="0", monitoringMaxRuntimeSeconds="4000")
    assert [p.split(" ", 1)[0] for p in found] == ["mlops:monitoringMaxRuntimeSeconds", "mlops:monitoringDataQuality"]
