"""Prometheus counters for `/metrics`."""

from prometheus_client import Counter

COMMANDS = Counter("meetings_bot_slash_commands_total", "Slash commands received", ["subcommand"])
ERRORS = Counter("meetings_bot_errors_total", "Errors shown to users", ["kind"])
SLACK_POSTS = Counter("meetings_bot_slack_messages_total", "Channel messages sent to Slack, by result", ["result"])
WEBHOOKS = Counter("meetings_bot_webhooks_total", "Provider webhooks received, by result", ["provider", "result"])
INBOX = Counter("meetings_bot_inbox_events_total", "Inbox events processed, by result", ["result"])
