"""A TCP proxy a test can cut and restore: a database or Redis "going away" without touching the real one.

``cut()`` resets every proxied connection and closes the listening socket, so the client sees what
it would see if the server died: connections broken mid-query, then "connection refused".
``restore()`` listens again on the same port. ``freeze()`` is the nastier fault, a network partition
or a hung host: connections stay open and new ones are accepted, but no byte gets through until
``thaw()``. Threads, not asyncio, so sync tests can drive it.
"""
from __future__ import annotations

import socket
import struct
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._flowing = threading.Event()
        self._flowing.set()
        self.connections = 0  # accepted so far, for tests that want to see traffic went through

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> "TcpProxy":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="tcp-proxy-accept").start()
        return self

    @property
    def url_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cut(self) -> None:
        """Break every connection (RST) and refuse new ones until ``restore``."""
        with self._lock:
            listener, self._listener = self._listener, None
            doomed, self._sockets = self._sockets, set()
        if listener is not None:
            _wake_and_close(listener)
        for sock in doomed:
            _reset(sock)

    def restore(self) -> None:
        if self._listener is None:
            self.start()

    def freeze(self) -> None:
        """Hold every byte in both directions, on open and new connections, until ``thaw``."""
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self.thaw()
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut() closed the listener
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    _reset(client)
                    _reset(upstream)
                    continue
                self._sockets |= {client, upstream}
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True, name="tcp-proxy-pump").start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._sockets.discard(source)
            self._sockets.discard(sink)
        for sock in (source, sink):
            _reset(sock)


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN: the peer learns at once, as when a server process dies."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    _wake_and_close(sock, socket.SHUT_RD)


def _wake_and_close(sock: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    # On Linux close() does not wake a thread blocked in recv() or accept() on the socket; shutdown() does.
    try:
        sock.shutdown(how)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
