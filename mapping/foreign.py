"""References to CRM records in a file from another store: kept only where they name the same record here.

The CRM writes record ids into what clients read: ``CONTACT;X-CRM-ID=company/12``,
``X-CRM-SALE``, ``X-CRM-PROJECT``, ``X-CRM-TYPE`` and ``urn:x-crm:...`` attendee
addresses. From a client of this store they are authoritative (``mapping.parse``:
names are display only, unknown ids ignored). A file exported from another store
(an import) carries that store's ids, which here may name nothing or, worse,
another company. So before an imported object is mapped, every such id is kept
only when the record it names here carries the name written beside it (the
CONTACT's text, X-CRM-NAME, a category, the attendee's CN); otherwise the link is
dropped and what a person can read is kept (a CONTACT stays, as text a client
shows). Each dropped link is reported in one line.
"""

from __future__ import annotations

import re
from typing import Any

from icalendar import Calendar, Component

from mapping.directory import Directory
from mapping.preserve import CRM_ID
from mapping.validate import main_components
from store.errors import NotFound

_URN = re.compile(r"^urn:x-crm:(user|person|resource):(\d+)$", re.IGNORECASE)


def _same(a: Any, b: Any) -> bool:
    return " ".join(str(a or "").split()).casefold() == " ".join(str(b or "").split()).casefold()


def _values(comp: Component, name: str) -> list[Any]:
    found = comp.get(name)
    return list(found) if isinstance(found, list) else ([found] if found is not None else [])


def _replace(comp: Component, name: str, kept: list[Any]) -> None:
    comp.pop(name, None)
    for value in kept:
        comp.add(name, value, encode=False)


def _record_name(lookup: Any, ident: int) -> str | None:
    try:
        return str(lookup(ident).name)
    except NotFound:
        return None


def _contact(value: Any, d: Directory) -> str | None:
    """Why the CONTACT's X-CRM-ID does not hold here (None: it does)."""
    what, ident = str(value.params["X-CRM-ID"]).split("/")
    text = str(value)
    name = _record_name(d.company if what == "company" else d.person, int(ident))
    if name is None:
        return f"CONTACT {what}/{ident} ({text}) names no {what} here: kept as text only"
    fits = _same(text, name) if what == "company" else (_same(text, name) or
                                                       _same(text.split(",", 1)[0], name))
    if not fits:
        return f"CONTACT {what}/{ident} ({text}) is {name!r} here: kept as text only, not linked"
    return None


def _link(value: Any, name: str, lookup: Any) -> str | None:
    """Why an X-CRM-SALE / X-CRM-PROJECT does not hold here (None: it does)."""
    told = str(value.params.get("X-CRM-NAME", ""))
    raw = str(value).strip()
    found = _record_name(lookup, int(raw)) if raw.isdigit() else None
    label = name[6:].lower()
    if found is None:
        return f"{label} {raw} ({told or 'no name'}) is not a {label} here: not linked"
    if not _same(found, told):
        return f"{label} {raw} ({told or 'no name'}) is {found!r} here: not linked"
    return None


def _attendee(value: Any, d: Directory) -> str | None:
    """Why a ``urn:x-crm:`` ATTENDEE does not hold here (None: it does, or it is an address)."""
    match = _URN.match(str(value).strip())
    if match is None:
        return None
    what, ident = match.group(1).lower(), int(match.group(2))
    lookup = {"user": d.user, "person": d.person, "resource": d.resource}[what]
    cn = value.params.get("CN")
    found = _record_name(lookup, ident)
    if found is None or not _same(found, cn):
        here = f"{found!r} here" if found is not None else f"no {what} here"
        return f"attendee {what} {ident} ({cn or 'no name'}) is {here}: left out"
    return None


def _type(comp: Component, d: Directory) -> str | None:
    """Why X-CRM-TYPE does not hold here: the type of that id is not among the categories."""
    value = comp.get("X-CRM-TYPE")
    if value is None or isinstance(value, list):
        return None
    raw = str(value).strip()
    if not raw.isdigit():
        return None
    try:
        ftype = d.type(int(raw))
    except NotFound:
        return None  # the mapping ignores it; the categories decide
    cats = [str(c) for v in _values(comp, "CATEGORIES") for c in getattr(v, "cats", [])]
    if any(_same(c, ftype.name) for c in cats):
        return None
    return f"type {raw} is {ftype.name!r} here, which the categories do not name: the categories decide"


def drop_delivery_status(cal: Calendar) -> None:
    """Remove SCHEDULE-STATUS (RFC 6638 §3.2.9) from ORGANIZER and ATTENDEEs: it says how the
    server that exported the file delivered the invitation, which is nothing to keep here (this
    server writes its own on the organizer's copy)."""
    for comp in main_components(cal):
        for name in ("ORGANIZER", "ATTENDEE"):
            for value in _values(comp, name):
                params = getattr(value, "params", None)
                if params is not None and "SCHEDULE-STATUS" in params:
                    del params["SCHEDULE-STATUS"]


def unlink_foreign(cal: Calendar, d: Directory) -> list[str]:
    """Drop, from ``cal`` (changed in place), every record reference that does not name the
    same record in ``d``; one line for each dropped (the same one once)."""
    notes: list[str] = []
    for comp in main_components(cal):
        kept: list[Any] = []
        for value in _values(comp, "CONTACT"):
            crm_id = str(getattr(value, "params", {}).get("X-CRM-ID", ""))
            reason = _contact(value, d) if CRM_ID.match(crm_id) else None
            if reason is not None:
                del value.params["X-CRM-ID"]
                notes.append(reason)
            kept.append(value)
        for name, lookup in (("X-CRM-SALE", d.sale), ("X-CRM-PROJECT", d.project)):
            links = _values(comp, name)
            reasons = [_link(v, name, lookup) for v in links]
            notes += [r for r in reasons if r is not None]
            if any(r is not None for r in reasons):
                _replace(comp, name, [v for v, r in zip(links, reasons, strict=True) if r is None])
        attendees = _values(comp, "ATTENDEE")
        reasons = [_attendee(v, d) for v in attendees]
        notes += [r for r in reasons if r is not None]
        if any(r is not None for r in reasons):
            _replace(comp, "ATTENDEE", [v for v, r in zip(attendees, reasons, strict=True) if r is None])
        reason = _type(comp, d)
        if reason is not None:
            comp.pop("X-CRM-TYPE")
            notes.append(reason)
    return list(dict.fromkeys(notes))
