"""Names the mapping shares between rendering, parsing and preserving.

Which properties and parameters the mapping *owns* decides what is kept
verbatim for the client: everything not listed here survives untouched.
"""

from __future__ import annotations

from store.domain import Kind

PRODID = "-//followup-caldav//followup-caldav 0.1//EN"
CLIENT_DATA_PRODID = "-//followup-caldav//client-data 1//EN"
KEEP = "X-CRM-KEEP"
"""Subcomponent of a client-data component holding what the mapping merges
into properties it owns: unknown parameters, extra categories, original
values the domain keeps only coarsely (CLASS, STATUS, PERCENT-COMPLETE), and
the mapped alarm's own properties."""

MAIN_COMPONENTS = ("VEVENT", "VTODO")
REFUSED_COMPONENTS = ("VJOURNAL", "VFREEBUSY", "VAVAILABILITY")

KIND_VALUES = {Kind.MEETING: "MEETING", Kind.TODO: "TODO", Kind.CALL: "CALL"}

CALENDAR_OWNED = frozenset({"VERSION", "PRODID", "METHOD"})
"""METHOD is dropped: RFC 4791 §4.1 forbids it in stored calendar object resources."""

_COMMON = frozenset({
    "UID", "DTSTAMP", "CREATED", "LAST-MODIFIED", "SEQUENCE", "X-CRM-KIND", "SUMMARY", "DESCRIPTION",
    "CATEGORIES", "X-CRM-TYPE", "DTSTART", "CLASS", "PRIORITY", "STATUS", "LOCATION", "DURATION",
})
MASTER_OWNED = {
    "VEVENT": _COMMON | {"DTEND", "TRANSP", "X-CRM-COMPLETED", "ORGANIZER", "ATTENDEE", "RRULE", "RDATE", "EXDATE",
                         "X-CRM-SALE", "X-CRM-PROJECT", "X-CRM-FIELD"},
    "VTODO": _COMMON | {"DUE", "COMPLETED", "PERCENT-COMPLETE", "X-CRM-DEADLINE", "RRULE", "RDATE", "EXDATE",
                        "X-CRM-SALE", "X-CRM-PROJECT", "X-CRM-FIELD"},
}
"""Always owned on the series' master; CONTACT (with X-CRM-ID), the first
CONFERENCE and the first RRULE are decided per property in ``preserve``."""

OVERRIDE_OWNED = {
    "VEVENT": _COMMON | {"RECURRENCE-ID", "DTEND", "TRANSP", "ORGANIZER", "ATTENDEE"},
    "VTODO": _COMMON | {"RECURRENCE-ID", "DUE"},
}
"""A RECURRENCE-ID component (RFC 5545 §3.8.4.4) replaces its instance whole,
so it repeats the master's shared properties; those come from the master."""

_TIME_PARAMS = frozenset({"TZID", "VALUE"})
DERIVED_PARAMS: dict[str, frozenset[str]] = {
    **{name: _TIME_PARAMS for name in ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "RDATE", "EXDATE", "COMPLETED",
                                       "X-CRM-DEADLINE", "X-CRM-COMPLETED", "DTSTAMP", "CREATED", "LAST-MODIFIED")},
    "ATTENDEE": frozenset({"CN", "PARTSTAT"}),
    "ORGANIZER": frozenset({"CN"}),
    "CONTACT": frozenset({"X-CRM-ID"}),
    "X-CRM-SALE": frozenset({"X-CRM-NAME"}),
    "X-CRM-PROJECT": frozenset({"X-CRM-NAME"}),
    "X-CRM-FIELD": frozenset({"X-CRM-NAME"}),
    "CONFERENCE": frozenset({"VALUE"}),
    "TRIGGER": frozenset({"RELATED", "VALUE"}),
}
"""Parameters the mapping computes itself; any other parameter a client puts
on an owned property is kept and laid over the rendered property."""
