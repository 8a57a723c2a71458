"""Time zones and moments: TZID resolution, normalizing client times, moment arithmetic.

The domain keeps zoned times as ``ZoneInfo`` datetimes; clients send TZIDs
that are IANA names, Windows names (Outlook), vendor-prefixed names
(``/mozilla.org/.../Europe/Berlin``) or zones of their own defined by a
VTIMEZONE in the body (RFC 5545 §3.6.5). The VTIMEZONEs the server writes
are generated in ``mapping.vtimezone``.
"""

from __future__ import annotations

import functools
import threading
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from icalendar.timezone import tzp
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from store.domain import Moment

UTC_ZONE = ZoneInfo("UTC")

NOT_ZONES = frozenset({"Factory", "localtime", "posixrules"})
"""Files of the zoneinfo database that name no place: the server's own zone, a template, a dummy."""


@functools.cache
def iana_names() -> frozenset[str]:
    """The IANA zone names a client may use; ``right/...`` and ``posix/...`` copies are not among them."""
    return frozenset(available_timezones()) - NOT_ZONES


@functools.lru_cache(maxsize=1024)
def resolve_tzid(tzid: str | None) -> ZoneInfo | None:
    """The IANA zone a TZID names, trying IANA, Windows names and vendor prefixes, or None.

    Only names of :func:`iana_names` are looked up, so no client's TZID opens a file of its choosing.
    """
    if not tzid:
        return None
    names = iana_names()
    cleaned = tzid.strip().strip('"')
    candidates = [cleaned, WINDOWS_TO_OLSON.get(cleaned, "")]
    if cleaned.startswith("/"):
        parts = cleaned.strip("/").split("/")
        candidates += ["/".join(parts[i:]) for i in range(len(parts))]
    for name in candidates:
        if name not in names:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    return None


class _BoundedZones(dict[str, tzinfo]):
    """icalendar's zone cache with a bound: the oldest entry goes first (threads may parse at once)."""

    def __init__(self, entries: int, found: dict[str, tzinfo]) -> None:
        super().__init__()
        self.entries = entries
        self._lock = threading.Lock()
        for key, value in list(found.items())[-entries:] if entries else ():
            self[key] = value

    def __setitem__(self, key: str, value: tzinfo) -> None:
        if self.entries <= 0:
            return
        with self._lock:
            if key not in self:
                while len(self) >= self.entries:
                    self.pop(next(iter(self)), None)
            super().__setitem__(key, value)


def bound_library_zones(entries: int) -> bool:
    """Keep at most ``entries`` zones in icalendar's own cache; whether it could be bounded.

    icalendar keeps, for the whole process, a zone for every TZID it looked
    up and for every VTIMEZONE it parsed whose TZID no IANA zone matches:
    without a bound, clients that name zones of their own ("My Zone 1", "My
    Zone 2", ...) grow it without end. Nothing here needs what it keeps (IANA
    zones come from ``zoneinfo``'s own cache, a body's zones from
    :mod:`mapping.bodyzone`), so dropping entries costs only a lookup again.
    """
    found = getattr(tzp, "_TZP__tz_cache", None)
    if not isinstance(found, dict):
        return False
    tzp._TZP__tz_cache = _BoundedZones(entries, found)  # type: ignore[attr-defined]
    return True


def normalize(value: Any, tzid: str | None = None) -> Moment:
    """A client's DATE or DATE-TIME as the domain keeps it.

    Zoned times get the ``ZoneInfo`` their TZID resolves to, keeping the wall
    time; zones the body defined and no IANA zone matches become UTC, which
    keeps the instant (but not later DST rules of a recurrence).
    """
    if isinstance(value, datetime):
        value = value.replace(microsecond=0)
        tz = value.tzinfo
        if tz is None:
            return value
        if isinstance(tz, ZoneInfo):
            return value
        zone = resolve_tzid(tzid)
        if zone is not None:
            return value.replace(tzinfo=zone)
        return value.astimezone(UTC_ZONE)
    if isinstance(value, date):
        return value
    raise TypeError(f"not a date or date-time: {value!r}")


def for_ical(moment: Moment) -> Moment:
    """A moment icalendar can write with a TZID it can name: non-ZoneInfo zones become UTC.

    So does the second of a local time that happens twice (``fold=1``, the hour after clocks go
    back): with a TZID it would name the first (RFC 5545 §3.3.5), an hour earlier.
    """
    if isinstance(moment, datetime) and moment.tzinfo is not None and not isinstance(moment.tzinfo, ZoneInfo):
        return moment.astimezone(UTC_ZONE)
    if isinstance(moment, datetime) and moment.fold and moment.utcoffset() != moment.replace(fold=0).utcoffset():
        return moment.astimezone(UTC_ZONE)
    return moment


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime; naive values are taken as UTC (RFC 5545 requires UTC for COMPLETED, DTSTAMP)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def as_aware(moment: Moment, default: tzinfo) -> datetime:
    """A comparable aware datetime: dates are midnight, floating times are read in ``default``."""
    if isinstance(moment, datetime):
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=default)
    return datetime(moment.year, moment.month, moment.day, tzinfo=default)


def is_floating(moment: Moment | None) -> bool:
    """Dates and naive datetimes mean the same wall time everywhere (RFC 5545 §3.3.5 form #1)."""
    return moment is not None and (not isinstance(moment, datetime) or moment.tzinfo is None)


def shift(moment: Moment, delta: timedelta) -> Moment:
    """``moment + delta``; a date moves by the whole days of ``delta`` and stays a date."""
    if isinstance(moment, datetime):
        return moment + delta
    return moment + timedelta(days=delta.days)
