"""The held meeting's approval DM (Approve, Post to…, Keep private, Skip) and `/meetings explain`.
Thin: the choice is bot/delivery/approvals.py's, the decision's bot/services/decisions.py's."""

from __future__ import annotations

import json

from slack_bolt.async_app import AsyncApp

from bot.delivery import approvals
from bot.deps import Deps
from bot.services import decisions
from bot.slack.blocks.replies import sentence
from bot.slack.blocks.routing import parse_decision_ref, post_to_modal
from bot.slack.context import AdminCheck
from bot.slack.ids import ActionId, BlockId, CallbackId
from bot.slack.setup_flow import provider_choices

STALE = "That button is out of date. Type `/meetings status` to see the meetings waiting for you."
CHOICES = {ActionId.ROUTE_APPROVE: "approve", ActionId.ROUTE_KEEP_PRIVATE: "keep_private",
           ActionId.ROUTE_SKIP: "skip"}


async def _choose(deps: Deps, *, team_id: str, user_id: str, value: str | None, choice: str,
                  admin: AdminCheck, channel: str | None = None):
    decision_id = parse_decision_ref(value)
    if decision_id is None:
        return sentence(STALE)
    outcome = await approvals.decide(deps, team_id=team_id, decision_id=decision_id, user_id=user_id, choice=choice,
                                     channel=channel, is_admin=admin)
    return sentence(outcome.text)


async def open_personal_connect(deps: Deps, *, team_id: str, user_id: str, trigger_id: str) -> None:
    """`/meetings connect`: the setup modal's personal form, for any member."""
    from bot.services import setup as setup_service
    from bot.slack.blocks.setup import setup_modal
    mine = None
    for name, _display in provider_choices():
        mine = mine or await setup_service.personal_connection(deps.db, team_id, name, user_id)
    url = deps.settings.webhook_url(mine.provider, mine.webhook_token) if mine else None
    await deps.slack_client(team_id, interactive=True).views_open(trigger_id=trigger_id, view=setup_modal(
        providers=provider_choices(), connection=mine, webhook_url=url, personal=True))


def register(app: AsyncApp, deps: Deps) -> None:
    def on(action_id: ActionId, choice: str):
        @app.action(action_id.value)
        async def clicked(ack, body, action, context):
            await ack()
            team_id, user_id = context["workspace"], context["user_id"]
            work = _choose(deps, team_id=team_id, user_id=user_id, value=action.get("value"), choice=choice,
                           admin=context["is_admin"])
            deps.background.answer(work, response_url=body.get("response_url") or "", team_id=team_id)

    for action_id, choice in CHOICES.items():
        on(action_id, choice)
    register_routes(app, deps)

    @app.view(CallbackId.CONNECT_MODAL.value)
    async def personal_connect_submitted(ack, body, view, context):
        import asyncio

        from bot.providers.base import ProviderError
        from bot.providers.registry import PROVIDERS
        from bot.services import setup as setup_service
        from bot.slack import directory
        from bot.slack.blocks.setup import submission_values
        from bot.slack.errors import describe
        from bot.slack.setup_flow import SUBMIT_BUDGET_SECONDS, confirm, finish_late

        team_id, user_id = context["workspace"], context["user_id"]
        values = submission_values(view)
        if values["provider"] not in PROVIDERS:
            await ack(response_action="errors", errors={BlockId.SETUP_PROVIDER.value: "Choose a service."})
            return
        channel = values["channel"]
        if channel:
            from slack_sdk.errors import SlackApiError

            try:
                mine = await asyncio.wait_for(directory.member_of(deps, team_id, user_id), timeout=1.0)
            except (TimeoutError, SlackApiError):
                mine = None  # cannot tell now: accept it; the sender reports a channel it cannot post to
            if mine is not None and channel not in mine:
                await ack(response_action="errors", errors={BlockId.SETUP_CHANNEL.value: (
                    "You are not in that channel: pick one you are in, or leave it empty to get your digests "
                    "by DM.")})
                return
        request = setup_service.SetupRequest(
            team_id=team_id, user_id=user_id, provider=values["provider"], api_key=values["api_key"],
            channel=channel, webhook_secret=values["webhook_secret"],
            posts=frozenset(p for p in values["posts"] if p), register_webhook=values["register_webhook"],
            personal=True)
        task = asyncio.get_running_loop().create_task(setup_service.save_setup(deps, request))
        done, _ = await asyncio.wait({task}, timeout=SUBMIT_BUDGET_SECONDS)
        if task not in done:
            await ack()
            deps.background.run(finish_late(deps, request, task), what="finishing a slow personal connect")
            return
        try:
            outcome = task.result()
        except setup_service.KeyRejected as exc:
            await ack(response_action="errors", errors={BlockId.SETUP_API_KEY.value: str(exc)[:500]})
            return
        except ProviderError as exc:
            await ack(response_action="errors",
                      errors={BlockId.SETUP_API_KEY.value: describe(exc, team_id=team_id).text[:500]})
            return
        await ack()
        deps.background.run(confirm(deps, request, outcome), what="confirming a personal connect")

    @app.action(ActionId.ROUTE_POST_TO.value)
    async def post_to_clicked(ack, body, action, context):
        await ack()
        team_id = context["workspace"]
        decision_id = parse_decision_ref(action.get("value"))
        decision = await decisions.get(deps.db, team_id=team_id, decision_id=decision_id) if decision_id else None
        if decision is None:
            deps.background.answer(_stale(), response_url=body.get("response_url") or "", team_id=team_id)
            return
        await deps.slack_client(team_id, interactive=True).views_open(
            trigger_id=body["trigger_id"], view=post_to_modal(decision.id, title=decision.meeting_title))

    @app.view(CallbackId.ROUTE_POST_TO_MODAL.value)
    async def post_to_submitted(ack, body, view, context):
        team_id, user_id, admin = context["workspace"], context["user_id"], context["is_admin"]
        values = (view.get("state") or {}).get("values") or {}
        channel = ((values.get(BlockId.ROUTE_POST_TO_CHANNEL.value) or {})
                   .get(ActionId.ROUTE_POST_TO_CHANNEL.value) or {}).get("selected_conversation")
        if not channel:
            await ack(response_action="errors", errors={BlockId.ROUTE_POST_TO_CHANNEL.value: "Pick a channel."})
            return
        await ack()
        try:
            ref = json.loads(view.get("private_metadata") or "{}").get("ref")
        except ValueError:
            ref = None

        async def work() -> None:
            message = await _choose(deps, team_id=team_id, user_id=user_id, value=ref, choice="post_to",
                                    admin=admin, channel=channel)
            await deps.slack_client(team_id, interactive=True).chat_postMessage(channel=user_id, **message.to_slack())

        deps.background.run(work(), what="post to a chosen channel")


async def _stale():
    return sentence(STALE)


# --------------------------------------------------------------------------- /meetings routes

NOT_YOURS = ("Only workspace admins edit the workspace's routing rules. To route your own meetings, connect "
             "your account with `/meetings connect`, then `/meetings routes` edits its rules.")


async def _scope_for(deps: Deps, team_id: str, user_id: str) -> tuple[bool, int | None] | None:
    """(is admin, personal connection id or None) of whoever opens the rules; None: nothing to edit."""
    from bot.services import setup as setup_service
    from bot.slack.visibility import viewer_is_admin

    if await viewer_is_admin(deps, team_id, user_id):
        return True, None
    for name, _display in provider_choices():
        mine = await setup_service.personal_connection(deps.db, team_id, name, user_id)
        if mine is not None:
            return False, mine.id
    return None


async def _allowed(deps: Deps, team_id: str, user_id: str, scope: int | None) -> bool:
    found = await _scope_for(deps, team_id, user_id)
    return found is not None and (found[0] or found[1] == scope)


async def _routes_view(deps: Deps, team_id: str, scope: int | None, notice: str | None = None) -> dict:
    from bot.services import route_rules
    from bot.slack.blocks.routes import routes_modal

    rules = await route_rules.list_rules(deps.db, team_id, connection_id=scope)
    return routes_modal(rules, scope=scope, personal=scope is not None, notice=notice)


async def open_routes(deps: Deps, *, team_id: str, user_id: str, trigger_id: str):
    found = await _scope_for(deps, team_id, user_id)
    if found is None:
        return sentence(NOT_YOURS)
    await deps.slack_client(team_id, interactive=True).views_open(trigger_id=trigger_id,
                                                                  view=await _routes_view(deps, team_id, found[1]))
    return None


async def _channel_problem(deps: Deps, team_id: str, channels: list[str], *, owner: str | None) -> str | None:
    """A channel the bot cannot post to (or, for a personal rule, one its owner is not in): the fix."""
    from slack_sdk.errors import SlackApiError

    from bot.slack import directory

    client = deps.slack_client(team_id)
    for channel in channels:
        try:
            info = (await client.conversations_info(channel=channel)).get("channel") or {}
        except SlackApiError:
            return (f"I can't see <#{channel}>. If it is private, type `/invite @meetings-bot` there first, "
                    "then save again.")
        if info.get("is_archived"):
            return f"<#{channel}> is archived: pick another channel."
        if info.get("is_private") and not info.get("is_member"):
            return f"I am not in <#{channel}>: type `/invite @meetings-bot` there first, then save again."
    if owner and channels:
        mine = await directory.member_of(deps, team_id, owner)
        outside = [c for c in channels if c not in mine]
        if outside:
            return f"You are not in <#{outside[0]}>: your rules post only to channels you are in."
    return None


def register_routes(app: AsyncApp, deps: Deps) -> None:
    from bot.services import route_rules
    from bot.slack.blocks.routes import form_values, rule_form

    @app.action(ActionId.ROUTE_RULE_MENU.value)
    async def rule_menu(ack, body, action, context):
        await ack()
        team_id, user_id = context["workspace"], context["user_id"]
        view = body.get("view") or {}
        scope = json.loads(view.get("private_metadata") or "{}").get("scope")
        choice, _, number = ((action.get("selected_option") or {}).get("value") or "").partition(":")

        async def work() -> None:
            client = deps.slack_client(team_id, interactive=True)
            if not await _allowed(deps, team_id, user_id, scope) or not (number.isascii() and number.isdigit()):
                await client.views_update(view_id=view["id"], view=await _routes_view(
                    deps, team_id, scope, notice="You cannot change these rules."))
                return
            notice = None
            try:
                rule = await route_rules.get_rule(deps.db, team_id=team_id, rule_id=int(number))
                if rule.connection_id != scope or rule.id is None:
                    raise route_rules.RuleError("That rule is not in this list any more.")
                if choice == "edit" and rule.builtin:
                    await route_rules.set_builtin(deps.db, team_id=team_id, on=not rule.enabled, actor=user_id)
                elif choice == "edit":
                    await client.views_push(trigger_id=body["trigger_id"],
                                            view=rule_form(rule, scope=scope, root_view=view["id"]))
                    return
                elif choice in ("up", "down"):
                    await route_rules.move_rule(deps.db, team_id=team_id, rule_id=rule.id, actor=user_id,
                                                position=max(1, rule.position + (-1 if choice == "up" else 1)))
                elif choice == "delete":
                    await route_rules.remove_rule(deps.db, team_id=team_id, rule_id=rule.id, actor=user_id)
                    notice = f"Deleted “{rule.name}”."
            except route_rules.RuleError as exc:
                notice = str(exc)
            await client.views_update(view_id=view["id"], view=await _routes_view(deps, team_id, scope, notice))

        deps.background.run(work(), what="changing a routing rule")

    @app.action(ActionId.ROUTE_RULE_ADD.value)
    async def add_clicked(ack, body, client):
        await ack()
        view = body.get("view") or {}
        scope = json.loads(view.get("private_metadata") or "{}").get("scope")
        await client.views_push(trigger_id=body["trigger_id"], view=rule_form(None, scope=scope,
                                                                              root_view=view.get("id") or ""))

    @app.view(CallbackId.ROUTE_RULE_FORM.value)
    async def rule_submitted(ack, body, view, context):
        import asyncio

        team_id, user_id = context["workspace"], context["user_id"]
        meta = json.loads(view.get("private_metadata") or "{}")
        scope, rule_id, root = meta.get("scope"), meta.get("rule"), meta.get("root")
        values = form_values(view)
        if not await _allowed(deps, team_id, user_id, scope):
            await ack(response_action="errors", errors={BlockId.ROUTE_FORM_NAME.value: NOT_YOURS[:150]})
            return
        if values["action"] != "channels":
            values["channels"] = []
        if values["action"] != "hold":
            values["approver"] = None
        try:
            route_rules.validate(name=values["name"], action=values["action"], channels=values["channels"],
                                 approver=values["approver"], conditions=values["conditions"])
            problem = await asyncio.wait_for(_channel_problem(deps, team_id, values["channels"],
                                                              owner=user_id if scope is not None else None), 1.5)
        except route_rules.RuleError as exc:
            where = BlockId.ROUTE_FORM_CHANNELS if "channel" in str(exc).lower() else BlockId.ROUTE_FORM_NAME
            await ack(response_action="errors", errors={where.value: str(exc)[:150]})
            return
        except TimeoutError:
            problem = None  # Slack is slow: the sender will say so if a channel really is out of reach
        if problem:
            await ack(response_action="errors", errors={BlockId.ROUTE_FORM_CHANNELS.value: problem[:150]})
            return
        try:
            if rule_id is None:
                await route_rules.add_rule(deps.db, team_id=team_id, actor=user_id, name=values["name"],
                                           conditions=values["conditions"], action=values["action"],
                                           channels=values["channels"], approver=values["approver"],
                                           connection_id=scope)
            else:
                await route_rules.update_rule(deps.db, team_id=team_id, rule_id=int(rule_id), actor=user_id,
                                              name=values["name"], conditions=values["conditions"],
                                              action=values["action"], channels=values["channels"],
                                              approver=values["approver"])
        except route_rules.RuleError as exc:
            await ack(response_action="errors", errors={BlockId.ROUTE_FORM_NAME.value: str(exc)[:150]})
            return
        await ack()
        if root:
            deps.background.run(_refresh_root(deps, team_id, root, scope, f"Saved “{values['name']}”."),
                                what="refreshing the routing rules")


async def _refresh_root(deps: Deps, team_id: str, root: str, scope: int | None, notice: str) -> None:
    view = await _routes_view(deps, team_id, scope, notice)
    await deps.slack_client(team_id, interactive=True).views_update(view_id=root, view=view)
