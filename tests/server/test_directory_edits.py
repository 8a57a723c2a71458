"""The calendars follow every change of the records they show.

Regression: after ``followups user update anna --email ...`` every object
that showed anna (ORGANIZER, ATTENDEE, CN) kept the old values, and no
client ever saw the change. The projection now follows whatever a unit of
work changed, whoever changed it: users, resources, companies, persons,
sales, projects, types and custom fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from server.services.transaction import transaction
from store.domain import Company, FieldDef, FieldType, Participant, PartStat, Person, Project, Sale
from store.uow import UnitOfWork
from tests.cli.clirun import run_cli
from tests.server.caldav_support import (
    LiveServer,
    crm_meeting,
    sync_changes,
    unfold,
    user,
)


def test_a_users_new_email_reaches_an_invitees_nextsync_changes(live: LiveServer) -> None:
    bjorn = user(live.engine, "bjorn")
    meeting = crm_meeting(live.engine, "anna", "Budget review",
                          participants=[Participant(user_id=bjorn.id, partstat=PartStat.NEEDS_ACTION)])
    token, first = sync_changes(live, "bjorn", "")
    [(href, text)] = first.items()
    assert "mailto:anna@example.com" in text

    result = run_cli(live.database, "user", "update", "anna", "--email", "new@example.com")
    assert result.code == 0, result.err

    token2, changed = sync_changes(live, "bjorn", token)
    assert list(changed) == [href]
    [organizer] = [line for line in changed[href].splitlines() if line.startswith("ORGANIZER")]
    assert organizer.endswith(":mailto:new@example.com"), organizer
    assert "anna@example.com" not in changed[href]
    assert meeting.uid in changed[href]
    # the organizer's own copy follows too
    _, own = sync_changes(live, "anna", "")
    assert all("anna@example.com" not in t for t in own.values())
    # and nothing more changes until something does
    assert sync_changes(live, "bjorn", token2)[1] == {}


def test_a_password_change_changes_no_calendar(live: LiveServer) -> None:
    crm_meeting(live.engine, "anna", "Budget review")
    ctag = live.dav("anna").propfind("anna/meetings/", "<CS:getctag/>").text
    result = run_cli(live.database, "user", "passwd", "anna", stdin="another secret\n")
    assert result.code == 0, result.err
    live.dav("anna").session.auth = ("anna", "another secret")
    assert live.dav("anna").propfind("anna/meetings/", "<CS:getctag/>").text == ctag


def _rename(repo: str, name: str) -> Callable[[UnitOfWork, int], None]:
    def change(uow: UnitOfWork, id: int) -> None:
        records: Any = getattr(uow, repo)
        record = records.get(id)
        record.name = name
        records.update(record)

    return change


def _records(engine: Engine) -> dict[str, int]:
    """A company with a contact person, a sale, a project and a custom field."""
    with transaction(engine) as uow:
        company = uow.companies.add(Company("Nordlys AS"))
        person = uow.persons.add(Person("Kari Nordmann", company.id, "kari@nordlys.example", "+47 555 00 000"))
        sale = uow.sales.add(Sale("Fjord deal", company.id))
        project = uow.projects.add(Project("Rollout"))
        field = uow.fields.add(FieldDef("Budget code", FieldType.TEXT))
        uow.commit()
    return {"company": company.id, "person": person.id, "sale": sale.id, "project": project.id,  # type: ignore[dict-item]
            "field": field.id}  # type: ignore[dict-item]


@pytest.mark.parametrize(("kind", "repo", "new_name"), [
    ("company", "companies", "Nordlys Energi AS"),
    ("person", "persons", "Kari Nordmann-Berg"),
    ("sale", "sales", "Fjord deal, phase 2"),
    ("project", "projects", "Rollout 2027"),
    ("field", "fields", "Cost centre"),
])
def test_renaming_a_record_reaches_every_copy_that_shows_it(live: LiveServer, kind: str, repo: str,
                                                            new_name: str) -> None:
    ids = _records(live.engine)
    bjorn = user(live.engine, "bjorn")
    crm_meeting(live.engine, "anna", "Kickoff", company_id=ids["company"], person_id=ids["person"],
                sale_id=ids["sale"], project_id=ids["project"], custom={ids["field"]: "BX-7"},
                participants=[Participant(user_id=bjorn.id, partstat=PartStat.ACCEPTED)])
    token, first = sync_changes(live, "bjorn", "")
    assert new_name not in next(iter(first.values()))

    with transaction(live.engine) as uow:
        _rename(repo, new_name)(uow, ids[kind])
        uow.commit()

    _, changed = sync_changes(live, "bjorn", token)
    assert len(changed) == 1
    assert new_name in next(iter(changed.values()))
    _, own = sync_changes(live, "anna", "")
    assert new_name in next(iter(own.values()))


def test_renaming_a_type_changes_the_category(live: LiveServer) -> None:
    meeting = crm_meeting(live.engine, "anna", "Kickoff")
    token, _ = sync_changes(live, "anna", "")
    with transaction(live.engine) as uow:
        ftype = uow.types.get(meeting.type_id)
        ftype.name = "Customer meeting"
        uow.types.update(ftype)
        uow.commit()
    _, changed = sync_changes(live, "anna", token)
    [text] = changed.values()
    assert "CATEGORIES:Customer meeting" in text


def test_a_renamed_room_shows_in_its_bookings_and_the_meeting(live: LiveServer) -> None:
    with transaction(live.engine) as uow:
        room = uow.resources.by_login("fjord")
    crm_meeting(live.engine, "anna", "Kickoff", resource_ids=[room.id])
    token, _ = sync_changes(live, "anna", "")
    with transaction(live.engine) as uow:
        room.name = "Room Fjord (2nd floor)"
        uow.resources.update(room)
        uow.commit()
    _, changed = sync_changes(live, "anna", token)
    [text] = changed.values()
    assert 'CN="Room Fjord (2nd floor)"' in text
    r = live.dav("bjorn").request("REPORT", "fjord/bookings/",
                                  '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                                  "<D:prop><C:calendar-data/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\"/>"
                                  "</C:filter></C:calendar-query>", Depth="1")
    assert "Room Fjord (2nd floor)" in unfold(r.text)
