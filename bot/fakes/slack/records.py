"""What the Slack stand-in records (API calls, response_url posts, warnings) and the state it keeps."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ApiCall:
    """One Web API call as the fake saw it. `args` has parsed JSON fields (blocks, view...)."""

    method: str
    args: dict
    ok: bool
    error: str | None
    at: float
    status: int = 200
    team_id: str | None = None
    response: dict | None = None
    injected: bool = False  # rejected by fail_next() or per-channel pacing, not by a bot bug
    details: list[str] = field(default_factory=list)  # Block Kit errors for invalid_blocks


@dataclass
class ResponsePost:
    """One POST to a response_url."""

    url_id: str
    body: dict
    ok: bool
    error: str | None
    at: float
    status: int = 200
    injected: bool = False
    details: list[str] = field(default_factory=list)


@dataclass
class FakeWarning:
    """Something Slack accepts but flags, e.g. blocks sent without fallback `text`."""

    where: str  # API method or "response_url"
    kind: str  # "missing_fallback_text" | "long_text"
    detail: str
    at: float


@dataclass
class SlackWorkspace:
    team_id: str
    team_name: str
    bot_user_id: str
    bot_id: str
    domain: str


@dataclass
class ResponseUrl:
    url_id: str
    created: float
    uses: int = 0
    channel: str | None = None
    message_ts: str | None = None
    user_id: str | None = None


@dataclass
class Fault:
    status: int
    retry_after: int
    error: str
    remaining: int
    extra: dict = field(default_factory=dict)  # more fields of the error body, e.g. {"needed": "users:read"}
