"""`/meetings`: ack at once, answer through the response_url once the provider has spoken."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.answers import answer, instant
from bot.slack.commands import parse
from bot.slack.blocks.message import Message
from bot.slack.blocks.replies import sentence
from bot.deps import Deps
from bot.slack.listeners.setup import ask_disconnect, is_admin, open_setup
from bot.metrics import COMMANDS


def register(app: AsyncApp, deps: Deps) -> None:
    @app.command("/meetings")
    async def meetings_command(ack, command):
        parsed = parse(command.get("text"))
        team_id = command["team_id"]
        COMMANDS.labels(subcommand=parsed.name).inc()
        reply = instant(parsed)
        if reply is not None:
            await ack(**reply.to_slack(), response_type="ephemeral")
            return
        await ack()
        user_id = command.get("user_id") or ""
        if parsed.name == "setup":
            work = open_setup(deps, team_id=team_id, user_id=user_id, trigger_id=command.get("trigger_id") or "")
        elif parsed.name == "connect":
            from bot.slack.listeners.routing import open_personal_connect

            work = open_personal_connect(deps, team_id=team_id, user_id=user_id,
                                         trigger_id=command.get("trigger_id") or "")
        elif parsed.name == "routes":
            from bot.slack.listeners.routing import open_routes

            work = open_routes(deps, team_id=team_id, user_id=user_id, trigger_id=command.get("trigger_id") or "")
        elif parsed.name == "disconnect":
            work = ask_disconnect(deps, team_id=team_id, user_id=user_id)
        elif parsed.name in ("reminders", "recap"):
            work = switch_followups(deps, parsed, team_id=team_id, user_id=user_id,
                                    channel_id=command.get("channel_id") or "")
        else:
            work = answer(parsed, team_id=team_id, deps=deps, user_id=user_id)
        deps.background.answer(work, response_url=command["response_url"], team_id=team_id)


async def switch_followups(deps: Deps, parsed, *, team_id: str, user_id: str, channel_id: str) -> Message:
    from bot.jobs.followups import set_recap, set_reminders

    if parsed.name == "reminders":
        await set_reminders(deps.db, team_id=team_id, user_id=user_id, on=bool(parsed.switch))
        return sentence("Morning reminders are on: at 9:00 your time I'll DM you the todos you own that are due."
                        if parsed.switch else "Morning reminders are off. `/meetings reminders on` brings them back.")
    if not await is_admin(deps, team_id, user_id):
        return sentence("Only workspace admins and owners can turn a channel's weekly recap on or off.")
    await set_recap(deps.db, team_id=team_id, channel=channel_id, on=bool(parsed.switch))
    return sentence(f"The weekly recap for <#{channel_id}> is {'on' if parsed.switch else 'off'}.")
