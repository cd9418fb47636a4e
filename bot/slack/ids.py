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
    # a held meeting's approval DM; values carry "d1.<routing decision id>"
    ROUTE_APPROVE = "route_approve"
    ROUTE_POST_TO = "route_post_to"  # opens a modal with a channel picker
    ROUTE_KEEP_PRIVATE = "route_keep_private"
    ROUTE_SKIP = "route_skip"
    ROUTE_POST_TO_CHANNEL = "route_post_to_channel"  # the picker inside that modal
    # /meetings routes: the rules modal and its add/edit form
    ROUTE_RULE_MENU = "route_rule_menu"  # overflow: "edit:<id>", "up:<id>", "down:<id>", "delete:<id>"
    ROUTE_RULE_ADD = "route_rule_add"
    ROUTE_FORM_NAME = "route_form_name"
    ROUTE_FORM_TITLE = "route_form_title"
    ROUTE_FORM_CATEGORY = "route_form_category"
    ROUTE_FORM_DOMAINS = "route_form_domains"
    ROUTE_FORM_EXTERNAL = "route_form_external"
    ROUTE_FORM_MAX_PEOPLE = "route_form_max_people"
    ROUTE_FORM_MIN_MINUTES = "route_form_min_minutes"
    ROUTE_FORM_MAX_MINUTES = "route_form_max_minutes"
    ROUTE_FORM_ACTION = "route_form_action"
    ROUTE_FORM_CHANNELS = "route_form_channels"
    ROUTE_FORM_APPROVER = "route_form_approver"


class CallbackId(StrEnum):
    MINUTES_MODAL = "digest_minutes_modal"
    SETUP_MODAL = "setup_modal"
    ROUTE_POST_TO_MODAL = "route_post_to_modal"  # private_metadata: the decision ref
    CONNECT_MODAL = "connect_modal"  # a member's own account: the setup modal's personal form
    ROUTES_MODAL = "routes_modal"  # private_metadata: {"scope": personal connection id or null}
    ROUTE_RULE_FORM = "route_rule_form"  # private_metadata: {"rule", "scope", "root" view id}


class BlockId(StrEnum):
    MORE = "meetings_more_block"
    TODO_ACTIONS_PREFIX = "todo_actions:"  # + the todo's TodoRef (+ "@<owner>" in an owner's list)
    SETUP_PROVIDER = "setup_provider_block"
    SETUP_API_KEY = "setup_api_key_block"
    SETUP_CHANNEL = "setup_channel_block"
    SETUP_WEBHOOK_SECRET = "setup_webhook_secret_block"
    SETUP_POSTS = "setup_posts_block"
    SETUP_REGISTER_WEBHOOK = "setup_register_webhook_block"
    ROUTE_ACTIONS = "route_actions"
    ROUTE_POST_TO_CHANNEL = "route_post_to_channel_block"
    ROUTE_RULE_PREFIX = "route_rule:"  # + the rule id, on each rule's section in the routes modal
    ROUTE_RULE_ADD = "route_rule_add_block"
    ROUTE_FORM_NAME = "route_form_name_block"
    ROUTE_FORM_TITLE = "route_form_title_block"
    ROUTE_FORM_CATEGORY = "route_form_category_block"
    ROUTE_FORM_DOMAINS = "route_form_domains_block"
    ROUTE_FORM_EXTERNAL = "route_form_external_block"
    ROUTE_FORM_MAX_PEOPLE = "route_form_max_people_block"
    ROUTE_FORM_MIN_MINUTES = "route_form_min_minutes_block"
    ROUTE_FORM_MAX_MINUTES = "route_form_max_minutes_block"
    ROUTE_FORM_ACTION = "route_form_action_block"
    ROUTE_FORM_CHANNELS = "route_form_channels_block"
    ROUTE_FORM_APPROVER = "route_form_approver_block"
