"""Triage's rules that need no server: type patterns, what a state change writes, and its checks."""
from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from herald.errors import HeraldError
from herald.triage import ItemFilter, StateChange, _check, _values, type_clause
from herald.wire import now_ms


def _sql(clause: object, dialect: object = sqlite.dialect()) -> str:
    return str(clause.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]


def test_a_pattern_ending_in_a_star_matches_by_prefix_with_wildcards_escaped() -> None:
    sql = _sql(type_clause(["order_x.*", "comment"]))
    assert "LIKE 'order/_x.' || '%' ESCAPE '/'" in sql and "= 'comment'" in sql
    assert "LIKE" in _sql(type_clause(["order.*"]), postgresql.dialect())


def test_a_lone_star_matches_everything() -> None:
    assert _sql(type_clause(["a", "*"])) in ("1", "true")


@pytest.mark.parametrize("pattern", ["a**", "*a", "", "a b", "a%", "x" * 101])
def test_bad_patterns_are_refused_as_invalid_requests(pattern: str) -> None:
    with pytest.raises(HeraldError) as refused:
        type_clause([pattern])
    assert refused.value.status == 400


def test_too_many_patterns_are_refused() -> None:
    with pytest.raises(HeraldError):
        type_clause([f"t{i}" for i in range(21)])


def test_reading_is_seeing_and_unreading_keeps_seen_as_it_was() -> None:
    assert _values(StateChange(read=True)) == {"read": True, "seen": True}
    assert _values(StateChange(read=False)) == {"read": False}
    assert _values(StateChange(archived=True, snoozed_until=None)) == {"archived": True, "snoozed_until": None}
    assert _values(StateChange()) == {}


def test_a_snooze_must_be_ahead_and_within_a_year() -> None:
    now = now_ms()
    _check(StateChange(snoozed_until=now + 1000), now)
    _check(StateChange(snoozed_until=None), now)  # wake it now
    for until in (now - 1, now, now + 367 * 24 * 3600 * 1000):
        with pytest.raises(HeraldError):
            _check(StateChange(snoozed_until=until), now)


def test_the_list_leaves_out_archived_and_snoozed_items_but_the_archive_shows_them() -> None:
    listed = " ".join(_sql(c) for c in ItemFilter().clauses(5))
    assert "archived IS 0" in listed and "snoozed_until IS NULL OR" in listed
    archive = " ".join(_sql(c) for c in ItemFilter(archived=True).clauses(5))
    assert "archived IS 1" in archive and "snoozed_until" not in archive
