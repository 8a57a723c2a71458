"""A CRM change patched into a client's own text, line by line.

The mapping spec ("Identity"): what a client PUT is what it reads back, byte
for byte, until the CRM changes the follow-up; a CRM change rewrites only the
properties it owns (and DTSTAMP, LAST-MODIFIED), keeping the client's other
lines and forms. The store keeps, beside the client's text, the CRM's
rendering it was last reconciled with (``base``); a new rendering (``new``)
differs from it exactly in what the CRM changed, so only those properties are
written into the client's text:

- components are matched by name and RECURRENCE-ID instant (a client may
  write ``TZID=Europe/Oslo:20261201T100000`` where the rendering has
  ``20261201T090000Z``), VTIMEZONEs by TZID;
- a property name whose lines differ between ``base`` and ``new`` has the
  client's lines of that name replaced by the new ones, where the first of
  them stood; every other line stays as the client wrote it (folding, case,
  parameter order). CRM-only properties (CATEGORIES of the type, X-CRM-*,
  CLASS, TRANSP) so appear only once the CRM sets a value that differs from
  what the client's text implied;
- a client that gives an event's or to-do's length as DURATION keeps
  DURATION (RFC 5545 3.6.1, 3.6.2 allow DTEND/DUE or DURATION), rewritten
  only when the length changed;
- the CRM's own alarm (the mapped VALARM, see ``mapping.preserve``) is
  replaced as a whole; the client's other alarms stay;
- components the rendering adds or drops (an override) are added or dropped,
  and a VTIMEZONE the patched text needs is added;
- whenever anything changed, DTSTAMP and LAST-MODIFIED come from ``new``;
  CREATED is never added.

Pure: text in, text out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from icalendar import Component
from icalendar.parser import Contentline
from icalendar.prop import vDDDTypes, vDuration

from mapping.preserve import alarm_minutes_of, rid_key
from mapping.timezones import normalize

STAMPS = ("DTSTAMP", "LAST-MODIFIED")
"""Rewritten from the new rendering whenever anything else changed, never compared."""
NEVER_ADDED = frozenset({"CREATED"})
"""The server never adds CREATED to a client's object (mapping spec, "Identity")."""
MAIN = ("VEVENT", "VTODO", "VJOURNAL")
END_NAME = {"VEVENT": "DTEND", "VTODO": "DUE"}
_NEWLINE = re.compile(r"\r\n|\n|\r")


@dataclass
class Prop:
    """One logical line, with the physical (folded) lines it came from."""

    name: str
    logical: str
    raw: list[str]


@dataclass
class Block:
    """A component: its BEGIN/END lines and its properties and subcomponents in order."""

    name: str
    begin: str
    end: str = ""
    items: list[Prop | Block] = field(default_factory=list)

    def props(self, name: str) -> list[Prop]:
        return [i for i in self.items if isinstance(i, Prop) and i.name == name]

    def names(self) -> list[str]:
        return list(dict.fromkeys(i.name for i in self.items if isinstance(i, Prop)))

    def blocks(self) -> list[Block]:
        return [i for i in self.items if isinstance(i, Block)]

    def lines(self) -> list[str]:
        out = [self.begin]
        for item in self.items:
            out += item.raw if isinstance(item, Prop) else item.lines()
        if self.end:
            out.append(self.end)
        return out

    def text(self) -> str:
        return "\n".join(self.lines())


def _name(logical: str) -> str:
    cut = [i for i in (logical.find(";"), logical.find(":")) if i >= 0]
    return logical[:min(cut)].upper() if cut else logical.upper()


def parse(text: str) -> Block:
    """The text as a tree of blocks under a root (lines outside any component stay in the root)."""
    root = Block("", "")
    stack = [root]
    physical = _NEWLINE.split(text)
    if physical and physical[-1] == "":
        physical.pop()
    logical: list[tuple[str, list[str]]] = []
    for line in physical:
        if line[:1] in (" ", "\t") and logical:
            logical[-1] = (logical[-1][0] + line[1:], logical[-1][1] + [line])
        else:
            logical.append((line, [line]))
    for content, raw in logical:
        name = _name(content)
        value = content.split(":", 1)[1].strip().upper() if ":" in content else ""
        if name == "BEGIN" and value:
            block = Block(value, raw[0] if len(raw) == 1 else content)
            stack[-1].items.append(block)
            stack.append(block)
        elif name == "END" and len(stack) > 1 and value == stack[-1].name:
            stack[-1].end = content
            stack.pop()
        else:
            stack[-1].items.append(Prop(name, content, raw))
    return root


def _parts(prop: Prop) -> tuple[dict[str, str], str]:
    try:
        _, params, value = Contentline(prop.logical).parts()
    except ValueError:
        return {}, ""
    return {k.upper(): str(v) for k, v in params.items()}, str(value)


def _moment(block: Block, name: str) -> date | datetime | None:
    found = block.props(name)
    if not found:
        return None
    params, value = _parts(found[0])
    try:
        moment = vDDDTypes.from_ical(value, timezone=params.get("TZID"))
    except (ValueError, TypeError):
        return None
    return moment if isinstance(moment, date) else None


def _duration(block: Block) -> timedelta | None:
    found = block.props("DURATION")
    if not found:
        return None
    try:
        value = vDuration.from_ical(_parts(found[0])[1])
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, timedelta) else None


def _length(block: Block) -> timedelta | None:
    """The length of an event or to-do of the rendering, from DTSTART to DTEND/DUE, or its DURATION."""
    start, end = _moment(block, "DTSTART"), _moment(block, END_NAME.get(block.name, "DTEND"))
    if start is None or end is None:
        return _duration(block)
    if isinstance(start, datetime) != isinstance(end, datetime):
        return None
    if isinstance(start, datetime) and isinstance(end, datetime) and (start.tzinfo is None) != (end.tzinfo is None):
        return None
    return end - start  # type: ignore[operator]


def _key(block: Block) -> tuple[str, str]:
    """Components match by name and RECURRENCE-ID instant (RFC 5545 3.8.4.4), VTIMEZONEs by TZID."""
    if block.name == "VTIMEZONE":
        found = block.props("TZID")
        return block.name, _parts(found[0])[1] if found else ""
    found = block.props("RECURRENCE-ID")
    if not found:
        return block.name, ""
    params, value = _parts(found[0])
    try:
        moment = vDDDTypes.from_ical(value, timezone=params.get("TZID"))
        return block.name, rid_key(normalize(moment, params.get("TZID")))
    except (ValueError, TypeError):
        return block.name, value


def _related(block: Block) -> str:
    """:func:`mapping.preserve.wanted_alarm_related` of a block."""
    names = set(block.names())
    if block.name == "VTODO" and ("DUE" in names or "DURATION" in names or "DTSTART" not in names):
        return "END"
    return "START"


def _mapped_alarm(block: Block) -> int | None:
    """The index in ``block.items`` of the CRM's alarm (:func:`mapping.preserve.mapped_alarm`)."""
    related = _related(block)
    for i, item in enumerate(block.items):
        if isinstance(item, Block) and item.name == "VALARM":
            try:
                alarm = Component.from_ical("\r\n".join(item.lines()) + "\r\n")
            except ValueError:
                continue
            if alarm_minutes_of(alarm, related) is not None:
                return i
    return None


def _first_sub(block: Block) -> int:
    """Where a new property goes: before the first subcomponent, else before END."""
    return next((i for i, item in enumerate(block.items) if isinstance(item, Block)), len(block.items))


def _replace(block: Block, name: str, lines: list[Prop]) -> None:
    """The block's ``name`` lines become ``lines``, where the first of them stood."""
    at = next((i for i, item in enumerate(block.items) if isinstance(item, Prop) and item.name == name), None)
    block.items = [i for i in block.items if not (isinstance(i, Prop) and i.name == name)]
    if at is None:
        at = _first_sub(block)
    else:
        at -= sum(1 for i in block.items[:at] if isinstance(i, Prop) and i.name == name)
    block.items[at:at] = [Prop(p.name, p.logical, list(p.raw)) for p in lines]


def _logicals(block: Block, name: str) -> list[str]:
    return [p.logical for p in block.props(name)]


def _patch_length(client: Block, new: Block, changed: set[str]) -> None:
    """A client that gives the length as DURATION keeps that form (RFC 5545 3.6.1, 3.6.2): DURATION is
    rewritten only when the length changed, and no DTEND/DUE is added. Where the new rendering gives no
    length this way, the plain rule applies (its lines replace the client's)."""
    end_name = END_NAME.get(client.name)
    if end_name is None or not client.props("DURATION") or client.props(end_name):
        return
    if not changed & {"DTSTART", end_name, "DURATION"}:
        return
    length = _length(new)
    if length is None:
        return
    changed.discard(end_name)
    changed.discard("DURATION")
    if length != _duration(client):
        line = "DURATION:" + vDuration(length).to_ical().decode()
        _replace(client, "DURATION", [Prop("DURATION", line, [line])])


def _changed(base: Block, new: Block) -> set[str]:
    names = set(base.names()) | set(new.names())
    return {n for n in names - set(STAMPS) - NEVER_ADDED if _logicals(base, n) != _logicals(new, n)}


def _alarms(block: Block) -> list[str]:
    return [b.text() for b in block.blocks() if b.name == "VALARM"]


def _patch_alarm(client: Block, base: Block, new: Block) -> bool:
    """Replace the client's mapped alarm with the rendering's when the rendered alarms changed."""
    if _alarms(base) == _alarms(new):
        return False
    base_at, new_at = _mapped_alarm(base), _mapped_alarm(new)
    fresh = new.items[new_at] if new_at is not None else None
    at = _mapped_alarm(client)
    if at is not None and base_at is not None:
        if fresh is None:
            del client.items[at]
        else:
            client.items[at] = fresh
    elif fresh is not None:
        client.items.append(fresh)
    return True


def _patch_component(client: Block, base: Block, new: Block) -> bool:
    """Patch one component; whether anything changed."""
    changed = _changed(base, new)
    touched = bool(changed)
    _patch_length(client, new, changed)
    for name in [n for n in new.names() if n in changed] + sorted(changed - set(new.names())):
        _replace(client, name, new.props(name))
    if _patch_alarm(client, base, new):
        touched = True
    if touched:
        for name in STAMPS:
            if new.props(name):
                _replace(client, name, new.props(name))
    return touched


def _by_key(blocks: list[Block]) -> dict[tuple[str, str], Block]:
    found: dict[tuple[str, str], Block] = {}
    for b in blocks:
        found.setdefault(_key(b), b)
    return found


def _tzids(block: Block) -> set[str]:
    found: set[str] = set()
    for item in block.items:
        if isinstance(item, Block):
            if item.name != "VTIMEZONE":
                found |= _tzids(item)
        elif "TZID=" in item.logical.upper():
            tzid = _parts(item)[0].get("TZID")
            if tzid:
                found.add(tzid)
    return found


def _patch_calendar(client: Block, base: Block, new: Block) -> bool:
    """Patch a VCALENDAR: its own properties, its components, its VTIMEZONEs."""
    touched = False
    referenced = _tzids(client)
    changed = _changed(base, new)
    for name in [n for n in new.names() if n in changed] + sorted(changed - set(new.names())):
        _replace(client, name, new.props(name))
        touched = True
    main = [b for b in client.blocks() if b.name != "VTIMEZONE"]
    mine = _by_key(main)
    bases = _by_key([b for b in base.blocks() if b.name != "VTIMEZONE"])
    news = _by_key([b for b in new.blocks() if b.name != "VTIMEZONE"])
    for key, block in mine.items():
        if key in bases and key not in news:
            client.items.remove(block)
            touched = True
        elif key in bases and key in news:
            touched = _patch_component(block, bases[key], news[key]) or touched
    last = max((i for i, item in enumerate(client.items) if isinstance(item, Block) and item.name != "VTIMEZONE"),
               default=len(client.items) - 1)
    for key, block in news.items():
        if key not in mine and (key not in bases or bases[key].text() != block.text()):
            last += 1
            client.items.insert(last, block)
            touched = True
    if touched:
        for key, block in _by_key(client.blocks()).items():
            if key in news and key[0] != "VTIMEZONE":
                for name in STAMPS:
                    if news[key].props(name):
                        _replace(block, name, news[key].props(name))
    _patch_zones(client, base, new, referenced)
    return touched


def _patch_zones(client: Block, base: Block, new: Block, referenced: set[str]) -> None:
    """Add the rendering's VTIMEZONEs the patched text needs and lacks; drop ours it no longer needs.
    A TZID the client's text already ``referenced`` without a VTIMEZONE of its own
    (an IANA name, which this server takes alone) stays as the client wrote it."""
    used = _tzids(client)
    zones = {k[1]: b for k, b in _by_key([b for b in client.blocks() if b.name == "VTIMEZONE"]).items()}
    base_zones = {k[1]: b for k, b in _by_key([b for b in base.blocks() if b.name == "VTIMEZONE"]).items()}
    new_zones = {k[1]: b for k, b in _by_key([b for b in new.blocks() if b.name == "VTIMEZONE"]).items()}
    for tzid, block in zones.items():
        if tzid not in used and tzid in base_zones and base_zones[tzid].text() == block.text():
            client.items.remove(block)
    first = _first_sub(client)
    for tzid in sorted(used - set(zones) - referenced):
        if tzid in new_zones:
            client.items.insert(first, new_zones[tzid])
            first += 1


def patch(client: str, base: str, new: str) -> str:
    """``client`` with what changed from ``base`` to ``new`` (two renderings) written into it.

    Returns ``client`` itself when nothing but DTSTAMP/LAST-MODIFIED changed."""
    if base == new:
        return client
    mine, theirs, fresh = parse(client), parse(base), parse(new)
    touched = False
    pairs = zip(_calendars(mine), _calendars(theirs), _calendars(fresh), strict=False)
    for c, b, n in pairs:
        touched = _patch_calendar(c, b, n) or touched
    if not touched:
        return client
    return _joined(mine, client)


def _calendars(root: Block) -> list[Block]:
    return [b for b in root.blocks() if b.name == "VCALENDAR"]


def differs(base: str, new: str) -> bool:
    """Whether two renderings differ in more than DTSTAMP and LAST-MODIFIED."""
    if base == new:
        return False
    return _strip(base) != _strip(new)


def _strip(text: str) -> list[str]:
    out = []
    for line in parse_lines(text):
        if _name(line) not in STAMPS:
            out.append(line)
    return out


def parse_lines(text: str) -> list[str]:
    """The logical (unfolded) lines of ``text``."""
    out: list[str] = []
    for line in _NEWLINE.split(text):
        if line[:1] in (" ", "\t") and out:
            out[-1] += line[1:]
        elif line:
            out.append(line)
    return out


TIMES = ("DTSTART", "DTEND", "DUE", "DURATION", "X-CRM-DEADLINE")
"""The time properties of a rendering, written together when the CRM derived times a client's text does not state."""


def correct(client: str, rendering: str, times: bool) -> str:
    """``client`` with what the CRM decided on the way in and the text does not say written into it (and
    without METHOD, which RFC 4791 4.1 forbids in a stored object): the
    CRM's own X-CRM-* lines where the client sent other values (a stale copy), and, when ``times``, the
    rendering's time properties (a planned call ticked off becomes a made call with a start and length).
    Everything else stays the client's; ``client`` itself when nothing needed writing."""
    mine, fresh = parse(client), parse(rendering)
    touched = False
    for c, n in zip(_calendars(mine), _calendars(fresh), strict=False):
        referenced = _tzids(c)
        if c.props("METHOD"):  # RFC 4791 4.1: a stored calendar object carries no METHOD
            _replace(c, "METHOD", [])
            touched = True
        news = _by_key([b for b in n.blocks() if b.name != "VTIMEZONE"])
        for key, block in _by_key([b for b in c.blocks() if b.name != "VTIMEZONE"]).items():
            if key not in news:
                continue
            names = {name for name in block.names() if name.startswith("X-CRM-")}
            if times:
                names |= set(TIMES)
            for name in sorted(names):
                if _logicals(block, name) != _logicals(news[key], name):
                    _replace(block, name, news[key].props(name))
                    touched = True
        if touched:
            _patch_zones(c, n, n, referenced)
    if not touched:
        return client
    return _joined(mine, client)


def _joined(root: Block, client: str) -> str:
    """The tree as text, with the client's line ends and final newline (or none)."""
    newline = "\r\n" if "\r\n" in client or "\n" not in client else "\n"
    lines: list[str] = []
    for item in root.items:
        lines += item.raw if isinstance(item, Prop) else item.lines()
    text = newline.join(lines)
    return text + newline if _NEWLINE.search(client[-1:] or "x") else text
