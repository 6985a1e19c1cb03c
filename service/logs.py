"""Log lines as text or JSON (ALI_LOG_FORMAT), each carrying the id of the request it is about.

One handler on the root logger. A filter stamps every record with the id of the request being
handled (service/request_info.py), "-" outside requests; the access log (service/observe.py)
passes its fields as `extra={"access": {...}}`, which the JSON format writes as top-level keys
and the text format as one compact line. uvicorn's own access log is off: this one replaces it.
"""

from __future__ import annotations

import json
import logging
import logging.config
import time
from typing import Any, Literal

from service.request_info import CURRENT

ACCESS = "ali.access"  # the access log's logger name
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        info = CURRENT.get()
        record.request_id = info.id if info is not None else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, request_id, message, and the
    access fields or the exception's traceback when there are any."""

    def format(self, record: logging.LogRecord) -> str:
        t = time.gmtime(record.created)
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        line.update(getattr(record, "access", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def log_config(level: str, fmt: Literal["text", "json"]) -> dict[str, Any]:
    """A logging.config.dictConfig: one handler on the root logger, uvicorn's loggers
    propagating to it. Also given to uvicorn as its `log_config`, so worker processes that
    uvicorn spawns set up the same."""
    formatter = {"()": JsonFormatter} if fmt == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"main": formatter},
        "handlers": {
            "main": {
                "class": "logging.StreamHandler",
                "filters": ["request_id"],
                "formatter": "main",
            }
        },
        "root": {"level": level.upper(), "handlers": ["main"]},
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure_logging(level: str, fmt: Literal["text", "json"]) -> None:
    logging.config.dictConfig(log_config(level, fmt))
