"""`/meetings`: ack at once, answer through the response_url once the provider has spoken."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.answers import answer, instant
from bot.slack.commands import parse
from bot.slack.deps import Deps
from bot.slack.listeners.setup import ask_disconnect, open_setup
from bot.slack.metrics import COMMANDS


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
        elif parsed.name == "disconnect":
            work = ask_disconnect(deps, team_id=team_id, user_id=user_id)
        else:
            work = answer(parsed, team_id=team_id, deps=deps, user_id=user_id)
        deps.background.answer(work, response_url=command["response_url"], team_id=team_id)
