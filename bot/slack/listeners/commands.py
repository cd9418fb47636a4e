"""`/meetings`: ack at once, answer through the response_url once the provider has spoken."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from bot.metrics import COMMANDS
from bot.slack import setup_flow
from bot.slack.answers import ack_reply, answer, set_alias, shared_question, switch_followups
from bot.slack.commands import parse


def register(app: AsyncApp, deps: Deps) -> None:
    @app.command("/meetings")
    async def meetings_command(ack, command, context):
        parsed = parse(command.get("text"))
        COMMANDS.labels(subcommand=parsed.name).inc()
        team_id, user_id, admin = context["workspace"], context["user_id"], context["is_admin"]
        reply = ack_reply(parsed, team_id=team_id, user_id=user_id, deps=deps)  # instant, cached, or "busy"
        if reply is not None:
            await ack(**reply.to_slack(), response_type="ephemeral")
            return
        await ack()
        if parsed.name == "setup":
            work = setup_flow.open_setup(deps, team_id=team_id, trigger_id=command.get("trigger_id") or "",
                                         admin=admin)
        elif parsed.name == "connect":
            from bot.slack.listeners.routing import open_personal_connect

            work = open_personal_connect(deps, team_id=team_id, user_id=user_id,
                                         trigger_id=command.get("trigger_id") or "")
        elif parsed.name == "routes":
            from bot.slack.listeners.routing import open_routes

            work = open_routes(deps, team_id=team_id, user_id=user_id, trigger_id=command.get("trigger_id") or "")
        elif parsed.name == "disconnect":
            work = setup_flow.ask_disconnect(deps, team_id=team_id, admin=admin)
        elif parsed.name == "alias":
            work = set_alias(deps, parsed, team_id=team_id, user_id=user_id, admin=admin)
        elif parsed.name in ("reminders", "recap"):
            work = switch_followups(deps, parsed, team_id=team_id, user_id=user_id,
                                    channel_id=command.get("channel_id") or "", admin=admin)
        else:
            work = answer(parsed, team_id=team_id, deps=deps, user_id=user_id)
        deps.background.answer(work, response_url=command["response_url"], team_id=team_id,
                               share=shared_question(parsed, team_id, user_id))
