"""How a provider webhook becomes a Slack message: ingest (webhooks.py) stores it in the inbox
(inbox.py); the workers (workers.py) claim it and the processor (digests.py) fetches the meeting
and queues messages in the outbox (outbox.py); the sender (sender.py) posts or edits them, paced
per channel. See docs/architecture.md."""
