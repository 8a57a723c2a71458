"""iCalendar from a client -> follow-up: the spec's "from a client into the store" rules."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mapping import MemoryDirectory, parse_calendar, render_text, to_followup
from store.domain import FieldDef, FieldType, Followup, FollowupType, Kind, PartStat, new_call, new_meeting
from store.errors import InvalidFollowup
from tests.mapping.mapping_support import Node, make_directory, tree

OSLO = ZoneInfo("Europe/Oslo")


@pytest.fixture
def d() -> MemoryDirectory:
    return make_directory()


def cal(body: str, component: str = "VEVENT", extra_calendar: str = "") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *filter(None, extra_calendar.split("\n")),
             f"BEGIN:{component}", "UID:u-1", "DTSTAMP:20240301T100000Z", *filter(None, body.split("\n")),
             f"END:{component}", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


EVENT = "SUMMARY:Meet\nDTSTART;TZID=Europe/Oslo:20240312T100000\nDTEND;TZID=Europe/Oslo:20240312T110000\n"


def parse(d: MemoryDirectory, text: str, existing: Followup | None = None,
          now: datetime | None = None) -> Followup:
    return to_followup(parse_calendar(text), d.user(1), d, existing, now=now)


def test_vevent_is_a_meeting(d: MemoryDirectory) -> None:
    f = parse(d, cal(EVENT))
    assert f.kind is Kind.MEETING and f.title == "Meet" and f.uid == "u-1" and f.owner_id == 1
    assert f.start == datetime(2024, 3, 12, 10, tzinfo=OSLO) and f.tzid == "Europe/Oslo"
    assert f.type_id == d.default_type(Kind.MEETING).id and f.busy


def test_vtodo_is_a_todo_or_a_call(d: MemoryDirectory) -> None:
    assert parse(d, cal("SUMMARY:x", "VTODO")).kind is Kind.TODO
    assert parse(d, cal("SUMMARY:x\nX-CRM-KIND:CALL", "VTODO")).kind is Kind.CALL
    call = parse(d, cal("SUMMARY:x\nCATEGORIES:phone call (INCOMING),Work", "VTODO"))
    assert call.kind is Kind.CALL and d.type(call.type_id).name == "Phone call (incoming)"
    assert parse(d, cal("SUMMARY:x\nCATEGORIES:Work,Phone call (incoming)", "VTODO")).kind is Kind.TODO


def test_type_resolution_order(d: MemoryDirectory) -> None:
    assert parse(d, cal(EVENT + "X-CRM-TYPE:3\nCATEGORIES:Meeting (internal)")).type_id == 2
    assert parse(d, cal(EVENT + "X-CRM-TYPE:3\nCATEGORIES:Own time")).type_id == 3
    assert parse(d, cal(EVENT + "X-CRM-TYPE:4\nCATEGORIES:Work,meeting (INTERNAL)")).type_id == 2
    existing = parse(d, cal(EVENT + "X-CRM-TYPE:3"))
    assert parse(d, cal(EVENT + "CATEGORIES:Work"), existing).type_id == 3
    assert parse(d, cal(EVENT + "X-CRM-TYPE:999")).type_id == 1


def test_unused_categories_are_kept(d: MemoryDirectory) -> None:
    f = parse(d, cal(EVENT + "CATEGORIES:Work,Meeting (internal),Blue"))
    assert f.type_id == 2
    assert "CATEGORIES:Meeting (internal),Work,Blue" in render_text(f, d)


def test_attendees_match_users_resources_persons_then_external(d: MemoryDirectory) -> None:
    f = parse(d, cal(EVENT + "\n".join([
        "ORGANIZER;CN=Anna:mailto:anna@example.com",
        "ATTENDEE;PARTSTAT=ACCEPTED;CN=Whatever:MAILTO:BO@EXAMPLE.COM",
        "ATTENDEE;CUTYPE=ROOM:mailto:Fjord@Rooms.Example.com",
        "ATTENDEE;PARTSTAT=TENTATIVE:mailto:carl@customer.example",
        "ATTENDEE;CN=Eve Outside;PARTSTAT=DECLINED:mailto:eve@outside.example",
        "ATTENDEE:urn:x-crm:person:2",
        "ATTENDEE:urn:x-crm:resource:2",
        "ATTENDEE;PARTSTAT=BOGUS:mailto:bo@example.com",
    ])))
    assert [(p.user_id, p.person_id, p.email, p.name, p.partstat) for p in f.participants] == [
        (2, None, None, None, PartStat.ACCEPTED),
        (None, 1, None, None, PartStat.TENTATIVE),
        (None, None, "eve@outside.example", "Eve Outside", PartStat.DECLINED),
        (None, 2, None, None, PartStat.NEEDS_ACTION),
    ]
    assert f.resource_ids == [1, 2]
    assert f.location == ""


def test_location_equal_to_booked_room_is_the_room(d: MemoryDirectory) -> None:
    f = parse(d, cal(EVENT + "LOCATION:Room Fjord\nATTENDEE;CUTYPE=ROOM:mailto:fjord@rooms.example.com"))
    assert f.location == "" and f.resource_ids == [1]
    assert parse(d, cal(EVENT + "LOCATION:Lobby")).location == "Lobby"


def test_private_classes(d: MemoryDirectory) -> None:
    assert parse(d, cal(EVENT + "CLASS:PRIVATE")).private
    f = parse(d, cal(EVENT + "CLASS:CONFIDENTIAL"))
    assert f.private and "CLASS:CONFIDENTIAL" in render_text(f, d)
    assert not parse(d, cal(EVENT + "CLASS:PUBLIC")).private
    assert not parse(d, cal(EVENT)).private


def test_first_display_or_audio_alarm_relative_to_start(d: MemoryDirectory) -> None:
    alarms = "\n".join([
        "BEGIN:VALARM", "ACTION:EMAIL", "TRIGGER:-PT5M", "END:VALARM",
        "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER;RELATED=END:-PT7M", "END:VALARM",
        "BEGIN:VALARM", "ACTION:AUDIO", "TRIGGER:-PT20M", "X-KEEP-ME:1", "END:VALARM",
        "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT30M", "END:VALARM",
    ])
    f = parse(d, cal(EVENT + alarms))
    assert f.alarm_minutes == 20
    text = render_text(f, d).replace("\r\n", "\n")
    assert text.count("BEGIN:VALARM") == 4 and "X-KEEP-ME:1" in text and "TRIGGER;RELATED=END:-PT7M" in text


def test_task_alarm_relative_to_due(d: MemoryDirectory) -> None:
    body = "SUMMARY:t\nDUE:20240320T100000Z\nBEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-PT10M\nEND:VALARM\n" \
           "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER;RELATED=END:-PT1H\nEND:VALARM"
    assert parse(d, cal(body, "VTODO")).alarm_minutes == 60
    absolute = "SUMMARY:t\nDUE:20240320T100000Z\nBEGIN:VALARM\nACTION:DISPLAY\nTRIGGER;VALUE=DATE-TIME:" \
               "20240320T080000Z\nEND:VALARM"
    assert parse(d, cal(absolute, "VTODO")).alarm_minutes is None


def test_cancelled_meeting_is_kept(d: MemoryDirectory) -> None:
    assert parse(d, cal(EVENT + "STATUS:CANCELLED")).cancelled


def test_undated_todo_is_accepted(d: MemoryDirectory) -> None:
    f = parse(d, cal("SUMMARY:Someday", "VTODO"))
    assert f.deadline is None and f.start is None


def test_all_day_and_floating(d: MemoryDirectory) -> None:
    f = parse(d, cal("SUMMARY:Fair\nDTSTART;VALUE=DATE:20240312\nDTEND;VALUE=DATE:20240314"))
    assert f.start == date(2024, 3, 12) and f.end == date(2024, 3, 14) and f.all_day
    g = parse(d, cal("SUMMARY:x\nDTSTART:20240312T090000\nDTEND:20240312T100000"))
    assert g.start == datetime(2024, 3, 12, 9) and g.start.tzinfo is None
    h = parse(d, cal("SUMMARY:x\nDTSTART;VALUE=DATE:20240312"))
    assert h.end == date(2024, 3, 13)
    i = parse(d, cal("SUMMARY:x\nDTSTART:20240312T090000Z\nDURATION:PT45M"))
    assert i.end == datetime(2024, 3, 12, 9, 45, tzinfo=UTC)


def test_windows_tzid_without_vtimezone(d: MemoryDirectory) -> None:
    f = parse(d, cal("SUMMARY:x\nDTSTART;TZID=Romance Standard Time:20240312T090000\nDURATION:PT1H"))
    assert f.tzid == "Europe/Paris"


def test_vendor_prefixed_tzid(d: MemoryDirectory) -> None:
    f = parse(d, cal("SUMMARY:x\nDTSTART;TZID=/mozilla.org/20050126_1/Europe/Oslo:20240312T090000\nDURATION:PT1H"))
    assert f.tzid == "Europe/Oslo"


def test_custom_vtimezone_becomes_utc(d: MemoryDirectory) -> None:
    zone = "\n".join(["BEGIN:VTIMEZONE", "TZID:My Office", "BEGIN:STANDARD", "DTSTART:19700101T000000",
                      "TZOFFSETFROM:+0300", "TZOFFSETTO:+0300", "END:STANDARD", "END:VTIMEZONE"])
    f = parse(d, cal("SUMMARY:x\nDTSTART;TZID=My Office:20240312T090000\nDURATION:PT1H", extra_calendar=zone))
    assert f.start == datetime(2024, 3, 12, 6, tzinfo=UTC)


def test_todo_completion(d: MemoryDirectory) -> None:
    f = parse(d, cal("SUMMARY:t\nSTATUS:COMPLETED\nCOMPLETED:20240305T120000Z", "VTODO"))
    assert f.completed_at == datetime(2024, 3, 5, 12, tzinfo=UTC)
    g = parse(d, cal("SUMMARY:t\nSTATUS:COMPLETED", "VTODO"))
    assert g.completed_at == datetime(2024, 3, 1, 10, tzinfo=UTC)  # from DTSTAMP, never the wall clock
    assert parse(d, cal("SUMMARY:t\nPERCENT-COMPLETE:100", "VTODO")).completed
    assert not parse(d, cal("SUMMARY:t\nSTATUS:NEEDS-ACTION\nCOMPLETED:20240305T120000Z", "VTODO")).completed


def test_made_call_parses_back(d: MemoryDirectory) -> None:
    body = "SUMMARY:c\nX-CRM-KIND:CALL\nDTSTART;TZID=Europe/Oslo:20240301T103000\nDURATION:PT20M\n" \
           "STATUS:COMPLETED\nCOMPLETED:20240301T095000Z\nX-CRM-DEADLINE;TZID=Europe/Oslo:20240302T170000"
    f = parse(d, cal(body, "VTODO"))
    assert f.made and f.kind is Kind.CALL
    assert f.start == datetime(2024, 3, 1, 10, 30, tzinfo=OSLO)
    assert f.end == datetime(2024, 3, 1, 10, 50, tzinfo=OSLO)
    assert f.deadline == datetime(2024, 3, 2, 17, tzinfo=OSLO)
    again = parse(d, render_text(f, d))
    assert (again.start, again.end, again.deadline, again.completed_at, again.kind) == (
        f.start, f.end, f.deadline, f.completed_at, f.kind)


def test_planned_call_never_gets_a_start(d: MemoryDirectory) -> None:
    f = parse(d, cal("SUMMARY:c\nX-CRM-KIND:CALL\nDTSTART:20240301T090000Z\nDUE:20240302T090000Z", "VTODO"))
    assert f.start is None and f.deadline == datetime(2024, 3, 2, 9, tzinfo=UTC)


def test_crm_only_properties_left_out_keep_stored_values(d: MemoryDirectory) -> None:
    existing = new_meeting(d.user(1), "Meet", 3, datetime(2024, 3, 12, 10, tzinfo=OSLO), company_id=1,
                           person_id=1, sale_id=1, project_id=1, custom={1: "5"}, notes="internal",
                           completed_at=datetime(2024, 3, 12, 12, tzinfo=UTC), id=7,
                           created_at=datetime(2024, 1, 1, tzinfo=UTC))
    f = parse(d, cal(EVENT), existing)
    assert (f.company_id, f.person_id, f.sale_id, f.project_id, f.custom, f.notes, f.type_id) == (
        1, 1, 1, 1, {1: "5"}, "internal", 3)
    assert f.completed_at == existing.completed_at and f.id == 7 and f.created_at == existing.created_at
    assert existing.title == "Meet" and f is not existing


def test_crm_only_properties_sent_with_other_values_change(d: MemoryDirectory) -> None:
    existing = new_meeting(d.user(1), "Meet", 3, datetime(2024, 3, 12, 10, tzinfo=OSLO), company_id=1,
                           sale_id=1, custom={1: "5", 2: "North"})
    body = EVENT + "\n".join([
        "CONTACT;X-CRM-ID=company/2:Old name shown",
        "X-CRM-SALE;X-CRM-NAME=Whatever:2",
        "X-CRM-PROJECT:1",
        "X-CRM-FIELD;X-CRM-NAME=budget:7",
        "X-CRM-FIELD;X-CRM-NAME=Region:",
        "X-CRM-FIELD;X-CRM-NAME=Note\\, short:x\\, y",
    ])
    f = parse(d, cal(body), existing)
    assert (f.company_id, f.sale_id, f.project_id) == (2, 2, 1)
    assert f.custom == {1: "7", 3: "x, y"}


def test_unknown_ids_are_ignored(d: MemoryDirectory) -> None:
    existing = new_meeting(d.user(1), "Meet", 3, datetime(2024, 3, 12, 10, tzinfo=OSLO), company_id=1, sale_id=1)
    body = EVENT + "CONTACT;X-CRM-ID=company/99:Ghost\nX-CRM-SALE:99\nX-CRM-PROJECT:abc\n" \
                   "X-CRM-FIELD;X-CRM-NAME=Nope:1"
    f = parse(d, cal(body), existing)
    assert (f.company_id, f.sale_id, f.project_id, f.custom) == (1, 1, None, {})


def test_contact_without_crm_id_is_client_data(d: MemoryDirectory) -> None:
    f = parse(d, cal(EVENT + "CONTACT:Jim Dolittle\\, ABC Industries"))
    assert f.company_id is None and "CONTACT:Jim Dolittle\\, ABC Industries" in render_text(f, d)


def test_existing_is_not_mutated_and_sequence_kept(d: MemoryDirectory) -> None:
    existing = parse(d, cal(EVENT + "SEQUENCE:4"))
    before = existing.copy()
    f = parse(d, cal(EVENT.replace("Meet", "Other")), existing)
    assert existing == before and f.title == "Other" and f.sequence == 4


def test_end_before_start_is_invalid(d: MemoryDirectory) -> None:
    with pytest.raises(InvalidFollowup):
        parse(d, cal("SUMMARY:x\nDTSTART:20240312T100000Z\nDTEND:20240312T090000Z"))
    with pytest.raises(ValueError):
        parse(d, cal("SUMMARY:x"))


def test_missing_summary_gets_a_placeholder(d: MemoryDirectory) -> None:
    assert parse(d, cal("DTSTART:20240312T100000Z")).title == "(no title)"


def test_rrule_rdate_exdate_and_overrides(d: MemoryDirectory) -> None:
    text = cal(EVENT + "RRULE:FREQ=DAILY;COUNT=5\nRDATE;TZID=Europe/Oslo:20240320T100000\n"
                       "EXDATE;TZID=Europe/Oslo:20240313T100000,20240314T100000")
    override = "\r\n".join(["BEGIN:VEVENT", "UID:u-1", "DTSTAMP:20240301T100000Z",
                            "RECURRENCE-ID;TZID=Europe/Oslo:20240315T100000", "SUMMARY:Meet",
                            "DTSTART;TZID=Europe/Oslo:20240315T130000", "DTEND;TZID=Europe/Oslo:20240315T140000",
                            "LOCATION:Elsewhere", "END:VEVENT", ""])
    text = text.replace("END:VCALENDAR", override + "END:VCALENDAR")
    f = parse(d, text)
    assert f.recurrence is not None and f.recurrence.rule == "FREQ=DAILY;COUNT=5"
    assert f.recurrence.rdates == [datetime(2024, 3, 20, 10, tzinfo=OSLO)]
    assert len(f.recurrence.exdates) == 2
    (occ,) = f.overrides
    assert occ.recurrence_id == datetime(2024, 3, 15, 10, tzinfo=OSLO)
    assert occ.start == datetime(2024, 3, 15, 13, tzinfo=OSLO) and occ.end is None
    assert occ.title is None and occ.location == "Elsewhere" and not occ.cancelled
    assert f.start is not None and f.start + timedelta(hours=1) == f.end


# -- the CRM's fields mean what they say: CATEGORIES vs X-CRM-TYPE, ticked-off calls, custom fields ----------

ERRAND = 7
"""A second to-do type, so a to-do's type can change."""


def test_categories_win_over_a_stale_crm_type(d: MemoryDirectory) -> None:
    d.followup_types.append(FollowupType("Errand", Kind.TODO, busy=False, id=ERRAND))
    todo = parse(d, cal("SUMMARY:t\nX-CRM-KIND:TODO\nX-CRM-TYPE:4\nCATEGORIES:errand,Work", "VTODO"))
    assert todo.kind is Kind.TODO and todo.type_id == ERRAND
    text = render_text(todo, d)
    assert "CATEGORIES:Errand,Work" in text and "X-CRM-TYPE:7" in text
    assert parse(d, text, todo).type_id == ERRAND
    assert parse(d, cal(EVENT + "X-CRM-TYPE:2\nCATEGORIES:Work,OWN TIME")).type_id == 3
    stored = parse(d, cal(EVENT + "X-CRM-TYPE:3"))
    assert parse(d, cal(EVENT + "CATEGORIES:Meeting (internal)"), stored).type_id == 2


def test_crm_type_stays_when_categories_agree_or_name_no_type(d: MemoryDirectory) -> None:
    assert parse(d, cal(EVENT + "X-CRM-TYPE:3\nCATEGORIES:own time")).type_id == 3
    assert parse(d, cal(EVENT + "X-CRM-TYPE:3\nCATEGORIES:Work,Blue")).type_id == 3
    assert parse(d, cal(EVENT + "X-CRM-TYPE:3")).type_id == 3
    assert parse(d, cal("SUMMARY:t\nX-CRM-TYPE:4\nCATEGORIES:Meeting (internal)", "VTODO")).type_id == 4


def test_categories_naming_two_types_do_not_flip_the_type(d: MemoryDirectory) -> None:
    f = parse(d, cal(EVENT + "X-CRM-TYPE:2\nCATEGORIES:Own time,Meeting (internal)"))
    assert f.type_id == 2
    text = render_text(f, d)
    assert "CATEGORIES:Meeting (internal),Own time" in text
    assert parse(d, text, f).type_id == 2


PLANNED_CALL = "SUMMARY:Call Carl\nX-CRM-KIND:CALL\nX-CRM-TYPE:5\nCATEGORIES:Phone call (outgoing)\n" \
               "DUE;TZID=Europe/Oslo:20240302T170000\n"


def vtodo_of(text: str) -> Node:
    return next(c for c in tree(text).children if c.name == "VTODO")


def test_planned_call_ticked_off_is_a_made_call(d: MemoryDirectory) -> None:
    d.user(1).call_minutes = 20
    f = parse(d, cal(PLANNED_CALL + "STATUS:COMPLETED\nCOMPLETED:20240301T095000Z\nPERCENT-COMPLETE:100", "VTODO"))
    assert f.made and f.kind is Kind.CALL and f.type_id == 5
    assert f.start == datetime(2024, 3, 1, 10, 50, tzinfo=OSLO) and f.tzid == "Europe/Oslo"
    assert f.end is not None and f.end - f.start == timedelta(minutes=20)
    assert f.completed_at == datetime(2024, 3, 1, 9, 50, tzinfo=UTC)
    assert f.deadline == datetime(2024, 3, 2, 17, tzinfo=OSLO)
    text = render_text(f, d)
    todo = vtodo_of(text)
    assert (todo.value("DTSTART"), todo.value("DURATION"), todo.value("X-CRM-DEADLINE")) == (
        "20240301T105000", "PT20M", "20240302T170000")
    assert (todo.value("STATUS"), todo.value("COMPLETED"), todo.value("PERCENT-COMPLETE")) == (
        "COMPLETED", "20240301T095000Z", "100")
    assert todo.get("DUE") == []
    again = parse(d, text, f)
    assert (again.start, again.end, again.deadline, again.completed_at) == (f.start, f.end, f.deadline, f.completed_at)


def test_ticked_off_call_without_completed_time_starts_now(d: MemoryDirectory) -> None:
    now = datetime(2024, 3, 4, 8, 15, 30, 123456, tzinfo=UTC)
    f = parse(d, cal(PLANNED_CALL + "STATUS:COMPLETED", "VTODO"), now=now)
    assert f.made and f.start == datetime(2024, 3, 4, 9, 15, 30, tzinfo=OSLO) and f.tzid == "Europe/Oslo"
    assert f.completed_at == datetime(2024, 3, 4, 8, 15, 30, tzinfo=UTC)
    assert f.end is not None and f.end - f.start == timedelta(minutes=15)
    no_clock = parse(d, cal(PLANNED_CALL + "STATUS:COMPLETED", "VTODO"))
    assert no_clock.made and no_clock.start == datetime(2024, 3, 1, 10, tzinfo=UTC)  # DTSTAMP, never the wall clock


def test_stored_planned_call_ticked_off_by_a_client(d: MemoryDirectory) -> None:
    planned = new_call(d.user(1), "Call Carl", 5, datetime(2024, 3, 2, 17, tzinfo=OSLO), id=9)
    f = parse(d, cal(PLANNED_CALL + "STATUS:COMPLETED\nCOMPLETED:20240301T095000Z", "VTODO"), planned,
              now=datetime(2024, 3, 4, 8, tzinfo=UTC))
    assert f.made and f.id == 9 and f.start == datetime(2024, 3, 1, 9, 50, tzinfo=UTC)
    assert planned.start is None and not planned.completed
    wrongly_stored = planned.copy()
    wrongly_stored.completed_at = datetime(2024, 3, 1, 9, 50, tzinfo=UTC)
    g = parse(d, cal(PLANNED_CALL + "STATUS:COMPLETED", "VTODO"), wrongly_stored, now=datetime(2024, 3, 4, tzinfo=UTC))
    assert g.made and g.start == wrongly_stored.completed_at


def test_made_call_keeps_its_times(d: MemoryDirectory) -> None:
    now = datetime(2024, 3, 4, 8, tzinfo=UTC)
    body = "SUMMARY:c\nX-CRM-KIND:CALL\nDTSTART;TZID=Europe/Oslo:20240301T103000\nDURATION:PT20M\n" \
           "STATUS:COMPLETED\nCOMPLETED:20240301T095000Z"
    f = parse(d, cal(body, "VTODO"), now=now)
    assert f.start == datetime(2024, 3, 1, 10, 30, tzinfo=OSLO) and f.end == datetime(2024, 3, 1, 10, 50, tzinfo=OSLO)
    assert f.completed_at == datetime(2024, 3, 1, 9, 50, tzinfo=UTC)
    unmeasured = parse(d, cal(body.replace("DURATION:PT20M\n", ""), "VTODO"), now=now)
    assert unmeasured.made and unmeasured.start == f.start
    assert unmeasured.end == datetime(2024, 3, 1, 10, 45, tzinfo=OSLO)


def test_unticked_call_is_planned_again(d: MemoryDirectory) -> None:
    made = parse(d, cal(PLANNED_CALL + "STATUS:COMPLETED\nCOMPLETED:20240301T095000Z", "VTODO"))
    f = parse(d, cal(PLANNED_CALL + "STATUS:NEEDS-ACTION", "VTODO"), made, now=datetime(2024, 3, 4, tzinfo=UTC))
    assert not f.made and f.start is None and f.end is None and not f.completed
    assert f.deadline == datetime(2024, 3, 2, 17, tzinfo=OSLO)


@pytest.mark.parametrize(("line", "message"), [
    ("X-CRM-FIELD;X-CRM-NAME=Budget:abc", "custom field 'Budget' takes a number, not 'abc'"),
    ("X-CRM-FIELD;X-CRM-NAME=budget:NaN", "custom field 'Budget' takes a finite number, not 'NaN'"),
    ("X-CRM-FIELD;X-CRM-NAME=Region:East", "custom field 'Region' takes one of North, South; not 'East'"),
    ("X-CRM-FIELD;X-CRM-NAME=Signed:maybe", "custom field 'Signed' takes yes or no, not 'maybe'"),
    ("X-CRM-FIELD;X-CRM-NAME=Decided:12/03/2024", "custom field 'Decided' takes a date (YYYY-MM-DD), not '12/03/2024'"),
])
def test_custom_field_value_that_does_not_fit_is_refused(d: MemoryDirectory, line: str, message: str) -> None:
    d.field_defs += [FieldDef("Signed", FieldType.YESNO, id=4), FieldDef("Decided", FieldType.DATE, id=5)]
    existing = new_meeting(d.user(1), "Meet", 3, datetime(2024, 3, 12, 10, tzinfo=OSLO), custom={1: "5"})
    for stored in (None, existing):
        with pytest.raises(InvalidFollowup, match=re.escape(message)):
            parse(d, cal(EVENT + line), stored)


def test_custom_field_values_that_fit_are_normalized_and_unknown_names_not_checked(d: MemoryDirectory) -> None:
    existing = new_meeting(d.user(1), "Meet", 3, datetime(2024, 3, 12, 10, tzinfo=OSLO), custom={1: "5", 2: "North"})
    body = EVENT + "X-CRM-FIELD;X-CRM-NAME=BUDGET: 1200.50\nX-CRM-FIELD;X-CRM-NAME=Region:\n" \
                   "X-CRM-FIELD;X-CRM-NAME=Colour:not a number\nX-CRM-FIELD:no name"
    f = parse(d, cal(body), existing)
    assert f.custom == {1: "1200.50"}
