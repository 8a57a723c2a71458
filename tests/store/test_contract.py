"""The storage contract: the same tests against SQLite and PostgreSQL.

As vdirsyncer's ``StorageTests``, each backend supplies only how to build an
empty database (the ``db_url`` fixture of tests/conftest.py, parametrized
over both); everything else goes through the store's public API. The store
is migrated with ``store.db.migrate`` and seeded here, so these tests depend
on nothing outside ``store/``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, inspect, select

from store import db
from store.domain import (
    SEED_TYPES,
    Company,
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
    Source,
    User,
    mark_done,
    new_call,
    new_meeting,
    new_todo,
    record_call_made,
)
from store.errors import Conflict, InvalidFollowup, NotFound
from store.orm import Base, BookingRow, ChangeRow, FollowupRow, ParticipantRow, ValueRow
from store.uow import UnitOfWork

OSLO = ZoneInfo("Europe/Oslo")
NEW_YORK = ZoneInfo("America/New_York")


# -- building a store -------------------------------------------------------------


@dataclass
class Seed:
    """A migrated store with the directory records the tests refer to."""

    engine: Engine
    anna: User
    bo: User
    carl: User
    types: dict[Kind, int]
    other_meeting_type: int
    company: int
    other_company: int
    person: int
    sale: int
    project: int
    room: int
    projector: int
    budget: int
    stage: int
    note: int


def add_seed(engine: Engine) -> Seed:
    with UnitOfWork(engine, actor="setup") as uow:
        types = [uow.types.add(replace(t)) for t in SEED_TYPES]
        anna = uow.users.add(User("anna", "Anna Berg", "anna@example.com", tz="Europe/Oslo"))
        bo = uow.users.add(User("bo", "Bo Ek", "bo@example.com", tz="America/New_York", meeting_minutes=30,
                                call_minutes=5))
        carl = uow.users.add(User("carl", "Carl Dahl", "carl@example.com"))
        records = [
            uow.companies.add(Company("Acme AS")),
            uow.companies.add(Company("Globex")),
            uow.persons.add(Person("Dina Fjell", company_id=1, email="dina@acme.example")),
            uow.sales.add(Sale("Acme renewal", company_id=1)),
            uow.projects.add(Project("Rollout")),
            uow.resources.add(Resource("room-1", "Room 1", ResourceKind.ROOM, email="room-1@example.com")),
            uow.resources.add(Resource("projector", "Projector", ResourceKind.EQUIPMENT)),
            uow.fields.add(FieldDef("Budget", FieldType.NUMBER)),
            uow.fields.add(FieldDef("Stage", FieldType.LIST, choices=["Lead", "Offer", "Won"])),
            uow.fields.add(FieldDef("Note")),
        ]
        uow.commit()
    by_kind: dict[Kind, int] = {}
    for t in types:
        by_kind.setdefault(t.kind, ident(t))
    return Seed(engine, anna, bo, carl, by_kind, ident(types[1]), *(ident(r) for r in records))


def ident(record: Any) -> int:
    assert isinstance(record.id, int)
    return record.id


@pytest.fixture
def store_engine(db_url: str) -> Engine:
    """A migrated, empty store (no seeding through server/, so no dependency on mapping/)."""
    return db.migrate(db_url)


@pytest.fixture
def seed(store_engine: Engine) -> Seed:
    return add_seed(store_engine)


def dump(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table (the store's and Alembic's): equal dumps mean an unchanged store."""
    with engine.connect() as conn:
        names = sorted(inspect(conn).get_table_names())
        return {name: sorted((tuple(r) for r in conn.exec_driver_sql(f'SELECT * FROM "{name}"')), key=repr)
                for name in names}


def save(s: Seed, f: Followup, actor: str = "anna", source: Source = Source.CRM) -> Followup:
    with UnitOfWork(s.engine, actor=actor, source=source) as uow:
        uow.followups.add(f)
        uow.commit()
    return f


def load(s: Seed, id: int | None) -> Followup:
    assert id is not None
    with UnitOfWork(s.engine, write=False) as uow:
        return uow.followups.get(id)


def assert_same(got: Followup, want: Followup) -> None:
    """Equal, and every moment at the same instant with the same zone (``==`` ignores ``fold``)."""
    assert got == want
    for f in fields(Followup):
        a, b = getattr(got, f.name), getattr(want, f.name)
        if isinstance(b, datetime):
            assert isinstance(a, datetime) and a.utcoffset() == b.utcoffset(), f.name
            assert zone_name(a) == zone_name(b), f.name
            assert a.replace(tzinfo=None) == b.replace(tzinfo=None), f.name
        elif isinstance(b, date):
            assert type(a) is date, f.name


def zone_name(moment: datetime) -> str | None:
    """The zone as the store keeps it: ZoneInfo("UTC") is stored as plain UTC ("Z"), by design."""
    if moment.tzinfo is None:
        return None
    if isinstance(moment.tzinfo, ZoneInfo) and moment.tzinfo.key != "UTC":
        return moment.tzinfo.key
    return "UTC" if moment.utcoffset() == timedelta(0) else "offset"


# -- follow-ups with every field set -------------------------------------------------


def everything_meeting(s: Seed) -> Followup:
    """A zoned, recurring invitation with every field set; it starts at the
    second 02:30 of the night summer time ends (``fold=1``)."""
    start = datetime(2024, 10, 27, 2, 30, tzinfo=OSLO, fold=1)
    return Followup(
        owner_id=ident(s.anna), kind=Kind.MEETING, title="Quarterly review", type_id=s.other_meeting_type,
        uid="quarterly-review@crm.example", agenda="1. numbers\n2. plans", notes="bring coffee",
        company_id=s.company, person_id=s.person, sale_id=s.sale, project_id=s.project,
        start=start, end=start + timedelta(minutes=90),
        recurrence=Recurrence(rule="FREQ=WEEKLY;BYDAY=SU;COUNT=10",
                              rdates=[datetime(2024, 11, 1, 9, 0, tzinfo=OSLO),
                                      datetime(2024, 11, 2, 9, 0, tzinfo=OSLO)],
                              exdates=[datetime(2024, 11, 10, 2, 30, tzinfo=OSLO)]),
        overrides=[
            Occurrence(recurrence_id=datetime(2024, 11, 3, 2, 30, tzinfo=OSLO),
                       start=datetime(2024, 11, 3, 10, 0, tzinfo=OSLO), end=datetime(2024, 11, 3, 11, 0, tzinfo=OSLO),
                       title="Moved review", agenda="short", location="Room 2"),
            Occurrence(recurrence_id=datetime(2024, 11, 17, 2, 30, tzinfo=OSLO), cancelled=True),
        ],
        busy=False, alarm_minutes=15,
        participants=[
            Participant(user_id=ident(s.bo), email="bo@example.com", name="Bo Ek", partstat=PartStat.ACCEPTED,
                        alarm_minutes=5, client_data="BEGIN:VCALENDAR\r\nX-BO:1\r\nEND:VCALENDAR\r\n"),
            Participant(person_id=s.person, partstat=PartStat.DECLINED),
            Participant(email="ext@partner.example", name="Ext", partstat=PartStat.TENTATIVE),
            Participant(user_id=ident(s.carl)),
        ],
        resource_ids=[s.projector, s.room],
        declined_resource_ids=[s.room],
        location="Main office", conference="https://meet.example/abc", priority=3,
        completed_at=datetime(2024, 10, 27, 5, 0, 1, 250000, tzinfo=UTC), cancelled=True, private=True,
        custom={s.budget: "1200.5", s.stage: "Offer", s.note: "æøå ✓"}, sequence=4,
        client_data="BEGIN:VALARM\r\nX-APPLE-THING:1\r\nEND:VALARM\r\n",
        created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def all_day_meeting(s: Seed) -> Followup:
    return new_meeting(s.anna, "Trade fair", s.types[Kind.MEETING], date(2024, 6, 3), date(2024, 6, 6),
                       recurrence=Recurrence(rule="FREQ=YEARLY", exdates=[date(2025, 6, 3)]),
                       overrides=[Occurrence(recurrence_id=date(2026, 6, 3), start=date(2026, 6, 4),
                                             end=date(2026, 6, 5))])


def floating_meeting(s: Seed) -> Followup:
    return new_meeting(s.anna, "Lunch", s.types[Kind.MEETING], datetime(2024, 6, 3, 11, 30),
                       recurrence=Recurrence(rdates=[datetime(2024, 6, 10, 11, 30)]))


def utc_meeting(s: Seed) -> Followup:
    return new_meeting(s.bo, "Standup", s.types[Kind.MEETING], datetime(2024, 6, 3, 13, 0, 0, 5, tzinfo=UTC))


def zoned_todo(s: Seed) -> Followup:
    return new_todo(s.anna, "Send offer", s.types[Kind.TODO], datetime(2024, 6, 7, 16, 0, tzinfo=NEW_YORK),
                    priority=1, custom={s.stage: "Lead"}, alarm_minutes=0)


def client_todo_without_deadline(s: Seed) -> Followup:
    return Followup(owner_id=ident(s.anna), kind=Kind.TODO, title="Someday", type_id=s.types[Kind.TODO],
                    client_data="X-MOZ-GENERATION:3\r\n")


def made_call(s: Seed) -> Followup:
    call = new_call(s.bo, "Call Dina", s.types[Kind.CALL], date(2024, 6, 3), person_id=s.person)
    record_call_made(call, s.bo, at=datetime(2024, 6, 3, 14, 0, tzinfo=UTC))
    return call


BUILDERS: list[Callable[[Seed], Followup]] = [everything_meeting, all_day_meeting, floating_meeting, utc_meeting,
                                              zoned_todo, client_todo_without_deadline, made_call]


# -- directory records -----------------------------------------------------------------


def test_directory_records_round_trip(store_engine: Engine) -> None:
    s = add_seed(store_engine)
    with UnitOfWork(store_engine, write=False) as uow:
        assert uow.users.get(ident(s.bo)) == s.bo
        assert uow.users.by_login("anna") == s.anna
        assert uow.users.by_email("BO@example.com") == s.bo
        assert uow.users.by_email("nobody@example.com") is None
        assert [u.login for u in uow.users.list()] == ["anna", "bo", "carl"]
        assert uow.companies.get(s.company) == Company("Acme AS", id=s.company)
        assert uow.companies.by_name("globex") == Company("Globex", id=s.other_company)
        assert uow.companies.by_name(str(s.company)).name == "Acme AS"
        assert uow.persons.get(s.person) == Person("Dina Fjell", company_id=s.company, email="dina@acme.example",
                                                   id=s.person)
        assert uow.persons.by_email("DINA@acme.example") == uow.persons.get(s.person)
        assert uow.sales.get(s.sale) == Sale("Acme renewal", company_id=s.company, id=s.sale)
        assert uow.projects.get(s.project) == Project("Rollout", id=s.project)
        assert uow.resources.get(s.room) == Resource("room-1", "Room 1", ResourceKind.ROOM,
                                                     email="room-1@example.com", id=s.room)
        assert uow.resources.by_login("projector").kind is ResourceKind.EQUIPMENT
        assert uow.resources.by_email("ROOM-1@example.com") == uow.resources.get(s.room)
        assert uow.fields.get(s.stage) == FieldDef("Stage", FieldType.LIST, ["Lead", "Offer", "Won"], id=s.stage)
        assert uow.fields.get(s.note).type is FieldType.TEXT
        assert [(t.name, t.kind, t.busy) for t in uow.types.list()] == [(t.name, t.kind, t.busy) for t in SEED_TYPES]
        assert uow.types.default(Kind.CALL) == FollowupType("Phone call (outgoing)", Kind.CALL, True,
                                                            id=s.types[Kind.CALL])
        for missing in (lambda: uow.users.get(999), lambda: uow.users.by_login("nobody"),
                        lambda: uow.companies.by_name("Initech"), lambda: uow.resources.by_login("room-9"),
                        lambda: uow.fields.get(999), lambda: uow.types.get(999)):
            with pytest.raises(NotFound):
                missing()


def test_directory_record_update(seed: Seed) -> None:
    with UnitOfWork(seed.engine) as uow:
        uow.users.update(replace(seed.anna, meeting_minutes=45, tz="Asia/Tokyo"))
        uow.companies.update(Company("Acme Group", id=seed.company))
        uow.commit()
    with UnitOfWork(seed.engine, write=False) as uow:
        assert uow.users.get(ident(seed.anna)) == replace(seed.anna, meeting_minutes=45, tz="Asia/Tokyo")
        assert uow.companies.get(seed.company).name == "Acme Group"
        with pytest.raises(NotFound):
            uow.projects.update(Project("Ghost", id=999))


def test_same_name_twice_needs_the_id(seed: Seed) -> None:
    with UnitOfWork(seed.engine) as uow:
        uow.companies.add(Company("ACME as"))
        with pytest.raises(Conflict, match="id"):
            uow.companies.by_name("acme AS")


def test_duplicate_user_login_is_a_conflict(seed: Seed) -> None:
    before = dump(seed.engine)
    with UnitOfWork(seed.engine) as uow, pytest.raises(Conflict):
        uow.users.add(User("anna", "Another Anna", "anna2@example.com"))
    with UnitOfWork(seed.engine) as uow:
        uow.users.add(User("dora", "Dora", "dora@example.com"))
        with pytest.raises(Conflict):
            uow.users.add(User("dora", "Dora Two", "dora2@example.com"))
    with UnitOfWork(seed.engine) as uow, pytest.raises(Conflict):
        uow.users.update(replace(seed.bo, login="anna"))
    assert dump(seed.engine) == before


@pytest.mark.parametrize("make", [
    lambda: Resource("room-1", "Room One"),
    lambda: FollowupType("To-do", Kind.TODO),
    lambda: FieldDef("Budget", FieldType.TEXT),
], ids=["resource", "type", "field"])
def test_other_unique_names_are_conflicts(seed: Seed, make: Callable[[], Any]) -> None:
    record = make()
    before = dump(seed.engine)
    with UnitOfWork(seed.engine) as uow, pytest.raises(Conflict):
        repositories: dict[type, Any] = {Resource: uow.resources, FollowupType: uow.types, FieldDef: uow.fields}
        repositories[type(record)].add(record)
    assert dump(seed.engine) == before


def test_person_and_sale_of_unknown_company_are_not_found(seed: Seed) -> None:
    before = dump(seed.engine)
    with UnitOfWork(seed.engine) as uow:
        with pytest.raises(NotFound, match="company"):
            uow.persons.add(Person("Eve", company_id=999))
        with pytest.raises(NotFound, match="company"):
            uow.sales.add(Sale("Big deal", company_id=999))
        uow.commit()
    assert dump(seed.engine) == before


# -- follow-ups round-trip --------------------------------------------------------------


@pytest.mark.parametrize("build", BUILDERS, ids=[b.__name__ for b in BUILDERS])
def test_followup_round_trips_every_field(seed: Seed, build: Callable[[Seed], Followup]) -> None:
    f = build(seed)
    original = f.copy()
    save(seed, f)
    assert f.id is not None and f.created_at is not None and f.modified_at is not None
    got = load(seed, f.id)
    assert_same(got, f)
    assert_same(replace(got, id=None, created_at=original.created_at, modified_at=None), original)
    with UnitOfWork(seed.engine, write=False) as uow:
        assert uow.followups.by_uid(f.uid) == [got]
        assert uow.followups.get_many([f.id, 999]) == [got]
        assert uow.followups.ids() == [f.id] and uow.followups.count() == 1


def test_everything_meeting_really_sets_everything(seed: Seed) -> None:
    """Guard for the round-trip test: no field of the full example is left at its default
    (but the deadline, which a meeting cannot have; the to-do and call examples set it)."""
    f = everything_meeting(seed)
    f.id, f.modified_at = 1, f.created_at
    defaults = Followup(owner_id=0, kind=Kind.TODO, title="", type_id=0, uid="")
    unset = [x.name for x in fields(Followup) if getattr(f, x.name) == getattr(defaults, x.name)]
    assert unset == ["deadline"]


def test_many_followups_keep_their_own_children(seed: Seed) -> None:
    built = [save(seed, b(seed)) for b in BUILDERS]
    with UnitOfWork(seed.engine, write=False) as uow:
        assert uow.followups.get_many([ident(f) for f in reversed(built)]) == list(reversed(built))


@pytest.mark.parametrize("shared_uid", [False, True], ids=["distinct UIDs", "one UID twice"])
def test_add_many_is_add_for_each(seed: Seed, shared_uid: bool) -> None:
    """The bulk path (an import) stores what :meth:`add` would, each follow-up with its own id,
    children and change-log entry, however their empty fields differ; a UID that comes twice
    (the same meeting for two owners) still gets each row its own id."""
    built = [b(seed) for b in BUILDERS] * 3
    built = [f.copy() for f in built]
    for i, f in enumerate(built):
        f.uid = f"bulk-{i}"
    if shared_uid:
        built[1].uid = built[0].uid
    with UnitOfWork(seed.engine, actor="import") as uow:
        added = uow.followups.add_many(built)
        uow.commit()
    assert len({ident(f) for f in added}) == len(built)
    with UnitOfWork(seed.engine, write=False) as uow:
        for f in added:
            assert_same(uow.followups.get(ident(f)), f)
        assert [c.followup_id for c in uow.changes()] == [f.id for f in added]
        assert {c.action for c in uow.changes()} == {"create"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1),
                          timezones=st.one_of(st.none(), st.just(UTC), st.timezones())),
       minutes=st.integers(min_value=0, max_value=10_000))
def test_any_moment_round_trips_through_the_database(seed: Seed, start: datetime, minutes: int) -> None:
    start = start.replace(microsecond=0)
    f = save(seed, new_meeting(seed.anna, "m", seed.types[Kind.MEETING], start, start + timedelta(minutes=minutes)))
    assert_same(load(seed, f.id), f)


# -- update and delete --------------------------------------------------------------------


def test_update_replaces_children(seed: Seed) -> None:
    f = save(seed, new_meeting(
        seed.anna, "Plan", seed.types[Kind.MEETING], datetime(2024, 6, 3, 9, tzinfo=OSLO),
        participants=[Participant(user_id=ident(seed.bo)), Participant(email="x@partner.example"),
                      Participant(person_id=seed.person)],
        resource_ids=[seed.room, seed.projector], custom={seed.budget: "10", seed.stage: "Lead"}))
    f.participants = [Participant(person_id=seed.person, partstat=PartStat.ACCEPTED),
                      Participant(user_id=ident(seed.carl), partstat=PartStat.TENTATIVE)]
    f.resource_ids = [seed.projector, seed.room]
    f.custom = {seed.stage: "won", seed.note: "n"}
    f.recurrence = Recurrence(rule="FREQ=DAILY;COUNT=3")
    f.title, f.sequence = "Plan v2", f.sequence + 1
    with UnitOfWork(seed.engine, actor="bo", source=Source.CLIENT) as uow:
        uow.followups.update(f)
        uow.commit()
    assert f.custom[seed.stage] == "Won"
    got = load(seed, f.id)
    assert_same(got, f)
    with seed.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ParticipantRow)) == 2
        assert conn.scalar(select(func.count()).select_from(BookingRow)) == 2
        assert conn.scalar(select(func.count()).select_from(ValueRow)) == 2
    got.participants, got.resource_ids, got.custom, got.recurrence = [], [], {}, None
    with UnitOfWork(seed.engine) as uow:
        uow.followups.update(got)
        uow.commit()
    assert_same(load(seed, f.id), got)
    with seed.engine.connect() as conn:
        for row in (ParticipantRow, BookingRow, ValueRow):
            assert conn.scalar(select(func.count()).select_from(row)) == 0


@pytest.mark.parametrize("held", [False, True], ids=["by statements", "row held by the unit of work"])
def test_drop_leaves_what_delete_leaves(seed: Seed, held: bool) -> None:
    """``drop`` (a calendar DELETE's) removes by statements what ``delete`` removes
    through the ORM: the follow-up, its participants, bookings and custom values
    (ON DELETE CASCADE), and logs the same change."""
    keep = save(seed, zoned_todo(seed))
    gone = save(seed, everything_meeting(seed))
    assert gone.participants and gone.resource_ids and gone.custom
    with UnitOfWork(seed.engine) as uow:
        if held:
            uow.followups.get(ident(gone))
        assert uow.followups.owner_and_uid(ident(gone)) == (gone.owner_id, gone.uid)
        uow.followups.drop(ident(gone), gone.uid)
        uow.commit()
    with UnitOfWork(seed.engine, write=False) as uow:
        with pytest.raises(NotFound):
            uow.followups.owner_and_uid(ident(gone))
        assert uow.followups.ids() == [keep.id]
        last = uow.changes()[-1]
        assert (last.followup_id, last.uid, last.action) == (gone.id, gone.uid, "delete")
    with seed.engine.connect() as conn:
        for row, children in ((ParticipantRow, keep.participants), (BookingRow, keep.resource_ids),
                              (ValueRow, keep.custom)):
            assert conn.scalar(select(func.count()).select_from(row)) == len(children)


def test_update_keeps_created_and_advances_modified(seed: Seed) -> None:
    f = save(seed, zoned_todo(seed))
    created, modified = f.created_at, f.modified_at
    assert created is not None and modified is not None
    with UnitOfWork(seed.engine) as uow:
        uow.followups.update(f)
        uow.commit()
    got = load(seed, f.id)
    assert got.created_at == created
    assert got.modified_at is not None and got.modified_at >= modified


def test_delete(seed: Seed) -> None:
    keep = save(seed, zoned_todo(seed))
    gone = save(seed, everything_meeting(seed))
    with UnitOfWork(seed.engine) as uow:
        deleted = uow.followups.delete(ident(gone))
        uow.commit()
    assert_same(deleted, gone)
    with UnitOfWork(seed.engine, write=False) as uow:
        with pytest.raises(NotFound):
            uow.followups.get(ident(gone))
        assert uow.followups.ids() == [keep.id]
        with pytest.raises(NotFound):
            uow.followups.delete(ident(gone))
    with seed.engine.connect() as conn:
        for row, children in ((ParticipantRow, keep.participants), (BookingRow, keep.resource_ids),
                              (ValueRow, keep.custom)):
            assert conn.scalar(select(func.count()).select_from(row)) == len(children)


def test_update_of_a_missing_followup_is_not_found(seed: Seed) -> None:
    f = zoned_todo(seed)
    before = dump(seed.engine)
    with UnitOfWork(seed.engine) as uow:
        with pytest.raises(NotFound):
            uow.followups.update(f)
        f.id = 999
        with pytest.raises(NotFound):
            uow.followups.update(f)
        uow.commit()
    assert dump(seed.engine) == before


# -- the change log --------------------------------------------------------------------------


def changes(s: Seed) -> list[tuple[int | None, str, str, str, str]]:
    with UnitOfWork(s.engine, write=False) as uow:
        return [(c.followup_id, c.uid, c.action, c.actor, c.source) for c in uow.changes()]


def test_change_log_has_one_entry_per_write(seed: Seed) -> None:
    assert changes(seed) == []
    f = save(seed, zoned_todo(seed), actor="anna", source=Source.CRM)
    assert changes(seed) == [(f.id, f.uid, "create", "anna", "crm")]
    f.title = "Send the offer"
    with UnitOfWork(seed.engine, actor="anna@thunderbird", source=Source.CLIENT) as uow:
        uow.followups.update(f)
        mark_done(f)
        uow.followups.update(f)
        uow.commit()
    with UnitOfWork(seed.engine, actor="bo", source=Source.CLIENT) as uow:
        uow.followups.delete(ident(f))
        uow.commit()
    assert changes(seed) == [
        (f.id, f.uid, "create", "anna", "crm"),
        (f.id, f.uid, "update", "anna@thunderbird", "client"),
        (f.id, f.uid, "update", "anna@thunderbird", "client"),
        (f.id, f.uid, "delete", "bo", "client"),
    ]
    with UnitOfWork(seed.engine, write=False) as uow:
        log = list(uow.changes())
        assert [c.id for c in log] == sorted(c.id for c in log)
        assert [c.id for c in uow.changes(since=log[1].id)] == [c.id for c in log[2:]]
        assert len(uow.changes(limit=1)) == 1
        assert all(c.at is not None and c.at <= datetime.now(UTC).replace(tzinfo=None) for c in log)


def test_uncommitted_unit_of_work_changes_nothing(seed: Seed) -> None:
    existing = save(seed, zoned_todo(seed))
    before = dump(seed.engine)
    with UnitOfWork(seed.engine) as uow:
        uow.followups.add(everything_meeting(seed))
        existing.title = "changed"
        uow.followups.update(existing)
        uow.followups.delete(ident(existing))
        uow.users.add(User("dora", "Dora", "dora@example.com"))
        uow.companies.add(Company("Initech"))
    assert dump(seed.engine) == before


def test_unit_of_work_that_raises_changes_nothing(seed: Seed) -> None:
    existing = save(seed, zoned_todo(seed))
    before = dump(seed.engine)
    with pytest.raises(RuntimeError, match="boom"), UnitOfWork(seed.engine) as uow:
        uow.followups.add(everything_meeting(seed))
        uow.followups.delete(ident(existing))
        uow.resources.add(Resource("room-2", "Room 2"))
        uow.session.flush()
        raise RuntimeError("boom")
    assert dump(seed.engine) == before


def test_invalid_followup_changes_nothing(seed: Seed) -> None:
    before = dump(seed.engine)
    bad = zoned_todo(seed)
    bad.title = " "
    with UnitOfWork(seed.engine) as uow:
        with pytest.raises(InvalidFollowup):
            uow.followups.add(bad)
        uow.commit()
    assert dump(seed.engine) == before


# -- unknown references ---------------------------------------------------------------------------

UNKNOWN: dict[str, Callable[[Followup], None]] = {
    "owner": lambda f: setattr(f, "owner_id", 999),
    "type": lambda f: setattr(f, "type_id", 999),
    "company": lambda f: setattr(f, "company_id", 999),
    "person": lambda f: setattr(f, "person_id", 999),
    "sale": lambda f: setattr(f, "sale_id", 999),
    "project": lambda f: setattr(f, "project_id", 999),
    "resource": lambda f: f.resource_ids.append(999),
    "participant user": lambda f: f.participants.append(Participant(user_id=999)),
    "participant person": lambda f: f.participants.append(Participant(person_id=999)),
    "custom field": lambda f: f.custom.__setitem__(999, "x"),
}


@pytest.mark.parametrize("break_ref", UNKNOWN.values(), ids=UNKNOWN.keys())
def test_unknown_reference_is_not_found_and_changes_nothing(seed: Seed, break_ref: Callable[[Followup], None]) -> None:
    existing = save(seed, everything_meeting(seed))
    before = dump(seed.engine)
    new = new_meeting(seed.anna, "x", seed.types[Kind.MEETING], datetime(2024, 6, 3, 9), resource_ids=[seed.room])
    break_ref(new)
    break_ref(existing)
    with UnitOfWork(seed.engine) as uow:
        with pytest.raises(NotFound, match="999"):
            uow.followups.add(new)
        with pytest.raises(NotFound, match="999"):
            uow.followups.update(existing)
        uow.commit()  # the failed writes left nothing behind to commit
    assert dump(seed.engine) == before


def test_type_of_the_wrong_kind_is_invalid(seed: Seed) -> None:
    existing = save(seed, zoned_todo(seed))
    before = dump(seed.engine)
    meeting = new_meeting(seed.anna, "x", seed.types[Kind.TODO], datetime(2024, 6, 3, 9))
    existing.type_id = seed.types[Kind.CALL]
    with UnitOfWork(seed.engine) as uow:
        with pytest.raises(InvalidFollowup, match="To-do"):
            uow.followups.add(meeting)
        with pytest.raises(InvalidFollowup, match="call"):
            uow.followups.update(existing)
        uow.commit()
    assert dump(seed.engine) == before


def test_custom_values_are_normalized_by_the_store(seed: Seed) -> None:
    f = zoned_todo(seed)
    f.custom = {seed.stage: "OFFER", seed.budget: "1e2"}
    save(seed, f)
    assert load(seed, f.id).custom == {seed.stage: "Offer", seed.budget: "100"}
    f.custom = {seed.stage: "Lost"}
    with UnitOfWork(seed.engine) as uow, pytest.raises(InvalidFollowup, match="Stage"):
        uow.followups.update(f)


# -- the CRM's views -------------------------------------------------------------------------------


def window() -> tuple[datetime, datetime]:
    """Monday 3 June 2024, 06:00 to 18:00 UTC (naive UTC, as the store takes it)."""
    return datetime(2024, 6, 3, 6, 0), datetime(2024, 6, 3, 18, 0)


def test_diary(seed: Seed) -> None:
    meeting = seed.types[Kind.MEETING]
    anna, bo, carl = seed.anna, seed.bo, seed.carl
    def at(hour: int, minute: int = 0, day: int = 3) -> datetime:
        return datetime(2024, 6, day, hour, minute, tzinfo=UTC)

    def invite(who: User, partstat: PartStat) -> list[Participant]:
        return [Participant(user_id=ident(who), partstat=partstat)]

    inside = save(seed, new_meeting(anna, "inside", meeting, at(9), at(10)))
    save(seed, new_meeting(anna, "before", meeting, at(4), at(5)))
    save(seed, new_meeting(anna, "after", meeting, at(18), at(19)))
    overlapping_start = save(seed, new_meeting(anna, "overlaps start", meeting, at(5), at(7)))
    overlapping_end = save(seed, new_meeting(anna, "overlaps end", meeting, at(17), at(20)))
    spanning = save(seed, new_meeting(anna, "spans", meeting, at(0, day=1), at(0, day=5)))
    accepted = save(seed, new_meeting(bo, "bo invites", meeting, at(11), at(12),
                                      participants=invite(anna, PartStat.ACCEPTED)))
    pending = save(seed, new_meeting(carl, "carl invites", meeting, at(12),
                                     participants=invite(anna, PartStat.NEEDS_ACTION)))
    save(seed, new_meeting(bo, "declined", meeting, at(13), at(14), participants=invite(anna, PartStat.DECLINED)))
    save(seed, new_meeting(carl, "not invited", meeting, at(9), at(10), participants=invite(bo, PartStat.ACCEPTED)))
    five_weeks = timedelta(days=35)
    recurring = save(seed, new_meeting(anna, "weekly", meeting, at(8) - five_weeks, at(9) - five_weeks,
                                       recurrence=Recurrence(rule="FREQ=WEEKLY")))
    extra_dates = save(seed, new_meeting(anna, "rdates", meeting, at(8, day=1), at(9, day=1),
                                         recurrence=Recurrence(rdates=[at(8)])))
    all_day = save(seed, new_meeting(anna, "all day", meeting, date(2024, 6, 3)))
    save(seed, new_meeting(anna, "all day before", meeting, date(2024, 6, 1)))
    call = new_call(anna, "call", seed.types[Kind.CALL], at(15))
    save(seed, call.copy())  # planned: in the to-do list, not the diary
    record_call_made(call, anna, at=at(15))
    call.uid = "made-call"
    made = save(seed, call)
    save(seed, new_todo(anna, "todo", seed.types[Kind.TODO], at(10)))
    scheduled_todo = save(seed, new_todo(anna, "scheduled todo", seed.types[Kind.TODO], at(16),
                                         start=at(14), end=at(15)))

    with UnitOfWork(seed.engine, write=False) as uow:
        got = uow.followups.diary(ident(anna), *window())
        bo_got = uow.followups.diary(ident(bo), *window())
    expected = [recurring, spanning, extra_dates, overlapping_start, all_day, inside, accepted, pending, scheduled_todo,
                made, overlapping_end]
    assert sorted(f.title for f in got) == sorted(f.title for f in expected)
    assert [f.title for f in got] == [f.title for f in sorted(expected, key=lambda f: (start_utc(f, anna), ident(f)))]
    assert "declined" not in [f.title for f in got] and "bo invites" in [f.title for f in bo_got]
    assert "not invited" in [f.title for f in bo_got] and "declined" in [f.title for f in bo_got]


def start_utc(f: Followup, owner: User) -> datetime:
    start = f.start
    assert start is not None
    if not isinstance(start, datetime):
        start = datetime(start.year, start.month, start.day)
    if start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(owner.tz))
    return start.astimezone(UTC)


def test_diary_reads_floating_and_all_day_in_the_owners_zone(seed: Seed) -> None:
    meeting = seed.types[Kind.MEETING]
    # 00:00-01:00 Oslo floating is 22:00-23:00 UTC the day before; New York 00:00 is 04:00 UTC.
    oslo = save(seed, new_meeting(seed.anna, "oslo", meeting, datetime(2024, 6, 4, 0, 0)))
    york = save(seed, new_meeting(seed.bo, "york", meeting, datetime(2024, 6, 4, 0, 0)))
    with UnitOfWork(seed.engine, write=False) as uow:
        late_evening = datetime(2024, 6, 3, 21), datetime(2024, 6, 3, 23)
        early_morning = datetime(2024, 6, 4, 4), datetime(2024, 6, 4, 5)
        assert [f.id for f in uow.followups.diary(ident(seed.anna), *late_evening)] == [oslo.id]
        assert uow.followups.diary(ident(seed.bo), *late_evening) == []
        assert [f.id for f in uow.followups.diary(ident(seed.bo), *early_morning)] == [york.id]
        assert uow.followups.diary(ident(seed.anna), *early_morning) == []


def test_todo_list(seed: Seed) -> None:
    anna = seed.anna
    todo, call = seed.types[Kind.TODO], seed.types[Kind.CALL]
    third = save(seed, new_todo(anna, "third", todo, datetime(2024, 6, 7, 12, 0, tzinfo=UTC)))
    first = save(seed, new_todo(anna, "first", todo, date(2024, 6, 1)))  # midnight Oslo
    second = save(seed, new_call(anna, "second: planned call", call, datetime(2024, 6, 3, 9, 0, tzinfo=NEW_YORK)))
    undated = save(seed, client_todo_without_deadline(seed))
    done = new_todo(anna, "done", todo, date(2024, 5, 1))
    mark_done(done)
    save(seed, done)
    made = new_call(anna, "made call", call, date(2024, 5, 2))
    record_call_made(made, anna)
    save(seed, made)
    save(seed, new_todo(seed.bo, "bo's", todo, date(2024, 5, 1)))
    save(seed, new_meeting(anna, "meeting", seed.types[Kind.MEETING], datetime(2024, 5, 1, 9)))
    with UnitOfWork(seed.engine, write=False) as uow:
        assert [f.title for f in uow.followups.todo(ident(anna))] == [
            f.title for f in (first, second, third, undated)]
        assert [f.title for f in uow.followups.todo(ident(seed.carl))] == []


def test_activities(seed: Seed) -> None:
    s = seed
    refs: dict[str, Any] = {"company_id": s.company, "person_id": s.person, "sale_id": s.sale, "project_id": s.project}
    meeting = save(s, new_meeting(s.anna, "meeting", s.types[Kind.MEETING], datetime(2024, 6, 5, 9, tzinfo=UTC),
                                  **refs))
    open_todo = save(s, new_todo(s.bo, "open todo", s.types[Kind.TODO], datetime(2024, 6, 4, 9, tzinfo=UTC), **refs))
    done_todo = new_todo(s.carl, "done todo", s.types[Kind.TODO], datetime(2024, 6, 1, 9, tzinfo=UTC), **refs)
    mark_done(done_todo)
    save(s, done_todo)
    call = save(s, new_call(s.anna, "planned call", s.types[Kind.CALL], datetime(2024, 6, 2, 9, tzinfo=UTC), **refs))
    undated = client_todo_without_deadline(s)
    for key, value in refs.items():
        setattr(undated, key, value)
    save(s, undated)
    save(s, new_todo(s.anna, "elsewhere", s.types[Kind.TODO], date(2024, 6, 1), company_id=s.other_company))
    expected = [done_todo.title, call.title, open_todo.title, meeting.title, undated.title]
    with UnitOfWork(s.engine, write=False) as uow:
        for key, value in refs.items():
            assert [f.title for f in uow.followups.activities(**{key: value})] == expected, key
        assert [f.title for f in uow.followups.activities(company_id=s.other_company)] == ["elsewhere"]
        assert uow.followups.activities(company_id=s.company, project_id=999) == []
        with pytest.raises(InvalidFollowup):
            uow.followups.activities()


# -- migrations -------------------------------------------------------------------------------------


def test_migrate_twice_is_a_no_op(db_url: str) -> None:
    engine = db.get_engine(db_url)
    assert not db.schema_current(engine)
    assert db.migrate(db_url) is engine
    assert db.schema_current(engine)
    add_seed(engine)
    before = dump(engine)
    db.migrate(db_url)
    assert db.schema_current(engine)
    assert dump(engine) == before


def test_the_head_read_from_the_files_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    engine = db.get_engine("sqlite://")
    assert db.head_revision() == ScriptDirectory.from_config(db.alembic_config(engine)).get_current_head()


def test_a_current_store_opens_without_importing_alembic(db_url: str) -> None:
    """Every server process opens the store at start; alembic (11 MiB resident)
    is imported only when there is something to migrate."""
    import subprocess
    import sys

    probe = ("import sys\nfrom server.services.followups import open_store\nopen_store(sys.argv[1])\n"
             "print('alembic' in sys.modules)")
    run = [sys.executable, "-c", probe, db_url]
    first = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["True"]  # an empty store: migrated with alembic
    again = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == ["False"]
    assert db.schema_current(db.get_engine(db_url))


def test_a_store_behind_the_head_is_migrated(db_url: str) -> None:
    from alembic import command

    engine = db.get_engine(db_url)
    command.upgrade(db.alembic_config(engine), "0005")
    assert db.stored_revision(engine) == "0005"
    assert not db.schema_current(engine)
    db.migrate(db_url)
    assert db.stored_revision(engine) == db.head_revision()


def test_upgrade_from_the_first_schema_dates_existing_tombstones(db_url: str) -> None:
    """A store made before tombstone pruning keeps its tombstones; they age from the upgrade."""
    from alembic import command
    from sqlalchemy import text

    engine = db.get_engine(db_url)
    command.upgrade(db.alembic_config(engine), "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO collections (id, principal, name, component, rev, props, modified_at) "
                          "VALUES (1, 'anna', 'tasks', 'VTODO', 7, '{}', :now)"), {"now": datetime(2026, 1, 1)})
        conn.execute(text("INSERT INTO tombstones (collection_id, href, rev) VALUES (1, 'gone.ics', 7)"))
    started = datetime.now(UTC).replace(tzinfo=None)
    db.migrate(db_url)
    assert db.schema_current(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pruned_rev FROM collections")).scalar_one() == 0
        href, rev, at = conn.execute(text("SELECT href, rev, at FROM tombstones")).one()
    assert (href, rev) == ("gone.ics", 7)
    at = datetime.fromisoformat(at) if isinstance(at, str) else at  # raw SQLite gives the stored text
    assert started - timedelta(seconds=5) <= at <= datetime.now(UTC).replace(tzinfo=None)


def test_migration_matches_the_models(store_engine: Engine) -> None:
    with store_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, Base.metadata) == []
        assert set(inspect(conn).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}


# -- concurrency ---------------------------------------------------------------------------------------


def test_concurrent_writers_all_succeed(seed: Seed) -> None:
    errors: list[BaseException] = []
    per_thread = 50

    def writer(owner: User) -> None:
        try:
            for i in range(per_thread):
                with UnitOfWork(seed.engine, actor=owner.login) as uow:
                    # read, yield to the other thread, then write: without SQLite's BEGIN IMMEDIATE
                    # the read lock could not be upgraded and one writer would fail at once
                    count = uow.followups.count()
                    time.sleep(0.001)
                    f = new_todo(owner, f"{owner.login} {i}", seed.types[Kind.TODO],
                                 date(2024, 6, 1) + timedelta(days=i), notes=str(count))
                    uow.followups.add(f)
                    uow.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(u,)) for u in (seed.anna, seed.bo)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with UnitOfWork(seed.engine, write=False) as uow:
        assert uow.followups.count() == 2 * per_thread
        assert len(uow.changes()) == 2 * per_thread
        assert len(uow.followups.todo(ident(seed.anna))) == per_thread
    with seed.engine.connect() as conn:
        assert conn.scalar(select(func.count(func.distinct(ChangeRow.followup_id)))) == 2 * per_thread
        assert conn.scalar(select(func.count()).select_from(FollowupRow)) == 2 * per_thread


def test_owner_changing_zone_moves_floating_and_all_day_followups(seed: Seed) -> None:
    """Floating times and dates are indexed in the owner's zone; when that zone
    changes, the diary and to-do list must follow it."""
    floating = save(seed, new_meeting(seed.anna, "floating", seed.types[Kind.MEETING], datetime(2024, 6, 4, 0, 0)))
    zoned = save(seed, new_meeting(seed.anna, "zoned", seed.types[Kind.MEETING],
                                   datetime(2024, 6, 4, 0, 0, tzinfo=OSLO)))
    due_today = save(seed, new_todo(seed.anna, "all-day deadline", seed.types[Kind.TODO], date(2024, 6, 4)))
    due_at_two = save(seed, new_todo(seed.anna, "zoned deadline", seed.types[Kind.TODO],
                                     datetime(2024, 6, 4, 2, 0, tzinfo=UTC)))
    with UnitOfWork(seed.engine, write=False) as uow:
        assert [f.id for f in uow.followups.todo(ident(seed.anna))] == [due_today.id, due_at_two.id]
    with UnitOfWork(seed.engine) as uow:
        uow.users.update(replace(seed.anna, tz="America/New_York"))
        uow.commit()
    with UnitOfWork(seed.engine, write=False) as uow:
        # 00:00 floating in New York is 04:00 UTC; the zoned one stays at 22:00 UTC the day before.
        assert [f.id for f in uow.followups.diary(ident(seed.anna), datetime(2024, 6, 4, 3),
                                                 datetime(2024, 6, 4, 5))] == [floating.id]
        assert [f.id for f in uow.followups.diary(ident(seed.anna), datetime(2024, 6, 3, 21),
                                                 datetime(2024, 6, 3, 23))] == [zoned.id]
        assert [f.id for f in uow.followups.todo(ident(seed.anna))] == [due_at_two.id, due_today.id]
