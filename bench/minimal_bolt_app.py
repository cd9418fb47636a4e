"""The floor any Bolt app pays: an AsyncApp behind Starlette that only acks `/meetings`.

Run by bench/slash_ack.py under the same uvicorn settings as `meetings-bot serve`.
"""

import os
import sys

import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.routing import Route

app = AsyncApp(
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    client=AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
)


@app.command("/meetings")
async def only_ack(ack):
    await ack()


handler = AsyncSlackRequestHandler(app)


async def events(request):
    return await handler.handle(request)


if __name__ == "__main__":
    uvicorn.run(Starlette(routes=[Route("/slack/events", events, methods=["POST"])]),
                host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
