"""Free/busy from the calendars' time index gives the answer the follow-up
scan gave (issue 14: the scan read every series that began before the
window and expanded it from its first instance).

The scan is kept here as the reference: on a store with every kind of
busy and not-busy time, both must give the same periods for every window.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from server.services import followups as services
from server.services import freebusy, personal
from server.services.freebusy import BUSY, MAX_FOLLOWUPS, TENTATIVE, Busy
from server.services.transaction import transaction
from store.calendar import CalendarReader
from store.domain import (
    Followup,
    Kind,
    Occurrence,
    Participant,
    PartStat,
    Recurrence,
    User,
    new_call,
    new_meeting,
    new_todo,
    record_call_made,
)
from store.errors import NotFound
from store.localtime import utc_naive
from tests.server.caldav_support import add_people, type_id

OSLO = ZoneInfo("Europe/Oslo")


def scanned_periods(engine: Engine, principal: str, start: datetime, end: datetime) -> list[Busy]:
    """The answer as it was before the time index: every follow-up of the
    diary (or booking) that began before the window's end, read whole."""
    start, end = freebusy.window(start, end)
    found: list[Busy] = []
    with transaction(engine, write=False) as uow:
        try:
            who = uow.users.by_login(principal)
        except NotFound:
            resource = uow.resources.by_login(principal)
            assert resource.id is not None
            for f in uow.followups.booked(resource.id, utc_naive(start), utc_naive(end), MAX_FOLLOWUPS):
                found += freebusy._busy(f, BUSY, start, end, UTC)
        else:
            assert who.id is not None
            zone = ZoneInfo(who.tz)
            for f in uow.followups.diary(who.id, utc_naive(start), utc_naive(end))[:MAX_FOLLOWUPS]:
                found += freebusy._busy(f, _scanned_fbtype(f, who.id), start, end, zone)
            found += freebusy._personal(CalendarReader(uow.session.connection()), principal, start, end, zone)
    return freebusy.merge(found)


def _scanned_fbtype(f: Followup, user_id: int) -> str:
    if f.owner_id == user_id:
        return BUSY
    answers = [p.partstat for p in f.participants if p.user_id == user_id]
    return BUSY if answers and answers[0] is PartStat.ACCEPTED else TENTATIVE


def _oslo(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=OSLO)


def _event(uid: str, *lines: str) -> str:
    body = "\r\n".join(("BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20200101T000000Z", *lines, "END:VEVENT"))
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//test//EN\r\n{body}\r\nEND:VCALENDAR\r\n"


def _mixed_store(engine: Engine) -> None:
    """anna's diary around the change to summer time (2026-03-29), with what
    counts and what does not, bjorn's invitations to her, and room fjord."""
    add_people(engine)
    with transaction(engine, write=False) as uow:
        anna, bjorn = uow.users.by_login("anna"), uow.users.by_login("bjorn")
        room = uow.resources.by_login("fjord")
    assert anna.id is not None and room.id is not None
    meeting, call, todo = (type_id(engine, k) for k in (Kind.MEETING, Kind.CALL, Kind.TODO))
    mon = date(2026, 3, 23)

    def invite(answer: PartStat) -> list[Participant]:
        return [Participant(user_id=anna.id, partstat=answer)]

    def make(owner: User, title: str, start: datetime | date, end: datetime | date, **fields: object) -> None:
        services.create(engine, new_meeting(owner, title, meeting, start, end, **fields))

    weekly = _oslo(mon - timedelta(weeks=6), 9)
    make(anna, "Weekly with EXDATE and a moved one", weekly, weekly + timedelta(hours=1), resource_ids=[room.id],
         recurrence=Recurrence(rule="FREQ=WEEKLY;COUNT=12", exdates=[weekly + timedelta(weeks=6)]),
         overrides=[Occurrence(recurrence_id=weekly + timedelta(weeks=7), start=weekly + timedelta(weeks=7, hours=5),
                               end=weekly + timedelta(weeks=7, hours=6)),
                    Occurrence(recurrence_id=weekly + timedelta(weeks=8), cancelled=True)])
    daily = datetime(2026, 3, 26, 7, 30)  # floating: read in anna's zone
    make(anna, "Floating daily stand-up", daily, daily + timedelta(minutes=15),
         recurrence=Recurrence(rule="FREQ=DAILY;UNTIL=20260403T073000"))
    make(anna, "Old series without end", datetime(2019, 1, 7, 13, tzinfo=UTC), datetime(2019, 1, 7, 14, tzinfo=UTC),
         recurrence=Recurrence(rule="FREQ=WEEKLY;BYDAY=MO,TH"))
    make(anna, "All-day offsite", date(2026, 3, 27), date(2026, 3, 28))
    make(anna, "Floating lunch", datetime(2026, 3, 24, 11, 30), datetime(2026, 3, 24, 12, 30))
    make(anna, "Private, in the room", _oslo(mon, 14), _oslo(mon, 15), private=True, resource_ids=[room.id])
    make(anna, "Free", _oslo(mon, 16), _oslo(mon, 17), busy=False)
    make(anna, "Cancelled", _oslo(mon, 18), _oslo(mon, 19), cancelled=True)
    make(anna, "Early", _oslo(mon, 7), _oslo(mon, 8))
    make(anna, "Room declined", _oslo(mon + timedelta(days=1), 8), _oslo(mon + timedelta(days=1), 9),
         resource_ids=[room.id], declined_resource_ids=[room.id])
    made = new_call(anna, "Made call", call, _oslo(mon, 10))
    record_call_made(made, anna, _oslo(mon + timedelta(days=2), 10, 5), 25)
    services.create(engine, made)
    services.create(engine, new_call(anna, "Planned call", call, _oslo(mon + timedelta(days=2), 12)))
    services.create(engine, new_todo(anna, "To-do with times", todo, _oslo(mon, 13), start=_oslo(mon, 12),
                                     end=_oslo(mon, 13)))
    for n, answer in enumerate((PartStat.NEEDS_ACTION, PartStat.TENTATIVE, PartStat.ACCEPTED, PartStat.DECLINED)):
        day = mon + timedelta(days=n)
        make(bjorn, f"Invitation {answer.value}", _oslo(day, 15), _oslo(day, 16), participants=invite(answer))
    series = _oslo(mon - timedelta(days=3), 8)
    make(bjorn, "Accepted series", series, series + timedelta(minutes=45), participants=invite(PartStat.ACCEPTED),
         recurrence=Recurrence(rule="FREQ=WEEKLY;INTERVAL=2;COUNT=5"), resource_ids=[room.id])
    make(bjorn, "bjorn alone", _oslo(mon, 11), _oslo(mon, 12))
    invited_call = new_call(bjorn, "Call with anna", call, _oslo(mon, 9), participants=invite(PartStat.ACCEPTED))
    record_call_made(invited_call, bjorn, _oslo(mon + timedelta(days=3), 9), 30)
    services.create(engine, invited_call)

    with transaction(engine, actor="anna") as uow:
        family = personal.create(uow, "anna", "family", "anna", {})
        for href, text in {
            "dentist.ics": _event("dentist", "DTSTART;TZID=Europe/Oslo:20260325T150000", "DURATION:PT45M"),
            "lunch.ics": _event("lunch", "DTSTART:20260325T110000Z", "DTEND:20260325T120000Z",
                                "TRANSP:TRANSPARENT"),
            "off.ics": _event("off", "DTSTART:20260326T110000Z", "DTEND:20260326T120000Z", "STATUS:CANCELLED"),
            "swim.ics": _event("swim", "DTSTART;VALUE=DATE:20260320", "RRULE:FREQ=WEEKLY;COUNT=4",
                               "EXDATE;VALUE=DATE:20260327"),
        }.items():
            personal.put(uow, family, href, text, "anna")
        uow.commit()


WINDOWS = [
    (datetime(2026, 3, 23, tzinfo=UTC), datetime(2026, 3, 24, tzinfo=UTC)),
    (datetime(2026, 3, 23, 5, tzinfo=UTC), datetime(2026, 3, 30, 5, tzinfo=UTC)),
    (datetime(2026, 3, 29, tzinfo=UTC), datetime(2026, 4, 5, tzinfo=UTC)),
    (datetime(2026, 3, 26, 6, 30, tzinfo=UTC), datetime(2026, 3, 26, 6, 40, tzinfo=UTC)),
    (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)),
    (datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 2, 1, tzinfo=UTC)),
    (datetime(2025, 6, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)),
]


@pytest.fixture
def mixed(engine: Engine) -> Engine:
    _mixed_store(engine)
    return engine


def test_the_indexed_answer_is_the_scanned_one(mixed: Engine) -> None:
    """A user with invitations, the organizer, and a room, in every window."""
    for who in ("anna", "bjorn", "fjord"):
        for start, end in WINDOWS:
            assert freebusy.periods(mixed, who, start, end) == scanned_periods(mixed, who, start, end), (who, start)


def _utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def test_two_days_by_hand(mixed: Engine) -> None:
    """Monday 23 and Thursday 26 March (Oslo is UTC+1 until the 29th)."""
    monday = freebusy.periods(mixed, "anna", _utc(23, 0), _utc(24, 0))
    assert monday == [
        Busy(_utc(23, 6), _utc(23, 7), BUSY),  # "Early", 07:00 Oslo; the weekly series' EXDATE is this day
        Busy(_utc(23, 13), _utc(23, 14), BUSY),  # the old series and the private meeting, merged
        Busy(_utc(23, 14), _utc(23, 15), TENTATIVE),  # the unanswered invitation
    ]
    thursday = freebusy.periods(mixed, "anna", _utc(26, 0), _utc(27, 0))
    assert thursday == [
        Busy(_utc(26, 6, 30), _utc(26, 6, 45), BUSY),  # the floating stand-up, read in Oslo
        Busy(_utc(26, 8), _utc(26, 8, 30), BUSY),  # bjorn's call she accepted
        Busy(_utc(26, 13), _utc(26, 14), BUSY),  # the old series; declined, cancelled personal time left out
        Busy(_utc(26, 23), _utc(27, 0), BUSY),  # the all-day offsite of the 27th begins at midnight in Oslo
    ]
    assert freebusy.periods(mixed, "fjord", _utc(23, 0), _utc(24, 0)) == [Busy(_utc(23, 13), _utc(23, 14), BUSY)]
