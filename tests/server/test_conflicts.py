"""Conflicts (mapping spec, "Conflicts"): busy follow-ups that overlap in time
and share a person or a resource, and the resources' policies on every write.
Runs on SQLite and PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from server.services import calendars, conflicts
from server.services import followups as services
from server.services.transaction import transaction
from store.domain import (
    ConflictPolicy,
    Followup,
    Kind,
    Participant,
    PartStat,
    Recurrence,
    Resource,
    ResourceKind,
    User,
    new_meeting,
)
from store.uow import UnitOfWork
from tests.server.caldav_support import ical, prop_lines, stamp

OSLO = ZoneInfo("Europe/Oslo")
DAY = datetime(2026, 12, 1, 10, 0, tzinfo=OSLO)


@pytest.fixture
def people(engine: Engine) -> Engine:
    services.add_user(engine, User("anna", "Anna Berg", "anna@example.com", tz="Europe/Oslo"))
    services.add_user(engine, User("bjorn", "Bjørn Dahl", "bjorn@example.com", tz="Europe/Oslo"))
    services.add_resource(engine, Resource("fjord", "Room Fjord", ResourceKind.ROOM, "fjord@example.com"))
    services.add_resource(engine, Resource("beamer", "Beamer", ResourceKind.EQUIPMENT, "beamer@example.com"))
    return engine


def _ids(engine: Engine) -> dict[str, int]:
    with transaction(engine, write=False) as uow:
        found = {u.login: u.id or 0 for u in uow.users.list()}
        found.update({r.login: r.id or 0 for r in uow.resources.list()})
        found["type"] = uow.types.default(Kind.MEETING).id or 0
    return found


def meeting(engine: Engine, owner: str, title: str, start: datetime | date, minutes: int = 60,
            **fields: Any) -> Followup:
    ids = _ids(engine)
    with transaction(engine, write=False) as uow:
        user = uow.users.by_login(owner)
    end = start + timedelta(days=1) if not isinstance(start, datetime) else start + timedelta(minutes=minutes)
    return services.create(engine, new_meeting(user, title, ids["type"], start, end, **fields))


def invite(engine: Engine, login: str, partstat: PartStat = PartStat.NEEDS_ACTION) -> Participant:
    uid = _ids(engine)[login]
    return Participant(user_id=uid, email=f"{login}@example.com", partstat=partstat)


def clashes(engine: Engine, f: Followup) -> list[conflicts.Clash]:
    assert f.id is not None
    with transaction(engine, write=False) as uow:
        return conflicts.find(uow, uow.followups.get(f.id))


def stored(engine: Engine, f: Followup) -> Followup:
    assert f.id is not None
    with transaction(engine, write=False) as uow:
        return uow.followups.get(f.id)


def bookings(engine: Engine, resource: str = "fjord") -> set[str]:
    view = calendars.collection(engine, resource, "bookings", with_items=True)
    assert view is not None and view.items is not None
    return {o.uid for o in view.items}


def set_policy(engine: Engine, login: str, policy: ConflictPolicy) -> Resource:
    def change(r: Resource) -> None:
        r.on_conflict = policy

    return services.update_resource(engine, login, change)


def change(**values: Any) -> Callable[[Followup, UnitOfWork], None]:
    def apply(f: Followup, _uow: UnitOfWork) -> None:
        for key, value in values.items():
            setattr(f, key, value)

    return apply


# -- detection ----------------------------------------------------------------------------


def test_owner_clash(people: Engine) -> None:
    first = meeting(people, "anna", "Budget review", DAY)
    second = meeting(people, "anna", "Supplier call", DAY + timedelta(minutes=30))
    [clash] = clashes(people, second)
    assert (clash.other_id, clash.other_title, clash.other_owner) == (first.id, "Budget review", "anna")
    assert (clash.shared_kind, clash.shared) == ("user", "anna")
    assert (clash.start, clash.end) == (datetime(2026, 12, 1, 9, 30, tzinfo=UTC), datetime(2026, 12, 1, 10, 0,
                                                                                               tzinfo=UTC))
    assert [c.other_id for c in clashes(people, first)] == [second.id]


def test_back_to_back_is_no_clash(people: Engine) -> None:
    meeting(people, "anna", "First", DAY)
    assert clashes(people, meeting(people, "anna", "Second", DAY + timedelta(hours=1))) == []


def test_participant_clash(people: Engine) -> None:
    first = meeting(people, "anna", "Budget review", DAY, participants=[invite(people, "bjorn")])
    second = meeting(people, "bjorn", "Own time", DAY)
    assert [(c.other_id, c.shared) for c in clashes(people, second)] == [(first.id, "bjorn")]
    assert [(c.other_id, c.shared) for c in clashes(people, first)] == [(second.id, "bjorn")]


def test_declined_participant_no_clash(people: Engine) -> None:
    meeting(people, "anna", "Budget review", DAY, participants=[invite(people, "bjorn", PartStat.DECLINED)])
    assert clashes(people, meeting(people, "bjorn", "Own time", DAY)) == []


@pytest.mark.parametrize("fields", [{"busy": False}, {"cancelled": True}], ids=["free", "cancelled"])
def test_free_and_cancelled_no_clash(people: Engine, fields: dict[str, Any]) -> None:
    other = meeting(people, "anna", "Either way", DAY, **fields)
    mine = meeting(people, "anna", "Busy", DAY)
    assert clashes(people, mine) == []
    assert clashes(people, other) == []


def test_resource_clash(people: Engine) -> None:
    ids = _ids(people)
    first = meeting(people, "anna", "Budget review", DAY, resource_ids=[ids["fjord"]])
    second = meeting(people, "bjorn", "Interview", DAY + timedelta(minutes=45), resource_ids=[ids["fjord"]])
    assert [(c.other_id, c.other_owner, c.shared_kind, c.shared) for c in clashes(people, second)] == [
        (first.id, "anna", "resource", "fjord")]
    assert stored(people, second).declined_resource_ids == []  # the default policy: allow
    assert bookings(people) == {first.uid, second.uid}


def test_other_resource_no_clash(people: Engine) -> None:
    ids = _ids(people)
    meeting(people, "anna", "Budget review", DAY, resource_ids=[ids["fjord"]])
    assert clashes(people, meeting(people, "bjorn", "Demo", DAY, resource_ids=[ids["beamer"]])) == []


def test_weekly_series_clashes_on_its_third_occurrence(people: Engine) -> None:
    series = meeting(people, "anna", "Weekly", DAY, recurrence=Recurrence(rule="FREQ=WEEKLY;COUNT=5"))
    single = meeting(people, "anna", "One-off", DAY + timedelta(days=14, minutes=30))
    [clash] = clashes(people, single)
    assert clash.other_id == series.id
    assert clash.start == datetime(2026, 12, 15, 9, 30, tzinfo=UTC)
    [clash] = clashes(people, series)
    assert (clash.other_id, clash.start) == (single.id, datetime(2026, 12, 15, 9, 30, tzinfo=UTC))


def test_exdate_removes_the_clash(people: Engine) -> None:
    third = DAY + timedelta(days=14)
    series = meeting(people, "anna", "Weekly", DAY,
                     recurrence=Recurrence(rule="FREQ=WEEKLY;COUNT=5", exdates=[third]))
    single = meeting(people, "anna", "One-off", third + timedelta(minutes=30))
    assert clashes(people, single) == []
    assert clashes(people, series) == []


def test_endless_daily_series_is_bounded(people: Engine) -> None:
    first = meeting(people, "anna", "Stand-up", DAY, recurrence=Recurrence(rule="FREQ=DAILY"))
    second = meeting(people, "anna", "Other stand-up", DAY + timedelta(days=2, minutes=30),
                     recurrence=Recurrence(rule="FREQ=DAILY"))
    far = meeting(people, "anna", "Far ahead", DAY + timedelta(days=3 * 365, minutes=15))
    began = time.monotonic()
    found = clashes(people, first)
    assert time.monotonic() - began < 5
    assert (found[0].other_id, found[0].start) == (second.id, datetime(2026, 12, 3, 9, 30, tzinfo=UTC))
    assert far.id not in {c.other_id for c in found}  # beyond the two-year horizon of the series
    assert [c.other_id for c in clashes(people, far)] == [first.id, second.id]  # from its side, it is seen


def test_all_day_busy_meeting_clashes_with_that_day(people: Engine) -> None:
    day = meeting(people, "anna", "Offsite", date(2026, 12, 1))
    assert [c.other_id for c in clashes(people, meeting(people, "anna", "Call", DAY))] == [day.id]


def test_in_window_lists_each_clash_once(people: Engine) -> None:
    ids = _ids(people)
    first = meeting(people, "anna", "Budget review", DAY, participants=[invite(people, "bjorn")],
                    resource_ids=[ids["fjord"]])
    second = meeting(people, "bjorn", "Interview", DAY, resource_ids=[ids["fjord"]])
    meeting(people, "anna", "Later", DAY + timedelta(hours=3))
    start, end = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC)
    with transaction(people, write=False) as uow:
        everyone = conflicts.in_window(uow, start, end)
        anna = conflicts.in_window(uow, start, end, user_id=ids["anna"])
        room = conflicts.in_window(uow, start, end, resource_id=ids["fjord"])
    [o] = everyone
    assert (o.first.id, o.second.id, o.users, o.resources) == (first.id, second.id, ("bjorn",), ("fjord",))
    assert anna == []
    assert [(x.first.id, x.second.id, x.users, x.resources) for x in room] == [(first.id, second.id, (), ("fjord",))]


# -- the resources' policies ----------------------------------------------------------------


def test_decline_policy_declines_the_later_booking(people: Engine) -> None:
    ids = _ids(people)
    set_policy(people, "fjord", ConflictPolicy.DECLINE)
    first = meeting(people, "anna", "Budget review", DAY, resource_ids=[ids["fjord"]])
    later = meeting(people, "bjorn", "Interview", DAY + timedelta(minutes=30),
                    resource_ids=[ids["fjord"], ids["beamer"]])
    assert stored(people, first).declined_resource_ids == []
    assert stored(people, later).declined_resource_ids == [ids["fjord"]]
    assert bookings(people) == {first.uid}
    assert bookings(people, "beamer") == {later.uid}
    view = calendars.collection(people, "bjorn", "meetings", with_items=True)
    assert view is not None and view.items is not None
    [text] = [o.text for o in view.items if o.uid == later.uid]
    [room] = [line for line in prop_lines(text, "ATTENDEE") if "fjord@example.com" in line]
    assert "PARTSTAT=DECLINED" in room
    [beamer] = [line for line in prop_lines(text, "ATTENDEE") if "beamer@example.com" in line]
    assert "PARTSTAT=ACCEPTED" in beamer
    # a declined booking blocks nothing, so it is no conflict; the one kept says why it was refused
    assert clashes(people, later) == []
    with transaction(people, write=False) as uow:
        [refusal] = conflicts.refusals(uow, uow.followups.get(later.id or 0))
    assert (refusal.other_id, refusal.shared) == (first.id, "fjord")

    # any other write keeps the answers as they are
    services.modify(people, first.id or 0, change(title="Budget review 2"))
    services.modify(people, later.id or 0, change(title="Interview 2"))
    assert stored(people, first).declined_resource_ids == []
    assert stored(people, later).declined_resource_ids == [ids["fjord"]]

    # moved away, the room accepts again
    services.modify(people, later.id or 0, change(start=DAY + timedelta(hours=2), end=DAY + timedelta(hours=3)))
    assert stored(people, later).declined_resource_ids == []
    assert bookings(people) == {first.uid, later.uid}


def test_allow_policy_keeps_both(people: Engine) -> None:
    ids = _ids(people)
    first = meeting(people, "anna", "Budget review", DAY, resource_ids=[ids["fjord"]])
    later = meeting(people, "bjorn", "Interview", DAY, resource_ids=[ids["fjord"]])
    assert stored(people, later).declined_resource_ids == []
    assert bookings(people) == {first.uid, later.uid}
    assert [c.shared for c in clashes(people, later)] == ["fjord"]


def test_a_new_policy_applies_to_existing_bookings_oldest_first(people: Engine) -> None:
    ids = _ids(people)
    first = meeting(people, "anna", "Budget review", DAY, resource_ids=[ids["fjord"]])
    second = meeting(people, "bjorn", "Interview", DAY, resource_ids=[ids["fjord"]])
    third = meeting(people, "anna", "Afternoon", DAY + timedelta(hours=4), resource_ids=[ids["fjord"]])
    set_policy(people, "fjord", ConflictPolicy.DECLINE)
    assert [stored(people, f).declined_resource_ids for f in (first, second, third)] == [[], [ids["fjord"]], []]
    assert bookings(people) == {first.uid, third.uid}
    set_policy(people, "fjord", ConflictPolicy.ALLOW)
    assert [stored(people, f).declined_resource_ids for f in (first, second, third)] == [[], [], []]
    assert bookings(people) == {first.uid, second.uid, third.uid}


def test_import_declines_the_later_of_two_clashing_bookings(people: Engine) -> None:
    ids = _ids(people)
    set_policy(people, "fjord", ConflictPolicy.DECLINE)
    with transaction(people, write=False) as uow:
        anna, bjorn = uow.users.by_login("anna"), uow.users.by_login("bjorn")
    batch = [new_meeting(anna, "Imported 1", ids["type"], DAY, resource_ids=[ids["fjord"]]),
             new_meeting(bjorn, "Imported 2", ids["type"], DAY, resource_ids=[ids["fjord"]])]
    services.create_many(people, batch)
    assert [stored(people, f).declined_resource_ids for f in batch] == [[], [ids["fjord"]]]
    assert bookings(people) == {batch[0].uid}


def test_settling_does_not_loop_and_logs_one_update(people: Engine) -> None:
    ids = _ids(people)
    set_policy(people, "fjord", ConflictPolicy.DECLINE)
    meeting(people, "anna", "Budget review", DAY, resource_ids=[ids["fjord"]])
    later = meeting(people, "bjorn", "Interview", DAY, resource_ids=[ids["fjord"]])
    _, changes = services.history(people, later.id or 0)
    assert [c.action for c in changes] == ["create", "update"]


# -- over a real server -----------------------------------------------------------------------


def test_client_put_booking_a_busy_room_is_declined(live: Any) -> None:
    from tests.server.caldav_support import crm_meeting

    engine = live.engine
    set_policy(engine, "fjord", ConflictPolicy.DECLINE)
    with transaction(engine, write=False) as uow:
        fjord = uow.resources.by_login("fjord").id
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    kept = crm_meeting(engine, "bjorn", "Board meeting", start, resource_ids=[fjord])
    text = ical("BEGIN:VEVENT", "UID:room-clash-1", "DTSTAMP:20260101T000000Z", f"DTSTART:{stamp(start)}",
                f"DTEND:{stamp(start + timedelta(hours=1))}", "SUMMARY:Workshop",
                "ORGANIZER:mailto:anna@example.com",
                "ATTENDEE;CUTYPE=ROOM;ROLE=NON-PARTICIPANT;CN=Room Fjord:mailto:fjord@example.com",
                "END:VEVENT")
    dav = live.dav("anna")
    r = dav.put("anna/meetings/room-clash-1.ics", text)
    assert r.status_code == 201, r.text
    assert "ETag" not in r.headers  # what is stored is not what was sent: the room declined
    got = dav.get("anna/meetings/room-clash-1.ics")
    assert got.status_code == 200
    [room] = [line for line in prop_lines(got.text, "ATTENDEE") if "fjord@example.com" in line]
    assert "PARTSTAT=DECLINED" in room
    assert list(dav.etags("fjord/bookings/")) == [f"/fjord/bookings/{kept.uid}.ics"]
