"""Hypothesis against every request header Herald reads, on a running server.

Herald reads ``Authorization``, ``Cookie`` (its session, the admin session and the CSRF cookie),
``Content-Type``, ``Last-Event-ID`` (test_fuzz_cursor.py), ``HX-Request`` (the admin console) and,
through Litestar's CORS support when configured, ``Origin``; it has no ``X-Request-ID``. For any
value: never a 5xx, a refusal is the contract's JSON body, a credential is accepted only when it is
the real one, and nothing a client sends is echoed into a response header or a stream frame.
"""
from __future__ import annotations

import base64
import json
import re

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.herald_server import HeraldServer
from tests.raw_http import RawResponse, request

USER = "header-fuzz"
JWT = re.compile(r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")
# Bytes a header value may hold (no control characters): see test_fuzz_cursor.py.
value_bytes = st.binary(max_size=120).map(lambda b: bytes(c for c in b if c == 9 or 32 <= c != 127))
text = value_bytes.map(lambda b: b.decode("latin-1"))


@pytest.fixture(scope="module")
def fuzzed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | HeraldServer]:
    herald = HeraldServer(tmp_path_factory.mktemp("fuzz-headers")).start()
    request.addfinalizer(herald.stop)
    token = herald.token(USER)
    session = httpx.post(herald.url + "/api/session", headers={"Authorization": f"Bearer {token}"}).cookies["herald_session"]
    return {"server": herald, "token": token, "session": session}


def _segments(token: str) -> list[bytes] | None:
    try:
        return [base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split(".")]
    except ValueError:
        return None


def same_token(candidate: str, real: str) -> bool:
    """Base64url has spare bits in its last character: two spellings of one token are one token."""
    return candidate == real or (_segments(candidate) is not None and _segments(candidate) == _segments(real))


def mutations(real: str) -> st.SearchStrategy[str]:
    """The real credential, slightly wrong: one character changed, cut, extended, or a part swapped."""
    position = st.integers(min_value=0, max_value=len(real) - 1)
    return st.one_of(
        st.tuples(position, st.characters(min_codepoint=33, max_codepoint=126)).map(
            lambda pc: real[:pc[0]] + pc[1] + real[pc[0] + 1:]),
        position.map(lambda p: real[:p]),
        text.map(lambda extra: real + extra),
        st.just(".".join(real.split(".")[:2]) + "."),
        st.just("eyJhbGciOiJub25lIn0." + real.split(".")[1] + "."),  # alg: none, the real claims
    )


def check_refusal(response: RawResponse, status: int, code: str) -> None:
    assert response.status == status, response
    assert json.loads(response.body)["error"] == code, response.body


def check_no_echo(response: RawResponse, sent: str) -> None:
    if len(sent.strip()) >= 8:
        for name, value in response.headers:
            assert sent not in value, f"{sent!r} echoed in the {name} header"


@given(data=st.data())
@example(data=None)
@settings(max_examples=150)
def test_authorization_accepts_only_the_real_token(fuzzed: dict, data: st.DataObject | None) -> None:
    herald, token = fuzzed["server"], fuzzed["token"]
    if data is None:
        value = f"Bearer {token}"
    else:
        scheme = data.draw(st.sampled_from(["Bearer ", "bearer ", "BEARER  ", "Basic ", "Bearer", "", "Token "]))
        value = scheme + data.draw(st.one_of(mutations(token), text, st.just(token), st.just(herald.api_key)))
    response = request(herald.port, "GET", "/api/notifications", [("Authorization", value.encode())])
    scheme, _, credential = value.encode().decode("latin-1").lstrip(" \t").partition(" ")
    if scheme.lower() == "bearer" and same_token(credential.strip(), token):
        assert response.status == 200, response
        assert set(json.loads(response.body)) >= {"items", "unreadCount", "cursor"}
    else:
        check_refusal(response, 401, "unauthorized")
        assert response.header("www-authenticate") == "Bearer"
    check_no_echo(response, value)


@given(value=st.one_of(text, st.builds(lambda p, k: f"Bearer {p}{k}", text, st.just("test-producer-key"))))
@settings(max_examples=80)
def test_publish_accepts_only_a_real_api_key(fuzzed: dict, value: str) -> None:
    herald = fuzzed["server"]
    body = json.dumps({"to": {"users": [USER]}, "type": "t", "title": "fuzz"}).encode()
    response = request(herald.port, "POST", "/api/publish",
                       [("Authorization", value.encode()), ("Content-Type", "application/json")], body)
    check_refusal(response, 401, "unauthorized")
    check_no_echo(response, value)


@given(data=st.data())
@example(data=None)
@settings(max_examples=150)
def test_cookie_header_signs_in_only_with_the_real_session(fuzzed: dict, data: st.DataObject | None) -> None:
    herald, session = fuzzed["server"], fuzzed["session"]
    if data is None:
        value = f"herald_session={session}"
    else:
        pieces = data.draw(st.lists(st.one_of(
            text,
            st.builds(lambda v: f"herald_session={v}", st.one_of(mutations(session), text, st.just(fuzzed["token"]))),
            st.builds(lambda v: f'herald_session="{v}"', mutations(session)),
            st.just(f"herald_session={session}"),
            st.sampled_from(["=", ";", "herald_session", "herald_session=", "a=b=c", "herald_admin=x", "csrftoken=\"\""]),
        ), min_size=1, max_size=4))
        value = data.draw(st.sampled_from(["; ", ";", ", ", " ;"])).join(pieces)
    response = request(herald.port, "GET", "/api/notifications", [("Cookie", value.encode())])
    if response.status == 200:
        assert any(same_token(candidate, session) for candidate in JWT.findall(value)), value
    else:
        check_refusal(response, 401, "unauthorized")
    if f"herald_session={session}" == value:
        assert response.status == 200, "the real session cookie signs in"
    check_no_echo(response, value)


@given(media_type=st.one_of(
    text,
    st.sampled_from(["application/json", "APPLICATION/JSON", "application/json; charset=utf-8", "application/ld+json",
                     "application/jsonx", "text/json", "json", "application/x-www-form-urlencoded", "multipart/form-data",
                     "text/plain", ";application/json", "application/json;;;", "application/json; charset=\"x"]),
))
@settings(max_examples=120)
def test_content_type_is_json_or_a_415(fuzzed: dict, media_type: str) -> None:
    herald = fuzzed["server"]
    body = json.dumps({"to": {"users": [USER]}, "type": "t", "title": "content type fuzz"}).encode()
    response = request(herald.port, "POST", "/api/publish",
                       [("Authorization", f"Bearer {herald.api_key}"), ("Content-Type", media_type.encode())], body)
    received = media_type.encode().decode("latin-1").lstrip(" \t")
    essence = received.split(";")[0].strip().lower()
    if essence == "application/json" or essence.endswith("+json"):
        assert response.status == 202, response
    else:
        check_refusal(response, 415, "unsupported_media_type")
    if "json" not in media_type:  # the answer's own Content-Type is application/json
        check_no_echo(response, media_type)


@given(origin=st.one_of(text, st.sampled_from(["https://evil.example", "null", "http://127.0.0.1", "*"])))
@settings(max_examples=60)
def test_no_origin_is_granted_cross_site_access_by_default(fuzzed: dict, origin: str) -> None:
    herald, token = fuzzed["server"], fuzzed["token"]
    plain = request(herald.port, "GET", "/api/notifications",
                    [("Authorization", f"Bearer {token}"), ("Origin", origin.encode())])
    assert plain.status == 200, plain
    preflight = request(herald.port, "OPTIONS", "/api/publish",
                        [("Origin", origin.encode()), ("Access-Control-Request-Method", "POST"),
                         ("Access-Control-Request-Headers", "authorization, content-type")])
    assert preflight.status < 500, preflight
    for response in (plain, preflight):
        names = {name for name, _ in response.headers}
        assert not names & {"access-control-allow-origin", "access-control-allow-credentials"}, response.headers


@given(value=text, path=st.sampled_from(["/admin/", "/admin/login", "/admin/notifications/rows"]))
@settings(max_examples=40)
def test_hx_request_never_breaks_an_admin_page(fuzzed: dict, value: str, path: str) -> None:
    herald = fuzzed["server"]
    response = request(herald.port, "GET", path, [("HX-Request", value.encode())])
    assert response.status in (200, 303, 401), response


CONTROL = st.sampled_from([b"\x00", b"\r", b"\n", b"\r\n", b"\x1b", b"\x7f", b"\x0b", b"\r\n\r\n", b"\n\n"])
INJECTED = b"event: read\ndata: {\"all\":true}\nid: 999"


@given(before=value_bytes, control=CONTROL, header=st.sampled_from(["Last-Event-ID", "Authorization", "Cookie"]))
@example(before=b"1", control=b"\r\n", header="Last-Event-ID")
@settings(max_examples=80)
def test_control_characters_in_headers_never_inject_a_frame_or_a_5xx(fuzzed: dict, before: bytes, control: bytes,
                                                                      header: str) -> None:
    herald, token = fuzzed["server"], fuzzed["token"]
    headers: list[tuple[bytes | str, bytes | str]] = [(header, before + control + INJECTED)]
    if header != "Authorization":
        headers.append(("Authorization", f"Bearer {token}"))
    try:
        response = request(herald.port, "GET", "/api/notifications/stream", headers, timeout=5)
    except (EOFError, ConnectionError):
        return  # the parser hung up on a malformed request: nothing was served
    assert response.status < 500, response
    if response.status == 200:
        text_body = response.body.decode()
        assert "id: 999" not in text_body and '{"all":true}' not in text_body, text_body
        assert text_body.startswith("retry: "), text_body
    elif response.header("content-type") == "application/json":
        assert set(json.loads(response.body)) == {"error", "message"}
