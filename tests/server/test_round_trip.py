"""What a client writes, it reads back (the mapping spec, "Identity"), and
queries answer on the object as stored (RFC 4791 9.7, 9.9).

A client's PUT is kept byte for byte and answered with its ETag; a CRM
change patches only the properties it owns into the client's text; a CRM
change no client sees reports nothing to a syncing client.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text as text_sql

from server.services import followups as services
from tests.cli.clirun import ok, run_cli
from tests.server.caldav_support import (
    XMLNS,
    LiveServer,
    crm_meeting,
    followups_by_uid,
    prop_lines,
    responses,
    sync_changes,
    sync_token,
    user,
)

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example Corp//Phone 1.0//EN\r\n"
         "BEGIN:VEVENT\r\nUID:round-trip-1\r\nDTSTAMP:20260101T080000Z\r\n"
         "DTSTART:20261201T090000Z\r\nDURATION:PT45M\r\nSUMMARY:Coffee with Oslo Fjord\r\n"
         "X-PHONE-COLOUR:teal\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def _id(live: LiveServer, uid: str) -> str:
    (f,) = followups_by_uid(live.engine, uid)
    return str(f.id)


def test_a_clients_event_comes_back_as_sent_until_the_crm_changes_it(live: LiveServer) -> None:
    dav = live.dav()
    path = "anna/meetings/phone-made-name.ics"
    put = dav.put(path, EVENT)
    assert put.status_code == 201, put.text
    assert put.headers.get("ETag"), "RFC 4791 5.3.4: the stored object is the body, so the PUT answers its ETag"
    got = dav.get(path)
    assert got.content == EVENT.encode("utf-8")
    assert got.headers["ETag"] == put.headers["ETag"]
    token = sync_token(dav.sync("anna/meetings/"))

    ok(live.database, "update", _id(live, "round-trip-1"), "--title", "Coffee moved to Aker Brygge")
    text = dav.get(path).text
    assert prop_lines(text, "SUMMARY") == ["SUMMARY:Coffee moved to Aker Brygge"]
    assert prop_lines(text, "DURATION") == ["DURATION:PT45M"] and not prop_lines(text, "DTEND")
    assert prop_lines(text, "DTSTART") == ["DTSTART:20261201T090000Z"]
    assert prop_lines(text, "X-PHONE-COLOUR") == ["X-PHONE-COLOUR:teal"]
    assert prop_lines(text, "PRODID") == ["PRODID:-//Example Corp//Phone 1.0//EN"]
    assert prop_lines(text, "DTSTAMP") != ["DTSTAMP:20260101T080000Z"] and len(prop_lines(text, "DTSTAMP")) == 1
    assert len(prop_lines(text, "LAST-MODIFIED")) == 1
    for name in ("CATEGORIES", "CLASS", "TRANSP", "CREATED", "X-CRM-TYPE", "X-CRM-KIND"):
        assert not prop_lines(text, name), f"{name} was added to a client's object the CRM did not change it in"
    token, changed = sync_changes(live, "anna", token)
    assert list(changed) == ["/anna/meetings/phone-made-name.ics"]

    etag = dav.get(path).headers["ETag"]
    ok(live.database, "update", _id(live, "round-trip-1"), "--notes", "internal: they want a discount")
    assert dav.get(path).headers["ETag"] == etag, "internal notes show in no calendar object"
    token, changed = sync_changes(live, "anna", token)
    assert changed == {}

    ok(live.database, "update", _id(live, "round-trip-1"), "--type", "Meeting (internal)")
    text = dav.get(path).text
    assert prop_lines(text, "CATEGORIES") == ["CATEGORIES:Meeting (internal)"]
    assert len(prop_lines(text, "X-CRM-TYPE")) == 1
    assert prop_lines(text, "DURATION") == ["DURATION:PT45M"]
    token, changed = sync_changes(live, "anna", token)
    assert list(changed) == ["/anna/meetings/phone-made-name.ics"]
    assert "the calendars match the follow-ups" in ok(live.database, "check").out, "a client's text is no damage"

    with live.engine.begin() as conn:  # damage outside the application: the client's text no longer fits its etag
        conn.execute(text_sql("UPDATE calendar_objects SET text = replace(text, 'teal', 'red')"))
    assert run_cli(live.database, "check").code == 1
    ok(live.database, "check", "--repair")
    assert "the calendars match the follow-ups" in ok(live.database, "check").out
    assert "SUMMARY:Coffee moved to Aker Brygge" in dav.get(path).text


def test_moving_a_meeting_with_participants_bumps_the_clients_sequence(live: LiveServer) -> None:
    dav = live.dav()
    sent = EVENT.replace("round-trip-1", "round-trip-2").replace(
        "X-PHONE-COLOUR:teal\r\n", "SEQUENCE:0\r\nORGANIZER:mailto:anna@example.com\r\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bjorn@example.com\r\n")
    put = dav.put("anna/meetings/moved.ics", sent)
    assert put.status_code == 201 and put.headers.get("ETag"), put.text
    assert dav.get("anna/meetings/moved.ics").text == sent

    ok(live.database, "update", _id(live, "round-trip-2"), "--start", "2026-12-01T12:00", "--tz", "UTC")
    text = dav.get("anna/meetings/moved.ics").text
    assert prop_lines(text, "SEQUENCE") == ["SEQUENCE:1"]
    assert prop_lines(text, "DTSTART") == ["DTSTART:20261201T120000Z"]
    assert prop_lines(text, "DURATION") == ["DURATION:PT45M"] and not prop_lines(text, "DTEND")

    ok(live.database, "update", _id(live, "round-trip-2"), "--duration", "90")
    assert prop_lines(dav.get("anna/meetings/moved.ics").text, "DURATION") == ["DURATION:PT1H30M"]


def test_an_invitees_reply_keeps_their_bytes(live: LiveServer) -> None:
    f = crm_meeting(live.engine, participants=[])
    bjorn = user(live.engine, "bjorn")
    from store.domain import Participant  # noqa: PLC0415 (the one test that needs it)

    services.modify(live.engine, f.id, lambda g, _uow: g.participants.append(Participant(user_id=bjorn.id)))
    dav = live.dav("bjorn")
    (href,) = [r.href for r in responses(dav.propfind("bjorn/meetings/", "<D:getetag/>", depth="1"))
               if r.href.endswith(".ics")]
    got = dav.get(href)
    reply = got.text.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED", 1).replace(
        "END:VEVENT", "X-MOZ-LASTACK:20260301T100000Z\r\nEND:VEVENT")
    assert "PARTSTAT=ACCEPTED" in reply
    put = dav.put(href, reply, If_Match=got.headers["ETag"])
    assert put.status_code == 204 and put.headers.get("ETag"), put.text
    assert dav.get(href).content == reply.encode("utf-8")

    renamed = reply.replace("SUMMARY:CRM meeting", "SUMMARY:My own title")
    dav.put(href, renamed)
    text = dav.get(href).text
    assert prop_lines(text, "SUMMARY") == ["SUMMARY:CRM meeting"], "an invitee does not retitle the organizer's meeting"
    assert prop_lines(text, "X-MOZ-LASTACK") == ["X-MOZ-LASTACK:20260301T100000Z"]


def _query(live: LiveServer, collection: str, filter_xml: str) -> set[str]:
    r = live.dav().report(collection, f"<C:calendar-query{XMLNS}><D:prop><D:getetag/></D:prop><C:filter>"
                                      f'<C:comp-filter name="VCALENDAR">{filter_xml}</C:comp-filter>'
                                      "</C:filter></C:calendar-query>")
    assert r.status_code == 207, r.text
    return {x.href.rsplit("/", 1)[-1] for x in responses(r)}


def test_queries_answer_on_what_the_client_wrote(live: LiveServer) -> None:
    dav = live.dav()
    assert dav.put("anna/meetings/plain.ics", EVENT).status_code == 201
    tagged = EVENT.replace("round-trip-1", "round-trip-3").replace(
        "X-PHONE-COLOUR:teal\r\n", "CATEGORIES:Meeting (external)\r\nCLASS:PUBLIC\r\n")
    assert dav.put("anna/meetings/tagged.ics", tagged).status_code == 201
    crm_meeting(live.engine, uid="crm-made")
    for name in ("CATEGORIES", "CLASS", "DTEND"):
        found = _query(live, "anna/meetings/",
                       f'<C:comp-filter name="VEVENT"><C:prop-filter name="{name}"><C:is-not-defined/>'
                       "</C:prop-filter></C:comp-filter>")
        assert "plain.ics" in found and "crm-made.ics" not in found, name
        assert ("tagged.ics" in found) == (name == "DTEND"), name
    found = _query(live, "anna/meetings/", '<C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY">'
                                           "<C:text-match>oslo fjord</C:text-match></C:prop-filter></C:comp-filter>")
    assert found == {"plain.ics", "tagged.ics"}
    found = _query(live, "anna/meetings/", '<C:comp-filter name="VEVENT"><C:prop-filter name="X-PHONE-COLOUR">'
                                           '<C:text-match negate-condition="yes">red</C:text-match>'
                                           "</C:prop-filter></C:comp-filter>")
    assert found == {"plain.ics"}


def test_an_undated_todo_matches_every_time_range(live: LiveServer) -> None:
    """RFC 4791 9.9: a VTODO with neither DTSTART, DUE, DURATION, COMPLETED nor
    CREATED matches every time range (the caldav library's testTodoDatesearch)."""
    from caldav.davclient import DAVClient  # noqa: PLC0415 (slow to import; only this test uses it)

    dav = live.dav()
    undated = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example//EN\r\nBEGIN:VTODO\r\nUID:undated-1\r\n"
               "DTSTAMP:20260101T000000Z\r\nSUMMARY:Buy milk\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    due = undated.replace("undated-1", "due-1").replace("SUMMARY", "DUE:20260305T160000Z\r\nSUMMARY")
    assert dav.put("anna/tasks/undated.ics", undated).status_code == 201
    assert dav.put("anna/tasks/due.ics", due).status_code == 201
    with DAVClient(url=live.url, username="anna", password="secret") as client:
        (tasks,) = [c for c in client.principal().calendars() if str(c.url).rstrip("/").endswith("/tasks")]
        for start, end, want in ((datetime(1990, 1, 1, tzinfo=UTC), datetime(1990, 1, 2, tzinfo=UTC), {"undated-1"}),
                                 (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC),
                                  {"undated-1", "due-1"}),
                                 (datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 1, 2, tzinfo=UTC), {"undated-1"})):
            found = tasks.search(todo=True, start=start, end=end, include_completed=True)
            assert {str(t.get_icalendar_component()["UID"]) for t in found} == want, (start, end)
    for start, end in (("00010101T000000Z", "00010102T000000Z"), ("99991230T000000Z", "99991231T000000Z")):
        assert {x.href for x in responses(dav.query("anna/tasks/", "VTODO", start, end))} == {"/anna/tasks/undated.ics"}
