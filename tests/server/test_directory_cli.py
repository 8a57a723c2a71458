"""Directory records changed, archived and removed from the command line, seen by
clients over a real server: a company renamed with ``followups company update``
reaches, on each client's next sync, exactly the copies that show it (the
owner's, an invitee's, the room's bookings, a task's); archiving changes no
calendar; a field's values rewritten by a new definition re-render their
follow-ups; a client cannot give an archived type to a new follow-up."""

from __future__ import annotations

from datetime import UTC, datetime

from server.services.transaction import transaction
from store.domain import Company, FieldDef, FieldType, Participant, PartStat, Person, Sale
from tests.cli.clirun import run_cli
from tests.server.caldav_support import (
    LiveServer,
    crm_meeting,
    crm_todo,
    sync_changes,
    user,
    vevent,
)

C = "{urn:ietf:params:xml:ns:caldav}"


def _sync(live: LiveServer, login: str, collection: str, token: str) -> tuple[str, dict[str, str]]:
    """:func:`sync_changes` of ``collection``, the texts keyed by file name."""
    token, texts = sync_changes(live, login, token, collection)
    return token, {href.rsplit("/", 1)[-1]: text for href, text in texts.items()}


def _cli(live: LiveServer, *args: str) -> str:
    result = run_cli(live.database, *args)
    assert result.code == 0, result.err
    return result.out


# Each client's view: (login, collection).
VIEWS = [("anna", "anna/meetings/"), ("anna", "anna/tasks/"), ("bjorn", "bjorn/meetings/"),
         ("bjorn", "fjord/bookings/")]


def test_a_company_renamed_on_the_command_line_reaches_every_copy_that_shows_it(live: LiveServer) -> None:
    with transaction(live.engine) as uow:
        company = uow.companies.add(Company("Nordlys AS"))
        person = uow.persons.add(Person("Kari Nordmann", company.id, "kari@nordlys.example"))
        sale = uow.sales.add(Sale("Fjord deal", company.id))
        room = uow.resources.by_login("fjord")
        uow.commit()
    bjorn = user(live.engine, "bjorn")
    shared = crm_meeting(live.engine, "anna", "Kickoff", company_id=company.id, resource_ids=[room.id],
                         participants=[Participant(user_id=bjorn.id, partstat=PartStat.ACCEPTED)])
    via_person = crm_todo(live.engine, "anna", "Send Kari the offer", person_id=person.id)
    via_sale = crm_meeting(live.engine, "anna", "Deal review", start=datetime(2026, 3, 4, 9, tzinfo=UTC),
                           sale_id=sale.id)
    crm_meeting(live.engine, "anna", "Elsewhere", start=datetime(2026, 3, 5, 9, tzinfo=UTC))

    tokens = {}
    for login, collection in VIEWS:
        tokens[collection], first = _sync(live, login, collection, "")
        assert any("Nordlys AS" in text for text in first.values()), collection

    assert _cli(live, "company", "update", "Nordlys AS", "--name", "Nordlys Energi AS") \
        == f'updated company {company.id} "Nordlys Energi AS"\n'

    expected = {"anna/meetings/": {f"{shared.uid}.ics"}, "anna/tasks/": {f"{via_person.uid}.ics"},
                "bjorn/meetings/": {f"{shared.uid}.ics"}, "fjord/bookings/": {f"{shared.uid}.ics"}}
    for login, collection in VIEWS:
        _, changed = _sync(live, login, collection, tokens[collection])
        assert set(changed) == expected[collection], collection
        for text in changed.values():
            assert "Nordlys Energi AS" in text and "Nordlys AS" not in text, collection
    # The sale's follow-up shows the sale, not its company: its text, and so its copy, stayed.
    assert f"{via_sale.uid}.ics" not in expected["anna/meetings/"]


def test_archiving_changes_no_calendar_and_the_archived_record_stays(live: LiveServer) -> None:
    with transaction(live.engine) as uow:
        company = uow.companies.add(Company("Nordlys AS"))
        uow.commit()
    crm_meeting(live.engine, "anna", "Kickoff", company_id=company.id)
    token, _ = _sync(live, "anna", "anna/meetings/", "")
    refused = run_cli(live.database, "company", "remove", str(company.id))
    assert refused.code == 2
    assert refused.error_line().endswith("is still used by 1 follow-up (#1); "
                                         "update or remove them first, or use --archive")
    _cli(live, "company", "remove", str(company.id), "--archive")
    token, changed = _sync(live, "anna", "anna/meetings/", token)
    assert changed == {}
    _, everything = _sync(live, "anna", "anna/meetings/", "")
    [text] = everything.values()
    assert "CONTACT;X-CRM-ID=company/1:Nordlys AS" in text


def test_a_fields_values_in_their_new_form_reach_the_clients(live: LiveServer) -> None:
    with transaction(live.engine) as uow:
        field = uow.fields.add(FieldDef("Channel", FieldType.LIST, ["Phone", "Visit"]))
        uow.commit()
    assert field.id is not None
    meeting = crm_meeting(live.engine, "anna", "Kickoff", custom={field.id: "Visit"})
    token, _ = _sync(live, "anna", "anna/meetings/", "")
    refused = run_cli(live.database, "field", "update", "Channel", "--value", "Phone,Video")
    assert refused.error_line() == ('followups: error: custom field 1 "Channel" cannot be limited to Phone, Video: '
                                    '1 follow-up has a value that would not fit (#1 "Visit"); '
                                    "change or clear them first")
    _cli(live, "field", "update", "Channel", "--value", "phone,visit,video")
    _, changed = _sync(live, "anna", "anna/meetings/", token)
    assert list(changed) == [f"{meeting.uid}.ics"]
    assert "X-CRM-FIELD;X-CRM-NAME=Channel:visit" in changed[f"{meeting.uid}.ics"]


def test_a_client_cannot_give_an_archived_type_to_a_new_follow_up(live: LiveServer) -> None:
    _cli(live, "type", "remove", "Own time", "--archive")
    with transaction(live.engine, write=False) as uow:
        own_time = uow.types.by_name("Own time")
    body = vevent("archived-type-1", "Focus", extra=(f"X-CRM-TYPE:{own_time.id}",))
    r = live.dav("anna").put("anna/meetings/archived-type-1.ics", body, If_None_Match="*")
    assert r.status_code == 400, r.text
    assert "is archived" in r.text
    _cli(live, "type", "unarchive", "Own time")
    assert live.dav("anna").put("anna/meetings/archived-type-1.ics", body, If_None_Match="*").status_code == 201
