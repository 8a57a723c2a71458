"""The unit of work: one transaction, its repositories, and the change log.

Every write to the CRM goes through a :class:`UnitOfWork`. The domain rows
and the append-only change-log entry it records are committed together or
not at all, so a failed request leaves the store exactly as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, and_, delete, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store import convert, moments
from store.calendar import Calendars
from store.domain import (
    Company,
    FieldDef,
    Followup,
    FollowupType,
    Kind,
    Person,
    Project,
    Resource,
    Sale,
    Source,
    User,
    utcnow,
)
from store.errors import Conflict, InvalidFollowup, NotFound
from store.grants import Grants
from store.orm import (
    BookingRow,
    ChangeRow,
    CompanyRow,
    FieldRow,
    FollowupRow,
    GrantRow,
    ParticipantRow,
    PersonRow,
    ProjectRow,
    ResourceRow,
    SaleRow,
    TypeRow,
    UserRow,
    ValueRow,
)

D = TypeVar("D")

CLASH_CANDIDATES = 5000
"""The most follow-ups one conflict check reads (:meth:`Followups.busy_between`)."""


@dataclass(frozen=True)
class Change:
    """One entry of a follow-up's change log."""

    at: datetime
    action: str
    actor: str
    source: str
    uid: str

R = TypeVar("R")


@dataclass(frozen=True)
class Use:
    """Records of one sort that still refer to a directory record: how many, and the lowest ids."""

    what: str
    """A singular noun: follow-up, invitation and booking (whose ids are follow-ups'), person, sale."""
    count: int
    first: tuple[int, ...]


def _archivable(to_domain: Callable[[Any], Any]) -> Any:
    """``to_domain`` that also carries the row's ``archived`` flag."""

    def convert_row(row: Any) -> Any:
        record = to_domain(row)
        record.archived = row.archived
        return record

    return staticmethod(convert_row)


def archived_refusal(description: str, holders: str = "follow-ups") -> InvalidFollowup:
    """Why an archived record cannot be given to a new follow-up (or person, or sale)."""
    return InvalidFollowup(f"{description} is archived: the {holders} that have it keep it, "
                           "but it cannot be given to others")


class _Records(Generic[D, R]):
    """A repository for a simple directory record (user, company, type, ...)."""

    row_class: type[Any]
    label: str
    kind: str
    """The record's name in :attr:`UnitOfWork.changed`."""
    unseen: frozenset[str] = frozenset({"archived"})
    """Columns no calendar object shows: changing only these is no change to report.
    Archiving changes nothing a client sees: the follow-ups that have the record keep it."""
    to_domain: Callable[[Any], Any]

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session = uow.session

    def _keep(self, row: Any) -> Any:
        """Hold ``row`` for the life of the unit of work. The session's identity
        map holds rows weakly, so a directory row read once and converted would
        be read again by every later ``session.get`` (reference checks, the
        owner's zone, the mapping's look-ups): a request re-read its user and
        types four or five times."""
        if row is not None:
            self.session.info.setdefault("kept", []).append(row)
        return row

    def get(self, id: int) -> D:
        row = self._keep(self.session.get(self.row_class, id))
        if row is None:
            raise NotFound(f"no {self.label} with id {id}")
        return self.to_domain(row)  # type: ignore[no-any-return]

    def list(self) -> list[D]:
        rows = list(self.session.scalars(select(self.row_class).order_by(self.row_class.id)))
        self.session.info.setdefault("kept", []).extend(rows)
        return [self.to_domain(r) for r in rows]

    def by_name(self, name: str) -> D:
        """The record called ``name`` (case-insensitive), or its id as text."""
        if name.isdigit():
            return self.get(int(name))
        rows = list(self.session.scalars(select(self.row_class).where(
            func.lower(self.row_class.name) == name.lower()).order_by(self.row_class.id).limit(2)))
        if not rows:
            raise NotFound(f"no {self.label} called {name!r}")
        if len(rows) > 1:
            raise Conflict(f"several {self.label}s are called {name!r}; use the id")
        return self.to_domain(rows[0])  # type: ignore[no-any-return]

    def add(self, obj: D) -> D:
        validate = getattr(obj, "validate", None)
        if validate is not None:
            validate()
        values = {k: v for k, v in asdict(obj).items() if k != "id"}  # type: ignore[call-overload]
        row = self.row_class(**self._columns(values))
        self.session.add(row)
        try:
            self.session.flush()
        except IntegrityError as exc:
            raise Conflict(f"that {self.label} already exists ({_reason(exc)})") from exc
        obj.id = row.id  # type: ignore[attr-defined]
        self.uow.touch(self.kind, row.id)
        return obj

    def update(self, obj: D) -> D:
        validate = getattr(obj, "validate", None)
        if validate is not None:
            validate()
        row = self.session.get(self.row_class, obj.id)  # type: ignore[attr-defined]
        if row is None:
            raise NotFound(f"no {self.label} with id {obj.id}")  # type: ignore[attr-defined]
        shown = False
        for key, value in self._columns({k: v for k, v in asdict(obj).items() if k != "id"}).items():  # type: ignore[call-overload]
            if getattr(row, key) != value:
                shown = shown or key not in self.unseen
                setattr(row, key, value)
        try:
            self.session.flush()
        except IntegrityError as exc:
            raise Conflict(f"that {self.label} clashes with another ({_reason(exc)})") from exc
        if shown:
            self.uow.touch(self.kind, obj.id)  # type: ignore[attr-defined]
        return obj

    def _columns(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}

    def describe(self, record: Any) -> str:
        """How messages name a record (or its row): ``company 4 "Nordlys AS"``."""
        return f'{self.label} {record.id} "{record.name}"'

    def _referrers(self, id: int) -> Sequence[tuple[str, Any]]:
        """What may refer to record ``id``: (noun, a SELECT of the referring ids)."""
        return ()

    def uses(self, id: int, examples: int = 2) -> Sequence[Use]:
        """What still refers to record ``id``, and the lowest ``examples`` ids of each: the
        rows a removal would leave pointing at nothing."""
        found: Sequence[Use] = ()
        for what, stmt in self._referrers(id):
            ids = stmt.distinct().subquery()
            column = next(iter(ids.c))
            count = self.session.scalar(select(func.count()).select_from(ids)) or 0
            if count:
                first = tuple(self.session.scalars(select(column).order_by(column).limit(examples)))
                found = (*found, Use(what, count, first))
        return found

    def remove(self, id: int) -> D:
        """Delete record ``id``. Callers check :meth:`uses` first and say what refers to it;
        the database's foreign keys refuse what slips through (a concurrent writer)."""
        row = self.session.get(self.row_class, id)
        if row is None:
            raise NotFound(f"no {self.label} with id {id}")
        record: D = self.to_domain(row)
        self.session.delete(row)
        try:
            self.session.flush()
        except IntegrityError as exc:
            raise Conflict(f"{self.describe(record)} is still in use ({_reason(exc)})") from exc
        self.uow.changed.get(self.kind, set()).discard(id)
        return record


def _reason(exc: IntegrityError) -> str:
    return str(exc.orig).splitlines()[0] if exc.orig else "constraint"


class Users(_Records[User, UserRow]):
    """Users cannot be archived: a user with follow-ups or invitations stays until they are
    given to someone else or deleted."""

    row_class, label, kind, to_domain = UserRow, "user", "user", staticmethod(convert.user)
    unseen = frozenset({"password_hash"})

    def describe(self, record: Any) -> str:
        return f'user {record.login} ("{record.name}")'

    def _referrers(self, id: int) -> list[tuple[str, Any]]:
        return [("follow-up", select(FollowupRow.id).where(FollowupRow.owner_id == id)),
                ("invitation", select(ParticipantRow.followup_id).where(ParticipantRow.user_id == id))]

    def remove(self, id: int) -> User:
        """Delete the user and the grants that name them (as lead or as the one read)."""
        self.session.execute(delete(GrantRow).where(or_(GrantRow.lead_id == id, GrantRow.user_id == id)))
        return super().remove(id)

    def update(self, obj: User) -> User:
        """A new zone re-indexes the user's floating and all-day follow-ups,
        whose UTC columns are read in the owner's zone (see moments.to_utc)."""
        row = self.session.get(UserRow, obj.id)
        old_tz = row.tz if row is not None else obj.tz
        super().update(obj)
        if obj.tz != old_tz:
            for f in self.session.scalars(select(FollowupRow).where(FollowupRow.owner_id == obj.id)):
                f.start_utc = moments.to_utc(moments.decode(f.start), obj.tz)
                f.end_utc = moments.to_utc(moments.decode(f.end), obj.tz)
                f.deadline_utc = moments.to_utc(moments.decode(f.deadline), obj.tz)
            self.session.flush()
        return obj

    def by_login(self, login: str) -> User:
        row = self._keep(self.session.scalar(select(UserRow).where(UserRow.login == login)))
        if row is None:
            raise NotFound(f"no user {login!r} (see `followups user list`)")
        return convert.user(row)

    def by_email(self, email: str) -> User | None:
        row = self.session.scalar(select(UserRow).where(func.lower(UserRow.email) == email.lower())
                                  .order_by(UserRow.id).limit(1))
        return convert.user(row) if row else None


class Resources(_Records[Resource, ResourceRow]):
    row_class, label, kind, to_domain = ResourceRow, "resource", "resource", _archivable(convert.resource)
    unseen = frozenset({"on_conflict", "archived"})

    def describe(self, record: Any) -> str:
        return f'resource {record.login} ("{record.name}")'

    def _referrers(self, id: int) -> list[tuple[str, Any]]:
        return [("booking", select(BookingRow.followup_id).where(BookingRow.resource_id == id))]

    def by_login(self, login: str) -> Resource:
        row = self.session.scalar(select(ResourceRow).where(ResourceRow.login == login))
        if row is None:
            raise NotFound(f"no resource {login!r} (see `followups resource list`)")
        return self.to_domain(row)  # type: ignore[no-any-return]

    def by_email(self, email: str) -> Resource | None:
        row = self.session.scalar(select(ResourceRow).where(func.lower(ResourceRow.email) == email.lower())
                                  .order_by(ResourceRow.id).limit(1))
        return self.to_domain(row) if row else None


class Companies(_Records[Company, CompanyRow]):
    row_class, label, kind, to_domain = CompanyRow, "company", "company", _archivable(convert.company)

    def _referrers(self, id: int) -> list[tuple[str, Any]]:
        return [("follow-up", select(FollowupRow.id).where(FollowupRow.company_id == id)),
                ("person", select(PersonRow.id).where(PersonRow.company_id == id)),
                ("sale", select(SaleRow.id).where(SaleRow.company_id == id))]

    def check_link(self, company_id: int | None, before: int | None, holders: str) -> None:
        """A person's or sale's company exists, and is not archived unless it was theirs already."""
        if company_id is None:
            return
        company = self.get(company_id)
        if company.archived and company_id != before:
            raise archived_refusal(self.describe(company), holders)


def _company_before(session: Session, row_class: type[Any], id: int | None) -> int | None:
    row = session.get(row_class, id) if id is not None else None
    return row.company_id if row is not None else None


class Persons(_Records[Person, PersonRow]):
    row_class, label, kind, to_domain = PersonRow, "person", "person", _archivable(convert.person)

    def _referrers(self, id: int) -> list[tuple[str, Any]]:
        return [("follow-up", select(FollowupRow.id).where(FollowupRow.person_id == id)),
                ("invitation", select(ParticipantRow.followup_id).where(ParticipantRow.person_id == id))]

    def add(self, obj: Person) -> Person:
        self.uow.companies.check_link(obj.company_id, None, "persons")
        return super().add(obj)

    def update(self, obj: Person) -> Person:
        self.uow.companies.check_link(obj.company_id, _company_before(self.session, PersonRow, obj.id), "persons")
        return super().update(obj)

    def by_email(self, email: str) -> Person | None:
        row = self.session.scalar(select(PersonRow).where(func.lower(PersonRow.email) == email.lower())
                                  .order_by(PersonRow.id).limit(1))
        return self.to_domain(row) if row else None


class Sales(_Records[Sale, SaleRow]):
    row_class, label, kind, to_domain = SaleRow, "sale", "sale", _archivable(convert.sale)

    def _referrers(self, id: int) -> list[tuple[str, Any]]:
        return [("follow-up", select(FollowupRow.id).where(FollowupRow.sale_id == id))]

    def add(self, obj: Sale) -> Sale:
        self.uow.companies.check_link(obj.company_id, None, "sales")
        return super().add(obj)

    def update(self, obj: Sale) -> Sale:
        self.uow.companies.check_link(obj.company_id, _company_before(self.session, SaleRow, obj.id), "sales")
        return super().update(obj)


class Projects(_Records[Project, ProjectRow]):
    row_class, label, kind, to_domain = ProjectRow, "project", "project", _archivable(convert.project)

    def _referrers(self, id: int) -> list[tuple[str, Any]]:
        return [("follow-up", select(FollowupRow.id).where(FollowupRow.project_id == id))]


class Types(_Records[FollowupType, TypeRow]):
    row_class, label, kind, to_domain = TypeRow, "follow-up type", "type", _archivable(convert.ftype)
    unseen = frozenset({"busy", "archived"})
    """A type's ``busy`` is the default of new follow-ups; each follow-up keeps its own."""

    def _referrers(self, id: int) -> list[tuple[str, Any]]:
        return [("follow-up", select(FollowupRow.id).where(FollowupRow.type_id == id))]

    def default(self, kind: Kind) -> FollowupType:
        """The first type of ``kind`` that is not archived."""
        row = self._keep(self.session.scalar(select(TypeRow).where(TypeRow.kind == kind.value,
                                                                   TypeRow.archived.is_(False))
                                             .order_by(TypeRow.id).limit(1)))
        if row is None:
            raise NotFound(f"no follow-up type for {kind.value}s that is not archived; "
                           "add one with `followups type add`")
        return self.to_domain(row)  # type: ignore[no-any-return]

    def update(self, obj: FollowupType) -> FollowupType:
        """A type keeps its kind while follow-ups have it (each follow-up's type is of its kind)."""
        row = self.session.get(TypeRow, obj.id)
        if row is not None and row.kind != obj.kind.value and self.uses(row.id):
            raise InvalidFollowup(f"{self.describe(row)} is for {row.kind}s and follow-ups have it; "
                                  f"it cannot become a type for {obj.kind.value}s")
        return super().update(obj)


class Fields(_Records[FieldDef, FieldRow]):
    row_class, label, kind, to_domain = FieldRow, "custom field", "field", _archivable(convert.field_def)
    unseen = frozenset({"type", "choices", "archived"})
    """Calendar objects show a field's name and each follow-up's value (a value the new
    definition writes differently re-renders its follow-up: :meth:`update`)."""

    def _referrers(self, id: int) -> list[tuple[str, Any]]:
        return [("follow-up", select(ValueRow.followup_id).where(ValueRow.field_id == id))]

    def _columns(self, values: dict[str, Any]) -> dict[str, Any]:
        values = super()._columns(values)
        values["choices"] = json.dumps(values["choices"])
        return values

    def update(self, obj: FieldDef) -> FieldDef:
        """A new type or new choices must fit every stored value, else nothing changes and
        the follow-ups whose values do not fit are named; values that fit are stored in the
        new definition's form (``1e3`` as a number is ``1000``; a choice takes its new case)."""
        obj.validate()
        row = self.session.get(FieldRow, obj.id)
        if row is None:
            raise NotFound(f"no {self.label} with id {obj.id}")
        before = convert.field_def(row)
        if (before.type, before.choices) != (obj.type, obj.choices):
            self._refit(obj, before)
        return super().update(obj)

    def _refit(self, definition: FieldDef, before: FieldDef, examples: int = 2) -> None:
        values = list(self.session.scalars(select(ValueRow).where(ValueRow.field_id == definition.id)
                                           .order_by(ValueRow.followup_id)))
        fitted: dict[int, str] = {}
        misfits: list[ValueRow] = []
        for value in values:
            try:
                fitted[value.followup_id] = definition.normalize(value.value)
            except InvalidFollowup:
                misfits.append(value)
        if misfits:
            choices = ", ".join(definition.choices)
            if definition.type is before.type:
                change = f"cannot be limited to {choices}"
            else:
                change = f"cannot become a {definition.type.value} field" + (f" of {choices}" if choices else "")
            shown = ", ".join(f'#{v.followup_id} "{v.value}"' for v in misfits[:examples])
            some = (f"{len(misfits)} follow-ups have values" if len(misfits) > 1 else "1 follow-up has a value")
            raise InvalidFollowup(f"{self.describe(definition)} {change}: {some} that would not fit "
                                  f"({'e.g. ' if len(misfits) > examples else ''}{shown}); "
                                  "change or clear them first")
        for value in values:
            if fitted[value.followup_id] != value.value:
                value.value = fitted[value.followup_id]
                self.uow.touch("followup", value.followup_id)
        self.session.flush()


class Followups:
    """Follow-ups, with their participants, bookings and custom values."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session = uow.session

    def _row(self, id: int) -> FollowupRow:
        row = self.session.get(FollowupRow, id)
        if row is None:
            raise NotFound(f"no follow-up with id {id}")
        return row

    def get(self, id: int) -> Followup:
        return convert.followup(self._row(id))

    def get_many(self, ids: Iterable[int]) -> list[Followup]:
        ids = list(ids)
        if not ids:
            return []
        rows = self.session.scalars(select(FollowupRow).where(FollowupRow.id.in_(ids)))
        by_id = {r.id: convert.followup(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def by_uid(self, uid: str) -> list[Followup]:
        rows = self.session.scalars(select(FollowupRow).where(FollowupRow.uid == uid).order_by(FollowupRow.id))
        return [convert.followup(r) for r in rows]

    def _check_refs(self, f: Followup, kept: frozenset[tuple[type[Any], int]] = frozenset()) -> None:
        """Every referenced record exists (a clear NotFound, not an IntegrityError), and none
        is archived unless the follow-up had it already (``kept``: see :func:`_links`)."""
        s = self.session
        checks: list[tuple[type[Any], int | None, str]] = [
            (UserRow, f.owner_id, "user"), (TypeRow, f.type_id, "follow-up type"),
            (CompanyRow, f.company_id, "company"), (PersonRow, f.person_id, "person"),
            (SaleRow, f.sale_id, "sale"), (ProjectRow, f.project_id, "project"),
        ]
        checks += [(ResourceRow, rid, "resource") for rid in f.resource_ids]
        checks += [(UserRow, p.user_id, "user") for p in f.participants if p.user_id is not None]
        checks += [(PersonRow, p.person_id, "person") for p in f.participants if p.person_id is not None]
        checks += [(FieldRow, fid, "custom field") for fid in f.custom]
        for row_class, id, label in checks:
            if id is None:
                continue
            row = s.get(row_class, id)
            if row is None:
                raise NotFound(f"no {label} with id {id}")
            if getattr(row, "archived", False) and (row_class, id) not in kept:
                raise archived_refusal(self.uow.repository(row_class).describe(row))
        ftype = s.get(TypeRow, f.type_id)
        assert ftype is not None
        if ftype.kind != f.kind.value:
            raise InvalidFollowup(f"type {ftype.name!r} is for {ftype.kind}s, not {f.kind.value}s")
        for fid, value in f.custom.items():
            definition = convert.field_def(s.get(FieldRow, fid))  # type: ignore[arg-type]
            if definition.normalize(value) != value:
                f.custom[fid] = definition.normalize(value)

    def _owner_tz(self, f: Followup) -> str:
        owner = self.session.get(UserRow, f.owner_id)
        return owner.tz if owner else "UTC"

    def add(self, f: Followup, check: bool = True) -> Followup:
        f.validate()
        if check:
            self._check_refs(f)
        now = utcnow()
        f.created_at = f.created_at or now
        f.modified_at = now
        row = FollowupRow(created_at=convert.naive_utc(f.created_at), modified_at=convert.naive_utc(now))
        convert.followup_to_row(f, row, self._owner_tz(f))
        self.session.add(row)
        self.session.flush()
        f.id = row.id
        self.uow.log(f, "create")
        self.uow.touch("followup", row.id)
        return f

    def add_many(self, followups: list[Followup]) -> list[Followup]:
        """Add many new follow-ups with a few statements instead of many (bulk
        import): the same checks and change-log entries as :meth:`add`."""
        if not followups:
            return []
        for f in followups:
            f.validate()
        self._check_refs_bulk(followups)
        now = convert.naive_utc(utcnow())
        owners = {f.owner_id for f in followups}
        tz_of = dict(self.session.execute(select(UserRow.id, UserRow.tz).where(UserRow.id.in_(owners))).all())
        rows = []
        for f in followups:
            columns = convert.followup_columns(f, tz_of[f.owner_id])
            columns["created_at"] = convert.naive_utc(f.created_at) or now
            columns["modified_at"] = now
            rows.append(columns)
        ids = self._insert_returning_ids(followups, rows)
        participants, bookings, values, changes = [], [], [], []
        at = convert.naive_utc(utcnow())
        for f, id, columns in zip(followups, ids, rows, strict=True):
            f.id = id
            f.created_at = convert.aware_utc(columns["created_at"])
            f.modified_at = convert.aware_utc(now)
            participants += [{"followup_id": id, **p} for p in convert.participant_columns(f)]
            bookings += [{"followup_id": id, **b} for b in convert.booking_columns(f)]
            values += [{"followup_id": id, **v} for v in convert.value_columns(f)]
            changes.append({"followup_id": id, "uid": f.uid, "action": "create", "at": at,
                            "actor": self.uow.actor, "source": self.uow.source.value})
        for table, batch in ((ParticipantRow, participants), (BookingRow, bookings), (ValueRow, values),
                             (ChangeRow, changes)):
            if batch:
                self.session.execute(insert(table).execution_options(render_nulls=True), batch)
        for f in followups:
            self.uow.touch("followup", f.id)  # type: ignore[arg-type]
        return followups

    def _insert_returning_ids(self, followups: list[Followup], rows: list[dict[str, Any]]) -> list[int]:
        """Insert ``rows`` and return their ids in order, in a few statements.

        Two things would make SQLAlchemy send one INSERT per row: the ORM's
        bulk INSERT leaves out None values (so that column defaults apply)
        and starts a new statement whenever the set of None columns changes,
        hence ``render_nulls`` (every key here is meant as given); and
        RETURNING in parameter order cannot be matched to rows on SQLite, so
        the ids are matched by UID instead when the batch's UIDs are
        distinct (they are, in an import)."""
        insert_rows = insert(FollowupRow).execution_options(render_nulls=True)
        uids = [f.uid for f in followups]
        if len(set(uids)) < len(uids):
            return list(self.session.scalars(
                insert_rows.returning(FollowupRow.id, sort_by_parameter_order=True), rows).all())
        id_of = dict(self.session.execute(insert_rows.returning(FollowupRow.uid, FollowupRow.id), rows).all())
        return [id_of[uid] for uid in uids]

    def _check_refs_bulk(self, followups: list[Followup]) -> None:
        """:meth:`_check_refs` for many follow-ups: one query per table."""
        wanted: dict[type[Any], set[int]] = {}

        def need(row_class: type[Any], id: int | None) -> None:
            if id is not None:
                wanted.setdefault(row_class, set()).add(id)

        for f in followups:
            for row_class, id in ((UserRow, f.owner_id), (TypeRow, f.type_id), (CompanyRow, f.company_id),
                                  (PersonRow, f.person_id), (SaleRow, f.sale_id), (ProjectRow, f.project_id)):
                need(row_class, id)
            for rid in f.resource_ids:
                need(ResourceRow, rid)
            for p in f.participants:
                need(UserRow, p.user_id)
                need(PersonRow, p.person_id)
            for fid in f.custom:
                need(FieldRow, fid)
        labels = {UserRow: "user", TypeRow: "follow-up type", CompanyRow: "company", PersonRow: "person",
                  SaleRow: "sale", ProjectRow: "project", ResourceRow: "resource", FieldRow: "custom field"}
        for row_class, ids in wanted.items():
            found = set(self.session.scalars(select(row_class.id).where(row_class.id.in_(ids))))
            missing = sorted(ids - found)
            if missing:
                raise NotFound(f"no {labels[row_class]} with id {missing[0]}")
            if hasattr(row_class, "archived"):
                archived = self.session.scalar(select(row_class).where(row_class.id.in_(ids), row_class.archived)
                                               .order_by(row_class.id).limit(1))
                if archived is not None:
                    raise archived_refusal(self.uow.repository(row_class).describe(archived))
        kinds = dict(self.session.execute(select(TypeRow.id, TypeRow.kind)).all())
        names = dict(self.session.execute(select(TypeRow.id, TypeRow.name)).all())
        fields = {row.id: convert.field_def(row) for row in self.session.scalars(select(FieldRow))}
        for f in followups:
            if kinds[f.type_id] != f.kind.value:
                raise InvalidFollowup(f"type {names[f.type_id]!r} is for {kinds[f.type_id]}s, not {f.kind.value}s")
            for fid, value in list(f.custom.items()):
                f.custom[fid] = fields[fid].normalize(value)

    def update(self, f: Followup) -> Followup:
        if f.id is None:
            raise NotFound("a follow-up without an id cannot be updated")
        f.validate()
        row = self._row(f.id)
        self._check_refs(f, _links(row))
        f.modified_at = max(utcnow(), convert.aware_utc(row.modified_at))  # type: ignore[type-var]
        row.modified_at = convert.naive_utc(f.modified_at)  # type: ignore[assignment]
        convert.followup_to_row(f, row, self._owner_tz(f))
        self.session.flush()
        self.uow.log(f, "update")
        self.uow.touch("followup", f.id)
        return f

    def delete(self, id: int) -> Followup:
        """Delete the follow-up and every calendar copy of it (each removal
        leaves a tombstone, so clients syncing by token see it go)."""
        row = self._row(id)
        f = convert.followup(row)
        self.uow.calendars.remove_followup(id)
        self.session.delete(row)
        self.session.flush()
        self.uow.log(f, "delete")
        self.uow.changed.get("followup", set()).discard(id)
        return f

    def showing(self, kind: str, ids: Iterable[int]) -> set[int]:
        """Ids of the follow-ups whose calendar objects show one of the
        directory records ``ids`` of ``kind`` (as :attr:`UnitOfWork.changed`
        names them): what must be rendered again when those records change."""
        ids = list(ids)
        if not ids:
            return set()
        f = FollowupRow
        by_kind: dict[str, list[Any]] = {
            "user": [select(f.id).where(f.owner_id.in_(ids)),
                     select(ParticipantRow.followup_id).where(ParticipantRow.user_id.in_(ids))],
            "resource": [select(BookingRow.followup_id).where(BookingRow.resource_id.in_(ids))],
            "company": [select(f.id).where(f.company_id.in_(ids)),
                        select(f.id).join(PersonRow, PersonRow.id == f.person_id).where(PersonRow.company_id.in_(ids)),
                        select(f.id).join(SaleRow, SaleRow.id == f.sale_id).where(SaleRow.company_id.in_(ids))],
            "person": [select(f.id).where(f.person_id.in_(ids)),
                       select(ParticipantRow.followup_id).where(ParticipantRow.person_id.in_(ids))],
            "sale": [select(f.id).where(f.sale_id.in_(ids))],
            "project": [select(f.id).where(f.project_id.in_(ids))],
            "type": [select(f.id).where(f.type_id.in_(ids))],
            "field": [select(ValueRow.followup_id).where(ValueRow.field_id.in_(ids))],
        }
        found: set[int] = set()
        for stmt in by_kind[kind]:
            found.update(self.session.scalars(stmt))
        return found

    # -- the CRM's views ------------------------------------------------------
    def diary(self, user_id: int, start: datetime, end: datetime) -> list[Followup]:
        """Meetings and calls in the user's diary that may touch [start, end)
        (naive UTC): owned, or invited and not declined. Recurring ones that
        started before the window are included; the caller expands them."""
        invited = select(ParticipantRow.followup_id).where(
            ParticipantRow.user_id == user_id, ParticipantRow.partstat != "DECLINED")
        stmt = select(FollowupRow).where(
            or_(FollowupRow.owner_id == user_id, FollowupRow.id.in_(invited)),
            FollowupRow.start_utc.is_not(None),
            FollowupRow.start_utc < end,
            or_(FollowupRow.end_utc >= start, FollowupRow.rrule.is_not(None), FollowupRow.rdates.is_not(None)),
        ).order_by(FollowupRow.start_utc, FollowupRow.id)
        return [convert.followup(r) for r in self.session.scalars(stmt)]

    def busy_between(self, start: datetime, end: datetime, *, user_ids: Collection[int] = (),
                     resource_ids: Collection[int] = (), anyone: bool = False, exclude: int | None = None,
                     limit: int = CLASH_CANDIDATES) -> list[Followup]:
        """Busy, not cancelled meetings and calls that may touch [start, end)
        (naive UTC) and share a person or a resource with ``user_ids`` /
        ``resource_ids``: owned by one of those users or inviting one who has
        not declined, or booking one of those resources that has not declined.
        ``anyone`` drops that condition. Recurring ones that started before
        the window's end are included, as in :meth:`diary`; the caller
        expands them. ``exclude`` leaves one follow-up out. At most ``limit``
        rows, earliest start first: the bound on what a conflict check reads."""
        shared: list[Any] = []
        if user_ids:
            invited = select(ParticipantRow.followup_id).where(
                ParticipantRow.user_id.in_(list(user_ids)), ParticipantRow.partstat != "DECLINED")
            shared += [FollowupRow.owner_id.in_(list(user_ids)), FollowupRow.id.in_(invited)]
        if resource_ids:
            shared.append(FollowupRow.id.in_(select(BookingRow.followup_id).where(
                BookingRow.resource_id.in_(list(resource_ids)), BookingRow.partstat != "DECLINED")))
        if not shared and not anyone:
            return []
        stmt = select(FollowupRow).where(
            FollowupRow.busy.is_(True),
            FollowupRow.cancelled.is_(False),
            FollowupRow.kind.in_([Kind.MEETING.value, Kind.CALL.value]),
            FollowupRow.start_utc.is_not(None),
            FollowupRow.start_utc < end,
            or_(FollowupRow.end_utc >= start, FollowupRow.rrule.is_not(None), FollowupRow.rdates.is_not(None)),
        )
        if shared:
            stmt = stmt.where(or_(*shared))
        if exclude is not None:
            stmt = stmt.where(FollowupRow.id != exclude)
        stmt = stmt.order_by(FollowupRow.start_utc, FollowupRow.id).limit(limit)
        return [convert.followup(r) for r in self.session.scalars(stmt)]

    def booked(self, resource_id: int, start: datetime, end: datetime, limit: int = 5000) -> list[Followup]:
        """Follow-ups that book the resource (and were not declined by it) and
        may touch [start, end) (naive UTC), as :meth:`diary` finds them; at
        most ``limit``."""
        booking = select(BookingRow.followup_id).where(BookingRow.resource_id == resource_id,
                                                        BookingRow.partstat != "DECLINED")
        stmt = select(FollowupRow).where(
            FollowupRow.id.in_(booking),
            FollowupRow.start_utc.is_not(None),
            FollowupRow.start_utc < end,
            or_(FollowupRow.end_utc >= start, FollowupRow.rrule.is_not(None), FollowupRow.rdates.is_not(None)),
        ).order_by(FollowupRow.start_utc, FollowupRow.id).limit(limit)
        return [convert.followup(r) for r in self.session.scalars(stmt)]

    def todo(self, user_id: int) -> list[Followup]:
        """Open to-dos and planned calls, by deadline (none last)."""
        stmt = select(FollowupRow).where(
            FollowupRow.owner_id == user_id,
            FollowupRow.completed_at.is_(None),
            or_(FollowupRow.kind == Kind.TODO.value,
                and_(FollowupRow.kind == Kind.CALL.value, FollowupRow.start.is_(None))),
        ).order_by(FollowupRow.deadline_utc.is_(None), FollowupRow.deadline_utc, FollowupRow.id)
        return [convert.followup(r) for r in self.session.scalars(stmt)]

    def activities(self, *, company_id: int | None = None, person_id: int | None = None,
                   sale_id: int | None = None, project_id: int | None = None) -> list[Followup]:
        conditions = [
            column == value
            for column, value in ((FollowupRow.company_id, company_id), (FollowupRow.person_id, person_id),
                                  (FollowupRow.sale_id, sale_id), (FollowupRow.project_id, project_id))
            if value is not None
        ]
        if not conditions:
            raise InvalidFollowup("name a company, person, sale or project")
        when = func.coalesce(FollowupRow.start_utc, FollowupRow.deadline_utc)
        stmt = select(FollowupRow).where(*conditions).order_by(when.is_(None), when, FollowupRow.id)
        return [convert.followup(r) for r in self.session.scalars(stmt)]

    def ids(self) -> list[int]:
        return list(self.session.scalars(select(FollowupRow.id).order_by(FollowupRow.id)))

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(FollowupRow)) or 0


def _links(row: FollowupRow) -> frozenset[tuple[type[Any], int]]:
    """The directory records a stored follow-up refers to, as (row class, id)."""
    links: list[tuple[type[Any], int | None]] = [
        (TypeRow, row.type_id), (CompanyRow, row.company_id), (PersonRow, row.person_id),
        (SaleRow, row.sale_id), (ProjectRow, row.project_id)]
    links += [(ResourceRow, b.resource_id) for b in row.resources]
    links += [(PersonRow, p.person_id) for p in row.participants]
    links += [(FieldRow, v.field_id) for v in row.values]
    return frozenset((row_class, id) for row_class, id in links if id is not None)


class UnitOfWork:
    """One transaction over the store.

    ``with UnitOfWork(engine, actor="anna", source=Source.CLIENT) as uow:``
    ... ``uow.commit()``. Leaving the block without committing rolls back.
    ``write=True`` takes SQLite's write lock at the start (``BEGIN IMMEDIATE``),
    so concurrent writers queue instead of failing halfway.

    The unit of work records which records it added or changed
    (:attr:`changed`: ``{"followup": {ids}, "user": {ids}, ...}``), and
    :meth:`commit` first hands them to ``before_commit`` until none are
    left, so a read model kept by a layer above (the calendar projection)
    follows every change in the same transaction, whoever made it.
    """

    def __init__(self, engine: Engine, actor: str = "system", source: Source = Source.CRM,
                 write: bool = True, before_commit: Callable[[UnitOfWork], None] | None = None) -> None:
        self.engine = engine
        self.actor = actor
        self.source = source
        self.write = write
        self.before_commit = before_commit
        self.changed: dict[str, set[int]] = {}

    def __enter__(self) -> UnitOfWork:
        bind = self.engine.execution_options(followups_write=self.write)
        self.session = Session(bind=bind, expire_on_commit=False, autoflush=False)
        self.users = Users(self)
        self.resources = Resources(self)
        self.companies = Companies(self)
        self.persons = Persons(self)
        self.sales = Sales(self)
        self.projects = Projects(self)
        self.types = Types(self)
        self.fields = Fields(self)
        self.followups = Followups(self)
        self.calendars = Calendars(self.session, self.engine)
        self.grants = Grants(self.session)
        self.changed = {}
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def repository(self, row_class: type[Any]) -> _Records[Any, Any]:
        """The directory repository of ``row_class``."""
        for repo in (self.users, self.resources, self.companies, self.persons, self.sales, self.projects,
                     self.types, self.fields):
            if repo.row_class is row_class:
                return repo
        raise KeyError(row_class)

    def touch(self, kind: str, id: int) -> None:
        """Record that the ``kind`` record ``id`` was added or changed."""
        self.changed.setdefault(kind, set()).add(id)

    def take_changes(self) -> dict[str, set[int]]:
        """What changed since the last call, forgotten here."""
        changed, self.changed = {k: v for k, v in self.changed.items() if v}, {}
        return changed

    def log(self, f: Followup, action: str) -> None:
        self.session.add(ChangeRow(followup_id=f.id, uid=f.uid, action=action,
                                   at=convert.naive_utc(utcnow()), actor=self.actor, source=self.source.value))

    def changes(self, since: int = 0, limit: int = 1000) -> Sequence[ChangeRow]:
        stmt = select(ChangeRow).where(ChangeRow.id > since).order_by(ChangeRow.id).limit(limit)
        return list(self.session.scalars(stmt))

    def history(self, followup_id: int, limit: int = 1000) -> list[Change]:
        """The change log of one follow-up, oldest first."""
        stmt = (select(ChangeRow).where(ChangeRow.followup_id == followup_id)
                .order_by(ChangeRow.id).limit(limit))
        return [Change(r.at.replace(tzinfo=UTC), r.action, r.actor, r.source, r.uid)
                for r in self.session.scalars(stmt)]

    def commit(self) -> None:
        if self.before_commit is not None:
            for _ in range(10):
                if not any(self.changed.values()):
                    break
                self.before_commit(self)
            else:
                raise RuntimeError("before_commit kept changing records")
        try:
            self.session.flush()
            self.session.commit()
        except IntegrityError as exc:
            self.session.rollback()
            raise Conflict(f"the change clashes with existing data ({_reason(exc)})") from exc
