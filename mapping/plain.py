"""The objects of a personal calendar: checked as any client body is, kept as sent.

A personal calendar (MKCALENDAR under one's own home, spec "Collections")
holds what its owner's client writes, events, to-dos and journals, and none
of it becomes a follow-up. The body is checked with the same bounded
pre-scan, parser and limits as a CRM calendar's (RFC 4791 4.1: one type of
component, one UID, no second master), but nothing is mapped or rendered:
the store keeps the text byte for byte. What the server still needs of it is
here: the indexable time range (RFC 4791 9.9) and, for the owner's free/busy,
the busy instances of an event in a window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta, tzinfo

from icalendar import Calendar, Component

from mapping.errors import UnsupportedComponent
from mapping.limits import check_length
from mapping.parse import duration_of, first_value, read_moment
from mapping.preserve import rid_key
from mapping.recurrence import Series
from mapping.timerange import MAX_TS, MIN_TS, component_timing, series_range
from mapping.timezones import as_aware
from mapping.validate import check_object, read_calendar
from store.domain import Moment
from store.localtime import elapsed, later

PERSONAL_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")
"""What a personal calendar can be asked to hold (supported-calendar-component-set)."""
NEVER = (MAX_TS, MIN_TS)
"""The indexed range of an object no time range matches (a journal without DTSTART)."""


def parse_plain(data: bytes | str) -> Calendar:
    """Parse and check a body for a personal calendar; raise an
    :class:`InvalidCalendarData` subclass saying why not."""
    cal = read_calendar(data)
    mains = plain_components(cal)
    if not mains:
        raise UnsupportedComponent("VCALENDAR", "the calendar holds no VEVENT, VTODO or VJOURNAL")
    check_length("UID", check_object(cal, mains))
    return cal


def plain_components(cal: Calendar) -> list[Component]:
    """The object's VEVENT, VTODO or VJOURNAL components (master and overrides)."""
    return [c for c in cal.subcomponents if c.name in PERSONAL_COMPONENTS]


def plain_component(cal: Calendar) -> str:
    """The component type of a checked object."""
    return str(plain_components(cal)[0].name)


def plain_uid(cal: Calendar) -> str:
    return str(plain_components(cal)[0]["UID"]).strip()


def check_plain_component(cal: Calendar, allowed: Sequence[str]) -> None:
    """Refuse a component the calendar does not declare (RFC 4791 5.3.2.1)."""
    name = plain_component(cal)
    if name not in allowed:
        raise UnsupportedComponent(name, f"this calendar takes {', '.join(allowed)} components, not {name}")


def plain_range(cal: Calendar) -> tuple[int, int]:
    """(start_ts, end_ts) covering every instance (RFC 4791 9.9). A VJOURNAL
    lasts a day from a DATE DTSTART and an instant from a DATE-TIME one (as
    an event without end does), and matches no range without DTSTART."""
    timings = [component_timing(c) for c in plain_components(cal)]
    if timings and timings[0].name == "VJOURNAL":
        timings = [replace(t, name="VEVENT", end=None, duration=None) for t in timings if t.start is not None]
        if not timings:
            return NEVER
    if not timings:
        return MIN_TS, MAX_TS
    ranges = [series_range(t) for t in timings]
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def busy_instances(cal: Calendar, start: datetime, end: datetime, zone: tzinfo,
                   limit: int = 2000) -> list[tuple[datetime, datetime]]:
    """The busy time of an event in [start, end) (aware): each instance of an
    OPAQUE, not CANCELLED VEVENT, overrides (RECURRENCE-ID) applied, as
    aware (start, end) pairs; dates and floating times read in ``zone``. No
    other component is busy time (RFC 4791 7.10 counts VEVENTs; a to-do's
    VFREEBUSY is not kept). At most ``limit`` instances, within the
    expansion budget."""
    comps = [c for c in plain_components(cal) if c.name == "VEVENT"]
    masters = [c for c in comps if "RECURRENCE-ID" not in c]
    if not masters:
        return []
    master = masters[0]
    overrides = {rid_key(read_moment(c["RECURRENCE-ID"])): c for c in comps if "RECURRENCE-ID" in c}
    found: list[tuple[datetime, datetime]] = []

    def add(comp: Component, begin: Moment) -> None:
        if _free(comp):
            return
        s, e = as_aware(begin, zone), as_aware(later(begin, _length(comp)), zone)
        if s < end and e > start and e > s:
            found.append((s, e))

    timing = component_timing(master)
    anchor = timing.start
    if anchor is None:
        return []
    if not (timing.rule or timing.rdates):
        add(master, anchor)
        return found
    series = Series(anchor, timing.rule, timing.rdates, timing.exdates)
    length = _length(master)
    slack = timedelta(days=2)
    if series.zone is not None and not series.is_date:
        after, before = series.wall(start) - length - slack, series.wall(end) + slack
    else:
        after = start.astimezone(zone).replace(tzinfo=None) - length - slack
        before = end.astimezone(zone).replace(tzinfo=None) + slack
    for wall in series.walls(after=after, before=before):
        begin = series.back(wall)
        moved = overrides.pop(rid_key(begin), None)
        if moved is None:
            add(master, begin)
        else:
            add(moved, read_moment(first_value(moved, "DTSTART") or moved["RECURRENCE-ID"]))
        if len(found) >= limit:
            return found
    for comp in overrides.values():
        begin_value = first_value(comp, "DTSTART") or comp["RECURRENCE-ID"]
        add(comp, read_moment(begin_value))
    return found[:limit]


def _free(comp: Component) -> bool:
    return (str(comp.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT"
            or str(comp.get("STATUS", "")).upper() == "CANCELLED")


def _length(comp: Component) -> timedelta:
    """An instance's length (RFC 5545 3.6.1): DTEND - DTSTART, else DURATION,
    else a day for a DATE start and nothing for a DATE-TIME one."""
    start = first_value(comp, "DTSTART")
    finish = first_value(comp, "DTEND")
    if start is not None and finish is not None:
        return max(elapsed(read_moment(start), read_moment(finish)), timedelta(0))
    duration = duration_of(comp)
    if duration is not None:
        return max(duration, timedelta(0))
    if start is not None and not isinstance(read_moment(start), datetime):
        return timedelta(days=1)
    return timedelta(0)
