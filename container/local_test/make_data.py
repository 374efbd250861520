"""Writes the sample data in this folder from scikit-learn's bundled iris data set (no network).

    .venv/bin/python container/local_test/make_data.py

A fixed, stratified split: 90 training, 30 validation and 30 held-out test records, label first, no
header, as the training channel expects. `payload.csv` is the test set's features only (what
/invocations and batch transform receive). The committed files are this script's output; rerunning it
gives the same bytes.
"""

import argparse
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
DATA = HERE / "input" / "data"


def _rows(features, labels=None):
    for i, record in enumerate(features):
        values = [f"{v:g}" for v in record]
        yield ",".join(values if labels is None else [labels[i], *values])


def _write(path: Path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0]).parse_args(argv)
    iris = load_iris()
    names = iris.target_names[iris.target]
    x_train, x_rest, y_train, y_rest = train_test_split(
        iris.data, names, train_size=90, stratify=names, random_state=20240601)
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, train_size=30, stratify=y_rest, random_state=20240601)
    _write(DATA / "training" / "iris_train.csv", _rows(x_train, y_train))
    _write(DATA / "validation" / "iris_validation.csv", _rows(x_val, y_val))
    _write(DATA / "test" / "iris_test.csv", _rows(x_test, y_test))
    _write(HERE / "payload.csv", _rows(x_test))


if __name__ == "__main__":
    main()
