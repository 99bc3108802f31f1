"""Logging set-up for the CLI and the daemon: human text or JSON lines on stderr."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.config import LoggingSettings


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
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
