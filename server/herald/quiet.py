"""Quiet hours: whether a user's time is quiet now, and until when. Pure: the clock is an argument.

A schedule is a list of weekly windows in the user's IANA time zone,
``{"days": ["mon", ...], "start": "22:00", "end": "07:00"}``. A window whose
end is not after its start runs past midnight into the next day, and its days
name the day it starts (so Sunday 22:00-07:00 ends on Monday: the week wraps).
Do not disturb (``dndUntil``) is one more quiet period, ending at an instant.

Wall-clock times are resolved through zoneinfo on each date, so a window keeps
its local hours across a DST change (22:00-07:00 lasts 8 hours one night of
the year and 10 another). A time that does not exist that day (02:30 when
clocks spring from 02:00 to 03:00) is read with the offset before the change
(``fold=0``), i.e. it falls an hour later on the wall clock; a time that
exists twice takes its first occurrence.

Periods that touch or overlap count as one: the quiet period ends when no
window and no do-not-disturb covers the moment any longer.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator, Sequence
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Chained periods are followed this many times at most: a schedule that is quiet all week ends somewhere.
MAX_CHAIN = 16


@dataclass(frozen=True, slots=True)
class Window:
    days: frozenset[int]
    """Weekdays the window starts on, 0 for Monday (``date.weekday``)."""
    start: time
    end: time


def window(days: Sequence[str], start: str, end: str) -> Window:
    """A window from its wire form; ``ValueError`` names what is wrong."""
    unknown = [day for day in days if day not in DAYS]
    if unknown or not days:
        raise ValueError(f'"days" must be some of {", ".join(DAYS)}.')
    return Window(frozenset(DAYS.index(day) for day in days), _clock(start), _clock(end))


def _clock(text: str) -> time:
    hours, _, minutes = text.partition(":")
    if len(text) != 5 or not (hours.isdigit() and minutes.isdigit()) or int(hours) > 23 or int(minutes) > 59:
        raise ValueError(f'"{text}" is not a time of day: use 24-hour "HH:MM", 00:00 to 23:59.')
    return time(int(hours), int(minutes))


def quiet_until(windows: Sequence[Window], zone: ZoneInfo, dnd_until: datetime | None,
                now: datetime) -> datetime | None:
    """The end (UTC) of the quiet period ``now`` is in, or None when ``now`` is not quiet."""
    end: datetime | None = None
    probe = now.astimezone(timezone.utc)
    for _ in range(MAX_CHAIN):
        found = _covering(windows, zone, dnd_until, probe)
        if found is None:
            break
        end = probe = found
    return end


def _covering(windows: Sequence[Window], zone: ZoneInfo, dnd_until: datetime | None,
              moment: datetime) -> datetime | None:
    """The latest end among the periods that cover ``moment`` (start <= moment < end)."""
    latest = dnd_until.astimezone(timezone.utc) if dnd_until is not None and moment < dnd_until else None
    today = moment.astimezone(zone).date()
    for start, end in _periods(windows, zone, today):
        if start <= moment < end and (latest is None or end > latest):
            latest = end
    return latest


def _periods(windows: Sequence[Window], zone: ZoneInfo, today: date) -> Iterator[tuple[datetime, datetime]]:
    """Each window's periods that start yesterday or today (local), as UTC instants."""
    for day in (today - timedelta(days=1), today):
        for w in windows:
            if day.weekday() not in w.days:
                continue
            end_day = day if w.end > w.start else day + timedelta(days=1)
            # Comparing aware datetimes that share a tzinfo ignores their offsets: compare in UTC only.
            yield (datetime.combine(day, w.start, zone).astimezone(timezone.utc),
                   datetime.combine(end_day, w.end, zone).astimezone(timezone.utc))
