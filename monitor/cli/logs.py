"""Logging set-up for the CLI and the daemon: human text or JSON lines on stderr."""

from __future__ import annotations

import argparse
import enum
import json
import logging
import math
import sys
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.config import LoggingSettings


#: Structured fields a log call may attach (``log.info(..., extra={"target": ...})``) and
#: :class:`JsonLineFormatter` copies into the JSON object when present. ``level`` is the
#: record's severity, so an alert's level travels as ``alert_level``.
STRUCTURED_FIELDS: tuple[str, ...] = ("target", "frame", "epoch", "alert_level", "duration_s",
                                      "alert_id", "delivery_id", "channel",
                                      # backfill progress (monitor.service.progress)
                                      "done", "total", "rate_per_s", "eta_s")


def _json_safe(value: Any) -> Any:
    """Dates and times as ISO 8601, enums by lower-case name, other objects as text."""
    if isinstance(value, enum.Enum):  # before int: AlertLevel is an IntEnum
        return value.name.lower()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or infinity
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    return str(value)


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, and the
    :data:`STRUCTURED_FIELDS` the record carries (target, frame, epoch, duration_s...)."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in STRUCTURED_FIELDS:
            if name in record.__dict__:
                payload[name] = _json_safe(record.__dict__[name])
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload)


def configure_logging(level: int = logging.WARNING, *, json_lines: bool = False) -> None:
    """Send the package's log records to stderr; called once by the CLI."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def apply_configured_logging(args: argparse.Namespace, settings: LoggingSettings) -> None:
    """The ``[logging]`` section of the configuration, unless the command line chose
    (``-v`` or ``--log-json`` win over the file)."""
    if int(getattr(args, "verbose", 0)) or bool(getattr(args, "log_json", False)):
        return
    configure_logging(logging.getLevelName(settings.level), json_lines=settings.json_lines)
