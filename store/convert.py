"""Conversion between domain objects and their rows."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from store import moments
from store.domain import (
    Company,
    ConflictPolicy,
    FieldDef,
    FieldType,
    Followup,
    FollowupType,
    Kind,
    Occurrence,
    Participant,
    PartStat,
    Person,
    Project,
    Recurrence,
    Resource,
    ResourceKind,
    Sale,
    User,
)
from store.orm import (
    BookingRow,
    CompanyRow,
    FieldRow,
    FollowupRow,
    ParticipantRow,
    PersonRow,
    ProjectRow,
    ResourceRow,
    SaleRow,
    TypeRow,
    UserRow,
    ValueRow,
)


def naive_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def aware_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def user(row: UserRow) -> User:
    return User(login=row.login, name=row.name, email=row.email, tz=row.tz, meeting_minutes=row.meeting_minutes,
                call_minutes=row.call_minutes, password_hash=row.password_hash, id=row.id)


def resource(row: ResourceRow) -> Resource:
    return Resource(login=row.login, name=row.name, kind=ResourceKind(row.kind), email=row.email,
                    on_conflict=ConflictPolicy(row.on_conflict), id=row.id)


def company(row: CompanyRow) -> Company:
    return Company(name=row.name, id=row.id)


def person(row: PersonRow) -> Person:
    return Person(name=row.name, company_id=row.company_id, email=row.email, phone=row.phone, id=row.id)


def sale(row: SaleRow) -> Sale:
    return Sale(name=row.name, company_id=row.company_id, id=row.id)


def project(row: ProjectRow) -> Project:
    return Project(name=row.name, id=row.id)


def ftype(row: TypeRow) -> FollowupType:
    return FollowupType(name=row.name, kind=Kind(row.kind), busy=row.busy, id=row.id)


def field_def(row: FieldRow) -> FieldDef:
    return FieldDef(name=row.name, type=FieldType(row.type), choices=json.loads(row.choices), id=row.id)


# -- follow-ups ---------------------------------------------------------------


def _moment_list(values: list[Any]) -> str | None:
    return json.dumps([moments.encode(v) for v in values]) if values else None


def _occurrences(values: list[Occurrence]) -> str | None:
    if not values:
        return None
    return json.dumps([
        {
            "recurrence_id": moments.encode(o.recurrence_id),
            "start": moments.encode(o.start),
            "end": moments.encode(o.end),
            "title": o.title,
            "agenda": o.agenda,
            "location": o.location,
            "cancelled": o.cancelled,
        }
        for o in values
    ])


def followup_columns(f: Followup, owner_tz: str) -> dict[str, Any]:
    """The scalar columns of ``f``'s row (timestamps and id excluded)."""
    rec = f.recurrence
    return {
        "uid": f.uid,
        "owner_id": f.owner_id,
        "kind": f.kind.value,
        "title": f.title,
        "agenda": f.agenda,
        "notes": f.notes,
        "type_id": f.type_id,
        "company_id": f.company_id,
        "person_id": f.person_id,
        "sale_id": f.sale_id,
        "project_id": f.project_id,
        "start": moments.encode(f.start),
        "end": moments.encode(f.end),
        "deadline": moments.encode(f.deadline),
        "start_utc": moments.to_utc(f.start, owner_tz),
        "end_utc": moments.to_utc(f.end, owner_tz),
        "deadline_utc": moments.to_utc(f.deadline, owner_tz),
        "rrule": rec.rule if rec else None,
        "rdates": _moment_list(rec.rdates) if rec else None,
        "exdates": _moment_list(rec.exdates) if rec else None,
        "overrides": _occurrences(f.overrides),
        "busy": f.busy,
        "alarm_minutes": f.alarm_minutes,
        "location": f.location,
        "conference": f.conference,
        "priority": f.priority,
        "completed_at": naive_utc(f.completed_at),
        "cancelled": f.cancelled,
        "private": f.private,
        "sequence": f.sequence,
        "client_data": f.client_data,
    }


def participant_columns(f: Followup) -> list[dict[str, Any]]:
    return [
        {"position": i, "user_id": p.user_id, "person_id": p.person_id, "email": p.email, "name": p.name,
         "partstat": p.partstat.value, "alarm_minutes": p.alarm_minutes, "client_data": p.client_data}
        for i, p in enumerate(f.participants)
    ]


def booking_columns(f: Followup) -> list[dict[str, Any]]:
    declined = set(f.declined_resource_ids)
    return [{"resource_id": rid, "position": i, "partstat": "DECLINED" if rid in declined else "ACCEPTED"}
            for i, rid in enumerate(f.resource_ids)]


def value_columns(f: Followup) -> list[dict[str, Any]]:
    return [{"field_id": fid, "value": value} for fid, value in sorted(f.custom.items())]


def followup_to_row(f: Followup, row: FollowupRow, owner_tz: str) -> None:
    """Copy every field of ``f`` onto ``row``. Each list of children is
    replaced wholesale when it differs, and left alone when it does not: most
    edits (a client's changed title or time) touch none of them, and
    replacing them costs a DELETE and an INSERT each."""
    for key, value in followup_columns(f, owner_tz).items():
        setattr(row, key, value)
    participants, bookings, values = participant_columns(f), booking_columns(f), value_columns(f)
    if not _same_children(row.participants, participants):
        row.participants = [ParticipantRow(**p) for p in participants]
    if not _same_children(row.resources, bookings):
        row.resources = [BookingRow(**b) for b in bookings]
    if not _same_children(row.values, values):
        row.values = [ValueRow(**v) for v in values]


def _same_children(rows: Sequence[Any], wanted: list[dict[str, Any]]) -> bool:
    """Whether ``rows`` hold exactly the columns ``wanted`` (in any order: each
    list carries its own position or key)."""
    if len(rows) != len(wanted):
        return False
    if not wanted:
        return True
    keys = tuple(wanted[0])
    return Counter(tuple(getattr(r, k) for k in keys) for r in rows) == Counter(
        tuple(w[k] for k in keys) for w in wanted)


def _decode_list(text: str | None) -> list[Any]:
    return [moments.decode(v) for v in json.loads(text)] if text else []


def followup(row: FollowupRow) -> Followup:
    rec = None
    if row.rrule or row.rdates:
        rec = Recurrence(rule=row.rrule, rdates=_decode_list(row.rdates), exdates=_decode_list(row.exdates))
    overrides = [
        Occurrence(
            recurrence_id=moments.decode(o["recurrence_id"]),  # type: ignore[arg-type]
            start=moments.decode(o["start"]),
            end=moments.decode(o["end"]),
            title=o["title"],
            agenda=o["agenda"],
            location=o["location"],
            cancelled=o["cancelled"],
        )
        for o in (json.loads(row.overrides) if row.overrides else [])
    ]
    return Followup(
        id=row.id,
        uid=row.uid,
        owner_id=row.owner_id,
        kind=Kind(row.kind),
        title=row.title,
        agenda=row.agenda,
        notes=row.notes,
        type_id=row.type_id,
        company_id=row.company_id,
        person_id=row.person_id,
        sale_id=row.sale_id,
        project_id=row.project_id,
        start=moments.decode(row.start),
        end=moments.decode(row.end),
        deadline=moments.decode(row.deadline),
        recurrence=rec,
        overrides=overrides,
        busy=row.busy,
        alarm_minutes=row.alarm_minutes,
        participants=[
            Participant(email=p.email, name=p.name, user_id=p.user_id, person_id=p.person_id,
                        partstat=PartStat(p.partstat), alarm_minutes=p.alarm_minutes, client_data=p.client_data)
            for p in row.participants
        ],
        resource_ids=[b.resource_id for b in row.resources],
        declined_resource_ids=[b.resource_id for b in row.resources if b.partstat == "DECLINED"],
        location=row.location,
        conference=row.conference,
        priority=row.priority,
        completed_at=aware_utc(row.completed_at),
        cancelled=row.cancelled,
        private=row.private,
        custom={v.field_id: v.value for v in row.values},
        sequence=row.sequence,
        client_data=row.client_data,
        created_at=aware_utc(row.created_at),
        modified_at=aware_utc(row.modified_at),
    )
