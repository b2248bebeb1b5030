"""The request log: one line per request the emulator answers, through the standard `logging`
module (logger `imagegen_emulator.requests`), as plain text or as one JSON object per line.

Provider and asset requests (everything the journal records) are logged at INFO; admin requests
(`/_emulator/...`) at DEBUG, as a dashboard or a test suite polls them all the time. A line
holds what the journal holds, under the same names: method, path (never the query string,
which may carry a Google API key), provider, route, model, status, fault, fault_source,
latency_ms, elapsed_ms. Never a header, a key or a key's fingerprint.

Callers on the hot path check `logger.isEnabledFor(level)` first, so a disabled log costs one
cached lookup and formats nothing. `logging_config` is the `logging.config.dictConfig` that
`imagegen-emulator serve` gives uvicorn: its own loggers and this one share one stderr handler
and one format, and uvicorn's access log is off (it would repeat every line).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from emulator.core.faults import Decision

LOGGER_NAME = "imagegen_emulator.requests"
logger = logging.getLogger(LOGGER_NAME)
# The fields of a request line, in order: the JSON keys, and the text line's `name=value`s.
FIELDS = (
    "method",
    "path",
    "status",
    "provider",
    "route",
    "model",
    "fault",
    "fault_source",
    "latency_ms",
    "elapsed_ms",
)
# The LogRecord attribute holding a request line's fields (a dict keyed by FIELDS).
RECORD_ATTRIBUTE = "emulator_request"
# `POST /api/v1/... status=200 provider=vibedream ...`: the same names as the JSON keys.
TEXT_LINE = "%s %s " + " ".join(f"{name}=%s" for name in FIELDS[2:])
LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def log_request(
    method: str,
    path: str,
    provider: str | None,
    status: int | None,
    elapsed: float,
    decision: Decision | None,
    level: int = logging.INFO,
) -> None:
    """One line for one answered request. ``status`` None: no response was sent (a dropped
    connection); ``elapsed`` in seconds, from the request to the end of its response."""
    if not logger.isEnabledFor(level):  # hot paths check first, to skip even this call
        return
    fault = decision.fault if decision is not None else None
    fields: dict[str, Any] = {
        "method": method,
        "path": path,
        "status": status,
        "provider": provider,
        "route": decision.route if decision is not None else None,
        "model": decision.model if decision is not None else None,
        "fault": fault.name if fault is not None else None,
        "fault_source": decision.source if fault is not None and decision is not None else None,
        "latency_ms": round(decision.latency * 1000, 3) if decision is not None else 0.0,
        "elapsed_ms": round(elapsed * 1000, 3),
    }
    text = tuple("-" if fields[name] is None else fields[name] for name in FIELDS)
    # makeRecord + handle is logger.log without findCaller's walk up the stack (a quarter of
    # the cost of a line): where in the code a request line comes from says nothing.
    record = logger.makeRecord(
        LOGGER_NAME, level, "(request)", 0, TEXT_LINE, text, None, extra={RECORD_ATTRIBUTE: fields}
    )
    logger.handle(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    then a request line's FIELDS (null when unknown), and ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, RECORD_ATTRIBUTE, None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()


def logging_config(level: str, log_format: LogFormat) -> dict[str, Any]:
    """The dictConfig for a served emulator: uvicorn's loggers and ours on stderr in
    ``log_format`` at ``level``; uvicorn's access log silent (ours replaces it)."""
    level = level.upper()
    formatters: dict[str, Any] = {
        "text": {"format": TEXT_FORMAT, "datefmt": "%Y-%m-%d %H:%M:%S"},
        "json": {"()": JsonFormatter},
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {log_format: formatters[log_format]},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "imagegen_emulator": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }
