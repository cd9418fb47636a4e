"""Logging that never carries a secret: webhook URL tokens are cut out of access logs."""

from __future__ import annotations

import logging
import re

_WEBHOOK_PATH = re.compile(r"(/webhooks/[A-Za-z0-9_-]+/)[A-Za-z0-9_-]+")


class RedactWebhookTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(_WEBHOOK_PATH.sub(r"\1…", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _WEBHOOK_PATH.sub(r"\1…", record.msg)
        return True


class DropBoltTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that it goes unused because we hand it a
    client built with that same token (pointed at SLACK_API_URL). True, and no news to anyone."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def configure(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("uvicorn.access", "uvicorn.error", ""):
        logging.getLogger(name).addFilter(RedactWebhookTokens())
    logging.getLogger("slack_bolt.AsyncApp").addFilter(DropBoltTokenNotice())
    # httpx logs every request URL at INFO; keep provider traffic out of normal logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
