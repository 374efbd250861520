"""One JSON object per log line, so CloudWatch Logs Insights can filter on fields.

Callers pass identifiers (approval id, execution ARN, endpoint name), never task tokens or
request bodies.
"""

from __future__ import annotations

import json
import logging
import os


class JsonLogger:
    def __init__(self, name: str):
        self._logger = logging.getLogger(name)
        self._logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())

    def _emit(self, level: int, message: str, fields: dict) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, json.dumps({"message": message, **fields}, default=str, sort_keys=True))

    def info(self, message: str, **fields) -> None:
        self._emit(logging.INFO, message, fields)

    def warning(self, message: str, **fields) -> None:
        self._emit(logging.WARNING, message, fields)

    def error(self, message: str, **fields) -> None:
        self._emit(logging.ERROR, message, fields)


def get_logger(name: str) -> JsonLogger:
    return JsonLogger(name)
