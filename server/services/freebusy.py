"""Free/busy: when a colleague or a resource is busy (RFC 4791 7.10, RFC 6638 3.2.5).

Busy time only: a busy (OPAQUE), not cancelled meeting or made call the user
owns (BUSY: the CRM keeps no tentative status of its own; a client's
STATUS:TENTATIVE stays in its text only), one they were invited to and
accepted (BUSY), or have not answered or answered tentatively
(BUSY-TENTATIVE), and an OPAQUE, not cancelled event of their own personal
calendars (BUSY: the spec counts those in the owner's own free/busy); for a
resource, every booking it did not decline (BUSY).
Free, cancelled and declined time does not count, and no period says more
than its times, so private follow-ups give nothing away.

Every answer is bounded: the window is at most :data:`MAX_WINDOW` long, at
most :data:`MAX_FOLLOWUPS` follow-ups are read and each series is expanded to
at most :data:`MAX_INSTANCES` occurrences inside the window. The follow-ups
read are those with a calendar copy whose indexed range (every instance, as
a calendar-query finds it) overlaps the window, not every series that began
before it; the follow-up rows still decide, so the answer is the one the
CRM's own fields give (tests/server/test_freebusy_index.py holds the scan
this replaced). Each recurrence set is parsed and listed once per process
(:data:`SERIES`), so a window takes its instances without walking a COUNT
rule from its first one.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

import mapping
from mapping import plain
from server.services.lru import Lru
from server.services.transaction import transaction
from store.calendar import CalendarReader
from store.domain import Followup, Kind, Moment, PartStat
from store.errors import InvalidFollowup, NotFound
from store.localtime import FIRST_DAY, LAST_DAY, as_datetime

BUSY, TENTATIVE = "BUSY", "BUSY-TENTATIVE"
MAX_WINDOW = timedelta(days=366)
MAX_FOLLOWUPS = 5000
MAX_INSTANCES = 2000

SERIES: Lru[Hashable, mapping.Prepared] = Lru(10_000)
"""Recurrence sets parsed and listed, by their text; bounded by ``recurrence_cache_entries``."""


@dataclass(frozen=True, order=True)
class Busy:
    start: datetime
    end: datetime
    fbtype: str


def window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The asked window in UTC, refused when empty, cut to :data:`MAX_WINDOW`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidFollowup("a free/busy window needs times with a zone (UTC)")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        raise InvalidFollowup("the free/busy window ends before it starts")
    if start.date() < FIRST_DAY or end.date() > LAST_DAY:
        raise InvalidFollowup(f"a free/busy window lies between {FIRST_DAY} and {LAST_DAY}")
    return start, min(end, start + MAX_WINDOW)


def periods(engine: Engine, principal: str, start: datetime, end: datetime,
            calendar: str | None = None) -> list[Busy]:
    """The busy periods of a user's diary or a resource's bookings in
    [start, end), merged per type and clipped to the window; of the user's
    personal calendar ``calendar`` alone, when given.

    Candidates come from the calendars' time index (as a calendar-query's
    do): only follow-ups with a copy whose indexed range overlaps the window
    are read, and only their times; each is then expanded inside the window."""
    start, end = window(start, end)
    found: list[Busy] = []
    lo, hi = math.floor(start.timestamp()), math.ceil(end.timestamp())
    with transaction(engine, write=False) as uow:
        reader = CalendarReader(uow.session.connection())
        if calendar is not None:
            zone = ZoneInfo(uow.users.by_login(principal).tz)
            return merge(_personal(reader, principal, start, end, zone, calendar))
        try:
            who = uow.users.by_login(principal)
        except NotFound:
            resource = uow.resources.by_login(principal)
            assert resource.id is not None
            for f in reader.bookings_busy(resource.id, lo, hi, MAX_FOLLOWUPS):
                found += _busy(f, BUSY, start, end, UTC)
        else:
            assert who.id is not None
            zone = ZoneInfo(who.tz)
            for f, answer in reader.diary_busy(principal, who.id, lo, hi, MAX_FOLLOWUPS):
                found += _busy(f, _fbtype(f, who.id, answer), start, end, zone)
            found += _personal(reader, principal, start, end, zone)
    return merge(found)


def _personal(reader: CalendarReader, login: str, start: datetime, end: datetime, zone: tzinfo,
              calendar: str | None = None) -> list[Busy]:
    """The busy time of the events in ``login``'s personal calendars (times only)."""
    found: list[Busy] = []
    texts = reader.personal_events(login, int(start.timestamp()), int(end.timestamp()), MAX_FOLLOWUPS, calendar)
    for text in texts:
        try:
            cal = plain.parse_plain(text)
        except mapping.InvalidCalendarData:
            continue  # stored before a limit was lowered: no busy time rather than no answer
        found += [Busy(max(s, start), min(e, end), BUSY)
                  for s, e in plain.busy_instances(cal, start, end, zone, MAX_INSTANCES)]
    return found


def _fbtype(f: Followup, user_id: int, answer: str | None) -> str:
    """BUSY for one's own follow-ups and accepted invitations, else BUSY-TENTATIVE."""
    if f.owner_id == user_id:
        return BUSY
    return BUSY if answer == PartStat.ACCEPTED.value else TENTATIVE


def _aware(moment: Moment, zone: tzinfo) -> datetime:
    """An instant: dates and floating times are read in ``zone`` (the user's)."""
    value = as_datetime(moment, zone)
    return (value if value.tzinfo is not None else value.replace(tzinfo=zone)).astimezone(UTC)


def _busy(f: Followup, fbtype: str, start: datetime, end: datetime, zone: tzinfo) -> list[Busy]:
    if not f.busy or f.cancelled or f.kind is Kind.TODO:
        return []
    found = []
    for instance in mapping.expand(f, start.astimezone(zone), end.astimezone(zone), limit=MAX_INSTANCES,
                                   cache=SERIES):
        begin = max(_aware(instance.start, zone), start)
        finish = min(_aware(instance.end, zone), end)
        if finish > begin:
            found.append(Busy(begin, finish, fbtype))
    return found


def merge(found: list[Busy]) -> list[Busy]:
    """Overlapping or touching periods of one type as one (RFC 5545 3.8.2.6)."""
    merged: list[Busy] = []
    for fbtype in (BUSY, TENTATIVE):
        current: Busy | None = None
        for b in sorted(x for x in found if x.fbtype == fbtype):
            if current is not None and b.start <= current.end:
                current = Busy(current.start, max(current.end, b.end), fbtype)
                continue
            if current is not None:
                merged.append(current)
            current = b
        if current is not None:
            merged.append(current)
    return sorted(merged)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def vfreebusy(found: list[Busy], start: datetime, end: datetime, extra: list[str] | None = None,
              method: str | None = None) -> str:
    """A VCALENDAR with one VFREEBUSY (RFC 5545 3.6.4): the window and the periods.
    ``extra`` lines (UID, ORGANIZER, ATTENDEE of a scheduling reply) go in the VFREEBUSY."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//followup-caldav//followup-caldav 0.1//EN"]
    if method:
        lines.append(f"METHOD:{method}")
    lines += ["BEGIN:VFREEBUSY", f"DTSTAMP:{_utc(datetime.now(UTC))}", f"DTSTART:{_utc(start)}",
              f"DTEND:{_utc(end)}", *(extra or [])]
    lines += [f"FREEBUSY;FBTYPE={b.fbtype}:{_utc(b.start)}/{_utc(b.end)}" for b in found]
    lines += ["END:VFREEBUSY", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"
