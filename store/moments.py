"""Exact text encoding of the CRM's moments for persistence.

A moment is an aware datetime in an IANA zone, a UTC datetime, a floating
(naive) datetime or a date. SQL has no type for that union, so each is kept as
text that round-trips exactly, next to a UTC column used for ordering and
range queries.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from store.domain import Moment
from store.localtime import zone

FLOATING_SLACK = timedelta(hours=14)
"""The widest UTC offset (real ones run from UTC-12 to UTC+14): a floating time
happens within ±14 h of its UTC reading. Defined once here; mapping/ imports it."""


def encode(moment: Moment | None) -> str | None:
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        return moment.isoformat()
    text = moment.replace(tzinfo=None).isoformat()
    if moment.tzinfo is None:
        return text
    if isinstance(moment.tzinfo, ZoneInfo) and moment.tzinfo.key != "UTC":
        if moment.fold and moment.utcoffset() != moment.replace(fold=0).utcoffset():
            text = moment.isoformat()  # a repeated or skipped wall time: its offset says which (RFC 9557)
        return f"{text}[{moment.tzinfo.key}]"
    if moment.utcoffset() == timedelta(0):
        return text + "Z"
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def decode(text: str | None) -> Moment | None:
    if text is None:
        return None
    if "[" in text:
        local, key = text[:-1].split("[", 1)
        parsed = datetime.fromisoformat(local)
        zoned = parsed.replace(tzinfo=zone(key))
        if parsed.tzinfo is not None and zoned.utcoffset() != parsed.utcoffset():
            zoned = zoned.replace(fold=1)
        return zoned
    if text.endswith("Z"):
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    if "T" in text:
        return datetime.fromisoformat(text)
    return date.fromisoformat(text)


def to_utc(moment: Moment | None, tz: str = "UTC") -> datetime | None:
    """A naive UTC datetime for indexing. Dates and floating times are read in
    ``tz`` (the owner's zone), which is what the CRM's own views show."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(tz))
    return moment.astimezone(UTC).replace(tzinfo=None)
