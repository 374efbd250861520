"""Reading a channel of labelled CSV files: the label in the first column, numeric features after it.

No header row, one record per line, as in the iris sample data (`local_test/`). Every problem is reported
with the file, the line and what was expected, because that sentence ends up as the training job's
failure reason.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class DataError(ValueError):
    """A channel whose data cannot be trained or evaluated on."""


@dataclass(frozen=True)
class LabelledData:
    features: np.ndarray  # float64, shape (records, n_features)
    labels: np.ndarray  # str, shape (records,)
    files: tuple[Path, ...]

    @property
    def n_features(self) -> int:
        return self.features.shape[1]


def channel_files(directory: Path) -> list[Path]:
    """Every visible file under the channel directory, in a stable order."""
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    )


def _where(path: Path, line: int) -> str:
    return f"{path.name} line {line}"


def read_channel(name: str, directory: Path, n_features: int | None = None) -> LabelledData:
    """Read all files of a channel; `n_features` (from the training data) fixes the expected width."""
    files = channel_files(directory)
    if not files:
        raise DataError(
            f"The {name} channel has no data files: {directory} is "
            f"{'empty' if directory.is_dir() else 'missing'}. Provide one or more CSV files with the label "
            f"in the first column and the features after it."
        )
    rows: list[list[float]] = []
    labels: list[str] = []
    width: int | None = None if n_features is None else n_features + 1
    width_source = "the training data" if n_features is not None else ""
    for path in files:
        records_in_file = 0
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                for row in reader:
                    if not row or all(not cell.strip() for cell in row):
                        continue
                    line = reader.line_num
                    if len(row) < 2:
                        raise DataError(
                            f"The {name} data has a wrong column count: {_where(path, line)} has "
                            f"{len(row)} column, but each record needs the label in the first column followed "
                            f"by at least one numeric feature."
                        )
                    if width is None:
                        width, width_source = len(row), _where(path, line)
                    elif len(row) != width:
                        raise DataError(
                            f"The {name} data has an inconsistent column count: {_where(path, line)} has "
                            f"{len(row)} columns (label + {len(row) - 1} features) but {width_source} has "
                            f"{width} (label + {width - 1} features). Every record needs the same columns."
                        )
                    label = row[0].strip()
                    if not label:
                        raise DataError(f"The {name} data has a record without a label: {_where(path, line)} "
                                        f"has an empty first column, where the label belongs.")
                    values = []
                    for column, cell in enumerate(row[1:], start=2):
                        try:
                            value = float(cell)
                        except ValueError:
                            raise DataError(
                                f"The {name} data has a non-numeric feature: {_where(path, line)}, column "
                                f"{column} is {cell.strip()[:40]!r}. Features must be numbers, the label goes "
                                f"in the first column, and a header row is not supported."
                            ) from None
                        if not math.isfinite(value):
                            raise DataError(
                                f"The {name} data has a feature that is not a finite number: "
                                f"{_where(path, line)}, column {column} is {cell.strip()!r}."
                            )
                        values.append(value)
                    rows.append(values)
                    labels.append(label)
                    records_in_file += 1
        except UnicodeDecodeError as exc:
            raise DataError(f"The {name} file {path.name} is not UTF-8 text ({exc.reason} at byte "
                            f"{exc.start}); the channel must hold CSV files.") from None
        except csv.Error as exc:
            raise DataError(f"The {name} file {path.name} is not valid CSV: {exc}.") from None
        if records_in_file == 0:
            raise DataError(
                f"The {name} file {path.name} is empty: it holds no records. Remove it or fill it with "
                f"CSV records (label first, then the features)."
            )
    features = np.asarray(rows, dtype=np.float64)
    return LabelledData(features=features, labels=np.asarray(labels, dtype=str), files=tuple(files))
