"""`FakeSlack`: the Web API, response_url and OAuth endpoints, what they record, and the waits on it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import itertools
import json
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.fakes.server import ThreadedServer
from bot.fakes.slack.blockkit import compact_json, validate_message
from bot.fakes.slack.limits import MESSAGE_BLOCKS_CHARS_MAX, RESPONSE_URL_TTL, RESPONSE_URL_USES
from bot.fakes.slack.records import (
    ApiCall,
    FakeWarning,
    Fault,
    ResponsePost,
    ResponseUrl,
    SlackWorkspace,
)
from bot.fakes.slack.web_api import WebApiMethods, _truthy


class FakeSlack(WebApiMethods):
    """Loopback Slack Web API (see bot/fakes/slack/__init__.py)."""

    METHODS = (
        "api.test", "auth.test", "auth.revoke",
        "chat.postMessage", "chat.postEphemeral", "chat.update", "chat.delete", "chat.getPermalink",
        "views.open", "views.update", "views.push", "views.publish",
        "users.info", "users.list", "users.lookupByEmail", "users.conversations",
        "conversations.info", "conversations.list", "conversations.join",
        "oauth.v2.access",
    )
    _JSON_FIELDS = ("blocks", "attachments", "view", "metadata")

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",
        team_id: str = "T0001",
        team_name: str = "Demo Team",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0APP",
        per_channel_post_interval: float | None = None,
        client_id: str = "1111.2222",
        client_secret: str = "fake-client-secret",
        blocks_chars_max: int = MESSAGE_BLOCKS_CHARS_MAX,
    ) -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.team_name = team_name
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.per_channel_post_interval = per_channel_post_interval
        self.client_id = client_id
        self.client_secret = client_secret
        self.blocks_chars_max = blocks_chars_max
        # For a stand-in in another process (benchmarks): a response_url id the fake never
        # handed out is accepted as new instead of 404, since the caller cannot ask for one.
        self.open_response_urls = False
        #: seconds to wait before answering any API call / response_url post
        self.latency: float = 0.0
        #: per-method extra latency, e.g. {"views.open": 4.0} to expire a trigger_id
        self.method_latency: dict[str, float] = {}
        #: method -> what releases it: calls to a held method wait unanswered until release(method),
        #: so a test keeps a slow call (a users.list page) open exactly as long as it needs to
        self._holds: dict[str, threading.Event] = {}
        #: method -> calls to it waiting in a hold right now
        self.held: dict[str, int] = defaultdict(int)
        #: redirect target for /oauth/v2/authorize when the request carries none
        self.oauth_redirect_uri: str | None = None
        #: Slack's per-method rate tiers for the directory methods: (calls, per seconds). Past it, a
        #: 429 with Retry-After, like Slack (users.list is Tier 2, users.lookupByEmail Tier 3).
        self.tier_limits: dict[str, tuple[int, float]] = {"users.list": (20, 60.0), "users.lookupByEmail": (50, 60.0)}
        self._tier_calls: dict[tuple[str, str], deque[float]] = defaultdict(deque)

        self.base_url: str | None = None
        self._lock = threading.RLock()
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._server: ThreadedServer | None = None

        self.calls: list[ApiCall] = []
        self.responses: list[ResponsePost] = []
        self.warnings: list[FakeWarning] = []
        self.users: dict[str, dict] = {}
        self.channels: dict[str, dict] = {}
        #: channel id -> the user ids in it (users.conversations)
        self.channel_members: dict[str, set[str]] = defaultdict(set)
        #: (channel, ts) -> message as stored after post/update
        self.messages: dict[tuple[str, str], dict] = {}
        #: view id -> view; home tabs also in home_views[user_id]
        self.views: dict[str, dict] = {}
        self.home_views: dict[str, dict] = {}
        self._tokens: dict[str, SlackWorkspace] = {}
        self._revoked: set[str] = set()
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._last_post: dict[str, float] = {}
        self._response_urls: dict[str, ResponseUrl] = {}
        self._triggers: dict[str, tuple[float, bool]] = {}
        self._oauth_codes: dict[str, dict] = {}

        self.add_workspace(team_id, team_name=team_name, bot_token=bot_token, bot_user_id=bot_user_id, bot_id=bot_id)
        self.add_user(bot_user_id, name="meetings-bot", is_bot=True)

        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._api_endpoint, methods=["GET", "POST"]),
                Route("/response/{url_id}", self._response_endpoint, methods=["POST"]),
                Route("/oauth/v2/authorize", self._authorize_endpoint, methods=["GET"]),
                Route("/_fake/stats", self._stats_endpoint, methods=["GET"]),
                Route("/_fake/posts", self._posts_endpoint, methods=["GET"]),
            ]
        )

    # -- serving ----------------------------------------------------------------------
    def set_base_url(self, url: str) -> None:
        self.base_url = url.rstrip("/")

    def serve(self, *, host: str = "127.0.0.1", port: int | None = None) -> ThreadedServer:
        """Start serving on a loopback port; returns the started ThreadedServer (call .stop())."""
        server = ThreadedServer(self.app, host=host, port=port).start()
        self._server = server
        self.set_base_url(server.url)
        return server

    def __enter__(self) -> FakeSlack:
        self.serve()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def url(self) -> str:
        if self.base_url is None:
            raise RuntimeError("FakeSlack has no base URL yet: call serve() or set_base_url()")
        return self.base_url

    @property
    def api_url(self) -> str:
        """Pass as `base_url` to AsyncWebClient (ends with '/')."""
        return self.url + "/api/"

    @property
    def authorize_url(self) -> str:
        """Pass as AsyncOAuthSettings(authorization_url=...)."""
        return self.url + "/oauth/v2/authorize"

    def client(self, token: str | None = None, **kwargs):
        """An AsyncWebClient pointed at this fake (bot token by default)."""
        from slack_sdk.web.async_client import AsyncWebClient

        return AsyncWebClient(token=token or self.bot_token, base_url=self.api_url, **kwargs)

    # -- world setup ------------------------------------------------------------------
    def add_workspace(
        self,
        team_id: str,
        *,
        team_name: str | None = None,
        bot_token: str | None = None,
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
    ) -> str:
        """Register a workspace and a valid bot token for it; returns the token."""
        token = bot_token or f"xoxb-{team_id}-{next(self._ids)}"
        ws = SlackWorkspace(
            team_id=team_id,
            team_name=team_name or team_id,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            domain=re.sub(r"[^a-z0-9-]", "-", (team_name or team_id).lower()),
        )
        with self._lock:
            self._tokens[token] = ws
            self._revoked.discard(token)
        return token

    def revoke_token(self, token: str) -> None:
        """Further calls with `token` get `token_revoked` (like after app_uninstalled)."""
        with self._lock:
            self._revoked.add(token)

    def add_user(
        self,
        user_id: str,
        *,
        is_admin: bool = False,
        is_owner: bool = False,
        tz: str = "America/Los_Angeles",
        tz_offset: int = -28800,
        name: str | None = None,
        real_name: str | None = None,
        email: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        team_id: str | None = None,
        enterprise_id: str | None = None,
        teams: list[str] | None = None,
    ) -> dict:
        """A user as users.info returns them. With `enterprise_id`, an Enterprise Grid member:
        `enterprise_user` names the org and the workspaces (`teams`) they belong to."""
        name = name or user_id.lower()
        user = {
            "id": user_id,
            "team_id": team_id or self.team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real_name or name,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": tz_offset,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": 1700000000,
            "profile": {
                "real_name": real_name or name,
                "display_name": name,
                **({"email": email} if email else {}),
            },
        }
        if enterprise_id:
            user["enterprise_user"] = {"id": user_id, "enterprise_id": enterprise_id,
                                       "enterprise_name": f"{enterprise_id} org", "is_admin": is_admin,
                                       "is_owner": is_owner, "teams": list(teams or [team_id or self.team_id])}
        with self._lock:
            self.users[user_id] = user
        return user


    def add_members(self, count: int, *, prefix: str = "UM", domain: str = "members.example") -> list[str]:
        """`count` ordinary members (for directory benchmarks): Member 1 … with emails."""
        ids = []
        for number in range(1, count + 1):
            user_id = f"{prefix}{number:06d}"
            self.add_user(user_id, name=f"member{number}", real_name=f"Member {number}",
                          email=f"member{number}@{domain}")
            ids.append(user_id)
        return ids

    def add_channel(
        self,
        channel_id: str,
        name: str,
        is_private: bool = False,
        is_member: bool = True,
        *,
        is_archived: bool = False,
    ) -> dict:
        channel = {
            "id": channel_id,
            "name": name,
            "name_normalized": name,
            "is_channel": not is_private,
            "is_group": is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": is_private,
            "is_archived": is_archived,
            "is_general": name == "general",
            "is_member": is_member,
            "created": 1700000000,
            "creator": "U0ADMIN",
        }
        with self._lock:
            self.channels[channel_id] = channel
        return channel

    def add_member(self, channel_id: str, *user_ids: str) -> None:
        """Put users in a channel (what users.conversations answers)."""
        with self._lock:
            self.channel_members[channel_id].update(user_ids)

    def new_response_url(
        self, *, channel: str | None = None, message_ts: str | None = None, user_id: str | None = None
    ) -> str:
        """A fresh absolute response_url. With channel + message_ts, replace/delete_original act on it."""
        with self._lock:
            url_id = f"R{next(self._ids):06d}"
            self._response_urls[url_id] = ResponseUrl(
                url_id, time.monotonic(), channel=channel, message_ts=message_ts, user_id=user_id
            )
        return f"{self.url}/response/{url_id}"

    def new_trigger_id(self) -> str:
        """A trigger_id the fake will police: single use, expires after 3 s."""
        with self._lock:
            trigger = f"{next(self._ids)}.{int(time.time())}.fake{next(self._ids):08x}"
            self._triggers[trigger] = (time.monotonic(), False)
        return trigger

    def new_oauth_code(
        self,
        *,
        team_id: str | None = None,
        team_name: str | None = None,
        bot_user_id: str | None = None,
        bot_id: str | None = None,
        user_id: str = "U0INSTALL",
        scope: str = "chat:write,chat:write.public,commands,users:read,channels:read",
        redirect_uri: str | None = None,
    ) -> str:
        """A one-time code that oauth.v2.access exchanges for an installation in `team_id`."""
        with self._lock:
            code = f"code-{next(self._ids)}-{int(time.time())}"
            self._oauth_codes[code] = {
                "team_id": team_id or self.team_id,
                "team_name": team_name or (self.team_name if not team_id or team_id == self.team_id else team_id),
                "bot_user_id": bot_user_id or self.bot_user_id,
                "bot_id": bot_id or self.bot_id,
                "user_id": user_id,
                "scope": scope,
                "redirect_uri": redirect_uri,
            }
        return code

    # -- faults -----------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        error: str = "ratelimited",
        times: int = 1,
        extra: dict | None = None,
    ) -> None:
        """Make the next `times` calls to `method` fail ("response_url" for response_url posts).

        status 429: HTTP 429 + Retry-After + {"ok": false, "error": error};
        status >= 500: plain-text 5xx; status 200: HTTP 200 {"ok": false, "error": error, **extra}
        (missing_scope comes with {"needed": "<scope>", "provided": "<scopes>"}).
        """
        if status == 200 and error == "ratelimited":
            raise ValueError("fail_next(status=200) needs an error code, e.g. error='channel_not_found'")
        with self._lock:
            self._faults[method].append(Fault(status, retry_after, error, times, dict(extra or {})))

    def reset(self) -> None:
        """Forget recorded calls, responses, warnings, faults and pacing (keeps users/channels/tokens)."""
        with self._lock:
            self.calls.clear()
            self.responses.clear()
            self.warnings.clear()
            self._faults.clear()
            self._last_post.clear()

    # -- inspection -------------------------------------------------------------------
    def calls_to(self, method: str, *, ok: bool | None = None) -> list[ApiCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    @property
    def errors(self) -> list[ApiCall | ResponsePost]:
        """Every rejected API call or response_url post, in order."""
        with self._lock:
            items: list[ApiCall | ResponsePost] = [c for c in self.calls if not c.ok]
            items += [r for r in self.responses if not r.ok]
        return sorted(items, key=lambda x: x.at)

    @property
    def unexpected_errors(self) -> list[ApiCall | ResponsePost]:
        """Rejections not caused by fail_next() or per-channel pacing: bot bugs, usually. A
        users.lookupByEmail `users_not_found` is that method's answer for a stranger, not a bug."""
        return [e for e in self.errors if not e.injected and not (
            isinstance(e, ApiCall) and e.method == "users.lookupByEmail" and e.error == "users_not_found")]

    def channel_messages(self, channel: str) -> list[dict]:
        """Messages currently in `channel` (after updates/deletes), oldest first."""
        with self._lock:
            found = [m for (ch, _), m in self.messages.items() if ch == channel]
        return sorted(found, key=lambda m: m["ts"])

    def response_posts(self, url: str, *, ok: bool | None = True) -> list[dict]:
        url_id = self._url_id(url)
        with self._lock:
            return [r.body for r in self.responses if r.url_id == url_id and (ok is None or r.ok == ok)]

    def dump(self) -> str:
        """Readable summary of everything recorded (used in assertion messages)."""
        with self._lock:
            lines = [f"{len(self.calls)} API call(s):"]
            for c in self.calls:
                status = "ok" if c.ok else f"{c.status} {c.error}"
                lines.append(f"  {c.method} [{status}] {_short(c.args)}")
                lines += [f"      {d}" for d in c.details[:5]]
            lines.append(f"{len(self.responses)} response_url post(s):")
            for r in self.responses:
                status = "ok" if r.ok else f"{r.status} {r.error}"
                lines.append(f"  {r.url_id} [{status}] {_short(r.body)}")
            if self.warnings:
                lines.append(f"{len(self.warnings)} warning(s):")
                lines += [f"  {w.where}: {w.kind} {w.detail}" for w in self.warnings]
        return "\n".join(lines)

    def _match_calls(self, method: str, predicate: Callable[[ApiCall], bool] | None) -> list[ApiCall]:
        with self._lock:
            calls = [c for c in self.calls if c.method == method]
        return [c for c in calls if predicate is None or predicate(c)]

    def wait_for_call(
        self,
        method: str,
        timeout: float = 10.0,
        predicate: Callable[[ApiCall], bool] | None = None,
        count: int = 1,
    ) -> list[ApiCall]:
        """Block until `count` calls to `method` (matching `predicate(call)`) were seen; returns them all.

        Blocks the calling thread: if the bot runs on this thread's event loop, use
        `await wait_for_call_async(...)` instead.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self._match_calls(method, predicate)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(f"{count} call(s) to {method}", len(found), timeout))
            time.sleep(0.01)

    async def wait_for_call_async(
        self,
        method: str,
        timeout: float = 10.0,
        predicate: Callable[[ApiCall], bool] | None = None,
        count: int = 1,
    ) -> list[ApiCall]:
        deadline = time.monotonic() + timeout
        while True:
            found = self._match_calls(method, predicate)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    self._timeout_message(f"{count} call(s) to {method}", len(found), timeout, hint=False)
                )
            await asyncio.sleep(0.01)

    def wait_for_response(self, url: str, timeout: float = 10.0, count: int = 1) -> list[dict]:
        """Block until `count` accepted posts to this response_url; returns their JSON bodies."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.response_posts(url)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    self._timeout_message(f"{count} post(s) to response_url {url}", len(found), timeout)
                )
            time.sleep(0.01)

    async def wait_for_response_async(self, url: str, timeout: float = 10.0, count: int = 1) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.response_posts(url)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    self._timeout_message(f"{count} post(s) to response_url {url}", len(found), timeout, hint=False)
                )
            await asyncio.sleep(0.01)

    def _timeout_message(self, wanted: str, got: int, timeout: float, hint: bool = True) -> str:
        msg = f"FakeSlack: waited {timeout}s for {wanted}, saw {got}.\n{self.dump()}"
        if hint:
            try:
                asyncio.get_running_loop()
                msg += (
                    "\n(hint: this wait blocked a running event loop; if the bot runs on it, "
                    "use the *_async variant)"
                )
            except RuntimeError:
                pass
        return msg

    # -- holding calls ----------------------------------------------------------------
    def hold(self, method: str) -> None:
        """Calls to `method` from now on wait, unanswered and unrecorded, until release(method)."""
        with self._lock:
            self._holds.setdefault(method, threading.Event()).clear()

    def release(self, method: str) -> None:
        """Answer the held calls to `method` and stop holding new ones."""
        with self._lock:
            gate = self._holds.pop(method, None)
        if gate is not None:
            gate.set()

    async def _wait_while_held(self, method: str) -> None:
        with self._lock:
            gate = self._holds.get(method)
            if gate is None:
                return
            self.held[method] += 1
        try:
            while not gate.is_set():
                await asyncio.sleep(0.01)
        finally:
            with self._lock:
                self.held[method] -= 1

    # -- HTTP: Web API ----------------------------------------------------------------
    async def _api_endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        args, token, basic = await self._parse(request)
        delay = self.latency + self.method_latency.get(method, 0.0)
        if delay:
            await asyncio.sleep(delay)
        await self._wait_while_held(method)
        with self._lock:
            status, body, headers, ws, injected, details = self._dispatch(method, args, token, basic)
            ok = status == 200 and isinstance(body, dict) and bool(body.get("ok"))
            error = None if ok else (body.get("error") if isinstance(body, dict) else body)
            self.calls.append(
                ApiCall(
                    method=method,
                    args=args,
                    ok=ok,
                    error=error,
                    at=time.time(),
                    status=status,
                    team_id=ws.team_id if ws else None,
                    response=body if isinstance(body, dict) else None,
                    injected=injected,
                    details=details,
                )
            )
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=headers)
        return PlainTextResponse(body, status_code=status, headers=headers)

    async def _parse(self, request: Request) -> tuple[dict, str | None, tuple[str, str] | None]:
        args: dict[str, Any] = dict(request.query_params)
        raw = await request.body()
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if raw:
            if ctype == "application/json":
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = {"__invalid__": "invalid_json"}
                if not isinstance(data, dict):
                    data = {"__invalid__": "invalid_json"}
                args.update(data)
            elif ctype.startswith("multipart/"):
                args["__invalid__"] = "invalid_form_data"  # file uploads are not faked
            else:
                args.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        for key in self._JSON_FIELDS:
            if isinstance(args.get(key), str) and args[key].strip():
                with contextlib.suppress(ValueError):  # left as a string; validation reports it
                    args[key] = json.loads(args[key])
        token = None
        basic = None
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        elif auth.lower().startswith("basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:].strip()).decode().partition(":")
                basic = (user, pw)
            except Exception:
                basic = ("", "")
        form_token = args.pop("token", None)
        token = token or form_token
        return args, token, basic

    def _dispatch(self, method: str, args: dict, token: str | None, basic) -> tuple:
        """-> (status, body, headers, workspace, injected, details). Called with the lock held."""
        if method not in self.METHODS:
            return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}, None, False, []
        if "__invalid__" in args:
            return 200, {"ok": False, "error": args.pop("__invalid__")}, {}, None, False, []
        ws = None
        if method != "oauth.v2.access":
            if not token:
                return 200, {"ok": False, "error": "not_authed"}, {}, None, False, []
            if token in self._revoked:
                return 200, {"ok": False, "error": "token_revoked"}, {}, None, False, []
            ws = self._tokens.get(token)
            if ws is None:
                return 200, {"ok": False, "error": "invalid_auth"}, {}, None, False, []
        fault = self._take_fault(method)
        if fault is not None:
            status, body, headers = fault
            return status, body, headers, ws, True, []
        handler = getattr(self, "_m_" + method.replace(".", "_"))
        result = handler(args, ws, token, basic)
        if len(result) == 2:  # (body, details)
            body, details = result
            return 200, body, {}, ws, False, details
        status, body, headers = result  # paced
        return status, body, headers, ws, True, []

    def _take_fault(self, method: str) -> tuple[int, Any, dict] | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        if fault.status == 429:
            return 429, {"ok": False, "error": fault.error}, {"Retry-After": str(fault.retry_after)}
        if fault.status >= 500:
            return fault.status, f"{fault.status} fake upstream error", {}
        return fault.status, {"ok": False, "error": fault.error, **fault.extra}, {}

    # -- HTTP: OAuth redirect -----------------------------------------------------------
    async def _authorize_endpoint(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id:
            return PlainTextResponse("invalid_client_id", status_code=400)
        redirect_uri = q.get("redirect_uri") or self.oauth_redirect_uri
        if not redirect_uri:
            return PlainTextResponse("bad_redirect_uri (pass redirect_uri or set oauth_redirect_uri)", 400)
        code = self.new_oauth_code(
            team_id=q.get("team") or None,
            user_id=q.get("user") or "U0INSTALL",  # who approves (a test's stand-in for the signed-in person)
            scope=q.get("scope") or "chat:write",
            redirect_uri=q.get("redirect_uri") or None,
        )
        params = {"code": code}
        if q.get("state") is not None:
            params["state"] = q["state"]
        parts = urlsplit(redirect_uri)
        query = parts.query + ("&" if parts.query else "") + urlencode(params)
        return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=302)

    # -- HTTP: response_url -----------------------------------------------------------
    def _url_id(self, url: str) -> str:
        return url.rstrip("/").rsplit("/", 1)[-1]

    async def _response_endpoint(self, request: Request) -> Response:
        url_id = request.path_params["url_id"]
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            body = {"__raw__": raw.decode("utf-8", "replace")}
        delay = self.latency + self.method_latency.get("response_url", 0.0)
        if delay:
            await asyncio.sleep(delay)
        with self._lock:
            status, text, injected, details = self._handle_response_post(url_id, body)
            self.responses.append(
                ResponsePost(
                    url_id=url_id,
                    body=body,
                    ok=status == 200,
                    error=None if status == 200 else text,
                    at=time.time(),
                    status=status,
                    injected=injected,
                    details=details,
                )
            )
        return PlainTextResponse(text, status_code=status)

    async def _stats_endpoint(self, request: Request) -> Response:
        """Counts for a stand-in running in another process (benchmarks)."""
        with self._lock:
            posts = list(self.responses)
        return JSONResponse({
            "response_posts": len(posts),
            "response_posts_ok": sum(1 for p in posts if p.ok),
            "response_urls_answered": len({p.url_id for p in posts if p.ok}),
            "last_response_at": max((p.at for p in posts), default=None),
            "api_calls": len(self.calls),
        })

    async def _posts_endpoint(self, request: Request) -> Response:
        """Every chat.postMessage as answered (benchmarks): when, where, status and fallback text."""
        with self._lock:
            calls = [c for c in self.calls if c.method == "chat.postMessage"]
        return JSONResponse([
            {"at": c.at, "status": c.status, "ok": c.ok, "error": c.error, "channel": c.args.get("channel"),
             "thread_ts": c.args.get("thread_ts"), "text": str(c.args.get("text") or "")[:300]}
            for c in calls
        ])

    def _handle_response_post(self, url_id: str, body: dict) -> tuple[int, str, bool, list[str]]:
        entry = self._response_urls.get(url_id)
        if entry is None and self.open_response_urls:
            entry = self._response_urls[url_id] = ResponseUrl(url_id, time.monotonic())
        if entry is None:
            return 404, "no_such_url", False, []
        if time.monotonic() - entry.created > RESPONSE_URL_TTL:
            return 404, "expired_url", False, []
        if entry.uses >= RESPONSE_URL_USES:
            return 404, "used_url", False, []
        fault = self._take_fault("response_url")
        if fault is not None:
            status, fbody, _ = fault
            return status, str(fbody.get("error") or "") if isinstance(fbody, dict) else str(fbody), True, []
        if "__raw__" in body:
            return 400, "invalid_payload", False, []
        if not _truthy(body.get("delete_original")):
            error, details, warnings = validate_message(body, blocks_chars_max=self.blocks_chars_max)
            if error:
                return 400, error, False, details
            self._warn("response_url", warnings)
        entry.uses += 1
        key = (entry.channel, entry.message_ts) if entry.channel and entry.message_ts else None
        if key and key in self.messages:
            if _truthy(body.get("delete_original")):
                del self.messages[key]
            elif _truthy(body.get("replace_original")):
                msg = self.messages[key]
                msg["text"] = body.get("text") or ""
                msg["blocks"] = copy.deepcopy(body.get("blocks") or [])
        return 200, "ok", False, []


def _short(value: Any, limit: int = 160) -> str:
    text = compact_json(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
