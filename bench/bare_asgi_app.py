"""The ceiling for webhook ingest: a bare ASGI app that reads the body and answers 200.

Run by bench/webhook_ingest.py under the same uvicorn settings as `meetings-bot serve`.
"""

import sys

import uvicorn


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"ok":true,"message":"stored"}'})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=True, proxy_headers=True)
