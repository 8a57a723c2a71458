"""iCalendar from a client -> follow-up (the spec's "iCalendar from a client into the store").

CRM-only properties (X-CRM-*, CONTACT with X-CRM-ID) that a client leaves
out keep the stored follow-up's values; ids are authoritative, names in
X-CRM-NAME/CN are display only. Unknown ids are ignored, never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from icalendar import Calendar, Component
from icalendar.prop import vDDDTypes, vText, vUri

from mapping.addresses import CRM_URNS
from mapping.directory import Directory
from mapping.errors import InvalidCalendarData
from mapping.limits import check_length, in_range
from mapping.names import KIND_VALUES
from mapping.preserve import (
    CRM_ID,
    address_key,
    alarm_minutes_of,
    client_data_of,
    is_period,
    mapped_alarm,
    props,
    wanted_alarm_related,
)
from mapping.render import PRIVATE_CLASSES, location_of, render_without_zones, room_name, same_moment
from mapping.timezones import UTC_ZONE, normalize, resolve_tzid, shift, utc
from mapping.validate import main_components
from store.domain import (
    Followup,
    FollowupType,
    Kind,
    Moment,
    Occurrence,
    Participant,
    PartStat,
    Recurrence,
    User,
    record_call_made,
)
from store.errors import InvalidFollowup, NotFound
from store.localtime import FIRST_DAY, LAST_DAY, later

UNTITLED = "(no title)"


def first_value(comp: Component, name: str) -> Any:
    """The property's value, the first one when the component repeats it, or None."""
    value = comp.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def read_text(value: Any) -> str:
    """Text of a TEXT property; X- properties arrive unparsed and are unescaped here (RFC 5545 §3.3.11)."""
    if value is None:
        return ""
    if isinstance(value, vText | vUri):
        return str(value)
    raw = value.to_ical() if hasattr(value, "to_ical") else str(value)
    return unescape(raw.decode("utf-8") if isinstance(raw, bytes) else raw)


_ESCAPES = {"\\": "\\", ";": ";", ",": ",", "n": "\n", "N": "\n"}


def unescape(raw: str) -> str:
    """Undo TEXT escaping (RFC 5545 §3.3.11): backslash before backslash, semicolon, comma, N."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "\\" and i + 1 < len(raw) and raw[i + 1] in _ESCAPES:
            out.append(_ESCAPES[raw[i + 1]])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _text(comp: Component, name: str) -> str | None:
    value = first_value(comp, name)
    return None if value is None else read_text(value)


def read_moment(value: Any) -> Moment:
    """A DATE or DATE-TIME value as the domain keeps it; also for X- properties, which arrive unparsed."""
    tzid = value.params.get("TZID") if hasattr(value, "params") else None
    dt = getattr(value, "dt", None)
    if dt is None:
        raw = value.to_ical()
        try:
            dt = vDDDTypes.from_ical(raw.decode() if isinstance(raw, bytes) else raw)
        except ValueError as exc:
            raise InvalidCalendarData(f"not a date or date-time: {raw!r}") from exc
        if isinstance(dt, datetime) and dt.tzinfo is None and tzid:
            zone = resolve_tzid(tzid)
            if zone is None:
                raise InvalidCalendarData(f"unknown time zone {tzid!r}")
            dt = dt.replace(tzinfo=zone)
    if isinstance(dt, timedelta | tuple):
        raise InvalidCalendarData(f"expected a date or date-time, got {value.to_ical()!r}")
    if not FIRST_DAY.year <= dt.year <= LAST_DAY.year:
        # a day in year 1 or 9999 read in a zone east or west of UTC falls outside what Python can hold
        raise InvalidCalendarData(f"{dt.isoformat()} is out of range: this server handles the years "
                                  f"{FIRST_DAY.year} to {LAST_DAY.year}")
    return normalize(dt, tzid)


def _moment(comp: Component, name: str) -> Moment | None:
    value = first_value(comp, name)
    return None if value is None else read_moment(value)


def duration_of(comp: Component) -> timedelta | None:
    """DURATION (RFC 5545 §3.8.2.5) as a timedelta, or None when absent or not a duration."""
    value = first_value(comp, "DURATION")
    dt = getattr(value, "dt", None)
    return dt if isinstance(dt, timedelta) else None


def _int(comp: Component, name: str) -> int | None:
    value = first_value(comp, name)
    if value is None:
        return None
    try:
        number = int(read_text(value).strip())
    except ValueError:
        return None
    return in_range(number, name)


def _categories(comp: Component) -> list[str]:
    values = comp.get("CATEGORIES")
    if values is None:
        return []
    return [str(c) for v in (values if isinstance(values, list) else [values]) for c in getattr(v, "cats", [])]


def _kind(comp: Component, d: Directory, existing: Followup | None) -> Kind:
    """VEVENT: meeting. VTODO: a call when X-CRM-KIND says so or the first category names a call type."""
    if comp.name == "VEVENT":
        return Kind.MEETING
    told = (_text(comp, "X-CRM-KIND") or "").strip().upper()
    if told == KIND_VALUES[Kind.CALL]:
        return Kind.CALL
    if told == KIND_VALUES[Kind.TODO]:
        return Kind.TODO
    cats = _categories(comp)
    if cats and any(t.kind is Kind.CALL and t.name.casefold() == cats[0].casefold() for t in d.types()):
        return Kind.CALL
    if existing is not None and existing.kind in (Kind.TODO, Kind.CALL):
        return existing.kind
    return Kind.TODO


def _type(comp: Component, kind: Kind, d: Directory, existing: Followup | None) -> FollowupType:
    """The spec's order: a category naming a type of the kind that disagrees with X-CRM-TYPE (the client
    changed it); else X-CRM-TYPE when valid for the kind (left out or unknown: the stored type, if of
    the kind); else the default type of the kind.

    The categories agree when any of them names the X-CRM-TYPE type: the CRM writes the type's name
    first and keeps the client's other categories, which may name other types, so only a client that
    drops the type's name has changed it (this keeps a round trip from flipping between two types).
    """
    of_kind = [t for t in d.types() if t.kind is kind]
    wanted = _int(comp, "X-CRM-TYPE")
    told = next((t for t in of_kind if t.id == wanted), None)
    if told is None and existing is not None and existing.kind is kind:
        told = next((t for t in of_kind if t.id == existing.type_id), None)
    folded = [cat.strip().casefold() for cat in _categories(comp)]
    named = [t for cat in folded for t in of_kind if t.name.casefold() == cat]
    if named and (told is None or told not in named):
        return named[0]
    return told if told is not None else d.default_type(kind)


def _linked(comp: Component, name: str, lookup: Any, current: int | None) -> int | None:
    ident = _int(comp, name)
    if ident is None:
        return current
    try:
        lookup(ident)
    except NotFound:
        return current
    return ident


def _contacts(comp: Component, d: Directory, existing: Followup | None) -> tuple[int | None, int | None]:
    company = existing.company_id if existing else None
    person = existing.person_id if existing else None
    values = comp.get("CONTACT")
    for value in values if isinstance(values, list) else ([values] if values is not None else []):
        crm_id = str(value.params.get("X-CRM-ID", ""))
        if not CRM_ID.match(crm_id):
            continue
        what, ident = crm_id.split("/")
        in_range(int(ident), "CONTACT X-CRM-ID")
        try:
            if what == "company":
                d.company(int(ident))
                company = int(ident)
            else:
                d.person(int(ident))
                person = int(ident)
        except NotFound:
            continue
    return company, person


def _custom(comp: Component, d: Directory, existing: Followup | None) -> dict[int, str]:
    """X-CRM-FIELD values of known fields, checked against their definitions: a value that does not fit is
    refused (InvalidFollowup naming the field), never dropped. Unknown names are ignored, not refused."""
    custom = dict(existing.custom) if existing else {}
    values = comp.get("X-CRM-FIELD")
    by_name = {f.name.casefold(): f for f in d.fields()} if values is not None else {}  # a statement, when needed
    for value in values if isinstance(values, list) else ([values] if values is not None else []):
        definition = by_name.get(str(value.params.get("X-CRM-NAME", "")).strip().casefold())
        if definition is None or definition.id is None:
            continue
        text = read_text(value)
        if not text.strip():
            custom.pop(definition.id, None)
            continue
        try:
            custom[definition.id] = definition.normalize(text)
        except InvalidFollowup as exc:
            reason = str(exc)
            raise InvalidFollowup(f"custom {reason}" if reason.startswith("field ")
                                  else f"custom field {definition.name!r}: {reason}") from None
    return custom


@dataclass
class _Attendees:
    participants: list[Participant]
    resource_ids: list[int]


def _attendees(comp: Component, d: Directory) -> _Attendees:
    """Match ATTENDEE addresses to users, then resources, then contact persons (case-insensitive);
    the rest are external participants with their address and CN."""
    found = _Attendees([], [])
    seen: set[str] = set()
    values = comp.get("ATTENDEE")
    for value in values if isinstance(values, list) else ([values] if values is not None else []):
        address = str(value).strip()
        key = address_key(address)
        try:
            partstat = PartStat(str(value.params.get("PARTSTAT", "NEEDS-ACTION")).upper())
        except ValueError:
            partstat = PartStat.NEEDS_ACTION
        participant: Participant | None = None
        resource_id: int | None = None
        for prefix in CRM_URNS:
            if key.startswith(prefix) and key[len(prefix):].isdigit():
                ident = in_range(int(key[len(prefix):]), "ATTENDEE")
                try:
                    if prefix.endswith("user:"):
                        d.user(ident)
                        participant = Participant(user_id=ident, partstat=partstat)
                    elif prefix.endswith("person:"):
                        d.person(ident)
                        participant = Participant(person_id=ident, partstat=partstat)
                    else:
                        d.resource(ident)
                        resource_id = ident
                except NotFound:
                    pass
        if participant is None and resource_id is None:
            user = d.user_by_email(key)
            resource = d.resource_by_address(key) if user is None else None
            person = d.person_by_email(key) if user is None and resource is None else None
            if user is not None:
                participant = Participant(user_id=user.id, partstat=partstat)
            elif resource is not None:
                resource_id = resource.id
            elif person is not None:
                participant = Participant(person_id=person.id, partstat=partstat)
            else:
                bare = address[7:] if address[:7].lower() == "mailto:" else address
                cn = value.params.get("CN")
                check_length("ATTENDEE", bare)
                check_length("CN", str(cn or ""))
                participant = Participant(email=bare, name=str(cn) if cn else None, partstat=partstat)
        if resource_id is not None:
            if resource_id not in found.resource_ids:
                found.resource_ids.append(resource_id)
        elif participant is not None and participant.key() not in seen:
            seen.add(participant.key())
            found.participants.append(participant)
    return found


def recurrence_of(comp: Component) -> Recurrence | None:
    """RRULE, RDATE and EXDATE (RFC 5545 §3.8.5) as the domain keeps them; PERIOD RDATEs are left to client data."""
    rule_value = first_value(comp, "RRULE")
    rule = rule_value.to_ical().decode() if rule_value is not None else None
    rdates: list[Moment] = []
    exdates: list[Moment] = []
    for name, out in (("RDATE", rdates), ("EXDATE", exdates)):
        values = comp.get(name)
        for value in values if isinstance(values, list) else ([values] if values is not None else []):
            if is_period(value):
                continue
            tzid = value.params.get("TZID")
            out.extend(normalize(v.dt, tzid) for v in value.dts)
    rec = Recurrence(rule=rule, rdates=rdates, exdates=exdates)
    return None if rec.is_empty() and not exdates else rec


def _completed_at(comp: Component, existing: Followup | None) -> datetime | None:
    """Meetings: X-CRM-COMPLETED (kept when left out). Tasks: STATUS/COMPLETED/PERCENT-COMPLETE (RFC 5545 §3.8.2.1)."""
    before = existing.completed_at if existing else None
    if comp.name == "VEVENT":
        if "X-CRM-COMPLETED" not in comp:
            return before
        moment = _moment(comp, "X-CRM-COMPLETED")
        return utc(moment) if isinstance(moment, datetime) else before
    status = (_text(comp, "STATUS") or "").strip().upper()
    percent = _int(comp, "PERCENT-COMPLETE")
    done = status == "COMPLETED" or (status in ("", "CANCELLED") and ("COMPLETED" in comp or percent == 100))
    if not done:
        return None
    moment = _moment(comp, "COMPLETED")
    if isinstance(moment, datetime):
        return utc(moment)
    if before is not None:
        return before
    for name in ("LAST-MODIFIED", "DTSTAMP"):
        stamp = _moment(comp, name)
        if isinstance(stamp, datetime):
            return utc(stamp)
    return datetime(1970, 1, 1, tzinfo=UTC_ZONE)


def _times(comp: Component, kind: Kind, completed: bool) -> tuple[Moment | None, Moment | None, Moment | None]:
    """(start, end, deadline). VEVENT per RFC 5545 §3.6.1 (no DTEND/DURATION: a date lasts a day, a
    time has no length); VTODO: DTSTART+DUE places it in the diary, DTSTART+DURATION is a made call."""
    start = _moment(comp, "DTSTART")
    duration = duration_of(comp)
    if comp.name == "VEVENT":
        end = _moment(comp, "DTEND")
        if end is None and start is not None:
            end = shift(start, duration) if duration is not None else shift(start, timedelta(days=1)) \
                if not isinstance(start, datetime) else start
        return start, end, None
    due = _moment(comp, "DUE")
    told = _moment(comp, "X-CRM-DEADLINE")
    if kind is Kind.CALL and not completed:
        return None, None, due if due is not None else told
    if due is not None:
        if start is None:
            return None, None, due
        return start, due, told if told is not None else due
    if start is not None and duration is not None:
        return start, shift(start, duration), told
    return start, None, told


def _made_call(f: Followup, comp: Component, owner: User, existing: Followup | None,
               now: datetime | None) -> None:
    """A call the client ticked off (STATUS:COMPLETED) is a made call, as ``followups call-made`` records it.

    Without DTSTART (a planned call): start = the COMPLETED time, else the stored completion, else ``now``
    (else, with no clock passed in, the completion the client's stamps give), lasting the owner's call
    duration; the deadline stays (rendered as X-CRM-DEADLINE: RFC 5545 §3.6.2 allows DUE or DURATION,
    not both). With DTSTART it keeps its times; only a missing length becomes the owner's call duration.
    """
    if f.kind is not Kind.CALL or f.completed_at is None:
        return
    if f.start is None:
        stated = isinstance(_moment(comp, "COMPLETED"), datetime) or (existing is not None and existing.completed)
        at = f.completed_at if stated or now is None else now.replace(microsecond=0)  # RFC 5545 §3.3.5: seconds
        record_call_made(f, owner, at=at)
    elif f.end is None and isinstance(f.start, datetime):
        f.end = f.start + timedelta(minutes=owner.call_minutes)


def _location(comp: Component, resource_ids: list[int], d: Directory) -> str:
    """The LOCATION, or "" when it only repeats the booked room's name (rendered from the room anyway)."""
    text = _text(comp, "LOCATION") or ""
    return "" if text == room_name(resource_ids, d) else text


def _occurrence(comp: Component, f: Followup, master_location: str) -> Occurrence:
    """A RECURRENCE-ID override (RFC 5545 §3.8.4.4); what equals the series is left as None."""
    rid = read_moment(comp["RECURRENCE-ID"])
    start = _moment(comp, "DTSTART")
    end = _moment(comp, "DTEND" if comp.name == "VEVENT" else "DUE")
    duration = duration_of(comp)
    if end is None and start is not None and duration is not None:
        end = shift(start, duration)
    effective = start if start is not None else rid
    series_duration = f.duration()
    default_end = later(effective, series_duration) if series_duration is not None else None
    title = _text(comp, "SUMMARY")
    agenda = _text(comp, "DESCRIPTION") or ""
    location = _text(comp, "LOCATION") or ""
    return Occurrence(
        recurrence_id=rid,
        start=None if start is None or same_moment(start, rid) else start,
        end=None if end is None or same_moment(end, default_end) else end,
        title=None if title is None or title == f.title else title,
        agenda=None if agenda == f.agenda else agenda,
        location=None if location == master_location else location,
        cancelled=(_text(comp, "STATUS") or "").strip().upper() == "CANCELLED",
    )


def _alarm_minutes(alarm: Component | None, master: Component) -> int | None:
    minutes = alarm_minutes_of(alarm, wanted_alarm_related(master)) if alarm is not None else None
    return None if minutes is None else in_range(minutes, "the alarm's TRIGGER in minutes")


def to_followup(cal: Calendar, owner: User, d: Directory, existing: Followup | None = None, *,
                now: datetime | None = None) -> Followup:
    """A new follow-up from a client's calendar object (validated with ``Followup.validate``).

    ``existing`` (never changed) supplies the id, timestamps, notes and every
    CRM-only value the client left out. ``now`` (aware) is the server's clock,
    read by the caller: the mapping reads none. It is the start of a planned
    call ticked off without a COMPLETED time.
    """
    try:
        return _to_followup(cal, owner, d, existing, now)
    except OverflowError as exc:
        raise InvalidCalendarData("a date, time or duration is out of range: this server handles the years "
                                  f"{FIRST_DAY.year} to {LAST_DAY.year} ({exc})") from None


def _to_followup(cal: Calendar, owner: User, d: Directory, existing: Followup | None,
                 now: datetime | None) -> Followup:
    if owner.id is None:
        raise InvalidFollowup("the owner has no id")
    mains = main_components(cal)
    master = next((c for c in mains if "RECURRENCE-ID" not in c), None)
    if master is None:
        raise InvalidCalendarData("the object has no VEVENT or VTODO without RECURRENCE-ID")
    kind = _kind(master, d, existing)
    ftype = _type(master, kind, d, existing)
    assert ftype.id is not None
    completed_at = _completed_at(master, existing)
    start, end, deadline = _times(master, kind, completed_at is not None)
    company_id, person_id = _contacts(master, d, existing)
    attendees = _attendees(master, d) if master.name == "VEVENT" else _Attendees([], [])
    if master.name == "VEVENT":
        busy = (_text(master, "TRANSP") or "OPAQUE").strip().upper() != "TRANSPARENT"
    else:
        busy = existing.busy if existing is not None else ftype.busy
    alarm = mapped_alarm(master)
    conference = next((read_text(v) for name, v in props(master) if name == "CONFERENCE"), "")
    sequence = _int(master, "SEQUENCE")
    f = Followup(
        owner_id=owner.id,
        kind=kind,
        title=_text(master, "SUMMARY") or (existing.title if existing else UNTITLED),
        type_id=ftype.id,
        uid=str(master["UID"]),
        agenda=_text(master, "DESCRIPTION") or "",
        notes=existing.notes if existing else "",
        company_id=company_id,
        person_id=person_id,
        sale_id=_linked(master, "X-CRM-SALE", d.sale, existing.sale_id if existing else None),
        project_id=_linked(master, "X-CRM-PROJECT", d.project, existing.project_id if existing else None),
        start=start,
        end=end,
        deadline=deadline,
        recurrence=recurrence_of(master),
        busy=busy,
        alarm_minutes=_alarm_minutes(alarm, master),
        participants=attendees.participants,
        resource_ids=attendees.resource_ids,
        location=_location(master, attendees.resource_ids, d),
        conference=conference,
        priority=_int(master, "PRIORITY"),
        completed_at=completed_at,
        cancelled=(_text(master, "STATUS") or "").strip().upper() == "CANCELLED",
        private=(_text(master, "CLASS") or "").strip().upper() in PRIVATE_CLASSES,
        custom=_custom(master, d, existing),
        sequence=sequence if sequence is not None else (existing.sequence if existing else 0),
        created_at=existing.created_at if existing else None,
        modified_at=existing.modified_at if existing else None,
        id=existing.id if existing else None,
    )
    _made_call(f, master, owner, existing, now)
    master_location = location_of(f, d)
    f.overrides = [_occurrence(c, f, master_location) for c in mains if "RECURRENCE-ID" in c]
    f.validate()
    f.client_data = client_data_of(cal, ftype.name, render_without_zones(f, d))
    return f
