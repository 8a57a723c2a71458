"""Time zones a client defines in its body (RFC 5545 §3.6.5), evaluated with bounded work.

icalendar hands such a VTIMEZONE to dateutil, whose zone answers each
``utcoffset`` by walking every observance's RRULE from its DTSTART: forever
for ``FREQ=SECONDLY`` from the year 1, seconds for thousands of rules. And
it keeps the first definition of a TZID for the whole process, so one
client's "My Zone" would be used for another's. :func:`bind_body_zones`
replaces the zone of every value whose TZID the body defines (and no IANA
zone matches) by a :class:`BodyZone` of that body, which expands each
observance with the expansion budget (max_instances, max_expansion_ms) and
refuses the object when a lookup would cost more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from icalendar import Calendar, Component

from mapping.limits import Budget
from mapping.recurrence import Series
from mapping.rules import PERIODS
from mapping.timezones import resolve_tzid
from store.domain import Moment

_CACHE_SIZE = 64


@dataclass
class _Observance:
    start: datetime
    offset_from: timedelta
    offset_to: timedelta
    dst: bool
    name: str | None
    rule: str | None = None
    rdates: list[datetime] = field(default_factory=list)

    def last_onset(self, wall: datetime, tzid: str) -> datetime | None:
        """The latest onset at or before ``wall`` (local time), within the expansion budget."""
        if wall < self.start:
            return None
        if self.rule is None:
            return max([self.start] + [r for r in self.rdates if r <= wall])
        series = Series(self.start, self.rule, list[Moment](self.rdates))
        after = None
        freq = str((series.parts or {}).get("FREQ", [""])[0]).upper()
        if freq in PERIODS:
            after = wall - PERIODS[freq] * int((series.parts or {}).get("INTERVAL", [1])[0]) * 2
        last = None
        for onset in series.walls(after=after, before=wall + timedelta(seconds=1)):
            last = onset
        if series.truncated:
            raise Budget().refuse(f"time zone {tzid!r}")
        if last is None and after is not None:
            return self.start
        return last


def _wall(value: Any) -> datetime | None:
    dt = getattr(value, "dt", None)
    if isinstance(dt, datetime):
        return dt.replace(tzinfo=None)
    return None


def _observances(comp: Component) -> list[_Observance]:
    found = []
    for sub in comp.subcomponents:
        if sub.name not in ("STANDARD", "DAYLIGHT"):
            continue
        start = _wall(sub.get("DTSTART"))
        before, after = getattr(sub.get("TZOFFSETFROM"), "td", None), getattr(sub.get("TZOFFSETTO"), "td", None)
        if start is None or not isinstance(before, timedelta) or not isinstance(after, timedelta):
            continue
        rule = sub.get("RRULE")
        rdates = []
        values = sub.get("RDATE")
        for value in values if isinstance(values, list) else ([values] if values is not None else []):
            rdates += [w for w in (_wall(v) for v in getattr(value, "dts", [])) if w is not None]
        text = rule.to_ical().decode() if rule is not None and not isinstance(rule, list) else None
        found.append(_Observance(start, before, after, sub.name == "DAYLIGHT",
                                 str(sub["TZNAME"]) if "TZNAME" in sub else None, text, rdates))
    return found


class BodyZone(tzinfo):
    """The zone of one VTIMEZONE of one body: the latest observance onset before a wall time wins."""

    def __init__(self, tzid: str, comp: Component) -> None:
        self.tzid = tzid
        self.observances = _observances(comp)
        self._found: dict[datetime, _Observance | None] = {}

    def _find(self, dt: datetime | None) -> _Observance | None:
        if dt is None or not self.observances:
            return None
        wall = dt.replace(tzinfo=None)
        if wall in self._found:
            return self._found[wall]
        best: _Observance | None = None
        best_onset: datetime | None = None
        for obs in self.observances:
            onset = obs.last_onset(wall, self.tzid)
            if onset is not None and (best_onset is None or onset > best_onset):
                best, best_onset = obs, onset
        if best is None:
            best = next((o for o in self.observances if not o.dst), self.observances[0])
        if len(self._found) >= _CACHE_SIZE:
            self._found.clear()
        self._found[wall] = best
        return best

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        found = self._find(dt)
        return found.offset_to if found is not None else timedelta(0)

    def dst(self, dt: datetime | None) -> timedelta | None:
        found = self._find(dt)
        return found.offset_to - found.offset_from if found is not None and found.dst else timedelta(0)

    def tzname(self, dt: datetime | None) -> str | None:
        found = self._find(dt)
        return found.name if found is not None and found.name else self.tzid

    def __repr__(self) -> str:
        return f"BodyZone({self.tzid!r})"


def _rebind(value: Any, zone: BodyZone) -> None:
    for item in getattr(value, "dts", [value]):
        dt = getattr(item, "dt", None)
        if isinstance(dt, datetime):
            item.dt = dt.replace(tzinfo=zone)
        elif isinstance(dt, tuple):
            item.dt = tuple(d.replace(tzinfo=zone) if isinstance(d, datetime) else d for d in dt)


def bind_body_zones(cal: Calendar) -> None:
    """Give every value whose TZID the body defines (and no IANA name matches) that body's zone."""
    zones = {}
    for comp in cal.subcomponents:
        if comp.name == "VTIMEZONE" and "TZID" in comp:
            tzid = str(comp["TZID"])
            if resolve_tzid(tzid) is None:
                zones[tzid] = BodyZone(tzid, comp)
    if not zones:
        return
    for comp in cal.walk():
        if comp.name == "VTIMEZONE":
            continue
        for _name, values in comp.property_items(recursive=False, sorted=False):
            for value in values if isinstance(values, list) else [values]:
                params = getattr(value, "params", None)
                zone = zones.get(str(params.get("TZID"))) if params is not None and "TZID" in params else None
                if zone is not None:
                    _rebind(value, zone)
