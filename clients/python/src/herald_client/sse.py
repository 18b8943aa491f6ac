"""An incremental Server-Sent Events parser (WHATWG HTML, "event stream interpretation").

Used where the transport reads raw bytes (httpx, and ``fetch`` in Pyodide when a
token must go in a header); the browser's ``EventSource`` parses for itself.
"""
from __future__ import annotations

import codecs

from herald_client.http import ServerEvent


class SSEParser:
    """Feed bytes as they arrive; get whole frames back. Comments (``: keep-alive``) are skipped."""

    def __init__(self) -> None:
        self._buffer = ""
        self._pending_cr = False
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self.retry_ms: int | None = None
        # Incremental: a multi-byte character may be split across two network reads.
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, chunk: bytes) -> list[ServerEvent]:
        text = self._decoder.decode(chunk)
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]  # the \n of a \r\n split across two chunks
        self._pending_cr = text.endswith("\r")
        lines = (self._buffer + text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._buffer = lines.pop()
        events = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> ServerEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\x00" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> ServerEvent | None:
        event, data, id_ = self._event or "message", self._data, self._id
        self._event, self._data, self._id = "", [], None
        if not data:
            return None  # as EventSource does: a frame without data dispatches nothing
        return ServerEvent(event, "\n".join(data), id_)
