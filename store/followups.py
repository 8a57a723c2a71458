"""The follow-ups' repository: follow-ups with their participants, bookings and
custom values, and the CRM's views over them (diary, to-dos, activities, clashes).

Built by :class:`store.uow.UnitOfWork` for the life of one transaction; every
write records its change-log entry through the unit of work. Apart from the
directory records (:mod:`store.records`) because a follow-up's rules (its
references, bulk import, the time-range queries) are its own.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, insert, or_, select, text

from store import convert, db
from store.domain import Followup, Kind
from store.errors import InvalidFollowup, NotFound
from store.localtime import utcnow
from store.orm import (
    BookingRow,
    ChangeRow,
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
from store.records import archived_refusal

if TYPE_CHECKING:
    from store.uow import UnitOfWork

CLASH_CANDIDATES = 5000
"""The most follow-ups one conflict check reads (:meth:`Followups.busy_between`)."""
HELD = 8
"""Follow-up rows a unit of work keeps loaded after reading them (:meth:`Followups._row`)."""
_NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence('followups', 'id')) FROM generate_series(1, :n)")
"""PostgreSQL: ``n`` new follow-up ids from the table's own sequence (:meth:`Followups._insert_returning_ids`)."""


class Followups:
    """Follow-ups, with their participants, bookings and custom values."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session = uow.session
        self._held: dict[int, FollowupRow] = {}

    def _row(self, id: int) -> FollowupRow:
        """The follow-up's row with its children. The last few are held: the
        session keeps loaded rows only while something refers to them, and a
        request that reads a follow-up and then updates or deletes it would
        otherwise load it and its children twice. Only a few (:data:`HELD`),
        so a long import in one unit of work does not keep every row."""
        row = self.session.get(FollowupRow, id)
        if row is None:
            raise NotFound(f"no follow-up with id {id}")
        self._held.pop(id, None)
        self._held[id] = row
        while len(self._held) > HELD:
            del self._held[next(iter(self._held))]
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
            db.insert_many(self.session, table, batch)
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
        distinct (they are, in an import).

        On PostgreSQL the ids are taken from the table's sequence first, in
        one statement, and the rows inserted with them by COPY
        (:func:`store.db.insert_many`): a
        multi-row INSERT ... RETURNING of 500 rows has some 17,000
        parameters, and converting and parsing a statement that long took
        ~40% of a 10,000 follow-up load (benchmarks/bench.py). The ids are
        the ones the column default would have drawn."""
        insert_rows = insert(FollowupRow).execution_options(render_nulls=True)
        if self.session.get_bind().dialect.name == "postgresql":
            ids = sorted(self.session.scalars(_NEXT_IDS, {"n": len(rows)}))
            db.insert_many(self.session, FollowupRow,
                           [{**columns, "id": id} for columns, id in zip(rows, ids, strict=True)])
            return ids
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
        self._held.pop(id, None)
        self.uow.log(f, "delete")
        self.uow.changed.get("followup", set()).discard(id)
        return f

    def owner_and_uid(self, id: int) -> tuple[int, str]:
        """The owner's user id and the UID of follow-up ``id``, read without
        loading it: a calendar DELETE decides by the owner whether it deletes
        the follow-up (:meth:`drop`) or declines it."""
        found = self.session.execute(
            select(FollowupRow.owner_id, FollowupRow.uid).where(FollowupRow.id == id)).first()
        if found is None:
            raise NotFound(f"no follow-up with id {id}")
        return int(found.owner_id), str(found.uid)

    def drop(self, id: int, uid: str) -> None:
        """:meth:`delete` for a caller that needs nothing back (a calendar
        DELETE): the same rows go and the same change is logged, by statements
        alone. Loading the follow-up and its children first, as the ORM's
        cascade would, was a third of a DELETE's statements; the database's
        ON DELETE CASCADE takes its participants, bookings and custom values.
        ``uid`` is the follow-up's (:meth:`owner_and_uid`)."""
        loaded = self.session.identity_map.get(self.session.identity_key(FollowupRow, id))
        if loaded is not None:  # someone in this unit of work holds the row: let the ORM delete it
            self.delete(id)
            return
        self.uow.calendars.remove_followup(id)
        self.session.execute(delete(FollowupRow).where(FollowupRow.id == id),
                             execution_options={"synchronize_session": False})
        self.uow.log_change(id, uid, "delete")
        self.uow.changed.get("followup", set()).discard(id)

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
