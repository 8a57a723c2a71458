"""Colleagues' free/busy and the parts of CalDAV scheduling clients need
(mapping spec, "Free/busy and scheduling").

Regression: bjorn's free-busy-query on anna's meetings answered 403, so
nobody could find a common slot; calendar-user-address-set held only the
principal's path, so clients could not tell which ATTENDEE was "me".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from caldav import DAVClient

from server.services import followups as services
from server.services.transaction import transaction
from store.domain import Participant, PartStat
from tests.cli.clirun import run_cli
from tests.server.caldav_support import PASSWORD, XMLNS, LiveServer, crm_meeting, responses, unfold, user

DAY = datetime(2026, 3, 3, tzinfo=UTC)


def _at(hour: int, minute: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute)


def _query(live: LiveServer, viewer: str, path: str, start: str = "20260303T000000Z",
           end: str = "20260304T000000Z", auth: tuple[str, str] | None = None) -> requests.Response:
    body = (f'<?xml version="1.0" encoding="utf-8"?><C:free-busy-query{XMLNS}>'
            f'<C:time-range start="{start}" end="{end}"/></C:free-busy-query>')
    return requests.request("REPORT", live.url + path, data=body, auth=auth or (viewer, PASSWORD),
                            headers={"Depth": "1", "Content-Type": "application/xml"}, timeout=30)


def _freebusy_lines(text: str) -> list[str]:
    return [line for line in unfold(text).splitlines() if line.startswith("FREEBUSY")]


@pytest.fixture
def diary(live: LiveServer) -> LiveServer:
    """anna's day: her own meeting 8-9 (busy), an invitation from bjorn 10-11
    she has not answered (tentative), a free one 12-13, a cancelled one 14-15,
    one she declined 16-17 and a private one 18-19 in room fjord."""
    anna, bjorn = user(live.engine, "anna"), user(live.engine, "bjorn")
    with transaction(live.engine) as uow:
        room = uow.resources.by_login("fjord")
    crm_meeting(live.engine, "anna", "Own", start=_at(8), end=_at(9))
    crm_meeting(live.engine, "bjorn", "Invite", start=_at(10), end=_at(11),
                participants=[Participant(user_id=anna.id, partstat=PartStat.NEEDS_ACTION)])
    crm_meeting(live.engine, "anna", "Free", start=_at(12), end=_at(13), busy=False)
    crm_meeting(live.engine, "anna", "Cancelled", start=_at(14), end=_at(15), cancelled=True)
    crm_meeting(live.engine, "bjorn", "Declined", start=_at(16), end=_at(17),
                participants=[Participant(user_id=anna.id, partstat=PartStat.DECLINED)])
    crm_meeting(live.engine, "anna", "Secret merger", start=_at(18), end=_at(19), private=True,
                resource_ids=[room.id])
    assert bjorn.id is not None
    return live


def test_a_colleague_gets_busy_time_only(diary: LiveServer) -> None:
    r = _query(diary, "bjorn", "anna/meetings/")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/calendar")
    assert _freebusy_lines(r.text) == [
        "FREEBUSY;FBTYPE=BUSY:20260303T080000Z/20260303T090000Z",
        "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20260303T100000Z/20260303T110000Z",
        "FREEBUSY;FBTYPE=BUSY:20260303T180000Z/20260303T190000Z",
    ]
    assert "Secret" not in r.text and "Own" not in r.text
    # free/busy only: the calendar itself stays closed to him
    assert diary.dav("bjorn").propfind("anna/meetings/", "<D:getetag/>", "1").status_code == 403


def test_a_resources_free_busy(diary: LiveServer) -> None:
    r = _query(diary, "bjorn", "fjord/bookings/")
    assert r.status_code == 200, r.text
    assert _freebusy_lines(r.text) == ["FREEBUSY;FBTYPE=BUSY:20260303T180000Z/20260303T190000Z"]


def test_accepting_makes_tentative_time_busy(diary: LiveServer) -> None:
    [f] = [f for f in _followups(diary) if f.title == "Invite"]

    def accept(g, _uow):  # type: ignore[no-untyped-def]
        for p in g.participants:
            p.partstat = PartStat.ACCEPTED

    services.modify(diary.engine, f.id, accept)  # type: ignore[arg-type]
    lines = _freebusy_lines(_query(diary, "bjorn", "anna/meetings/").text)
    assert "FREEBUSY;FBTYPE=BUSY:20260303T100000Z/20260303T110000Z" in lines


def _followups(live: LiveServer) -> list:  # type: ignore[type-arg]
    with transaction(live.engine, write=False) as uow:
        return uow.followups.get_many(uow.followups.ids())


def test_a_weekly_series_without_end_is_expanded_inside_the_window_only(live: LiveServer) -> None:
    from store.domain import Recurrence

    crm_meeting(live.engine, "anna", "Weekly", start=datetime(2000, 1, 4, 9, tzinfo=UTC),
                end=datetime(2000, 1, 4, 10, tzinfo=UTC), recurrence=Recurrence(rule="FREQ=WEEKLY"))
    r = _query(live, "bjorn", "anna/meetings/", "20260301T000000Z", "20260315T000000Z")
    assert _freebusy_lines(r.text) == ["FREEBUSY;FBTYPE=BUSY:20260303T090000Z/20260303T100000Z",
                                       "FREEBUSY;FBTYPE=BUSY:20260310T090000Z/20260310T100000Z"]


def test_bad_and_anonymous_queries(live: LiveServer) -> None:
    assert _query(live, "bjorn", "anna/meetings/", auth=("bjorn", "wrong")).status_code == 401
    assert _query(live, "bjorn", "anna/meetings/", start="yesterday").status_code == 400
    assert _query(live, "bjorn", "anna/meetings/", "20260304T000000Z", "20260303T000000Z").status_code == 400
    assert _query(live, "bjorn", "anna/tasks/").status_code == 403
    assert _query(live, "bjorn", "nobody/meetings/").status_code == 403


def test_the_principal_offers_scheduling(live: LiveServer) -> None:
    options = requests.options(live.url, auth=("anna", PASSWORD), timeout=30)
    assert "calendar-auto-schedule" in options.headers["DAV"]
    r = live.dav("anna").propfind("anna/", "<C:calendar-user-address-set/><C:schedule-inbox-URL/>"
                                           "<C:schedule-outbox-URL/><D:displayname/>")
    assert r.status_code == 207
    assert "calendar-auto-schedule" in r.headers["DAV"]
    [me] = responses(r)
    addresses = [h.text for h in me.elements["{urn:ietf:params:xml:ns:caldav}calendar-user-address-set"]]
    assert addresses == ["mailto:anna@example.com", "/anna/"]
    assert me.elements["{urn:ietf:params:xml:ns:caldav}schedule-inbox-URL"][0].text == "/anna/inbox/"
    assert me.elements["{urn:ietf:params:xml:ns:caldav}schedule-outbox-URL"][0].text == "/anna/outbox/"


@pytest.fixture
def client(live: LiveServer) -> Iterator[DAVClient]:
    with DAVClient(url=live.url, username="anna", password=PASSWORD) as dav:
        yield dav


def test_the_caldav_library_finds_me_and_asks_the_outbox(diary: LiveServer, client: DAVClient) -> None:
    principal = client.principal()
    assert principal.calendar_user_address_set()[0] == "mailto:anna@example.com"
    answer = principal.freebusy_request(DAY, DAY + timedelta(days=1),
                                        ["mailto:bjorn@example.com", "mailto:fjord@example.com",
                                         "mailto:stranger@example.org"])
    assert {"mailto:bjorn@example.com", "mailto:fjord@example.com"} <= set(answer)
    assert "mailto:stranger@example.org" in answer["errors"]
    fjord = answer["mailto:fjord@example.com"].icalendar_instance.to_ical().decode()
    assert "FREEBUSY;FBTYPE=BUSY:20260303T180000Z/20260303T190000Z" in unfold(fjord)


def test_outbox_post_answers_each_recipient(diary: LiveServer) -> None:
    request = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "METHOD:REQUEST", "BEGIN:VFREEBUSY",
        "UID:fb-1", "DTSTAMP:20260301T000000Z", "DTSTART:20260303T000000Z", "DTEND:20260304T000000Z",
        "ORGANIZER:mailto:bjorn@example.com", "ATTENDEE:mailto:anna@example.com",
        "ATTENDEE:mailto:nobody@example.org", "END:VFREEBUSY", "END:VCALENDAR", ""])
    r = diary.dav("bjorn").request("POST", "bjorn/outbox/", request, Content_Type="text/calendar")
    assert r.status_code == 200, r.text
    assert "2.0;Success" in r.text and "3.7;Invalid calendar user" in r.text
    assert "FREEBUSY;FBTYPE=BUSY:20260303T080000Z/20260303T090000Z" in unfold(r.text)
    assert diary.dav("anna").request("POST", "bjorn/outbox/", request,
                                     Content_Type="text/calendar").status_code == 403


def test_the_freebusy_command(diary: LiveServer) -> None:
    result = run_cli(diary.database, "freebusy", "anna", "--from", "2026-03-03", "--to", "2026-03-04", "--json")
    assert result.code == 0, result.err
    busy = result.json()["busy"]
    assert [(b["start"][11:16], b["type"]) for b in busy] == [("09:00", "BUSY"), ("11:00", "BUSY-TENTATIVE"),
                                                              ("19:00", "BUSY")]
    assert run_cli(diary.database, "freebusy", "nobody").code == 2


@pytest.mark.parametrize(("start", "end"), [("00010101T000000Z", "00010201T000000Z"),
                                            ("99991201T000000Z", "99991231T235959Z"),
                                            ("00010101T000000Z", "99991231T235959Z")])
def test_a_query_at_the_ends_of_the_calendar_is_a_clear_answer(diary: LiveServer, start: str, end: str) -> None:
    r = _query(diary, "bjorn", "anna/meetings/", start, end)
    assert r.status_code in (200, 400), r.text


def _outbox(live: LiveServer, *lines: str) -> requests.Response:
    return live.dav("bjorn").request("POST", "bjorn/outbox/", "\r\n".join(lines) + "\r\n",
                                     Content_Type="text/calendar")


def test_bad_outbox_requests_are_400_not_500(live: LiveServer) -> None:
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "METHOD:REQUEST"]
    nested = head + ["BEGIN:X-FOO"] * 1000 + ["END:X-FOO"] * 1000 + ["END:VCALENDAR"]
    assert _outbox(live, *nested).status_code == 400
    assert _outbox(live, "not iCalendar at all").status_code == 400
    bad_time = head + ["BEGIN:VFREEBUSY", "UID:x", "DTSTART:yesterday", "DTEND:20260304T000000Z",
                       "ATTENDEE:mailto:anna@example.com", "END:VFREEBUSY", "END:VCALENDAR"]
    assert _outbox(live, *bad_time).status_code == 400
    far = head + ["BEGIN:VFREEBUSY", "UID:x", "DTSTART:00010101T000000Z", "DTEND:00010201T000000Z",
                  "ATTENDEE:mailto:anna@example.com", "END:VFREEBUSY", "END:VCALENDAR"]
    assert _outbox(live, *far).status_code in (200, 400)
    assert live.dav("bjorn").propfind("bjorn/", "<D:displayname/>").status_code == 207  # still serving
