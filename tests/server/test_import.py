"""Import of calendar files (``server.services.importer``), on SQLite and PostgreSQL.

Files as Google Calendar, Outlook, Apple Calendar and Thunderbird export them
(``tests/data/import``): what comes in, that a second import changes nothing
in the database, that a broken file changes nothing, that an object a PUT
would refuse is skipped with the PUT's reason, that nobody's meeting is
taken over, that ids from another store never link the wrong record, and
that an export of this server comes back field by field.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from server.services import followups as services
from server.services.errors import InvalidCalendarData, NotFound
from server.services.importer import IGNORED_FIELDS, _shape, import_calendar
from server.services.transaction import transaction
from store import db
from store.domain import (
    Company,
    FieldDef,
    Followup,
    Kind,
    Occurrence,
    Participant,
    Person,
    Project,
    Recurrence,
    Resource,
    ResourceKind,
    Sale,
    User,
)
from store.orm import ChangeRow, CollectionRow
from tests.cli.dbdump import dump_tables
from tests.conftest import drop_schema, make_url

DATA = Path(__file__).resolve().parents[1] / "data" / "import"
OSLO = ZoneInfo("Europe/Oslo")
OUTLOOK_UID = "040000008200E00074C5B7101A82E008"
"""How every Outlook UID begins (its global object id's class id)."""


def people(engine: Engine) -> None:
    services.add_user(engine, User("anna", "Anna Berg", "anna@example.com", tz="Europe/Oslo"))
    services.add_user(engine, User("bjorn", "Bjørn Dahl", "bjorn@example.com", tz="Europe/Oslo"))
    services.add_resource(engine, Resource("fjord", "Room Fjord", ResourceKind.ROOM, "fjord@example.com"))


@pytest.fixture
def store(engine: Engine) -> Engine:
    people(engine)
    return engine


def state(engine: Engine) -> tuple[dict[str, int], int]:
    """Every collection's revision, and the number of change-log entries."""
    with transaction(engine, write=False) as uow:
        revs = {f"{r.principal}/{r.name}": r.rev for r in uow.session.scalars(select(CollectionRow))}
        return revs, uow.session.scalar(select(func.count()).select_from(ChangeRow)) or 0


def owned(engine: Engine, login: str) -> dict[str, Followup]:
    with transaction(engine, write=False) as uow:
        user = uow.users.by_login(login)
        rows = uow.followups.get_many(range(1, 1000))
        return {f.uid: f for f in rows if f.owner_id == user.id}


# -- files as the four applications export them ----------------------------------------------

FIXTURES = {
    "google_calendar_export.ics": (3, ["only overridden instances"]),
    "outlook_export.ics": (4, []),
    "apple_calendar_export.ics": (4, []),
    "thunderbird_export.ics": (5, []),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_an_export_imports_once_and_a_second_time_changes_nothing(store: Engine, db_url: str, name: str) -> None:
    created, skips = FIXTURES[name]
    data = (DATA / name).read_bytes()
    report = import_calendar(store, "anna", data)
    assert len(report.created) == created, report.as_dict()
    assert len(report.skipped) == len(skips)
    assert all(s in i.reason for i, s in zip(report.skipped, skips, strict=True))
    before, tables = state(store), dump_tables(db_url)

    again = import_calendar(store, "anna", data)
    assert again.counts() == {"created": 0, "updated": 0, "unchanged": created, "skipped": len(skips)}
    assert state(store) == before
    assert dump_tables(db_url) == tables


def test_what_the_exports_bring_in(store: Engine) -> None:
    for name in FIXTURES:
        import_calendar(store, "anna", (DATA / name).read_bytes())
    mine = owned(store, "anna")
    outlook = {f.title: f for uid, f in mine.items() if uid.startswith(OUTLOOK_UID)}
    series = outlook["Delivery status"]
    assert series.recurrence is not None and series.recurrence.rule == "FREQ=WEEKLY;COUNT=6;BYDAY=TU"
    assert len(series.recurrence.exdates) == 1 and len(series.overrides) == 1
    assert series.start == datetime(2024, 4, 2, 14, 0, tzinfo=OSLO)  # W. Europe Standard Time: a Windows name
    assert sorted(p.email or "" for p in series.participants) == ["kari.nordmann@partner.example",
                                                                  "ola@customer.example"]
    assert series.alarm_minutes == 15
    dentist = outlook["Dentist"]
    assert dentist.private
    holiday = mine["a9e3b7c1-2d4f-4a6b-8c0d-e1f2a3b4c5d6"]
    assert (holiday.start, holiday.end, holiday.busy) == (date(2024, 3, 28), date(2024, 4, 2), False)
    offer = mine["d2c1b0a9-8f7e-4d6c-5b4a-3f2e1d0c9b8a"]
    assert offer.kind is Kind.TODO and offer.completed_at is None and offer.priority == 1
    assert "PERCENT-COMPLETE:40" in (offer.client_data or "")
    travel = mine["e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a8b"]
    assert travel.completed_at is not None
    reminder = mine["8A7B6C5D-4E3F-4A1B-9C8D-7E6F5A4B3C2E"]
    assert reminder.kind is Kind.TODO and reminder.deadline == date(2024, 4, 20)
    google = mine["1lq7c3v0e2mbf4rq9s8h5t6k0a@google.com"]
    assert google.overrides[0].title == "Weekly planning (moved to ten)"
    assert "X-GOOGLE-CONFERENCE" in (google.client_data or "")
    assert "X-WR-CALNAME" not in (google.client_data or "")  # a property of the exported calendar, not of the event


# -- files that do not parse -------------------------------------------------------------------

BROKEN = {
    "truncated": (DATA / "truncated_export.ics").read_bytes(),
    "not UTF-8": (DATA / "thunderbird_export.ics").read_bytes().replace(b"Supplier", b"Leverand\xf8r"),
    "HTML": b"<!DOCTYPE html>\n<html><body>Sign in</body></html>\n",
    "empty": b"",
    "no components": b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nEND:VCALENDAR\r\n",
    "END closes the wrong BEGIN": b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
}


def test_a_file_that_does_not_parse_changes_nothing(store: Engine, db_url: str) -> None:
    import_calendar(store, "anna", (DATA / "apple_calendar_export.ics").read_bytes())
    tables = dump_tables(db_url)
    for label, data in BROKEN.items():
        with pytest.raises(InvalidCalendarData) as caught:
            import_calendar(store, "anna", data)
        message = str(caught.value)
        assert "\n" not in message and message, label
    assert "truncated" in str(pytest.raises(InvalidCalendarData, import_calendar, store, "anna",
                                            BROKEN["truncated"]).value)
    assert "not UTF-8" in str(pytest.raises(InvalidCalendarData, import_calendar, store, "anna",
                                            BROKEN["not UTF-8"]).value)
    with pytest.raises(NotFound):
        import_calendar(store, "nobody", (DATA / "outlook_export.ics").read_bytes())
    with pytest.raises(NotFound):
        import_calendar(store, "fjord", (DATA / "outlook_export.ics").read_bytes())  # a room has no calendars to fill
    assert dump_tables(db_url) == tables


def event(uid: str, *lines: str, component: str = "VEVENT") -> str:
    body = "\r\n".join(lines)
    return (f"BEGIN:{component}\r\nUID:{uid}\r\nDTSTAMP:20240401T000000Z\r\n{body}\r\nEND:{component}\r\n")


def calendar(*components: str) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + "".join(components)
            + "END:VCALENDAR\r\n").encode("utf-8")


GOOD = event("good-1", "SUMMARY:Good", "DTSTART:20240410T100000Z", "DTEND:20240410T110000Z")


def test_a_refused_object_is_skipped_with_the_puts_reason_and_the_rest_comes_in(store: Engine) -> None:
    data = calendar(
        GOOD,
        event("backwards", "SUMMARY:Backwards", "DTSTART:20240410T100000Z", "DTEND:20240410T090000Z"),
        event("zone", "SUMMARY:Zone", "DTSTART;TZID=Mars/Olympus:20240410T100000"),
        event("journal", "SUMMARY:Notes", component="VJOURNAL"),
        event("fb", component="VFREEBUSY"),
        "BEGIN:VEVENT\r\nSUMMARY:No UID\r\nDTSTART:20240410T100000Z\r\nEND:VEVENT\r\n",
        event("todo-1", "SUMMARY:A to-do", "DUE;VALUE=DATE:20240412", component="VTODO"),
    )
    report = import_calendar(store, "anna", data)
    assert [i.uid for i in report.created] == ["good-1", "todo-1"]
    reasons = {i.uid or "(none)": i.reason for i in report.skipped}
    assert set(reasons) == {"backwards", "zone", "journal", "fb", "(none)"}
    assert "end" in reasons["backwards"].lower()
    assert "Mars/Olympus" in reasons["zone"]
    assert reasons["journal"].startswith("VJOURNAL components are not stored here")
    assert reasons["fb"].startswith("VFREEBUSY components are not stored here")
    assert "UID" in reasons["(none)"]
    assert set(owned(store, "anna")) == {"good-1", "todo-1"}
    assert owned(store, "anna")["todo-1"].kind is Kind.TODO


def test_a_changed_object_is_updated_through_the_put_path(store: Engine) -> None:
    import_calendar(store, "anna", calendar(GOOD))
    (revs, changes) = state(store)
    report = import_calendar(store, "anna", calendar(GOOD.replace("SUMMARY:Good", "SUMMARY:Better")))
    assert [i.uid for i in report.updated] == ["good-1"]
    assert owned(store, "anna")["good-1"].title == "Better"
    after_revs, after_changes = state(store)
    assert after_changes == changes + 1
    assert after_revs["anna/meetings"] == revs["anna/meetings"] + 1


def test_nobody_elses_meeting_is_taken_over(store: Engine, db_url: str) -> None:
    with transaction(store, write=False) as uow:
        anna, bjorn = uow.users.by_login("anna"), uow.users.by_login("bjorn")
        meeting_type = uow.types.list()[0]
    start = datetime(2024, 4, 10, 10, tzinfo=OSLO)
    for uid, invited in (("bjorns-invitation", [Participant(user_id=anna.id)]), ("bjorns-own", [])):
        services.create(store, Followup(owner_id=bjorn.id, kind=Kind.MEETING, title="Bjørn's", type_id=meeting_type.id,
                                        uid=uid, start=start, end=start + timedelta(hours=1), participants=invited))
    tables = dump_tables(db_url)
    report = import_calendar(store, "anna", calendar(
        event("bjorns-invitation", "SUMMARY:Mine now", "DTSTART:20240410T100000Z", "DTEND:20240410T110000Z"),
        event("bjorns-own", "SUMMARY:Mine too", "DTSTART:20240410T100000Z", "DTEND:20240410T110000Z")))
    reasons = {i.uid: i.reason for i in report.skipped}
    assert reasons["bjorns-invitation"].startswith("already in anna's calendar as an invitation from bjorn")
    assert "bjorn's meeting" in reasons["bjorns-own"] and "not invited" in reasons["bjorns-own"]
    assert dump_tables(db_url) == tables


def test_dry_run_reports_and_writes_nothing(store: Engine, db_url: str) -> None:
    tables = dump_tables(db_url)
    report = import_calendar(store, "anna", (DATA / "thunderbird_export.ics").read_bytes(), dry_run=True)
    assert report.dry_run and len(report.created) == 5
    assert dump_tables(db_url) == tables


def test_ids_of_another_store_never_link_the_wrong_record(store: Engine) -> None:
    with transaction(store, actor="test") as uow:
        acme = uow.companies.add(Company("Acme AS"))
        uow.companies.add(Company("Nordlys Energi"))
        sale = uow.sales.add(Sale("Solar panels", acme.id))
        uow.commit()
    data = calendar(
        event("same", "SUMMARY:Same names", "DTSTART:20240410T100000Z", "DTEND:20240410T110000Z",
              f"CONTACT;X-CRM-ID=company/{acme.id}:Acme AS",
              f"X-CRM-SALE;X-CRM-NAME=Solar panels:{sale.id}"),
        event("other", "SUMMARY:Another store's ids", "DTSTART:20240411T100000Z", "DTEND:20240411T110000Z",
              f"CONTACT;X-CRM-ID=company/{acme.id}:Fjellkraft AS",
              f"X-CRM-SALE;X-CRM-NAME=Wind turbines:{sale.id}",
              "ATTENDEE;CN=Ola Other:urn:x-crm:person:77"),
        event("unknown", "SUMMARY:Unknown ids", "DTSTART:20240412T100000Z", "DTEND:20240412T110000Z",
              "CONTACT;X-CRM-ID=company/999:Somewhere AS"))
    report = import_calendar(store, "anna", data)
    assert len(report.created) == 3
    notes = {i.uid: i.notes for i in report.created}
    assert notes["same"] == []
    assert any("Fjellkraft AS" in n and "not linked" in n for n in notes["other"])
    assert any("Wind turbines" in n for n in notes["other"])
    assert any("person 77" in n for n in notes["other"])
    assert any("company/999" in n for n in notes["unknown"])
    mine = owned(store, "anna")
    assert (mine["same"].company_id, mine["same"].sale_id) == (acme.id, sale.id)
    assert (mine["other"].company_id, mine["other"].sale_id, mine["other"].participants) == (None, None, [])
    assert "Fjellkraft AS" in (mine["other"].client_data or "")  # the text stays, for people to read
    assert "Somewhere AS" in (mine["unknown"].client_data or "")
    assert import_calendar(store, "anna", data).counts()["unchanged"] == 3


# -- export, then import into another store ---------------------------------------------------


@pytest.fixture
def second(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """Another empty store on the same backend."""
    folder = tmp_path / "second"
    folder.mkdir()
    url, schema = make_url(backend, folder)
    yield services.open_store(url)
    db.dispose_all()
    drop_schema(schema)


def directory(engine: Engine) -> dict[str, int]:
    """The same records, in the same order (so with the same ids), in any store."""
    people(engine)
    with transaction(engine, actor="test") as uow:
        acme = uow.companies.add(Company("Acme AS"))
        per = uow.persons.add(Person("Per Olsen", acme.id, phone="+47 22 00 00 00"))
        sale = uow.sales.add(Sale("Solar panels", acme.id))
        project = uow.projects.add(Project("Rollout"))
        budget = uow.fields.add(FieldDef("Budget"))
        found = {f"type:{t.kind.value}:{n}": t.id for kind in Kind
                 for n, t in enumerate(t for t in uow.types.list() if t.kind is kind)}
        found.update(fjord=uow.resources.by_login("fjord").id, bjorn=uow.users.by_login("bjorn").id,
                     anna=uow.users.by_login("anna").id)
        uow.commit()
    return {"acme": acme.id, "per": per.id, "sale": sale.id, "project": project.id, "budget": budget.id, **found}


def every_field(ids: dict[str, int]) -> list[Followup]:
    """Follow-ups of anna's that hold every field the mapping maps."""
    start = datetime(2024, 4, 8, 9, tzinfo=OSLO)
    anna = ids["anna"]
    return [
        Followup(owner_id=anna, kind=Kind.MEETING, title="Rollout review", type_id=ids["type:meeting:1"],
                 uid="rt-series", agenda="Status\nand next steps", company_id=ids["acme"], person_id=ids["per"],
                 sale_id=ids["sale"], project_id=ids["project"], start=start, end=start + timedelta(hours=1),
                 recurrence=Recurrence(rule="FREQ=WEEKLY;COUNT=5", exdates=[start + timedelta(weeks=1)]),
                 overrides=[Occurrence(recurrence_id=start + timedelta(weeks=2),
                                       start=start + timedelta(weeks=2, hours=2), title="Rollout review (late)",
                                       location="Cantina")],
                 alarm_minutes=15, location="Oslo office", conference="https://meet.example/abc",
                 participants=[Participant(user_id=ids["bjorn"]), Participant(person_id=ids["per"]),
                               Participant(email="kari@partner.example", name="Kari Nordmann")],
                 resource_ids=[ids["fjord"]], priority=3, custom={ids["budget"]: "120000"}),
        Followup(owner_id=anna, kind=Kind.MEETING, title="Doctor", type_id=ids["type:meeting:0"],
                 uid="rt-private", start=date(2024, 4, 12), end=date(2024, 4, 13), private=True, busy=False),
        Followup(owner_id=anna, kind=Kind.TODO, title="Send the offer", type_id=ids["type:todo:0"],
                 uid="rt-todo", deadline=datetime(2024, 4, 15, 16, tzinfo=OSLO), company_id=ids["acme"],
                 completed_at=datetime(2024, 4, 14, 12, tzinfo=ZoneInfo("UTC")), alarm_minutes=60),
        Followup(owner_id=anna, kind=Kind.TODO, title="Draft the contract", type_id=ids["type:todo:0"],
                 uid="rt-in-diary", start=datetime(2024, 4, 16, 9, tzinfo=OSLO),
                 end=datetime(2024, 4, 16, 11, tzinfo=OSLO), deadline=datetime(2024, 4, 18, 12, tzinfo=OSLO),
                 sale_id=ids["sale"]),
        Followup(owner_id=anna, kind=Kind.CALL, title="Call Per", type_id=ids["type:call:0"],
                 uid="rt-call", deadline=datetime(2024, 4, 17, 10, tzinfo=OSLO), person_id=ids["per"]),
    ]


ROUND_TRIP_IGNORED = IGNORED_FIELDS | {"notes"}
"""Notes are the CRM's own (never in a calendar object); ids and stamps are each store's."""
TASK_IGNORED = ROUND_TRIP_IGNORED | {"busy"}
"""A VTODO has no TRANSP (RFC 5545 §3.6.2): whether a to-do blocks time is its type's, not mapped."""


def test_export_then_import_into_another_store_keeps_every_mapped_field(engine: Engine, second: Engine,
                                                                        db_url: str) -> None:
    from server.services.export import Selection, export_text

    ids = directory(engine)
    assert directory(second) == ids
    for f in every_field(ids):
        services.create(engine, f)
    text = export_text(engine, Selection(viewer="anna", what="all", owner="anna"))

    report = import_calendar(second, "anna", text.encode("utf-8"))
    assert report.counts() == {"created": 5, "updated": 0, "unchanged": 0, "skipped": 0}, report.as_dict()
    assert all(not i.notes for i in report.created)
    source, copy = owned(engine, "anna"), owned(second, "anna")
    assert set(copy) == set(source)
    for uid, f in source.items():
        ignored = ROUND_TRIP_IGNORED if f.kind is Kind.MEETING else TASK_IGNORED
        assert _shape(copy[uid], ignored) == _shape(f, ignored), uid

    before = state(second)
    again = import_calendar(second, "anna", text.encode("utf-8"))
    assert again.counts()["unchanged"] == 5
    assert state(second) == before


def test_an_object_refused_after_it_was_written_rolls_back_alone(store: Engine, db_url: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Each object is written in its own SAVEPOINT: one that fails after the PUT path wrote its
    rows (here: made to fail) leaves no row and no change-log entry; its batch still commits."""
    from server.services import importer
    from store.errors import InvalidFollowup

    real_put = importer.calendars.put

    def failing_put(uow, login, name, href, data, user, cal=None, **kw):  # type: ignore[no-untyped-def]
        stored = real_put(uow, login, name, href, data, user, cal, **kw)
        if "boom" in href:
            raise InvalidFollowup("refused after the write")
        return stored

    monkeypatch.setattr(importer.calendars, "put", failing_put)
    data = calendar(GOOD, event("boom", "SUMMARY:Boom", "DTSTART:20240410T120000Z"),
                    event("good-2", "SUMMARY:Also good", "DTSTART:20240410T130000Z"))
    _, changes = state(store)
    report = import_calendar(store, "anna", data, batch=3)
    assert [i.uid for i in report.created] == ["good-1", "good-2"]
    assert [(i.uid, i.reason) for i in report.skipped] == [("boom", "refused after the write")]
    assert set(owned(store, "anna")) == {"good-1", "good-2"}
    assert state(store)[1] == changes + 2
    assert "boom" not in repr(dump_tables(db_url))
