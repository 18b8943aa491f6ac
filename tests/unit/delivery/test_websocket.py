"""The WebSocket's server frames: framed once by Herald, read back by the websockets library as a client would."""
from __future__ import annotations

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN
from websockets.uri import parse_uri

from herald.delivery.websocket import FramedWSEncoder, WSEncoder, text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_a_text_frame_is_the_bytes_the_websockets_library_would_write(size: int) -> None:
    message = b"x" * size
    assert text_frame(message) == Frame(Opcode.TEXT, message).serialize(mask=False)


def _read(data: bytes) -> list[bytes]:
    client = ClientProtocol(parse_uri("ws://herald/"), state=OPEN, max_size=None)
    client.receive_data(data)
    frames = client.events_received()
    assert all(frame.opcode is Opcode.TEXT and frame.fin for frame in frames)
    return [bytes(frame.data) for frame in frames]


def test_every_framed_message_reads_back_as_the_plain_encoders_message() -> None:
    framed, plain = FramedWSEncoder(), WSEncoder()
    payload = '{"id":"x","title":"caf\u00e9 \u2603"}'.encode()
    assert _read(framed.notification(12, payload)) == [plain.notification(12, payload)]
    assert _read(framed.change("read", 13, b'{"ids":["x"]}')) == [plain.change("read", 13, b'{"ids":["x"]}')]
    assert _read(framed.change("read", None, b'{"all":true}')) == [plain.change("read", None, b'{"all":true}')]
    assert _read(framed.heartbeat()) == [plain.heartbeat()]
    assert _read(b"".join(framed.opening(2000, 7, 3, True))) == plain.opening(2000, 7, 3, True), \
        "ready, then reset, each a frame of its own"
    big = b'{"body":"' + b"y" * 70_000 + b'"}'
    assert _read(framed.notification(1, big)) == [plain.notification(1, big)]


def test_a_live_event_is_framed_once_for_all_its_sockets() -> None:
    framed, plain = FramedWSEncoder(), WSEncoder()
    first, second = b'{"n":1}', b'{"n":2}'
    assert _read(framed.channel(first)) == [plain.channel(first)]
    assert framed.channel(first) is framed.channel(first)
    assert _read(framed.channel(second)) == [plain.channel(second)], "and the next one anew"


def test_a_socket_gets_a_fresh_parser_only_between_frames() -> None:
    from websockets.protocol import SERVER, Protocol

    from herald.delivery.websocket_sinks import _between_frames

    ws = Protocol(SERVER, max_size=65536)
    whole = Frame(Opcode.TEXT, b'{"type":"ping"}').serialize(mask=True)
    ws.receive_data(whole)
    ws.events_received()
    assert _between_frames(ws), "after whole frames: a fresh parser loses nothing (else uvicorn's stays, larger)"
    ws.receive_data(whole[:3])
    assert not _between_frames(ws), "part of a frame read: it must keep its parser"
    ws.receive_data(whole[3:])
    ws.events_received()
    ws.receive_data(Frame(Opcode.TEXT, b"part", fin=False).serialize(mask=True))
    ws.events_received()
    assert not _between_frames(ws), "part of a fragmented message read"
