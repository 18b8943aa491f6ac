"""Hypothesis against the resume cursor of a running server: SSE header and query, WebSocket resume.

Whatever a client sends as ``Last-Event-ID`` or ``?lastEventId=``, the answer is one of exactly two:
a 400 with the contract's body, or a stream that opens with ``ready`` at the cursor the contract
says (and ``reset`` when the cursor is ahead of the inbox), made only of well-formed frames. The
value is never echoed into a frame or a header, so it can never inject one.
"""
from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from herald.wire import MAX_CURSOR
from tests.herald_server import HeraldServer
from tests.raw_http import RawResponse, request

ITEMS = 3  # the fuzzed user's inbox holds seq 1..3
FRAME_LINE = re.compile(r"^(retry: \d+|event: (ready|reset|notification|read)|id: \d+|data: \{.*\}|: keep-alive)$")

# What a header value may hold (RFC 9110 field-vchar, SP, HTAB and obs-text); the HTTP parser itself
# answers a bare 400 to the control characters, which test_fuzz_headers.py sends.
header_bytes = st.binary(max_size=40).map(lambda b: bytes(c for c in b if c == 9 or 32 <= c != 127))
numbers = st.integers(min_value=-(10**25), max_value=10**25).map(str)
near_valid = st.sampled_from(["", "0", "1", "3", "4", "007", " 1", "1 ", "+1", "-0", "1e3", "0x1f", "٣", "１",
                              str(MAX_CURSOR), str(MAX_CURSOR + 1), "9" * 19, "9" * 20, "9" * 33, "1\tx",
                              'event: read', 'data: {"all":true}', "1\\nid: 9"])
cursors = st.one_of(near_valid, numbers, header_bytes.map(lambda b: b.decode("latin-1")))


@pytest.fixture(scope="module")
def fuzzed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[HeraldServer, str]:
    herald = HeraldServer(tmp_path_factory.mktemp("fuzz-cursor")).start()
    request.addfinalizer(herald.stop)
    for i in range(ITEMS):
        herald.publish(to={"users": ["cursor-fuzz"]}, type="t", title=f"#{i}")
    return herald, herald.token("cursor-fuzz")


def as_received(header: str) -> str:
    """The value as the server reads it: UTF-8 on the wire, read as Latin-1 (as HTTP says), and the
    parser drops whitespace before a value (and keeps it after, which then is a 400)."""
    return header.encode().decode("latin-1").lstrip(" \t")


def expected_start(raw: str | None) -> tuple[str, bool] | str:
    """(ready id, reset?) for a cursor the server accepts, else the error code of its 400."""
    if raw is not None and len(raw) > 32:
        return "invalid_request"  # the parameter's declared maximum length
    if raw is None or raw == "":
        return str(ITEMS), False
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_CURSOR):
        return "invalid_cursor"
    cursor = int(raw)
    return (str(ITEMS), True) if cursor > ITEMS else (str(cursor), False)


def check_opening(response: RawResponse, expected: tuple[str, bool] | str, sent: str) -> None:
    if isinstance(expected, str):
        assert response.status == 400, response
        assert json.loads(response.body)["error"] == expected, response.body
        return
    assert response.status == 200, response
    text = response.body.decode()
    frames = [frame.split("\n") for frame in text.split("\n\n") if frame]
    for line in (line for frame in frames for line in frame):
        assert FRAME_LINE.match(line), f"a line no frame of Herald's has: {line!r}"
    assert frames[0][:3] == ["retry: 2000", "event: ready", f"id: {expected[0]}"], frames
    assert (len(frames) > 1 and frames[1][0] == "event: reset") is expected[1], frames
    if len(sent.strip()) >= 6 and not sent.isdigit():
        for name, value in response.headers:
            assert sent not in value, f"{sent!r} echoed in the {name} header"


@given(cursor=cursors)
@example(cursor="1")
@example(cursor="9" * 33)
@settings(max_examples=120)
def test_last_event_id_header_gives_an_exact_opening_or_a_400(fuzzed: tuple[HeraldServer, str], cursor: str) -> None:
    herald, token = fuzzed
    response = request(herald.port, "GET", "/api/notifications/stream",
                       [("Authorization", f"Bearer {token}"), ("Last-Event-ID", cursor.encode())])
    check_opening(response, expected_start(as_received(cursor)), cursor)


@given(cursor=st.one_of(cursors, st.text(max_size=40)))
@example(cursor="2")
@example(cursor="1\r\nevent: read\r\n\r\n")
@settings(max_examples=120)
def test_last_event_id_query_gives_an_exact_opening_or_a_400(fuzzed: tuple[HeraldServer, str], cursor: str) -> None:
    herald, token = fuzzed
    target = "/api/notifications/stream?lastEventId=" + quote(cursor, safe="")
    response = request(herald.port, "GET", target, [("Authorization", f"Bearer {token}")])
    check_opening(response, expected_start(cursor), cursor)


@given(header=cursors, query=cursors)
@settings(max_examples=60)
def test_the_header_wins_over_the_query_whenever_it_is_given(fuzzed: tuple[HeraldServer, str], header: str, query: str) -> None:
    herald, token = fuzzed
    target = "/api/notifications/stream?lastEventId=" + quote(query, safe="")
    response = request(herald.port, "GET", target,
                       [("Authorization", f"Bearer {token}"), ("Last-Event-ID", header.encode())])
    header = as_received(header)
    if len(header) > 32 or len(query) > 32:
        expected = expected_start("9" * 33)  # both parameters' lengths are checked before either is read
    else:
        # An empty header is no header, and only then does the query decide.
        expected = expected_start(query) if header == "" else expected_start(header)
    check_opening(response, expected, header)


@given(cursor=st.one_of(cursors, st.integers(), st.none(), st.lists(st.integers(), max_size=2)))
@example(cursor=None)
@example(cursor="3")
@settings(max_examples=60)
def test_websocket_resume_cursor_opens_exactly_or_closes_with_4400(fuzzed: tuple[HeraldServer, str], cursor: object) -> None:
    herald, token = fuzzed
    url = herald.url.replace("http://", "ws://") + "/api/notifications/ws"
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "resume", "cursor": cursor}))
        try:
            first = json.loads(ws.recv(timeout=10))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4400, closed
            expected = expected_start(cursor) if isinstance(cursor, str) else "invalid"
            assert isinstance(expected, str), f"{cursor!r} is a cursor the stream accepts, so must this"
            return
    assert isinstance(cursor, str) or cursor is None, f"{cursor!r} is not a cursor, yet it was accepted"
    expected = expected_start(cursor)
    assert not isinstance(expected, str), f"{cursor!r} was accepted"
    assert (first["type"], first["cursor"]) == ("ready", expected[0])
