"""From a client, the CRM's fields mean what they say (shared/spec/calendar-mapping.md, "iCalendar from a
client into the store"), over a real HTTP server: CATEGORIES win over a stale X-CRM-TYPE, a planned call
ticked off is a made call, and a custom-field value that does not fit is refused with the store unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.services.transaction import transaction
from store.domain import FieldDef, FieldType, FollowupType, Kind
from tests.server.caldav_support import (
    Dav,
    LiveServer,
    crm_call,
    crm_todo,
    dump,
    followups_by_uid,
    prop_lines,
    unfold,
    user,
    vtodo,
)

OSLO = ZoneInfo("Europe/Oslo")


@pytest.fixture
def dav(live: LiveServer) -> Dav:
    return live.dav("anna")


def in_vtodo(text: str) -> str:
    """The VTODO of an object's text (a VTIMEZONE has DTSTART lines too)."""
    body = unfold(text)
    return body[body.index("BEGIN:VTODO"):body.index("END:VTODO")]


def value(text: str, name: str) -> str:
    """The value of the VTODO's one ``name`` line."""
    (line,) = prop_lines(in_vtodo(text), name)
    return line.split(":", 1)[1]


def add_todo_type(live: LiveServer, name: str) -> int:
    with transaction(live.engine) as uow:
        added = uow.types.add(FollowupType(name, Kind.TODO, busy=False))
        uow.commit()
    assert added.id is not None
    return added.id


def test_categories_naming_another_todo_type_change_a_stale_crm_type(live: LiveServer, dav: Dav) -> None:
    errand = add_todo_type(live, "Errand")
    todo = crm_todo(live.engine, title="Buy coffee")
    path = f"anna/tasks/{todo.uid}.ics"
    text = dav.get(path).text
    stale = value(text, "X-CRM-TYPE")
    assert int(stale) == todo.type_id != errand
    changed = "\n".join("CATEGORIES:errand,Work" if line.startswith("CATEGORIES") else line
                        for line in unfold(text).split("\n"))
    assert dav.put(path, changed).status_code in (200, 204)

    (f,) = followups_by_uid(live.engine, todo.uid)
    assert f.kind is Kind.TODO and f.type_id == errand
    shown = dav.get(path).text
    # the client's own CATEGORIES come back as written (spec "Identity"); its stale X-CRM-TYPE is the CRM's
    assert value(shown, "CATEGORIES") == "errand,Work" and value(shown, "X-CRM-TYPE") == str(errand)


def test_categories_naming_no_type_keep_the_crm_type(live: LiveServer, dav: Dav) -> None:
    add_todo_type(live, "Errand")
    r = dav.put("anna/tasks/own.ics", vtodo("own-categories", extra=("CATEGORIES:Work,Blue",)))
    assert r.status_code == 201
    (created,) = followups_by_uid(live.engine, "own-categories")
    text = dav.get("anna/tasks/own.ics").text
    assert "X-CRM-TYPE" not in text, "a client's object gets no CRM-only line the CRM did not change (spec Identity)"
    assert dav.put("anna/tasks/own.ics", text.replace("Work,Blue", "Home")).status_code in (200, 204)
    (f,) = followups_by_uid(live.engine, "own-categories")
    assert f.type_id == created.type_id


def test_planned_call_ticked_off_in_a_client_is_a_made_call(live: LiveServer, dav: Dav) -> None:
    call = crm_call(live.engine, title="Call Kari", deadline=datetime(2026, 3, 6, 12, 0, tzinfo=UTC))
    path = f"anna/tasks/{call.uid}.ics"
    text = dav.get(path).text
    (due,) = prop_lines(in_vtodo(text), "DUE")
    assert not prop_lines(in_vtodo(text), "DTSTART")
    ticked = "\n".join(
        "STATUS:COMPLETED\nCOMPLETED:20260305T081500Z\nPERCENT-COMPLETE:100" if line.startswith("STATUS:")
        else line for line in unfold(text).split("\n") if not line.startswith("PERCENT-COMPLETE"))
    assert dav.put(path, ticked).status_code in (200, 204)

    (f,) = followups_by_uid(live.engine, call.uid)
    minutes = user(live.engine, "anna").call_minutes
    assert f.made and f.kind is Kind.CALL
    assert f.start == datetime(2026, 3, 5, 8, 15, tzinfo=UTC) and f.completed_at == f.start
    assert f.end is not None and f.end - f.start == timedelta(minutes=minutes)
    assert f.deadline == call.deadline
    shown = dav.get(path).text
    assert prop_lines(in_vtodo(shown), "DTSTART") == ["DTSTART;TZID=Europe/Oslo:20260305T091500"]
    assert value(shown, "DURATION") == f"PT{minutes}M"
    assert value(shown, "STATUS") == "COMPLETED" and value(shown, "COMPLETED") == "20260305T081500Z"
    assert value(shown, "PERCENT-COMPLETE") == "100"
    assert not prop_lines(in_vtodo(shown), "DUE")
    assert prop_lines(in_vtodo(shown), "X-CRM-DEADLINE") == ["X-CRM-DEADLINE" + due[len("DUE"):]]


def test_planned_call_ticked_off_without_completed_time_starts_now(live: LiveServer, dav: Dav) -> None:
    call = crm_call(live.engine, title="Call Ola")
    path = f"anna/tasks/{call.uid}.ics"
    text = dav.get(path).text
    ticked = "\n".join("STATUS:COMPLETED" if line.startswith("STATUS:") else line
                       for line in unfold(text).split("\n") if not line.startswith("PERCENT-COMPLETE"))
    before = datetime.now(UTC).replace(microsecond=0)
    assert dav.put(path, ticked).status_code in (200, 204)
    after = datetime.now(UTC)
    (f,) = followups_by_uid(live.engine, call.uid)
    assert f.made and isinstance(f.start, datetime) and before <= f.start <= after
    assert f.end is not None and f.end - f.start == timedelta(minutes=user(live.engine, "anna").call_minutes)


def test_a_made_call_keeps_its_times(live: LiveServer, dav: Dav) -> None:
    r = dav.put("anna/tasks/made.ics", vtodo("made-call", extra=(
        "X-CRM-KIND:CALL", "DTSTART;TZID=Europe/Oslo:20260304T103000", "STATUS:COMPLETED",
        "COMPLETED:20260304T100000Z")).replace("DUE:20260305T160000Z\r\n", "DURATION:PT25M\r\n"))
    assert r.status_code == 201, r.text
    (f,) = followups_by_uid(live.engine, "made-call")
    assert f.made and f.start == datetime(2026, 3, 4, 10, 30, tzinfo=OSLO)
    assert f.end == datetime(2026, 3, 4, 10, 55, tzinfo=OSLO)


@pytest.mark.parametrize(("field", "line", "takes"), [
    (FieldDef("Budget", FieldType.NUMBER), "X-CRM-FIELD;X-CRM-NAME=Budget:abc", "takes a number, not 'abc'"),
    (FieldDef("Region", FieldType.LIST, choices=["North", "South"]), "X-CRM-FIELD;X-CRM-NAME=region:East",
     "takes one of North, South; not 'East'"),
])
def test_a_custom_field_value_that_does_not_fit_is_refused(live: LiveServer, dav: Dav, field: FieldDef,
                                                           line: str, takes: str) -> None:
    with transaction(live.engine) as uow:
        uow.fields.add(field)
        uow.commit()
    todo = crm_todo(live.engine, title="Offer")
    path = f"anna/tasks/{todo.uid}.ics"
    text = dav.get(path).text
    bad = text.replace("END:VTODO", line + "\r\nEND:VTODO")
    before = dump(live.engine)
    r = dav.put(path, bad)
    assert r.status_code == 400
    assert f"custom field {field.name!r} {takes}" in r.text
    assert dump(live.engine) == before
    created = dav.put("anna/tasks/new-offer.ics", vtodo("new-offer", extra=(line,)))
    assert created.status_code == 400 and field.name in created.text
    assert dump(live.engine) == before
    assert dav.get("anna/tasks/new-offer.ics").status_code == 404
