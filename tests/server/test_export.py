"""Exports (server.services.export): what a selection holds, as whose eyes
see it, in one file that icalendar and vobject both read; and the cheap
fingerprint that feeds answer 304 from.

One small team over a store per backend, shared by the tests that only
read; the fingerprint tests change data and get a store of their own.

Measured once, not asserted: joining 2,000 stored objects (2.4 MB) into
one VCALENDAR takes 35 ms with :mod:`mapping.join`'s line scanner, and
2,600 ms parsing each with ``icalendar.Calendar.from_ical`` and writing the
result with ``to_ical`` (a shared 2-core machine). Exporting a company's
2,000 follow-ups none of which the viewer holds renders each once (680 ms
on SQLite), then 60 ms from the cache; its fingerprint takes 25 ms."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import vobject
from icalendar import Calendar
from sqlalchemy import Engine

from mapping.join import Joiner, join
from server.services import export, projection
from server.services import followups as services
from server.services.export import Selection
from server.services.transaction import transaction
from store import db
from store.calendar import CalendarReader
from store.domain import (
    Company,
    Followup,
    Kind,
    Occurrence,
    Participant,
    PartStat,
    Recurrence,
    Resource,
    ResourceKind,
    User,
    new_call,
    new_meeting,
    new_todo,
)
from tests.conftest import drop_schema, make_url

OSLO = ZoneInfo("Europe/Oslo")
NEW_YORK = ZoneInfo("America/New_York")
SECRET = "acquisition of Beta"


@dataclass
class Team:
    engine: Engine
    ids: dict[str, int]
    uids: dict[str, str]
    acme: int
    other: int

    def uid_set(self, *names: str) -> set[str]:
        return {self.uids[n] for n in names}


def _type(engine: Engine, kind: Kind) -> int:
    with transaction(engine, write=False) as uow:
        found = uow.types.default(kind).id
    assert found is not None
    return found


def _build(engine: Engine) -> Team:
    """anna and bjorn (Oslo), carla (New York), room fjord, companies Acme and Other."""
    users = {login: services.add_user(engine, User(login, name, f"{login}@example.com", tz=tz))
             for login, name, tz in (("anna", "Anna Berg", "Europe/Oslo"), ("bjorn", "Bjørn Dahl", "Europe/Oslo"),
                                     ("carla", "Carla Diaz", "America/New_York"))}
    room = services.add_resource(engine, Resource("fjord", "Room Fjord", ResourceKind.ROOM, "fjord@example.com"))
    with transaction(engine) as uow:
        acme = uow.companies.add(Company("Acme AS")).id
        other = uow.companies.add(Company("Other AS")).id
        uow.commit()
    assert acme is not None and other is not None
    meeting, todo, call = _type(engine, Kind.MEETING), _type(engine, Kind.TODO), _type(engine, Kind.CALL)
    anna, bjorn, carla = users["anna"], users["bjorn"], users["carla"]
    assert anna.id and bjorn.id and carla.id and room.id

    def invite(*who: User) -> list[Participant]:
        return [Participant(user_id=u.id, partstat=PartStat.ACCEPTED) for u in who]

    made: dict[str, Followup] = {
        "kickoff": new_meeting(anna, "Kickoff", meeting, datetime(2026, 3, 3, 10, 0, tzinfo=OSLO),
                               company_id=acme, alarm_minutes=15, resource_ids=[room.id],
                               participants=invite(bjorn)),
        "secret": new_meeting(anna, "Takeover talks", meeting, datetime(2026, 3, 4, 9, 0, tzinfo=OSLO),
                              company_id=acme, agenda=SECRET, private=True, participants=invite(bjorn)),
        "weekly": new_meeting(bjorn, "Weekly with Acme", meeting, datetime(2026, 2, 2, 9, 0, tzinfo=OSLO),
                              company_id=acme, recurrence=Recurrence(rule="FREQ=WEEKLY;COUNT=10"),
                              participants=invite(anna),
                              overrides=[Occurrence(recurrence_id=datetime(2026, 2, 9, 9, 0, tzinfo=OSLO),
                                                    start=datetime(2026, 2, 10, 13, 0, tzinfo=OSLO),
                                                    end=datetime(2026, 2, 10, 14, 0, tzinfo=OSLO),
                                                    title="Weekly, moved")]),
        "offer": new_todo(carla, "Send offer", todo, datetime(2026, 3, 10, 17, 0, tzinfo=NEW_YORK),
                          company_id=acme),
        "call": new_call(carla, "Call Acme", call, datetime(2026, 4, 1, 12, 0, tzinfo=NEW_YORK), company_id=acme),
        "late": new_meeting(anna, "Late", meeting, datetime(2026, 3, 5, 0, 30, tzinfo=OSLO),
                            end=datetime(2026, 3, 5, 1, 0, tzinfo=OSLO)),
        "elsewhere": new_todo(anna, "Other's to-do", todo, date(2026, 3, 4), company_id=other),
        "someday": Followup(owner_id=anna.id, kind=Kind.TODO, title="Someday", type_id=todo),
    }
    for f in made.values():
        services.create(engine, f)
    return Team(engine, {k: f.id for k, f in made.items() if f.id is not None},
                {k: f.uid for k, f in made.items()}, acme, other)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def team(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    url, schema = make_url(request.param, tmp_path_factory.mktemp("export"))
    try:
        yield _build(services.open_store(url))
    finally:
        db.dispose_all()
        drop_schema(schema)


def parse(text: str) -> tuple[Calendar, list[Any]]:
    """The file as icalendar and as vobject read it (both must)."""
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    cal = Calendar.from_ical(text)
    objects = list(vobject.readComponents(io.StringIO(text)))
    assert len(objects) == 1, "one VCALENDAR"
    return cal, [c for c in objects[0].getChildren() if c.name in ("VEVENT", "VTODO")]


def components(cal: Calendar) -> list[Any]:
    return [c for c in cal.subcomponents if c.name in ("VEVENT", "VTODO")]


def by_uid(cal: Calendar, uid: str) -> list[Any]:
    return [c for c in components(cal) if str(c["UID"]) == uid]


def activities_uids(engine: Engine, company_id: int) -> set[str]:
    with transaction(engine, write=False) as uow:
        return {f.uid for f in uow.followups.activities(company_id=company_id)}


# -- what a record's export holds ------------------------------------------------------------


def test_company_export_reads_in_icalendar_and_vobject_and_holds_exactly_its_followups(team: Team) -> None:
    text = export.export_text(team.engine, Selection(None, "company", record_id=team.acme))
    cal, vcomponents = parse(text)
    uids = {str(c["UID"]) for c in components(cal)}
    assert uids == activities_uids(team.engine, team.acme)
    assert uids == team.uid_set("kickoff", "secret", "weekly", "offer", "call")
    assert {c.uid.value for c in vcomponents} == uids
    assert str(cal["X-WR-CALNAME"]) == "Acme AS - Activities"
    zones = [str(z["TZID"]) for z in cal.subcomponents if z.name == "VTIMEZONE"]
    assert sorted(zones) == ["America/New_York", "Europe/Oslo"], "each VTIMEZONE once"
    assert text.index("BEGIN:VTIMEZONE") < text.index("BEGIN:VEVENT")


def test_a_recurring_meeting_keeps_its_overrides_beside_it(team: Team) -> None:
    cal = Calendar.from_ical(export.export_text(team.engine, Selection(None, "company", record_id=team.acme)))
    order = [str(c["UID"]) for c in components(cal)]
    weekly = [i for i, uid in enumerate(order) if uid == team.uids["weekly"]]
    assert len(weekly) == 2 and weekly[1] == weekly[0] + 1
    master, moved = by_uid(cal, team.uids["weekly"])
    assert "RRULE" in master and "RECURRENCE-ID" not in master
    assert str(moved["SUMMARY"]) == "Weekly, moved" and "RECURRENCE-ID" in moved


def test_private_followups_are_masked_unless_the_viewer_owns_or_attends_them(team: Team) -> None:
    def secret_for(viewer: str | None) -> Any:
        cal = Calendar.from_ical(export.export_text(team.engine, Selection(viewer, "company", record_id=team.acme)))
        [found] = by_uid(cal, team.uids["secret"])
        return found

    for viewer in (None, "carla"):
        block = secret_for(viewer)
        assert str(block["SUMMARY"]) == "Private" and str(block["CLASS"]) == "PRIVATE"
        assert "DESCRIPTION" not in block and "ATTENDEE" not in block and "CONTACT" not in block
        assert block.decoded("DTSTART") == datetime(2026, 3, 4, 9, 0, tzinfo=OSLO)
    for viewer in ("anna", "bjorn"):
        full = secret_for(viewer)
        assert str(full["SUMMARY"]) == "Takeover talks" and SECRET in str(full["DESCRIPTION"])


def test_a_record_export_shows_the_viewers_own_copy_else_nobodys_alarms(team: Team) -> None:
    def kickoff(viewer: str | None) -> Any:
        cal = Calendar.from_ical(export.export_text(team.engine, Selection(viewer, "company", record_id=team.acme)))
        [found] = by_uid(cal, team.uids["kickoff"])
        return found

    assert [a.name for a in kickoff("anna").subcomponents] == ["VALARM"], "anna's own copy, with her alarm"
    for viewer in (None, "carla"):
        neutral = kickoff(viewer)
        assert neutral.subcomponents == [], "a neutral copy carries nobody's alarm"
        assert str(neutral["SUMMARY"]) == "Kickoff"


# -- a user's calendars ---------------------------------------------------------------------


def test_meetings_tasks_and_all_split_a_users_calendars(team: Team) -> None:
    def uids(what: str, viewer: str = "anna") -> set[str]:
        cal, _ = parse(export.export_text(team.engine, Selection(viewer, what, owner="anna")))
        return {str(c["UID"]) for c in components(cal)}

    meetings = uids("meetings")
    tasks = uids("tasks")
    assert meetings == team.uid_set("kickoff", "secret", "weekly", "late"), "her own and those she attends"
    assert tasks == team.uid_set("elsewhere", "someday")
    assert uids("all") == meetings | tasks
    cal = Calendar.from_ical(export.export_text(team.engine, Selection("anna", "meetings", owner="anna")))
    assert str(cal["X-WR-CALNAME"]) == "Anna Berg - Meetings"
    assert all(c.name == "VEVENT" for c in components(cal))


def test_a_users_private_meeting_is_masked_for_any_other_viewer(team: Team) -> None:
    def secret_summary(viewer: str | None) -> str:
        cal = Calendar.from_ical(export.export_text(team.engine, Selection(viewer, "meetings", owner="anna")))
        [found] = by_uid(cal, team.uids["secret"])
        return str(found["SUMMARY"])

    assert secret_summary("anna") == "Takeover talks"
    assert secret_summary("bjorn") == "Private", "a participant reading anna's calendar reads the busy block"
    assert secret_summary(None) == "Private"


def test_the_window_is_read_in_the_owners_zone_and_keeps_series_and_undated_todos(team: Team) -> None:
    def uids(what: str, start: date | None, end: date | None) -> set[str]:
        sel = Selection("anna", what, owner="anna", start=start, end=end)
        return {str(c["UID"]) for c in components(Calendar.from_ical(export.export_text(team.engine, sel)))}

    one_day = uids("all", date(2026, 3, 4), date(2026, 3, 5))
    # "late" starts 00:30 on 5 March in Oslo (23:30 UTC on the 4th): outside a window of 4 March in Oslo.
    assert one_day == team.uid_set("secret", "weekly", "elsewhere")
    assert uids("all", date(2026, 3, 5), date(2026, 3, 6)) == team.uid_set("late", "weekly")
    assert uids("meetings", date(2026, 6, 1), None) == set(), "the series ended in April"
    assert uids("meetings", None, date(2026, 2, 3)) == team.uid_set("weekly")
    # An undated to-do is in every window from its creation on (RFC 4791 9.9 reads it by CREATED).
    today = datetime.now(UTC).date()
    assert uids("tasks", today - timedelta(days=30), today + timedelta(days=365)) == team.uid_set("someday")


def test_a_limit_keeps_the_followups_nearest_the_start_of_the_window(team: Team) -> None:
    def uids(start: date | None, limit: int) -> list[str]:
        sel = Selection(None, "company", record_id=team.acme, start=start, limit=limit)
        cal = Calendar.from_ical(export.export_text(team.engine, sel))
        return list(dict.fromkeys(str(c["UID"]) for c in components(cal)))

    assert uids(None, 2) == [team.uids["weekly"], team.uids["kickoff"]]
    assert uids(date(2026, 3, 4), 2) == [team.uids["weekly"], team.uids["secret"]], "the running series first"
    assert uids(None, 0) == []
    result = export.export(team.engine, Selection(None, "company", record_id=team.acme, limit=3))
    assert (result.followups, result.components) == (3, 4), "the override counts as a component"


def test_unknown_users_records_and_bad_selections_say_what_to_do(team: Team) -> None:
    from server.services.errors import InvalidFollowup, NotFound

    with pytest.raises(NotFound, match="no user 'nobody'"):
        export.export_text(team.engine, Selection("nobody", "meetings", owner="nobody"))
    with pytest.raises(NotFound, match="no company with id 999"):
        export.fingerprint(team.engine, Selection(None, "company", record_id=999))
    with pytest.raises(InvalidFollowup, match="choose one of"):
        Selection(None, "journal", owner="anna")
    with pytest.raises(InvalidFollowup, match="before it starts"):
        Selection(None, "all", owner="anna", start=date(2026, 3, 5), end=date(2026, 3, 5))


# -- the fingerprint -------------------------------------------------------------------------


def test_the_fingerprint_follows_every_change_and_reads_no_text(engine: Engine,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = _build(engine)
    selections = [Selection(None, "company", record_id=fresh.acme), Selection("anna", "all", owner="anna"),
                  Selection("bjorn", "meetings", owner="anna", start=date(2026, 3, 1), end=date(2026, 4, 1))]

    def prints() -> list[tuple[str, datetime]]:
        with monkeypatch.context() as m:
            m.setattr(CalendarReader, "texts", _forbidden)
            m.setattr(projection, "render", _forbidden)
            return [export.fingerprint(engine, sel) for sel in selections]

    def texts() -> list[str]:
        return [export.export_text(engine, sel) for sel in selections]

    before, text_before = prints(), texts()
    assert prints() == before, "nothing changed"
    assert before[0][0].startswith('"') and before[0][1].tzinfo is UTC

    steps = [
        ("edit", lambda: services.modify(engine, fresh.ids["kickoff"], _retitle("Kickoff, moved on"))),
        ("add", lambda: services.create(engine, new_meeting(
            _user(engine, "anna"), "New", _type(engine, Kind.MEETING), datetime(2026, 3, 20, 9, 0, tzinfo=OSLO),
            company_id=fresh.acme))),
        ("removal", lambda: services.delete(engine, fresh.ids["secret"])),
    ]
    for name, step in steps:
        step()
        after, text_after = prints(), texts()
        for i, sel in enumerate(selections):
            assert after[i][0] != before[i][0], f"the ETag of {sel} after the {name}"
            assert after[i][1] >= before[i][1]
            assert text_after[i] != text_before[i]
        before, text_before = after, text_after

    unrelated = new_todo(_user(engine, "carla"), "Unrelated", _type(engine, Kind.TODO), date(2026, 3, 9))
    services.create(engine, unrelated)
    after = prints()
    assert after[2][0] == before[2][0], "a change to someone else's calendar leaves anna's meetings' ETag"
    assert after[0][0] == before[0][0], "and Acme's, since it is not Acme's"
    moved = Selection("bjorn", "meetings", owner="anna", start=date(2026, 3, 2), end=date(2026, 4, 1))
    assert export.fingerprint(engine, moved)[0] != after[2][0], "the window is part of the fingerprint"


def _forbidden(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the fingerprint read a text or rendered")


def _retitle(title: str) -> Any:
    def change(f: Followup, _uow: Any) -> None:
        f.title = title

    return change


def _user(engine: Engine, login: str) -> User:
    with transaction(engine, write=False) as uow:
        return uow.users.by_login(login)


# -- the joiner (pure) ------------------------------------------------------------------------

ZONE = ("BEGIN:VTIMEZONE\r\nTZID:Europe/{folded}\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
        "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")


def _object(uid: str, zone: str, newline: str = "\r\n") -> str:
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nX-WR-CALNAME:ignored\r\n" + zone +
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Oslo:20260303T100000\r\n"
            "SUMMARY:A long summary that is folded over two lines because it is longer than seventy-\r\n"
            " five octets\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:x\r\nEND:VALARM\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
    return text.replace("\r\n", newline)


def test_the_joiner_keeps_each_zone_once_even_when_its_tzid_is_folded() -> None:
    joiner = Joiner()
    joiner.add(_object("a", ZONE.format(folded="Oslo")))
    joiner.add(_object("b", ZONE.format(folded="Os\r\n lo"), newline="\n"))
    text = joiner.text("Anna Berg - Meetings, to-dos; and calls")
    assert text.count("BEGIN:VTIMEZONE") == 1 and joiner.components == 2
    assert "ignored" not in text and text.count("BEGIN:VCALENDAR") == 1
    assert "X-WR-CALNAME:Anna Berg - Meetings\\, to-dos\\; and calls\r\n" in text
    cal, vcomponents = parse(text)
    assert [str(c["UID"]) for c in components(cal)] == ["a", "b"]
    assert all(c.subcomponents[0].name == "VALARM" for c in components(cal))
    assert str(components(cal)[0]["SUMMARY"]).endswith("seventy-five octets")
    assert len(vcomponents) == 2
    assert join([]) == ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//followup-caldav//followup-caldav 0.1//EN\r\n"
                        "CALSCALE:GREGORIAN\r\nEND:VCALENDAR\r\n")


def test_an_empty_window_is_still_one_valid_calendar(team: Team) -> None:
    sel = Selection(None, "company", record_id=team.other, start=date(2030, 1, 1), end=date(2030, 1, 2))
    cal, vcomponents = parse(export.export_text(team.engine, sel))
    assert components(cal) == [] and vcomponents == []
    assert export.fingerprint(team.engine, sel)[0] != export.fingerprint(
        team.engine, Selection(None, "company", record_id=team.other))[0]
