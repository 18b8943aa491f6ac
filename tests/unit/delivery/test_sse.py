"""How the SSE stream owns its connection: handed over from uvicorn, ended cleanly, and the plain-ASGI fallback."""
from __future__ import annotations


def test_the_chunked_encoder_writes_exactly_what_uvicorn_would_have_framed() -> None:
    from herald.delivery.sse import ChunkedSSEEncoder, SSEEncoder, chunk

    chunked, plain = ChunkedSSEEncoder(), SSEEncoder()
    payload = b'{"id":"x","title":"caf\xc3\xa9"}'
    for cursor in (0, 9, 10, 4095, 4096, 2**62):
        assert chunked.notification(cursor, payload) == chunk(plain.notification(cursor, payload))
    assert chunked.opening(2000, 7, 3, False) == [chunk(plain.opening(2000, 7, 3, False)[0])]
    assert chunked.opening(2000, 7, 3, True) == [chunk(plain.opening(2000, 7, 3, True)[0])], \
        "ready and reset go out as one chunk"
    assert plain.opening(2000, 7, 3, True)[0].endswith(plain.reset(7))
    assert chunked.change("read", 7, b'{"all":true}') == chunk(plain.change("read", 7, b'{"all":true}'))
    assert chunked.heartbeat() == chunk(plain.heartbeat())
    first, second = b'{"n":1}', b'{"n":2}'
    assert chunked.channel(first) == chunk(plain.channel(first))
    assert chunked.channel(first) is chunked.channel(first), "one live event is framed once for all its streams"
    assert chunked.channel(second) == chunk(plain.channel(second)), "and the next one anew"
