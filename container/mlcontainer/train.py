"""`train`: fit a decision tree on the training channel, as a SageMaker training job runs it.

Reads the CSV files of the training channel (label first), the hyperparameters from
`hyperparameters.json`, fits a `DecisionTreeClassifier` and writes the model to the model directory.
With a validation channel, it logs `validation:accuracy=<value>` (the metric definition regex is
`validation:accuracy=([0-9.]+)`) and writes `metrics.json` to the output data directory.

On failure it writes a one-paragraph reason to the failure file (SageMaker shows it as the job's
FailureReason) and exits 1 for bad input, 2 for an unexpected error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback

import numpy as np

from . import hyperparameters
from .data import DataError, LabelledData, read_channel
from .paths import Paths

log = logging.getLogger("train")

EXIT_BAD_INPUT = 1
EXIT_ERROR = 2
# SageMaker keeps the first 1,024 characters of the failure file as the job's FailureReason.
FAILURE_REASON_LIMIT = 1024


def accuracy(predictions: list[str], labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(predictions, dtype=str) == labels))


def _check_classes(data: LabelledData) -> None:
    classes = np.unique(data.labels)
    if classes.size < 2:
        raise DataError(
            f"The training data has a single class ({classes[0]!r} in all {len(data.labels)} records); "
            f"a classifier needs records of at least two classes."
        )


def run(paths: Paths) -> dict:
    started = time.monotonic()
    params = hyperparameters.load(paths.hyperparameters_file)
    log.info("hyperparameters: %s", json.dumps(params.as_dict()))

    training = read_channel("training", paths.training_dir)
    _check_classes(training)
    validation = None
    if paths.validation_dir.exists():
        validation = read_channel("validation", paths.validation_dir, n_features=training.n_features)
    log.info("training data: %d records, %d features, %d classes from %d file(s)", len(training.labels),
             training.n_features, np.unique(training.labels).size, len(training.files))

    # scikit-learn takes seconds to import: only once the input is known to be good.
    from sklearn.tree import DecisionTreeClassifier

    from . import model

    estimator = DecisionTreeClassifier(**params.as_dict())
    estimator.fit(training.features, training.labels)
    predictor = model.Predictor.from_estimator(estimator)

    metrics = {"train": {"accuracy": round(accuracy(predictor.predict(training.features), training.labels), 4),
                         "records": len(training.labels)}}
    print(f"train:accuracy={metrics['train']['accuracy']:.4f}", flush=True)
    if validation is not None:
        unseen = sorted(set(validation.labels) - set(predictor.labels))
        if unseen:
            log.warning("validation labels never seen in training (always counted wrong): %s", ", ".join(unseen))
        value = round(accuracy(predictor.predict(validation.features), validation.labels), 4)
        metrics["validation"] = {"accuracy": value, "records": len(validation.labels)}
        # Scraped by the SageMaker metric definition `validation:accuracy=([0-9.]+)`.
        print(f"validation:accuracy={value:.4f}", flush=True)

    model.save(paths.model_dir, estimator, {
        "hyperparameters": params.as_dict(),
        "tree_depth": int(estimator.get_depth()),
        "tree_leaves": int(estimator.get_n_leaves()),
        "metrics": metrics,
    })
    paths.output_data_dir.mkdir(parents=True, exist_ok=True)
    (paths.output_data_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    log.info("model written to %s (depth %d, %d leaves) in %.2f s", paths.model_dir, estimator.get_depth(),
             estimator.get_n_leaves(), time.monotonic() - started)
    return metrics


def _write_failure(paths: Paths, reason: str) -> None:
    paragraph = " ".join(reason.split())[:FAILURE_REASON_LIMIT]
    try:
        paths.output_dir.mkdir(parents=True, exist_ok=True)
        paths.failure_file.write_text(paragraph + "\n", encoding="utf-8")
    except OSError as exc:
        log.error("could not write the failure file %s: %s", paths.failure_file, exc)


HELP_EPILOG = """\
SageMaker runs `train` with no arguments; everything comes from these variables (defaults under /opt/ml):
  SM_CHANNEL_TRAINING    training CSV files, label first   (/opt/ml/input/data/training)
  SM_CHANNEL_VALIDATION  validation CSV files, optional    (/opt/ml/input/data/validation)
  SM_INPUT_CONFIG_DIR    hyperparameters.json              (/opt/ml/input/config)
  SM_MODEL_DIR           where the model is written        (/opt/ml/model)
  SM_OUTPUT_DIR          where the failure file is written (/opt/ml/output)
  SM_OUTPUT_DATA_DIR     where metrics.json is written     (/opt/ml/output/data)

exit status: 0 trained, 1 bad input (data or hyperparameters), 2 unexpected error or bad arguments
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Only -h/--help: a run with anything else on its command line is refused before it trains."""
    parser = argparse.ArgumentParser(prog="train", description=(__doc__ or "").split("\n\n")[0],
                                     epilog=HELP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    paths = Paths.from_env()
    try:
        run(paths)
    except (DataError, hyperparameters.HyperparameterError) as exc:
        reason = f"Training failed: {exc}"
        log.error("%s", reason)
        _write_failure(paths, reason)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - every failure must reach the failure file
        log.error("unexpected error during training\n%s", traceback.format_exc())
        _write_failure(paths, f"Training failed with an unexpected error: {type(exc).__name__}: {exc}")
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
