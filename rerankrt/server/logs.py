"""Structured logs for the server: one JSON object per line, each carrying the request id it belongs to.

The request id lives in a context variable that the server's middleware sets for the duration of a request, so every
log record made while serving it (by the server, the reranker or a library) carries the same id. Records made outside
a request carry ``"request_id": null``.
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import json
import logging
import sys
import traceback

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("rerankrt_request_id", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=` and goes into the JSON object.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """A log record in, one line of JSON out: time, level, logger, message, request id and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": _dt.datetime.fromtimestamp(record.created, _dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_json_logging(level: str | int = "INFO", *, stream=None) -> dict:
    """A `logging.config.dictConfig` dict sending rerankrt's and uvicorn's loggers to one JSON handler.

    Args:
        level: Log level for rerankrt and uvicorn. Defaults to "INFO".
        stream: Where lines go. Defaults to sys.stderr.

    Returns:
        The dict, for uvicorn's `log_config` (uvicorn applies it at start-up).
    """
    level = logging.getLevelName(level) if isinstance(level, int) else str(level).upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "json": {"class": "logging.StreamHandler", "formatter": "json", "stream": stream or sys.stderr},
        },
        "loggers": {
            "rerankrt": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            # The server writes its own access line per request, with the request id and usage.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
