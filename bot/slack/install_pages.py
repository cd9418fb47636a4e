"""The pages a person sees around an install: success, failure, and the single-workspace notice.
Plain HTML with everything escaped; never a stack trace."""

from __future__ import annotations

from html import escape

from slack_bolt import BoltResponse
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs

FAILURES = {
    "access_denied": "The install was cancelled in Slack, so nothing was installed.",
    "invalid_browser": "This install was started in another browser or its cookie is gone.",
    "invalid_state": "This install link has expired (links last 10 minutes) or was already used.",
    "missing_code": "Slack did not send the install code back.",
    "invalid_code": "Slack did not accept the install code; it may have expired or been used already.",
    "storage_error": "The install reached us, but the server could not save it. Check the server log.",
}


def page(title: str, body_html: str, *, status: int = 200) -> BoltResponse:
    return BoltResponse(status=status, body=page_html(title, body_html),
                        headers={"Content-Type": "text/html; charset=utf-8"})


def install_page_html(authorize_url: str) -> str:
    """Our own page, with no image from Slack's CDN: it works on a locked-down network too."""
    return page_html("Add Meetings bot to Slack",
                     "<p>Meeting digests, minutes and todos from your meeting-notes service, in Slack.</p>"
                     f'<p><a class="button" id="add-to-slack" href="{escape(authorize_url)}">Add to Slack</a></p>'
                     "<p>Slack asks you to pick a workspace and approve the bot's permissions.</p>")


def page_html(title: str, body_html: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Meetings bot</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}}
h1{{font-size:1.5rem}}a.button{{display:inline-block;padding:.6rem 1rem;border-radius:6px;background:#4a154b;
color:#fff;text-decoration:none}}</style></head>
<body><h1>{escape(title)}</h1>{body_html}</body></html>"""


async def success(args: AsyncSuccessArgs) -> BoltResponse:
    team = args.installation.team_name or args.installation.team_id or "your workspace"
    return page("Meetings bot is installed",
                f"<p>Meetings bot is now in <strong>{escape(team)}</strong>.</p>"
                "<p>Next: in Slack, type <code>/meetings setup</code> to connect your meeting-notes service "
                "and choose the channel for digests.</p>")


async def failure(args: AsyncFailureArgs) -> BoltResponse:
    reason = FAILURES.get(args.reason, f"Slack ended the install with “{args.reason}”.")
    status = args.suggested_status_code if args.suggested_status_code >= 400 else 200
    return page("The install did not finish",
                f"<p>{escape(reason)}</p><p><a class=\"button\" href=\"/slack/install\">Try again</a></p>",
                status=status)


CALLBACKS = AsyncCallbackOptions(success=success, failure=failure)


def single_workspace_notice() -> BoltResponse:
    return page("Installed from the Slack app settings",
                "<p>This server runs for one workspace, with the bot token in <code>SLACK_BOT_TOKEN</code>. "
                "Install the app from its page at api.slack.com/apps. To offer an install page for many "
                "workspaces, set <code>SLACK_CLIENT_ID</code> and <code>SLACK_CLIENT_SECRET</code> and leave "
                "<code>SLACK_BOT_TOKEN</code> unset.</p>", status=404)
