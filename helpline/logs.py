"""Logging: plain or JSON lines. Client libraries that print URLs or headers carrying tokens
(PTB and httpx put the bot token in the URL; tweepy and requests-oauthlib log Authorization
headers at DEBUG) are held at WARNING whatever the root level is.

With JSON lines, everything that would reach stderr goes through the one handler: uvicorn's
loggers (uvicorn does not install its own handlers: `connectors.emulation.serve` passes
`log_config=None`), Python warnings, and uncaught exceptions of the main thread and of other
threads, each with its traceback as the `exception` field."""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType

CHATTY = (
    "httpx",
    "httpcore",
    "telegram",
    "tweepy",
    "urllib3",
    "requests_oauthlib",
    "oauthlib",
    "uvicorn.access",
    "bm25s",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("conversation_id", "message_id", "reply_id", "platform", "account"):
            value = getattr(record, key, None)
            if value is not None:
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record comes (it may be replaced after setup)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup_logging(level: int = logging.INFO, json_lines: bool = False) -> None:
    handler = StderrHandler()
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # A uvicorn started earlier with its default log_config gave these loggers their own
        # handlers and stopped them propagating: bring them back to the one handler.
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.captureWarnings(True)
    if json_lines:
        sys.excepthook = _log_uncaught
        threading.excepthook = lambda args: _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)


def _log_uncaught(exc_type: type[BaseException], exc: BaseException | None, tb: TracebackType | None) -> None:
    """An uncaught exception as one log record, not a bare traceback on stderr."""
    if exc is not None:
        logging.getLogger("helpline").critical("uncaught %s", exc_type.__name__, exc_info=(exc_type, exc, tb))
