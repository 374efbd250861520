"""The model artifact and the fast predictor built from it.

Training writes two files to the model directory (SageMaker tars it into model.tar.gz):

- `model.joblib`: the fitted `DecisionTreeClassifier`;
- `model.json`: what serving needs to know without unpickling anything first (feature count, class
  labels, hyperparameters, library versions).

`Predictor` answers from the fitted tree's own arrays: `tree_.apply` (the Cython routine that
`DecisionTreeClassifier.predict` itself ends in) maps each record to its leaf, and a table maps the leaf
to its class. That skips the per-call input validation of `predict` (about 70 us for one record), which
the request parser has already done, and gives the same answers: the records are cast to float32 as
`predict` does, and each leaf's class is the argmax of its class weights, as in `predict_proba`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.tree import DecisionTreeClassifier

MODEL_FILE = "model.joblib"
INFO_FILE = "model.json"
FORMAT_VERSION = 1


class ModelLoadError(RuntimeError):
    """No usable model in the model directory."""


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(model_dir: Path, estimator: DecisionTreeClassifier, extra: dict[str, Any]) -> None:
    """Write the model and its description; each file appears whole or not at all."""
    model_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "format_version": FORMAT_VERSION,
        "algorithm": "sklearn.tree.DecisionTreeClassifier",
        "n_features": int(estimator.n_features_in_),
        "classes": [str(c) for c in estimator.classes_],
        "scikit_learn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        **extra,
    }
    _atomic_write(model_dir / MODEL_FILE, lambda handle: joblib.dump(estimator, handle))
    # model.json last: serving reads it first, so its presence means the model file is complete.
    _atomic_write(model_dir / INFO_FILE, lambda handle: handle.write(json.dumps(info, indent=2).encode() + b"\n"))


@dataclass(frozen=True)
class Predictor:
    """Predicts class labels for float records with the fitted tree."""

    n_features: int
    labels: tuple[str, ...]
    _apply: Any
    _leaf_class: np.ndarray

    @classmethod
    def from_estimator(cls, estimator: DecisionTreeClassifier) -> Predictor:
        tree = estimator.tree_
        if tree.n_outputs != 1:
            raise ModelLoadError("the model has several outputs; this container serves single-output trees")
        leaf_class = np.argmax(tree.value[:, 0, :], axis=1).astype(np.intp)
        return cls(
            n_features=int(estimator.n_features_in_),
            labels=tuple(str(c) for c in estimator.classes_),
            _apply=tree.apply,
            _leaf_class=leaf_class,
        )

    def predict_indices(self, records: np.ndarray) -> np.ndarray:
        """Class indices (into `labels`) for float32 records of shape (n, n_features), all finite."""
        return self._leaf_class[self._apply(records)]

    def predict(self, records: np.ndarray) -> list[str]:
        records = np.ascontiguousarray(records, dtype=np.float32)
        return [self.labels[i] for i in self.predict_indices(records).tolist()]


def load(model_dir: Path) -> Predictor:
    info_path, model_path = model_dir / INFO_FILE, model_dir / MODEL_FILE
    if not info_path.is_file() or not model_path.is_file():
        raise ModelLoadError(f"no model in {model_dir}: expected {INFO_FILE} and {MODEL_FILE} (run train first)")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{info_path} is unreadable: {exc}") from None
    if info.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(f"{info_path} has format_version {info.get('format_version')!r}; "
                             f"this container reads {FORMAT_VERSION}")
    if info.get("scikit_learn_version") != sklearn.__version__:
        raise ModelLoadError(
            f"the model was trained with scikit-learn {info.get('scikit_learn_version')} and this container has "
            f"{sklearn.__version__}; retrain it with this image"
        )
    try:
        estimator = joblib.load(model_path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "no usable model"
        raise ModelLoadError(f"{model_path} could not be loaded: {type(exc).__name__}: {exc}") from None
    if not isinstance(estimator, DecisionTreeClassifier):
        raise ModelLoadError(f"{model_path} holds a {type(estimator).__name__}, not a DecisionTreeClassifier")
    predictor = Predictor.from_estimator(estimator)
    if predictor.n_features != info.get("n_features") or list(predictor.labels) != info.get("classes"):
        raise ModelLoadError(f"{info_path} does not describe {model_path} (features or classes differ)")
    return predictor
