"""The App Home tab: the connection's status, recent digests and the viewer's own open todos."""

from __future__ import annotations

from bot.delivery import outbox
from bot.deps import Deps
from bot.providers.registry import provider_info
from bot.services import decisions
from bot.services import setup as setup_service
from bot.services import todos as todo_service
from bot.slack.blocks.home import home_view
from bot.slack.context import AdminCheck
from bot.slack.visibility import visible_todos


async def publish_home(deps: Deps, *, team_id: str, user_id: str, admin: AdminCheck) -> None:
    connection = await setup_service.saved_connection(deps.db, team_id)
    view = home_view(
        connection=connection,
        provider_name=provider_info(connection.provider).display_name if connection else None,
        # A digest in someone's DM (kept private, or a personal connection's) is theirs alone.
        digests=[m for m in await outbox.recent_digests(deps.db, team_id=team_id, limit=20)
                 if m.channel[:1] not in ("U", "W", "D") or m.channel == user_id][:5],
        viewer_is_admin=await admin(),
        my_todos=await visible_todos(deps, team_id=team_id, user_id=user_id, states=await
                                     todo_service.open_for_owner(deps.db, team_id=team_id, owner=user_id, limit=50)),
        waiting=len(await decisions.held_for(deps.db, team_id=team_id, user_id=user_id)),
    )
    # Someone is looking at the tab: a 429 is retried after its Retry-After, not dropped.
    await deps.slack_client(team_id, interactive=True).views_publish(user_id=user_id, view=view)
