"""DbDirectory.preload_addresses answers what the look-ups one address at a
time answer (users first, then resources, then persons; any case; the first
by id), in fewer statements, and sees what the same unit of work changed
before it ran."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

import mapping
from server.services.directory import DbDirectory
from server.services.followups import open_store
from server.services.transaction import transaction
from store.domain import Person, Resource, ResourceKind, User

ADDRESSES = ["Anna@Example.com", "room@example.com", "pia@example.com", "twin@example.com",
             "nobody@example.com", "ANNA@example.com"]


def _directory(uow: Any) -> None:
    uow.users.add(User("anna", "Anna", "anna@example.com"))
    uow.resources.add(Resource("room", "Room", ResourceKind.ROOM, email="ROOM@example.com"))
    uow.persons.add(Person("Pia", email="pia@example.com"))
    uow.persons.add(Person("Twin one", email="twin@example.com"))
    uow.persons.add(Person("Twin two", email="TWIN@example.com"))
    uow.session.flush()


def _answers(d: DbDirectory, addresses: list[str]) -> list[tuple[Any, Any, Any]]:
    out = []
    for a in addresses:
        user = d.user_by_email(a)
        resource = d.resource_by_address(a) if user is None else None
        person = d.person_by_email(a) if user is None and resource is None else None
        out.append((user, resource, person))
    return out


def _counting(engine: Engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda *args: seen.append(args[2]) if args[2].lstrip().upper().startswith("SELECT") else None)
    return seen


def test_preloaded_answers_are_the_lookups_answers_in_fewer_statements(db_url: str) -> None:
    engine = open_store(db_url)
    with transaction(engine) as uow:
        _directory(uow)
        uow.commit()
    with transaction(engine, write=False) as uow:
        one_by_one = _answers(DbDirectory(uow), ADDRESSES)
    with transaction(engine, write=False) as uow:
        d = DbDirectory(uow)
        seen = _counting(engine)
        d.preload_addresses(ADDRESSES)
        preloaded = len(seen)
        assert _answers(d, ADDRESSES) == one_by_one
        assert len(seen) == preloaded == 3
    assert [(u and u.login, r and r.login, p and p.name) for u, r, p in one_by_one] == [
        ("anna", None, None), (None, "room", None), (None, None, "Pia"), (None, None, "Twin one"),
        (None, None, None), ("anna", None, None)]


def test_preload_sees_a_change_made_earlier_in_the_same_unit_of_work(db_url: str) -> None:
    engine = open_store(db_url)
    with transaction(engine) as uow:
        _directory(uow)
        uow.users.add(User("nobody", "No Body", "Nobody@example.com"))
        d = DbDirectory(uow)
        d.preload_addresses(["nobody@example.com", "pia@example.com"])
        found = d.user_by_email("nobody@example.com")
        assert found is not None and found.login == "nobody"
        assert d.person_by_email("pia@example.com") is not None


def test_attendee_addresses_leave_out_records_named_by_id() -> None:
    cal = mapping.parse_calendar(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:a\r\n"
        "DTSTAMP:20260101T000000Z\r\nDTSTART:20260101T100000Z\r\nDTEND:20260101T110000Z\r\n"
        "ATTENDEE:mailto:Pia@Example.com\r\nATTENDEE:urn:x-crm:person:7\r\nATTENDEE:urn:x-crm:user:x\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")
    assert mapping.attendee_addresses(cal) == ["pia@example.com", "urn:x-crm:user:x"]
