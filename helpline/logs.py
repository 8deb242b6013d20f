"""Logging: plain or JSON lines. Client libraries that print URLs or headers carrying tokens
(PTB and httpx put the bot token in the URL; tweepy and requests-oauthlib log Authorization
headers at DEBUG) are held at WARNING whatever the root level is."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

CHATTY = ("httpx", "httpcore", "telegram", "tweepy", "urllib3", "requests_oauthlib", "oauthlib", "uvicorn.access",
          "bm25s")


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


def setup_logging(level: int = logging.INFO, json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
