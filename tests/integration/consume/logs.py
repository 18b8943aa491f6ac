"""The four durable logs as a test drives them: a private server each, a producer, and what is still unacked.

Every log here is a real server on a free port, private to one test so that the
test may stop and restart it: ``nats-server`` with JetStream on a file store,
``redis-server`` with an fsync-always append-only file, the ``noida-db``
Kafka-protocol emulator (no Apache Kafka installs here), and for the outbox
the shared PostgreSQL behind a TCP proxy (a restart of the shared server would
hit every other test, so "restarting" the outbox database is cutting every
connection to it and refusing new ones for a while, which is what Herald sees).
"""
from __future__ import annotations

import abc
import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Sequence

from tests.herald_server import create_postgres_database, drop_postgres_database, free_port, run_async
from tests.tcp_proxy import TcpProxy

Produced = Sequence[tuple[str, bytes]]  # (ordering key, publish request JSON)


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.03)
    raise RuntimeError(f"nothing listens on {port}")


class Log(abc.ABC):
    name: str
    ordered_across_nodes: bool
    """Whether one key's order holds while several nodes share the work (docs/consumers.md)."""

    @property
    @abc.abstractmethod
    def env(self) -> dict[str, str]:
        """The HERALD_CONSUME_* settings that point Herald at this log."""

    @abc.abstractmethod
    async def produce(self, messages: Produced) -> None: ...

    @abc.abstractmethod
    async def unacked(self) -> int:
        """Messages in the log that Herald has not acknowledged."""

    @abc.abstractmethod
    def restart(self, down_seconds: float = 1.0) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...


class Process:
    def __init__(self, args: list[str], port: int, log_path: Path) -> None:
        self.args, self.port, self.log_path = args, port, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        wait_port(self.port)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


class NatsLog(Log):
    name, ordered_across_nodes = "nats", False

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        (root / "nats").mkdir(parents=True, exist_ok=True)
        self.server = Process(["nats-server", "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(root / "nats")],
                              self.port, root / "nats.log")
        self.server.start()

    @property
    def env(self) -> dict[str, str]:
        return {"HERALD_CONSUME_NATS_URL": self.url, "HERALD_CONSUME_NATS_ACK_WAIT_SECONDS": "2"}

    async def _client(self):  # type: ignore[no-untyped-def]
        import nats

        return await nats.connect(self.url, connect_timeout=2)

    async def produce(self, messages: Produced) -> None:
        from nats.js.api import StreamConfig

        client = await self._client()
        try:
            js = client.jetstream()
            await js.add_stream(StreamConfig(name="HERALD", subjects=["herald.notify.>"]))  # as Herald would
            for index, (key, body) in enumerate(messages):
                # The subject's last token is the ordering key; Nats-Msg-Id makes a retried publish one message.
                await js.publish(f"herald.notify.{key}", body, headers={"Nats-Msg-Id": f"m{index}-{time.time_ns()}"})
        finally:
            await client.close()

    async def unacked(self) -> int:
        client = await self._client()
        try:
            info = await client.jetstream().consumer_info("HERALD", "herald")
            return int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        finally:
            await client.close()

    def restart(self, down_seconds: float = 1.0) -> None:
        self.server.stop()
        time.sleep(down_seconds)
        self.server.start()

    def close(self) -> None:
        self.server.stop(signal.SIGKILL)


class RedisLog(Log):
    name, ordered_across_nodes = "redis", False
    stream = "herald:notify"

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        (root / "redis").mkdir(parents=True, exist_ok=True)
        # Append-only, fsync on every write: a restart keeps every entry and the group's pending lists.
        self.server = Process(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                               str(root / "redis"), "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
                              self.port, root / "redis.log")
        self.server.start()

    @property
    def env(self) -> dict[str, str]:
        return {"HERALD_CONSUME_REDIS_URL": self.url, "HERALD_CONSUME_REDIS_CLAIM_IDLE_SECONDS": "2"}

    async def produce(self, messages: Produced) -> None:
        from redis.asyncio import Redis

        async with Redis.from_url(self.url) as redis:
            async with redis.pipeline(transaction=False) as pipe:
                for key, body in messages:
                    pipe.xadd(self.stream, {"payload": body, "key": key})
                await pipe.execute()

    async def unacked(self) -> int:
        from redis.asyncio import Redis

        async with Redis.from_url(self.url) as redis:
            groups = await redis.xinfo_groups(self.stream)
        return sum(int(g["pending"]) + int(g["lag"] or 0) for g in groups)

    def restart(self, down_seconds: float = 1.0) -> None:
        self.server.stop()
        time.sleep(down_seconds)
        self.server.start()

    def close(self) -> None:
        self.server.stop(signal.SIGKILL)


class KafkaLog(Log):
    name, ordered_across_nodes = "kafka", True
    topic, partitions = "herald.notify", 3

    def __init__(self, root: Path) -> None:
        import noida_db

        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        binary = str(Path(noida_db.__file__).parent / "noida-db")
        (root / "kafka").mkdir(parents=True, exist_ok=True)
        self.server = Process([binary, "start", "--only", "kafka", "--kafka-port", str(self.port), "--data-dir",
                               str(root / "kafka")], self.port, root / "kafka.log")
        self.server.start()
        # Before Herald subscribes: a consumer's metadata request would auto-create it with one partition.
        run_async(self.create_topic())

    @property
    def env(self) -> dict[str, str]:
        return {"HERALD_CONSUME_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap}

    async def create_topic(self) -> None:
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(self.topic, num_partitions=self.partitions, replication_factor=1)])
        finally:
            await admin.close()

    async def produce(self, messages: Produced) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            for key, body in messages:
                await producer.send(self.topic, body, key=key.encode())  # the key picks the partition
            await producer.flush()
        finally:
            await producer.stop()

    async def unacked(self) -> int:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)  # no group: it must not join Herald's
        await admin.start()
        await consumer.start()
        try:
            committed = await admin.list_consumer_group_offsets("herald")
            partitions = [TopicPartition(self.topic, p) for p in range(self.partitions)]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            return sum(ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in partitions)
        finally:
            await consumer.stop()
            await admin.close()

    def restart(self, down_seconds: float = 1.0) -> None:
        # SIGTERM: the emulator saves its log on a clean stop; it loses acked records on SIGKILL (its gap, not ours).
        self.server.stop()
        time.sleep(down_seconds)
        self.server.start()

    def close(self) -> None:
        self.server.stop(signal.SIGKILL)


class OutboxLog(Log):
    name, ordered_across_nodes = "outbox", True

    def __init__(self, root: Path) -> None:
        self.database = create_postgres_database()  # the product's database, not Herald's
        self.direct = self.database.replace("postgresql+asyncpg://", "postgresql://")
        self.proxy = TcpProxy("127.0.0.1", 5432).start()
        self.url = self.direct.replace("@127.0.0.1:5432/", f"@127.0.0.1:{self.proxy.port}/")
        from herald.consume.outbox import DDL

        subprocess.run(["psql", self.direct, "-q", "-v", "ON_ERROR_STOP=1"], input=DDL.encode(), check=True,
                       capture_output=True)

    @property
    def env(self) -> dict[str, str]:
        return {"HERALD_CONSUME_OUTBOX_URL": self.url}

    async def produce(self, messages: Produced) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.direct)
        try:
            # One transaction per row, as a product commits one change (and its notification) at a time.
            for key, body in messages:
                async with conn.transaction():
                    await conn.execute("INSERT INTO herald_outbox (key, payload) VALUES ($1, $2::jsonb)", key,
                                       body.decode())
        finally:
            await conn.close()

    async def unacked(self) -> int:
        import asyncpg

        conn = await asyncpg.connect(self.direct)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM herald_outbox"))
        finally:
            await conn.close()

    def restart(self, down_seconds: float = 1.0) -> None:
        self.proxy.cut()
        time.sleep(down_seconds)
        self.proxy.restore()

    def close(self) -> None:
        self.proxy.close()
        drop_postgres_database(self.database)


LOGS = {"nats": NatsLog, "redis": RedisLog, "outbox": OutboxLog, "kafka": KafkaLog}


def message(user: str, index: int, **extra: object) -> bytes:
    """A publish request whose title says who and which: ``<user>#<index>``."""
    return json.dumps({"to": {"users": [user]}, "type": "test.consume", "title": f"{user}#{index}", **extra}).encode()
