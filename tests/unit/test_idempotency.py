"""Idempotency keys in process, on both databases: one statement to claim, the first answer to every retry."""
from __future__ import annotations

import asyncio

from sqlalchemy import func, select, update

from herald.models import idempotency_keys, notifications
from herald.services import Services
from tests.unit.test_publish import SINGLE_RECIPIENT_STATEMENTS, publish_to, services, statements_of

__all__ = ["services"]  # the fixture, shared with test_publish


async def count_notifications(services: Services) -> int:
    async with services.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(notifications))).scalar() or 0)


async def test_a_keyed_publish_costs_one_statement_more_and_a_retry_gets_the_first_answer(services: Services) -> None:
    publisher = services.publisher
    await publisher.publish(publish_to("warm", idempotencyKey="warm"), "producer")
    seen = statements_of(services)
    first = await publisher.publish(publish_to("anna", idempotencyKey="order-1"), "producer")
    assert len(seen) <= SINGLE_RECIPIENT_STATEMENTS + 1, seen
    assert not [s for s in seen if s.lstrip().upper().startswith("SELECT")], "no look-up before the claim"
    again = await publisher.publish(publish_to("anna", idempotencyKey="order-1"), "producer")
    other_producer = await publisher.publish(publish_to("anna", idempotencyKey="order-1"), "another")
    assert (again.id, again.recipients) == (first.id, 1)
    assert other_producer.id != first.id, "keys are per producer"
    assert await count_notifications(services) == 3


async def test_twins_sent_at_once_store_one_notification(services: Services) -> None:
    answers = await asyncio.gather(*(services.publisher.publish(publish_to("ben", idempotencyKey="twin"), "producer")
                                     for _ in range(5)))
    assert len({answer.id for answer in answers}) == 1
    assert await count_notifications(services) == 1


async def test_an_expired_key_is_taken_over_by_the_next_publish(services: Services) -> None:
    first = await services.publisher.publish(publish_to("carla", idempotencyKey="k"), "producer")
    async with services.db.write() as conn:
        await conn.execute(update(idempotency_keys).values(created_at=idempotency_keys.c.created_at
                                                           - services.publisher.idempotency_ms - 1))
    second = await services.publisher.publish(publish_to("carla", idempotencyKey="k"), "producer")
    assert second.id != first.id
    assert (await services.publisher.publish(publish_to("carla", idempotencyKey="k"), "producer")).id == second.id


async def test_a_group_publish_with_a_key_answers_retries_with_its_recipient_count(services: Services) -> None:
    await services.audience.put_group("team", ["a", "b", "c"])
    first = await services.publisher.publish(publish_to("x", to={"group": "team"}, idempotencyKey="g"), "producer")
    again = await services.publisher.publish(publish_to("x", to={"group": "team"}, idempotencyKey="g"), "producer")
    assert (again.id, again.recipients) == (first.id, 3)
