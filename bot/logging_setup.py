"""Logging for the whole process: one handler on the root logger, so every record (ours, child
loggers', Bolt's, uvicorn's, SQLAlchemy's) goes through the same redaction before it is written.

`LOG_FORMAT=text` (the default) writes one readable line a record; `json` writes one JSON object a
line with the timestamp, level, logger, message, workspace and request id. The workspace and
request id come from context variables set per HTTP request and per background job, so work a
request starts (asyncio tasks copy the context) logs with the id of the request that started it.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO

from bot.redaction import redact, remember_secret

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
TEAM: ContextVar[str | None] = ContextVar("team", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"


class AddContext(logging.Filter):
    """Puts the current request id and workspace on the record (as `request_id`, `team`, `context`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id, team = REQUEST_ID.get(), TEAM.get()
        record.request_id = request_id
        record.team = team
        parts = ([f"team={team}"] if team else []) + ([f"request={request_id}"] if request_id else [])
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return True


class QuietBoltNoise(logging.Filter):
    """Bolt logs the whole body of a request whose signature does not verify (at INFO): a setup modal
    submitted with a skewed clock would write its API key to the log. Keep the fact, drop the body.
    It also warns that SLACK_BOT_TOKEN goes unused because we hand it a client built with that same
    token (pointed at SLACK_API_URL): true, and no news to anyone."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("slack_bolt"):
            return True
        message = record.getMessage()
        if message.startswith("Invalid request signature detected"):
            record.msg, record.args = "Invalid request signature detected (request refused; body not logged)", None
            return True
        return "`token` will be unused" not in message


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "context"):
            AddContext().filter(record)
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "context"):
            AddContext().filter(record)
        line = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "team": record.team,  # type: ignore[attr-defined]
            "request_id": record.request_id,  # type: ignore[attr-defined]
        }
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = redact(record.exc_text)
        return json.dumps(line, ensure_ascii=False)


def build_handler(log_format: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format.lower() == "json" else TextFormatter())
    handler.addFilter(AddContext())
    handler.addFilter(QuietBoltNoise())
    return handler


def configure(level: str = "INFO", log_format: str = "text", *, stream: IO[str] | None = None,
              secrets: tuple[str | None, ...] = ()) -> logging.Handler:
    """Replace the root logger's handlers with one redacting handler; returns it."""
    remember_secret(*secrets)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = build_handler(log_format, stream)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; keep provider traffic out of normal logs.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


def settings_secrets(settings) -> tuple[str | None, ...]:
    """Every secret a Settings object holds, as plain strings, for the redactor."""
    values: list[str | None] = []
    for name in ("slack_signing_secret", "slack_bot_token", "slack_client_secret", "slack_app_token",
                 "encryption_key", "metrics_token"):
        secret = getattr(settings, name, None)
        if secret is not None:
            plain = secret.get_secret_value()
            values.extend(plain.split(",") if name == "encryption_key" else [plain])
    return tuple(values)
