"""A WebSocket under ``herald serve`` once it is the socket sink's: frames, pings, limits and closes on the wire.

The client here is the websockets library's sans-I/O protocol over a plain TCP
connection, so each test decides exactly which frames go out (fragments, pings
left unanswered, oversized or unmasked frames) and reads every frame that comes back.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Iterator

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from tests.herald_server import HeraldServer
from tests.scrape import metric

DIRECT = ("herald_direct_connections_total", '{transport="websocket"}')


class RawSocket:
    """One WebSocket whose frames the test writes and reads itself."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ws: ClientProtocol) -> None:
        self.reader, self.writer, self.ws = reader, writer, ws

    @classmethod
    async def open(cls, server: HeraldServer, token: str) -> "RawSocket":
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        ws = ClientProtocol(parse_uri(server.url.replace("http://", "ws://") + "/api/notifications/ws"))
        request = ws.connect()
        request.headers["Authorization"] = f"Bearer {token}"
        ws.send_request(request)
        sock = cls(reader, writer, ws)
        sock.flush()
        while not any(isinstance(event, Response) for event in await sock._events()):
            pass
        return sock

    def flush(self) -> None:
        self.writer.write(b"".join(self.ws.data_to_send()))

    def send(self, message: dict[str, object]) -> None:
        self.ws.send_text(json.dumps(message).encode())
        self.flush()

    async def _events(self, timeout: float = 5.0) -> list[object]:
        data = await asyncio.wait_for(self.reader.read(65536), timeout)
        if data:
            self.ws.receive_data(data)
        else:
            self.ws.receive_eof()
        return self.ws.events_received()

    async def frames(self, count: int, timeout: float = 5.0) -> list[Frame]:
        """The next ``count`` frames the server sends (fewer if it closes first). Pings are not answered."""
        got: list[Frame] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(got) < count and not self.reader.at_eof():
            got += [event for event in await self._events(deadline - loop.time()) if isinstance(event, Frame)]
        return got

    async def messages(self, count: int) -> list[dict[str, object]]:
        return [json.loads(frame.data) for frame in await self.frames(count) if frame.opcode is Opcode.TEXT]

    async def close_code(self, timeout: float = 5.0) -> int:
        """Read until the server's close frame; its code."""
        while True:
            for frame in await self.frames(1, timeout):
                if frame.opcode is Opcode.CLOSE:
                    return Close.parse(frame.data).code
            assert not self.reader.at_eof(), "the server closed TCP without a close frame"

    def abort(self) -> None:
        self.writer.close()


@pytest.fixture
async def sock(server: HeraldServer, user_id: str) -> RawSocket:
    sock = await RawSocket.open(server, server.token(user_id))
    yield sock
    sock.abort()


async def test_the_socket_leaves_the_asgi_path_once_resumed(server: HeraldServer, sock: RawSocket) -> None:
    before = metric(server, *DIRECT)
    sock.send({"type": "resume"})
    assert (await sock.messages(1))[0]["type"] == "ready"
    assert metric(server, *DIRECT) == before + 1


async def test_messages_sent_right_behind_resume_are_answered_in_order(sock: RawSocket) -> None:
    # One TCP write: the ping reaches the server before the socket is registered, while uvicorn still reads.
    sock.ws.send_text(b'{"type":"resume"}')
    sock.ws.send_text(b'{"type":"ping"}')
    sock.ws.send_text(b'{"type":"subscribe","channels":["bad name!"]}')
    sock.flush()
    assert [m["type"] for m in await sock.messages(3)] == ["ready", "pong", "error"]


async def test_a_fragmented_message_and_a_ping_between_its_fragments(sock: RawSocket) -> None:
    sock.send({"type": "resume"})
    await sock.messages(1)
    sock.ws.send_text(b'{"type":', fin=False)
    sock.ws.send_ping(b"beat")
    sock.ws.send_continuation(b'"ping"}', fin=True)
    sock.flush()
    pong, message = await sock.frames(2)
    assert (pong.opcode, pong.data) == (Opcode.PONG, b"beat"), "a control frame is answered mid-message"
    assert json.loads(message.data) == {"type": "pong"}, "the fragments are one message"


async def test_live_events_reach_the_socket_as_whole_frames(server: HeraldServer, sock: RawSocket) -> None:
    sock.send({"type": "resume", "channels": ["direct-room"]})
    await sock.messages(1)
    for n in range(3):
        server.publish(to={"channel": "direct-room"}, persist=False, type="move", title=f"move {n}")
    assert [m["event"]["title"] for m in await sock.messages(3)] == ["move 0", "move 1", "move 2"]


async def test_a_message_over_the_size_bound_closes_the_socket_1009(sock: RawSocket) -> None:
    sock.send({"type": "resume"})
    await sock.messages(1)
    sock.ws.send_text(b'{"type":"ping","pad":"' + b"x" * (64 * 1024) + b'"}')
    sock.flush()
    assert await sock.close_code() == 1009


async def test_an_unmasked_client_frame_closes_the_socket_1002(sock: RawSocket) -> None:
    sock.send({"type": "resume"})
    await sock.messages(1)
    sock.writer.write(Frame(Opcode.TEXT, b'{"type":"ping"}').serialize(mask=False))
    assert await sock.close_code() == 1002


async def test_the_clients_close_is_echoed_and_the_connection_released(server: HeraldServer, sock: RawSocket) -> None:
    sock.send({"type": "resume"})
    await sock.messages(1)
    sock.ws.send_close(1000, "bye")
    sock.flush()
    assert await sock.close_code() == 1000
    assert await sock.reader.read() == b"", "then the server closes TCP"


@pytest.fixture
def pinging_server(tmp_path: Path) -> Iterator[HeraldServer]:
    herald = HeraldServer(tmp_path / "herald", HERALD_WEBSOCKET_PING_SECONDS="0.3",
                          HERALD_WEBSOCKET_PONG_TIMEOUT_SECONDS="0.5").start()
    yield herald
    herald.stop()


async def test_a_peer_that_leaves_a_ping_unanswered_is_closed_1011(pinging_server: HeraldServer) -> None:
    sock = await RawSocket.open(pinging_server, pinging_server.token("silent"))
    sock.send({"type": "resume"})
    ready, ping = await sock.frames(2)
    assert ping.opcode is Opcode.PING
    assert await sock.close_code(timeout=3) == 1011
    sock.abort()


async def test_a_peer_that_answers_pings_stays_and_keeps_receiving(pinging_server: HeraldServer) -> None:
    sock = await RawSocket.open(pinging_server, pinging_server.token("lively"))
    sock.send({"type": "resume"})
    await sock.frames(1)
    loop = asyncio.get_running_loop()
    until, pings = loop.time() + 2.0, 0
    while loop.time() < until:
        for frame in await sock.frames(1, timeout=2.0):
            assert frame.opcode is not Opcode.CLOSE
            pings += frame.opcode is Opcode.PING
        sock.flush()  # the client protocol has queued its pong
    assert pings >= 3, "pinged every 0.3 s, past several pong deadlines"
    pinging_server.publish(to={"users": ["lively"]}, type="t", title="still here")
    (message,) = await sock.messages(1)
    assert message["notification"]["title"] == "still here"
    sock.abort()
