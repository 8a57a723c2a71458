"""Personal calendars beside the CRM's (mapping spec, "Collections": Personal calendars).

Regression: every MKCALENDAR answered 403 ("calendars are created by the
CRM"), so a user could not keep "Family" in the same account, and the
caldav library's and caldav-server-tester's calendar tests all failed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from caldav import DAVClient

from tests.cli.clirun import run_cli
from tests.server.caldav_support import (
    PASSWORD,
    XMLNS,
    C,
    LiveServer,
    add_people,
    crm_meeting,
    ical,
    responses,
    start_server,
    stop_server,
    sync_token,
    unfold,
    vevent,
    vtodo,
)


def _mkcalendar(live: LiveServer, path: str, login: str = "anna", components: tuple[str, ...] = (),
                name: str = "Family") -> requests.Response:
    comps = "".join(f'<C:comp name="{c}"/>' for c in components)
    comp_set = f"<C:supported-calendar-component-set>{comps}</C:supported-calendar-component-set>" if comps else ""
    body = (f'<?xml version="1.0" encoding="utf-8"?><C:mkcalendar{XMLNS}><D:set><D:prop>'
            f"<D:displayname>{name}</D:displayname>{comp_set}</D:prop></D:set></C:mkcalendar>")
    return live.dav(login).request("MKCALENDAR", path, body, Content_Type="application/xml; charset=utf-8")


def _mkcol(live: LiveServer, path: str, login: str = "anna") -> requests.Response:
    body = (f'<?xml version="1.0" encoding="utf-8"?><D:mkcol{XMLNS}><D:set><D:prop>'
            "<D:resourcetype><D:collection/><C:calendar/></D:resourcetype>"
            "<D:displayname>Private</D:displayname></D:prop></D:set></D:mkcol>")
    return live.dav(login).request("MKCOL", path, body, Content_Type="application/xml; charset=utf-8")


def _hrefs(r: requests.Response) -> set[str]:
    return {x.href.rsplit("/", 1)[-1] for x in responses(r) if x.href.endswith(".ics")}


# A client's own forms, which the CRM would have rewritten: DURATION, no DTEND, its own DTSTAMP, folded lines.
EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Family client//EN\r\nBEGIN:VEVENT\r\nUID:family-1\r\n"
         "DTSTAMP:20200101T000000Z\r\nDTSTART:20260303T150000Z\r\nDURATION:PT45M\r\nSUMMARY:Dentist with th\r\n"
         " e kids\r\nX-FAMILY-COLOUR:green\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
UNDATED_TODO = ical("BEGIN:VTODO", "UID:family-todo", "DTSTAMP:20200101T000000Z", "SUMMARY:Buy milk", "END:VTODO")
JOURNAL = ical("BEGIN:VJOURNAL", "UID:family-journal", "DTSTAMP:20200101T000000Z", "DTSTART;VALUE=DATE:20260303",
               "SUMMARY:A good day", "END:VJOURNAL")


def test_a_personal_calendar_from_mkcalendar_to_delete(live: LiveServer) -> None:
    dav = live.dav("anna")
    made = _mkcalendar(live, "anna/family/")
    assert made.status_code == 201, made.text
    listing = responses(dav.propfind("anna/", "<D:resourcetype/><D:displayname/><CS:getctag/><D:sync-token/>"
                                              "<C:supported-calendar-component-set/>", depth="1"))
    family = next(x for x in listing if x.href == "/anna/family/")
    assert family.props["{DAV:}displayname"] == "Family"
    assert family.elements["{DAV:}resourcetype"].find(C + "calendar") is not None
    declared = {c.get("name") for c in family.elements[C + "supported-calendar-component-set"]}
    assert declared == {"VEVENT", "VTODO", "VJOURNAL"}
    assert family.props["{http://calendarserver.org/ns/}getctag"] and family.props["{DAV:}sync-token"]
    assert {"/anna/meetings/", "/anna/tasks/"} <= {x.href for x in listing}
    token = sync_token(dav.sync("anna/family/"))

    for href, text in (("dentist.ics", EVENT), ("milk.ics", UNDATED_TODO), ("day.ics", JOURNAL)):
        put = dav.put(f"anna/family/{href}", text)
        assert put.status_code == 201, put.text
        got = dav.get(f"anna/family/{href}")
        assert got.content == text.encode(), href  # byte for byte, folded line and all
        assert put.headers.get("ETag") == got.headers["ETag"], href  # RFC 4791 5.3.4: the body was stored as is

    assert _hrefs(dav.query("anna/family/", "VEVENT", "20260303T000000Z", "20260304T000000Z")) == {"dentist.ics"}
    assert _hrefs(dav.query("anna/family/", "VEVENT", "20260304T000000Z", "20260305T000000Z")) == set()
    # RFC 4791 9.9: a to-do without dates or CREATED matches every range; a dated journal, its day only
    assert _hrefs(dav.query("anna/family/", "VTODO", "20300101T000000Z", "20300102T000000Z")) == {"milk.ics"}
    assert _hrefs(dav.query("anna/family/", "VJOURNAL", "20260303T000000Z", "20260304T000000Z")) == {"day.ics"}
    assert _hrefs(dav.query("anna/family/", "VJOURNAL", "20260304T000000Z", "20260305T000000Z")) == set()

    first = dav.sync("anna/family/", token)
    assert _hrefs(first) == {"dentist.ics", "milk.ics", "day.ics"}
    token = sync_token(first)
    changed = EVENT.replace("DURATION:PT45M", "DURATION:PT1H")
    assert dav.put("anna/family/dentist.ics", changed, If_Match=dav.get("anna/family/dentist.ics").headers["ETag"]
                   ).status_code == 204
    assert dav.delete("anna/family/milk.ics").status_code == 200
    second = dav.sync("anna/family/", token)
    status = {x.href.rsplit("/", 1)[-1]: x.status for x in responses(second) if x.href.endswith(".ics")}
    assert status.keys() == {"dentist.ics", "milk.ics"}
    assert status["milk.ics"] is not None and "404" in status["milk.ics"]
    token = sync_token(second)

    assert dav.proppatch("anna/family/", "<D:displayname>Family and friends</D:displayname>").status_code == 207
    props = responses(dav.propfind("anna/family/", "<D:displayname/><C:supported-calendar-component-set/>"))[0]
    assert props.props["{DAV:}displayname"] == "Family and friends"
    assert len(props.elements[C + "supported-calendar-component-set"]) == 3

    assert dav.delete("anna/family/").status_code == 200
    assert dav.get("anna/family/dentist.ics").status_code == 404
    assert dav.sync("anna/family/", token).status_code == 404
    assert "/anna/family/" not in {x.href for x in responses(dav.propfind("anna/", "<D:resourcetype/>", "1"))}
    # made again under the same name (SQLite may give it the old id): the old token is not one of it
    assert _mkcalendar(live, "anna/family/").status_code == 201
    stale = dav.sync("anna/family/", token)
    assert stale.status_code == 403 and "valid-sync-token" in stale.text
    assert dav.get("anna/family/dentist.ics").status_code == 404
    # the CRM's calendars stay: DELETE of them is refused
    for name in ("meetings", "tasks"):
        assert dav.delete(f"anna/{name}/").status_code == 403
    assert run_cli(live.database, "check").code == 0


def test_what_is_refused(live: LiveServer) -> None:
    dav = live.dav("anna")
    for name in ("meetings", "tasks", "bookings", "inbox", "outbox", ".hidden"):
        r = _mkcalendar(live, f"anna/{name}/")
        assert r.status_code == 403, (name, r.status_code, r.text)
    assert "choose another name" in _mkcalendar(live, "anna/meetings/").text
    assert _mkcalendar(live, "bjorn/family/").status_code == 403  # another user's home
    assert _mkcalendar(live, "fjord/family/").status_code == 403  # a resource's
    assert _mkcol(live, "anna/private/").status_code == 201  # RFC 5689 extended MKCOL
    assert _mkcol(live, "anna/private/").status_code == 405
    assert _mkcalendar(live, "anna/private/").status_code == 409  # RFC 4791 5.3.1.2 resource-must-be-null

    assert _mkcalendar(live, "anna/todos/", components=("VTODO",)).status_code == 201
    wrong = dav.put("anna/todos/e.ics", vevent("wrong-kind"))
    assert wrong.status_code == 403 and "supported-calendar-component" in wrong.text
    assert dav.put("anna/todos/a.ics", vtodo("same-uid")).status_code == 201
    clash = dav.put("anna/todos/b.ics", vtodo("same-uid"))
    assert clash.status_code == 409 and "no-uid-conflict" in clash.text
    assert dav.put("anna/todos/b.ics", "BEGIN:VCALENDAR\r\nnot iCalendar").status_code == 400

    moved = dav.request("MOVE", "anna/todos/a.ics", Destination=live.url + "anna/todos/renamed.ics")
    assert moved.status_code in (201, 204), moved.text
    assert dav.get("anna/todos/renamed.ics").text == vtodo("same-uid")
    assert dav.get("anna/todos/a.ics").status_code == 404
    # an object never moves into the CRM (it would become a follow-up), nor the other way
    into_crm = dav.request("MOVE", "anna/todos/renamed.ics", Destination=live.url + "anna/tasks/x.ics")
    assert into_crm.status_code == 403, into_crm.text
    assert dav.get("anna/todos/renamed.ics").status_code == 200

    # a colleague, even a lead granted anna's diary, never reads a personal calendar
    assert run_cli(live.database, "grant", "bjorn", "--reads", "anna").code == 0
    bjorn = live.dav("bjorn")
    assert bjorn.get("anna/todos/a.ics").status_code == 403
    assert bjorn.propfind("anna/todos/", "<D:getetag/>", "1").status_code == 403
    assert bjorn.put("anna/todos/c.ics", vtodo()).status_code == 403
    assert bjorn.delete("anna/todos/").status_code == 403
    listed = {x.href for x in responses(bjorn.propfind("anna/", "<D:resourcetype/>", "1"))}
    assert "/anna/todos/" not in listed and "/anna/private/" not in listed


@pytest.fixture
def two_calendars(db_url: str) -> Iterator[LiveServer]:
    server, thread, httpd = start_server(db_url, max_calendars=2)
    add_people(server.engine)
    try:
        yield server
    finally:
        stop_server(server, thread, httpd)


def test_the_limit_of_personal_calendars(two_calendars: LiveServer) -> None:
    assert _mkcalendar(two_calendars, "anna/one/").status_code == 201
    assert _mkcalendar(two_calendars, "anna/two/").status_code == 201
    third = _mkcalendar(two_calendars, "anna/three/")
    assert third.status_code == 403
    assert "max_calendars" in third.text and "2" in third.text
    assert _mkcalendar(two_calendars, "bjorn/one/", login="bjorn").status_code == 201  # per user
    assert two_calendars.dav().delete("anna/two/").status_code == 200
    assert _mkcalendar(two_calendars, "anna/three/").status_code == 201


def _freebusy(live: LiveServer, viewer: str) -> str:
    body = (f'<?xml version="1.0" encoding="utf-8"?><C:free-busy-query{XMLNS}>'
            '<C:time-range start="20260303T000000Z" end="20260304T000000Z"/></C:free-busy-query>')
    r = requests.request("REPORT", live.url + "anna/meetings/", data=body, auth=(viewer, PASSWORD),
                         headers={"Depth": "1", "Content-Type": "application/xml"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.text


def test_personal_events_count_in_free_busy_and_nowhere_in_the_crm(live: LiveServer) -> None:
    crm_meeting(live.engine, "anna", "CRM review", start=datetime(2026, 3, 3, 15, 0, tzinfo=UTC))
    dav = live.dav("anna")
    assert _mkcalendar(live, "anna/family/").status_code == 201
    assert dav.put("anna/family/dentist.ics", EVENT).status_code == 201
    free = ical("BEGIN:VEVENT", "UID:lunch", "DTSTAMP:20200101T000000Z", "DTSTART:20260303T110000Z",
                "DTEND:20260303T120000Z", "TRANSP:TRANSPARENT", "SUMMARY:Lunch", "END:VEVENT")
    assert dav.put("anna/family/lunch.ics", free).status_code == 201

    fb = unfold(_freebusy(live, "bjorn"))
    busy = [line for line in fb.splitlines() if line.startswith("FREEBUSY")]
    # the CRM meeting (15:00-16:00) and the dentist (15:00-15:45) merge; the transparent lunch is free
    assert busy == ["FREEBUSY;FBTYPE=BUSY:20260303T150000Z/20260303T160000Z"]
    assert "Dentist" not in fb and "family" not in fb

    diary = run_cli(live.database, "diary", "anna", "--day", "2026-03-03", "--json")
    assert diary.code == 0, diary.err
    assert "CRM review" in diary.out and "Dentist" not in diary.out and "family-1" not in diary.out
    exported = run_cli(live.database, "export", "--user", "anna")
    assert exported.code == 0, exported.err
    assert "CRM review" in exported.out and "family-1" not in exported.out
    # the dentist overlaps the CRM meeting, but it is no follow-up: no clash
    conflicts = run_cli(live.database, "conflicts", "anna", "--from", "2026-03-03", "--to", "2026-03-03", "--json")
    assert conflicts.code == 0, conflicts.err
    assert conflicts.json() == [], conflicts.out
    checked = run_cli(live.database, "check", "--json")
    assert checked.code == 0, checked.out + checked.err


def test_the_caldav_library_makes_and_deletes_a_calendar(live: LiveServer) -> None:
    client = DAVClient(url=live.url, username="anna", password=PASSWORD)
    principal = client.principal()
    cal = principal.make_calendar(name="Holidays", cal_id="holidays", supported_calendar_component_set=["VEVENT"])
    uid = str(uuid.uuid4())
    cal.save_event(vevent(uid, "Beach", datetime(2026, 7, 1, 9, 0, tzinfo=UTC)))
    found = cal.search(start=datetime(2026, 7, 1, tzinfo=UTC), end=datetime(2026, 7, 2, tzinfo=UTC), event=True)
    assert [str(e.icalendar_component["UID"]) for e in found] == [uid]
    assert "Holidays" in [c.get_display_name() for c in principal.calendars()]
    cal.delete()
    assert "holidays" not in [str(c.url).rstrip("/").rsplit("/", 1)[-1] for c in principal.calendars()]
