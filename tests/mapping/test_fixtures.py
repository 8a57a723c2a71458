"""Acceptance: real client payloads survive a round trip and a CRM-side edit with their data intact."""

from __future__ import annotations

from datetime import timedelta

import pytest
import vobject

from mapping import parse_calendar, render_text, to_followup
from store.domain import Kind
from tests.mapping.mapping_support import FIXTURES, load, make_directory, missing_client_data, tree

EXPECTED = {
    "thunderbird_event.ics", "apple_calendar_event.ics", "apple_reminders_todo.ics", "tasks_org_davx5_todo.ics",
    "outlook_event.ics", "google_export_event.ics", "recurring_overrides_event.ics", "made_call.ics",
}


def test_every_fixture_is_there() -> None:
    assert EXPECTED <= set(FIXTURES)


@pytest.mark.parametrize("name", FIXTURES)
def test_round_trip_keeps_client_data(name: str) -> None:
    d = make_directory()
    client = load(name)
    f = to_followup(parse_calendar(client), d.user(1), d)
    out = render_text(f, d)
    vobject.readOne(out)
    assert missing_client_data(client, out) == []


@pytest.mark.parametrize("name", FIXTURES)
def test_crm_edit_keeps_client_data(name: str) -> None:
    d = make_directory()
    client = load(name)
    f = to_followup(parse_calendar(client), d.user(1), d)
    edited = f.copy()
    edited.title = "Changed in the CRM"
    if edited.start is not None and edited.kind is Kind.MEETING:
        edited.start += timedelta(hours=1)
        assert edited.end is not None
        edited.end += timedelta(hours=1)
    out = render_text(edited, d)
    vobject.readOne(out)
    assert missing_client_data(client, out, unmapped_only=True) == []
    back = to_followup(parse_calendar(out), d.user(1), d, existing=edited)
    assert back.title == "Changed in the CRM"
    assert back.start == edited.start


@pytest.mark.parametrize("name", FIXTURES)
def test_second_round_trip_is_stable(name: str) -> None:
    """Client -> store -> client -> store -> client gives the same text: ETags stay put."""
    d = make_directory()
    f = to_followup(parse_calendar(load(name)), d.user(1), d)
    first = render_text(f, d)
    g = to_followup(parse_calendar(first), d.user(1), d, existing=f)
    assert render_text(g, d) == first


def test_method_is_dropped_from_stored_objects() -> None:
    """RFC 4791 §4.1: calendar object resources carry no METHOD (Google's export has METHOD:PUBLISH)."""
    d = make_directory()
    out = render_text(to_followup(parse_calendar(load("google_export_event.ics")), d.user(1), d), d)
    assert tree(out).get("METHOD") == []


def test_outlook_windows_zone_becomes_iana() -> None:
    d = make_directory()
    f = to_followup(parse_calendar(load("outlook_event.ics")), d.user(1), d)
    assert f.tzid == "Europe/Berlin"
    assert f.start is not None and f.start.hour == 9
    assert "DTSTART;TZID=Europe/Berlin:20240318T090000" in render_text(f, d).replace("\r\n ", "")


def test_outlook_location_naming_a_booked_room_is_kept_as_text() -> None:
    d = make_directory()
    f = to_followup(parse_calendar(load("outlook_event.ics")), d.user(1), d)
    assert f.location == "Room Fjord" and f.resource_ids == []


def test_apple_alarm_keeps_acknowledged_and_uid() -> None:
    d = make_directory()
    f = to_followup(parse_calendar(load("apple_calendar_event.ics")), d.user(1), d)
    assert f.alarm_minutes == 30
    f2 = f.copy()
    f2.alarm_minutes = 10
    alarm = next(c for c in tree(render_text(f2, d)).children[-1].children if c.value("ACTION") == "AUDIO")
    assert alarm.value("TRIGGER") == "-PT10M"
    assert alarm.value("ACKNOWLEDGED") == "20240315T133000Z"
    assert alarm.value("X-WR-ALARMUID") == "7F3C1D2E-8B9A-4C5D-9E0F-1A2B3C4D5E6F"


def test_tasks_org_call_is_recognised_by_category() -> None:
    d = make_directory()
    f = to_followup(parse_calendar(load("tasks_org_davx5_todo.ics")), d.user(1), d)
    assert f.kind is Kind.CALL
    assert d.type(f.type_id).name == "Phone call (outgoing)"
    assert f.alarm_minutes == 15 and f.priority == 9 and f.completed_at is None
    out = tree(render_text(f, d)).children[-1]
    assert out.value("STATUS") == "IN-PROCESS" and out.value("PERCENT-COMPLETE") == "40"
    assert out.value("X-CRM-KIND") == "CALL"


def test_recurring_fixture_overrides() -> None:
    d = make_directory()
    f = to_followup(parse_calendar(load("recurring_overrides_event.ics")), d.user(1), d)
    assert f.recurrence is not None and f.recurrence.rule == "FREQ=WEEKLY;COUNT=10;BYDAY=MO"
    assert len(f.recurrence.exdates) == 1
    moved, cancelled = f.overrides
    assert moved.title == "Team stand-up (moved)" and moved.start is not None and moved.start.hour == 10
    assert moved.end is None  # the series' 15 minutes
    assert moved.location == "Room Sky"
    assert cancelled.cancelled and cancelled.start is None and cancelled.title is None


def test_the_checker_notices_a_lost_line_parameter_and_alarm() -> None:
    d = make_directory()
    client = load("thunderbird_event.ics")
    out = render_text(to_followup(parse_calendar(client), d.user(1), d), d)
    assert missing_client_data(client, out.replace("X-MOZ-GENERATION:3\r\n", ""))
    assert missing_client_data(client, out.replace("X-MOZ-SOMETHING=1;", "").replace(";X-MOZ-SOMETHING=1", ""))
    assert missing_client_data(client, out.replace("ACTION:EMAIL", "ACTION:DISPLAY"))
