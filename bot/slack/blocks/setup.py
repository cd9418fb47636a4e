"""The setup modal, its confirmation, and the disconnect question. Pure builders: no I/O.

Keys and secrets are never put into a view or a message: a saved key shows only as the last
four characters Connection.api_key_hint keeps, a saved secret only as "saved".
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    ConversationFilter,
    ConversationSelectElement,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.services import post_options
from bot.slack.blocks.message import Message
from bot.slack.blocks.text import escape
from bot.slack.ids import ActionId, BlockId, CallbackId
from bot.store.models import Connection

SECRET_WHY = ("With a signing secret the bot checks that every webhook really comes from the service; "
              "without one it relies on the secret URL and re-fetches every meeting from the API.")


def setup_modal(*, providers: list[tuple[str, str]], connection: Connection | None, webhook_url: str | None,
                channel_note: str | None = None, personal: bool = False) -> dict:
    """`providers`: (name, display name). `webhook_url`: the saved connection's, if there is one.
    `channel_note`: mrkdwn about the saved channel (the bot is not in it), shown under the picker."""
    current = connection.provider if connection else providers[0][0]
    options = [Option(value=name, label=display) for name, display in providers]
    initial = next((o for o in options if o.value == current), options[0])
    key_hint = (f"Saved, ends in …{escape(connection.api_key_hint)}. Leave empty to keep it."
                if connection and connection.api_key_hint else
                "Saved. Leave empty to keep it." if connection else "Find it in the service's settings, under API.")
    chosen = post_options.chosen(connection.options if connection else None)
    post_choices = [Option(value=o.name, label=o.label) for o in post_options.POST_OPTIONS]
    registered = bool(connection and (connection.options or {}).get("registered_webhook_id"))
    where = {"hedy": "Hedy under Settings → API Access → Manage Webhooks",
             "meetric": "Meetric under Settings → REST API → Webhook subscriptions"}.get(
        current, f"{dict(providers).get(current, 'the service')}'s webhook settings")
    url_text = (f"*Webhook URL* — paste it into {where}:\n`{webhook_url}`"
                if webhook_url else "*Webhook URL:* shown here, and in the confirmation, once the key is saved.")
    blocks = [
        InputBlock(block_id=BlockId.SETUP_PROVIDER, label="Meeting notes service",
                   element=StaticSelectElement(action_id=ActionId.SETUP_PROVIDER, options=options,
                                               initial_option=initial)),
        InputBlock(block_id=BlockId.SETUP_API_KEY, label="API key", optional=connection is not None,
                   hint=key_hint,
                   element=PlainTextInputElement(action_id=ActionId.SETUP_API_KEY, max_length=500,
                                                 placeholder="Paste the API key")),
        InputBlock(block_id=BlockId.SETUP_CHANNEL, optional=personal,
                   label="Channel for your digests" if personal else "Default channel for digests",
                   hint=("Leave empty to get your digests by DM. A channel must be one you are in."
                         if personal else
                         "Public or private. In a private channel, invite the bot first: /invite @meetings-bot"),
                   element=ConversationSelectElement(
                       action_id=ActionId.SETUP_CHANNEL,
                       initial_conversation=(connection.default_channel if connection and
                                             connection.default_channel else None),
                       filter=ConversationFilter(include=["public", "private"], exclude_bot_users=True))),
        *([ContextBlock(elements=[MarkdownTextObject(text=f"⚠️ {channel_note}")])] if channel_note else []),
        SectionBlock(text=MarkdownTextObject(text=url_text)),
        InputBlock(block_id=BlockId.SETUP_WEBHOOK_SECRET, label="Webhook signing secret", optional=True,
                   hint=("Saved. Leave empty to keep it. " if connection and connection.webhook_secret_encrypted
                         else "") + SECRET_WHY,
                   element=PlainTextInputElement(action_id=ActionId.SETUP_WEBHOOK_SECRET, max_length=500,
                                                 placeholder="Shown once by Hedy when you create the webhook")),
        InputBlock(block_id=BlockId.SETUP_POSTS, label="What to post", optional=True,
                   element=CheckboxesElement(action_id=ActionId.SETUP_POSTS, options=post_choices,
                                             initial_options=[o for o in post_choices if o.value in chosen] or None)),
        InputBlock(block_id=BlockId.SETUP_REGISTER_WEBHOOK, label="Webhook", optional=True,
                   hint="Hedy gives no signing secret for webhooks made this way: the bot then relies on the "
                        "secret URL and on re-fetching every meeting from the API.",
                   element=CheckboxesElement(
                       action_id=ActionId.SETUP_REGISTER_WEBHOOK,
                       options=[Option(value="register", label="Register the webhook for me")],
                       initial_options=[Option(value="register", label="Register the webhook for me")]
                       if registered else None)),
    ]
    view = View(type="modal", callback_id=CallbackId.CONNECT_MODAL if personal else CallbackId.SETUP_MODAL,
                title="Connect your account" if personal else "Meetings bot setup",
                submit="Save", close="Cancel", blocks=blocks)
    return view.to_dict()


def refused(reason: str) -> Message:
    return Message(text=reason, blocks=[SectionBlock(text=MarkdownTextObject(text=reason))])


def setup_saved(*, provider_name: str, channel: str | None, webhook_url: str, created: bool,
                webhook_registered: bool, webhook_problem: str | None, has_secret: bool,
                channel_note: str | None = None) -> Message:
    steps = []
    if webhook_registered:
        steps.append(f"The webhook is registered in {provider_name}; digests will arrive when meetings end.")
    else:
        steps.append(f"In {provider_name}, open Settings → API Access → Manage Webhooks, add this URL and choose "
                     f"the events to post:\n`{webhook_url}`")
        if not has_secret:
            steps.append("Paste the webhook's signing secret into `/meetings setup` too. " + SECRET_WHY)
    if webhook_problem:
        steps.append(escape(webhook_problem))
    if channel_note:
        steps.append(channel_note)
    elif channel:
        steps.append(f"Digests go to <#{channel}>.")
    steps.append("Try `/meetings list` to see your recent meetings.")
    headline = f"{provider_name} is {'connected' if created else 'set up'}."
    return Message(text=f"{headline} Webhook URL: {webhook_url}", blocks=[
        HeaderBlock(text=PlainTextObject(text=f"✅ {headline}")),
        SectionBlock(text=MarkdownTextObject(text="\n".join(f"• {step}" for step in steps))),
    ])


def setup_failed(reason: str) -> Message:
    text = f"I could not save the setup: {reason}"
    return Message(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=escape(text))),
                                      ContextBlock(elements=[MarkdownTextObject(
                                          text="Nothing was changed. Run `/meetings setup` again.")])])


def disconnect_question(provider_names: list[str]) -> Message:
    names = " and ".join(provider_names)
    text = (f"Disconnect {names}? The bot forgets the API key and webhook secret and stops posting digests. "
            "Messages already in Slack stay.")
    return Message(text=text, blocks=[
        SectionBlock(text=MarkdownTextObject(text=text)),
        ActionsBlock(elements=[
            ButtonElement(text="Disconnect", action_id=ActionId.DISCONNECT_CONFIRM, value="confirm", style="danger"),
            ButtonElement(text="Cancel", action_id=ActionId.DISCONNECT_CANCEL, value="cancel"),
        ]),
    ])


def disconnected(provider_names: list[str], problems: Sequence[str] = ()) -> Message:
    if not provider_names:
        return refused("Nothing to disconnect: this workspace has no connection.")
    text = (f"Disconnected {' and '.join(provider_names)}. The key and secrets are deleted. "
            "Run `/meetings setup` to connect again.")
    if problems:
        text += "\n" + "\n".join(f"⚠️ {escape(p)}" for p in problems)
    return refused(text)


def submission_values(view: dict) -> dict:
    """The modal's state as plain values (strings, lists), read by block and action id."""
    def mapping(value: object) -> dict:  # anything Slack never sends reads as "not filled in"
        return value if isinstance(value, dict) else {}

    state = mapping(mapping(view.get("state")).get("values"))

    def element(block: str, action: str) -> dict:
        return mapping(mapping(state.get(block)).get(action))

    provider = mapping(element(BlockId.SETUP_PROVIDER, ActionId.SETUP_PROVIDER).get("selected_option")).get("value")
    return {
        "provider": provider,
        "api_key": (element(BlockId.SETUP_API_KEY, ActionId.SETUP_API_KEY).get("value") or "").strip() or None,
        "channel": element(BlockId.SETUP_CHANNEL, ActionId.SETUP_CHANNEL).get("selected_conversation"),
        "webhook_secret": (element(BlockId.SETUP_WEBHOOK_SECRET, ActionId.SETUP_WEBHOOK_SECRET).get("value")
                           or "").strip() or None,
        "posts": [mapping(o).get("value") for o in
                  element(BlockId.SETUP_POSTS, ActionId.SETUP_POSTS).get("selected_options") or []],
        "register_webhook": bool(element(BlockId.SETUP_REGISTER_WEBHOOK, ActionId.SETUP_REGISTER_WEBHOOK)
                                 .get("selected_options")),
    }
