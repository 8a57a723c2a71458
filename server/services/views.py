"""Plain, JSON-ready views of the CRM's records, for ``followups --json``.

Scripts parse this output, so its shape is part of the interface: keys are
stable, ids are integers, kinds are their lower-case names, and times are
ISO 8601 (an offset on zoned times, none on floating ones, a bare date for
all-day ones).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any

from mapping.directory import Directory
from mapping.preserve import rid_key
from mapping.render import location_of
from server.services.conflicts import Clash, Overlap
from store.domain import (
    Company,
    FieldDef,
    Followup,
    FollowupType,
    Kind,
    Moment,
    Occurrence,
    Participant,
    Person,
    Project,
    Resource,
    Sale,
    User,
)
from store.errors import NotFound
from store.localtime import is_date


def iso(moment: Moment | None, tz: tzinfo | None = None) -> str | None:
    """ISO 8601 text of ``moment``; with ``tz``, zoned and floating times are shown in that zone."""
    if moment is None:
        return None
    if isinstance(moment, datetime) and tz is not None:
        moment = moment.astimezone(tz) if moment.tzinfo is not None else moment.replace(tzinfo=tz)
    return moment.isoformat()


def status(f: Followup) -> str:
    """The CRM's one-word state of a follow-up."""
    if f.cancelled:
        return "cancelled"
    if f.kind is Kind.CALL:
        return "made" if f.made else "planned"
    return "done" if f.completed else "open"


def user_dict(u: User) -> dict[str, Any]:
    return {"id": u.id, "login": u.login, "name": u.name, "email": u.email, "tz": u.tz,
            "meeting_minutes": u.meeting_minutes, "call_minutes": u.call_minutes,
            "has_password": bool(u.password_hash)}


def resource_dict(r: Resource) -> dict[str, Any]:
    return {"id": r.id, "login": r.login, "name": r.name, "kind": r.kind.value, "email": r.email,
            "on_conflict": r.on_conflict.value}


def company_dict(c: Company) -> dict[str, Any]:
    return {"id": c.id, "name": c.name}


def person_dict(p: Person) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "company_id": p.company_id, "email": p.email, "phone": p.phone}


def sale_dict(s: Sale) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "company_id": s.company_id}


def project_dict(p: Project) -> dict[str, Any]:
    return {"id": p.id, "name": p.name}


def type_dict(t: FollowupType) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "kind": t.kind.value, "busy": t.busy}


def field_dict(d: FieldDef) -> dict[str, Any]:
    return {"id": d.id, "name": d.name, "type": d.type.value, "choices": list(d.choices)}


def _ref(load: Any, id: int | None) -> dict[str, Any] | None:
    """``{"id", "name"}`` of a linked record; a dangling id still shows its id."""
    if id is None:
        return None
    try:
        return {"id": id, "name": load(id).name}
    except NotFound:
        return {"id": id, "name": None}


def participant_dict(p: Participant, d: Directory) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "email": p.email, "user": None, "person_id": p.person_id,
                           "partstat": p.partstat.value}
    if p.user_id is not None:
        try:
            user = d.user(p.user_id)
            out["user"] = user.login
            out["name"] = out["name"] or user.name
            out["email"] = out["email"] or user.email
        except NotFound:
            out["user"] = None
    elif p.person_id is not None:
        try:
            person = d.person(p.person_id)
            out["name"] = out["name"] or person.name
            out["email"] = out["email"] or person.email
        except NotFound:
            pass
    return out


def occurrence_dict(o: Occurrence) -> dict[str, Any]:
    return {"recurrence_id": iso(o.recurrence_id), "start": iso(o.start), "end": iso(o.end), "title": o.title,
            "agenda": o.agenda, "location": o.location, "cancelled": o.cancelled}


def custom_fields(f: Followup, d: Directory) -> dict[str, str]:
    out: dict[str, str] = {}
    for field_id, value in sorted(f.custom.items()):
        try:
            out[d.field(field_id).name] = value
        except NotFound:
            out[str(field_id)] = value
    return out


def minutes(f: Followup) -> int | None:
    length = f.duration()
    return None if length is None else int(length.total_seconds() // 60)


def followup_dict(f: Followup, d: Directory) -> dict[str, Any]:
    """Every property of a follow-up, with linked records named."""
    owner = d.user(f.owner_id)
    ftype = _ref(d.type, f.type_id)
    rec = f.recurrence
    resources = []
    for rid in f.resource_ids:
        try:
            r = d.resource(rid)
            resources.append({"id": rid, "login": r.login, "name": r.name, "kind": r.kind.value})
        except NotFound:
            resources.append({"id": rid, "login": None, "name": None, "kind": None})
    return {
        "id": f.id,
        "uid": f.uid,
        "kind": f.kind.value,
        "status": status(f),
        "title": f.title,
        "type": ftype,
        "owner": {"id": owner.id, "login": owner.login, "name": owner.name},
        "agenda": f.agenda,
        "notes": f.notes,
        "company": _ref(d.company, f.company_id),
        "person": _ref(d.person, f.person_id),
        "sale": _ref(d.sale, f.sale_id),
        "project": _ref(d.project, f.project_id),
        "all_day": f.all_day,
        "start": iso(f.start),
        "end": iso(f.end),
        "duration_minutes": minutes(f),
        "deadline": iso(f.deadline),
        "tz": f.tzid,
        "recurrence": None if rec is None else {
            "rule": rec.rule, "rdates": [iso(m) for m in rec.rdates], "exdates": [iso(m) for m in rec.exdates]},
        "overrides": [occurrence_dict(o) for o in f.overrides],
        "busy": f.busy,
        "alarm_minutes": f.alarm_minutes,
        "participants": [participant_dict(p, d) for p in f.participants],
        "resources": resources,
        "location": f.location,
        "conference": f.conference,
        "priority": f.priority,
        "completed": f.completed,
        "completed_at": iso(f.completed_at),
        "cancelled": f.cancelled,
        "private": f.private,
        "fields": custom_fields(f, d),
        "sequence": f.sequence,
        "created_at": iso(f.created_at),
        "modified_at": iso(f.modified_at),
    }


def summary_dict(f: Followup, d: Directory) -> dict[str, Any]:
    """The columns of the CRM's Activities and to-do lists."""
    return {
        "id": f.id,
        "kind": f.kind.value,
        "status": status(f),
        "title": f.title,
        "type": _ref(d.type, f.type_id),
        "owner": d.user(f.owner_id).login,
        "all_day": f.all_day,
        "start": iso(f.start),
        "end": iso(f.end),
        "deadline": iso(f.deadline),
        "recurring": f.recurrence is not None,
        "company_id": f.company_id,
        "person_id": f.person_id,
        "sale_id": f.sale_id,
        "project_id": f.project_id,
        "private": f.private,
        "completed_at": iso(f.completed_at),
    }


def instance_dict(instance: Any, d: Directory, tz: tzinfo) -> dict[str, Any]:
    """One diary entry: an occurrence (``mapping.Instance``) shown in the viewer's zone ``tz``."""
    f: Followup = instance.followup
    start, end = instance.start, instance.end
    return {
        "id": f.id,
        "uid": f.uid,
        "kind": f.kind.value,
        "status": status(f),
        "title": instance.title or f.title,
        "type": _ref(d.type, f.type_id),
        "owner": d.user(f.owner_id).login,
        "all_day": is_date(start),
        "start": iso(start, tz),
        "end": iso(end, tz),
        "recurrence_id": iso(instance.recurrence_id),
        "recurring": f.recurrence is not None,
        "location": instance_location(instance, d),
        "busy": f.busy,
        "private": f.private,
        "invitation": f.is_invitation,
        "participants": [participant_dict(p, d) for p in f.participants],
        "resources": [d.resource(rid).login for rid in f.resource_ids],
    }


def instance_location(instance: Any, d: Directory) -> str:
    """Where an occurrence happens, as calendar clients read it (mapping spec: LOCATION; when
    empty and a room is booked, the room's name): a moved occurrence's own location, else the
    series' by :func:`mapping.render.location_of`, the rule the iCalendar side uses."""
    f: Followup = instance.followup
    if instance.recurrence_id is not None and f.overrides:
        key = rid_key(instance.recurrence_id)
        for o in f.overrides:
            if o.location is not None and rid_key(o.recurrence_id) == key:
                return o.location
    return location_of(f, d)


def clash_dict(c: Clash, tz: tzinfo | None = None) -> dict[str, Any]:
    """One clash of a follow-up: the other one, what they share, and their first overlap."""
    return {"id": c.other_id, "title": c.other_title, "owner": c.other_owner,
            "user": c.shared if c.shared_kind == "user" else None,
            "resource": c.shared if c.shared_kind == "resource" else None,
            "start": iso(c.start, tz), "end": iso(c.end, tz)}


def overlap_dict(o: Overlap, tz: tzinfo | None = None) -> dict[str, Any]:
    """One clash in a window: when, the two follow-ups (lower id first), and what they share."""
    return {"start": iso(o.start, tz), "end": iso(o.end, tz),
            "followups": [{"id": f.id, "title": f.title, "owner": owner}
                          for f, owner in ((o.first, o.first_owner), (o.second, o.second_owner))],
            "users": list(o.users), "resources": list(o.resources)}


def sort_key(moment: Moment | None, tz: tzinfo) -> tuple[int, datetime]:
    """Orders dates, floating and zoned times together, as seen in ``tz``; none last."""
    if moment is None:
        return (1, datetime.min.replace(tzinfo=tz))
    if is_date(moment):
        assert isinstance(moment, date)
        return (0, datetime(moment.year, moment.month, moment.day, tzinfo=tz))
    assert isinstance(moment, datetime)
    return (0, moment if moment.tzinfo is not None else moment.replace(tzinfo=tz))
