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
    # setup modal inputs (action ids inside their input blocks)
    SETUP_PROVIDER = "setup_provider"
    SETUP_API_KEY = "setup_api_key"
    SETUP_CHANNEL = "setup_channel"
    SETUP_WEBHOOK_SECRET = "setup_webhook_secret"
    SETUP_POSTS = "setup_posts"
    SETUP_REGISTER_WEBHOOK = "setup_register_webhook"
    OPEN_SETUP = "setup_open"  # App Home button
    DISCONNECT_CONFIRM = "disconnect_confirm"
    DISCONNECT_CANCEL = "disconnect_cancel"
    # todos in a digest's thread, a reminder DM or an owner's list; values carry a TodoRef
    # ("t1.<todo state id>.<connection id>.<check>", bot/services/todos.py)
    TODO_DONE = "todo_done"
    TODO_REOPEN = "todo_reopen"
    TODO_ASSIGN = "todo_assign"  # users_select; the todo id is in its block_id
    TODO_ASSIGN_ME = "todo_assign_me"
    TODO_MORE = "todo_more"  # overflow: snooze until tomorrow, for a week, remove the owner
    # a suggested owner (a name match, bot/services/owners.py) answers; values carry a TodoRef
    TODO_ACCEPT = "todo_accept"
    TODO_NOT_ME = "todo_not_me"
    OWNERS_ACCEPT_ALL = "owners_accept_all"  # in the owner DM; value: the TodoRefs joined by ","


class CallbackId(StrEnum):
    MINUTES_MODAL = "digest_minutes_modal"
    SETUP_MODAL = "setup_modal"


class BlockId(StrEnum):
    MORE = "meetings_more_block"
    TODO_ACTIONS_PREFIX = "todo_actions:"  # + the todo's TodoRef (+ "@<owner>" in an owner's list)
    SETUP_PROVIDER = "setup_provider_block"
    SETUP_API_KEY = "setup_api_key_block"
    SETUP_CHANNEL = "setup_channel_block"
    SETUP_WEBHOOK_SECRET = "setup_webhook_secret_block"
    SETUP_POSTS = "setup_posts_block"
    SETUP_REGISTER_WEBHOOK = "setup_register_webhook_block"
