"""End to end with a real client: the ``caldav`` library (3.x) against the
server, as an application using it would: discover, list, write, search and
sync by token after changes on both sides."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from caldav.davclient import DAVClient
from caldav.lib.error import DAVError

from server.services import followups as services
from store.domain import Kind
from tests.server.caldav_support import PASSWORD, LiveServer, crm_meeting, crm_todo, followups_by_uid, retitle

pytestmark = pytest.mark.slow


@pytest.fixture
def client(live: LiveServer) -> Iterator[DAVClient]:
    with DAVClient(url=live.url, username="anna", password=PASSWORD) as dav:
        yield dav


def calendars(client: DAVClient) -> dict[str, Any]:
    """The principal's calendars by the last part of their URL."""
    return {str(c.url).rstrip("/").rsplit("/", 1)[-1]: c for c in client.principal().calendars()}


def summary(obj: Any) -> str:
    return str(obj.get_icalendar_component()["SUMMARY"])


def test_discover_and_list_calendars(client: DAVClient, live: LiveServer) -> None:
    principal = client.principal()
    assert str(principal.url).rstrip("/").endswith("/anna")
    found = calendars(client)
    assert set(found) == {"meetings", "tasks"}
    assert found["meetings"].get_display_name() == "Anna Berg - Meetings"
    assert found["tasks"].get_display_name() == "Anna Berg - To-dos and calls"
    assert found["meetings"].get_supported_components() == ["VEVENT"]
    assert found["tasks"].get_supported_components() == ["VTODO"]


def test_create_edit_and_delete_an_event(client: DAVClient, live: LiveServer) -> None:
    meetings = calendars(client)["meetings"]
    event = meetings.add_event(uid="lib-ev-1", summary="Lunch with Oslo Fjord AS",
                               dtstart=datetime(2026, 3, 10, 11, tzinfo=UTC),
                               dtend=datetime(2026, 3, 10, 12, tzinfo=UTC))
    (f,) = followups_by_uid(live.engine, "lib-ev-1")
    assert f.kind is Kind.MEETING and f.title == "Lunch with Oslo Fjord AS"

    event.load()
    with event.edit_icalendar_component() as comp:
        comp["SUMMARY"] = "Lunch moved"
        comp["LOCATION"] = "Aker Brygge"
    event.save()
    (f,) = followups_by_uid(live.engine, "lib-ev-1")
    assert f.title == "Lunch moved" and f.location == "Aker Brygge"
    again = meetings.get_event_by_uid("lib-ev-1")
    assert summary(again) == "Lunch moved"

    again.delete()
    assert followups_by_uid(live.engine, "lib-ev-1") == []
    assert meetings.get_events() == []


def test_create_edit_complete_and_delete_a_todo(client: DAVClient, live: LiveServer) -> None:
    tasks = calendars(client)["tasks"]
    todo = tasks.add_todo(uid="lib-todo-1", summary="Send the offer", due=datetime(2026, 3, 12, 16, tzinfo=UTC))
    (f,) = followups_by_uid(live.engine, "lib-todo-1")
    assert f.kind is Kind.TODO and f.deadline == datetime(2026, 3, 12, 16, tzinfo=UTC)
    assert [summary(t) for t in tasks.get_todos()] == ["Send the offer"]

    todo.load()
    todo.complete()
    (f,) = followups_by_uid(live.engine, "lib-todo-1")
    assert f.completed
    assert tasks.get_todos() == []
    assert [summary(t) for t in tasks.get_todos(include_completed=True)] == ["Send the offer"]

    tasks.get_todo_by_uid("lib-todo-1").delete()
    assert followups_by_uid(live.engine, "lib-todo-1") == []


def test_event_into_tasks_is_refused(client: DAVClient) -> None:
    tasks = calendars(client)["tasks"]
    with pytest.raises(DAVError):
        tasks.add_event(uid="lib-wrong", summary="Wrong place", dtstart=datetime(2026, 3, 10, 11, tzinfo=UTC),
                        dtend=datetime(2026, 3, 10, 12, tzinfo=UTC))


def test_search_by_time_range(client: DAVClient, live: LiveServer) -> None:
    meetings = calendars(client)["meetings"]
    for day, uid in ((9, "in-1"), (10, "in-2"), (20, "out-1")):
        meetings.add_event(uid=uid, summary=uid, dtstart=datetime(2026, 3, day, 9, tzinfo=UTC),
                           dtend=datetime(2026, 3, day, 10, tzinfo=UTC))
    meetings.add_event(uid="weekly", summary="weekly", dtstart=datetime(2020, 1, 6, 8, tzinfo=UTC),
                       dtend=datetime(2020, 1, 6, 9, tzinfo=UTC), rrule={"FREQ": "WEEKLY"})
    crm_meeting(live.engine, title="crm-in", start=datetime(2026, 3, 11, 9, tzinfo=UTC))
    window = (datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC))
    found = meetings.search(start=window[0], end=window[1], event=True, expand=False)
    assert sorted(summary(e) for e in found) == ["crm-in", "in-1", "in-2", "weekly"]
    expanded = meetings.search(start=window[0], end=window[1], event=True, expand=True)
    assert sorted(summary(e) for e in expanded) == ["crm-in", "in-1", "in-2", "weekly"]
    assert meetings.search(start=datetime(2019, 1, 1, tzinfo=UTC), end=datetime(2019, 2, 1, tzinfo=UTC),
                           event=True) == []

    tasks = calendars(client)["tasks"]
    tasks.add_todo(uid="due-in", summary="due-in", due=datetime(2026, 3, 10, 12, tzinfo=UTC))
    tasks.add_todo(uid="due-out", summary="due-out", due=datetime(2026, 6, 10, 12, tzinfo=UTC))
    todos = tasks.search(start=window[0], end=window[1], todo=True)
    assert [summary(t) for t in todos] == ["due-in"]


def test_sync_by_token_after_server_and_client_changes(client: DAVClient, live: LiveServer) -> None:
    meetings = calendars(client)["meetings"]
    first = meetings.add_event(uid="sync-1", summary="one", dtstart=datetime(2026, 3, 9, 9, tzinfo=UTC),
                               dtend=datetime(2026, 3, 9, 10, tzinfo=UTC))
    local = meetings.get_objects_by_sync_token(load_objects=True, disable_fallback=True)
    assert not str(local.sync_token).startswith("fake-")
    assert sorted(summary(o) for o in local) == ["one"]

    updated, deleted = local.sync()
    assert list(updated) == [] and list(deleted) == []

    crm = crm_meeting(live.engine, title="from the crm", start=datetime(2026, 3, 9, 12, tzinfo=UTC))
    second = meetings.add_event(uid="sync-2", summary="two", dtstart=datetime(2026, 3, 9, 14, tzinfo=UTC),
                                dtend=datetime(2026, 3, 9, 15, tzinfo=UTC))
    updated, deleted = local.sync()
    assert sorted(summary(o) for o in updated) == ["from the crm", "two"]
    assert list(deleted) == []
    assert sorted(summary(o) for o in local) == ["from the crm", "one", "two"]

    assert crm.id is not None
    services.modify(live.engine, crm.id, retitle("renamed in the crm"))
    first.load()
    with first.edit_icalendar_component() as comp:
        comp["SUMMARY"] = "one, edited"
    first.save()
    second.delete()
    updated, deleted = local.sync()
    assert sorted(summary(o) for o in updated) == ["one, edited", "renamed in the crm"]
    assert [str(o.url).rsplit("/", 1)[-1] for o in deleted] == ["sync-2.ics"]
    assert sorted(summary(o) for o in local) == ["one, edited", "renamed in the crm"]

    services.delete(live.engine, crm.id)
    updated, deleted = local.sync()
    assert list(updated) == [] and len(list(deleted)) == 1
    assert sorted(summary(o) for o in local) == ["one, edited"]

    fresh = meetings.get_objects_by_sync_token(load_objects=True)
    assert {str(o.url) for o in fresh} == {str(o.url) for o in local}


def test_todo_sync_sees_a_crm_todo(client: DAVClient, live: LiveServer) -> None:
    tasks = calendars(client)["tasks"]
    local = tasks.get_objects_by_sync_token(load_objects=True, disable_fallback=True)
    assert len(local) == 0
    crm_todo(live.engine, title="Prepare the quote", deadline=datetime.now(UTC) + timedelta(days=2))
    updated, _ = local.sync()
    assert [summary(o) for o in updated] == ["Prepare the quote"]
