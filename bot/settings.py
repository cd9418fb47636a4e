"""Every setting the bot reads: environment variables, also read from `.env`.

.env.example and docs/operating.md ("Settings") document each one; names here are the variable names.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def async_database_url(url: str) -> str:
    """Map plain SQLAlchemy URLs to the async drivers the bot runs on."""
    if url.startswith("sqlite:///") or url.startswith("sqlite://"):
        return "sqlite+aiosqlite" + url[len("sqlite"):]
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://", "postgresql+asyncpg://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _is_local(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./meetings-bot.db"
    data_dir: Path = Path(".")

    slack_signing_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    public_url: str = "http://localhost:3000"
    encryption_key: SecretStr | None = None

    hedy_api_url: str = "https://api.hedy.bot"
    meetric_api_url: str = "https://app.meetric.com/api/v1/rest"
    meetric_rate_limit: int = Field(default=60, ge=1)  # requests a minute per token (Meetric's default)
    harmony_api_url: str = "https://api.heyharmony.com"
    # Harmony's API is unverified (docs/providers/harmony.md): "meetings" is the old help page's contract (Bearer
    # key, /api/v1/meetings, page/per_page), "conversations" the newer public pages' (X-API-Key,
    # /v1/conversations).
    harmony_api_style: Literal["meetings", "conversations"] = "meetings"
    harmony_rate_limit: int = Field(default=60, ge=1)  # requests a minute per key (the seed's Plus plan)
    whereby_api_url: str = "https://api.whereby.dev/v1"
    # Whereby (docs/providers/whereby.md): the organization's point budget a minute (GET 1, DELETE 2, POST 3;
    # Build plans 100, Grow/Enterprise 1000), the replay window of `Whereby-Signature`, the summary
    # template, and how often a summary in progress is polled.
    whereby_points_per_minute: int = Field(default=100, ge=3)
    whereby_signature_tolerance_seconds: int = Field(default=300, ge=1)
    whereby_summary_template: str = "General Bulleted"
    whereby_summary_poll_seconds: float = Field(default=30.0, gt=0)
    # Hosts (comma-separated) the transcript download may reach although they are private or
    # plain http. Only for loopback stand-ins (tests, `meetings-bot demo`); empty in production,
    # where a transcript link must be https to a public address (bot/providers/downloads.py).
    whereby_transcript_private_hosts: str = ""

    # Retention (bot/jobs/retention.py): processed webhook events (dead ones are kept), reminder
    # DMs (their buttons answer "expired" after this), weekly recaps, the setup audit log.
    inbox_retention_days: int = Field(default=30, ge=1)
    reminder_retention_days: int = Field(default=7, ge=1)
    recap_retention_days: int = Field(default=35, ge=1)
    audit_retention_days: int = Field(default=365, ge=1)

    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    # Serve /metrics on this port only (bound to the same host), off the public one; or require
    # `Authorization: Bearer <METRICS_TOKEN>` on the public port.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_token: SecretStr | None = None
    # How long an interactive command may wait for a slow provider before it answers
    # with "still busy, try again"; Slack keeps a response_url alive for 30 minutes.
    provider_timeout_seconds: float = Field(default=20.0, gt=0)

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: str) -> str:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        url = async_database_url(value.strip())
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
            scheme = url.split("://", 1)[0] if "://" in url else "no scheme"
            raise ValueError("DATABASE_URL must be a PostgreSQL URL like postgresql://user:password@host:5432/"
                             "meetings_bot or a SQLite one like sqlite:///data/meetings-bot.db, not one with "
                             f"{scheme!r}")
        return url

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("public_url", "hedy_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("public_url")
    @classmethod
    def _absolute_https(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"PUBLIC_URL must be an absolute https URL like https://bot.example.com, not {value!r}")
        if parts.scheme == "http" and not _is_local(parts.hostname):
            raise ValueError(f"PUBLIC_URL must use https (Slack and the providers only call https URLs); "
                             f"http is allowed for localhost only, not {value!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"PUBLIC_URL must not have a query or fragment: {value!r}")
        return value

    @property
    def public_url_warning(self) -> str | None:
        if urlsplit(self.public_url).scheme == "http":
            return (f"PUBLIC_URL is {self.public_url} (http on this machine): fine for trying it out, but Slack "
                    "and the providers cannot reach it; set an https URL before connecting them.")
        return None

    def webhook_url(self, provider: str, token: str) -> str:
        return f"{self.public_url}/webhooks/{provider}/{token}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
