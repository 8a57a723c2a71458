"""Reading a client's body: parse, then check it is one calendar object resource we can store.

RFC 4791 §4.1: a calendar object resource holds one VCALENDAR with
components of one type sharing one UID (the master and its RECURRENCE-ID
overrides), and no METHOD.
"""

from __future__ import annotations

import warnings

from icalendar import Calendar, Component
from icalendar.error import GloballyUniqueTZIDGuessed

from mapping.bodyzone import bind_body_zones
from mapping.errors import InvalidCalendarData, NoOrManyUids, UnknownTimezone, UnsupportedComponent
from mapping.limits import current
from mapping.names import MAIN_COMPONENTS, REFUSED_COMPONENTS
from mapping.rules import check_rule
from mapping.scan import prescan
from mapping.timezones import resolve_tzid
from store.domain import Kind

CHECKED_PROPERTIES = frozenset({
    "DTSTART", "DTEND", "DUE", "DURATION", "RECURRENCE-ID", "RRULE", "RDATE", "EXDATE", "COMPLETED",
    "SEQUENCE", "PRIORITY", "PERCENT-COMPLETE", "TRIGGER",
})
"""Properties the mapping reads as typed values: a broken one is an error, not data to keep."""

OBSERVANCES = ("STANDARD", "DAYLIGHT")


def component_name(kind: Kind) -> str:
    """VEVENT for meetings, VTODO for to-dos and calls."""
    return "VEVENT" if kind is Kind.MEETING else "VTODO"


def main_components(cal: Calendar) -> list[Component]:
    """The calendar's VEVENT/VTODO components: the master and its overrides."""
    return [c for c in cal.subcomponents if c.name in MAIN_COMPONENTS]


def read_calendar(data: bytes | str) -> Calendar:
    """The body as a VCALENDAR, after the bounded pre-scan (:mod:`mapping.scan`);
    raise an :class:`InvalidCalendarData` saying why not. No rules of ours yet."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidCalendarData(f"the body is not UTF-8 text: {exc}") from exc
    if not data.strip():
        raise InvalidCalendarData("the body is empty, not iCalendar")
    prescan(data, current())
    try:
        with warnings.catch_warnings():
            # a vendor-prefixed TZID (RFC 5545 §3.2.19) resolved by its IANA suffix is what we want
            warnings.simplefilter("ignore", GloballyUniqueTZIDGuessed)
            cal = Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError, TypeError, OverflowError) as exc:
        raise InvalidCalendarData(f"the body does not parse as iCalendar: {exc}") from exc
    if not isinstance(cal, Calendar) or cal.name != "VCALENDAR":
        raise InvalidCalendarData(f"the body is a {getattr(cal, 'name', '?')}, not a VCALENDAR")
    return cal


def check_object(cal: Calendar, mains: list[Component]) -> str:
    """RFC 4791 §4.1 and our bounds on one calendar object whose main components
    are ``mains`` (at least one): one component type, one UID (returned), valid
    values, bounded rules, known zones; the body's own zones bound to its times."""
    names = {str(c.name) for c in mains}
    if len(names) > 1:
        raise UnsupportedComponent(
            sorted(names)[1], "one calendar object holds components of one type only (RFC 4791 §4.1)")
    uids = {str(c.get("UID", "")).strip() for c in mains}
    if len(uids) != 1 or "" in uids:
        found = ", ".join(sorted(u for u in uids if u)) or "none"
        raise NoOrManyUids(f"a calendar object needs exactly one UID (RFC 4791 §4.1); found: {found}")
    check_instances(mains)
    for comp in mains:
        check_errors(comp)
    check_rules(cal)
    check_tzids(cal)
    bind_body_zones(cal)
    return uids.pop()


def parse_calendar(data: bytes | str) -> Calendar:
    """Parse and validate a client's body; raise an :class:`InvalidCalendarData` subclass saying why not."""
    cal = read_calendar(data)
    for sub in cal.subcomponents:
        if sub.name in REFUSED_COMPONENTS:
            raise UnsupportedComponent(sub.name, f"{sub.name} components are not stored here")
    mains = main_components(cal)
    if not mains:
        raise UnsupportedComponent("VCALENDAR", "the calendar holds no VEVENT or VTODO")
    check_object(cal, mains)
    return cal


def check_instances(mains: list[Component]) -> None:
    masters = [c for c in mains if "RECURRENCE-ID" not in c]
    if len(masters) > 1:
        raise InvalidCalendarData("more than one component without RECURRENCE-ID for the same UID")
    if not masters:
        raise InvalidCalendarData("the object holds only overridden instances (RECURRENCE-ID), not a series")
    seen: set[str] = set()
    for comp in mains:
        if "RECURRENCE-ID" in comp:
            raw = comp["RECURRENCE-ID"].to_ical()
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            if key in seen:
                raise InvalidCalendarData(f"RECURRENCE-ID {key} is given twice")
            seen.add(key)


def check_errors(comp: Component) -> None:
    for sub in comp.walk():
        for name, reason in getattr(sub, "errors", []):
            if name in CHECKED_PROPERTIES:
                raise InvalidCalendarData(f"{sub.name} property {name} does not parse: {reason}")


def check_rules(cal: Calendar) -> None:
    """Every RRULE, time zone observances' included, within RFC 5545 §3.3.10's ranges."""
    for comp in cal.walk():
        for name, reason in getattr(comp, "errors", []):
            if name in ("RRULE", "DTSTART", "RDATE", "TZOFFSETFROM", "TZOFFSETTO") and comp.name in OBSERVANCES:
                raise InvalidCalendarData(f"{comp.name} property {name} does not parse: {reason}")
        values = comp.get("RRULE")
        for value in values if isinstance(values, list) else ([values] if values is not None else []):
            check_rule(value.to_ical().decode())


def check_tzids(cal: Calendar) -> None:
    """Every TZID must be defined in the body or resolvable (RFC 5545 §3.2.19; Windows names via icalendar's table)."""
    defined = {str(tz["TZID"]) for tz in cal.walk("VTIMEZONE") if str(tz.get("TZID", ""))}
    for comp in main_components(cal):
        for sub in comp.walk():
            for _name, values in sub.property_items(recursive=False, sorted=False):
                params = getattr(values, "params", None)
                tzid = params.get("TZID") if params is not None else None
                if tzid is not None and tzid not in defined and resolve_tzid(tzid) is None:
                    raise UnknownTimezone(str(tzid))


def check_component(cal: Calendar, expected: str) -> None:
    """Refuse components the collection does not declare in supported-calendar-component-set (RFC 4791 §5.2.3)."""
    for sub in cal.subcomponents:
        if sub.name in MAIN_COMPONENTS + REFUSED_COMPONENTS and sub.name != expected:
            raise UnsupportedComponent(sub.name, f"this collection takes {expected} components, not {sub.name}")


def uid_of(cal: Calendar) -> str:
    """The UID shared by the object's components."""
    for comp in main_components(cal):
        if "UID" in comp:
            return str(comp["UID"])
    raise NoOrManyUids("the calendar object has no UID")
