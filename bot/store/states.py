"""The values stored in the tables' status, state and kind columns.

StrEnums compare equal to their strings, so rows written before these names existed still match.
The values are in the database: never rename one, only add new ones.
"""

from __future__ import annotations

from enum import StrEnum

TODO_PAGE_PREFIX = "todos:"  # a digest's todos thread page: "todos:1", "todos:2", ...


class ConnectionStatus(StrEnum):
    """connections.status: whether the connection's webhooks and jobs post to Slack."""

    ACTIVE = "active"
    PAUSED = "paused"  # the workspace uninstalled the app or revoked its token


class InboxStatus(StrEnum):
    """inbox_events.status: where a stored provider webhook is in its processing."""

    PENDING = "pending"  # waiting for a worker (new, or retrying after a failure)
    PROCESSING = "processing"  # claimed by a worker until locked_until
    DONE = "done"  # processed; payload emptied, the dedupe key kept
    DEAD = "dead"  # gave up after the last retry; `meetings-bot inbox retry` sends it back
    IGNORED = "ignored"  # an event type the bot does not act on


class MessageState(StrEnum):
    """slack_messages.state: whether the sender still tries to post or edit the message."""

    ACTIVE = "active"
    DEAD = "dead"  # Slack refused it for good, or it failed its last retry


class MessageKind(StrEnum):
    """slack_messages.kind: what a Slack message is, one living message per kind and meeting.
    A digest's todos pages are `todos:N` (see todo_page), not members."""

    DIGEST = "digest"  # the meeting's digest in the channel: the thread's parent
    HIGHLIGHTS = "highlights"  # a thread reply
    STARTED = "started"  # a short "meeting started" note
    ENDED = "ended"  # a short "meeting ended" note
    FAILED = "failed"  # a short notice: the provider could not process the meeting
    REMINDER = "reminder"  # a member's morning DM of their open todos
    RECAP = "recap"  # a channel's weekly recap
    OWNERS = "owners"  # one DM per meeting to a person its todos are suggested to (bot/delivery/owners.py)

    @staticmethod
    def todo_page(page: int) -> str:
        """The kind of a digest's todos thread page `page` (from 1)."""
        return f"{TODO_PAGE_PREFIX}{page}"


class TodoStatus(StrEnum):
    """todo_states.status: what Slack users did with a meeting's todo."""

    OPEN = "open"
    DONE = "done"
    REMOVED = "removed"  # no longer in the provider's listing


class RunKind(StrEnum):
    """followup_runs.kind: which scheduled message a run key is for."""

    REMINDER = "reminder"  # subject a user id, period a local date
    RECAP = "recap"  # subject a channel id, period an ISO week


class DecisionState(StrEnum):
    """Where a meeting's routing decision stands (routing_decisions.state)."""

    POSTED = "posted"  # went where the rule (or the default) said
    HELD = "held"  # waits for its approver
    APPROVED = "approved"  # the approver let it go to its destinations (or picked a channel: Post to…)
    KEPT_PRIVATE = "kept_private"  # stays a DM to the approver
    SKIPPED = "skipped"  # posted nowhere
