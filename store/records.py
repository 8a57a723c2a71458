"""The directory-record repositories: users, resources, companies, persons, sales,
projects, follow-up types and custom fields.

Each is a small repository over one table, built by :class:`store.uow.UnitOfWork`
for the life of one transaction. They live apart from the follow-ups'
repository (:mod:`store.followups`) because they share one base class and one
set of rules (look-up by name, the records that still refer to one, archiving),
and none of a follow-up's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store import convert, moments
from store.domain import Company, FieldDef, FollowupType, Kind, Person, Project, Resource, Sale, User
from store.errors import Conflict, InvalidFollowup, NotFound
from store.orm import (
    BookingRow,
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

if TYPE_CHECKING:
    from store.uow import UnitOfWork

D = TypeVar("D")
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


class Records(Generic[D, R]):
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

    def by_emails(self, emails: Iterable[str]) -> dict[str, D]:
        """What ``by_email`` finds for each of ``emails``, in one statement:
        keyed by the address lowered (as ``by_email`` compares it), the first
        by id where several match; addresses nothing matches are left out.
        The rows found are kept (:meth:`_keep`): the caller's look-ups by id
        follow."""
        wanted = sorted({e.lower() for e in emails})
        if not wanted:
            return {}
        lowered = func.lower(self.row_class.email)
        found: dict[str, D] = {}
        for row, key in self.session.execute(select(self.row_class, lowered).where(lowered.in_(wanted))
                                             .order_by(self.row_class.id)):
            if key not in found:
                found[key] = self.to_domain(self._keep(row))
        return found

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
            raise Conflict(f"that {self.label} already exists ({integrity_reason(exc)})") from exc
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
            raise Conflict(f"that {self.label} clashes with another ({integrity_reason(exc)})") from exc
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
            raise Conflict(f"{self.describe(record)} is still in use ({integrity_reason(exc)})") from exc
        self.uow.changed.get(self.kind, set()).discard(id)
        return record


def integrity_reason(exc: IntegrityError) -> str:
    """The first line of the database's refusal (which constraint a write broke), for messages."""
    return str(exc.orig).splitlines()[0] if exc.orig else "constraint"


class Users(Records[User, UserRow]):
    """Users cannot be archived: a user with follow-ups or invitations stays until they are
    given to someone else or deleted."""

    row_class, label, kind, to_domain = UserRow, "user", "user", staticmethod(convert.user)
    unseen = frozenset({"password_hash"})

    def describe(self, record: Any) -> str:
        return f'user {record.login} ("{record.name}")'

    def _referrers(self, id: int) -> list[tuple[str, Any]]:
        return [("follow-up", select(FollowupRow.id).where(FollowupRow.owner_id == id)),
                ("invitation", select(ParticipantRow.followup_id).where(ParticipantRow.user_id == id))]

    def replace_password_hash(self, login: str, old: str, new: str) -> bool:
        """Set the user's password hash to ``new`` only where it is still ``old``
        (one conditional UPDATE: an upgrade of a hash never undoes a password
        change committed meanwhile). Whether it was replaced."""
        result = self.session.execute(update(UserRow).where(UserRow.login == login, UserRow.password_hash == old)
                                      .values(password_hash=new))
        return bool(getattr(result, "rowcount", 0))

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


class Resources(Records[Resource, ResourceRow]):
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


class Companies(Records[Company, CompanyRow]):
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


class Persons(Records[Person, PersonRow]):
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


class Sales(Records[Sale, SaleRow]):
    row_class, label, kind, to_domain = SaleRow, "sale", "sale", _archivable(convert.sale)

    def _referrers(self, id: int) -> list[tuple[str, Any]]:
        return [("follow-up", select(FollowupRow.id).where(FollowupRow.sale_id == id))]

    def add(self, obj: Sale) -> Sale:
        self.uow.companies.check_link(obj.company_id, None, "sales")
        return super().add(obj)

    def update(self, obj: Sale) -> Sale:
        self.uow.companies.check_link(obj.company_id, _company_before(self.session, SaleRow, obj.id), "sales")
        return super().update(obj)


class Projects(Records[Project, ProjectRow]):
    row_class, label, kind, to_domain = ProjectRow, "project", "project", _archivable(convert.project)

    def _referrers(self, id: int) -> list[tuple[str, Any]]:
        return [("follow-up", select(FollowupRow.id).where(FollowupRow.project_id == id))]


class Types(Records[FollowupType, TypeRow]):
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


class Fields(Records[FieldDef, FieldRow]):
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
