"""Follow-up -> iCalendar, one test per row of the spec's field table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import vobject
from icalendar import Calendar

from mapping import MemoryDirectory, component_name, render, render_text
from store.domain import (
    Followup,
    Kind,
    Occurrence,
    Participant,
    PartStat,
    Recurrence,
    new_call,
    new_meeting,
    new_todo,
    record_call_made,
)
from tests.mapping.mapping_support import Node, make_directory, params_of, tree

OSLO = ZoneInfo("Europe/Oslo")
T0 = datetime(2024, 3, 12, 10, 0, tzinfo=OSLO)


@pytest.fixture
def d() -> MemoryDirectory:
    return make_directory()


def meeting(d: MemoryDirectory, **fields: object) -> Followup:
    return new_meeting(d.user(1), "Supplier meeting", 1, T0, **fields)  # type: ignore[arg-type]


def comp(f: Followup, d: MemoryDirectory, index: int = -1) -> Node:
    text = render_text(f, d)
    vobject.readOne(text)
    Calendar.from_ical(text)
    mains = [c for c in tree(text).children if c.name in ("VEVENT", "VTODO")]
    return mains[index if index != -1 else 0]


def test_calendar_envelope(d: MemoryDirectory) -> None:
    text = render_text(meeting(d), d)
    cal = tree(text)
    assert cal.value("VERSION") == "2.0"
    assert cal.value("PRODID") == "-//followup-caldav//followup-caldav 0.1//EN"
    assert "\r\n" in text and text.endswith("END:VCALENDAR\r\n")


def test_component_name() -> None:
    assert component_name(Kind.MEETING) == "VEVENT"
    assert component_name(Kind.TODO) == "VTODO"
    assert component_name(Kind.CALL) == "VTODO"


def test_kind(d: MemoryDirectory) -> None:
    assert comp(meeting(d), d).value("X-CRM-KIND") == "MEETING"
    assert comp(new_todo(d.user(1), "t", 4, date(2024, 3, 1)), d).value("X-CRM-KIND") == "TODO"
    assert comp(new_call(d.user(1), "c", 5, date(2024, 3, 1)), d).value("X-CRM-KIND") == "CALL"


def test_title_agenda_and_notes_never_exported(d: MemoryDirectory) -> None:
    c = comp(meeting(d, agenda="Line 1\nLine 2; a, b", notes="SECRET internal"), d)
    assert c.value("SUMMARY") == "Supplier meeting"
    assert c.value("DESCRIPTION") == "Line 1\nLine 2; a, b"  # content lines read unescaped
    assert "SECRET" not in render_text(meeting(d, notes="SECRET internal"), d)


def test_type_as_first_category_and_id(d: MemoryDirectory) -> None:
    c = comp(meeting(d), d)
    assert c.value("CATEGORIES") == "Meeting (external)"
    assert c.value("X-CRM-TYPE") == "1"


def test_company_and_person_contacts(d: MemoryDirectory) -> None:
    c = comp(meeting(d, company_id=1, person_id=1), d)
    contacts = {params_of(line)["X-CRM-ID"]: line[2] for line in c.get("CONTACT")}
    assert contacts == {"company/1": "Customer AS", "person/1": "Carl Customer, Customer AS, +47 555 01 234"}


def test_meeting_times_with_tzid_and_vtimezone(d: MemoryDirectory) -> None:
    text = render_text(meeting(d), d)
    c = tree(text)
    assert c.children[0].name == "VTIMEZONE" and c.children[0].value("TZID") == "Europe/Oslo"
    event = c.children[1]
    assert event.get("DTSTART")[0] == ("DTSTART", frozenset({("TZID", "Europe/Oslo")}), "20240312T100000")
    assert event.value("DTEND") == "20240312T110000"


def test_all_day_meeting_uses_dates(d: MemoryDirectory) -> None:
    f = new_meeting(d.user(1), "Fair", 1, date(2024, 3, 12), date(2024, 3, 14))
    c = comp(f, d)
    assert params_of(c.get("DTSTART")[0]) == {"VALUE": "DATE"}
    assert c.value("DTEND") == "20240314"
    assert "VTIMEZONE" not in render_text(f, d)


def test_floating_meeting_has_no_tzid(d: MemoryDirectory) -> None:
    f = new_meeting(d.user(1), "Anywhere", 1, datetime(2024, 3, 12, 9))
    assert params_of(comp(f, d).get("DTSTART")[0]) == {}


def test_todo_deadline_is_due(d: MemoryDirectory) -> None:
    c = comp(new_todo(d.user(1), "t", 4, datetime(2024, 3, 20, 17, tzinfo=OSLO)), d)
    assert c.value("DUE") == "20240320T170000" and c.get("DTSTART") == []
    assert c.value("STATUS") == "NEEDS-ACTION"


def test_all_day_todo_due_is_a_date(d: MemoryDirectory) -> None:
    c = comp(new_todo(d.user(1), "t", 4, date(2024, 3, 20)), d)
    assert params_of(c.get("DUE")[0]) == {"VALUE": "DATE"}


def test_todo_placed_in_diary(d: MemoryDirectory) -> None:
    f = new_todo(d.user(1), "t", 4, T0 + timedelta(hours=2), start=T0, end=T0 + timedelta(hours=1))
    c = comp(f, d)
    assert c.value("DTSTART") == "20240312T100000" and c.value("DUE") == "20240312T110000"
    assert c.value("X-CRM-DEADLINE") == "20240312T120000"


def test_made_call(d: MemoryDirectory) -> None:
    f = new_call(d.user(1), "Call Carl", 5, datetime(2024, 3, 13, 17, tzinfo=OSLO))
    record_call_made(f, d.user(1), at=T0, minutes=20)
    c = comp(f, d)
    assert c.value("DTSTART") == "20240312T100000"
    assert c.value("DURATION") == "PT20M"
    assert c.get("DUE") == []
    assert c.value("STATUS") == "COMPLETED" and c.value("PERCENT-COMPLETE") == "100"
    assert c.value("COMPLETED") == "20240312T090000Z"
    assert c.value("X-CRM-DEADLINE") == "20240313T170000"


def test_recurrence_rdate_exdate_and_override(d: MemoryDirectory) -> None:
    f = meeting(d, recurrence=Recurrence("FREQ=WEEKLY;BYDAY=TU;COUNT=10", rdates=[T0 + timedelta(days=1)],
                                         exdates=[T0 + timedelta(days=7)]),
                overrides=[Occurrence(T0 + timedelta(days=14), start=T0 + timedelta(days=14, hours=2), title="Moved")])
    master, override = comp(f, d, 0), comp(f, d, 1)
    assert master.value("RRULE") == "FREQ=WEEKLY;COUNT=10;BYDAY=TU"
    assert master.value("RDATE") == "20240313T100000" and master.value("EXDATE") == "20240319T100000"
    assert override.value("RECURRENCE-ID") == "20240326T100000"
    assert override.value("DTSTART") == "20240326T120000" and override.value("DTEND") == "20240326T130000"
    assert override.value("SUMMARY") == "Moved" and override.value("UID") == master.value("UID")


def test_availability(d: MemoryDirectory) -> None:
    assert comp(meeting(d), d).value("TRANSP") == "OPAQUE"
    assert comp(meeting(d, busy=False), d).value("TRANSP") == "TRANSPARENT"


def test_alarm_relative_to_start(d: MemoryDirectory) -> None:
    alarm = comp(meeting(d, alarm_minutes=15), d).children[0]
    assert alarm.value("ACTION") == "DISPLAY" and alarm.value("TRIGGER") == "-PT15M"
    assert params_of(alarm.get("TRIGGER")[0]) == {}


def test_task_alarm_relative_to_due(d: MemoryDirectory) -> None:
    alarm = comp(new_todo(d.user(1), "t", 4, T0, alarm_minutes=60), d).children[0]
    assert alarm.value("TRIGGER") == "-PT1H"
    assert params_of(alarm.get("TRIGGER")[0]) == {"RELATED": "END"}


def test_sale_and_project(d: MemoryDirectory) -> None:
    c = comp(meeting(d, sale_id=1, project_id=1), d)
    assert c.get("X-CRM-SALE")[0] == ("X-CRM-SALE", frozenset({("X-CRM-NAME", "Big deal")}), "1")
    assert c.get("X-CRM-PROJECT")[0] == ("X-CRM-PROJECT", frozenset({("X-CRM-NAME", "Rollout")}), "1")


def test_organizer_only_for_invitations(d: MemoryDirectory) -> None:
    assert comp(meeting(d), d).get("ORGANIZER") == []
    c = comp(meeting(d, resource_ids=[2]), d)
    assert c.get("ORGANIZER")[0] == ("ORGANIZER", frozenset({("CN", "Anna Berg")}), "mailto:anna@example.com")


def test_participants(d: MemoryDirectory) -> None:
    f = meeting(d, participants=[Participant(user_id=2, partstat=PartStat.ACCEPTED), Participant(person_id=2),
                                 Participant(email="x@elsewhere.example", name="X")])
    lines = comp(f, d).get("ATTENDEE")
    assert [line[2] for line in lines] == ["mailto:bo@example.com", "urn:x-crm:person:2", "mailto:x@elsewhere.example"]
    assert params_of(lines[0]) == {"CUTYPE": "INDIVIDUAL", "ROLE": "REQ-PARTICIPANT", "PARTSTAT": "ACCEPTED",
                                   "RSVP": "TRUE", "CN": "Bo Ek"}
    assert params_of(lines[1])["CN"] == "Dina NoMail" and params_of(lines[2])["CN"] == "X"


def test_resources(d: MemoryDirectory) -> None:
    lines = comp(meeting(d, resource_ids=[1, 2]), d).get("ATTENDEE")
    assert lines[0][2] == "mailto:fjord@rooms.example.com"
    assert params_of(lines[0]) == {"CUTYPE": "ROOM", "ROLE": "NON-PARTICIPANT", "PARTSTAT": "ACCEPTED",
                                   "CN": "Room Fjord"}
    assert params_of(lines[1])["CUTYPE"] == "RESOURCE" and lines[1][2] == "urn:x-crm:resource:2"


def test_location_falls_back_to_booked_room(d: MemoryDirectory) -> None:
    assert comp(meeting(d, resource_ids=[2, 3]), d).value("LOCATION") == "Room Sky"
    assert comp(meeting(d, resource_ids=[3], location="Lobby"), d).value("LOCATION") == "Lobby"
    assert comp(meeting(d), d).get("LOCATION") == []


def test_completed(d: MemoryDirectory) -> None:
    done = datetime(2024, 3, 12, 12, tzinfo=UTC)
    assert comp(meeting(d, completed_at=done), d).value("X-CRM-COMPLETED") == "20240312T120000Z"
    c = comp(new_todo(d.user(1), "t", 4, T0, completed_at=done), d)
    assert (c.value("STATUS"), c.value("COMPLETED"), c.value("PERCENT-COMPLETE")) == (
        "COMPLETED", "20240312T120000Z", "100")


def test_cancelled(d: MemoryDirectory) -> None:
    assert comp(meeting(d, cancelled=True), d).value("STATUS") == "CANCELLED"
    assert comp(meeting(d), d).get("STATUS") == []


def test_private_and_priority(d: MemoryDirectory) -> None:
    assert comp(meeting(d, private=True, priority=1), d).value("CLASS") == "PRIVATE"
    c = comp(meeting(d), d)
    assert c.value("CLASS") == "PUBLIC" and c.get("PRIORITY") == []
    assert comp(meeting(d, priority=9), d).value("PRIORITY") == "9"


def test_custom_fields(d: MemoryDirectory) -> None:
    lines = comp(meeting(d, custom={1: "1200.5", 3: "a, b"}), d).get("X-CRM-FIELD")
    assert lines == [("X-CRM-FIELD", frozenset({("X-CRM-NAME", "Budget")}), "1200.5"),
                     ("X-CRM-FIELD", frozenset({("X-CRM-NAME", "Note, short")}), "a, b")]


def test_conference(d: MemoryDirectory) -> None:
    line = comp(meeting(d, conference="https://meet.example/x"), d).get("CONFERENCE")[0]
    assert line == ("CONFERENCE", frozenset({("VALUE", "URI")}), "https://meet.example/x")


def test_sequence_and_stamps(d: MemoryDirectory) -> None:
    f = meeting(d, sequence=3, created_at=datetime(2024, 1, 1, tzinfo=UTC),
                modified_at=datetime(2024, 2, 1, 8, tzinfo=UTC))
    c = comp(f, d)
    assert c.value("SEQUENCE") == "3"
    assert (c.value("CREATED"), c.value("LAST-MODIFIED"), c.value("DTSTAMP")) == (
        "20240101T000000Z", "20240201T080000Z", "20240201T080000Z")


def test_rendering_is_deterministic_without_timestamps(d: MemoryDirectory) -> None:
    f = meeting(d)
    assert render_text(f, d) == render_text(f.copy(), d)
    assert comp(f, d).value("DTSTAMP") == "19700101T000000Z"


def test_unknown_ids_render_without_crashing(d: MemoryDirectory) -> None:
    f = meeting(d, company_id=99, person_id=99, sale_id=99, project_id=99, custom={99: "x"}, resource_ids=[99],
                participants=[Participant(user_id=99)])
    c = comp(f, d)
    assert c.get("CONTACT") == [] and c.get("X-CRM-SALE") == [] and c.get("X-CRM-FIELD") == []
    assert [line[2] for line in c.get("ATTENDEE")] == ["urn:x-crm:user:99"]


def test_render_returns_a_calendar(d: MemoryDirectory) -> None:
    cal = render(meeting(d), d)
    assert isinstance(cal, Calendar) and cal.events[0]["SUMMARY"] == "Supplier meeting"
