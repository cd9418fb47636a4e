"""Prometheus metrics for `/metrics`: counters and histograms updated as work happens, gauges
read from the database when the metrics are scraped (see bot/observability.py)."""

from prometheus_client import Counter, Histogram

COMMANDS = Counter("meetings_bot_slash_commands_total", "Slash commands received", ["subcommand"])
ERRORS = Counter("meetings_bot_errors_total", "Errors shown to users", ["kind"])
SLACK_POSTS = Counter("meetings_bot_slack_messages_total", "Channel messages sent to Slack, by result", ["result"])
WEBHOOKS = Counter("meetings_bot_webhooks_total", "Provider webhooks received, by result", ["provider", "result"])
INBOX = Counter("meetings_bot_inbox_events_total", "Inbox events processed, by result", ["result"])

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 5.0)
SLASH_ACK_SECONDS = Histogram("meetings_bot_slash_ack_seconds",
                              "Time from a slash command's arrival to its ack (Slack allows 3 s)", buckets=_FAST)
WEBHOOK_INGEST_SECONDS = Histogram("meetings_bot_webhook_ingest_seconds",
                                   "Time to verify, store and answer one provider webhook", ["provider"],
                                   buckets=_FAST)
WEBHOOK_TO_DIGEST_SECONDS = Histogram("meetings_bot_webhook_to_digest_seconds",
                                      "Time from a webhook's arrival to its digest posted in Slack", ["provider"],
                                      buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600))
