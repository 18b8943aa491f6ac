"""Quiet hours as a pure function of the schedule, the zone and a clock the test holds."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from herald.quiet import quiet_until, window

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NIGHTS = [window(list("mon tue wed thu fri sat sun".split()), "22:00", "07:00")]


def at(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


def test_daytime_is_not_quiet() -> None:
    assert quiet_until(NIGHTS, BERLIN, None, at(BERLIN, 2026, 6, 10, 12, 0)) is None


def test_a_night_ends_at_seven_local() -> None:
    end = quiet_until(NIGHTS, BERLIN, None, at(BERLIN, 2026, 6, 10, 23, 30))
    assert end == at(BERLIN, 2026, 6, 11, 7, 0)
    assert quiet_until(NIGHTS, BERLIN, None, at(BERLIN, 2026, 6, 11, 6, 59)) == end


def test_the_end_itself_is_not_quiet_and_the_start_is() -> None:
    assert quiet_until(NIGHTS, BERLIN, None, at(BERLIN, 2026, 6, 11, 7, 0)) is None
    assert quiet_until(NIGHTS, BERLIN, None, at(BERLIN, 2026, 6, 10, 22, 0)) == at(BERLIN, 2026, 6, 11, 7, 0)


def test_spring_forward_night_is_an_hour_shorter_but_ends_at_seven_local() -> None:
    # Europe/Berlin leaves CET for CEST at 02:00 on 29 March 2026.
    start = at(BERLIN, 2026, 3, 28, 22, 0)
    end = quiet_until(NIGHTS, BERLIN, None, start)
    assert end == at(BERLIN, 2026, 3, 29, 7, 0)
    assert end is not None and end - start.astimezone(timezone.utc) == timedelta(hours=8)


def test_fall_back_night_is_an_hour_longer() -> None:
    # And returns to CET at 03:00 on 25 October 2026: 01:30 UTC is 02:30 local, the second time.
    start = at(BERLIN, 2026, 10, 24, 22, 0)
    end = quiet_until(NIGHTS, BERLIN, None, start)
    assert end is not None and end - start.astimezone(timezone.utc) == timedelta(hours=10)
    assert quiet_until(NIGHTS, BERLIN, None, datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc)) == end


def test_a_window_starting_in_the_skipped_hour_starts_after_the_change() -> None:
    early = [window(["sun"], "02:30", "04:00")]
    # 02:30 does not exist on 8 March 2026 in New York: read with the old offset it is 03:30 EDT.
    assert quiet_until(early, NEW_YORK, None, at(NEW_YORK, 2026, 3, 8, 3, 15)) is None
    assert quiet_until(early, NEW_YORK, None, at(NEW_YORK, 2026, 3, 8, 3, 45)) == at(NEW_YORK, 2026, 3, 8, 4, 0)


def test_sunday_night_wraps_into_monday() -> None:
    weekend = [window(["sun"], "20:00", "08:00")]
    end = quiet_until(weekend, BERLIN, None, at(BERLIN, 2026, 6, 15, 6, 0))  # a Monday morning
    assert end == at(BERLIN, 2026, 6, 15, 8, 0)
    assert quiet_until(weekend, BERLIN, None, at(BERLIN, 2026, 6, 16, 6, 0)) is None  # Tuesday: not its day


def test_touching_windows_and_do_not_disturb_chain_into_one_period() -> None:
    windows = [window(["fri"], "18:00", "00:00"), window(["sat"], "00:00", "10:00")]
    end = quiet_until(windows, BERLIN, None, at(BERLIN, 2026, 6, 12, 19, 0))
    assert end == at(BERLIN, 2026, 6, 13, 10, 0)
    dnd = at(BERLIN, 2026, 6, 13, 12, 0)
    assert quiet_until(windows, BERLIN, dnd, at(BERLIN, 2026, 6, 12, 19, 0)) == dnd
    # Do not disturb alone, and past.
    assert quiet_until([], BERLIN, dnd, at(BERLIN, 2026, 6, 13, 11, 0)) == dnd
    assert quiet_until([], BERLIN, dnd, dnd) is None


def test_a_schedule_quiet_all_week_still_ends() -> None:
    always = [window(list("mon tue wed thu fri sat sun".split()), "00:00", "00:00")]
    end = quiet_until(always, BERLIN, None, at(BERLIN, 2026, 6, 10, 12, 0))
    assert end is not None and end > at(BERLIN, 2026, 6, 20, 0, 0)


@pytest.mark.parametrize("days,start,end", [([], "22:00", "07:00"), (["monday"], "22:00", "07:00"),
                                            (["mon"], "24:00", "07:00"), (["mon"], "7:00", "08:00"),
                                            (["mon"], "07:60", "08:00"), (["mon"], "aa:bb", "08:00")])
def test_bad_windows_are_refused(days: list[str], start: str, end: str) -> None:
    with pytest.raises(ValueError):
        window(days, start, end)
