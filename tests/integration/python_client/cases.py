"""The subscriber tests, written once and run in every runtime (test_subscriber.py, tests/e2e/test_python_client.py).

The host side of each: it publishes with the client's own producer, restarts
the server when the scenario says it is listening, and asserts on what the
scenario saw inside its runtime.
"""
from __future__ import annotations

from herald_client import Herald, Target

from tests.herald_server import HeraldServer
from tests.integration.python_client.runtimes import Runtime

CONNECTIONS_PER_USER = 2  # the runtime tests' server: small, so that replacing the oldest stream is cheap


def auth(runtime: Runtime, producer: Herald, user: str) -> dict[str, str]:
    return {"mode": runtime.auth_mode, "token": producer.mint_token(user).token}


def publish(producer: Herald, user: str, *titles: str, **fields: object) -> None:
    for title in titles:
        producer.publish(Target.users(user), type="test", title=title, **fields)  # type: ignore[arg-type]


def resume_after_restart_loses_and_repeats_nothing(runtime: Runtime, server: HeraldServer, producer: Herald,
                                                   user: str) -> None:
    run = runtime.start("collect", url=server.url, auth=auth(runtime, producer, user), count=5)
    run.wait_for("ready 1")
    publish(producer, user, "a", "b")
    run.wait_for("item b")
    server.restart()  # same port and database; the stream drops and the client backs off
    publish(producer, user, "c", "d", "e")
    seen = run.outcome()
    assert seen["titles"] == ["a", "b", "c", "d", "e"]
    assert seen["readies"] >= 2  # it did reconnect, and resumed from its cursor
    # The cursor it kept resumes after everything: a new subscriber from it gets only what comes next.
    again = runtime.start("collect", url=server.url, auth=auth(runtime, producer, user), count=1, cursor=seen["cursor"])
    again.wait_for("ready 1")
    publish(producer, user, "f")
    assert again.outcome()["titles"] == ["f"]


def replay_from_an_earlier_cursor_is_not_yielded_twice(runtime: Runtime, server: HeraldServer, producer: Herald,
                                                       user: str) -> None:
    run = runtime.start("rewind", url=server.url, auth=auth(runtime, producer, user))
    run.wait_for("ready")
    publish(producer, user, "one", "two")
    run.wait_for("rewound")  # reconnected from before "one": Herald replays both
    publish(producer, user, "three")
    assert run.outcome()["titles"] == ["one", "two", "three"]


def a_group_growing_in_place_is_yielded_as_an_update(runtime: Runtime, server: HeraldServer, producer: Herald,
                                                     user: str) -> None:
    run = runtime.start("groups", url=server.url, auth=auth(runtime, producer, user))
    run.wait_for("ready")
    for actor in ("Anna", "Ben"):
        publish(producer, user, f"{actor} liked your post", group_key="post:1:likes", actor=actor)
    (first_id, first_count, _), (second_id, second_count, actors) = run.outcome()["seen"]
    assert first_id == second_id and (first_count, second_count) == (1, 2)
    assert set(actors) == {"Anna", "Ben"}


def pages_and_read_state_follow_the_server(runtime: Runtime, server: HeraldServer, producer: Herald,
                                           user: str) -> None:
    publish(producer, user, "t1", "t2", "t3")
    seen = runtime.start("read_state", url=server.url, auth=auth(runtime, producer, user)).outcome()
    assert seen["newest"] == ["t3", "t2"] and seen["older"] == ["t1"] and seen["after"] == ["t2", "t3"]
    assert seen["counts"] == [2, 0]
    assert seen["changes"] == [{"ids": [seen["read_id"]], "all": False, "unread": 2},
                               {"ids": [], "all": True, "unread": 0}]
    assert seen["unread_after"] == 0 and seen["all_read"]


def a_cursor_the_inbox_never_reached_reloads_through_the_list(runtime: Runtime, server: HeraldServer,
                                                               producer: Herald, user: str) -> None:
    publish(producer, user, "kept 1", "kept 2")
    seen = runtime.start("reset", url=server.url, auth=auth(runtime, producer, user)).outcome()
    assert seen["kinds"] == ["Ready", "Reset", "Notification", "Notification"]
    assert seen["page"] == ["kept 2", "kept 1"]  # the page, newest first; yielded oldest first
    assert int(seen["cursor"]) >= 2


def no_credentials_end_the_iteration_with_unauthorized(runtime: Runtime, server: HeraldServer, producer: Herald,
                                                       user: str) -> None:
    seen = runtime.start("refused", url=server.url, auth=auth(runtime, producer, user)).outcome()
    assert seen == {"error": "Unauthorized", "code": "unauthorized", "status": 401}


def a_stream_replaced_by_a_newer_one_stops_for_good(runtime: Runtime, server: HeraldServer, producer: Herald,
                                                    user: str) -> None:
    seen = runtime.start("replaced", url=server.url, auth=auth(runtime, producer, user),
                         limit=CONNECTIONS_PER_USER).outcome()
    assert seen["oldest"] == "StreamClosed too_many_connections"


CASES = [resume_after_restart_loses_and_repeats_nothing, replay_from_an_earlier_cursor_is_not_yielded_twice,
         a_group_growing_in_place_is_yielded_as_an_update, pages_and_read_state_follow_the_server,
         a_cursor_the_inbox_never_reached_reloads_through_the_list, no_credentials_end_the_iteration_with_unauthorized,
         a_stream_replaced_by_a_newer_one_stops_for_good]
