"""A click on a todo, shown everywhere the todo is: the change itself is bot/services/todo_clicks.py.

Every surface that shows the todo is rendered again from the stored state: the meeting's thread
pages and a reminder DM through the outbox (the sender edits them with chat.update, paced and
retried like any post, and several quick clicks collapse into one edit), an ephemeral list
through its response_url (Slack cannot chat.update an ephemeral message).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.delivery import digests
from bot.delivery import owners as owner_flow
from bot.deps import Deps
from bot.jobs import reminders
from bot.services import todos as todo_service
from bot.services.todo_clicks import Click, connection_of, handle_click, parse_target
from bot.services.todos import NotSuggestedToYou, TodoGone
from bot.slack.answers import owner_list
from bot.slack.blocks.replies import sentence
from bot.slack.blocks.todos import change_notice
from bot.slack.members import member_zone

log = logging.getLogger(__name__)

STALE = ("That todo is no longer tracked here: it was removed from its meeting, or the workspace's connection "
         "was removed. Nothing was changed. Type `/meetings todos mine` to see your current ones.")
EXPIRED = ("That reminder is from an earlier day and its buttons have expired. Nothing was changed. "
           "Type `/meetings todos mine` to see your current todos.")


@dataclass(frozen=True)
class Where:
    """Where the click happened, from the block_actions payload."""

    response_url: str | None
    channel_id: str | None
    message_ts: str | None
    ephemeral: bool

    @classmethod
    def of(cls, body: dict) -> Where:
        container: dict = body["container"] if isinstance(body.get("container"), dict) else {}
        channel: dict = body["channel"] if isinstance(body.get("channel"), dict) else {}
        return cls(response_url=body.get("response_url") or None,
                   channel_id=channel.get("id") or container.get("channel_id") or None,
                   message_ts=container.get("message_ts") or None, ephemeral=bool(container.get("is_ephemeral")))


def not_yours(refused: NotSuggestedToYou) -> str:
    if refused.confidence == "suggested" and refused.suggested_owner:
        return (f"This todo is suggested to <@{refused.suggested_owner}>, so only they can accept it or say Not me. "
                "Nothing was changed. To give it to someone else, pick them with Assign.")
    return ("This todo is no longer waiting for an answer: it has an owner now, or nobody is suggested. "
            "Nothing was changed. Use Assign to change its owner.")


async def clicked(deps: Deps, click: Click, where: Where) -> None:
    reminder = owner_dm = None
    if where.message_ts and not where.ephemeral:
        posted = await reminders.find_posted(deps.db, team_id=click.team_id, channel=where.channel_id or "",
                                             ts=where.message_ts)
        if posted is None and (where.channel_id or "").startswith("D"):
            # A DM with todo buttons the bot no longer knows: a reminder the retention job expired
            # (an owner DM is kept as long as its meeting's todos).
            await tell(deps, click, where, EXPIRED)
            return
        reminder = posted if posted is not None and posted.kind == reminders.KIND else None
        owner_dm = posted if posted is not None and posted.kind == owner_flow.KIND else None
    try:
        change = await handle_click(deps.db, click,
                                    zone=lambda: member_zone(deps, click.team_id, click.user_id))
    except TodoGone:
        await tell(deps, click, where, STALE)
        return
    except NotSuggestedToYou as refused:
        await tell(deps, click, where, not_yours(refused))
        return
    state = change.state
    connection = await connection_of(deps.db, change)
    if connection is not None:
        await digests.refresh_todos(deps, connection=connection, meeting_id=state.meeting_id)
        if owner_dm is None and change.action in ("accept", "not_me", "assign", "unassign"):
            # answered in the thread: the clicker's owner DM for this meeting shows it too
            owner_dm = await owner_flow.dm_of(deps, connection_id=state.connection_id, meeting_id=state.meeting_id,
                                              person=click.user_id)
    if owner_dm is not None:
        await owner_flow.refresh_dm(deps, owner_dm, todo_view=digests.todo_view)
    if reminder is not None:
        await reminders.refresh_reminder(deps, reminder)
    deps.outbox_wakeup.set()  # edit now, not at the sender's next poll
    _ref, list_owner = parse_target(click.target)
    if where.ephemeral and list_owner and where.response_url:
        notice = change_notice(change.action, assignee=state.assignee, todo_text=state.text)
        message = await owner_list(deps, team_id=click.team_id, owner=list_owner, asker=click.user_id, notice=notice)
        try:
            await deps.background.responder.send(where.response_url, message, replace_original=True)
        except Exception as exc:
            log.warning("could not render a todo list again (team %s): %s", click.team_id, type(exc).__name__)


async def tell(deps: Deps, click: Click, where: Where, text: str) -> None:
    """A sentence only the clicking user sees, next to what they clicked."""
    if where.response_url:
        try:
            await deps.background.responder.send(where.response_url, sentence(text))
            return
        except Exception as exc:
            log.warning("could not answer a todo click through its response_url (team %s): %s", click.team_id,
                        type(exc).__name__)
    client = deps.slack_client(click.team_id, interactive=True)
    if where.channel_id:
        await client.chat_postEphemeral(channel=where.channel_id, user=click.user_id, text=text)
    else:
        await client.chat_postMessage(channel=click.user_id, text=text)


async def accepted_all(deps: Deps, click: Click, where: Where) -> None:
    """Accept all, in an owner DM: every todo of that meeting suggested to the clicking user."""
    ref, _owner = parse_target(click.target)
    if ref is None:
        await tell(deps, click, where, STALE)
        return
    try:
        accepted = await todo_service.accept_all(deps.db, team_id=click.team_id, ref=ref, user_id=click.user_id)
    except TodoGone:
        await tell(deps, click, where, STALE)
        return
    if not accepted:
        await tell(deps, click, where, "Nothing here is waiting for your answer any more. Nothing was changed.")
        return
    first = accepted[0]
    connection = await connection_of(deps.db, todo_service.Change(state=first, action="accept"))
    if connection is not None:
        await digests.refresh_todos(deps, connection=connection, meeting_id=first.meeting_id)
        owner_dm = await owner_flow.dm_of(deps, connection_id=first.connection_id, meeting_id=first.meeting_id,
                                          person=click.user_id)
        if owner_dm is not None:
            await owner_flow.refresh_dm(deps, owner_dm, todo_view=digests.todo_view)
    deps.outbox_wakeup.set()
