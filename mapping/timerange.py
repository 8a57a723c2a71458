"""Indexable time ranges for CALDAV:time-range queries (RFC 4791 §9.9).

``time_range`` gives (lo, hi) UNIX seconds such that every query window
[qs, qe) that RFC 4791 §9.9 says matches the object satisfies ``lo < qe``
and ``hi > qs``. It over-includes, never under-includes: the server can
filter the candidates exactly. Floating times and dates are widened by
±14 h; series without end, and bounded ones with too many instances, reach
``MAX_TS``; a VTODO with nothing to place it spans everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar, Component

from mapping.parse import duration_of, first_value, read_moment, recurrence_of
from mapping.recurrence import Series
from mapping.timezones import as_aware, is_floating
from mapping.validate import main_components
from store.domain import Followup, Kind, Moment
from store.localtime import later
from store.moments import FLOATING_SLACK

MIN_TS = -62135596800
"""0001-01-01T00:00:00Z."""
MAX_TS = 253402300799
"""9999-12-31T23:59:59Z."""

COUNT_CAP = 10_000
"""Instances counted to find where a COUNT/UNTIL series ends; beyond it the range is open."""


@dataclass
class Timing:
    """The time properties of one VEVENT/VTODO, as RFC 4791 §9.9 looks at them."""

    name: str
    start: Moment | None = None
    end: Moment | None = None
    """DTEND of a VEVENT, DUE of a VTODO."""
    duration: timedelta | None = None
    completed: Moment | None = None
    created: Moment | None = None
    rule: str | None = None
    rdates: list[Moment] = field(default_factory=list)
    exdates: list[Moment] = field(default_factory=list)


def unix_ts(moment: Moment) -> int:
    """UNIX seconds of a moment; floating times and dates (at midnight) read as UTC."""
    return int(as_aware(moment, UTC).timestamp())


def _clamp(value: int) -> int:
    return max(MIN_TS, min(MAX_TS, value))


def instance_range(t: Timing, widen: bool = True) -> tuple[int, int]:
    """The range of one instance per the tables of RFC 4791 §9.9; floating
    times and dates widened by ±14 h unless ``widen`` is False (then they are
    read as UTC, as a query without CALDAV:timezone does)."""
    one = 1
    if t.name == "VEVENT":
        if t.start is None:
            return MIN_TS, MAX_TS
        s = unix_ts(t.start)
        if t.end is not None:
            e = unix_ts(t.end)
        elif t.duration is not None:
            e = s + int(t.duration.total_seconds())
        elif not isinstance(t.start, datetime):
            e = s + 86400
        else:
            e = s
        lo, hi = s, max(e, s + one)
        floating = is_floating(t.start) or is_floating(t.end)
    else:
        floating = any(is_floating(m) for m in (t.start, t.end))
        if t.start is not None and t.duration is not None:
            s = unix_ts(t.start)
            lo, hi = s, s + int(t.duration.total_seconds()) + one
        elif t.start is not None and t.end is not None:
            s, due = unix_ts(t.start), unix_ts(t.end)
            lo, hi = min(s, due) - one, max(due, s) + one
        elif t.start is not None:
            s = unix_ts(t.start)
            lo, hi = s, s + one
        elif t.end is not None:
            due = unix_ts(t.end)
            lo, hi = due - one, due + one
        elif t.completed is not None or t.created is not None:
            stamps = [unix_ts(m) for m in (t.completed, t.created) if m is not None]
            floating = any(is_floating(m) for m in (t.completed, t.created))
            lo = min(stamps) - one
            hi = MAX_TS if t.completed is None else max(stamps) + one
        else:
            return MIN_TS, MAX_TS
    if floating and widen:
        slack = int(FLOATING_SLACK.total_seconds())
        lo, hi = lo - slack, hi + slack
    return _clamp(lo), _clamp(hi)


def series_range(t: Timing, widen: bool = True) -> tuple[int, int]:
    """The range of every instance of ``t``'s recurrence set (its only one if it has none), widened as
    :func:`instance_range` does; a set without end, or with more than COUNT_CAP instances, reaches MAX_TS."""
    lo, hi = instance_range(t, widen)
    if not (t.rule or t.rdates):
        return lo, hi
    anchor = t.start if t.start is not None else t.end
    if anchor is None:
        return lo, hi
    series = Series(anchor, t.rule, t.rdates, t.exdates)
    span = hi - unix_ts(anchor)
    first = min([unix_ts(anchor)] + [unix_ts(m) for m in t.rdates])
    lo = min(lo, first - (int(FLOATING_SLACK.total_seconds()) if widen and is_floating(anchor) else 0))
    last = series.last_start(COUNT_CAP)
    if last is None:
        return _clamp(lo), MAX_TS
    return _clamp(lo), _clamp(max(hi, unix_ts(last) + span))


def component_timing(comp: Component) -> Timing:
    """The :class:`Timing` of a client's VEVENT/VTODO, read with the parser's readers (one definition)."""

    def moment(name: str) -> Moment | None:
        value = first_value(comp, name)
        return read_moment(value) if value is not None else None

    t = Timing(str(comp.name), start=moment("DTSTART"), end=moment("DTEND" if comp.name == "VEVENT" else "DUE"),
               duration=duration_of(comp), completed=moment("COMPLETED"), created=moment("CREATED"))
    if "RECURRENCE-ID" in comp:
        return t
    rule = first_value(comp, "RRULE")
    t.rule = rule.to_ical().decode() if rule is not None else None
    rec = recurrence_of(comp)
    if rec is not None:
        t.rdates, t.exdates = rec.rdates, rec.exdates
    return t


def _timings_of_followup(f: Followup) -> list[Timing]:
    name = "VEVENT" if f.kind is Kind.MEETING else "VTODO"
    rec = f.recurrence
    rule_parts: dict[str, Any] = {"rule": rec.rule, "rdates": rec.rdates, "exdates": rec.exdates} if rec else {}
    if name == "VEVENT":
        master = Timing(name, start=f.start, end=f.end, **rule_parts)
    elif f.made and f.start is not None:
        master = Timing(name, start=f.start, duration=f.duration(), **rule_parts)
    elif f.start is not None:
        master = Timing(name, start=f.start, end=f.end if f.end is not None else None, **rule_parts)
    else:
        master = Timing(name, end=f.deadline, completed=f.completed_at, created=f.created_at, **rule_parts)
    timings = [master]
    duration = f.duration()
    for occ in f.overrides:
        start = occ.start if occ.start is not None else occ.recurrence_id
        end = occ.end
        if end is None and duration is not None:
            end = later(start, duration)
        timings.append(Timing(name, start=start, end=end))
    return timings


def time_range(obj: Calendar | Followup) -> tuple[int, int]:
    """(start_ts, end_ts) in UNIX seconds covering every instance of the object (RFC 4791 §9.9)."""
    if isinstance(obj, Followup):
        timings = _timings_of_followup(obj)
    else:
        timings = [component_timing(c) for c in main_components(obj)]
    if not timings:
        return MIN_TS, MAX_TS
    ranges = [series_range(t) for t in timings]
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def exact_of(cal: Calendar) -> bool:
    """Whether :func:`time_range` of ``cal`` is its one instance's real extent, so a time-range query
    is decided by the range alone: a single VEVENT without recurrence, its times zoned or UTC and any
    DURATION without days (RFC 5545 3.3.6: a day is nominal, not 86,400 seconds, across a DST change)."""
    comps = main_components(cal)
    if len(comps) != 1 or comps[0].name != "VEVENT":
        return False
    comp = comps[0]
    if any(name in comp for name in ("RRULE", "RDATE", "RECURRENCE-ID")):
        return False
    t = component_timing(comp)
    if t.start is None or t.duration is not None and t.duration.days:
        return False
    return all(isinstance(m, datetime) and m.tzinfo is not None for m in (t.start, t.end) if m is not None)
