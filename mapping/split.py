"""A calendar file (an export) cut into calendar object resources, one per UID.

Google Calendar, Outlook, Apple Calendar and Thunderbird export one
VCALENDAR holding many VEVENTs and VTODOs and the VTIMEZONEs they share,
with properties of the calendar itself (X-WR-CALNAME, METHOD:PUBLISH). A
CalDAV collection stores one object per UID instead: the master and its
RECURRENCE-ID overrides, and the VTIMEZONEs they name (RFC 4791 §4.1).

The whole file's shape is checked here in one linear pass over its lines,
with an explicit stack, before anything is stored: a truncated file, BEGIN
and END that do not pair up, or text that is not iCalendar at all is refused
as a whole (:class:`~mapping.errors.InvalidCalendarData`, naming the line).
The file is not parsed into components here: its size is not bounded by the
per-object limits (``mapping.limits``), and each piece goes through the same
parse and checks as a client's PUT body afterwards. Pieces keep the file's
own lines, folding included, so what is checked is what the producer wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mapping.errors import InvalidCalendarData

_LINE_END = re.compile(r"\r\n|\n|\r")
_TZID_PARAM = re.compile(r";TZID=(\"[^\"]*\"|[^;:]*)", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9-]+$")
KEPT_CALENDAR_PROPERTIES = frozenset({"VERSION", "PRODID", "CALSCALE"})
"""Calendar properties copied into every piece. The others describe the exported calendar
(X-WR-CALNAME, X-WR-TIMEZONE, X-APPLE-CALENDAR-COLOR, REFRESH-INTERVAL, ...), not an object,
and METHOD is not allowed in a stored object (RFC 4791 §4.1). CALSCALE:GREGORIAN is the default
(RFC 5545 §3.7.1) and left out, so that it is not kept as the client's own line of every object."""


@dataclass(frozen=True)
class Piece:
    """One calendar object resource cut from a file: ``text`` is a VCALENDAR (CRLF line ends)
    with the components of one UID (or one component that has no UID) and the VTIMEZONEs
    they name. ``component`` is the first component's name; ``line`` where it starts."""

    uid: str
    component: str
    summary: str
    text: str
    line: int


@dataclass
class _Block:
    name: str
    line: int
    lines: list[str] = field(default_factory=list)
    """The component's lines as written, its own BEGIN and END included."""
    uid: str = ""
    summary: str = ""
    master: bool = True


def _logical_lines(text: str) -> list[tuple[int, str, str]]:
    """(line number, unfolded line, the line as written) for each content line (RFC 5545 §3.1)."""
    found: list[tuple[int, list[str]]] = []
    for number, line in enumerate(_LINE_END.split(text), start=1):
        if line[:1] in (" ", "\t") and found:
            found[-1][1].append(line)
        elif line.strip():
            found.append((number, [line]))
    return [(number, parts[0] + "".join(p[1:] for p in parts[1:]), "\r\n".join(parts))
            for number, parts in found]


def _value_text(value: str) -> str:
    """A TEXT value for people (RFC 5545 §3.3.11 escapes undone, line breaks as spaces)."""
    out = value.replace("\\n", " ").replace("\\N", " ").replace("\\,", ",").replace("\\;", ";")
    return out.replace("\\\\", "\\").strip()


def _split_line(number: int, line: str) -> tuple[str, str]:
    """(NAME in upper case, value) of a content line; refuses what is not one."""
    colon = line.find(":")
    head = line[:colon] if colon >= 0 else ""
    name = head.split(";", 1)[0]
    if colon < 0 or not _NAME.match(name):
        shown = line if len(line) <= 40 else line[:40] + "..."
        raise InvalidCalendarData(f"line {number} is not an iCalendar content line (NAME:value): {shown!r}")
    return name.upper(), line[colon + 1:]


def split_calendar(text: str) -> list[Piece]:
    """The file's objects in the order they first appear; raises InvalidCalendarData for a file
    that is not well-formed iCalendar as a whole (nothing of it should be stored then)."""
    calendar_lines: list[str] = []
    zones: dict[str, list[str]] = {}
    blocks: list[_Block] = []
    stack: list[tuple[str, int]] = []
    block: _Block | None = None
    for number, line, raw in _logical_lines(text):
        name, value = _split_line(number, line)
        if name == "BEGIN":
            what = value.strip().upper()
            if not stack and what != "VCALENDAR":
                raise InvalidCalendarData(f"line {number}: BEGIN:{what} outside a VCALENDAR; "
                                          "an iCalendar file starts with BEGIN:VCALENDAR")
            stack.append((what, number))
            if len(stack) == 2:
                block = _Block(what, number)
        elif name == "END":
            what = value.strip().upper()
            if not stack:
                raise InvalidCalendarData(f"line {number}: END:{what} without a BEGIN")
            if stack[-1][0] != what:
                raise InvalidCalendarData(f"line {number}: END:{what} closes BEGIN:{stack[-1][0]} "
                                          f"of line {stack[-1][1]}")
        elif not stack:
            raise InvalidCalendarData(f"line {number}: {name} outside BEGIN:VCALENDAR ... END:VCALENDAR; "
                                      "this is not an iCalendar file")
        if len(stack) == 1 and name not in ("BEGIN", "END"):
            default = name == "CALSCALE" and value.strip().upper() == "GREGORIAN"
            if name in KEPT_CALENDAR_PROPERTIES and not default and not any(
                    k.split(":", 1)[0].upper() == name for k in calendar_lines):
                calendar_lines.append(raw)
        elif block is not None:
            block.lines.append(raw)
            if len(stack) == 2 and name == "UID":
                block.uid = value.strip()
            elif len(stack) == 2 and name == "SUMMARY":
                block.summary = _value_text(value)
            elif len(stack) == 2 and name == "RECURRENCE-ID":
                block.master = False
            elif len(stack) == 2 and name == "TZID" and block.name == "VTIMEZONE":
                block.uid = value.strip()
        if name == "END":
            stack.pop()
            if len(stack) == 1 and block is not None:
                if block.name == "VTIMEZONE":
                    zones.setdefault(block.uid, block.lines)
                else:
                    blocks.append(block)
                block = None
    if stack:
        what, number = stack[-1]
        raise InvalidCalendarData(f"the file ends inside BEGIN:{what} of line {number}: it is truncated, "
                                  f"or END:{what} is missing")
    if not blocks:
        raise InvalidCalendarData("the file holds no events, to-dos or other calendar components")
    return [_piece(group, calendar_lines, zones) for group in _groups(blocks)]


def _groups(blocks: list[_Block]) -> list[list[_Block]]:
    """Events and to-dos grouped by UID (master and overrides); anything else, or a component
    without a UID, alone."""
    by_uid: dict[str, list[_Block]] = {}
    groups: list[list[_Block]] = []
    for b in blocks:
        if b.name in ("VEVENT", "VTODO") and b.uid:
            if b.uid not in by_uid:
                by_uid[b.uid] = []
                groups.append(by_uid[b.uid])
            by_uid[b.uid].append(b)
        else:
            groups.append([b])
    return groups


def _piece(group: list[_Block], calendar_lines: list[str], zones: dict[str, list[str]]) -> Piece:
    lines = ["BEGIN:VCALENDAR", *calendar_lines]
    if not any(k.upper().startswith("VERSION") for k in calendar_lines):
        lines.insert(1, "VERSION:2.0")
    named = [match.group(1).strip('"') for b in group for line in b.lines
             for match in _TZID_PARAM.finditer(line.replace("\r\n ", "").replace("\r\n\t", ""))]
    for tzid in dict.fromkeys(named):
        if tzid in zones:
            lines += zones[tzid]
    for b in group:
        lines += b.lines
    lines.append("END:VCALENDAR")
    first = next((b for b in group if b.master), group[0])
    return Piece(uid=group[0].uid, component=group[0].name, summary=first.summary,
                 text="\r\n".join(lines) + "\r\n", line=group[0].line)
