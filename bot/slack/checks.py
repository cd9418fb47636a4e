"""Checks an operator's command runs against Slack before it stores anything: is this team the one
the bot token (or an install) belongs to, and can the bot see this channel? Used by
`meetings-bot connect` and `meetings-bot doctor`."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings
from bot.slack.installations import SqlInstallationStore
from bot.store.crypto import SecretBox
from bot.store.db import Database


@dataclass(frozen=True)
class SlackCheck:
    ok: bool | None  # None: could not be checked (no Slack credentials, Slack unreachable)
    detail: str


def _client(settings: Settings, token: str) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=15)


async def _token_for(settings: Settings, db: Database, box: SecretBox, team: str) -> tuple[str | None, SlackCheck]:
    """The bot token that works for `team`, or None and why not."""
    if settings.slack_bot_token is not None:
        token = settings.slack_bot_token.get_secret_value()
        try:
            auth = await _client(settings, token).auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else exc.response.status_code
            return None, SlackCheck(False, f"Slack refused SLACK_BOT_TOKEN ({error}): copy the Bot User OAuth Token "
                                           "again from the app's OAuth & Permissions page")
        except Exception as exc:  # network: say so, do not block the operator
            return None, SlackCheck(None, f"could not reach Slack at {settings.slack_api_url} "
                                          f"({type(exc).__name__}) to check the workspace")
        if auth.get("team_id") != team:
            return None, SlackCheck(False, f"SLACK_BOT_TOKEN belongs to workspace {auth.get('team_id')} "
                                           f"({auth.get('team')}), not {team}: use --team {auth.get('team_id')}")
        return token, SlackCheck(True, f"workspace {team} ({auth.get('team')}) is the bot token's")
    if settings.slack_client_id and settings.slack_client_secret:
        installed = await SqlInstallationStore(db, box).bot_token(team)
        if installed is None:
            return None, SlackCheck(False, f"workspace {team} has not installed the app: install it from "
                                           f"{settings.public_url}/slack/install first")
        return installed, SlackCheck(True, f"workspace {team} has installed the app")
    return None, SlackCheck(None, "not checked: neither SLACK_BOT_TOKEN nor SLACK_CLIENT_ID and "
                                  "SLACK_CLIENT_SECRET are set")


async def check_team(settings: Settings, db: Database, box: SecretBox, team: str) -> SlackCheck:
    return (await _token_for(settings, db, box, team))[1]


async def check_team_and_channel(settings: Settings, db: Database, box: SecretBox, team: str,
                                 channel: str | None) -> tuple[SlackCheck, SlackCheck | None]:
    token, team_check = await _token_for(settings, db, box, team)
    if channel is None:
        return team_check, None
    if token is None:
        return team_check, SlackCheck(None, f"channel {channel} not checked (the workspace could not be)")
    try:
        info = await _client(settings, token).conversations_info(channel=channel)
    except SlackApiError as exc:
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else exc.response.status_code
        if error == "channel_not_found":
            return team_check, SlackCheck(False, f"channel {channel} does not exist in workspace {team}, or it is "
                                                 "private and the bot is not in it: invite the bot (/invite) "
                                                 "or use another channel id")
        return team_check, SlackCheck(False, f"Slack would not show channel {channel} ({error})")
    except Exception as exc:
        return team_check, SlackCheck(None, f"could not reach Slack to check channel {channel} "
                                            f"({type(exc).__name__})")
    found = info.get("channel") or {}
    if found.get("is_archived"):
        return team_check, SlackCheck(False, f"channel {channel} (#{found.get('name')}) is archived")
    if found.get("is_private") and not found.get("is_member"):
        return team_check, SlackCheck(False, f"channel {channel} (#{found.get('name')}) is private and the bot is "
                                             "not in it: invite it with /invite")
    return team_check, SlackCheck(True, f"channel {channel} is #{found.get('name')}")


async def channel_ids_by_name(settings: Settings, db: Database, box: SecretBox, team: str,
                              names: list[str]) -> dict[str, str]:
    """Channel names (without #, any case) → ids, as the bot token sees the workspace's channels
    (`meetings-bot routes add --channel '#sales'`). A name Slack does not show is left out; a
    workspace Slack cannot be asked about raises LookupError with the sentence to show."""
    token, team_check = await _token_for(settings, db, box, team)
    if token is None:
        raise LookupError(team_check.detail.removeprefix("not checked: "))
    wanted = {name.casefold(): name for name in names}
    found: dict[str, str] = {}
    client = _client(settings, token)
    cursor = None
    try:
        for _page in range(100):  # 100 pages of 1000: more channels than any workspace has
            answer = await client.conversations_list(types="public_channel,private_channel", exclude_archived=True,
                                                     limit=1000, cursor=cursor)
            for channel in answer.get("channels") or ():
                for key in ("name", "name_normalized"):
                    name = str(channel.get(key) or "").casefold()
                    if name in wanted and channel.get("id"):
                        found.setdefault(wanted[name], str(channel["id"]))
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor or len(found) == len(wanted):
                break
    except SlackApiError as exc:
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else exc.response.status_code
        raise LookupError(f"Slack would not list the workspace's channels ({error})") from None
    except Exception as exc:
        raise LookupError(f"could not reach Slack at {settings.slack_api_url} ({type(exc).__name__})") from None
    return found
