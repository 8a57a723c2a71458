"""A linear pre-scan of a client's body, before icalendar builds anything from it.

icalendar parses recursively and keeps every line, so a body's shape is
checked first, in one pass over its lines and with an explicit stack: that
BEGIN and END pair up (RFC 5545 §3.4, §3.6: ``END:VTODO`` cannot close a
VEVENT), how deep components nest, how many components and content lines
there are, that no component repeats UID (RFC 5545 §3.6.1: MUST NOT occur
more than once) and that no line holds a control character (RFC 5545
§3.1: TAB is the only control character a value may hold; a NUL would
reach the database). Each refusal names the limit and its setting.
"""

from __future__ import annotations

import re

from mapping.errors import InvalidCalendarData, LimitExceeded
from mapping.limits import MAX_LENGTHS, Limits

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FOLD = re.compile(r"\r?\n[ \t]")
_TZID_PARAM = re.compile(r";TZID=(\"[^\"]*\"|[^;:]*)", re.IGNORECASE)
_ONCE = frozenset({"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"})
MAX_LINE = 128 * 1024
"""Longest content line (unfolded, in characters) an object may hold. Radicale parses a
stored object with vobject for some queries (text-match filters), and vobject takes
about 150 times a logical line's length in memory (a 900 KB DESCRIPTION: 130 MB); at
this bound, about 20 MB."""


def prescan(text: str, limits: Limits) -> None:
    """Raise :class:`InvalidCalendarData` (:class:`LimitExceeded` for a limit) unless ``text`` is well shaped."""
    bad = _CONTROL.search(text)
    if bad is not None:
        at = text.count("\n", 0, bad.start()) + 1
        raise InvalidCalendarData(f"line {at} holds the control character U+{ord(bad.group()):04X}; "
                                  "iCalendar text may hold only TAB (RFC 5545 §3.1)")
    stack: list[str] = []
    uids: list[int] = []
    attendees: list[int] = []
    components = 0
    lines = 0
    for number, line in enumerate(_FOLD.sub("", text).splitlines(), start=1):
        if not line:
            continue
        lines += 1
        if len(line) > MAX_LINE:
            raise InvalidCalendarData(f"line {number}: a content line of {len(line)} characters (unfolded); "
                                      f"this server takes at most {MAX_LINE}")
        if lines > limits.max_properties:
            raise LimitExceeded(f"the object has more than {limits.max_properties} content lines; "
                                f"this server takes at most {limits.max_properties}", "max_properties")
        name = line.split(":", 1)[0].split(";", 1)[0].upper()
        value = line[line.find(":") + 1:].strip().upper() if ":" in line else ""
        if name == "BEGIN":
            components += 1
            if components > limits.max_components:
                raise LimitExceeded(f"the object has more than {limits.max_components} components; "
                                    f"this server takes at most {limits.max_components}", "max_components")
            stack.append(value)
            uids.append(0)
            attendees.append(0)
            if len(stack) > limits.max_nesting:
                raise LimitExceeded(f"the object nests components more than {limits.max_nesting} deep; "
                                    f"this server takes at most {limits.max_nesting}", "max_nesting")
        elif name == "END":
            if not stack:
                raise InvalidCalendarData(f"line {number}: END:{value} without a BEGIN")
            if stack[-1] != value:
                raise InvalidCalendarData(f"line {number}: END:{value} closes BEGIN:{stack[-1]}")
            stack.pop()
            uids.pop()
            attendees.pop()
        elif stack:
            _check_line(line, name, number, stack[-1])
            if name == "UID" and stack[-1] in _ONCE:
                uids[-1] += 1
                if uids[-1] > 1:
                    raise InvalidCalendarData(f"line {number}: a second UID in one {stack[-1]} "
                                              "(RFC 5545 §3.6.1: UID must not occur more than once)")
            elif name == "ATTENDEE":
                attendees[-1] += 1
                if attendees[-1] > limits.max_attendees:
                    raise LimitExceeded(f"{stack[-1]} has more than {limits.max_attendees} attendees; "
                                        f"this server takes at most {limits.max_attendees}", "max_attendees")
    if stack:
        raise InvalidCalendarData(f"BEGIN:{stack[-1]} is never closed by END:{stack[-1]}")


def _check_line(line: str, name: str, number: int, component: str) -> None:
    longest = MAX_LENGTHS["TZID"]
    for match in _TZID_PARAM.finditer(line[:line.find(":")] if ":" in line else line):
        if len(match.group(1).strip('"')) > longest:
            raise InvalidCalendarData(f"line {number}: a TZID of {len(match.group(1))} characters; "
                                      f"time zone names have at most {longest}")
    if name == "TZID" and len(line) - 5 > longest:
        raise InvalidCalendarData(f"line {number}: {component} has a TZID of {len(line) - 5} characters; "
                                  f"time zone names have at most {longest}")
