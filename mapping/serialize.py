"""iCalendar text of a component, as ``Component.to_ical(sorted=False)`` writes it, faster.

icalendar builds a content-line object, an empty parameter set and a
character-by-character fold for every property. Rendering the store's
objects spent about half its time there (a bulk import renders every
follow-up; a PUT renders the one it stores). This writes the same text with
the library's own value and parameter encoders, folding only the lines that
need it; ``tests/mapping/test_serialize.py`` holds the output equal to
icalendar's, byte for byte. Since that equality rests on icalendar's
internals (``Contentline`` and its folding points), ``pyproject.toml`` pins
icalendar to the major version the test passes on (``>=7,<8``): before
allowing a new major, run that test against it (and ``tests/mapping``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from icalendar import Component
from icalendar.parser import Contentline
from icalendar.prop import vCalAddress, vDDDTypes, vInt, vText, vUri

FOLD_AT = 75
"""icalendar folds a line once it reaches 75 octets (RFC 5545 3.1); shorter lines stay whole."""
LINES_KEPT = 4096
"""Folded lines :func:`to_text` remembers by default (then it forgets them all
and starts again): the setting ``line_cache_entries`` (:func:`bound_lines`)."""
_kept = LINES_KEPT
LINE_KEPT_CHARS = 200
"""The longest folded line kept: the lines follow-ups share are short (a
date, a type, an organizer), and a client's long texts (a 100 KB
DESCRIPTION, an ATTENDEE with a huge CN) would otherwise make the bound on
entries no bound on memory."""

_lines: dict[tuple[Any, ...], str] = {}
_STRINGS = (vText, vCalAddress, vUri)
_MOMENTS = (datetime, date, timedelta)


_BOM = b"\xef\xbb\xbf"


def _unicode(value: bytes | str) -> str:
    """As icalendar decodes: UTF-8 without a leading byte-order mark, bad bytes replaced."""
    if isinstance(value, str):
        return value
    if value.startswith(_BOM):
        value = value[3:]
    return value.decode("utf-8", "replace")


def _line(name: str, value: Any) -> str:
    encoded = _unicode(value.to_ical() if hasattr(value, "to_ical") else vText(value).to_ical())
    params = getattr(value, "params", None)
    if params:
        rendered = _unicode(params.to_ical(sorted=False))
        if rendered:
            return f"{name};{rendered}:{encoded}"
    return f"{name}:{encoded}"


def fold(line: str) -> str:
    """RFC 5545 3.1 folding, at the points icalendar chooses: a piece ends
    before it reaches 75 octets, and never just after a backslash or caret
    (an escape stays whole on the next line)."""
    if not line.isascii():
        if len(line.encode("utf-8")) < FOLD_AT:
            return line
        return _unicode(Contentline(line).to_ical())
    width = FOLD_AT - 1
    if len(line) <= width:
        return line
    pieces = []
    start = 0
    while len(line) - start > width:
        end = start + width
        if line[end - 1] in "\\^":
            end -= 1
        pieces.append(line[start:end])
        start = end
    pieces.append(line[start:])
    return "\r\n ".join(pieces)


def _key(name: str, value: Any) -> tuple[Any, ...] | None:
    """What a property's folded line depends on, when that is all it depends
    on: its name, value class, value (a moment with its zone object, since
    aware datetimes of two zones compare equal at the same instant) and
    parameters in order. None for anything else (lists, periods, recurrence
    rules, a client's own values), which is written afresh every time."""
    kind = type(value)
    if kind in _STRINGS:
        ident: Any = (str(value), getattr(value, "encoding", None))
    elif kind is vInt:
        ident = int(value)
    elif kind is vDDDTypes:
        moment = value.dt
        if type(moment) not in _MOMENTS:
            return None
        ident = (type(moment), moment, getattr(moment, "tzinfo", None))
    else:
        return None
    params = value.params
    return (name, kind, ident, tuple(params.items()) if params else ())


def bound_lines(entries: int) -> None:
    """Remember at most ``entries`` folded lines (0: none), forgetting those kept now."""
    global _kept
    _kept = max(0, entries)
    _lines.clear()


def _folded(name: str, value: Any) -> str:
    """``fold(_line(name, value))``, remembered: a bulk import renders the same
    lines (DTSTAMP, the type, the contacts, the organizer, STATUS) for many
    follow-ups, and encoding each value and its parameters again cost about
    a third of writing the text."""
    key = _key(name, value) if _kept else None
    if key is None:
        return fold(_line(name, value))
    try:
        return _lines[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable parameter value (a list): nothing to remember
        return fold(_line(name, value))
    line = fold(_line(name, value))
    if len(line) <= LINE_KEPT_CHARS:
        if len(_lines) >= _kept:
            _lines.clear()
        _lines[key] = line
    return line


def to_text(component: Component) -> str:
    """The component with its subcomponents, CRLF line ends and a final CRLF."""
    out: list[str] = []
    stack: list[tuple[Component, bool]] = [(component, False)]
    while stack:
        comp, closing = stack.pop()
        if closing:
            out.append(f"END:{comp.name}")
            continue
        out.append(f"BEGIN:{comp.name}")
        for name, values in comp.items():  # the stored upper-case names, without a case-folding lookup each
            for value in values if isinstance(values, list) else (values,):
                out.append(_folded(name, value))
        stack.append((comp, True))
        stack.extend((sub, False) for sub in reversed(comp.subcomponents))
    return "\r\n".join(out) + "\r\n"


def used_tzids(calendar: Component) -> set[str]:
    """Every TZID parameter in the calendar, as ``Calendar.get_used_tzids``
    finds them, without building its list of every property first."""
    found: set[str] = set()
    stack = [calendar]
    while stack:
        comp = stack.pop()
        for values in comp.values():
            for value in values if isinstance(values, list) else (values,):
                params = getattr(value, "params", None)
                if params:
                    tzid = params.get("TZID")
                    if tzid is not None:
                        found.add(tzid)
        stack.extend(comp.subcomponents)
    return found
