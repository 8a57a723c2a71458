"""Follow-up -> iCalendar, as the spec's field table says (docs: shared/spec/calendar-mapping.md).

Rendering is deterministic: the same follow-up and directory give the same
text (no wall clock), so ETags change only when the object changes.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from icalendar import Alarm, Calendar, Component, Event, Timezone, Todo
from icalendar.prop import vCalAddress, vDDDTypes, vInt, vRecur, vText, vUri

from mapping.directory import Directory
from mapping.errors import InvalidCalendarData
from mapping.names import KIND_VALUES, PRODID
from mapping.preserve import (
    ClientData,
    append_verbatim,
    extra_categories,
    kept_alarm,
    original,
    overlay_params,
    own_params,
    props,
    wanted_alarm_related,
)
from mapping.serialize import to_text, used_tzids
from mapping.timezones import for_ical, resolve_tzid, utc
from mapping.validate import component_name
from mapping.vtimezone import vtimezone_text
from store.domain import Followup, Kind, Moment, Occurrence, Participant, ResourceKind
from store.errors import NotFound
from store.localtime import later

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""DTSTAMP of a follow-up the store has no timestamps for: fixed, never the wall clock."""

PRIVATE_CLASSES = ("PRIVATE", "CONFIDENTIAL")
_get, _set = OrderedDict.get, OrderedDict.__setitem__
"""A component's own mapping operations, under icalendar's case-folding ones (see :func:`_add`)."""


def render_text(f: Followup, d: Directory, organizer_copy: bool = False) -> str:
    """The object as it goes on the wire: iCalendar text with CRLF line ends (RFC 5545 §3.1).
    ``organizer_copy``: the organizer's own copy, whose ATTENDEEs carry SCHEDULE-STATUS.

    Generated VTIMEZONEs are spliced in as cached text: serializing them
    again for every object cost more than the rest of the object."""
    cal = render_without_zones(f, d, organizer_copy)
    zones = _zones(cal)
    text = to_text(cal)
    if not zones:
        return text
    at = text.index("\r\nBEGIN:") + 2
    return text[:at] + "".join(zones) + text[at:]


def render(f: Followup, d: Directory) -> Calendar:
    """One VCALENDAR with the follow-up's component, its overrides, the client's kept data and VTIMEZONEs."""
    cal = render_without_zones(f, d)
    zones = [Timezone.from_ical(text) for text in _zones(cal)]
    cal.subcomponents[0:0] = zones
    return cal


def render_without_zones(f: Followup, d: Directory, organizer_copy: bool = False) -> Calendar:
    """The calendar without the generated VTIMEZONEs (a client's own are kept):
    all the mapping needs to compare a client's object with a rendering."""
    data = ClientData.load(f.client_data)
    cal = Calendar()
    cal.add("VERSION", "2.0")
    cal.add("PRODID", PRODID)
    if data.calendar is not None:
        for name, value in props(data.calendar):
            if name not in ("VERSION", "PRODID"):
                cal.add(name, value, encode=False)
    cal.add_component(_component(f, d, None, data.master, organizer_copy))
    for occ in f.overrides:
        cal.add_component(_component(f, d, occ, data.for_instance(occ.recurrence_id), organizer_copy))
    custom_zones: list[Component] = []
    if data.calendar is not None:
        for sub in data.calendar.subcomponents:
            if sub.name == "VTIMEZONE":
                custom_zones.append(sub)
            elif sub.name not in ("VEVENT", "VTODO"):
                cal.add_component(sub)
    if custom_zones:  # a walk over every property, needed only to pick the client's zones
        used = used_tzids(cal) - {"UTC"}
        cal.subcomponents[0:0] = [z for z in custom_zones if str(z.get("TZID", "")) in used]
    return cal


def _zones(cal: Calendar) -> list[str]:
    """VTIMEZONE texts for the TZIDs used and not defined by the client (RFC 5545 §3.6.5)."""
    defined = {str(sub.get("TZID", "")) for sub in cal.subcomponents if sub.name == "VTIMEZONE"}
    return [vtimezone_text(tzid) for tzid in sorted(used_tzids(cal) - {"UTC"} - defined)
            if resolve_tzid(tzid) is not None and resolve_tzid(tzid).key == tzid]  # type: ignore[union-attr]


def _add(comp: Component, name: str, value: Any, params: dict[str, Any] | None = None) -> None:
    """``comp.add(name, value, encode=False)`` for a value already of icalendar's
    types (never a bare datetime, which ``add`` would convert): a repeated
    name makes a list, as there. Written out because ``add``'s checks and
    case-folding lookups cost about a tenth of rendering an object (a bulk
    import renders every follow-up)."""
    for key, val in (params or {}).items():
        value.params[key] = val
    name = name.upper()
    old = _get(comp, name)
    if old is None:
        _set(comp, name, value)
    elif isinstance(old, list):
        old.append(value)
    else:
        _set(comp, name, [old, value])


def _moment(comp: Component, name: str, moment: Moment) -> None:
    _add(comp, name, vDDDTypes(for_ical(moment)))


def _utc(comp: Component, name: str, moment: datetime) -> None:
    _add(comp, name, vDDDTypes(utc(moment)))


def _text(comp: Component, name: str, text: str, params: dict[str, Any] | None = None) -> None:
    _add(comp, name, vText(text), params)


def same_moment(a: Moment | None, b: Moment | None) -> bool:
    """Equal as the domain means it: same kind of value, same instant or wall time, same zone."""
    if a is None or b is None:
        return a is b
    if isinstance(a, datetime) != isinstance(b, datetime):
        return False
    if isinstance(a, datetime) and isinstance(b, datetime):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return False
        return a == b and getattr(a.tzinfo, "key", None) == getattr(b.tzinfo, "key", None)
    return a == b


def room_name(resource_ids: list[int], d: Directory) -> str | None:
    """The first booked room's name: the LOCATION when the follow-up has none."""
    for rid in resource_ids:
        try:
            resource = d.resource(rid)
        except NotFound:
            continue
        if resource.kind is ResourceKind.ROOM:
            return resource.name
    return None


def location_of(f: Followup, d: Directory) -> str:
    return f.location or room_name(f.resource_ids, d) or ""


def _component(f: Followup, d: Directory, occ: Occurrence | None, data: Component | None,
               organizer_copy: bool = False) -> Component:
    comp: Component = Event() if f.kind is Kind.MEETING else Todo()
    assert comp.name == component_name(f.kind)
    _text(comp, "UID", f.uid)
    _utc(comp, "DTSTAMP", f.modified_at or f.created_at or EPOCH)
    if f.created_at is not None:
        _utc(comp, "CREATED", f.created_at)
    if f.modified_at is not None:
        _utc(comp, "LAST-MODIFIED", f.modified_at)
    if occ is not None:
        _moment(comp, "RECURRENCE-ID", occ.recurrence_id)
    _add(comp, "SEQUENCE", vInt(f.sequence))
    _text(comp, "X-CRM-KIND", KIND_VALUES[f.kind])
    _text(comp, "SUMMARY", occ.title if occ is not None and occ.title is not None else f.title)
    agenda = occ.agenda if occ is not None and occ.agenda is not None else f.agenda
    if agenda:
        _text(comp, "DESCRIPTION", agenda)
    _categories(comp, f, d, data)
    if occ is None:
        _contacts(comp, f, d)
        _times(comp, f)
        _recurrence(comp, f)
    else:
        _override_times(comp, f, occ)
    if f.kind is Kind.MEETING:
        _text(comp, "TRANSP", "OPAQUE" if f.busy else "TRANSPARENT")
    if occ is None:
        _links(comp, f, d)
    if f.kind is Kind.MEETING and f.is_invitation:
        _invitation(comp, f, d, organizer_copy)
    location = occ.location if occ is not None and occ.location is not None else location_of(f, d)
    if location:
        _text(comp, "LOCATION", location)
    _status(comp, f, occ, data)
    klass = original(data, "CLASS")
    if not klass or (klass in PRIVATE_CLASSES) != f.private:
        klass = "PRIVATE" if f.private else "PUBLIC"
    _text(comp, "CLASS", klass)
    if f.priority is not None:
        _add(comp, "PRIORITY", vInt(f.priority))
    if occ is None:
        _custom_fields(comp, f, d)
    if f.conference:
        _add(comp, "CONFERENCE", vUri(f.conference), {"VALUE": "URI"})
    overlay_params(comp, data)
    _alarm(comp, f, data)
    append_verbatim(comp, data)
    return comp


def _categories(comp: Component, f: Followup, d: Directory, data: Component | None) -> None:
    extras, params = extra_categories(data)
    try:
        ftype = d.type(f.type_id)
    except NotFound:
        ftype = None
    values = ([ftype.name] if ftype is not None else []) + extras
    if values:
        comp.add("CATEGORIES", values, parameters=cast(Any, params or None))
    if ftype is not None:
        _text(comp, "X-CRM-TYPE", str(f.type_id))


def _contacts(comp: Component, f: Followup, d: Directory) -> None:
    company_name: str | None = None
    if f.company_id is not None:
        try:
            company_name = d.company(f.company_id).name
        except NotFound:
            company_name = None
        if company_name is not None:
            _text(comp, "CONTACT", company_name, {"X-CRM-ID": f"company/{f.company_id}"})
    if f.person_id is not None:
        try:
            person = d.person(f.person_id)
        except NotFound:
            return
        person_company = company_name
        if person.company_id is not None and person.company_id != f.company_id:
            try:
                person_company = d.company(person.company_id).name
            except NotFound:
                person_company = None
        parts = [person.name, person_company or "", person.phone or ""]
        _text(comp, "CONTACT", ", ".join(p for p in parts if p), {"X-CRM-ID": f"person/{f.person_id}"})


def _times(comp: Component, f: Followup) -> None:
    """Meetings: DTSTART/DTEND. Tasks: DUE, DTSTART only in the diary; a made call has
    DTSTART+DURATION and no DUE, since RFC 5545 §3.6.2 allows DUE or DURATION, not both."""
    if f.kind is Kind.MEETING:
        if f.start is not None:
            _moment(comp, "DTSTART", f.start)
        if f.end is not None:
            _moment(comp, "DTEND", f.end)
        return
    if f.made and f.start is not None and f.end is not None:
        _moment(comp, "DTSTART", f.start)
        comp.add("DURATION", f.duration())
        if f.deadline is not None:
            _moment(comp, "X-CRM-DEADLINE", f.deadline)
    elif f.start is not None:
        _moment(comp, "DTSTART", f.start)
        if f.end is not None:
            _moment(comp, "DUE", f.end)
        if f.deadline is not None and not same_moment(f.deadline, f.end):
            _moment(comp, "X-CRM-DEADLINE", f.deadline)
    elif f.deadline is not None:
        _moment(comp, "DUE", f.deadline)


def _override_times(comp: Component, f: Followup, occ: Occurrence) -> None:
    start = occ.start if occ.start is not None else occ.recurrence_id
    end = occ.end
    duration = f.duration()
    if end is None and duration is not None:
        end = later(start, duration)
    _moment(comp, "DTSTART", start)
    if end is not None:
        _moment(comp, "DTEND" if f.kind is Kind.MEETING else "DUE", end)


def _recurrence(comp: Component, f: Followup) -> None:
    """RRULE, RDATE and EXDATE (RFC 5545 §3.8.5); dates of one zone and type share a line."""
    rec = f.recurrence
    if rec is None:
        return
    if rec.rule:
        try:
            comp.add("RRULE", vRecur.from_ical(rec.rule))
        except ValueError as exc:
            raise InvalidCalendarData(f"recurrence rule {rec.rule!r} does not parse: {exc}") from exc
    for name, moments in (("RDATE", rec.rdates), ("EXDATE", rec.exdates)):
        groups: dict[tuple[str, Any], list[Moment]] = {}
        for moment in moments:
            m = for_ical(moment)
            key = (type(m).__name__, getattr(getattr(m, "tzinfo", None), "key", None))
            groups.setdefault(key, []).append(m)
        for group in groups.values():
            comp.add(name, group)


def _links(comp: Component, f: Followup, d: Directory) -> None:
    for name, ident, lookup in (("X-CRM-SALE", f.sale_id, d.sale), ("X-CRM-PROJECT", f.project_id, d.project)):
        if ident is None:
            continue
        try:
            record = lookup(ident)
        except NotFound:
            continue
        _text(comp, name, str(ident), {"X-CRM-NAME": record.name})


def participant_address(p: Participant, d: Directory) -> tuple[str, str | None]:
    """(calendar address, CN) of a participant; contacts without e-mail get a ``urn:x-crm:`` address."""
    if p.user_id is not None:
        try:
            user = d.user(p.user_id)
            return f"mailto:{user.email}", user.name
        except NotFound:
            return f"urn:x-crm:user:{p.user_id}", p.name
    if p.person_id is not None:
        try:
            person = d.person(p.person_id)
        except NotFound:
            return f"urn:x-crm:person:{p.person_id}", p.name
        if person.email:
            return f"mailto:{person.email}", person.name
        return f"urn:x-crm:person:{p.person_id}", person.name
    address = p.email or ""
    return (address if ":" in address else f"mailto:{address}"), p.name


DELIVERED = "1.2"
"""SCHEDULE-STATUS of an attendee the server delivered the meeting to (RFC 6638 §3.2.9, RFC 5546 §3.6)."""


def _invitation(comp: Component, f: Followup, d: Directory, organizer_copy: bool = False) -> None:
    """ORGANIZER and ATTENDEEs (RFC 5545 §3.8.4.1, §3.8.4.3; CUTYPE/ROLE/PARTSTAT §3.2.3, §3.2.16, §3.2.12).
    On the organizer's copy, the CRM users and resources it was delivered to carry
    SCHEDULE-STATUS=1.2 (RFC 6638 §3.2.9); contacts and external addresses get no
    status, since no e-mail is sent."""
    try:
        owner = d.user(f.owner_id)
        _add(comp, "ORGANIZER", vCalAddress(f"mailto:{owner.email}"), {"CN": owner.name})
    except NotFound:
        pass
    for p in f.participants:
        address, cn = participant_address(p, d)
        params: dict[str, Any] = {"CUTYPE": "INDIVIDUAL", "ROLE": "REQ-PARTICIPANT",
                                  "PARTSTAT": p.partstat.value, "RSVP": "TRUE"}
        if cn:
            params["CN"] = cn
        if organizer_copy and p.user_id is not None:
            params["SCHEDULE-STATUS"] = DELIVERED
        _add(comp, "ATTENDEE", vCalAddress(address), params)
    for rid in f.resource_ids:
        try:
            resource = d.resource(rid)
        except NotFound:
            continue
        address = f"mailto:{resource.email}" if resource.email else f"urn:x-crm:resource:{rid}"
        _add(comp, "ATTENDEE", vCalAddress(address), {
            "CUTYPE": "ROOM" if resource.kind is ResourceKind.ROOM else "RESOURCE",
            "ROLE": "NON-PARTICIPANT", "PARTSTAT": "DECLINED" if rid in f.declined_resource_ids else "ACCEPTED",
            "CN": resource.name, **({"SCHEDULE-STATUS": DELIVERED} if organizer_copy else {})})


def _status(comp: Component, f: Followup, occ: Occurrence | None, data: Component | None) -> None:
    """STATUS (RFC 5545 §3.8.1.11), keeping a client's finer value while it still holds."""
    kept = original(data, "STATUS")
    cancelled = occ.cancelled if occ is not None else f.cancelled
    if f.kind is Kind.MEETING:
        if f.completed_at is not None and occ is None:
            _utc(comp, "X-CRM-COMPLETED", f.completed_at)
        status = "CANCELLED" if cancelled else (kept if kept in ("TENTATIVE", "CONFIRMED") else None)
        if status:
            _text(comp, "STATUS", status)
        return
    if occ is not None:
        status = "CANCELLED" if cancelled else (kept if kept and kept != "CANCELLED" else None)
        if status:
            _text(comp, "STATUS", status)
        return
    if cancelled:
        status = "CANCELLED"
    elif f.completed:
        status = "COMPLETED"
    else:
        status = kept if kept in ("NEEDS-ACTION", "IN-PROCESS") else "NEEDS-ACTION"
    _text(comp, "STATUS", status)
    if f.completed_at is not None:
        _utc(comp, "COMPLETED", f.completed_at)
        _add(comp, "PERCENT-COMPLETE", vInt(100))
    else:
        percent = original(data, "PERCENT-COMPLETE")
        if percent and percent.isdigit() and 0 < int(percent) < 100:
            _add(comp, "PERCENT-COMPLETE", vInt(int(percent)))


def _custom_fields(comp: Component, f: Followup, d: Directory) -> None:
    for field_id, value in sorted(f.custom.items()):
        try:
            definition = d.field(field_id)
        except NotFound:
            continue
        _text(comp, "X-CRM-FIELD", value, {"X-CRM-NAME": definition.name})


def _alarm(comp: Component, f: Followup, data: Component | None) -> None:
    """The CRM's alarm: a VALARM with TRIGGER -PT<lead>M relative to the start, for tasks to DUE
    (RFC 5545 §3.6.6, §3.8.6.3); the client's own alarm properties are kept."""
    if f.alarm_minutes is None:
        return
    related = wanted_alarm_related(comp)
    kept = kept_alarm(data)
    alarm: Component = kept if kept is not None else Alarm()
    trigger_params: dict[str, Any] = {}
    if "TRIGGER" in alarm:
        old = alarm["TRIGGER"]
        trigger_params = own_params("TRIGGER", old[0] if isinstance(old, list) else old)
        del alarm["TRIGGER"]
    if related == "END":
        trigger_params["RELATED"] = "END"
    trigger = vDDDTypes(timedelta(minutes=-f.alarm_minutes))
    for key, val in trigger_params.items():
        trigger.params[key] = val
    if "ACTION" not in alarm:
        alarm.add("ACTION", "DISPLAY")
    alarm.add("TRIGGER", trigger, encode=False)
    if str(alarm["ACTION"]).upper() == "DISPLAY" and "DESCRIPTION" not in alarm:
        alarm.add("DESCRIPTION", comp.get("SUMMARY", f.title))
    comp.add_component(alarm)
