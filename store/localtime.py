"""Moment arithmetic and local times: the CRM's time helpers that are not the domain model.

A moment (:data:`store.domain.Moment`) is zoned, floating or a date, and
Python's own arithmetic gets zoned ones wrong across a daylight-saving change
(it subtracts and adds wall clocks). These helpers compare, measure and move
moments in real time, and place a wall-clock time in a zone as RFC 5545
3.3.5 reads local times, saying when the zone skips or repeats it. With them
the zone look-up, the current instant and the order of a start and an end,
which the domain's invariants check. Pure: no persistence, no iCalendar, so
mapping/ may use them as the store does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from store.errors import InvalidFollowup

if TYPE_CHECKING:
    from store.domain import Moment


def zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``, or InvalidFollowup naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidFollowup(f"unknown time zone {name!r}: use an IANA name such as Europe/Oslo") from exc


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


FIRST_DAY = date(2, 1, 1)
LAST_DAY = date(9998, 12, 31)
"""The days a diary or a free/busy window may touch: a year inside what ``datetime`` represents, so that no
window, zone offset or expansion slack around them overflows."""


def utc_naive(moment: datetime) -> datetime:
    """An aware ``moment`` as naive UTC: how the store's ``*_utc`` columns hold instants."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def midnight(day: date, tz: tzinfo) -> datetime:
    """The start of ``day`` in ``tz`` (the start of a diary or free/busy window)."""
    return datetime.combine(day, datetime.min.time(), tzinfo=tz)


def is_date(moment: Moment | None) -> bool:
    return isinstance(moment, date) and not isinstance(moment, datetime)


def as_datetime(moment: Moment, tz: tzinfo | None = None) -> datetime:
    """A datetime for ordering and arithmetic: dates become midnight."""
    if isinstance(moment, datetime):
        return moment
    return datetime(moment.year, moment.month, moment.day, tzinfo=tz)


def same_instant(a: Moment, b: Moment) -> bool:
    """Whether two moments name the same time: zoned ones by instant (as RECURRENCE-ID is matched,
    RFC 5545 §3.8.4.4), floating ones and dates by value."""
    if isinstance(a, datetime) != isinstance(b, datetime):
        return False
    if isinstance(a, datetime) and isinstance(b, datetime):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return False
        if a.tzinfo is not None:
            return a.astimezone(UTC) == b.astimezone(UTC)
    return a == b


def elapsed(start: Moment, end: Moment) -> timedelta:
    """``end - start`` in real time. Python subtracts two datetimes of the same zone by their wall
    clocks, which is an hour off across a daylight-saving change; this goes through UTC."""
    a, b = as_datetime(start), as_datetime(end)
    if a.tzinfo is not None and b.tzinfo is not None:
        return b.astimezone(UTC) - a.astimezone(UTC)
    return b.replace(tzinfo=None) - a.replace(tzinfo=None)


def later(moment: Moment, delta: timedelta) -> Moment:
    """``moment + delta`` in real time, back in ``moment``'s zone (a valid local time, with the
    right ``fold``); floating times move by the wall clock, dates by whole days."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            return moment + delta
        return (moment.astimezone(UTC) + delta).astimezone(moment.tzinfo)
    return moment + timedelta(days=delta.days)


@dataclass(frozen=True)
class LocalTime:
    """A wall-clock time placed in a zone: the moment used, and what was odd about the wall time."""

    moment: datetime
    skipped: bool = False
    """The zone skips that wall time (clocks go forward): ``moment`` is the first valid time after the gap."""
    repeated: bool = False
    """The zone has that wall time twice (clocks go back): ``moment`` is the first (``fold=0``)."""

    def note(self, wall: datetime) -> str | None:
        """One line saying what was done with ``wall``, or None when it was an ordinary time."""
        key = getattr(self.moment.tzinfo, "key", str(self.moment.tzinfo))
        asked = _wall_text(wall, None)
        if self.skipped:
            return (f"{asked} does not exist in {key} (clocks go forward); "
                    f"using {_wall_text(self.moment.replace(tzinfo=None), wall.date())}")
        if self.repeated:
            offset = self.moment.strftime("%z")
            return (f"{asked} happens twice in {key} (clocks go back); using the first, "
                    f"{_wall_text(self.moment.replace(tzinfo=None), wall.date())} {self.moment.tzname()} "
                    f"(UTC{offset[:3]}:{offset[3:]})")
        return None


def _wall_text(wall: datetime, day: date | None) -> str:
    clock = wall.strftime("%H:%M:%S" if wall.second else "%H:%M")
    return clock if day is not None and wall.date() == day else f"{wall.strftime('%Y-%m-%d')} {clock}"


def local_time(wall: datetime, tz: ZoneInfo) -> LocalTime:
    """The moment a wall-clock time ``wall`` (naive) names in ``tz``, also on daylight-saving days.

    RFC 5545 §3.3.5 reads a skipped local time with the offset before the gap (02:30 becomes
    03:30) and a repeated one as its first occurrence. The CRM keeps the second rule, but a time
    that does not exist would be stored as a wall time no clock shows and measured an hour off,
    so it becomes the first valid time after the gap (02:30 in Oslo's spring gap: 03:00), and
    the caller says so.
    """
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return LocalTime(first)
    if _exists(first):
        return LocalTime(first, repeated=True)
    return LocalTime(_gap_end(first, second, tz), skipped=True)


def _exists(moment: datetime) -> bool:
    assert moment.tzinfo is not None
    return moment.astimezone(UTC).astimezone(moment.tzinfo).replace(tzinfo=None) == moment.replace(tzinfo=None)


def _gap_end(first: datetime, second: datetime, tz: ZoneInfo) -> datetime:
    """The instant clocks jumped over ``first``'s wall time, as a local time: the gap's end.
    ``second`` (read with the offset after the gap) lies before it, ``first`` at or after it."""
    lo, hi = second.astimezone(UTC), first.astimezone(UTC)
    after = hi.astimezone(tz).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + timedelta(seconds=int((hi - lo).total_seconds()) // 2)
        if mid.astimezone(tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi.astimezone(tz)


def _comparable(a: Moment, b: Moment) -> tuple[datetime, datetime]:
    if is_date(a) != is_date(b):
        raise InvalidFollowup("start and end must both be dates (all day) or both be times")
    da, db = as_datetime(a), as_datetime(b)
    if (da.tzinfo is None) != (db.tzinfo is None):
        da, db = da.replace(tzinfo=None), db.replace(tzinfo=None)
    elif da.tzinfo is not None:
        da, db = da.astimezone(UTC), db.astimezone(UTC)  # one zone's datetimes compare by wall clock
    return da, db


def check_order(start: Moment, end: Moment) -> None:
    """Raise InvalidFollowup unless ``end`` is not before ``start`` (an all-day ``end``, exclusive,
    after it), comparing zoned moments by instant."""
    a, b = _comparable(start, end)
    if is_date(start) and b <= a:
        raise InvalidFollowup(f"an all-day follow-up ends after it starts (end is exclusive): {start} .. {end}")
    if b < a:
        raise InvalidFollowup(f"the end ({end}) is before the start ({start})")
