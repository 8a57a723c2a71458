"""RRULE checks (RFC 5545 §3.3.10) and the guard that keeps dateutil from searching without end.

dateutil walks a rule period by period and only hands back an instance when
one matches: for a rule that matches nothing (``BYMONTH=2;BYMONTHDAY=30``;
``FREQ=DAILY;INTERVAL=7;BYDAY=TU`` from a Monday) it searches up to the year
9999 without yielding, which no budget can interrupt. :func:`never_matches`
asks dateutil about the last 28 years of the calendar only (every pattern of
weekdays and leap years occurs in them, and dateutil stops at 9999), with
DTSTART moved there on the rule's own grid. A rule that matches nothing is
legal: it has no instances besides DTSTART.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rrulestr
from icalendar.prop import vRecur

from mapping.errors import InvalidRecurrence

_RANGES = {"BYSECOND": (0, 60, False), "BYMINUTE": (0, 59, False), "BYHOUR": (0, 23, False),
           "BYMONTHDAY": (-31, 31, True), "BYYEARDAY": (-366, 366, True), "BYWEEKNO": (-53, 53, True),
           "BYMONTH": (1, 12, False), "BYSETPOS": (-366, 366, True)}
_WEEKDAYS = frozenset({"MO", "TU", "WE", "TH", "FR", "SA", "SU"})
PERIODS = {"SECONDLY": timedelta(seconds=1), "MINUTELY": timedelta(minutes=1), "HOURLY": timedelta(hours=1),
            "DAILY": timedelta(days=1), "WEEKLY": timedelta(weeks=1)}
PROBE_YEAR = 9972
"""The 28 years from here to 9999 hold every weekday pattern of a year, leap or not, and no century."""


def _number(part: str, value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise InvalidRecurrence(f"RRULE part {part}={value} is not a number") from None


def check_rule(text: str) -> dict[str, Any]:
    """The parts of RRULE ``text``, or :class:`InvalidRecurrence` naming the part out of RFC 5545's ranges.

    BYSECOND=60 is a leap second: RFC 5545 allows it, but no time library here can represent
    one, so it is refused rather than silently moved.
    """
    try:
        parts = dict(vRecur.from_ical(text))
    except (ValueError, TypeError) as exc:
        raise InvalidRecurrence(f"the RRULE {text[:80]!r} does not parse: {exc}") from None
    if "FREQ" not in parts:
        raise InvalidRecurrence("an RRULE needs FREQ (RFC 5545 §3.3.10)")
    if "COUNT" in parts and "UNTIL" in parts:
        raise InvalidRecurrence("an RRULE has COUNT or UNTIL, not both (RFC 5545 §3.3.10)")
    for part, least in (("INTERVAL", 1), ("COUNT", 1)):
        for value in parts.get(part, []):
            if _number(part, value) < least:
                raise InvalidRecurrence(f"RRULE part {part}={value} is out of range: at least {least}")
    for part, (low, high, signed) in _RANGES.items():
        for value in parts.get(part, []):
            number = _number(part, value)
            if part == "BYSECOND" and number == 60:
                raise InvalidRecurrence("RRULE part BYSECOND=60: leap seconds are not supported")
            if not low <= number <= high or (signed and number == 0):
                bounds = f"±1 to {high}" if signed else f"{low} to {high}"
                raise InvalidRecurrence(f"RRULE part {part}={value} is out of range: {bounds}")
    freq = str(parts["FREQ"][0]).upper()
    if freq in ("SECONDLY", "MINUTELY", "HOURLY"):
        # dateutil walks such a rule period by period (BYSETPOS) or day by day (the day filters), and
        # a combination that matches rarely or never keeps it searching for seconds without yielding
        for part in ("BYSETPOS", "BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO"):
            if part in parts:
                raise InvalidRecurrence(f"RRULE part {part} is not supported with FREQ={freq}")
    for value in parts.get("BYDAY", []):
        day = str(value).upper()
        if day[-2:] not in _WEEKDAYS or (day[:-2] and not day[:-2].lstrip("+-").isdigit()):
            raise InvalidRecurrence(f"RRULE part BYDAY={value} is not a weekday")
        if day[:-2] and not 1 <= abs(int(day[:-2])) <= 53:
            raise InvalidRecurrence(f"RRULE part BYDAY={value} is out of range: ±1 to 53 before the weekday")
    return parts


def _probe_start(dtstart: datetime, freq: str, interval: int) -> datetime | None:
    """DTSTART moved to just after PROBE_YEAR on the rule's grid; None when dateutil's walk is short anyway."""
    target = datetime(PROBE_YEAR, 1, 1)
    if dtstart >= target:
        return dtstart
    if freq in PERIODS:
        step = PERIODS[freq] * interval
        if step > timedelta(days=366):
            return None
        return dtstart + step * ((target - dtstart) // step + 1)
    if freq == "MONTHLY":
        months = (PROBE_YEAR - dtstart.year) * 12 - dtstart.month + 1
        if interval > 12:
            return None
        return dtstart + relativedelta(months=interval * (months // interval + 1))
    if freq == "YEARLY" and interval <= 28:
        return dtstart + relativedelta(years=interval * ((PROBE_YEAR - dtstart.year) // interval + 1))
    return None


@functools.lru_cache(maxsize=4096)
def never_matches(text: str, dtstart: datetime) -> bool:
    """Whether the rule (parts text without COUNT/UNTIL) from ``dtstart`` (naive wall time) yields nothing
    in the last 28 years of the calendar, so that dateutil would search to 9999 for nothing."""
    parts = dict(vRecur.from_ical(text))
    parts.pop("COUNT", None)
    parts.pop("UNTIL", None)
    freq = str(parts["FREQ"][0]).upper()
    interval = int(parts.get("INTERVAL", [1])[0])
    start = _probe_start(dtstart, freq, interval)
    if start is None:
        return False
    try:
        rule = rrulestr(vRecur(parts).to_ical().decode(), dtstart=start)
        return isinstance(rule, rrule) and next(iter(rule), None) is None
    except (ValueError, TypeError, OverflowError):
        return True
