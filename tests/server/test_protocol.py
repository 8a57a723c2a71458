"""The CalDAV protocol over a real HTTP server, request by request (RFC 4791,
RFC 6578, RFC 4918), against the mapping spec (shared/spec/calendar-mapping.md):
discovery, properties, writes with preconditions, reports, sync, and every row
of the spec's bad-input table, each with the store compared row by row."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from server import config
from server.dav.server import make_server
from server.services import followups as services
from store.domain import Kind, Participant, PartStat
from store.uow import UnitOfWork
from tests.server.caldav_support import (
    CS,
    XMLNS,
    A,
    C,
    D,
    Dav,
    LiveServer,
    crm_meeting,
    crm_todo,
    dump,
    followups_by_uid,
    ical,
    prop_lines,
    put_new,
    responses,
    retitle,
    sync_token,
    user,
    vevent,
    vtodo,
)


@pytest.fixture
def dav(live: LiveServer) -> Dav:
    return live.dav("anna")


def members(dav: Dav, collection: str) -> set[str]:
    return set(dav.etags(collection))


def sync_entries(dav: Dav, collection: str, token: str) -> tuple[dict[str, str | None], str]:
    """href -> response status (None when the member is there with properties), and the new token."""
    r = dav.sync(collection, token)
    assert r.status_code == 207, (r.status_code, r.text)
    return {resp.href: resp.status for resp in responses(r)}, sync_token(r)


# -- the fixture's own server --------------------------------------------------------------


def test_make_server_with_port_zero_picks_a_free_port(db_url: str) -> None:
    """Regression: Radicale's [server] hosts refused '127.0.0.1:0'."""
    services.open_store(db_url)
    settings = config.Settings(database=db_url, host="127.0.0.1", port=0, max_body=200_000,
                               log_level="error", auth_delay=0.0)
    httpd = make_server(settings)
    try:
        assert httpd.server_address[1] != 0
    finally:
        httpd.server_close()


# -- discovery ----------------------------------------------------------------------------------


def test_well_known_caldav_leads_to_the_root(dav: Dav) -> None:
    r = dav.get(".well-known/caldav")
    assert r.status_code in (301, 302, 303, 307, 308)
    assert r.headers["Location"].rstrip("/").endswith(dav.base.rstrip("/").split("/")[-1]) or \
        r.headers["Location"] in ("/", dav.base)


def test_current_user_principal_and_calendar_home_set(dav: Dav) -> None:
    r = dav.propfind("", "<D:current-user-principal/>")
    assert r.status_code == 207
    (root,) = responses(r)
    assert root.elements[D + "current-user-principal"].findtext(D + "href") == "/anna/"
    r = dav.propfind("anna/", "<C:calendar-home-set/><D:resourcetype/>")
    (home,) = responses(r)
    assert home.elements[C + "calendar-home-set"].findtext(D + "href") == "/anna/"
    assert home.elements[D + "resourcetype"].find(D + "principal") is not None


def test_propfind_depth_1_on_the_home_lists_meetings_and_tasks(dav: Dav) -> None:
    r = dav.propfind("anna/", "<D:displayname/><A:calendar-color/><CS:getctag/><D:sync-token/>"
                              "<C:supported-calendar-component-set/><D:resourcetype/>", depth="1")
    assert r.status_code == 207
    found = {resp.href: resp for resp in responses(r)}
    assert set(found) == {"/anna/", "/anna/meetings/", "/anna/tasks/"}
    for name, title, comp in (("meetings", "Anna Berg - Meetings", "VEVENT"),
                              ("tasks", "Anna Berg - To-dos and calls", "VTODO")):
        coll = found[f"/anna/{name}/"]
        assert coll.props[D + "displayname"] == title
        assert coll.props[A + "calendar-color"].startswith("#")
        assert coll.props[CS + "getctag"]
        assert coll.props[D + "sync-token"].startswith("urn:x-followup-caldav:sync:")
        comps = [c.get("name") for c in coll.elements[C + "supported-calendar-component-set"]]
        assert comps == [comp]
        assert coll.elements[D + "resourcetype"].find(C + "calendar") is not None
    assert found["/anna/meetings/"].props[CS + "getctag"] != found["/anna/tasks/"].props[CS + "getctag"]


def test_getctag_and_sync_token_change_with_the_content(dav: Dav) -> None:
    def props() -> tuple[str, str]:
        (resp,) = responses(dav.propfind("anna/meetings/", "<CS:getctag/><D:sync-token/>"))
        return resp.props[CS + "getctag"], resp.props[D + "sync-token"]

    before = props()
    assert props() == before
    put_new(dav, "anna/meetings/one.ics", vevent())
    after = props()
    assert after[0] != before[0] and after[1] != before[1]


def test_resource_bookings_are_discoverable(live: LiveServer) -> None:
    r = live.dav("anna").propfind("fjord/", "<D:displayname/><C:supported-calendar-component-set/>", depth="1")
    assert r.status_code == 207
    found = {resp.href: resp for resp in responses(r)}
    assert found["/fjord/bookings/"].props[D + "displayname"] == "Room Fjord - Bookings"


def test_other_users_calendars_are_not_listed(live: LiveServer) -> None:
    r = live.dav("anna").propfind("bjorn/", "<D:displayname/>", depth="1")
    assert r.status_code in (403, 404)


def test_a_calendar_that_does_not_exist_is_not_found_in_ones_own_home(live: LiveServer, dav: Dav) -> None:
    assert dav.propfind("anna/holidays/", "<D:displayname/>").status_code == 404
    assert dav.get("anna/holidays/").status_code == 404
    before = dump(live.engine)
    # a personal calendar could be made there (MKCALENDAR), so as in vanilla Radicale a PUT into it
    # answers 409 (RFC 4918 9.7.1: no parent collection) and a PROPPATCH 404
    assert dav.put("anna/holidays/x.ics", vevent("x")).status_code == 409
    assert dav.proppatch("anna/holidays/", "<D:displayname>Mine</D:displayname>").status_code == 404
    assert dump(live.engine) == before
    # in someone else's home the answer does not tell what exists
    assert dav.propfind("bjorn/holidays/", "<D:displayname/>").status_code == 403
    assert dav.propfind("bjorn/meetings/", "<D:displayname/>").status_code == 403


def test_wrong_password_is_refused(live: LiveServer) -> None:
    r = live.dav("anna").session.request("PROPFIND", live.url + "anna/", auth=("anna", "wrong"),
                                         headers={"Depth": "0"})
    assert r.status_code == 401


def test_a_changed_password_stops_the_old_one_at_once(live: LiveServer, dav: Dav) -> None:
    """Logins are remembered for a while after a check (scrypt is slow); a new
    password must still end the old one on the next request, PUT included."""
    put_new(dav, "anna/meetings/before.ics", vevent("pw-before"))
    services.set_password(live.engine, "anna", "changed")
    before = dump(live.engine)
    r = dav.put("anna/meetings/after.ics", vevent("pw-after"))
    assert r.status_code == 401
    assert dump(live.engine) == before
    assert dav.propfind("anna/", "<D:displayname/>").status_code == 401
    r = dav.session.put(live.url + "anna/meetings/after.ics", data=vevent("pw-after").encode(),
                        auth=("anna", "changed"), headers={"Content-Type": "text/calendar"})
    assert r.status_code == 201


# -- properties --------------------------------------------------------------------------------


def test_proppatch_displayname_colour_and_order_persist(live: LiveServer, dav: Dav) -> None:
    r = dav.proppatch("anna/meetings/", "<D:displayname>Work</D:displayname>"
                                        "<A:calendar-color>#FF0000FF</A:calendar-color>"
                                        "<A:calendar-order>3</A:calendar-order>")
    assert r.status_code == 207, r.text
    (resp,) = responses(r)
    assert not resp.missing, r.text
    props = "<D:displayname/><A:calendar-color/><A:calendar-order/><C:supported-calendar-component-set/>"
    fresh = Dav(live.url, "anna")
    (got,) = responses(fresh.propfind("anna/meetings/", props))
    assert got.props[D + "displayname"] == "Work"
    assert got.props[A + "calendar-color"] == "#FF0000FF"
    assert got.props[A + "calendar-order"] == "3"
    assert [c.get("name") for c in got.elements[C + "supported-calendar-component-set"]] == ["VEVENT"]
    (tasks,) = responses(fresh.propfind("anna/tasks/", props))
    assert tasks.props[D + "displayname"] == "Anna Berg - To-dos and calls"
    (theirs,) = responses(live.dav("bjorn").propfind("bjorn/meetings/", props))
    assert theirs.props[D + "displayname"] == "Bjørn Dahl - Meetings"


def test_proppatch_cannot_change_the_component_set(dav: Dav) -> None:
    dav.proppatch("anna/meetings/", '<C:supported-calendar-component-set><C:comp name="VTODO"/>'
                                    "</C:supported-calendar-component-set>")
    (got,) = responses(dav.propfind("anna/meetings/", "<C:supported-calendar-component-set/>"))
    assert [c.get("name") for c in got.elements[C + "supported-calendar-component-set"]] == ["VEVENT"]


def test_proppatch_on_someone_elses_calendar_is_refused(live: LiveServer, dav: Dav) -> None:
    before = dump(live.engine)
    r = dav.proppatch("bjorn/meetings/", "<D:displayname>Mine</D:displayname>")
    assert r.status_code == 403
    assert dump(live.engine) == before


# -- the CRM's collections belong to the CRM (personal calendars: test_personal_calendars) -------


@pytest.mark.parametrize(("method", "path", "statuses"), [
    ("MKCOL", "anna/holidays/", {403}),  # a plain WebDAV collection, not a calendar
    ("MKCALENDAR", "bjorn/holidays/", {403}),
    # on an existing collection RFC 4791 5.3.1.1 (DAV:resource-must-be-null) also allows 405/409
    ("MKCALENDAR", "anna/meetings/", {403, 405, 409}),
    ("DELETE", "anna/meetings/", {403}),
    ("DELETE", "anna/tasks/", {403}),
    ("DELETE", "fjord/bookings/", {403}),
])
def test_collections_are_not_made_or_removed_by_clients(live: LiveServer, dav: Dav, method: str, path: str,
                                                        statuses: set[int]) -> None:
    put_new(dav, "anna/meetings/keep.ics", vevent())
    before = dump(live.engine)
    r = dav.request(method, path)
    assert r.status_code in statuses, (r.status_code, r.text)
    assert dump(live.engine) == before
    assert members(dav, "anna/meetings/") == {"/anna/meetings/keep.ics"}


# -- writes with preconditions -----------------------------------------------------------------


def test_put_new_get_and_replace_with_if_match(live: LiveServer, dav: Dav) -> None:
    text = vevent("put-1", "First version", extra=("LOCATION:Oslo",))
    r = dav.put("anna/meetings/put-1.ics", text)
    assert r.status_code == 201
    g = dav.get("anna/meetings/put-1.ics")
    assert g.status_code == 200
    assert g.headers["Content-Type"].startswith("text/calendar")
    assert prop_lines(g.text, "UID") == ["UID:put-1"]
    assert prop_lines(g.text, "SUMMARY") == ["SUMMARY:First version"]
    assert prop_lines(g.text, "LOCATION") == ["LOCATION:Oslo"]
    assert prop_lines(g.text, "DTSTART") == ["DTSTART:20260302T090000Z"]
    etag = g.headers["ETag"]
    assert etag == dav.etags("anna/meetings/")["/anna/meetings/put-1.ics"]

    before = dump(live.engine)
    r = dav.put("anna/meetings/put-1.ics", vevent("put-1", "Wrong"), If_Match='"not-the-etag"')
    assert r.status_code == 412
    assert dump(live.engine) == before
    r = dav.put("anna/meetings/put-1.ics", vevent("put-1", "Wrong"), If_None_Match="*")
    assert r.status_code == 412
    assert dump(live.engine) == before

    r = dav.put("anna/meetings/put-1.ics", vevent("put-1", "Second version"), If_Match=etag)
    assert r.status_code == 204
    g2 = dav.get("anna/meetings/put-1.ics")
    assert prop_lines(g2.text, "SUMMARY") == ["SUMMARY:Second version"]
    assert g2.headers["ETag"] != etag
    (f,) = followups_by_uid(live.engine, "put-1")
    assert f.title == "Second version"


def test_put_keeps_the_href_the_client_chose(dav: Dav) -> None:
    put_new(dav, "anna/tasks/Some%20Name-1.ics", vtodo("odd-href"))
    assert members(dav, "anna/tasks/") == {"/anna/tasks/Some Name-1.ics"}


def test_delete_and_delete_with_wrong_if_match(live: LiveServer, dav: Dav) -> None:
    etag = put_new(dav, "anna/tasks/t.ics", vtodo("del-1"))
    before = dump(live.engine)
    r = dav.delete("anna/tasks/t.ics", If_Match='"wrong"')
    assert r.status_code == 412
    assert dump(live.engine) == before
    r = dav.delete("anna/tasks/t.ics", If_Match=etag)
    assert r.status_code in (200, 204)
    assert dav.get("anna/tasks/t.ics").status_code == 404
    assert followups_by_uid(live.engine, "del-1") == []
    assert dav.delete("anna/tasks/t.ics").status_code == 404


def test_move_within_a_collection_changes_the_href(live: LiveServer, dav: Dav) -> None:
    put_new(dav, "anna/meetings/old.ics", vevent("mv-1", "Moving"))
    token = sync_token(dav.sync("anna/meetings/"))
    r = dav.request("MOVE", "anna/meetings/old.ics", Destination=dav.url("anna/meetings/new.ics"))
    assert r.status_code in (201, 204), r.text
    assert members(dav, "anna/meetings/") == {"/anna/meetings/new.ics"}
    assert prop_lines(dav.get("anna/meetings/new.ics").text, "UID") == ["UID:mv-1"]
    entries, _ = sync_entries(dav, "anna/meetings/", token)
    assert set(entries) == {"/anna/meetings/old.ics", "/anna/meetings/new.ics"}
    assert "404" in (entries["/anna/meetings/old.ics"] or "")
    assert entries["/anna/meetings/new.ics"] is None
    assert len(followups_by_uid(live.engine, "mv-1")) == 1


def test_move_of_an_event_into_tasks_is_refused(live: LiveServer, dav: Dav) -> None:
    put_new(dav, "anna/meetings/ev.ics", vevent("mv-2"))
    before = dump(live.engine)
    r = dav.request("MOVE", "anna/meetings/ev.ics", Destination=dav.url("anna/tasks/ev.ics"))
    assert r.status_code == 403, (r.status_code, r.text)
    assert "supported-calendar-component" in r.text
    assert dump(live.engine) == before


# -- reports --------------------------------------------------------------------------------


def test_calendar_multiget(dav: Dav) -> None:
    put_new(dav, "anna/meetings/a.ics", vevent("mg-a", "A"))
    put_new(dav, "anna/meetings/b.ics", vevent("mg-b", "B"))
    r = dav.multiget("anna/meetings/", ["/anna/meetings/a.ics", "/anna/meetings/b.ics", "/anna/meetings/none.ics"])
    assert r.status_code == 207
    found = {resp.href: resp for resp in responses(r)}
    assert "SUMMARY:A" in found["/anna/meetings/a.ics"].props[C + "calendar-data"]
    assert "SUMMARY:B" in found["/anna/meetings/b.ics"].props[C + "calendar-data"]
    assert found["/anna/meetings/a.ics"].props[D + "getetag"] == dav.get("anna/meetings/a.ics").headers["ETag"]
    assert "404" in (found["/anna/meetings/none.ics"].status or "")


def test_calendar_query_time_range_for_events(dav: Dav) -> None:
    put_new(dav, "anna/meetings/in.ics", vevent("q-in", start=datetime(2026, 3, 10, 9, tzinfo=UTC)))
    put_new(dav, "anna/meetings/out.ics", vevent("q-out", start=datetime(2026, 4, 10, 9, tzinfo=UTC)))
    put_new(dav, "anna/meetings/weekly.ics", vevent("q-weekly", start=datetime(2019, 1, 7, 9, tzinfo=UTC),
                                                    extra=("RRULE:FREQ=WEEKLY;BYDAY=MO",)))
    put_new(dav, "anna/meetings/ended.ics", vevent("q-ended", start=datetime(2019, 1, 8, 9, tzinfo=UTC),
                                                   extra=("RRULE:FREQ=WEEKLY;UNTIL=20210101T000000Z",)))
    put_new(dav, "anna/meetings/thursdays.ics", vevent("q-thu", start=datetime(2019, 1, 10, 9, tzinfo=UTC),
                                                       extra=("RRULE:FREQ=WEEKLY;BYDAY=TH",)))
    r = dav.query("anna/meetings/", "VEVENT", "20260309T000000Z", "20260311T000000Z")
    assert r.status_code == 207
    assert {resp.href for resp in responses(r)} == {"/anna/meetings/in.ics", "/anna/meetings/weekly.ics"}


def test_calendar_query_decides_recurrences_exactly(dav: Dav) -> None:
    """Window: Monday 2026-03-09 09:00-10:00 UTC; every series has its instance there removed or moved,
    except the last, which had another week's instance moved into it (RFC 4791 9.9, RFC 5545 3.8.5)."""
    monday = ("RRULE:FREQ=WEEKLY;BYDAY=MO",)
    put_new(dav, "anna/meetings/exdate.ics", vevent("x-exdate", start=datetime(2026, 1, 5, 9, tzinfo=UTC),
                                                    extra=(*monday, "EXDATE:20260309T090000Z")))
    put_new(dav, "anna/meetings/moved-out.ics", ical(
        "BEGIN:VEVENT", "UID:x-out", "DTSTAMP:20260101T000000Z", "DTSTART:20260105T090000Z",
        "DTEND:20260105T100000Z", "SUMMARY:Series", *monday, "END:VEVENT",
        "BEGIN:VEVENT", "UID:x-out", "DTSTAMP:20260101T000000Z", "RECURRENCE-ID:20260309T090000Z",
        "DTSTART:20260310T140000Z", "DTEND:20260310T150000Z", "SUMMARY:Moved away", "END:VEVENT"))
    put_new(dav, "anna/meetings/moved-in.ics", ical(
        "BEGIN:VEVENT", "UID:x-in", "DTSTAMP:20260101T000000Z", "DTSTART:20260106T140000Z",
        "DTEND:20260106T150000Z", "SUMMARY:Tuesdays", "RRULE:FREQ=WEEKLY;BYDAY=TU", "END:VEVENT",
        "BEGIN:VEVENT", "UID:x-in", "DTSTAMP:20260101T000000Z", "RECURRENCE-ID:20260303T140000Z",
        "DTSTART:20260309T091500Z", "DTEND:20260309T093000Z", "SUMMARY:Moved here", "END:VEVENT"))
    put_new(dav, "anna/meetings/count.ics", vevent("x-count", start=datetime(2026, 1, 5, 9, tzinfo=UTC),
                                                   extra=("RRULE:FREQ=WEEKLY;COUNT=3",)))
    put_new(dav, "anna/meetings/allday.ics", ical(
        "BEGIN:VEVENT", "UID:x-day", "DTSTAMP:20260101T000000Z", "DTSTART;VALUE=DATE:20260309",
        "DTEND;VALUE=DATE:20260310", "SUMMARY:All day", "END:VEVENT"))
    r = dav.query("anna/meetings/", "VEVENT", "20260309T090000Z", "20260309T100000Z")
    assert r.status_code == 207
    assert {resp.href for resp in responses(r)} == {"/anna/meetings/moved-in.ics", "/anna/meetings/allday.ics"}


def test_calendar_query_finds_an_undated_todo(dav: Dav) -> None:
    """RFC 4791 9.9: a VTODO with neither DTSTART nor DUE matches when the range ends after its
    CREATED (which the server sets from the store's clock), or always without CREATED."""
    put_new(dav, "anna/tasks/undated.ics", ical("BEGIN:VTODO", "UID:undated-q", "DTSTAMP:20260101T000000Z",
                                                "SUMMARY:Someday", "END:VTODO"))
    now = datetime.now(UTC)
    r = dav.query("anna/tasks/", "VTODO", (now - timedelta(days=1)).strftime("%Y%m%dT%H%M%SZ"),
                  (now + timedelta(days=30)).strftime("%Y%m%dT%H%M%SZ"))
    assert {resp.href for resp in responses(r)} == {"/anna/tasks/undated.ics"}


def test_calendar_query_time_range_for_todos(dav: Dav) -> None:
    put_new(dav, "anna/tasks/in.ics", vtodo("qt-in", due=datetime(2026, 3, 10, 12, tzinfo=UTC)))
    put_new(dav, "anna/tasks/out.ics", vtodo("qt-out", due=datetime(2026, 5, 10, 12, tzinfo=UTC)))
    r = dav.query("anna/tasks/", "VTODO", "20260309T000000Z", "20260311T000000Z")
    assert r.status_code == 207
    found = {resp.href for resp in responses(r)}
    assert "/anna/tasks/in.ics" in found
    assert "/anna/tasks/out.ics" not in found


def test_calendar_query_without_range_lists_the_component(dav: Dav) -> None:
    put_new(dav, "anna/tasks/a.ics", vtodo("qa-1"))
    put_new(dav, "anna/tasks/b.ics", vtodo("qa-2"))
    r = dav.query("anna/tasks/", "VTODO")
    assert {resp.href for resp in responses(r)} == {"/anna/tasks/a.ics", "/anna/tasks/b.ics"}


def test_calendar_query_with_property_filters(dav: Dav) -> None:
    """RFC 4791 9.7.2-9.7.5: prop-filters (text-match, is-not-defined) next to a time range; the index
    narrows the candidates and each one is then tested against the whole filter."""
    put_new(dav, "anna/meetings/oslo.ics", vevent("pf-oslo", "Board meeting", extra=("LOCATION:Oslo office",)))
    put_new(dav, "anna/meetings/bergen.ics", vevent("pf-bergen", "Site visit", extra=("LOCATION:Bergen",)))
    put_new(dav, "anna/meetings/nowhere.ics", vevent("pf-none", "Phone round"))

    def hrefs(prop_filter: str) -> set[str]:
        r = dav.report("anna/meetings/", f"<C:calendar-query{XMLNS}><D:prop><D:getetag/></D:prop><C:filter>"
                                         '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                                         '<C:time-range start="20260301T000000Z" end="20260303T000000Z"/>'
                                         f"{prop_filter}</C:comp-filter></C:comp-filter></C:filter>"
                                         "</C:calendar-query>")
        assert r.status_code == 207, r.text
        return {resp.href for resp in responses(r)}

    assert hrefs('<C:prop-filter name="LOCATION"><C:text-match>oslo</C:text-match></C:prop-filter>') \
        == {"/anna/meetings/oslo.ics"}
    assert hrefs('<C:prop-filter name="LOCATION"><C:is-not-defined/></C:prop-filter>') \
        == {"/anna/meetings/nowhere.ics"}
    assert hrefs('<C:prop-filter name="SUMMARY"><C:text-match negate-condition="yes">visit</C:text-match>'
                 "</C:prop-filter>") == {"/anna/meetings/oslo.ics", "/anna/meetings/nowhere.ics"}


# -- sync-collection (RFC 6578) --------------------------------------------------------------


def test_sync_collection_initial_change_and_delete(dav: Dav) -> None:
    put_new(dav, "anna/tasks/a.ics", vtodo("s-a"))
    put_new(dav, "anna/tasks/b.ics", vtodo("s-b"))
    entries, token = sync_entries(dav, "anna/tasks/", "")
    assert entries == {"/anna/tasks/a.ics": None, "/anna/tasks/b.ics": None}
    again, same = sync_entries(dav, "anna/tasks/", token)
    assert again == {} and same == token

    etag = dav.get("anna/tasks/a.ics").headers["ETag"]
    assert dav.put("anna/tasks/a.ics", vtodo("s-a", "Changed"), If_Match=etag).status_code == 204
    entries, token2 = sync_entries(dav, "anna/tasks/", token)
    assert entries == {"/anna/tasks/a.ics": None}
    assert token2 != token

    assert dav.delete("anna/tasks/b.ics").status_code in (200, 204)
    entries, token3 = sync_entries(dav, "anna/tasks/", token2)
    assert list(entries) == ["/anna/tasks/b.ics"]
    assert "404" in (entries["/anna/tasks/b.ics"] or "")

    entries, _ = sync_entries(dav, "anna/tasks/", "")
    assert entries == {"/anna/tasks/a.ics": None}


def test_sync_collection_after_a_delete_then_recreate_reports_the_new_object(dav: Dav) -> None:
    put_new(dav, "anna/tasks/a.ics", vtodo("r-a"))
    _, token = sync_entries(dav, "anna/tasks/", "")
    dav.delete("anna/tasks/a.ics")
    put_new(dav, "anna/tasks/a.ics", vtodo("r-b"))
    entries, _ = sync_entries(dav, "anna/tasks/", token)
    assert entries == {"/anna/tasks/a.ics": None}


@pytest.mark.parametrize("kind", ["garbage", "other-collection", "other-store", "future", "other-user"])
def test_invalid_or_foreign_sync_token_is_refused(live: LiveServer, dav: Dav, kind: str) -> None:
    meetings = sync_token(dav.sync("anna/meetings/"))
    tasks = sync_token(dav.sync("anna/tasks/"))
    prefix, rev = meetings.rsplit(":", 1)
    token = {
        "garbage": "http://example.com/sync/1",
        "other-collection": tasks,
        "other-store": "urn:x-followup-caldav:sync:0123456789abcdef:" + meetings.split(":")[-2] + ":0",
        "future": f"{prefix}:{int(rev) + 5}",
        "other-user": sync_token(live.dav("bjorn").sync("bjorn/meetings/")),
    }[kind]
    r = dav.sync("anna/meetings/", token)
    assert r.status_code == 403, (r.status_code, r.text)
    assert "valid-sync-token" in r.text


def test_pruned_removals_make_older_tokens_invalid_not_wrong(live: LiveServer, dav: Dav) -> None:
    """After `followups prune-tombstones`, a token from before a forgotten removal is refused
    (the client syncs afresh, RFC 6578 3.2) instead of silently keeping the removed object;
    tokens after it, and an initial sync, still work."""
    put_new(dav, "anna/tasks/keep.ics", vtodo("p-keep"))
    put_new(dav, "anna/tasks/gone.ics", vtodo("p-gone"))
    _, before_removal = sync_entries(dav, "anna/tasks/", "")
    assert dav.delete("anna/tasks/gone.ics").status_code in (200, 204)
    _, after_removal = sync_entries(dav, "anna/tasks/", "")

    assert services.prune_tombstones(live.engine, timedelta(days=1)) == 0  # too recent to forget
    entries, _ = sync_entries(dav, "anna/tasks/", before_removal)
    assert list(entries) == ["/anna/tasks/gone.ics"] and "404" in (entries["/anna/tasks/gone.ics"] or "")

    assert services.prune_tombstones(live.engine, timedelta(0)) == 1
    r = dav.sync("anna/tasks/", before_removal)
    assert r.status_code == 403 and "valid-sync-token" in r.text, (r.status_code, r.text)
    assert sync_entries(dav, "anna/tasks/", after_removal)[0] == {}
    put_new(dav, "anna/tasks/new.ics", vtodo("p-new"))
    assert list(sync_entries(dav, "anna/tasks/", after_removal)[0]) == ["/anna/tasks/new.ics"]
    assert set(sync_entries(dav, "anna/tasks/", "")[0]) == {"/anna/tasks/keep.ics", "/anna/tasks/new.ics"}
    # the other calendar's tokens are untouched
    assert sync_entries(dav, "anna/meetings/", sync_token(dav.sync("anna/meetings/")))[0] == {}


def test_crm_changes_show_in_the_next_sync(live: LiveServer, dav: Dav) -> None:
    _, token = sync_entries(dav, "anna/meetings/", "")
    f = crm_meeting(live.engine, title="From the CRM")
    href = f"/anna/meetings/{f.uid}.ics"
    entries, token = sync_entries(dav, "anna/meetings/", token)
    assert entries == {href: None}
    assert prop_lines(dav.get(href).text, "SUMMARY") == ["SUMMARY:From the CRM"]

    assert f.id is not None
    services.modify(live.engine, f.id, retitle("Renamed in the CRM"))
    entries, token = sync_entries(dav, "anna/meetings/", token)
    assert entries == {href: None}
    assert prop_lines(dav.get(href).text, "SUMMARY") == ["SUMMARY:Renamed in the CRM"]

    services.delete(live.engine, f.id)
    entries, token = sync_entries(dav, "anna/meetings/", token)
    assert list(entries) == [href] and "404" in (entries[href] or "")
    assert dav.get(href).status_code == 404


def test_crm_todo_shows_in_tasks(live: LiveServer, dav: Dav) -> None:
    _, token = sync_entries(dav, "anna/tasks/", "")
    f = crm_todo(live.engine, title="Send offer")
    entries, _ = sync_entries(dav, "anna/tasks/", token)
    assert entries == {f"/anna/tasks/{f.uid}.ics": None}
    assert members(dav, "anna/meetings/") == set()


# -- the store sees a client's writes at once -------------------------------------------------


def test_client_put_shows_in_the_store_at_once(live: LiveServer, dav: Dav) -> None:
    put_new(dav, "anna/meetings/m.ics", vevent("st-m", "Board meeting", start=datetime(2026, 3, 4, 8, tzinfo=UTC)))
    put_new(dav, "anna/tasks/t.ics", vtodo("st-t", "Call the bank"))
    anna = user(live.engine, "anna")
    with UnitOfWork(live.engine, write=False) as uow:
        (m,) = uow.followups.by_uid("st-m")
        assert m.kind is Kind.MEETING and m.title == "Board meeting" and m.owner_id == anna.id
        diary = uow.followups.diary(anna.id or 0, datetime(2026, 3, 4), datetime(2026, 3, 5))
        assert [f.uid for f in diary] == ["st-m"]
        todo = uow.followups.todo(anna.id or 0)
        assert [f.uid for f in todo] == ["st-t"]
        assert todo[0].kind is Kind.TODO and todo[0].title == "Call the bank"
        actions = [(c.uid, c.action, c.source, c.actor) for c in uow.changes()]
    assert ("st-m", "create", "client", "anna") in actions
    assert ("st-t", "create", "client", "anna") in actions


def test_vtodo_without_due_is_accepted(live: LiveServer, dav: Dav) -> None:
    text = ical("BEGIN:VTODO", "UID:undated", "DTSTAMP:20260101T000000Z", "SUMMARY:Someday", "END:VTODO")
    put_new(dav, "anna/tasks/undated.ics", text)
    (f,) = followups_by_uid(live.engine, "undated")
    assert f.deadline is None


def test_meeting_with_a_crm_user_attendee_appears_in_their_calendar(live: LiveServer, dav: Dav) -> None:
    text = vevent("inv-1", "Planning", extra=(
        "ORGANIZER;CN=Anna Berg:mailto:anna@example.com",
        "ATTENDEE;PARTSTAT=ACCEPTED;CN=Anna Berg:mailto:anna@example.com",
        "ATTENDEE;CN=Bjorn:mailto:BJORN@example.com",
    ))
    put_new(dav, "anna/meetings/inv-1.ics", text)
    bjorn = live.dav("bjorn")
    found = bjorn.etags("bjorn/meetings/")
    assert list(found) == ["/bjorn/meetings/inv-1.ics"]
    copy = bjorn.get("bjorn/meetings/inv-1.ics").text
    assert prop_lines(copy, "UID") == ["UID:inv-1"]
    (line,) = [a for a in prop_lines(copy, "ATTENDEE") if "bjorn@example.com" in a.lower()]
    assert "PARTSTAT=NEEDS-ACTION" in line
    (f,) = followups_by_uid(live.engine, "inv-1")
    (p,) = [p for p in f.participants if p.user_id == user(live.engine, "bjorn").id]
    assert p.partstat is PartStat.NEEDS_ACTION


def test_meeting_booking_a_room_appears_in_its_bookings(live: LiveServer, dav: Dav) -> None:
    text = vevent("book-1", "Workshop", extra=(
        "ORGANIZER;CN=Anna Berg:mailto:anna@example.com",
        "ATTENDEE;CUTYPE=ROOM;ROLE=NON-PARTICIPANT;CN=Room Fjord:mailto:fjord@example.com",
    ))
    put_new(dav, "anna/meetings/book-1.ics", text)
    for login in ("anna", "bjorn"):
        reader = live.dav(login)
        assert list(reader.etags("fjord/bookings/")) == ["/fjord/bookings/book-1.ics"]
        g = reader.get("fjord/bookings/book-1.ics")
        assert g.status_code == 200 and prop_lines(g.text, "UID") == ["UID:book-1"]
    before = dump(live.engine)
    for login in ("anna", "bjorn"):
        writer = live.dav(login)
        assert writer.put("fjord/bookings/book-1.ics", text).status_code == 403
        assert writer.delete("fjord/bookings/book-1.ics").status_code == 403
    assert dump(live.engine) == before


def test_crm_meeting_with_participant_reaches_the_invitee(live: LiveServer) -> None:
    bjorn = user(live.engine, "bjorn")
    f = crm_meeting(live.engine, participants=[Participant(user_id=bjorn.id)])
    assert list(live.dav("bjorn").etags("bjorn/meetings/")) == [f"/bjorn/meetings/{f.uid}.ics"]


# -- ETags and kept data -------------------------------------------------------------------------


def test_etag_changes_when_and_only_when_the_text_changes(live: LiveServer, dav: Dav) -> None:
    put_new(dav, "anna/meetings/e.ics", vevent("etag-1", "Same"))
    seen = [dav.get("anna/meetings/e.ics")]
    seen.append(dav.get("anna/meetings/e.ics"))
    assert seen[0].headers["ETag"] == seen[1].headers["ETag"] and seen[0].text == seen[1].text
    (f,) = followups_by_uid(live.engine, "etag-1")
    assert f.id is not None
    services.modify(live.engine, f.id, retitle("Same"))  # a save without a change: LAST-MODIFIED may move
    seen.append(dav.get("anna/meetings/e.ics"))
    services.modify(live.engine, f.id, retitle("Different"))
    seen.append(dav.get("anna/meetings/e.ics"))
    assert seen[-1].text != seen[0].text
    r = dav.put("anna/meetings/e.ics", vevent("etag-1", "From the client"), If_Match=seen[-1].headers["ETag"])
    assert r.status_code == 204
    seen.append(dav.get("anna/meetings/e.ics"))
    seen.append(dav.get("anna/meetings/e.ics"))
    for a in seen:
        for b in seen:
            assert (a.text == b.text) == (a.headers["ETag"] == b.headers["ETag"])
    listed = dav.etags("anna/meetings/")["/anna/meetings/e.ics"]
    assert listed == seen[-1].headers["ETag"]


def test_unmapped_properties_survive_a_crm_edit(live: LiveServer, dav: Dav) -> None:
    text = vevent("keep-1", "Kept", extra=(
        "X-MOZ-GENERATION:7",
        "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC",
        "COLOR:turquoise",
        "GEO:59.91;10.75",
        "BEGIN:VALARM", "ACTION:AUDIO", "TRIGGER:-PT2H", "END:VALARM",
        "BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Soon", "TRIGGER:-PT10M", "END:VALARM",
    ))
    put_new(dav, "anna/meetings/keep.ics", text)
    (f,) = followups_by_uid(live.engine, "keep-1")
    assert f.id is not None
    services.modify(live.engine, f.id, retitle("Renamed in the CRM"))
    got = dav.get("anna/meetings/keep.ics").text
    assert prop_lines(got, "SUMMARY") == ["SUMMARY:Renamed in the CRM"]
    assert prop_lines(got, "X-MOZ-GENERATION") == ["X-MOZ-GENERATION:7"]
    assert prop_lines(got, "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR") == ["X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC"]
    assert prop_lines(got, "COLOR") == ["COLOR:turquoise"]
    assert prop_lines(got, "GEO") == ["GEO:59.91;10.75"]
    assert sorted(prop_lines(got, "TRIGGER")) == ["TRIGGER:-PT10M", "TRIGGER:-PT2H"]


def test_crm_only_properties_kept_when_a_client_drops_them(live: LiveServer, dav: Dav) -> None:
    f = crm_todo(live.engine, title="Quote", priority=1)
    href = f"anna/tasks/{f.uid}.ics"
    g = dav.get(href)
    assert prop_lines(g.text, "X-CRM-TYPE")
    r = dav.put(href, vtodo(f.uid, "Quote v2"), If_Match=g.headers["ETag"])
    assert r.status_code == 204
    (after,) = followups_by_uid(live.engine, f.uid)
    assert after.title == "Quote v2" and after.type_id == f.type_id and after.kind is Kind.TODO


# -- bad input: a clear error and nothing stored ----------------------------------------------

WEIRD_TZ = "Europe/Atlantis"
BAD_INPUT = {
    "not-icalendar": ("anna/meetings/x.ics", "this is not a calendar", 400, "parse"),
    "truncated": ("anna/meetings/x.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n", 400, ""),
    "vevent-into-tasks": ("anna/tasks/x.ics", vevent("bad-1"), 403, "supported-calendar-component"),
    "vtodo-into-meetings": ("anna/meetings/x.ics", vtodo("bad-2"), 403, "supported-calendar-component"),
    "vjournal-into-meetings": ("anna/meetings/x.ics", ical(
        "BEGIN:VJOURNAL", "UID:bad-3", "DTSTAMP:20260101T000000Z", "SUMMARY:Diary", "END:VJOURNAL"),
        403, "supported-calendar-component"),
    "vjournal-into-tasks": ("anna/tasks/x.ics", ical(
        "BEGIN:VJOURNAL", "UID:bad-4", "DTSTAMP:20260101T000000Z", "SUMMARY:Diary", "END:VJOURNAL"),
        403, "supported-calendar-component"),
    "two-uids": ("anna/meetings/x.ics", ical(
        "BEGIN:VEVENT", "UID:bad-5a", "DTSTAMP:20260101T000000Z", "DTSTART:20260302T090000Z",
        "DTEND:20260302T100000Z", "SUMMARY:A", "END:VEVENT",
        "BEGIN:VEVENT", "UID:bad-5b", "DTSTAMP:20260101T000000Z", "DTSTART:20260303T090000Z",
        "DTEND:20260303T100000Z", "SUMMARY:B", "END:VEVENT"), 400, "UID"),
    "no-uid": ("anna/meetings/x.ics", ical(
        "BEGIN:VEVENT", "DTSTAMP:20260101T000000Z", "DTSTART:20260302T090000Z", "DTEND:20260302T100000Z",
        "SUMMARY:A", "END:VEVENT"), 400, "UID"),
    "uid-conflict": ("anna/meetings/other.ics", vevent("taken"), 409, "no-uid-conflict"),
    "unknown-tzid": ("anna/meetings/x.ics", ical(
        "BEGIN:VEVENT", "UID:bad-6", "DTSTAMP:20260101T000000Z", f"DTSTART;TZID={WEIRD_TZ}:20260302T090000",
        f"DTEND;TZID={WEIRD_TZ}:20260302T100000", "SUMMARY:A", "END:VEVENT"), 400, WEIRD_TZ),
    "too-large": ("anna/meetings/x.ics", vevent("bad-7", extra=("DESCRIPTION:" + "x" * 210_000,)), 413, ""),
    "into-bookings": ("fjord/bookings/x.ics", vevent("bad-8"), 403, ""),
    "into-someone-elses-meetings": ("bjorn/meetings/x.ics", vevent("bad-9"), 403, ""),
    "into-someone-elses-tasks": ("bjorn/tasks/x.ics", vtodo("bad-10"), 403, ""),
    "vevent-replacing-a-vtodo": ("anna/tasks/taken-todo.ics", vevent("taken-todo"), 403,
                                 "supported-calendar-component"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_refused_and_nothing_is_stored(live: LiveServer, dav: Dav, case: str) -> None:
    put_new(dav, "anna/meetings/taken.ics", vevent("taken"))
    put_new(dav, "anna/tasks/taken-todo.ics", vtodo("taken-todo"))
    path, body, status, needle = BAD_INPUT[case]
    before = dump(live.engine)
    r = dav.put(path, body)
    assert r.status_code == status, (r.status_code, r.text)
    assert needle.lower() in r.text.lower()
    assert dump(live.engine) == before
    assert members(dav, "anna/meetings/") == {"/anna/meetings/taken.ics"}


def test_parser_reason_is_in_the_body(dav: Dav) -> None:
    r = dav.put("anna/meetings/x.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n"
                                       "DTSTART:not-a-date\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    assert r.status_code == 400
    assert "DTSTART" in r.text


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "bjorn/meetings/theirs.ics"),
    ("PUT", "bjorn/meetings/theirs.ics"),
    ("GET", "bjorn/meetings/theirs.ics"),
])
def test_someone_elses_objects_are_out_of_reach(live: LiveServer, dav: Dav, method: str, path: str) -> None:
    assert live.dav("bjorn").put("bjorn/meetings/theirs.ics", vevent("theirs")).status_code == 201
    before = dump(live.engine)
    r = dav.request(method, path, vevent("theirs", "Hijacked") if method == "PUT" else None,
                    **({"Content_Type": "text/calendar"} if method == "PUT" else {}))
    assert r.status_code in (403, 404)
    assert dump(live.engine) == before


def test_windows_tzid_is_accepted(live: LiveServer, dav: Dav) -> None:
    text = ical("BEGIN:VEVENT", "UID:win-1", "DTSTAMP:20260101T000000Z",
                "DTSTART;TZID=W. Europe Standard Time:20260302T090000",
                "DTEND;TZID=W. Europe Standard Time:20260302T100000", "SUMMARY:Outlook", "END:VEVENT")
    put_new(dav, "anna/meetings/win.ics", text)
    (f,) = followups_by_uid(live.engine, "win-1")
    assert f.start is not None and isinstance(f.start, datetime)
    assert f.start.astimezone(UTC) == datetime(2026, 3, 2, 8, tzinfo=UTC)
    r = dav.query("anna/meetings/", "VEVENT", "20260302T080000Z", "20260302T083000Z")
    assert {resp.href for resp in responses(r)} == {"/anna/meetings/win.ics"}


def test_tzid_defined_by_a_vtimezone_in_the_body_is_accepted(dav: Dav) -> None:
    text = ical("BEGIN:VTIMEZONE", "TZID:My Office", "BEGIN:STANDARD", "DTSTART:19700101T000000",
                "TZOFFSETFROM:+0300", "TZOFFSETTO:+0300", "END:STANDARD", "END:VTIMEZONE",
                "BEGIN:VEVENT", "UID:own-tz", "DTSTAMP:20260101T000000Z", "DTSTART;TZID=My Office:20260302T090000",
                "DTEND;TZID=My Office:20260302T100000", "SUMMARY:Custom zone", "END:VEVENT")
    put_new(dav, "anna/meetings/own-tz.ics", text)


def test_never_ending_recurrence_is_accepted_and_queries_stay_fast(dav: Dav) -> None:
    put_new(dav, "anna/meetings/daily.ics", vevent("forever", "Stand-up", start=datetime(2000, 1, 3, 8, tzinfo=UTC),
                                                   minutes=15, extra=("RRULE:FREQ=DAILY",)))
    put_new(dav, "anna/tasks/daily.ics", vtodo("forever-todo", due=datetime(2000, 1, 3, 8, tzinfo=UTC),
                                               extra=("RRULE:FREQ=DAILY",)))
    for start, end in (("20260309T000000Z", "20260310T000000Z"), ("21000101T000000Z", "21000102T000000Z")):
        began = time.monotonic()
        r = dav.query("anna/meetings/", "VEVENT", start, end)
        assert r.status_code == 207
        assert {resp.href for resp in responses(r)} == {"/anna/meetings/daily.ics"}
        assert time.monotonic() - began < 5
    began = time.monotonic()
    r = dav.query("anna/tasks/", "VTODO", "20260309T000000Z", "20260310T000000Z")
    assert r.status_code == 207
    assert {resp.href for resp in responses(r)} == {"/anna/tasks/daily.ics"}
    assert time.monotonic() - began < 5


@pytest.mark.parametrize("collection", ["meetings", "tasks"])
def test_time_range_query_over_a_frequent_never_ending_recurrence_is_bounded(dav: Dav, collection: str) -> None:
    """About 300,000 minutely instances before the window: a bounded expansion
    answers at once (regression: Radicale's re-check walked them all)."""
    start = datetime(2025, 8, 1, tzinfo=UTC)
    rule = ("RRULE:FREQ=MINUTELY",)
    if collection == "meetings":
        put_new(dav, "anna/meetings/often.ics", vevent("often", start=start, minutes=1, extra=rule))
    else:
        put_new(dav, "anna/tasks/often.ics", vtodo("often", due=start, extra=rule))
    began = time.monotonic()
    r = dav.query(f"anna/{collection}/", "VEVENT" if collection == "meetings" else "VTODO",
                  "20260309T000000Z", "20260309T010000Z")
    elapsed = time.monotonic() - began
    assert r.status_code == 207
    assert {resp.href for resp in responses(r)} == {f"/anna/{collection}/often.ics"}
    assert elapsed < 1.0, f"{elapsed:.1f} s"


def test_a_failed_put_leaves_no_change_log_entry(live: LiveServer, dav: Dav) -> None:
    put_new(dav, "anna/meetings/taken.ics", vevent("taken"))
    with UnitOfWork(live.engine, write=False) as uow:
        count = len(uow.changes())
    dav.put("anna/meetings/other.ics", vevent("taken"))
    dav.put("anna/tasks/x.ics", vevent("y"))
    with UnitOfWork(live.engine, write=False) as uow:
        assert len(uow.changes()) == count


def test_put_of_an_unparseable_date_in_recurrence_is_refused(live: LiveServer, dav: Dav) -> None:
    before = dump(live.engine)
    r = dav.put("anna/meetings/x.ics", vevent("rr-bad", extra=("RRULE:FREQ=SOMETIMES",)))
    assert r.status_code == 400, (r.status_code, r.text)
    assert dump(live.engine) == before


def test_put_sequence_is_kept_from_the_client(live: LiveServer, dav: Dav) -> None:
    put_new(dav, "anna/meetings/seq.ics", vevent("seq-1", extra=("SEQUENCE:4",)))
    assert prop_lines(dav.get("anna/meetings/seq.ics").text, "SEQUENCE") == ["SEQUENCE:4"]


def test_crm_move_of_a_meeting_with_participants_bumps_sequence(live: LiveServer, dav: Dav) -> None:
    bjorn = user(live.engine, "bjorn")
    f = crm_meeting(live.engine, participants=[Participant(user_id=bjorn.id, partstat=PartStat.ACCEPTED)])
    assert f.id is not None

    def later(g: object, _uow: UnitOfWork) -> None:
        g.start += timedelta(hours=1)  # type: ignore[attr-defined]
        g.end += timedelta(hours=1)  # type: ignore[attr-defined]

    services.modify(live.engine, f.id, later)
    text = live.dav("bjorn").get(f"bjorn/meetings/{f.uid}.ics").text
    assert prop_lines(text, "SEQUENCE") == ["SEQUENCE:1"]
    assert any("PARTSTAT=NEEDS-ACTION" in a for a in prop_lines(text, "ATTENDEE") if "bjorn" in a.lower())


# -- invitations, cancellation, privacy -----------------------------------------------------

INVITE = ("ORGANIZER;CN=Anna Berg:mailto:anna@example.com",
          "ATTENDEE;PARTSTAT=ACCEPTED;CN=Anna Berg:mailto:anna@example.com",
          "ATTENDEE;PARTSTAT=NEEDS-ACTION;CN=Bjorn:mailto:bjorn@example.com")


def test_an_invitees_put_changes_only_their_partstat(live: LiveServer, dav: Dav) -> None:
    put_new(dav, "anna/meetings/inv.ics", vevent("inv-2", "Organizer's title", extra=INVITE))
    bjorn = live.dav("bjorn")
    g = bjorn.get("bjorn/meetings/inv-2.ics")
    reply = g.text.replace("SUMMARY:Organizer's title", "SUMMARY:Bjorn's title").replace(
        "PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
    r = bjorn.put("bjorn/meetings/inv-2.ics", reply, If_Match=g.headers["ETag"])
    assert r.status_code in (201, 204), (r.status_code, r.text)
    (f,) = followups_by_uid(live.engine, "inv-2")
    assert f.title == "Organizer's title"
    (p,) = [p for p in f.participants if p.user_id == user(live.engine, "bjorn").id]
    assert p.partstat is PartStat.ACCEPTED
    mine = bjorn.get("bjorn/meetings/inv-2.ics").text
    assert prop_lines(mine, "SUMMARY") == ["SUMMARY:Organizer's title"]
    assert prop_lines(dav.get("anna/meetings/inv.ics").text, "SUMMARY") == ["SUMMARY:Organizer's title"]


def test_an_invitees_delete_declines(live: LiveServer, dav: Dav) -> None:
    put_new(dav, "anna/meetings/inv.ics", vevent("inv-3", "Review", extra=INVITE))
    bjorn = live.dav("bjorn")
    assert bjorn.delete("bjorn/meetings/inv-3.ics").status_code in (200, 204)
    assert bjorn.etags("bjorn/meetings/") == {}
    (f,) = followups_by_uid(live.engine, "inv-3")
    (p,) = [p for p in f.participants if p.user_id == user(live.engine, "bjorn").id]
    assert p.partstat is PartStat.DECLINED
    organizer_copy = dav.get("anna/meetings/inv.ics").text
    assert any("PARTSTAT=DECLINED" in a for a in prop_lines(organizer_copy, "ATTENDEE") if "bjorn" in a.lower())


def test_the_owners_delete_removes_every_copy(live: LiveServer, dav: Dav) -> None:
    put_new(dav, "anna/meetings/inv.ics", vevent("inv-4", "Gone", extra=(
        *INVITE, "ATTENDEE;CUTYPE=ROOM;CN=Room Fjord:mailto:fjord@example.com")))
    assert list(live.dav("bjorn").etags("fjord/bookings/")) == ["/fjord/bookings/inv-4.ics"]
    assert dav.delete("anna/meetings/inv.ics").status_code in (200, 204)
    assert live.dav("bjorn").etags("bjorn/meetings/") == {}
    assert live.dav("bjorn").etags("fjord/bookings/") == {}
    assert followups_by_uid(live.engine, "inv-4") == []


def test_a_cancelled_event_is_kept_and_cancelled(live: LiveServer, dav: Dav) -> None:
    etag = put_new(dav, "anna/meetings/c.ics", vevent("cancel-1", "Board"))
    r = dav.put("anna/meetings/c.ics", vevent("cancel-1", "Board", extra=("STATUS:CANCELLED",)), If_Match=etag)
    assert r.status_code == 204
    (f,) = followups_by_uid(live.engine, "cancel-1")
    assert f.cancelled
    assert prop_lines(dav.get("anna/meetings/c.ics").text, "STATUS") == ["STATUS:CANCELLED"]


@pytest.mark.parametrize("cls", ["PRIVATE", "CONFIDENTIAL"])
def test_private_classes_make_the_followup_private(live: LiveServer, dav: Dav, cls: str) -> None:
    put_new(dav, "anna/tasks/p.ics", vtodo("priv-" + cls, extra=(f"CLASS:{cls}",)))
    (f,) = followups_by_uid(live.engine, "priv-" + cls)
    assert f.private


def test_the_same_uid_in_another_collection_is_no_conflict(live: LiveServer, dav: Dav) -> None:
    """The spec's 409 is for a UID used in the *same* collection."""
    put_new(dav, "anna/meetings/shared.ics", vevent("shared-uid"))
    r = dav.put("anna/tasks/shared.ics", vtodo("shared-uid"))
    assert r.status_code == 201, (r.status_code, r.text)
    assert members(dav, "anna/tasks/") == {"/anna/tasks/shared.ics"}
    assert members(dav, "anna/meetings/") == {"/anna/meetings/shared.ics"}


def test_replacing_an_object_with_another_uid_is_refused(live: LiveServer, dav: Dav) -> None:
    """RFC 4791 5.3.2.1 (CALDAV:no-uid-conflict): a PUT must not change the UID of an existing resource."""
    etag = put_new(dav, "anna/meetings/u.ics", vevent("uid-before"))
    before = dump(live.engine)
    r = dav.put("anna/meetings/u.ics", vevent("uid-after"), If_Match=etag)
    assert r.status_code in (400, 403, 409), (r.status_code, r.text)
    assert dump(live.engine) == before


def test_method_is_not_stored(dav: Dav) -> None:
    """RFC 4791 4.1: calendar object resources carry no METHOD (clients paste iTIP invitations)."""
    text = vevent("with-method").replace("VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST")
    r = dav.put("anna/meetings/m.ics", text)
    assert r.status_code in (201, 400, 403)
    if r.status_code == 201:
        assert prop_lines(dav.get("anna/meetings/m.ics").text, "METHOD") == []


def test_event_without_dtstart_is_refused_with_a_reason(live: LiveServer, dav: Dav) -> None:
    before = dump(live.engine)
    r = dav.put("anna/meetings/n.ics", ical("BEGIN:VEVENT", "UID:no-start", "DTSTAMP:20260101T000000Z",
                                            "SUMMARY:When?", "END:VEVENT"))
    assert r.status_code == 400
    assert dump(live.engine) == before
    assert "DTSTART" in r.text or "start" in r.text.lower()
