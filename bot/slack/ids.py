"""Every action_id, callback_id and block_id the bot puts on a Slack surface.

Buttons on messages posted months ago still carry these strings: never rename a value,
only add new ones. Listeners match them exactly.
"""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    SHOW_MEETING = "meetings_show"
    MORE_MEETINGS = "meetings_more"
    FULL_MINUTES = "digest_full_minutes"  # on channel digests: opens the minutes in a modal


class CallbackId(StrEnum):
    MINUTES_MODAL = "digest_minutes_modal"


class BlockId(StrEnum):
    MORE = "meetings_more_block"
