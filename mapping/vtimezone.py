"""Compact VTIMEZONE components, generated from zoneinfo and cached as text.

icalendar's generator lists every transition from 1970 to 2038 as RDATEs
(about 3 KB a zone); rendering that into every object made it the largest
and slowest part of each one. Most zones follow one yearly rule today
("last Sunday of March at 02:00"), which RFC 5545 3.6.5 expresses with one
RRULE per observance, as Thunderbird and Apple write it themselves. Zones
whose rules are not regular over the years we look at fall back to
icalendar's full generator.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Timezone

FIRST_YEAR, LAST_YEAR = 1970, 2037
"""The years whose transitions are looked at; the rule must hold from the
first year it starts in to LAST_YEAR."""

_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class Transition:
    local: datetime
    """Wall-clock time of the change, read in the offset before it."""
    before: timedelta
    after: timedelta
    dst: bool
    name: str

    def rule(self) -> tuple[int, str, int, int, int]:
        """(month, nth weekday, hour, minute, offsets) pattern of this change."""
        day = self.local.day
        last_days = (date(self.local.year + (self.local.month == 12), self.local.month % 12 + 1, 1)
                     - timedelta(days=1)).day
        nth = -1 if day > last_days - 7 else (day - 1) // 7 + 1
        return (self.local.month, f"{nth}{_WEEKDAYS[self.local.weekday()]}", self.local.hour, self.local.minute,
                hash((self.before, self.after, self.dst, self.name)))


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def _transitions(zone: ZoneInfo, year: int) -> list[Transition]:
    found = []
    day = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    while day < end:
        nxt = day + timedelta(days=1)
        if _offset(zone, day) != _offset(zone, nxt):
            lo, hi = day, nxt
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid <= lo:
                    break
                if _offset(zone, mid) == _offset(zone, lo):
                    lo = mid
                else:
                    hi = mid
            before, after = _offset(zone, lo), _offset(zone, hi)
            local = (hi + before).replace(tzinfo=None)
            at = hi.astimezone(zone)
            found.append(Transition(local, before, after, bool(at.dst()), at.tzname() or ""))
        day = nxt
    return found


def _fmt_offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


def _observance(kind: str, first: Transition, rrule: str | None) -> list[str]:
    lines = [f"BEGIN:{kind}", f"DTSTART:{first.local.strftime('%Y%m%dT%H%M%S')}"]
    if rrule:
        lines.append(f"RRULE:{rrule}")
    lines += [f"TZNAME:{first.name}", f"TZOFFSETFROM:{_fmt_offset(first.before)}",
              f"TZOFFSETTO:{_fmt_offset(first.after)}", f"END:{kind}"]
    return lines


def _compact(tzid: str) -> str | None:
    """The rule-based VTIMEZONE text of ``tzid``, or None when its rules are
    not one yearly pattern from some year up to LAST_YEAR."""
    zone = ZoneInfo(tzid)
    years: list[list[Transition]] = []
    for year in range(LAST_YEAR, FIRST_YEAR - 1, -1):
        found = _transitions(zone, year)
        if years and [t.rule() for t in found] != [t.rule() for t in years[-1]]:
            break
        years.append(found)
    if not years[-1]:
        if len(years) < LAST_YEAR - FIRST_YEAR + 1:
            return None  # a fixed offset now, but it changed: let the full generator say when
        now = datetime(LAST_YEAR, 6, 1, tzinfo=UTC).astimezone(zone)
        fixed = Transition(datetime(FIRST_YEAR, 1, 1), now.utcoffset() or timedelta(0),
                           now.utcoffset() or timedelta(0), False, now.tzname() or "")
        body = _observance("STANDARD", fixed, None)
    else:
        if len(years[-1]) != 2 or len(years) < 5:
            return None
        body = []
        for first in years[-1]:
            month, byday, *_ = first.rule()
            kind = "DAYLIGHT" if first.dst else "STANDARD"
            body += _observance(kind, first, f"FREQ=YEARLY;BYMONTH={month};BYDAY={byday}")
    return "\r\n".join(["BEGIN:VTIMEZONE", f"TZID:{tzid}", *body, "END:VTIMEZONE"]) + "\r\n"


@functools.lru_cache(maxsize=512)
def vtimezone_text(tzid: str) -> str:
    """The VTIMEZONE for IANA zone ``tzid`` as iCalendar text (CRLF lines)."""
    compact = _compact(tzid)
    if compact is not None:
        return compact
    return Timezone.from_tzid(tzid).to_ical().decode("utf-8")
