"""Where SageMaker puts things, each overridable by its standard environment variable.

Inside a SageMaker job the defaults under /opt/ml apply. Outside one (tests, a developer's machine
without Docker) the same programs run as plain processes with the variables pointing elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ML_ROOT = Path("/opt/ml")


@dataclass(frozen=True)
class Paths:
    model_dir: Path
    training_dir: Path
    validation_dir: Path
    input_config_dir: Path
    output_dir: Path
    output_data_dir: Path

    @property
    def hyperparameters_file(self) -> Path:
        return self.input_config_dir / "hyperparameters.json"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @classmethod
    def from_env(cls, env: os._Environ[str] | dict[str, str] | None = None) -> Paths:
        env = os.environ if env is None else env

        def pick(name: str, default: Path) -> Path:
            value = env.get(name, "").strip()
            return Path(value) if value else default

        output_dir = pick("SM_OUTPUT_DIR", ML_ROOT / "output")
        return cls(
            model_dir=pick("SM_MODEL_DIR", ML_ROOT / "model"),
            training_dir=pick("SM_CHANNEL_TRAINING", ML_ROOT / "input" / "data" / "training"),
            validation_dir=pick("SM_CHANNEL_VALIDATION", ML_ROOT / "input" / "data" / "validation"),
            input_config_dir=pick("SM_INPUT_CONFIG_DIR", ML_ROOT / "input" / "config"),
            output_dir=output_dir,
            output_data_dir=pick("SM_OUTPUT_DATA_DIR", output_dir / "data"),
        )
