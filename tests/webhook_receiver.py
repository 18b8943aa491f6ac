"""A product backend's webhook endpoint, as a test sees it: a real HTTP server on loopback that verifies signatures.

Each POST is checked with the maintained ``standardwebhooks`` package (an implementation
independent of Herald's signing.py) and recorded with its verdict. ``fail_next`` makes the
next answers a 500, as a receiver that is down would give.
"""
from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


class WebhookReceiver:
    def __init__(self) -> None:
        self.secret = ""
        self.received: list[Received] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except Exception:  # noqa: BLE001 - any failure to verify is the verdict
                    verified = False
                with receiver._lock:
                    status = 500 if receiver.fail_next > 0 else 204 if verified else 401
                    receiver.fail_next = max(0, receiver.fail_next - 1)
                    receiver.received.append(Received(headers, body, verified, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/herald"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def events(self, user_id: str | None = None, event_type: str | None = None) -> list[Received]:
        with self._lock:
            found = list(self.received)
        return [r for r in found if (user_id is None or r.event["data"].get("userId") == user_id)
                and (event_type is None or r.event["type"] == event_type)]


class Listener:
    """A TCP port that must never be connected to: it counts every connection it accepts."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()
