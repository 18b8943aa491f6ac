"""What ``herald bench`` measures: a Herald server, or a peer that speaks the probe protocol.

A target builds each stream's request (Herald: one subscriber token per user,
and the groups a broadcast goes to) and publishes, either one broadcast or one
notification to a random user. Every publish carries k and the sender's
``time.time()``, which the load processes compare with their own clock: the
tool and the server must share a machine for latencies to mean anything.

The peer protocol is the one of ``shared/bench/fanout_probe.py``: ``GET /events``
is an SSE stream, ``POST /publish`` with body ``K,T`` broadcasts one event whose
data line is ``K,T``. Over WebSocket (``fanout_probe_ws.py``): sockets open
``/events``, and a text message ``PUBLISH K,T`` from any of them sends the text
``K,T`` to every socket.
"""
from __future__ import annotations

import asyncio
import base64
import json
import random
import secrets
import time
from urllib.parse import quote, urlsplit

from herald.bench.load import client_frame

STREAM_PATH = "/api/notifications/stream"
# One PUT /api/groups takes at most this many members (wire.MAX_USERS).
GROUP_LIMIT = 10_000
TOKEN_TTL_SECONDS = 6 * 3600
MINT_CONCURRENCY = 16
# uvicorn closes idle keep-alive connections after 5 s: reconnect before that.
IDLE_RECONNECT_SECONDS = 2.0


class BenchError(Exception):
    """Setup or publishing failed: the server said no, or is not there."""


def split_url(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise BenchError(f"--url must be http://HOST:PORT (no TLS), not {url!r}")
    return parts.hostname, parts.port or 80, parts.netloc


class HttpClient:
    """One keep-alive HTTP/1.1 connection for setup and publishing; streams use bench_load."""

    def __init__(self, host: str, port: int, authority: str, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = f"Host: {authority}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is not None and time.monotonic() - self.last_used > IDLE_RECONNECT_SECONDS:
            self.close()
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"{method} {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        try:
            lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:] if line)}
            if status in (204, 304) or status < 200:
                answer = b""
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                answer = await self._read_chunked()
            elif "content-length" in headers:
                answer = await self.reader.readexactly(int(headers["content-length"]))
            else:
                answer = await self.reader.read()
                headers["connection"] = "close"
        except BaseException:
            self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.close()
        self.last_used = time.monotonic()
        return status, answer

    async def _read_chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await self.reader.readexactly(size + 2))
            if size == 0:
                return b"".join(parts)[:-2]
            parts[-1] = parts[-1][:-2]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


WS_PATH = "/api/notifications/ws"


class HeraldTarget:
    """A Herald server: subscriber tokens for bench users, broadcasts to their groups, to all, or to a live channel."""

    kind = "herald"

    def __init__(self, url: str, api_key: str, audience: str = "group", transport: str = "sse", secret: str = "") -> None:
        if not api_key:
            raise BenchError("--api-key is required for --target herald")
        self.host, self.port, self.authority = split_url(url)
        self.api_key = api_key
        self.audience = audience
        self.transport = transport
        self.secret = secret
        self.run_id = secrets.token_hex(3)
        self.channel = f"bench-{self.run_id}"
        # WebSocket streams send this frame once upgraded (bench_load); SSE streams send nothing.
        self.hello = client_frame(0x1, json.dumps({"type": "resume", "cursor": None, "channels": self._channels()}).encode()) \
            if transport == "websocket" else b""
        self.users: list[str] = []
        self.connections_per_user: list[int] = []
        self.groups: list[str] = []
        self.publishers: list[HttpClient] = []

    def client(self) -> HttpClient:
        return HttpClient(self.host, self.port, self.authority, {
            "Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"})

    async def call(self, client: HttpClient, method: str, path: str, body: object, expect: int) -> bytes:
        encoded = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        status, answer = await client.request(method, path, encoded)
        if status != expect:
            raise BenchError(f"{method} {path} answered {status}: {answer[:300].decode(errors='replace')}")
        return answer

    def make_users(self, count: int, tag: str = "u") -> list[str]:
        return [f"bench-{self.run_id}-{tag}{i}" for i in range(count)]

    async def put_groups(self, users: list[str], tag: str = "g") -> list[str]:
        """Groups of at most 10,000 members covering ``users``: one publish each reaches them all."""
        client, names = self.client(), []
        try:
            for start in range(0, len(users), GROUP_LIMIT):
                name = f"bench-{self.run_id}-{tag}{start // GROUP_LIMIT}"
                await self.call(client, "PUT", f"/api/groups/{quote(name)}", {"users": users[start:start + GROUP_LIMIT]}, 200)
                names.append(name)
        finally:
            client.close()
        return names

    async def setup(self, connections: int, users: int) -> list[bytes]:
        """Users, groups and tokens; returns each stream's request (connection i belongs to user i % users)."""
        self.users = self.make_users(users)
        self.connections_per_user = [connections // users + (i < connections % users) for i in range(users)]
        if self.audience == "group" or (self.audience == "all" and self.secret):
            # Groups make the users known, which a locally minted token does not.
            self.groups = await self.put_groups(self.users)
        tokens = self._mint_here(self.users) if self.secret else await self._mint(self.users)
        self.publishers = [self.client() for _ in range(max(1, len(self.groups) if self.audience == "group" else 1))]
        if self.transport == "websocket":
            template = upgrade_request(WS_PATH, self.authority, "Authorization: Bearer %s\r\n").decode()
        else:
            channels = ",".join(self._channels())
            template = (f"GET {STREAM_PATH}{'?channels=' + channels if channels else ''} HTTP/1.1\r\n"
                        f"Host: {self.authority}\r\nAccept: text/event-stream\r\nAuthorization: Bearer %s\r\n\r\n")
        return [(template % tokens[i % users]).encode() for i in range(connections)]

    def _channels(self) -> list[str]:
        return [self.channel] if self.audience == "channel" else []

    def _mint_here(self, users: list[str]) -> list[str]:
        from herald.tokens import TokenSigner

        signer = TokenSigner(self.secret)
        return [signer.mint(user, TOKEN_TTL_SECONDS).token for user in users]

    async def _mint(self, users: list[str]) -> list[str]:
        tokens = [""] * len(users)
        jobs = iter(enumerate(users))

        async def minter() -> None:
            client = self.client()
            try:
                for i, user in jobs:
                    answer = await self.call(client, "POST", "/api/tokens", {"userId": user, "ttlSeconds": TOKEN_TTL_SECONDS}, 200)
                    tokens[i] = json.loads(answer)["token"]
            finally:
                client.close()

        await asyncio.gather(*(minter() for _ in range(MINT_CONCURRENCY)))
        return tokens

    def publish_body(self, to: dict[str, object], k: int) -> dict[str, object]:
        return {"to": to, "type": "bench", "title": f"b{k}", "data": {"k": k, "t": time.time()}}

    async def broadcast(self, k: int) -> float:
        """Publish broadcast k to every bench user; returns when the first publish was sent."""
        if self.audience == "channel":
            bodies = [{**self.publish_body({"channel": self.channel}, k), "persist": False}]
        else:
            targets = [{"group": g} for g in self.groups] if self.audience == "group" else [{"all": True}]
            bodies = [self.publish_body(to, k) for to in targets]
        sent = time.time()
        await asyncio.gather(*(self.call(client, "POST", "/api/publish", body, 202)
                               for client, body in zip(self.publishers, bodies)))
        return sent

    async def publish_one(self, client: HttpClient, k: int) -> int:
        """Publish k to one random user; returns how many streams should receive it."""
        i = random.randrange(len(self.users))
        await self.call(client, "POST", "/api/publish", self.publish_body({"users": [self.users[i]]}, k), 202)
        return self.connections_per_user[i]

    async def cleanup(self) -> None:
        """Delete the bench groups; the bench users' inbox items stay until retention prunes them."""
        for publisher in self.publishers:
            publisher.close()
        client = self.client()
        try:
            for name in self.groups:
                await self.call(client, "DELETE", f"/api/groups/{quote(name)}", None, 204)
        finally:
            client.close()


class PeerTarget:
    """A peer server: over SSE the probe protocol (GET /events, POST /publish "K,T"); over WebSocket the
    WebSocket peer protocol (ws://.../events; a client's text "PUBLISH K,T" sends "K,T" to every socket)."""

    kind = "peer"
    hello = b""

    def __init__(self, url: str, transport: str = "sse") -> None:
        self.host, self.port, self.authority = split_url(url)
        self.transport = transport
        self.connections = 0
        self.publishers: list[HttpClient] = []
        self.socket: PeerSocket | None = None

    def client(self) -> HttpClient:
        return HttpClient(self.host, self.port, self.authority, {"Content-Type": "text/plain"})

    async def setup(self, connections: int, users: int) -> list[bytes]:
        self.connections = connections
        self.publishers = [self.client()]
        if self.transport == "websocket":
            self.socket = await PeerSocket.open(self.host, self.port, self.authority)
            return [upgrade_request("/events", self.authority)] * connections
        return [f"GET /events HTTP/1.1\r\nHost: {self.authority}\r\nAccept: text/event-stream\r\n\r\n".encode()] * connections

    async def _publish(self, client: HttpClient, k: int) -> float:
        sent = time.time()
        if self.socket is not None:
            self.socket.send(f"PUBLISH {k},{sent!r}".encode())
            return sent
        status, answer = await client.request("POST", "/publish", f"{k},{sent!r}".encode())
        if not 200 <= status < 300:  # Litestar answers a POST with 201
            raise BenchError(f"POST /publish answered {status}: {answer[:300].decode(errors='replace')}")
        return sent

    async def broadcast(self, k: int) -> float:
        return await self._publish(self.publishers[0], k)

    async def publish_one(self, client: HttpClient, k: int) -> int:
        # The protocol has no users: every publish is a broadcast.
        await self._publish(client, k)
        return self.connections

    async def cleanup(self) -> None:
        for publisher in self.publishers:
            publisher.close()
        if self.socket is not None:
            self.socket.close()


def upgrade_request(path: str, authority: str, extra: str = "") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {base64.b64encode(secrets.token_bytes(16)).decode()}\r\n"
            f"{extra}\r\n").encode()


class PeerSocket:
    """The publishing socket of the WebSocket peer protocol. It is a subscriber too: what it receives is read and dropped."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.drain = asyncio.ensure_future(self._discard(reader))

    @classmethod
    async def open(cls, host: str, port: int, authority: str) -> "PeerSocket":
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(upgrade_request("/events", authority))
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            writer.close()
            raise BenchError(f"the peer refused the WebSocket upgrade: {head[:80]!r}")
        return cls(reader, writer)

    def send(self, message: bytes) -> None:
        self.writer.write(client_frame(0x1, message))

    @staticmethod
    async def _discard(reader: asyncio.StreamReader) -> None:
        while await reader.read(65536):
            pass

    def close(self) -> None:
        self.drain.cancel()
        self.writer.close()
