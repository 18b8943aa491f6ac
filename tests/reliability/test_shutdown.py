"""A server stopping with sockets open says "reconnect" in Herald's own code (fault 4 of issue 15).

On SIGTERM uvicorn closed every WebSocket with 1012 before Herald's shutdown
could send the documented 4000. Now the close is 4000, and a client that
reconnects with its cursor to the server's successor gets what was published
meanwhile, once.
"""
from __future__ import annotations

import json

import websockets
from websockets.exceptions import ConnectionClosed

from tests.herald_server import HeraldServer


async def test_sigterm_closes_sockets_with_4000_and_they_resume_on_the_next_start(fresh_server: HeraldServer) -> None:
    herald = fresh_server.start()
    user = "restarted"
    first = herald.publish(to={"users": [user]}, type="t", title="before")["id"]
    url = herald.url.replace("http://", "ws://") + "/api/notifications/ws"
    headers = {"Authorization": f"Bearer {herald.token(user)}"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "resume", "cursor": "0"}))
        assert json.loads(await ws.recv())["type"] == "ready"
        message = json.loads(await ws.recv())
        assert message["notification"]["id"] == first
        cursor = message["cursor"]
        herald.stop()  # SIGTERM
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
    assert code == 4000
    herald.start()
    later = herald.publish(to={"users": [user]}, type="t", title="while it was away")["id"]
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "resume", "cursor": cursor}))
        assert json.loads(await ws.recv())["type"] == "ready"
        assert json.loads(await ws.recv())["notification"]["id"] == later
