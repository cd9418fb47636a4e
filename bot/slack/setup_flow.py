"""`/meetings setup` and `/meetings disconnect` as Slack surfaces: the modal, the question, the
confirmation. Admins only, asked of Slack on every step (bot/slack/admins.py), so a crafted
submission or click from anyone else changes nothing. The changes themselves are in
bot/services/setup.py."""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.errors import SlackApiError

from bot.deps import Deps
from bot.providers.registry import PROVIDERS, provider_info
from bot.services import setup as setup_service
from bot.slack.blocks import setup as blocks
from bot.slack.blocks.message import Message
from bot.slack.context import AdminCheck
from bot.slack.errors import SlackRefusal, describe
from bot.slack.ids import BlockId

log = logging.getLogger(__name__)

# Slack closes a modal with an error if the ack takes over 3 s: the live key check gets this
# much of it, and past that the modal closes and the result follows as a message.
SUBMIT_BUDGET_SECONDS = 2.2
CHANNEL_CHECK_SECONDS = 0.8  # conversations.info before views.open, when a channel is saved
NOT_ADMIN = ("Only workspace admins and owners can change the meetings bot's setup. "
             "Ask one of them to run `/meetings setup`.")


class NotAdmin(Exception):
    pass


def provider_choices() -> list[tuple[str, str]]:
    return [(name, info.display_name) for name, info in PROVIDERS.items()]


async def open_setup(deps: Deps, *, team_id: str, trigger_id: str, admin: AdminCheck) -> Message | None:
    """The setup modal for an admin (None: it is open); the refusal for anyone else."""
    if not await admin():
        return blocks.refused(NOT_ADMIN)
    connection = await setup_service.saved_connection(deps.db, team_id)
    webhook_url = deps.settings.webhook_url(connection.provider, connection.webhook_token) if connection else None
    channel_note = None
    if connection is not None and connection.default_channel:
        # The trigger id dies 3 s after the command: the channel check gets a small slice of that.
        try:
            channel_note = await asyncio.wait_for(channel_note_for(deps, team_id, connection.default_channel),
                                                  timeout=CHANNEL_CHECK_SECONDS)
        except TimeoutError:
            channel_note = None
    view = blocks.setup_modal(providers=provider_choices(), connection=connection, webhook_url=webhook_url,
                              channel_note=channel_note)
    await deps.slack_client(team_id, interactive=True).views_open(trigger_id=trigger_id, view=view)
    return None


async def ask_disconnect(deps: Deps, *, team_id: str, admin: AdminCheck) -> Message:
    if not await admin():
        return blocks.refused(NOT_ADMIN)
    connection = await setup_service.saved_connection(deps.db, team_id)
    if connection is None:
        return blocks.disconnected([])
    return blocks.disconnect_question([provider_info(connection.provider).display_name])


async def disconnect(deps: Deps, *, team_id: str, user_id: str, admin: AdminCheck) -> Message:
    if not await admin():
        return blocks.refused(NOT_ADMIN)
    result = await setup_service.disconnect(deps, team_id=team_id, user_id=user_id)
    return blocks.disconnected(result.names, result.problems)


async def channel_note_for(deps: Deps, team_id: str, channel: str | None) -> str | None:
    """A warning for the setup modal when the bot cannot post in the saved channel."""
    if not channel:
        return None
    try:
        info = await deps.slack_client(team_id).conversations_info(channel=channel)
    except SlackApiError as exc:
        if SlackRefusal.of(exc).code == "channel_not_found":
            # What Slack says about a private channel the bot is not in.
            return (f"I can't see <#{channel}>. If it is private, type `/invite @meetings-bot` there, "
                    "or digests cannot be posted.")
        return None  # the sender will say so if the channel really is out of reach
    except Exception:
        return None
    data = info.get("channel") or {}
    if data.get("is_private") and not data.get("is_member"):
        return (f"The bot is not in <#{channel}> yet, and it is private: type `/invite @meetings-bot` there, "
                "or digests cannot be posted.")
    return None


async def submission(deps: Deps, request: setup_service.SetupRequest, admin: AdminCheck) -> dict:
    """What to ack the setup modal's submission with: {} closes it, errors show on their field.
    A check that outlives SUBMIT_BUDGET_SECONDS closes the modal and reports as a message."""
    task = asyncio.get_running_loop().create_task(save(deps, request, admin))
    done, _ = await asyncio.wait({task}, timeout=SUBMIT_BUDGET_SECONDS)
    if task not in done:
        deps.background.run(finish_late(deps, request, task), what="finishing a slow setup")
        return {}
    try:
        outcome = task.result()
    except NotAdmin:
        return _field_error(BlockId.SETUP_PROVIDER, NOT_ADMIN)
    except setup_service.KeyRejected as exc:
        return _field_error(BlockId.SETUP_API_KEY, str(exc))
    except Exception as exc:  # the provider or Slack failing: its sentence, on the key field
        return _field_error(BlockId.SETUP_API_KEY, describe(exc, team_id=request.team_id).text)
    deps.background.run(confirm(deps, request, outcome), what="confirming the setup")
    return {}


def _field_error(block: BlockId, text: str) -> dict:
    return {"response_action": "errors", "errors": {block.value: text[:500]}}


async def save(deps: Deps, request: setup_service.SetupRequest, admin: AdminCheck) -> setup_service.SetupOutcome:
    if not await admin():
        raise NotAdmin
    return await setup_service.save_setup(deps, request)


async def confirm(deps: Deps, request: setup_service.SetupRequest, outcome: setup_service.SetupOutcome) -> None:
    message = blocks.setup_saved(
        provider_name=provider_info(outcome.connection.provider).display_name,
        channel=outcome.connection.default_channel, webhook_url=outcome.webhook_url, created=outcome.created,
        webhook_registered=outcome.webhook_registered, webhook_problem=outcome.webhook_problem,
        has_secret=outcome.connection.webhook_secret_encrypted is not None,
        channel_note=await channel_note_for(deps, request.team_id, outcome.connection.default_channel))
    await deps.slack_client(request.team_id, interactive=True).chat_postMessage(channel=request.user_id,
                                                                                **message.to_slack())


async def finish_late(deps: Deps, request: setup_service.SetupRequest, task: asyncio.Task) -> None:
    """The check outlived the modal: say how it ended in a message to the admin."""
    try:
        outcome = await task
    except NotAdmin:
        message = blocks.refused(NOT_ADMIN)
    except setup_service.KeyRejected as exc:
        message = blocks.setup_failed(str(exc))
    except Exception as exc:
        message = blocks.setup_failed(describe(exc, team_id=request.team_id).text)
    else:
        await confirm(deps, request, outcome)
        return
    await deps.slack_client(request.team_id, interactive=True).chat_postMessage(channel=request.user_id,
                                                                                **message.to_slack())
