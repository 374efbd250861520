"""``batch_schedule``: the optional EventBridge schedule of a batch entry, checked strictly."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from catalog.validate import CatalogError, validate_catalog
from tests.catalog.bodies import ENVIRONMENTS, catalog, framework_body, per_env
from tests.catalog.test_schema import SCHEMA

BATCH_KINDS = ("byom_batch_builtin", "byom_batch_custom")


def entry_with(schedule, kind="byom_batch_custom", multi=False):
    (entry,) = validate_catalog(catalog(framework_body(kind, multi=multi) | {"batch_schedule": schedule}),
                                environments=ENVIRONMENTS).entries
    return entry


def problem_with(schedule, kind="byom_batch_custom") -> str:
    with pytest.raises(CatalogError) as error:
        validate_catalog(catalog(framework_body(kind) | {"batch_schedule": schedule}), environments=ENVIRONMENTS)
    (problem,) = error.value.problems
    return problem


VALID = ["rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)", "rate(7 days)",
         "cron(0 2 * * ? *)", "cron(0/15 * ? * MON-FRI *)", "cron(30 6 ? * 2#1 *)", "cron(0 10 ? * 6L 2025-2030)",
         "cron(0 0 L * ? *)", "cron(0 8 15W JAN,JUL ? *)", "cron(*/10 9-17 ? * MON,WED,FRI *)", "cron(0 12 1 1-12/3 ? *)"]


@pytest.mark.parametrize("kind", BATCH_KINDS)
@pytest.mark.parametrize("schedule", VALID)
def test_eventbridge_schedule_expressions_are_accepted(kind, schedule):
    assert entry_with(schedule, kind).value_for("batch_schedule", "dev") == schedule
    assert Draft202012Validator(SCHEMA).is_valid(catalog(framework_body(kind) | {"batch_schedule": schedule}))


def test_without_a_schedule_the_entry_has_none():
    (entry,) = validate_catalog(catalog(framework_body("byom_batch_builtin")), environments=ENVIRONMENTS).entries
    assert entry.batch_schedule is None
    assert entry.value_for("batch_schedule", "prod") is None


def test_a_schedule_per_environment():
    schedules = {"dev": "rate(1 day)", "staging": "rate(12 hours)", "prod": "cron(0 2 * * ? *)"}
    entry = entry_with(schedules, multi=True)
    assert [entry.value_for("batch_schedule", env) for env in ("dev", "staging", "prod")] == \
        ["rate(1 day)", "rate(12 hours)", "cron(0 2 * * ? *)"]


ALLOWED = "expected an EventBridge schedule expression: rate(<n> <unit>) with the unit minute, hour or day"
INVALID = [
    ("rate(1 days)", "; the unit is singular for 1 and plural above"),
    ("rate(2 hour)", "; the unit is singular for 1 and plural above"),
    ("rate(0 minutes)", ""),
    ("rate(5 seconds)", ""),
    ("rate(5minutes)", ""),
    ("cron(0 2 * * ?)", "; this cron expression has 5 fields separated by single spaces, not 6"),
    ("cron(0  2 * * ? *)", "; this cron expression has 7 fields separated by single spaces, not 6"),
    ("cron(60 2 * * ? *)", "; its minutes field '60' is invalid (values 0 to 59, with , - * /)"),
    ("cron(0 24 * * ? *)", "; its hours field '24' is invalid (values 0 to 23, with , - * /)"),
    ("cron(0 2 32 * ? *)", "; its day-of-month field '32' is invalid (values 1 to 31, with , - * /)"),
    ("cron(0 2 * FOO ? *)", "; its month field 'FOO' is invalid (values 1 to 12, JAN-DEC, with , - * /)"),
    ("cron(0 2 ? * MONX *)", "; its day-of-week field 'MONX' is invalid (values 1 to 7, SUN-SAT, with , - * /)"),
    ("cron(0 2 ? * 2#6 *)", "; its day-of-week field '2#6' is invalid (values 1 to 7, SUN-SAT, with , - * /)"),
    ("cron(0 2 * * ? 1969)", "; its year field '1969' is invalid (values 1970 to 2199, with , - * /)"),
    ("cron(0 2 * * * *)", "; give '?' in exactly one of day-of-month and day-of-week"),
    ("cron(0 2 ? * ? *)", "; give '?' in exactly one of day-of-month and day-of-week"),
    ("cron(0/0 2 * * ? *)", "; its minutes field '0/0' is invalid (values 0 to 59, with , - * /)"),
    ("at(2025-01-01T00:00:00)", ""),
    ("daily", ""),
]


@pytest.mark.parametrize(("schedule", "why"), INVALID, ids=[s for s, _ in INVALID])
def test_invalid_schedules_name_the_field_the_value_and_what_is_allowed(schedule, why):
    problem = problem_with(schedule)
    assert problem.startswith(f"mlops-config.json: pipelines[0] (model_name 'testmodel'): batch_schedule = "
                              f"{schedule!r} is invalid: {ALLOWED}")
    assert problem.endswith("(every day at 02:00 UTC)" + why)


def test_a_bad_value_in_one_environment_names_it():
    schedules = {"dev": "rate(1 day)", "staging": "rate(1 day)", "prod": "cron(0 2 * * * *)"}
    with pytest.raises(CatalogError) as error:
        validate_catalog(catalog(framework_body("byom_batch_builtin", multi=True) | {"batch_schedule": schedules}),
                         environments=ENVIRONMENTS)
    (problem,) = error.value.problems
    assert "batch_schedule.prod = 'cron(0 2 * * * *)' is invalid: " in problem


@pytest.mark.parametrize("value", [5, True, ["rate(1 day)"], "r" * 300])
def test_not_a_string_or_too_long(value):
    assert f"{ALLOWED}" in problem_with(value)


@pytest.mark.parametrize("kind", ["byom_realtime_builtin", "byom_realtime_custom"])
def test_a_real_time_entry_has_no_schedule(kind):
    with pytest.raises(CatalogError) as error:
        validate_catalog(catalog(framework_body(kind) | {"batch_schedule": "rate(1 day)"}), environments=ENVIRONMENTS)
    (problem,) = error.value.problems
    assert problem.endswith(f"batch_schedule is not used by {kind} (it belongs to byom_batch_builtin, "
                            "byom_batch_custom)")


def test_the_schema_refuses_what_it_can_see_and_leaves_ranges_to_the_validator():
    schema = Draft202012Validator(SCHEMA)
    body = framework_body("byom_batch_custom")
    assert not schema.is_valid(catalog(body | {"batch_schedule": "daily"}))
    assert not schema.is_valid(catalog(body | {"batch_schedule": "cron(0 2 * * ?)"}))
    assert not schema.is_valid(catalog(framework_body("byom_realtime_custom") | {"batch_schedule": "rate(1 day)"}))
    # ranges and the '?' rule only the validator checks (docs/catalog.md lists it)
    assert schema.is_valid(catalog(body | {"batch_schedule": "cron(60 2 * * * *)"}))
    multi = framework_body("byom_batch_custom", multi=True) | {"batch_schedule": per_env(lambda e: "rate(1 day)")}
    assert schema.is_valid(catalog(multi))
