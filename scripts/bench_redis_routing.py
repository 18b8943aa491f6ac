"""What the Redis fan-out's routing costs: one channel for every node (Herald's) against a channel per user.

    python scripts/bench_redis_routing.py --recipients 1,100,10000 --nodes 4 --rounds 20

For a publish to R recipients, measured against a real Redis (default
redis://127.0.0.1:6379/15; pub/sub ignores the database number, so run it on
a Redis no Herald node is using):

- one channel: encode the batch (herald.fanout_redis.encode_batch), one
  PUBLISH; each of N nodes receives it and offers every event to its own
  listeners (``Fanout.deliver_local``), so a node also pays for the users it
  does not hold;
- a channel per user: one PUBLISH per recipient (pipelined), each node
  receives only its users' events; every connect and disconnect costs a
  SUBSCRIBE or UNSUBSCRIBE round trip (timed for R channels).

Each figure is the median over --rounds, in milliseconds; the end-to-end time
runs from the first byte published to the last message read by a subscriber
holding R/N users.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import redis.asyncio as redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

from herald.fanout.base import BusEvent  # noqa: E402
from herald.fanout.memory import InProcessFanout  # noqa: E402
from herald.fanout.redis import decode_batch, encode_batch  # noqa: E402

PAYLOAD = b'{"id":"01JD3ZZZZZZZZZZZZZZZZZZZZZ","type":"post.liked","title":"Anna liked your post","body":"",' \
          b'"priority":"medium","timestamp":1732200000000,"read":false,"groupKey":null,"url":"/posts/42",' \
          b'"data":null,"groupCount":1,"actors":null}'


class Sink:
    """A listener that only counts: what a node does per event is the lookup, not the socket write."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def offer(self, event: BusEvent) -> None:
        self.n += 1

    def resync(self) -> None: ...


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 2)


async def one_channel(client: redis.Redis, recipients: int, nodes: int, rounds: int) -> dict[str, float]:
    users = [f"u{i}" for i in range(recipients)]
    events = [BusEvent("notification", user, 7, 2, PAYLOAD, 0.0) for user in users]
    node = InProcessFanout()  # one node of N: it holds every N-th user
    for user in users[::nodes]:
        node.attach(user, Sink())
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe("bench:routing")
    publish, filtering, total = [], [], []
    for _ in range(rounds):
        started = time.perf_counter()
        await client.publish("bench:routing", encode_batch(events))
        publish.append(time.perf_counter() - started)
        message = None
        while message is None:
            message = await pubsub.get_message(timeout=5)
        begun = time.perf_counter()
        node.deliver_local(decode_batch(message["data"]))
        filtering.append(time.perf_counter() - begun)
        total.append(time.perf_counter() - started)
    await pubsub.aclose()
    return {"publish_ms": median_ms(publish), "node_ms": median_ms(filtering), "end_to_end_ms": median_ms(total),
            "subscribe_ms": 0.0}


async def channel_per_user(client: redis.Redis, recipients: int, nodes: int, rounds: int) -> dict[str, float]:
    users = [f"u{i}" for i in range(recipients)]
    mine = users[::nodes]
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    started = time.perf_counter()
    for start in range(0, len(mine), 1000):
        await pubsub.subscribe(*(f"bench:user:{u}" for u in mine[start:start + 1000]))
    subscribe = time.perf_counter() - started
    while await pubsub.get_message(timeout=0.2) is not None:
        pass
    publish, total = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        async with client.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.publish(f"bench:user:{user}", encode_batch([BusEvent("notification", user, 7, 2, PAYLOAD, 0.0)]))
            await pipe.execute()
        publish.append(time.perf_counter() - started)
        for _ in mine:
            message = None
            while message is None:
                message = await pubsub.get_message(timeout=5)
            decode_batch(message["data"])
        total.append(time.perf_counter() - started)
    await pubsub.aclose()
    # What a reconnect storm costs the per-user design: a SUBSCRIBE per stream, here for the node's users.
    return {"publish_ms": median_ms(publish), "node_ms": 0.0, "end_to_end_ms": median_ms(total),
            "subscribe_ms": round(subscribe * 1000, 2)}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--recipients", default="1,100,10000")
    parser.add_argument("--nodes", type=int, default=4, help="nodes sharing the users (each holds 1/N)")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis_url)
    print(f"    python scripts/bench_redis_routing.py {' '.join(sys.argv[1:])}\n")
    print("| recipients | routing | publish ms | per-node filter ms | end to end ms | subscribe, node's users, ms |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for recipients in (int(r) for r in args.recipients.split(",")):
        for name, run in (("one channel (Herald)", one_channel), ("channel per user", channel_per_user)):
            r = await run(client, recipients, args.nodes, args.rounds)
            print(f"| {recipients:,} | {name} | {r['publish_ms']} | {r['node_ms']} | {r['end_to_end_ms']} | {r['subscribe_ms']} |")
    await client.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
