"""`/meetings setup` and `/meetings disconnect`: admins only, checked with users.info on every
step (a crafted submission or click from anyone else changes nothing)."""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.providers.base import ProviderError
from bot.providers.registry import PROVIDERS, provider_info
from bot.services import setup as setup_service
from bot.slack.blocks import setup as blocks
from bot.slack.blocks.message import Message
from bot.deps import Deps
from bot.slack.errors import describe
from bot.slack.ids import ActionId, BlockId, CallbackId
from bot.slack.listeners.actions import clicking_team
from bot.store.models import Workspace

log = logging.getLogger(__name__)

# Slack closes a modal with an error if the ack takes over 3 s: the live key check gets this
# much of it, and past that the modal closes and the result follows as a message.
SUBMIT_BUDGET_SECONDS = 2.2
CHANNEL_CHECK_SECONDS = 0.8  # conversations.info before views.open, when a channel is saved
NOT_ADMIN = ("Only workspace admins and owners can change the meetings bot's setup. "
             "Ask one of them to run `/meetings setup`.")


class NotAdmin(Exception):
    pass


async def is_admin(deps: Deps, team_id: str, user_id: str) -> bool:
    """Workspace admins and owners (users.info), and the person who installed the app."""
    async with deps.db.session() as session:
        workspace = await session.get(Workspace, team_id)
    if workspace is not None and workspace.installed_by and workspace.installed_by == user_id:
        return True
    try:
        info = await deps.slack_client(team_id).users_info(user=user_id)
    except SlackApiError as exc:
        if (exc.response.data or {}).get("error") in ("user_not_found", "user_not_visible"):
            return False  # not a member of this workspace
        raise
    user = info.get("user") or {}
    return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))


def provider_choices() -> list[tuple[str, str]]:
    return [(name, info.display_name) for name, info in PROVIDERS.items()]


async def open_setup(deps: Deps, *, team_id: str, user_id: str, trigger_id: str) -> Message | None:
    if not await is_admin(deps, team_id, user_id):
        return blocks.refused(NOT_ADMIN)
    connection = await setup_service.saved_connection(deps.db, team_id)
    webhook_url = deps.settings.webhook_url(connection.provider, connection.webhook_token) if connection else None
    channel_note = None
    if connection is not None and connection.default_channel:
        # The trigger id dies 3 s after the command: the channel check gets a small slice of that.
        try:
            channel_note = await asyncio.wait_for(_channel_note(deps, team_id, connection.default_channel),
                                                  timeout=CHANNEL_CHECK_SECONDS)
        except TimeoutError:
            channel_note = None
    view = blocks.setup_modal(providers=provider_choices(), connection=connection, webhook_url=webhook_url,
                              channel_note=channel_note)
    await deps.slack_client(team_id).views_open(trigger_id=trigger_id, view=view)
    return None


async def ask_disconnect(deps: Deps, *, team_id: str, user_id: str) -> Message:
    if not await is_admin(deps, team_id, user_id):
        return blocks.refused(NOT_ADMIN)
    connection = await setup_service.saved_connection(deps.db, team_id)
    if connection is None:
        return blocks.disconnected([])
    return blocks.disconnect_question([provider_info(connection.provider).display_name])


async def _channel_note(deps: Deps, team_id: str, channel: str | None) -> str | None:
    if not channel:
        return None
    try:
        info = await deps.slack_client(team_id).conversations_info(channel=channel)
    except SlackApiError as exc:
        if (exc.response.data or {}).get("error") == "channel_not_found":
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


async def _save(deps: Deps, request: setup_service.SetupRequest) -> setup_service.SetupOutcome:
    if not await is_admin(deps, request.team_id, request.user_id):
        raise NotAdmin
    return await setup_service.save_setup(deps, request)


async def _confirm(deps: Deps, request: setup_service.SetupRequest, outcome: setup_service.SetupOutcome) -> None:
    message = blocks.setup_saved(
        provider_name=provider_info(outcome.connection.provider).display_name,
        channel=outcome.connection.default_channel, webhook_url=outcome.webhook_url, created=outcome.created,
        webhook_registered=outcome.webhook_registered, webhook_problem=outcome.webhook_problem,
        has_secret=outcome.connection.webhook_secret_encrypted is not None,
        channel_note=await _channel_note(deps, request.team_id, outcome.connection.default_channel))
    await deps.slack_client(request.team_id).chat_postMessage(channel=request.user_id, **message.to_slack())


async def _finish_late(deps: Deps, request: setup_service.SetupRequest, task: asyncio.Task) -> None:
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
        await _confirm(deps, request, outcome)
        return
    await deps.slack_client(request.team_id).chat_postMessage(channel=request.user_id, **message.to_slack())


def register(app: AsyncApp, deps: Deps) -> None:
    @app.view(CallbackId.SETUP_MODAL.value)
    async def setup_submitted(ack, body, view):
        team_id = clicking_team(body)
        user_id = (body.get("user") or {}).get("id") or ""
        values = blocks.submission_values(view)
        provider = values["provider"] if values["provider"] in PROVIDERS else None
        if provider is None:
            await ack(response_action="errors", errors={BlockId.SETUP_PROVIDER.value: "Choose a service."})
            return
        request = setup_service.SetupRequest(
            team_id=team_id, user_id=user_id, provider=provider, api_key=values["api_key"],
            channel=values["channel"], webhook_secret=values["webhook_secret"],
            posts=frozenset(p for p in values["posts"] if p), register_webhook=values["register_webhook"])
        task = asyncio.get_running_loop().create_task(_save(deps, request))
        done, _ = await asyncio.wait({task}, timeout=SUBMIT_BUDGET_SECONDS)
        if task not in done:
            await ack()  # close the modal; the result follows as a message
            deps.background.run(_finish_late(deps, request, task), what="finishing a slow setup")
            return
        try:
            outcome = task.result()
        except NotAdmin:
            await ack(response_action="errors", errors={BlockId.SETUP_PROVIDER.value: NOT_ADMIN})
            return
        except setup_service.KeyRejected as exc:
            await ack(response_action="errors", errors={BlockId.SETUP_API_KEY.value: str(exc)[:500]})
            return
        except ProviderError as exc:
            sentence = describe(exc, team_id=team_id).text
            await ack(response_action="errors", errors={BlockId.SETUP_API_KEY.value: sentence[:500]})
            return
        await ack()
        deps.background.run(_confirm(deps, request, outcome), what="confirming the setup")

    @app.action(ActionId.DISCONNECT_CONFIRM.value)
    async def disconnect_confirmed(ack, body):
        await ack()
        team_id = clicking_team(body)
        user_id = (body.get("user") or {}).get("id") or ""

        async def work() -> Message:
            if not await is_admin(deps, team_id, user_id):
                return blocks.refused(NOT_ADMIN)
            result = await setup_service.disconnect(deps, team_id=team_id, user_id=user_id)
            return blocks.disconnected(result.names, result.problems)

        deps.background.answer(work(), response_url=body["response_url"], team_id=team_id)

    @app.action(ActionId.DISCONNECT_CANCEL.value)
    async def disconnect_cancelled(ack, body):
        await ack()

        async def work() -> Message:
            return blocks.refused("OK, nothing was disconnected.")

        deps.background.answer(work(), response_url=body["response_url"], team_id=clicking_team(body))
