"""A loopback stand-in for the Slack Web API, response_urls and the OAuth redirect.

`FakeSlack` is a Starlette app. Serve it on a real port (`fake.serve()` or
`ThreadedServer(fake.app)` + `fake.set_base_url(...)`) and point the real clients at it:
`AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)`. It answers the way Slack does
where the bot relies on it (see docs/slack.md):

* `POST|GET /api/<method>`: form-encoded, JSON or query-string arguments; token from
  `Authorization: Bearer` or a `token` field. Errors come back as HTTP 200 `{"ok": false}`,
  rate limits as HTTP 429 + `Retry-After`, injected server errors as plain-text 5xx.
* Block Kit is checked with explicit rules modelled on what real Slack rejects
  (`invalid_blocks`, `msg_blocks_too_long`, `msg_too_long`, `no_text`, ...).
* `POST /response/<id>`: response_urls handed out by `new_response_url()`; 5 uses, 30 minutes.
* `GET /oauth/v2/authorize`: redirects to `redirect_uri?code=...&state=...` so the whole
  OAuth install can run against the fake; `oauth.v2.access` exchanges the code.

Everything is recorded (thread-safe: the server runs in its own thread) in `calls`,
`responses`, `errors` and `warnings`; `wait_for_call` / `wait_for_response` (and their
`_async` twins for tests whose event loop also runs the bot) poll until something arrives.
`hold(method)` keeps calls to a method unanswered until `release(method)`: a slow call for
exactly as long as a test needs, where `latency` would make it guess.
"""

from bot.fakes.slack.blockkit import validate_blocks, validate_message, validate_view
from bot.fakes.slack.fake import FakeSlack
from bot.fakes.slack.limits import MESSAGE_BLOCKS_MAX, VIEW_BLOCKS_MAX
from bot.fakes.slack.records import ApiCall, FakeWarning, ResponsePost

__all__ = [
    "MESSAGE_BLOCKS_MAX",
    "VIEW_BLOCKS_MAX",
    "ApiCall",
    "FakeSlack",
    "FakeWarning",
    "ResponsePost",
    "validate_blocks",
    "validate_message",
    "validate_view",
]
