"""Does an object have an instance in a time range? Bounded, for any series.

A CALDAV:time-range filter (RFC 4791 9.9) on a recurring object asks whether
any instance overlaps the window. Floating times and dates are read as UTC,
as RFC 4791 9.9 leaves them to CALDAV:timezone and Radicale reads them
without one. Walking every instance from DTSTART costs
O(instances before the window): minutes for a minutely rule started years
ago. Here each series fast-forwards to the window (``Series.walls``), and a
scan is capped; a capped scan answers "overlaps" (over-including is safe,
missing is not).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from icalendar import Calendar

from mapping.recurrence import Series
from mapping.timerange import MAX_TS, MIN_TS, Timing, component_timing, instance_range, series_range, unix_ts
from mapping.validate import main_components

SCAN_CAP = 10_000


@dataclass
class _Part:
    lo: int
    hi: int
    timing: Timing
    series: Series | None
    length: int
    """Seconds from an instance's start to the end of its indexed range."""
    slack: int
    """Seconds its start was widened by (floating times)."""


class OverlapIndex:
    """What :func:`overlaps` needs of one calendar object, built once."""

    def __init__(self, cal: Calendar) -> None:
        components = main_components(cal)
        moved = [c.get("RECURRENCE-ID") for c in components if "RECURRENCE-ID" in c]
        self.parts: list[_Part] = []
        for comp in components:
            t = component_timing(comp)
            lo, hi = series_range(t, widen=False)
            series = None
            single_lo, single_hi = instance_range(t, widen=False)
            anchor = t.start if t.start is not None else t.end
            if (t.rule or t.rdates) and anchor is not None and "RECURRENCE-ID" not in comp:
                exdates = list(t.exdates) + [r.dt for r in moved if r is not None]
                series = Series(anchor, t.rule, t.rdates, exdates)
                slack = max(0, unix_ts(anchor) - single_lo)
                self.parts.append(_Part(lo, hi, t, series, single_hi - unix_ts(anchor), slack))
            else:
                self.parts.append(_Part(lo, hi, t, None, 0, 0))

    def overlaps(self, start: int, end: int) -> bool:
        return any(self._part_overlaps(p, start, end) for p in self.parts)

    def _part_overlaps(self, p: _Part, start: int, end: int) -> bool:
        if not (p.lo < end and p.hi > start):
            return False
        if p.series is None:
            return True
        series = p.series
        if series.broken or p.lo <= MIN_TS or p.length < 0:
            return True
        frame = series.zone or UTC
        after = datetime.fromtimestamp(max(start - p.length - p.slack - 86400, MIN_TS + 86400), tz=UTC)
        before = datetime.fromtimestamp(min(end + p.slack + 86400, MAX_TS - 86400), tz=UTC)
        for wall in series.walls(after=series.wall(after.astimezone(frame)),
                                 before=series.wall(before.astimezone(frame)), scan=SCAN_CAP):
            s = unix_ts(series.back(wall)) - p.slack
            e = s + p.slack + p.length
            if s < end and max(e, s + 1) > start:
                return True
        return series.truncated


def overlaps(cal: Calendar, start: int, end: int) -> bool:
    """Whether any instance of ``cal`` overlaps [start, end) (UNIX seconds)."""
    return OverlapIndex(cal).overlaps(start, end)

