"""`train` as a process: the sample data trains a model; each kind of bad input fails the job cleanly."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import Job

pytestmark = pytest.mark.slow

# The regex documented in container/README.md for the SageMaker metric definition.
VALIDATION_METRIC = re.compile(r"validation:accuracy=([0-9.]+)")


def test_trains_on_the_sample_data_and_reports_validation_accuracy(job: Job):
    result = job.train()

    assert result.returncode == 0, result.stdout + result.stderr
    assert (job.model / "model.joblib").is_file()
    info = json.loads((job.model / "model.json").read_text())
    assert info["n_features"] == 4
    assert info["classes"] == ["setosa", "versicolor", "virginica"]
    metrics = json.loads((job.output / "data" / "metrics.json").read_text())
    assert metrics["train"]["records"] == 90 and metrics["validation"]["records"] == 30
    scraped = VALIDATION_METRIC.findall(result.stdout)
    assert len(scraped) == 1
    assert float(scraped[0]) == metrics["validation"]["accuracy"] >= 0.9
    assert not job.failure.exists()


def test_without_a_validation_channel_reports_training_accuracy_only(tmp_path):
    from .conftest import new_job

    job = new_job(tmp_path / "ml", validation=False)
    result = job.train()

    assert result.returncode == 0, result.stdout + result.stderr
    assert not VALIDATION_METRIC.search(result.stdout)
    metrics = json.loads((job.output / "data" / "metrics.json").read_text())
    assert set(metrics) == {"train"}


def test_string_hyperparameters_are_parsed_and_applied(job: Job):
    (job.config / "hyperparameters.json").write_text(json.dumps(
        {"max_depth": "1", "min_samples_leaf": "3", "criterion": "entropy", "random_state": "7",
         "_tuning_objective_metric": "validation:accuracy"}))

    result = job.train()

    assert result.returncode == 0, result.stdout + result.stderr
    info = json.loads((job.model / "model.json").read_text())
    assert info["tree_depth"] == 1
    assert info["hyperparameters"] == {"max_depth": 1, "min_samples_leaf": 3, "criterion": "entropy",
                                       "random_state": 7}


# --- failures: exit 1, one paragraph in the failure file, no model -------------------------------------


def assert_fails(job: Job, *phrases: str) -> str:
    result = job.train()
    assert result.returncode == 1, result.stdout + result.stderr
    reason = job.failure.read_text()
    assert reason.endswith("\n") and "\n" not in reason.rstrip("\n"), "the reason must be one paragraph"
    assert len(reason) <= 1025
    for phrase in phrases:
        assert phrase in reason, reason
    assert not (job.model / "model.json").exists()
    assert not (job.model / "model.joblib").exists()
    assert "Training failed" in result.stdout
    return reason


def test_no_training_files(job: Job):
    for path in job.training.iterdir():
        path.unlink()
    assert_fails(job, "training channel has no data files", "is empty")


def test_missing_training_channel(job: Job):
    for path in job.training.iterdir():
        path.unlink()
    job.training.rmdir()
    assert_fails(job, "training channel has no data files", "is missing")


def test_empty_training_file(job: Job):
    (job.training / "more.csv").write_text("")
    assert_fails(job, "training file more.csv is empty")


def test_training_file_with_only_blank_lines_is_empty(job: Job):
    (job.training / "blank.csv").write_text("\n\n  \n")
    assert_fails(job, "training file blank.csv is empty")


def test_wrong_column_count_label_only(job: Job):
    (job.training / "iris_train.csv").write_text("setosa,5.1,3.5,1.4,0.2\nversicolor\n")
    assert_fails(job, "wrong column count", "iris_train.csv line 2 has 1 column")


def test_inconsistent_column_count_within_a_file(job: Job):
    (job.training / "iris_train.csv").write_text("setosa,5.1,3.5,1.4,0.2\nversicolor,7.0,3.2,4.7\n")
    assert_fails(job, "inconsistent column count", "iris_train.csv line 2 has 4 columns",
                 "iris_train.csv line 1 has 5")


def test_inconsistent_column_count_across_files(job: Job):
    (job.training / "z_extra.csv").write_text("setosa,5.1,3.5,1.4,0.2,9.9\n")
    assert_fails(job, "inconsistent column count", "z_extra.csv line 1 has 6 columns")


def test_validation_column_count_differs_from_training(job: Job):
    (job.validation / "iris_validation.csv").write_text("setosa,5.1,3.5,1.4\n")
    assert_fails(job, "validation data has an inconsistent column count", "the training data has 5")


def test_non_numeric_feature(job: Job):
    (job.training / "iris_train.csv").write_text("setosa,5.1,3.5,1.4,0.2\nversicolor,7.0,abc,4.7,1.4\n")
    assert_fails(job, "non-numeric feature", "iris_train.csv line 2, column 3 is 'abc'")


def test_header_row_is_a_non_numeric_feature(job: Job):
    original = (job.training / "iris_train.csv").read_text()
    (job.training / "iris_train.csv").write_text("species,sepal_length,sepal_width,petal_length,petal_width\n"
                                                 + original)
    assert_fails(job, "non-numeric feature", "line 1, column 2", "header row is not supported")


def test_non_finite_feature(job: Job):
    (job.training / "iris_train.csv").write_text("setosa,5.1,3.5,1.4,0.2\nversicolor,7.0,nan,4.7,1.4\n")
    assert_fails(job, "not a finite number", "line 2, column 3")


def test_single_class(job: Job):
    (job.training / "iris_train.csv").write_text("setosa,5.1,3.5,1.4,0.2\nsetosa,4.9,3.0,1.4,0.2\n")
    assert_fails(job, "single class", "'setosa'", "at least two classes")


def test_empty_label(job: Job):
    (job.training / "iris_train.csv").write_text("setosa,5.1,3.5,1.4,0.2\n ,4.9,3.0,1.4,0.2\n")
    assert_fails(job, "record without a label", "line 2")


def test_file_that_is_not_text(job: Job):
    (job.training / "model.bin").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    assert_fails(job, "model.bin is not UTF-8 text")


def test_empty_validation_channel(job: Job):
    for path in job.validation.iterdir():
        path.unlink()
    assert_fails(job, "validation channel has no data files")


def test_unknown_hyperparameter(job: Job):
    (job.config / "hyperparameters.json").write_text(json.dumps({"max_detph": "5", "criterion": "gini"}))
    assert_fails(job, "unknown hyperparameter max_detph", "accepts max_depth, min_samples_leaf, criterion, "
                                                          "random_state")


@pytest.mark.parametrize("key,value,phrase", [
    ("max_depth", "0", "out of range"),
    ("max_depth", "deep", "is not an integer >= 1 or None"),
    ("min_samples_leaf", "0.5", "is not an integer >= 1"),
    ("criterion", "mse", "is not one of gini, entropy, log_loss"),
    ("random_state", "-1", "out of range"),
])
def test_invalid_hyperparameter_value(job: Job, key, value, phrase):
    (job.config / "hyperparameters.json").write_text(json.dumps({key: value}))
    assert_fails(job, f"hyperparameter {key}={value!r}", phrase)


def test_hyperparameters_file_is_not_json(job: Job):
    (job.config / "hyperparameters.json").write_text("{max_depth: 5")
    assert_fails(job, "hyperparameters.json is not valid JSON")
