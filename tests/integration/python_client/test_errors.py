"""Every error of the contract reaches the caller as its typed exception, with error, message and retryAfter."""
from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from herald_client import (
    Call,
    ConnectionFailed,
    Forbidden,
    Herald,
    HeraldError,
    InvalidCursor,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Request,
    ServerError,
    Subscriber,
    Target,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from herald_client.errors import error_from_response
from herald_client.http import no_content

from tests.herald_server import HeraldServer, free_port


def test_an_invalid_publish_is_invalid_request_with_the_servers_message(producer: Herald, user_id: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        producer.publish(Target.users(user_id), type="t", title="x" * 201)
    assert (raised.value.status, raised.value.error) == (400, "invalid_request")
    assert "title" in raised.value.message and raised.value.retry_after is None


def test_a_bad_api_key_is_unauthorized(herald: HeraldServer, user_id: str) -> None:
    with Herald(herald.url, "not-the-key") as stranger, pytest.raises(Unauthorized) as raised:
        stranger.publish(Target.users(user_id), type="t", title="x")
    assert (raised.value.status, raised.value.error) == (401, "unauthorized")


def test_a_missing_group_is_not_found(producer: Herald, user_id: str) -> None:
    with pytest.raises(NotFound) as raised:
        producer.get_group(f"none-{user_id}")
    assert (raised.value.status, raised.value.error) == (404, "not_found")


def test_an_oversized_body_is_payload_too_large(producer: Herald, user_id: str) -> None:
    with pytest.raises(PayloadTooLarge) as raised:
        producer.publish(Target.users(user_id), type="t", title="x", data={"blob": "x" * 70_000})
    assert (raised.value.status, raised.value.error) == (413, "payload_too_large")


def test_a_wrong_method_and_a_wrong_media_type(producer: Herald) -> None:
    # What a client and server of different versions could cause; sent through the client's own Call.
    with pytest.raises(MethodNotAllowed) as wrong_method:
        producer.call(Call(Request("PUT", "/api/publish"), no_content))
    assert wrong_method.value.error == "method_not_allowed"
    with pytest.raises(UnsupportedMediaType) as wrong_type:
        producer.call(Call(Request("POST", "/api/publish", headers={"Content-Type": "text/plain"}), no_content))
    assert (wrong_type.value.status, wrong_type.value.error) == (415, "unsupported_media_type")


async def test_a_cursor_herald_never_issued_is_invalid_cursor(herald: HeraldServer, producer: Herald, user_id: str) -> None:
    async with Subscriber(herald.url, token=producer.mint_token(user_id).token) as sub:
        with pytest.raises(InvalidCursor) as raised:
            await sub.page(since="not-a-cursor")
    assert (raised.value.status, raised.value.error) == (400, "invalid_cursor")


def test_a_database_outage_is_unavailable_with_retry_after(tmp_path, user_id: str) -> None:  # type: ignore[no-untyped-def]
    server = HeraldServer(tmp_path, "postgresql+asyncpg://postgres@127.0.0.1:1/none", HERALD_MIGRATE_ON_START="false")
    process = subprocess.Popen([sys.executable, "-m", "herald.cli", "serve"], env=server.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(server.url + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with Herald(server.url, server.api_key, retries=0, timeout_seconds=30) as producer:
            with pytest.raises(Unavailable) as raised:
                producer.publish(Target.users(user_id), type="t", title="x")
    finally:
        process.kill()
        process.wait()
    assert (raised.value.status, raised.value.error, raised.value.retry_after) == (503, "unavailable", 5.0)
    assert raised.value.retryable


def test_no_server_is_connection_failed_after_the_retries(user_id: str) -> None:
    with Herald(f"http://127.0.0.1:{free_port()}", "key", retries=1) as producer:
        with pytest.raises(ConnectionFailed) as raised:
            producer.publish(Target.users(user_id), type="t", title="x")
    assert raised.value.status is None and raised.value.error == "connection_failed"


@pytest.mark.parametrize(("status", "body", "expected", "code"), [
    (403, b'{"error": "forbidden", "message": "No."}', Forbidden, "forbidden"),
    (500, b'{"error": "internal_error", "message": "Oops."}', ServerError, "internal_error"),
    (502, b"<html>Bad Gateway</html>", ServerError, "http_502"),  # a proxy's page, not the contract's body
])
def test_answers_herald_does_not_give_the_client_still_map_by_status(status: int, body: bytes,
                                                                     expected: type[HeraldError], code: str) -> None:
    # No Herald endpoint the client calls answers these today; a proxy in front of it might.
    error = error_from_response(status, {"retry-after": "7"}, body)
    assert type(error) is expected and (error.status, error.error, error.retry_after) == (status, code, 7.0)
