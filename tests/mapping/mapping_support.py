"""Helpers of the mapping tests: the CRM records, fixture payloads by name, content-line comparison.

Named ``mapping_support`` (not ``support``) so it cannot clash with helpers of other test folders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from icalendar.parser import Contentline

from mapping import MemoryDirectory
from store.domain import Company, FieldDef, FieldType, Person, Project, Resource, ResourceKind, Sale, User

DATA = Path(__file__).resolve().parent.parent / "data"
FIXTURES = sorted(p.name for p in DATA.glob("*.ics"))


def load(name: str) -> str:
    """A fixture payload from tests/data, by file name (icalendar's DataSource idea)."""
    return (DATA / name).read_bytes().decode("utf-8")


def make_directory() -> MemoryDirectory:
    return MemoryDirectory(
        users=[
            User("anna", "Anna Berg", "anna@example.com", tz="Europe/Oslo", id=1),
            User("bo", "Bo Ek", "bo@example.com", tz="Europe/Stockholm", id=2),
        ],
        resources=[
            Resource("room1", "Room Fjord", ResourceKind.ROOM, email="fjord@rooms.example.com", id=1),
            Resource("beamer", "Projector", ResourceKind.EQUIPMENT, email=None, id=2),
            Resource("room2", "Room Sky", ResourceKind.ROOM, email=None, id=3),
        ],
        persons=[
            Person("Carl Customer", company_id=1, email="carl@customer.example", phone="+47 555 01 234", id=1),
            Person("Dina NoMail", company_id=1, email=None, phone=None, id=2),
        ],
        companies=[Company("Customer AS", id=1), Company("Supplier AB", id=2)],
        sales=[Sale("Big deal", company_id=1, id=1), Sale("Small deal", id=2)],
        projects=[Project("Rollout", id=1)],
        field_defs=[
            FieldDef("Budget", FieldType.NUMBER, id=1),
            FieldDef("Region", FieldType.LIST, choices=["North", "South"], id=2),
            FieldDef("Note, short", FieldType.TEXT, id=3),
        ],
    )


Line = tuple[str, frozenset[tuple[str, str]], str]


@dataclass
class Node:
    """One component of a content-line tree: its lines as sent, and its subcomponents."""

    name: str
    lines: list[Line] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)

    def get(self, name: str) -> list[Line]:
        return [line for line in self.lines if line[0] == name]

    def value(self, name: str) -> str | None:
        found = self.get(name)
        return found[0][2] if found else None


def unfold(text: str) -> list[str]:
    """Content lines with folding undone (RFC 5545 §3.1)."""
    return [line for line in text.replace("\r\n", "\n").replace("\n ", "").replace("\n\t", "").split("\n") if line]


def parse_line(line: str) -> Line:
    name, params, value = Contentline(line).parts()
    return name.upper(), frozenset((k.upper(), str(v)) for k, v in params.items()), value


def tree(text: str) -> Node:
    stack: list[Node] = [Node("ROOT")]
    for raw in unfold(text):
        name, params, value = parse_line(raw)
        if name == "BEGIN":
            node = Node(value.upper())
            stack[-1].children.append(node)
            stack.append(node)
        elif name == "END":
            stack.pop()
        else:
            stack[-1].lines.append((name, params, value))
    return stack[0].children[0]


def params_of(line: Line) -> dict[str, str]:
    return dict(line[1])


# What the spec maps (shared/spec/calendar-mapping.md), written out independently of mapping.names.
MAPPED = {
    "VEVENT": {"UID", "DTSTAMP", "CREATED", "LAST-MODIFIED", "SEQUENCE", "X-CRM-KIND", "SUMMARY", "DESCRIPTION",
               "CATEGORIES", "X-CRM-TYPE", "DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "TRANSP",
               "X-CRM-SALE", "X-CRM-PROJECT", "ORGANIZER", "ATTENDEE", "LOCATION", "X-CRM-COMPLETED", "STATUS",
               "CLASS", "PRIORITY", "X-CRM-FIELD", "CONFERENCE", "RECURRENCE-ID", "CONTACT"},
    "VTODO": {"UID", "DTSTAMP", "CREATED", "LAST-MODIFIED", "SEQUENCE", "X-CRM-KIND", "SUMMARY", "DESCRIPTION",
              "CATEGORIES", "X-CRM-TYPE", "DTSTART", "DUE", "DURATION", "RRULE", "RDATE", "EXDATE", "X-CRM-DEADLINE",
              "X-CRM-SALE", "X-CRM-PROJECT", "LOCATION", "STATUS", "COMPLETED", "PERCENT-COMPLETE", "CLASS",
              "PRIORITY", "X-CRM-FIELD", "CONFERENCE", "RECURRENCE-ID", "CONTACT"},
}
COMPUTED_PARAMS = {"TZID", "VALUE", "CN", "PARTSTAT", "X-CRM-ID", "X-CRM-NAME", "RELATED"}
"""Parameters the mapping computes: a client's value of these may change (e.g. a Windows TZID becomes IANA)."""


def _address(value: str) -> str:
    return value[7:].casefold() if value[:7].lower() == "mailto:" else value.casefold()


def _same_prop(a: Line, b: Line) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] in ("ATTENDEE", "ORGANIZER"):
        return _address(a[2]) == _address(b[2])
    if a[0] == "CONTACT":
        return params_of(a).get("X-CRM-ID") == params_of(b).get("X-CRM-ID")
    return True


def _rid(node: Node) -> str | None:
    return node.value("RECURRENCE-ID")


def missing_client_data(client_text: str, output_text: str, *, unmapped_only: bool = False) -> list[str]:
    """Every line, parameter and subcomponent of the client's object the output lost (empty if none).

    Unmapped properties must appear as sent; mapped ones must carry the client's own parameters;
    VALARMs must survive whole (a mapped alarm's TRIGGER compared by value); METHOD is dropped on
    purpose (RFC 4791 §4.1) and VTIMEZONEs are regenerated.
    """
    client, output = tree(client_text), tree(output_text)
    lost: list[str] = []
    for line in client.lines:
        if line[0] not in ("VERSION", "PRODID", "METHOD") and line not in output.lines:
            lost.append(f"VCALENDAR {line}")
    for child in client.children:
        if child.name == "VTIMEZONE":
            continue
        if child.name not in MAPPED:
            if child not in output.children:
                lost.append(f"component {child.name}")
            continue
        match = next((c for c in output.children if c.name == child.name and _rid(c) == _rid(child)), None)
        if match is None:
            lost.append(f"{child.name} RECURRENCE-ID={_rid(child)}")
            continue
        lost += _missing_in_component(child, match, unmapped_only)
    return lost


def _missing_in_component(client: Node, output: Node, unmapped_only: bool) -> list[str]:
    lost: list[str] = []
    mapped = MAPPED[client.name]
    for line in client.lines:
        name = line[0]
        if name == "CONTACT" and "X-CRM-ID" not in params_of(line):
            mapped_here = False
        else:
            mapped_here = name in mapped
        if not mapped_here:
            if line not in output.lines:
                lost.append(f"{client.name} line {line}")
            continue
        if unmapped_only or name == "CATEGORIES":
            continue
        own = {k: v for k, v in params_of(line).items() if k not in COMPUTED_PARAMS}
        candidates = [o for o in output.lines if _same_prop(line, o)]
        if own and not any(all(params_of(o).get(k) == v for k, v in own.items()) for o in candidates):
            lost.append(f"{client.name} params {own} of {name}")
    for sub in client.children:
        if sub.name != "VALARM":
            if sub not in output.children:
                lost.append(f"{client.name} subcomponent {sub.name}")
            continue
        if not any(_alarm_kept(sub, o) for o in output.children if o.name == "VALARM"):
            lost.append(f"{client.name} VALARM {sub.lines}")
    return lost


def _alarm_kept(alarm: Node, out: Node) -> bool:
    for line in alarm.lines:
        if line[0] == "TRIGGER":
            own = {k: v for k, v in params_of(line).items() if k not in COMPUTED_PARAMS}
            ok = any(o[2] == line[2] and all(params_of(o).get(k) == v for k, v in own.items())
                     for o in out.get("TRIGGER"))
        else:
            ok = line in out.lines
        if not ok:
            return False
    return all(any(c == s for s in out.children) for c in alarm.children)
