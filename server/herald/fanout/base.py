"""The fan-out bus: carries committed inbox writes to the connections that want them.

Contract for every implementation:

- Live-only. The bus never stores anything; the database is the history. An
  event lost here (a full queue, Redis down, a process dying) is recovered by
  the gateway from the inbox, because every event names its per-user sequence.
- Per-user order is *not* promised: two publishers may reach the bus in the
  other order. The gateway's cursor never moves past a missing sequence number.
- ``publish`` never blocks on a slow consumer: it only hands events to
  per-connection queues (``Listener.offer`` is synchronous and cheap).

Two implementations: ``memory.InProcessFanout`` (the embedded default, one
process) and ``redis.RedisFanout`` (several processes and nodes).

Why not ``litestar.channels``: its subscribers are FIFO queues, each drained by
its own task; Herald needs a per-connection *priority* queue that the bus can
offer to synchronously, with the cursor bookkeeping beside it.
"""
from __future__ import annotations

import abc
from typing import Callable, Iterable, Protocol, Sequence

import msgspec


class BusEvent(msgspec.Struct, array_like=True, frozen=True):
    """What travels on the bus. ``seq`` is 0 for events outside the inbox order (live channel events)."""

    kind: str
    """``notification`` (an item), ``channel`` (a live event), ``broadcast`` (to every connection, broadcasts.py),
    or an inbox change's event name (``read``)."""
    key: str
    """The user the event is for; for ``channel``, the live channel's name; for ``broadcast``, the topic, or ""
    for ``all`` (a change with key "" goes to every connection too: a broadcast's retraction)."""
    seq: int
    rank: int
    payload: bytes
    sent_at: float = 0.0
    """When the publish was accepted (epoch seconds), for the delivery latency histogram; 0: not measured."""


class Follows(msgspec.Struct, frozen=True):
    """The payload of a ``follows`` event (key: the user): never written to a client."""

    topic: str
    following: bool


_decode_follows = msgspec.json.Decoder(Follows).decode


class Presence(msgspec.Struct, frozen=True):
    """Who is online, cluster-wide: distinct users with a live connection, and users per node."""

    users: int
    nodes: dict[str, int]


class Listener(Protocol):
    def offer(self, event: BusEvent) -> None: ...

    def resync(self) -> None:
        """Re-read the inbox from the cursor: the bus may have dropped events."""


class Fanout(abc.ABC):
    """Keeps this process's listeners per user; subclasses move events between processes."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[Listener]] = {}
        self._channels: dict[str, set[Listener]] = {}  # live channels: who listens, by name
        self._topics: dict[str, set[Listener]] = {}  # topics' broadcasts: the connections of their followers here
        self._topics_of: dict[Listener, set[str]] = {}
        # The gateway's, when it marks broadcasts per recipient (preferences); else each listener is offered it as is.
        self.on_broadcast: Callable[[BusEvent, tuple[Listener, ...]], None] | None = None
        self._count = 0

    @property
    def connections(self) -> int:
        return self._count

    def attach(self, user_id: str, listener: Listener) -> None:
        self._listeners.setdefault(user_id, set()).add(listener)
        self._count += 1

    def detach(self, user_id: str, listener: Listener) -> None:
        listeners = self._listeners.get(user_id)
        if listeners is None or listener not in listeners:
            return
        listeners.discard(listener)
        self._count -= 1
        if not listeners:
            del self._listeners[user_id]
        for topic in self._topics_of.pop(listener, ()):
            self._drop(self._topics, topic, listener)

    def join(self, channel: str, listener: Listener) -> None:
        self._channels.setdefault(channel, set()).add(listener)

    def leave(self, channel: str, listener: Listener) -> None:
        self._drop(self._channels, channel, listener)

    def follow(self, topic: str, listener: Listener) -> None:
        """Hear the topic's broadcasts: the user follows it (until ``detach``, or a ``follows`` event ends it)."""
        self._topics.setdefault(topic, set()).add(listener)
        self._topics_of.setdefault(listener, set()).add(topic)

    def _following(self, event: BusEvent) -> None:
        """A ``follows`` event: the user followed or unfollowed a topic; their connections here hear it or stop."""
        change = _decode_follows(event.payload)
        for listener in tuple(self._listeners.get(event.key, ())):
            if change.following:
                self.follow(change.topic, listener)
            else:
                self._drop(self._topics, change.topic, listener)
                self._topics_of.get(listener, set()).discard(change.topic)

    @staticmethod
    def _drop(index: dict[str, set[Listener]], name: str, listener: Listener) -> None:
        listeners = index.get(name)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del index[name]

    def online_here(self, user_id: str) -> bool:
        return user_id in self._listeners

    async def online(self, user_ids: Iterable[str]) -> set[str]:
        """Which of these users have a live connection. Here: in this process; a multi-process bus asks them all."""
        return {user_id for user_id in user_ids if user_id in self._listeners}

    async def nodes_of(self, user_id: str) -> list[str]:
        """The nodes holding a live connection of this user (for the admin's support page). Here: this process."""
        return ["this process"] if self.online_here(user_id) else []

    async def presence(self) -> Presence:
        """Users online everywhere this bus reaches (for the admin dashboard). Here: this process."""
        return Presence(len(self._listeners), {"this process": len(self._listeners)})

    def deliver_local(self, events: Sequence[BusEvent]) -> int:
        """Offer each event to this process's listeners of its user or channel; returns how many offers were made."""
        offers = 0
        of_user, of_channel, of_topic = self._listeners.get, self._channels.get, self._topics.get
        for event in events:
            if event.kind == "follows":
                self._following(event)
                continue
            if event.kind == "broadcast":  # to every connection here (""), or a topic's followers' connections
                listeners = tuple(of_topic(event.key) or ()) if event.key else self._everyone()
                if self.on_broadcast is not None:
                    self.on_broadcast(event, listeners)
                else:
                    for listener in listeners:
                        listener.offer(event)
                offers += len(listeners)
                continue
            if not event.key and event.kind != "channel":  # a change for everyone: a broadcast's retraction
                everyone = self._everyone()
                for listener in everyone:
                    listener.offer(event)
                offers += len(everyone)
                continue
            listeners = of_channel(event.key) if event.kind == "channel" else of_user(event.key)
            if listeners:
                for listener in tuple(listeners):
                    listener.offer(event)
                offers += len(listeners)
        return offers

    def _everyone(self) -> tuple[Listener, ...]:
        """Every listener here, for what goes to all of them (key ""): a broadcast to ``all``, its retraction."""
        return tuple(listener for mine in self._listeners.values() for listener in mine)

    def resync_local(self) -> None:
        """After a bus outage: every local listener re-reads what it may have missed."""
        for listeners in list(self._listeners.values()):
            for listener in tuple(listeners):
                listener.resync()

    async def start(self) -> None:
        """Connect to whatever carries events between processes."""

    async def stop(self) -> None:
        """Release connections; listeners are closed by their own streams."""

    async def ping(self) -> None:
        """Raise if the bus cannot carry events right now."""

    @abc.abstractmethod
    async def publish(self, events: Sequence[BusEvent]) -> None:
        """Send committed events to every process's listeners."""
