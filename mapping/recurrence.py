"""Recurrence expansion (RFC 5545 §3.8.5, §3.3.10), always bounded.

Rules are expanded in the series' local wall time and then placed in its
zone, so a weekly 09:00 meeting stays at 09:00 across DST changes. A series
without end is accepted; every expansion stops at the window's end and at a
scan limit, so nothing loops.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Protocol

from dateutil.rrule import rrule, rrulestr
from icalendar.prop import vRecur

from mapping.errors import InvalidRecurrence
from mapping.limits import Budget
from mapping.preserve import rid_key
from mapping.rules import check_rule, never_matches
from mapping.timezones import as_aware
from store.domain import Followup, Moment, Occurrence
from store.localtime import later

MAX_SCAN = 200_000
"""Most rule instances looked at in one expansion, in or before the window."""

_PERIODS = {"SECONDLY": timedelta(seconds=1), "MINUTELY": timedelta(minutes=1), "HOURLY": timedelta(hours=1),
            "DAILY": timedelta(days=1), "WEEKLY": timedelta(weeks=1)}


class Series:
    """Instances of one recurrence set: DTSTART, RRULE, RDATE, minus EXDATE."""

    def __init__(self, anchor: Moment, rule: str | None, rdates: list[Moment] | None = None,
                 exdates: list[Moment] | None = None) -> None:
        self.anchor = anchor
        self.zone: tzinfo | None = anchor.tzinfo if isinstance(anchor, datetime) else None
        self.is_date = not isinstance(anchor, datetime)
        self.rdates = list(rdates or [])
        self.excluded = {rid_key(m) for m in exdates or []}
        self.parts: dict[str, Any] | None = None
        self.broken = False
        if rule:
            try:
                self.parts = check_rule(rule)
            except InvalidRecurrence:
                self.broken = True

    # -- wall time ------------------------------------------------------------
    def wall(self, moment: Moment) -> datetime:
        """A moment as naive wall time in the series' frame."""
        if not isinstance(moment, datetime):
            return datetime(moment.year, moment.month, moment.day)
        if moment.tzinfo is None or self.zone is None:
            return moment.replace(tzinfo=None)
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def back(self, wall: datetime) -> Moment:
        if self.is_date:
            return wall.date()
        return wall.replace(tzinfo=self.zone) if self.zone is not None else wall

    @property
    def bounded(self) -> bool:
        """Whether the rule ends (COUNT or UNTIL); no rule is bounded too."""
        if self.broken:
            return False
        if self.parts is None:
            return True
        return "COUNT" in self.parts or "UNTIL" in self.parts

    def _rule(self, dtstart: datetime) -> rrule | None:
        if self.parts is None or never_matches(vRecur(self.parts).to_ical().decode(), self.wall(self.anchor)):
            return None
        parts = dict(self.parts)
        until = parts.get("UNTIL")
        if until:
            value = until[0]
            if isinstance(value, datetime):
                value = self.wall(value)
            elif isinstance(value, date):
                value = datetime(value.year, value.month, value.day, 23, 59, 59)
            parts["UNTIL"] = [value]
        text = vRecur(parts).to_ical().decode()
        try:
            result = rrulestr(text, dtstart=dtstart)
        except (ValueError, TypeError, OverflowError):
            self.broken = True
            return None
        return result if isinstance(result, rrule) else None

    @staticmethod
    def _generate(rule: rrule | None, budget: Budget) -> Iterator[datetime]:
        """The rule's instances until the budget is spent; dateutil's own errors (a BYxxx value its
        grid never reaches, a date past 9999) end the series."""
        if rule is None:
            return
        it = iter(rule)
        while True:
            try:
                value = next(it)
            except (StopIteration, ValueError, TypeError, OverflowError):
                return
            if not budget.spend():
                return
            yield value

    def _fast_forward(self, target: datetime) -> datetime:
        """A later DTSTART on the same grid, skipping whole periods before ``target`` (no COUNT only)."""
        start = self.wall(self.anchor)
        if not self.parts or "COUNT" in self.parts or "BYSETPOS" in self.parts:
            return start
        freq = str(self.parts.get("FREQ", [""])[0]).upper()
        period = _PERIODS.get(freq)
        if period is None or target <= start:
            return start
        step = period * int(self.parts.get("INTERVAL", [1])[0] or 1)
        steps = (target - start) // step - 1
        return start + step * steps if steps > 0 else start

    def walls(self, after: datetime | None = None, before: datetime | None = None,
              scan: int = MAX_SCAN) -> Iterator[datetime]:
        """Instance starts as wall times, ascending, from about ``after`` until ``before`` (excluded).

        Stops after ``scan`` rule instances, or when the budget of max_instances and max_expansion_ms
        is spent; ``self.truncated`` tells whether it did, ``self.exhausted`` which limit it hit.
        """
        self.truncated = False
        self.exhausted: str | None = None
        budget = Budget()
        budget.left = min(budget.left, scan)
        first = self.wall(self.anchor)
        extra = sorted({self.wall(m) for m in self.rdates} | {first})
        dtstart = self._fast_forward(after) if after is not None else first
        rule = self._rule(dtstart)
        generated = self._generate(rule, budget)
        pending = [w for w in extra if after is None or w >= after]
        pending.reverse()
        last: datetime | None = None
        nxt: datetime | None = next(generated, None)
        while True:
            if nxt is None and budget.exhausted is not None and not self.truncated:
                self.truncated = True
                self.exhausted = budget.exhausted
            candidate: datetime | None
            if pending and (nxt is None or pending[-1] <= nxt):
                candidate = pending.pop()
            elif nxt is not None:
                candidate = nxt
                nxt = next(generated, None)
            else:
                return
            if before is not None and candidate >= before:
                return
            if candidate == last:
                continue
            last = candidate
            if rid_key(self.back(candidate)) in self.excluded:
                continue
            yield candidate

    def last_start(self, cap: int = 10_000) -> Moment | None:
        """The last instance's start when the set ends within ``cap`` instances, else None."""
        if not self.bounded:
            return None
        last: datetime | None = None
        for wall in self.walls(scan=cap):
            last = wall
        if self.truncated:
            return None
        return self.back(last) if last is not None else self.anchor


LISTED = 1000
"""Most instances a prepared series keeps listed (:func:`prepare`); a longer set is walked per window."""


@dataclass(frozen=True)
class Prepared:
    """A recurrence set parsed once, for any number of windows: its :class:`Series` and, when the
    set ends within :data:`LISTED` instances, every instance start as wall time, ascending. A
    window then takes its slice by bisection instead of walking a COUNT rule from its first
    instance (dateutil cannot start one later without changing which instances it counts).
    Threads may share one: :func:`expand` reads the series' frame, and what a walk records on it
    (``truncated``) it does not read. A listing stopped by the budget is not kept: the set is
    then walked per window, as without a cache."""

    series: Series
    walls: tuple[datetime, ...] | None

    def between(self, after: datetime, before: datetime, limit: int) -> Iterator[datetime]:
        """Instance starts in [after, before) when listed and fewer than ``limit``; else what
        :meth:`Series.walls` yields, which may begin before ``after`` (those end before any window
        :func:`expand` asks about, and an override of one is applied all the same)."""
        if self.walls is None or len(self.walls) >= limit:
            yield from self.series.walls(after=after, before=before)
            return
        yield from self.walls[bisect_left(self.walls, after):bisect_left(self.walls, before)]


class SeriesCache(Protocol):
    """Where :func:`expand` keeps prepared series between calls (the caller bounds it)."""

    def get(self, key: Hashable) -> Prepared | None: ...

    def put(self, key: Hashable, value: Prepared) -> None: ...


def _moment_key(moment: Moment) -> Hashable:
    """Equal for the same wall time in the same zone only: aware datetimes compare by instant,
    and one instant in two zones is two different series (its rule runs in its own zone)."""
    if isinstance(moment, datetime):
        return moment.replace(tzinfo=None), moment.tzinfo
    return moment


def prepare(anchor: Moment, rule: str | None, rdates: list[Moment], exdates: list[Moment],
            cache: SeriesCache | None = None) -> Prepared:
    """The set of DTSTART ``anchor``, RRULE ``rule``, RDATEs and EXDATEs, from ``cache`` when there,
    keyed by the recurrence's text and moments; listed only when it goes into a cache."""
    if cache is None:
        return Prepared(Series(anchor, rule, rdates, exdates), None)
    key = (rule, _moment_key(anchor), tuple(map(_moment_key, rdates)), tuple(map(_moment_key, exdates)))
    found = cache.get(key)
    if found is not None:
        return found
    series = Series(anchor, rule, rdates, exdates)
    walls: tuple[datetime, ...] | None = None
    if series.bounded:
        listed = tuple(series.walls(scan=LISTED))
        walls = None if series.truncated else listed
    prepared = Prepared(series, walls)
    cache.put(key, prepared)
    return prepared


@dataclass(frozen=True)
class Instance:
    """One occurrence of a follow-up in a window."""

    start: Moment
    end: Moment
    recurrence_id: Moment | None
    title: str
    location: str
    followup: Followup = field(compare=False, repr=False)


def _overlaps(start: Moment, end: Moment, ws: datetime, we: datetime) -> bool:
    """Half-open overlap; a zero-length instance overlaps when it starts in the window (RFC 4791 §9.9)."""
    tz = ws.tzinfo
    assert tz is not None
    s, e = as_aware(start, tz), as_aware(end, tz)
    if e <= s:
        return ws <= s < we
    return s < we and e > ws


def expand(f: Followup, window_start: datetime, window_end: datetime, limit: int = 10000,
           cache: SeriesCache | None = None) -> list[Instance]:
    """Occurrences of ``f`` overlapping [window_start, window_end), overrides applied, EXDATEs and
    cancelled instances removed, ordered by start; at most ``limit``. Floating times are read in
    the window's zone. Every instance lasts the series' exact duration (RFC 5545 §3.8.5.3), also
    on a daylight-saving day. With ``cache``, each recurrence set is parsed and listed once
    (:func:`prepare`): the answer is the same."""
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise ValueError("the window must be given as aware datetimes")
    anchor = f.start if f.start is not None else f.deadline
    if anchor is None or window_end <= window_start or limit <= 0:
        return []
    duration = f.duration() or timedelta(0)
    location = f.location
    overrides: dict[str, Occurrence] = {rid_key(o.recurrence_id): o for o in f.overrides}

    def make(start: Moment, rid: Moment | None, occ: Occurrence | None) -> Instance:
        if occ is None:
            return Instance(start, later(start, duration), rid, f.title, location, f)
        begin = occ.start if occ.start is not None else start
        end = occ.end if occ.end is not None else later(begin, duration)
        return Instance(begin, end, rid, occ.title if occ.title is not None else f.title,
                        occ.location if occ.location is not None else location, f)

    rec = f.recurrence
    if rec is None or rec.is_empty():
        single = make(anchor, None, None)
        return [single] if _overlaps(single.start, single.end, window_start, window_end) else []

    prepared = prepare(anchor, rec.rule, rec.rdates, rec.exdates, cache)
    series = prepared.series
    slack = timedelta(days=2)
    after = series.wall(window_start) - duration - slack if not series.is_date else \
        series.wall(window_start.date()) - duration - slack
    before = series.wall(window_end) + slack if not series.is_date else series.wall(window_end.date()) + slack
    if series.is_date or series.zone is None:
        after = window_start.replace(tzinfo=None) - duration - slack
        before = window_end.replace(tzinfo=None) + slack
    found: list[Instance] = []
    for wall in prepared.between(after, before, limit):
        start = series.back(wall)
        key = rid_key(start)
        occ = overrides.pop(key, None)
        if occ is not None and occ.cancelled:
            continue
        inst = make(start, start, occ)
        if _overlaps(inst.start, inst.end, window_start, window_end):
            found.append(inst)
        if len(found) >= limit:
            break
    for key, occ in overrides.items():
        if occ.cancelled or key in series.excluded or len(found) >= limit:
            continue
        inst = make(occ.recurrence_id, occ.recurrence_id, occ)
        if _overlaps(inst.start, inst.end, window_start, window_end):
            found.append(inst)
    tz = window_start.tzinfo
    found.sort(key=lambda i: as_aware(i.start, tz))
    return found[:limit]
