"""Tables. Every row that belongs to a workspace carries its Slack `team_id`, and every
query the services make filters on it (tenants never see each other's data)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime, Index, TypeDecorator, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from bot.store.states import ConnectionStatus, InboxStatus, MessageKind, MessageState, TodoStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC and returns aware UTC, the same on SQLite (no time zones) and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _ts(**kwargs) -> Column:
    return Column(UTCDateTime(), **kwargs)


def _partial(name: str, *columns: str, where: str) -> Index:
    """An index over the rows `where` holds for only, on both databases. The condition is written
    with literals, and so are the queries meant to use it: PostgreSQL proves a query may use a
    partial index from the query's own text, which a bound parameter would hide."""
    return Index(name, *columns, postgresql_where=text(where), sqlite_where=text(where))


# The rows the sender still has to post or edit; the due query repeats this condition word for word.
UNSENT = f"state = '{MessageState.ACTIVE}' AND (sent_hash IS NULL OR sent_hash <> content_hash)"
OPEN_TODO = f"status = '{TodoStatus.OPEN}'"
DEAD_EVENT = f"status = '{InboxStatus.DEAD}'"
PROCESSED_EVENT = f"status IN ('{InboxStatus.DONE}', '{InboxStatus.IGNORED}')"
FOLLOWUP_MESSAGE = f"kind IN ('{MessageKind.REMINDER}', '{MessageKind.RECAP}')"
HAS_PARENT = "parent_id IS NOT NULL"
UNPOSTED = "ts IS NULL"


def new_webhook_token() -> str:
    # 192 bits: the URL itself is the credential for webhooks a provider cannot sign.
    return secrets.token_urlsafe(24)


class Workspace(SQLModel, table=True):
    __tablename__ = "workspaces"

    team_id: str = Field(primary_key=True, max_length=32)
    name: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    installed_by: str | None = Field(default=None, max_length=32)  # the Slack user who installed the app
    timezone: str | None = Field(default=None, max_length=64)  # for weekly recaps; an admin's Slack time zone
    # Email domains of the workspace's own people (routing's "has external participants"): learned
    # from the members' addresses on first use, editable by an admin. None: not learned yet.
    internal_domains: list | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class Connection(SQLModel, table=True):
    """A link to one provider account: the key, the webhook URL token, the channel, its owner.
    A workspace may have several, one per (provider, provider account)."""

    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("team_id", "provider", "provider_account",
                                       name="uq_connections_team_provider_account"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(foreign_key="workspaces.team_id", index=True, max_length=32)
    provider: str = Field(max_length=32)
    api_key_encrypted: str
    api_key_hint: str = Field(max_length=8)  # the last four characters, to recognise a saved key
    webhook_secret_encrypted: str | None = None
    webhook_token: str = Field(default_factory=new_webhook_token, unique=True, index=True, max_length=64)
    default_channel: str | None = Field(default=None, max_length=32)
    status: str = Field(default=ConnectionStatus.ACTIVE, max_length=16)  # a ConnectionStatus
    account_email: str | None = Field(default=None, max_length=255)
    options: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    last_webhook_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    owner_id: str | None = Field(default=None, max_length=32)  # the Slack user who connected it
    # Whose account it is at the provider (its id or email); "" when the provider does not say.
    provider_account: str = Field(default="", max_length=255)
    personal: bool = False  # a member's own account (/meetings connect), not the workspace's
    visible_to_all: bool = False  # an admin's choice: every member sees this connection's meetings


class InboxEvent(SQLModel, table=True):
    """A verified provider webhook, stored before the 2xx. Workers claim, process, retry and
    finally dead-letter it. The unique dedupe key makes a retried delivery a no-op."""

    __tablename__ = "inbox_events"
    __table_args__ = (
        UniqueConstraint("connection_id", "dedupe_key", name="uq_inbox_connection_dedupe"),
        _partial("ix_inbox_events_dead", "team_id", where=DEAD_EVENT),  # /meetings status: a team's dead ones
        _partial("ix_inbox_events_processed", "received_at", where=PROCESSED_EVENT),  # the retention job
    )

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connections.id", index=True)
    team_id: str = Field(max_length=32, index=True)
    provider: str = Field(max_length=32)
    event_type: str = Field(max_length=64)
    dedupe_key: str = Field(max_length=255)
    meeting_id: str | None = Field(default=None, max_length=255)
    payload: str  # the raw JSON body as received; emptied once processed (the dedupe key stays)
    status: str = Field(default=InboxStatus.PENDING, max_length=16, index=True)  # an InboxStatus
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    locked_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_error: str | None = None
    received_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    processed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # The X-Request-ID of the webhook's request (validated in bot/observability.py), or a new id for
    # an event reconcile queued: the worker logs under it, so its lines join the webhook's.
    request_id: str | None = Field(default=None, max_length=64)


class SlackMessage(SQLModel, table=True):
    """One living Slack message per (connection, meeting, channel, kind): the outbox and the
    record of what was posted. `payload` is what the message should say; when its hash differs
    from `sent_hash` the sender posts it (no `ts` yet) or edits it with chat.update."""

    __tablename__ = "slack_messages"
    __table_args__ = (
        UniqueConstraint("connection_id", "meeting_id", "channel", "kind", name="uq_slack_messages_identity"),
        _partial("ix_slack_messages_unsent", "priority", "id", where=UNSENT),  # the sender's due query
        Index("ix_slack_messages_team_kind_sent", "team_id", "kind", "sent_at"),  # App Home, recaps, clicks
        _partial("ix_slack_messages_followups", "created_at", where=FOLLOWUP_MESSAGE),  # the retention job
        # Deleting a message looks for its thread replies (ON DELETE CASCADE): without this index
        # each deleted row read the whole table.
        _partial("ix_slack_messages_parent_id", "parent_id", where=HAS_PARENT),
        _partial("ix_slack_messages_unposted", "id", where=UNPOSTED),  # thread replies wait for these
    )

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connections.id", index=True)
    team_id: str = Field(max_length=32, index=True)
    meeting_id: str = Field(max_length=255)
    channel: str = Field(max_length=32)
    kind: str = Field(max_length=64)  # a MessageKind, or a todos page: MessageKind.todo_page(n)
    priority: int = 0  # lower goes first: digests before thread replies
    parent_id: int | None = Field(default=None, foreign_key="slack_messages.id")  # thread parent (the digest)
    payload: str  # JSON {"text", "blocks"}
    content_hash: str = Field(max_length=64)
    sent_hash: str | None = Field(default=None, max_length=64)
    ts: str | None = Field(default=None, max_length=32)
    thread_ts: str | None = Field(default=None, max_length=32)
    state: str = Field(default=MessageState.ACTIVE, max_length=16)  # a MessageState
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    locked_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # The channel Slack answered with: a DM's D… id when posted to a user id. chat.update needs it.
    sent_channel: str | None = Field(default=None, max_length=32)
    # What later jobs need from the message, stored when it is queued, so nothing is read back out
    # of the rendered payload: a digest's meeting title (for recaps), the todos a reminder shows
    # (JSON list of TodoRef strings, to render it again after a click), and the message's
    # permalink once chat.getPermalink has given it.
    title: str | None = Field(default=None, max_length=500)
    todo_refs: str | None = None
    permalink: str | None = Field(default=None, max_length=500)


# --- audit log
class AuditEntry(SQLModel, table=True):
    """Who changed a workspace's setup, when, and what. Never a secret, not even part of one."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32, index=True)
    actor: str = Field(max_length=64)  # a Slack user id, or "cli"
    action: str = Field(max_length=64)  # connected | key_changed | channel_changed | options_changed | ...
    detail: str = Field(default="", max_length=500)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False, index=True))


# --- Slack installations (OAuth)
class SlackInstallation(SQLModel, table=True):
    """A workspace's installation of the app (multi-workspace mode): the bot token, encrypted."""

    __tablename__ = "slack_installations"
    __table_args__ = (UniqueConstraint("enterprise_id", "team_id", name="uq_slack_installations_team"),)

    id: int | None = Field(default=None, primary_key=True)
    enterprise_id: str = Field(default="", max_length=32)  # "" outside Enterprise Grid
    team_id: str = Field(default="", max_length=32, index=True)
    team_name: str | None = Field(default=None, max_length=255)
    app_id: str | None = Field(default=None, max_length=32)
    bot_id: str | None = Field(default=None, max_length=32)
    bot_user_id: str | None = Field(default=None, max_length=32)
    bot_token_encrypted: str | None = None
    bot_scopes: str = Field(default="", max_length=2000)
    installer_user_id: str = Field(max_length=32)
    user_token_encrypted: str | None = None
    user_scopes: str = Field(default="", max_length=2000)
    is_enterprise_install: bool = False
    installed_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class OAuthState(SQLModel, table=True):
    """An install attempt's state parameter: valid for 10 minutes, consumed once."""

    __tablename__ = "oauth_states"

    state: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_column=_ts(nullable=False))


# --- todo state
class TodoState(SQLModel, table=True):
    """What Slack users did with a meeting's todo. Providers' todos are read-only (Hedy's API has
    no write), so the bot keeps this itself; text and due are kept as last seen, so a click
    re-renders the thread without asking the provider."""

    __tablename__ = "todo_states"
    __table_args__ = (
        UniqueConstraint("connection_id", "meeting_id", "todo_key", name="uq_todo_states_todo"),
        _partial("ix_todo_states_open_owned", "team_id", "assignee", where=OPEN_TODO),  # reminders, `todos mine`
    )

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connections.id", index=True)
    team_id: str = Field(max_length=32, index=True)
    meeting_id: str = Field(max_length=255)
    meeting_title: str = Field(default="", max_length=500)
    todo_key: str = Field(max_length=255)  # the provider's todo id, or a hash of its text
    position: int = 0
    text: str = ""
    due: str | None = Field(default=None, max_length=255)
    status: str = Field(default=TodoStatus.OPEN, max_length=16)  # a TodoStatus
    done_by: str | None = Field(default=None, max_length=32)
    done_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    assignee: str | None = Field(default=None, max_length=32, index=True)
    assigned_by: str | None = Field(default=None, max_length=32)
    snoozed_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    meeting_started_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))  # due dates' anchor
    first_seen_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    message_id: int | None = None  # the outbox row (slack_messages.id) of the thread page it is on
    # Owners (bot/services/owners.py). `assignee` is only ever a confirmed owner (an email match,
    # a person who accepted, or someone picked with Assign), so reminders go to confirmed owners
    # alone; a name match waits in `suggested_owner` until that person accepts or says Not me.
    owner_confidence: str | None = Field(default=None, max_length=16)  # confirmed | suggested | needs_owner
    suggested_owner: str | None = Field(default=None, max_length=32)
    owner_hint: str | None = Field(default=None, max_length=120)  # the name as the provider wrote it
    owner_quote: str | None = Field(default=None, max_length=200)  # where it was read ("Anna will send…")
    owner_asked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))  # asked again in a DM
    carried_from_id: int | None = None  # the same commitment in an earlier meeting of the series
    carried_since: datetime | None = Field(default=None, sa_column=_ts(nullable=True))  # first said then
    carried_from_title: str | None = Field(default=None, max_length=500)  # that meeting's title
    language: str | None = Field(default=None, max_length=16)  # the meeting's, for reading `due` in it


class MemberPrefs(SQLModel, table=True):
    __tablename__ = "member_prefs"

    team_id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(primary_key=True, max_length=32)
    reminders: bool = True


class ChannelPrefs(SQLModel, table=True):
    __tablename__ = "channel_prefs"

    team_id: str = Field(primary_key=True, max_length=32)
    channel: str = Field(primary_key=True, max_length=32)
    weekly_recap: bool = True


class MemberZone(SQLModel, table=True):
    """A Slack member's time zone, for reminders at 9:00 their time: read with users.info the first
    time, refreshed daily and on `user_change` events. `zone` is an IANA name, or `UTC+3600` (the
    offset in seconds) when Slack gives only an offset."""

    __tablename__ = "member_zones"

    team_id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(primary_key=True, max_length=32)
    zone: str = Field(max_length=64, index=True)
    refreshed_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class FollowupRun(SQLModel, table=True):
    """One scheduled message's run key: ("reminder", team, user, local date) or ("recap", team,
    channel, ISO week). Stored (unique) before the message is queued, so a second replica or a
    restart never queues it twice; `message_id` is the outbox row once it is queued."""

    __tablename__ = "followup_runs"
    __table_args__ = (UniqueConstraint("kind", "team_id", "subject", "period", name="uq_followup_runs_key"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # a RunKind
    team_id: str = Field(max_length=32)
    subject: str = Field(max_length=32)  # the user id or the channel id
    period: str = Field(max_length=16)  # 2026-11-24 or 2026-W48
    connection_id: int
    message_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


# --- owners: the member directory, email lookups, aliases, "Not me" answers
class SlackMember(SQLModel, table=True):
    """A workspace member as users.list gave them, for matching owner names. Names are stored
    twice: as shown, and as a key (lower case, accents and punctuation dropped) to match on."""

    __tablename__ = "slack_members"
    __table_args__ = (Index("ix_slack_members_real_key", "team_id", "real_key"),
                      Index("ix_slack_members_display_key", "team_id", "display_key"))

    team_id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(primary_key=True, max_length=32)
    real_name: str = Field(default="", max_length=255)
    display_name: str = Field(default="", max_length=255)
    real_key: str = Field(default="", max_length=255)
    display_key: str = Field(default="", max_length=255)
    refreshed_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class MemberDirectory(SQLModel, table=True):
    """When a workspace's member directory was last read in full (at most once a day)."""

    __tablename__ = "member_directories"

    team_id: str = Field(primary_key=True, max_length=32)
    refreshed_at: datetime = Field(sa_column=_ts(nullable=False))
    members: int = 0


class EmailLookup(SQLModel, table=True):
    """A users.lookupByEmail answer, kept a day: the member, or none (`users_not_found`). The
    address is kept only as a SHA-256 hash: what is needed to recognise it, nothing more."""

    __tablename__ = "member_email_lookups"

    team_id: str = Field(primary_key=True, max_length=32)
    email_hash: str = Field(primary_key=True, max_length=64)
    user_id: str | None = Field(default=None, max_length=32)
    looked_up_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class OwnerAlias(SQLModel, table=True):
    """`/meetings alias "Anna K" @anna`: the name, as notes write it, means this member."""

    __tablename__ = "owner_aliases"

    team_id: str = Field(primary_key=True, max_length=32)
    name_key: str = Field(primary_key=True, max_length=120)
    name: str = Field(max_length=120)
    user_id: str = Field(max_length=32)
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class OwnerRejection(SQLModel, table=True):
    """A member said Not me to a todo suggested to them from this name: never suggested again."""

    __tablename__ = "owner_rejections"

    team_id: str = Field(primary_key=True, max_length=32)
    name_key: str = Field(primary_key=True, max_length=120)
    user_id: str = Field(primary_key=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


# --- routing
class RouteRule(SQLModel, table=True):
    """One routing rule: the first enabled rule whose conditions all match decides where a meeting
    goes (bot/services/routing.py). Workspace rules have no connection; a personal connection's
    owner may add rules for it alone. `builtin` names a rule the bot created ("sensitive")."""

    __tablename__ = "route_rules"
    __table_args__ = (UniqueConstraint("team_id", "builtin", name="uq_route_rules_builtin"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32, index=True)
    connection_id: int | None = Field(default=None, foreign_key="connections.id")
    position: int = 0
    name: str = Field(max_length=200)
    conditions: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    action: str = Field(max_length=16)  # channels | dm_owner | hold | skip
    channels: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    approver: str | None = Field(default=None, max_length=32)  # hold: who approves, if not the default
    builtin: str | None = Field(default=None, max_length=32)
    enabled: bool = True
    auto_approve_hours: int | None = None  # hold: approve by itself after this long; None: never
    created_by: str = Field(default="cli", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class RoutingDecision(SQLModel, table=True):
    """Where one meeting went and why, decided once on its first delivery and kept: a re-export
    edits what was posted there, and rule changes apply only to later meetings."""

    __tablename__ = "routing_decisions"
    __table_args__ = (UniqueConstraint("connection_id", "meeting_id", name="uq_routing_decisions_meeting"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    connection_id: int = Field(foreign_key="connections.id")
    meeting_id: str = Field(max_length=255)
    meeting_title: str = Field(default="", max_length=500)
    rule_id: int | None = None  # None: no rule matched (the connection's default)
    rule_name: str = Field(default="", max_length=200)
    action: str = Field(max_length=16)  # channels | dm_owner | hold | skip
    destinations: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # channel/user ids
    state: str = Field(max_length=16)  # a DecisionState
    approver: str | None = Field(default=None, max_length=32)
    auto_approve_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    trace: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # explain lines
    decided_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    acted_by: str | None = Field(default=None, max_length=64)
    acted_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
