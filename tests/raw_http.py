"""HTTP/1.1 over a plain socket, for tests that send bytes no well-behaved client would.

httpx (through h11) refuses to send a header value with a control character or a non-ASCII byte,
which is exactly what an attacker sends, so hostile-input tests write the request themselves.
Only what the tests need: one request per connection, and the answer's head plus either its
``Content-Length`` body or the first chunk of a chunked body (a stream's opening frames).
"""
from __future__ import annotations

import socket
from dataclasses import dataclass


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name.lower():
                return value
        return None


def request(port: int, method: str, target: bytes | str, headers: list[tuple[bytes | str, bytes | str]] = (),  # type: ignore[assignment]
            body: bytes = b"", timeout: float = 10.0) -> RawResponse:
    """Send one request exactly as given (no escaping, no validation) and read the answer."""
    lines = [method.encode() + b" " + _bytes(target) + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [_bytes(name) + b": " + _bytes(value) for name, value in headers]
    given = {_bytes(name).lower() for name, _ in headers}
    if (body or method in ("POST", "PUT", "DELETE")) and not given & {b"content-length", b"transfer-encoding"}:
        lines.append(b"Content-Length: %d" % len(body))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        reader = _Reader(sock)
        status, response_headers = _head(reader)
        length = next((v for k, v in response_headers if k == "content-length"), None)
        if length is not None:
            content = reader.exactly(int(length))
        elif ("transfer-encoding", "chunked") in response_headers:
            size = int(reader.line().split(b";")[0], 16)
            content = reader.exactly(size)
        else:
            content = reader.rest()
    return RawResponse(status, response_headers, content)


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


def _head(reader: "_Reader") -> tuple[int, list[tuple[str, str]]]:
    status = int(reader.line().split(b" ")[1])
    headers = []
    while line := reader.line():
        name, _, value = line.partition(b":")
        headers.append((name.decode("latin-1").strip().lower(), value.decode("latin-1").strip()))
    return status, headers


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _more(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self._more():
                raise EOFError("connection closed in the middle of a line")
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._more():
                raise EOFError("connection closed before the body ended")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def rest(self) -> bytes:
        while self._more():
            pass
        return self.buffer
