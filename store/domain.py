"""The CRM's follow-up domain: plain data classes and their invariants.

Nothing here knows about SQL, iCalendar or HTTP. Every rule that must hold for
a follow-up, whoever writes it (the CLI, a calendar client, an integration),
is enforced here, so callers cannot forget it.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation, Overflow
from typing import Any
from zoneinfo import ZoneInfo

from store.errors import InvalidFollowup
from store.localtime import check_order, elapsed, is_date, later, same_instant, utcnow, zone

Moment = datetime | date
"""A point in time as the CRM keeps it: an aware datetime (zoned), a naive
datetime (floating: the same wall-clock time everywhere) or a date (all day)."""


class Kind(enum.StrEnum):
    MEETING = "meeting"
    TODO = "todo"
    CALL = "call"


class PartStat(enum.StrEnum):
    """Invitation statuses, iCalendar's PARTSTAT values (RFC 5545 3.2.12)."""

    NEEDS_ACTION = "NEEDS-ACTION"
    ACCEPTED = "ACCEPTED"
    TENTATIVE = "TENTATIVE"
    DECLINED = "DECLINED"
    DELEGATED = "DELEGATED"


class ResourceKind(enum.StrEnum):
    ROOM = "room"
    EQUIPMENT = "equipment"


class ConflictPolicy(enum.StrEnum):
    """What a resource does with a booking that clashes with another."""

    ALLOW = "allow"
    """Both stay; the clash is reported in the CRM."""
    DECLINE = "decline"
    """The later booking gets the resource's PARTSTAT=DECLINED and does not block it."""


class FieldType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    YESNO = "yesno"
    LIST = "list"


class Source(enum.StrEnum):
    """Which side made a change: recorded in the change log."""

    CRM = "crm"
    CLIENT = "client"


DEFAULT_MEETING_MINUTES = 60
DEFAULT_CALL_MINUTES = 15


def new_uid() -> str:
    return str(uuid.uuid4())


@dataclass
class User:
    """A CRM associate; also a CalDAV principal."""

    login: str
    name: str
    email: str
    tz: str = "UTC"
    meeting_minutes: int = DEFAULT_MEETING_MINUTES
    call_minutes: int = DEFAULT_CALL_MINUTES
    password_hash: str | None = None
    id: int | None = None

    def validate(self) -> None:
        if not valid_login(self.login) or self.login.strip() != self.login:
            raise InvalidFollowup(f"invalid login {self.login!r}: no slashes, control characters, surrounding "
                                  f"spaces or leading dot, at most {MAX_LOGIN} characters")
        if "@" not in self.email:
            raise InvalidFollowup(f"invalid e-mail address {self.email!r}")
        zone(self.tz)
        if self.meeting_minutes <= 0 or self.call_minutes <= 0:
            raise InvalidFollowup("default durations must be positive minutes")


MAX_LOGIN = 255


def valid_login(login: str) -> bool:
    """Whether ``login`` can name a principal's URL: not empty, no slash or control character,
    and no leading dot (paths such as ``/.health`` and ``/.well-known/`` belong to the server)."""
    return (0 < len(login) <= MAX_LOGIN and "/" not in login and not login.startswith(".")
            and not any(ord(c) < 32 or ord(c) == 127 for c in login))


@dataclass
class Resource:
    """A room or location (CUTYPE=ROOM) or a piece of equipment (CUTYPE=RESOURCE)."""

    login: str
    name: str
    kind: ResourceKind = ResourceKind.ROOM
    email: str | None = None
    on_conflict: ConflictPolicy = ConflictPolicy.ALLOW
    id: int | None = None
    archived: bool = False
    """Archived: the follow-ups that use it keep it, new ones cannot use it. Every directory
    record but :class:`User` has this flag."""

    def validate(self) -> None:
        if not valid_login(self.login):
            raise InvalidFollowup(f"invalid resource login {self.login!r}: no slashes, control characters or "
                                  f"leading dot, at most {MAX_LOGIN} characters")


@dataclass
class Company:
    name: str
    id: int | None = None
    archived: bool = False


@dataclass
class Person:
    name: str
    company_id: int | None = None
    email: str | None = None
    phone: str | None = None
    id: int | None = None
    archived: bool = False


@dataclass
class Sale:
    name: str
    company_id: int | None = None
    id: int | None = None
    archived: bool = False


@dataclass
class Project:
    name: str
    id: int | None = None
    archived: bool = False


@dataclass
class FollowupType:
    """An activity type; each belongs to exactly one kind."""

    name: str
    kind: Kind
    busy: bool = True
    id: int | None = None
    archived: bool = False


SEED_TYPES: tuple[FollowupType, ...] = (
    FollowupType("Meeting (external)", Kind.MEETING, busy=True),
    FollowupType("Meeting (internal)", Kind.MEETING, busy=True),
    FollowupType("Own time", Kind.MEETING, busy=True),
    FollowupType("To-do", Kind.TODO, busy=False),
    FollowupType("Phone call (outgoing)", Kind.CALL, busy=True),
    FollowupType("Phone call (incoming)", Kind.CALL, busy=True),
)


@dataclass
class FieldDef:
    """A custom field ("More" tab) that an administrator defined."""

    name: str
    type: FieldType = FieldType.TEXT
    choices: list[str] = field(default_factory=list)
    id: int | None = None
    archived: bool = False

    def validate(self) -> None:
        if not self.name.strip():
            raise InvalidFollowup("a custom field needs a name")
        if self.type is FieldType.LIST and not self.choices:
            raise InvalidFollowup(f"list field {self.name!r} needs at least one value")

    def normalize(self, value: Any) -> str:
        """The canonical text of ``value`` for this field, or InvalidFollowup."""
        text = str(value).strip() if not isinstance(value, bool) else ("yes" if value else "no")
        if self.type is FieldType.TEXT:
            return text
        if self.type is FieldType.NUMBER:
            try:
                number = Decimal(text)
                if not number.is_finite():
                    raise InvalidFollowup(f"field {self.name!r} takes a finite number, not {text!r}")
                return format(number.normalize(), "f") if number == number.to_integral() else str(number)
            except (InvalidOperation, Overflow):
                raise InvalidFollowup(f"field {self.name!r} takes a number, not {text!r}") from None
        if self.type is FieldType.DATE:
            try:
                return date.fromisoformat(text).isoformat()
            except ValueError:
                raise InvalidFollowup(f"field {self.name!r} takes a date (YYYY-MM-DD), not {text!r}") from None
        if self.type is FieldType.YESNO:
            lowered = text.lower()
            if lowered in {"yes", "y", "true", "1", "ja"}:
                return "yes"
            if lowered in {"no", "n", "false", "0", "nei", "nej"}:
                return "no"
            raise InvalidFollowup(f"field {self.name!r} takes yes or no, not {text!r}")
        for choice in self.choices:
            if choice.casefold() == text.casefold():
                return choice
        raise InvalidFollowup(f"field {self.name!r} takes one of {', '.join(self.choices)}; not {text!r}")


@dataclass
class Participant:
    """Someone invited: a CRM user, a contact person, or an external address."""

    email: str | None = None
    name: str | None = None
    user_id: int | None = None
    person_id: int | None = None
    partstat: PartStat = PartStat.NEEDS_ACTION
    alarm_minutes: int | None = None
    """A CRM user's own alarm on their copy of the meeting."""
    client_data: str | None = None
    """What a CRM user's client stored on their copy (alarms, X- lines); only their copy shows it."""

    def key(self) -> str:
        if self.user_id is not None:
            return f"user/{self.user_id}"
        if self.person_id is not None:
            return f"person/{self.person_id}"
        return f"addr/{(self.email or '').casefold()}"


@dataclass
class Recurrence:
    """RFC 5545 recurrence: a rule (RRULE value text), extra and excluded dates."""

    rule: str | None = None
    rdates: list[Moment] = field(default_factory=list)
    exdates: list[Moment] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.rule or self.rdates)


@dataclass
class Occurrence:
    """A changed occurrence of a recurring follow-up (a RECURRENCE-ID override)."""

    recurrence_id: Moment
    start: Moment | None = None
    end: Moment | None = None
    title: str | None = None
    agenda: str | None = None
    location: str | None = None
    cancelled: bool = False


@dataclass
class Followup:
    """A meeting, to-do or phone call.

    Times: ``start``/``end`` place a follow-up in the diary; ``deadline`` is
    when a to-do or planned call is due. All are aware datetimes, naive
    (floating) datetimes or dates (all day; ``end`` exclusive, as iCalendar).
    """

    owner_id: int
    kind: Kind
    title: str
    type_id: int
    uid: str = field(default_factory=new_uid)
    agenda: str = ""
    notes: str = ""
    company_id: int | None = None
    person_id: int | None = None
    sale_id: int | None = None
    project_id: int | None = None
    start: Moment | None = None
    end: Moment | None = None
    deadline: Moment | None = None
    recurrence: Recurrence | None = None
    overrides: list[Occurrence] = field(default_factory=list)
    busy: bool = True
    alarm_minutes: int | None = None
    participants: list[Participant] = field(default_factory=list)
    resource_ids: list[int] = field(default_factory=list)
    declined_resource_ids: list[int] = field(default_factory=list)
    """The booked resources that declined (their policy refused a clash): a subset of ``resource_ids``."""
    location: str = ""
    conference: str = ""
    priority: int | None = None
    completed_at: datetime | None = None
    cancelled: bool = False
    private: bool = False
    custom: dict[int, str] = field(default_factory=dict)
    sequence: int = 0
    client_data: str | None = None
    """Opaque text a calendar client stored with this follow-up (the mapping
    layer keeps what it does not map here); the store never reads it."""
    created_at: datetime | None = None
    modified_at: datetime | None = None
    id: int | None = None

    # -- derived ----------------------------------------------------------
    @property
    def all_day(self) -> bool:
        moment = self.start if self.start is not None else self.deadline
        return is_date(moment)

    @property
    def tzid(self) -> str | None:
        for moment in (self.start, self.deadline, self.end):
            if isinstance(moment, datetime) and isinstance(moment.tzinfo, ZoneInfo):
                return moment.tzinfo.key
        return None

    @property
    def completed(self) -> bool:
        return self.completed_at is not None

    @property
    def is_invitation(self) -> bool:
        return bool(self.participants or self.resource_ids)

    @property
    def made(self) -> bool:
        """A call that was made: it has a start and is completed."""
        return self.kind is Kind.CALL and self.start is not None and self.completed

    @property
    def in_diary(self) -> bool:
        return self.start is not None

    def duration(self) -> timedelta | None:
        """How long it lasts in real (elapsed) time, also across a daylight-saving change."""
        if self.start is None or self.end is None:
            return None
        return elapsed(self.start, self.end)

    # -- occurrences of a series -------------------------------------------
    def override(self, recurrence_id: Moment) -> Occurrence | None:
        """The override of the occurrence that starts at ``recurrence_id`` (matched by instant), if any."""
        for occ in self.overrides:
            if same_instant(occ.recurrence_id, recurrence_id):
                return occ
        return None

    def override_for(self, recurrence_id: Moment) -> Occurrence:
        """The override of that occurrence, added (changing nothing yet) when it has none."""
        occ = self.override(recurrence_id)
        if occ is None:
            occ = Occurrence(recurrence_id=recurrence_id)
            self.overrides.append(occ)
        return occ

    def exclude(self, recurrence_id: Moment) -> None:
        """Take one occurrence out of the series: an EXDATE (RFC 5545 §3.8.5.1), and its override goes."""
        if self.recurrence is None or self.recurrence.is_empty():
            raise InvalidFollowup(f"follow-up {self.id} does not repeat: it has no occurrences to remove")
        self.overrides = [o for o in self.overrides if not same_instant(o.recurrence_id, recurrence_id)]
        if not any(same_instant(m, recurrence_id) for m in self.recurrence.exdates):
            self.recurrence.exdates.append(recurrence_id)

    def copy(self) -> Followup:
        return replace(
            self,
            recurrence=replace(self.recurrence, rdates=list(self.recurrence.rdates),
                               exdates=list(self.recurrence.exdates)) if self.recurrence else None,
            overrides=[replace(o) for o in self.overrides],
            participants=[replace(p) for p in self.participants],
            resource_ids=list(self.resource_ids),
            declined_resource_ids=list(self.declined_resource_ids),
            custom=dict(self.custom),
        )

    # -- invariants -------------------------------------------------------
    def validate(self) -> None:
        """Raise InvalidFollowup unless every domain rule holds."""
        if not self.title.strip():
            raise InvalidFollowup("a follow-up needs a title")
        if not self.uid or len(self.uid) > 255:
            raise InvalidFollowup("a follow-up needs a UID of at most 255 characters")
        if self.priority is not None and not 0 <= self.priority <= 9:
            raise InvalidFollowup(f"priority must be 1 (high) to 9 (low), not {self.priority}")
        self.declined_resource_ids = [r for r in self.declined_resource_ids if r in self.resource_ids]
        if self.alarm_minutes is not None and self.alarm_minutes < 0:
            raise InvalidFollowup("the alarm lead time cannot be negative")
        if self.kind is Kind.MEETING:
            if self.start is None or self.end is None:
                raise InvalidFollowup("a meeting needs a start and an end")
            if self.deadline is not None:
                raise InvalidFollowup("a meeting has no deadline")
        if self.start is not None and self.end is not None:
            check_order(self.start, self.end)
        if self.end is not None and self.start is None:
            raise InvalidFollowup("an end needs a start")
        if self.kind is Kind.CALL and not self.completed and self.start is not None:
            raise InvalidFollowup("a planned call has a deadline and no start; record it as made to give it a start")
        if self.kind is Kind.CALL and self.made and self.end is None:
            raise InvalidFollowup("a made call needs a duration")
        if self.recurrence is not None and self.recurrence.is_empty():
            self.recurrence = None
        if self.recurrence is not None and self.start is None and self.deadline is None:
            raise InvalidFollowup("a recurring follow-up needs a start or a deadline")
        for occ in self.overrides:
            if occ.start is not None and occ.end is not None:
                check_order(occ.start, occ.end)
        seen: set[str] = set()
        for p in self.participants:
            if p.user_id is None and p.person_id is None and not p.email:
                raise InvalidFollowup("a participant needs a CRM user, a contact person or an address")
            if p.key() in seen:
                raise InvalidFollowup(f"participant {p.email or p.key()} is listed twice")
            seen.add(p.key())
        if len(set(self.resource_ids)) != len(self.resource_ids):
            raise InvalidFollowup("a resource is booked twice")


# -- factories that carry the CRM's rules ------------------------------------


def new_meeting(owner: User, title: str, type_id: int, start: Moment, end: Moment | None = None,
                **fields: Any) -> Followup:
    """A meeting; without an end it lasts the owner's default meeting duration (in real time)."""
    if end is None:
        end = later(start, timedelta(days=1) if is_date(start) else timedelta(minutes=owner.meeting_minutes))
    assert owner.id is not None
    f = Followup(owner_id=owner.id, kind=Kind.MEETING, title=title, type_id=type_id, start=start, end=end, **fields)
    f.validate()
    return f


def new_todo(owner: User, title: str, type_id: int, deadline: Moment | None, **fields: Any) -> Followup:
    """A to-do. One created in the CRM always has a deadline (clients may omit it)."""
    if deadline is None:
        raise InvalidFollowup("a to-do needs a deadline (--deadline)")
    assert owner.id is not None
    f = Followup(owner_id=owner.id, kind=Kind.TODO, title=title, type_id=type_id, deadline=deadline, **fields)
    f.validate()
    return f


def new_call(owner: User, title: str, type_id: int, deadline: Moment | None, **fields: Any) -> Followup:
    """A planned call: a deadline and no start."""
    if deadline is None:
        raise InvalidFollowup("a planned call needs a deadline (--deadline)")
    if fields.get("start") is not None:
        raise InvalidFollowup("a planned call has no start; record it as made instead")
    assert owner.id is not None
    f = Followup(owner_id=owner.id, kind=Kind.CALL, title=title, type_id=type_id, deadline=deadline, **fields)
    f.validate()
    return f


def record_call_made(call: Followup, owner: User, at: datetime | None = None,
                     minutes: int | None = None) -> None:
    """Mark a call as made: start = ``at`` (default now, in the owner's zone),
    end = ``minutes`` (default the owner's call duration) later in real time."""
    if call.kind is not Kind.CALL:
        raise InvalidFollowup(f"follow-up {call.id} is a {call.kind.value}, not a call")
    if minutes is None:
        minutes = owner.call_minutes
    if minutes <= 0:
        raise InvalidFollowup("a call lasts a positive number of minutes")
    start = at if at is not None else utcnow()
    if start.tzinfo is None:
        start = start.replace(tzinfo=zone(owner.tz))
    start = start.astimezone(zone(owner.tz))
    call.start = start
    call.end = later(start, timedelta(minutes=minutes))
    call.completed_at = start.astimezone(UTC)
    call.validate()


def mark_done(f: Followup, at: datetime | None = None) -> None:
    if f.kind is Kind.CALL and f.start is None:
        raise InvalidFollowup("record a call as made (call-made) to complete it")
    f.completed_at = (at or utcnow()).astimezone(UTC)


def set_custom(f: Followup, fields_by_id: dict[int, FieldDef], field_id: int, value: Any) -> None:
    """Set (or with None or "" clear) a custom field value, checked against its definition."""
    definition = fields_by_id.get(field_id)
    if definition is None:
        raise InvalidFollowup(f"no custom field with id {field_id}")
    if value is None or (isinstance(value, str) and not value.strip()):
        f.custom.pop(field_id, None)
    else:
        f.custom[field_id] = definition.normalize(value)
