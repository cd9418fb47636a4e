"""Who is asking, and for which workspace: one Bolt middleware in front of every listener.

Slack names the workspace a request belongs to in different places for each kind of payload,
and on Enterprise Grid and in Slack Connect channels the acting user's own team (`user.team_id`)
is often another one: a Grid member's home workspace or org id, a guest's own company. The
bot's data belongs to the workspace the message, modal, App Home or command belongs to, so
that is read here, once, the way Slack documents it, and never from `user.team_id`:

    view.app_installed_team_id, view.team_id   modals and the App Home (a workspace id, T…,
                                               wins over an org-wide install's E… id)
    team.id                                    block actions: the workspace the click happened in
    authorizations[0].team_id, team_id         events and slash commands

Keys every listener reads from Bolt's `context` (and nothing else about who and where):

    context["workspace"]      str: that workspace's team id ("" when Slack named none)
    context["user_id"]        str: the acting user ("" for events without one)
    context["user_team"]      str | None: the acting user's own team, as Slack reports it
    context["enterprise_id"]  str | None: the Enterprise Grid org, if any
    context["is_admin"]       async () -> bool: may this user change the bot's setup here?
                              Asks Slack at most once per request, and only when awaited.

A user of another organization (a Slack Connect guest) is refused here, for every command,
click and modal submission, with one sentence saying so; listeners never see them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.deps import Deps
from bot.slack.admins import is_admin
from bot.slack.blocks.replies import notice_modal, sentence

FOREIGN_USER = ("You're from another organization, and this meetings bot works only for members of the workspace "
                "that installed it, so nothing was changed. Ask someone from that workspace to do it.")

AdminCheck = Callable[[], Awaitable[bool]]


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def workspace_of(body: dict) -> str:
    view, team = _dict(body.get("view")), body.get("team")
    authorizations = body.get("authorizations")
    first = _dict(authorizations[0]) if isinstance(authorizations, list) and authorizations else {}
    named = [_text(view.get("app_installed_team_id")), _text(view.get("team_id")),
             _text(_dict(team).get("id") if isinstance(team, dict) else team),
             _text(first.get("team_id")), _text(body.get("team_id"))]
    ids = [team_id for team_id in named if team_id]
    # An org-wide install names its org (E…) as the installed team; the workspace is still there.
    return next((team_id for team_id in ids if team_id.startswith("T")), ids[0] if ids else "")


def enterprise_of(body: dict) -> str | None:
    authorizations = body.get("authorizations")
    first = _dict(authorizations[0]) if isinstance(authorizations, list) and authorizations else {}
    return (_text(_dict(body.get("enterprise")).get("id")) or _text(body.get("enterprise")) or
            _text(first.get("enterprise_id")) or _text(body.get("enterprise_id")) or
            _text(_dict(body.get("team")).get("enterprise_id")) or _text(_dict(body.get("view")).get("enterprise_id")))


def user_of(body: dict) -> tuple[str, str | None]:
    """(the acting user, their own team as Slack reports it, if it does)."""
    user = body.get("user")
    if isinstance(user, dict):
        return _text(user.get("id")) or "", _text(user.get("team_id"))
    if _text(body.get("user_id")):  # slash commands
        return body["user_id"], None
    event = _dict(body.get("event"))
    return _text(event.get("user")) or "", _text(event.get("user_team"))


def is_foreign(*, user_team: str | None, workspace: str, enterprise_id: str | None) -> bool:
    """A user of another organization. On Enterprise Grid, Slack reports members by their org
    id or their home workspace (another workspace of the same org): both belong; admin rights
    are still checked in this workspace (bot/slack/admins.py)."""
    if not user_team or not workspace or user_team == workspace:
        return False
    if enterprise_id:
        return user_team.startswith("E") and user_team != enterprise_id
    return True


class LazyAdminCheck:
    def __init__(self, check: AdminCheck) -> None:
        self._check = check
        self._answer: bool | None = None

    async def __call__(self) -> bool:
        if self._answer is None:
            self._answer = await self._check()
        return self._answer


def _refuse(deps: Deps, body: dict, workspace: str) -> BoltResponse:
    message = sentence(FOREIGN_USER)
    if body.get("type") == "view_submission":
        payload: dict = {"response_action": "update", "view": notice_modal("Meetings", FOREIGN_USER)}
        return BoltResponse(status=200, body=json.dumps(payload), headers={"content-type": "application/json"})
    if body.get("command"):
        payload = {**message.to_slack(), "response_type": "ephemeral"}
        return BoltResponse(status=200, body=json.dumps(payload), headers={"content-type": "application/json"})
    if _text(body.get("response_url")):
        async def told():
            return message
        deps.background.answer(told(), response_url=body["response_url"], team_id=workspace)
    return BoltResponse(status=200, body="")


def register(app: AsyncApp, deps: Deps) -> None:
    @app.middleware
    async def who_and_where(context: AsyncBoltContext, body: dict, next: Callable[[], Awaitable[None]]):
        workspace, enterprise_id = workspace_of(body), enterprise_of(body)
        user_id, user_team = user_of(body)
        context["workspace"] = workspace
        context["user_id"] = user_id
        context["user_team"] = user_team
        context["enterprise_id"] = enterprise_id
        context["is_admin"] = LazyAdminCheck(
            lambda: is_admin(deps, team_id=workspace, user_id=user_id, enterprise_id=enterprise_id))
        acting = body.get("type") in ("block_actions", "view_submission") or bool(body.get("command"))
        if acting and is_foreign(user_team=user_team, workspace=workspace, enterprise_id=enterprise_id):
            return _refuse(deps, body, workspace)
        return await next()
