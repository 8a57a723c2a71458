"""A private follow-up as everyone but its owner and participants sees it.

The mapping spec's "Privacy" section: every other viewer (a resource's
bookings, a colleague's free/busy, a lead reading a diary, a feed or export
read by someone else) sees a busy block with the same times and no words of
its own: UID, the times and recurrence, TRANSP, ``SUMMARY:Private`` and
``CLASS:PRIVATE``, and nothing else (no DESCRIPTION, LOCATION, ATTENDEE,
ORGANIZER, CONTACT, X-CRM-*, alarms, custom fields or client lines).
"""

from __future__ import annotations

from icalendar import Calendar, Event, Todo

from mapping.names import MAIN_COMPONENTS, PRODID
from mapping.serialize import to_text, used_tzids

PRIVATE_SUMMARY = "Private"
KEPT = ("UID", "DTSTAMP", "RECURRENCE-ID", "DTSTART", "DTEND", "DURATION", "DUE", "RRULE", "RDATE", "EXDATE",
        "TRANSP")
"""The properties a busy block keeps (RFC 5545 §3.6.1, §3.6.2): identity, times, recurrence, transparency."""


def mask(cal: Calendar) -> Calendar:
    """The busy block of ``cal`` (a parsed calendar object), in a new calendar
    with the VTIMEZONEs its times still use."""
    out = Calendar()
    out.add("VERSION", "2.0")
    out.add("PRODID", PRODID)
    for comp in cal.subcomponents:
        if comp.name not in MAIN_COMPONENTS:
            continue
        block = Event() if comp.name == "VEVENT" else Todo()
        for name in KEPT:
            values = comp.get(name)
            if values is None:
                continue
            for value in values if isinstance(values, list) else [values]:
                block.add(name, value, encode=False)
        block.add("SUMMARY", PRIVATE_SUMMARY)
        block.add("CLASS", "PRIVATE")
        out.add_component(block)
    used = used_tzids(out)
    zones = [z for z in cal.subcomponents if z.name == "VTIMEZONE" and str(z.get("TZID", "")) in used]
    out.subcomponents[0:0] = zones
    return out


def mask_text(cal: Calendar) -> str:
    """:func:`mask` as text on the wire (CRLF)."""
    return to_text(mask(cal))
