"""The listings answered in our WSGI layer (server.dav.listing) carry the
same bytes and headers as Radicale's own answers to the same requests.

Each request is sent twice to a real server: once answered by the listing
code, once with it switched off (Radicale answers, through our storage
plugin), and the two answers are compared byte for byte. A spy checks that
the first really was answered by the listing code (or, for the shapes it
leaves alone, that it was not).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from radicale import storage as radicale_storage

from server.dav import listing
from server.services import auth
from store.domain import Recurrence
from tests.server.caldav_support import PASSWORD, XMLNS, LiveServer, crm_meeting, crm_todo, dump, ical, vevent, vtodo

SKIPPED_HEADERS = {"date", "server"}


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether each request was answered by the listing code (True) or left to Radicale."""
    answered: list[bool] = []
    original = listing.handle

    def handle(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        answered.append(result is not None)
        return result

    monkeypatch.setattr(listing, "handle", handle)
    yield answered


def _headers(r: requests.Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in r.raw.headers.items() if k.lower() not in SKIPPED_HEADERS]


def _plain(r: requests.Response, data: bytes) -> bytes:
    return gzip.decompress(data) if r.headers.get("Content-Encoding") == "gzip" else data


def _both(live: LiveServer, spy: list[bool], method: str, path: str, body: str = "", fast: bool = True,
          **headers: str) -> requests.Response:
    """The request answered by the listing code and by Radicale: the same status,
    headers and bytes (raw: a gzipped body is compared compressed)."""
    headers = {k.replace("_", "-"): v for k, v in headers.items()}
    dav = live.dav()
    dav.request("PROPFIND", "anna/", "", Depth="0")  # the login is checked (Radicale's path) first
    spy.clear()
    data = body.encode("utf-8") if body else None
    ours = dav.session.request(method, dav.url(path), data=data, headers=headers, stream=True, timeout=30)
    ours_bytes = ours.raw.read()
    assert spy == [fast], f"{method} {path}: answered by the listing code: {spy}, expected {fast}"
    listing.ENABLED = False
    try:
        theirs = dav.session.request(method, dav.url(path), data=data, headers=headers, stream=True, timeout=30)
        theirs_bytes = theirs.raw.read()
    finally:
        listing.ENABLED = True
    assert ours.status_code == theirs.status_code, (ours.status_code, theirs.status_code)
    assert ours_bytes == theirs_bytes or _plain(ours, ours_bytes) == _plain(theirs, theirs_bytes)
    assert _headers(ours) == _headers(theirs)
    assert ours_bytes == theirs_bytes, (ours_bytes[:3000], theirs_bytes[:3000])
    gzipped = ours.headers.get("Content-Encoding") == "gzip"
    ours._content = gzip.decompress(ours_bytes) if gzipped else ours_bytes  # for the caller's own checks
    return ours


@pytest.fixture
def calendars(live: LiveServer) -> LiveServer:
    """anna's calendars with CRM objects (a series, a private one, a to-do),
    objects a client wrote (XML specials, an unknown namespace's property,
    LF line ends) and a personal calendar with a journal."""
    engine = live.engine
    crm_meeting(engine, title="Budget & <review>")
    crm_meeting(engine, title="Weekly", start=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
                recurrence=Recurrence("FREQ=WEEKLY;COUNT=5"))
    crm_meeting(engine, title="Doctor", private=True,
                start=datetime(2026, 3, 4, 15, 0, tzinfo=UTC))
    crm_todo(engine, title="Send the offer")
    dav = live.dav()
    assert dav.put("anna/meetings/client-made.ics", vevent("client-1", "Lunch <&> \"quoted\"")).status_code == 201
    lf = vevent("client-lf", "LF only", start=datetime(2026, 3, 9, 9, tzinfo=UTC)).replace("\r\n", "\n")
    assert dav.put("anna/meetings/lf.ics", lf).status_code == 201
    assert dav.put("anna/tasks/t%C3%B8do.ics", vtodo("client-todo", "Grønn")).status_code == 201
    body = (f'<?xml version="1.0" encoding="utf-8"?><C:mkcalendar{XMLNS}><D:set><D:prop>'
            "<D:displayname>Family &amp; friends</D:displayname></D:prop></D:set></C:mkcalendar>")
    assert dav.request("MKCALENDAR", "anna/family/", body).status_code == 201
    journal = ical("BEGIN:VJOURNAL", "UID:journal-1", "DTSTAMP:20260101T000000Z", "DTSTART;VALUE=DATE:20260302",
                   "SUMMARY:Notes", "END:VJOURNAL")
    assert dav.put("anna/family/j.ics", journal).status_code == 201
    assert dav.put("anna/family/e.ics", vevent("family-1", "Dinner",
                                               start=datetime(2026, 3, 7, 18, tzinfo=UTC))).status_code == 201
    body = f'<?xml version="1.0" encoding="utf-8"?><C:mkcalendar{XMLNS}/>'
    assert dav.request("MKCALENDAR", "anna/empty/", body).status_code == 201
    return live


def _propfind(props: str) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><D:propfind{XMLNS} xmlns:X="urn:example:x">'
            f"<D:prop>{props}</D:prop></D:propfind>")


PROPFINDS = [
    "<D:getetag/>",
    "<D:getcontenttype/><D:resourcetype/><D:getetag/>",  # Thunderbird
    "<X:colour/><D:getetag/><D:displayname/><C:supported-calendar-component-set/><CS:getctag/>"
    "<D:getlastmodified/><A:calendar-color/><D:sync-token/>",
    "",
    "<D:getetag/><D:getetag/>",
    "<D:getetag/><C:calendar-home-set/><CS:source/>",  # the calendar's own response from Radicale itself
]


@pytest.mark.parametrize("props", PROPFINDS)
@pytest.mark.parametrize("path", ["anna/meetings/", "anna/tasks/", "anna/family/", "anna/empty/"])
def test_propfind_depth_1_is_radicales(calendars: LiveServer, spy: list[bool], path: str, props: str) -> None:
    r = _both(calendars, spy, "PROPFIND", path, _propfind(props), Depth="1")
    assert r.status_code == 207
    if path == "anna/meetings/" and "getetag" in props:
        assert r.content.count(b"<getetag>") >= 6  # the calendar and its five members


def test_propfind_gzipped_is_radicales(calendars: LiveServer, spy: list[bool]) -> None:
    r = _both(calendars, spy, "PROPFIND", "anna/meetings/", _propfind("<D:getetag/>"), Depth="1",
              Accept_Encoding="gzip, deflate")
    assert r.headers["Content-Encoding"] == "gzip"


@pytest.mark.parametrize("props", ["<D:current-user-privilege-set/>", "<D:getcontentlength/><D:getetag/>",
                                   "<D:owner/>"])
def test_propfind_of_what_a_member_answers_from_rights_or_text_is_radicales_own(
        calendars: LiveServer, spy: list[bool], props: str) -> None:
    _both(calendars, spy, "PROPFIND", "anna/meetings/", _propfind(props), fast=False, Depth="1")


CALENDAR_PROPS = [
    "<CS:getctag/>",  # every client's poll
    "<CS:getctag/><D:sync-token/>",
    "<D:resourcetype/><D:displayname/><C:supported-calendar-component-set/><A:calendar-color/>"
    "<C:calendar-description/><D:getcontenttype/><D:getlastmodified/><X:colour/><D:getetag/>",
    "<X:colour/><A:calendar-order/>",
]


@pytest.mark.parametrize("props", CALENDAR_PROPS)
@pytest.mark.parametrize("path", ["anna/meetings/", "anna/tasks/", "anna/family/", "anna/empty/"])
@pytest.mark.parametrize("depth", ["0", "1"])
def test_a_calendars_own_properties_are_radicales(calendars: LiveServer, spy: list[bool], path: str, props: str,
                                                  depth: str) -> None:
    dav = calendars.dav()
    assert dav.proppatch("anna/family/", "<A:calendar-color>#FF0000FF</A:calendar-color>").status_code == 207
    r = _both(calendars, spy, "PROPFIND", path, _propfind(props), Depth=depth)
    assert r.status_code == 207 and r.content.count(b"<response>") >= 1


def test_allprop_and_what_a_calendar_answers_from_rights_are_radicales_own(calendars: LiveServer,
                                                                            spy: list[bool]) -> None:
    allprop = f'<?xml version="1.0" encoding="utf-8"?><D:propfind{XMLNS}><D:allprop/></D:propfind>'
    _both(calendars, spy, "PROPFIND", "anna/meetings/", allprop, fast=False, Depth="1")
    _both(calendars, spy, "PROPFIND", "anna/meetings/", allprop, fast=False, Depth="0")
    for props in ("<D:current-user-privilege-set/>", "<CS:getctag/><D:owner/>", "<C:calendar-home-set/>"):
        _both(calendars, spy, "PROPFIND", "anna/meetings/", _propfind(props), fast=False, Depth="0")


def _sync(token: str, props: str) -> str:
    prop = f"<D:prop>{props}</D:prop>" if props is not None else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><D:sync-collection{XMLNS} xmlns:X="urn:example:x">'
            f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>{prop}</D:sync-collection>")


SYNC_PROPS = ["<D:getetag/>", "<D:getetag/><C:calendar-data/>", "<X:colour/><D:getcontenttype/><D:getetag/>"]


@pytest.mark.parametrize("props", SYNC_PROPS)
@pytest.mark.parametrize("path", ["anna/meetings/", "anna/tasks/", "anna/family/", "anna/empty/"])
def test_initial_sync_is_radicales(calendars: LiveServer, spy: list[bool], path: str, props: str) -> None:
    r = _both(calendars, spy, "REPORT", path, _sync("", props))
    assert b"<sync-token>" in r.content


def test_incremental_sync_with_changes_and_removals_is_radicales(calendars: LiveServer, spy: list[bool]) -> None:
    dav = calendars.dav()
    first = _both(calendars, spy, "REPORT", "anna/meetings/", _sync("", "<D:getetag/>"))
    token = first.content.split(b"<sync-token>")[1].split(b"</sync-token>")[0].decode()
    assert dav.put("anna/meetings/new.ics", vevent("client-new", "New")).status_code == 201
    assert dav.delete("anna/meetings/client-made.ics").status_code in (200, 204)
    for props in [*SYNC_PROPS, None]:
        r = _both(calendars, spy, "REPORT", "anna/meetings/", _sync(token, props))  # type: ignore[arg-type]
        assert b"client-made.ics</href><status>HTTP/1.1 404 Not Found" in r.content
        assert (b"new.ics" in r.content) == (props is not None)  # without props: only what went
    unchanged = _both(calendars, spy, "REPORT", "anna/meetings/",
                      _sync(r.content.split(b"<sync-token>")[1].split(b"</sync-token>")[0].decode(), "<D:getetag/>"))
    assert b"<response>" not in unchanged.content


def test_a_refused_sync_token_is_radicales_answer(calendars: LiveServer, spy: list[bool]) -> None:
    r = _both(calendars, spy, "REPORT", "anna/meetings/", _sync("urn:x-other:1", "<D:getetag/>"), fast=False)
    assert r.status_code == 403


def _multiget(hrefs: list[str], props: str = "<D:getetag/><C:calendar-data/>") -> str:
    refs = "".join(f"<D:href>{h}</D:href>" for h in hrefs)
    return (f'<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget{XMLNS} xmlns:X="urn:example:x">'
            f"<D:prop>{props}</D:prop>{refs}</C:calendar-multiget>")


def _hrefs(live: LiveServer, path: str) -> list[str]:
    return sorted(live.dav().etags(path))


def test_multiget_is_radicales(calendars: LiveServer, spy: list[bool]) -> None:
    hrefs = _hrefs(calendars, "anna/meetings/")
    assert len(hrefs) == 5
    others = ["/anna/meetings/missing.ics", "/bjorn/meetings/x.ics", "http://example.com/anna/meetings/lf.ics",
              "/anna/meetings/a%2Fb.ics", "/anna/meetings/../tasks/x.ics"]
    for props in ("<D:getetag/><C:calendar-data/>", "<D:getetag/>", "<X:colour/><C:calendar-data/>",
                  "<D:getcontenttype/><D:getetag/><C:calendar-data><C:comp name=\"VCALENDAR\"/></C:calendar-data>"):
        r = _both(calendars, spy, "REPORT", "anna/meetings/", _multiget(hrefs + others, props))
        assert r.content.count(b"<response>") == len(hrefs) + len(others) - 1  # two name lf.ics
    tasks = _hrefs(calendars, "anna/tasks/")
    _both(calendars, spy, "REPORT", "anna/tasks/", _multiget(tasks))
    _both(calendars, spy, "REPORT", "anna/tasks/", _multiget(["/anna/tasks/none.ics"]))
    _both(calendars, spy, "REPORT", "anna/family/", _multiget(_hrefs(calendars, "anna/family/")))


def test_multiget_of_the_calendar_itself_and_with_expand_are_radicales_own(calendars: LiveServer,
                                                                            spy: list[bool]) -> None:
    _both(calendars, spy, "REPORT", "anna/meetings/", _multiget(["/anna/meetings/"]), fast=False)
    expand = '<C:calendar-data><C:expand start="20260301T000000Z" end="20260401T000000Z"/></C:calendar-data>'
    _both(calendars, spy, "REPORT", "anna/meetings/", _multiget(_hrefs(calendars, "anna/meetings/"), expand),
          fast=False)


def _query(component: str, props: str = "<D:getetag/>", start: str = "20260301T000000Z",
           end: str = "20260310T000000Z", inner: str = "") -> str:
    timed = f'<C:time-range start="{start}" end="{end}"/>' if start else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><C:calendar-query{XMLNS} xmlns:X="urn:example:x">'
            f"<D:prop>{props}</D:prop><C:filter><C:comp-filter name=\"VCALENDAR\">"
            f"<C:comp-filter name=\"{component}\">{timed}{inner}</C:comp-filter></C:comp-filter></C:filter>"
            "</C:calendar-query>")


@pytest.mark.parametrize(("path", "component"), [("anna/meetings/", "VEVENT"), ("anna/tasks/", "VTODO"),
                                                 ("anna/family/", "VEVENT"), ("anna/empty/", "VEVENT")])
def test_a_time_range_query_is_radicales(calendars: LiveServer, spy: list[bool], path: str, component: str) -> None:
    for props in ("<D:getetag/>", "<D:getetag/><C:calendar-data/>", "<X:colour/><D:getcontenttype/>"):
        r = _both(calendars, spy, "REPORT", path, _query(component, props))
        assert r.status_code == 207
    if path == "anna/meetings/":  # the series' instances, the private one, the client's: all in that week
        assert r.content.count(b"<response>") >= 4
    nothing = _both(calendars, spy, "REPORT", path, _query(component, start="20300101T000000Z",
                                                           end="20300102T000000Z"))
    assert b"<response>" not in nothing.content


def test_a_query_the_index_does_not_decide_is_radicales_own(calendars: LiveServer, spy: list[bool]) -> None:
    text = '<C:prop-filter name="SUMMARY"><C:text-match>lunch</C:text-match></C:prop-filter>'
    _both(calendars, spy, "REPORT", "anna/meetings/", _query("VEVENT", inner=text), fast=False)
    _both(calendars, spy, "REPORT", "anna/family/", _query("VJOURNAL"), fast=False)
    expand = '<C:calendar-data><C:expand start="20260301T000000Z" end="20260310T000000Z"/></C:calendar-data>'
    _both(calendars, spy, "REPORT", "anna/meetings/", _query("VEVENT", expand), fast=False)


@pytest.mark.parametrize("path", ["anna/meetings/", "anna/tasks/", "anna/family/", "anna/empty/", "anna/meetings"])
@pytest.mark.parametrize("chunk", [listing.CHUNK, 100])
def test_get_of_a_calendar_is_radicales(calendars: LiveServer, spy: list[bool], path: str, chunk: int,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing, "CHUNK", chunk)  # 100: sent (and gzipped) in many pieces
    r = _both(calendars, spy, "GET", path)
    assert r.status_code == 200 and r.content.startswith(b"BEGIN:VCALENDAR\r\n")
    _both(calendars, spy, "GET", path, Accept_Encoding="gzip")


@pytest.mark.parametrize("encoding", ["", "gzip"])  # "": Accept-Encoding: identity
def test_listings_sent_in_many_chunks_are_radicales(calendars: LiveServer, spy: list[bool], encoding: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """PROPFIND Depth 1 and the REPORTs are sent in chunks of the answer, never
    joined into one string (a Depth 1 answer for 65,000 members was 20 MB of
    text and 20 MB of bytes at once): split every 100 characters, the bytes
    on the wire are still Radicale's, gzipped or not."""
    monkeypatch.setattr(listing, "CHUNK", 100)
    sent: list[int] = []
    original = listing._chunks

    def chunks(pieces: list[str]) -> Any:
        for chunk in original(pieces):
            sent.append(len(chunk))
            yield chunk

    monkeypatch.setattr(listing, "_chunks", chunks)
    accept = encoding or "identity"
    _both(calendars, spy, "PROPFIND", "anna/meetings/", _propfind("<D:getetag/><D:getcontenttype/>"), Depth="1",
          Accept_Encoding=accept)
    _both(calendars, spy, "REPORT", "anna/meetings/", _sync("", "<D:getetag/><C:calendar-data/>"),
          Accept_Encoding=accept)
    _both(calendars, spy, "REPORT", "anna/meetings/", _multiget(_hrefs(calendars, "anna/meetings/")),
          Accept_Encoding=accept)
    _both(calendars, spy, "REPORT", "anna/meetings/", _query("VEVENT", "<D:getetag/><C:calendar-data/>"),
          Accept_Encoding=accept)
    assert len(sent) > 20 and max(sent) < 100 + 4000, sent  # many chunks, each about CHUNK characters


def test_someone_elses_calendar_and_a_login_not_yet_checked_are_radicales(calendars: LiveServer,
                                                                         spy: list[bool]) -> None:
    bjorn = calendars.dav("bjorn")
    spy.clear()
    r = bjorn.request("PROPFIND", "anna/meetings/", _propfind("<D:getetag/>"), Depth="1")
    assert r.status_code == 403 and spy == [False]
    fresh = requests.Session()
    fresh.auth = ("bjorn", "wrong")
    spy.clear()
    r = fresh.request("GET", calendars.url + "bjorn/meetings/", timeout=30)
    assert r.status_code == 401 and spy == [False]


@pytest.mark.parametrize(("method", "path", "body", "depth"), [
    ("PROPFIND", "anna/meetings/", _propfind("<D:getetag/>"), "1"),
    ("REPORT", "anna/tasks/", _sync("", "<D:getetag/>"), "1"),
    ("GET", "anna/meetings/", "", ""),
])
def test_a_login_not_checked_recently_is_checked_here_for_its_own_listing(
        calendars: LiveServer, spy: list[bool], method: str, path: str, body: str, depth: str) -> None:
    """A client's first listing (or its first after the remembered login
    expired) is answered here once its password is checked, as a PUT's is: on
    Radicale's path it read every member through the storage plugin (at
    65,000 events, 300 MiB and seconds for one PROPFIND). A wrong password is
    still Radicale's 401."""
    dav = calendars.dav()
    headers = {"Depth": depth} if depth else {}
    auth.VERIFIED.clear()  # every login forgotten, as after a restart or five idle minutes
    spy.clear()
    first = dav.request(method, path, body, **headers)
    assert first.status_code in (200, 207) and spy == [True], (first.status_code, spy)
    again = dav.request(method, path, body, **headers)
    assert again.content == first.content and spy == [True, True]
    wrong = requests.Session()
    wrong.auth = ("anna", "not her password")
    auth.VERIFIED.clear()
    spy.clear()
    refused = wrong.request(method, calendars.url + path, data=body.encode() or None, headers=headers, timeout=30)
    assert refused.status_code == 401 and spy == [False]


def test_a_login_not_checked_recently_gets_nothing_of_another_users_calendar(
        calendars: LiveServer, spy: list[bool], password_checks: list[str]) -> None:
    """Hostile logins on anna's calendars, every login forgotten first: bjorn's own good
    login and anna's login with a wrong password get 403 and 401, never a word of hers
    (the private meeting's included), from every listing; each wrong password is
    hashed once, though both our layer and Radicale's auth plugin check it."""
    checks = password_checks
    requests_ = [("PROPFIND", "anna/meetings/", _propfind("<D:getetag/><D:displayname/>"), {"Depth": "1"}),
                 ("REPORT", "anna/meetings/", _sync("", "<D:getetag/><C:calendar-data/>"), {}),
                 ("REPORT", "anna/meetings/", _multiget(_hrefs(calendars, "anna/meetings/")), {}),
                 ("REPORT", "anna/meetings/", _query("VEVENT", "<C:calendar-data/>"), {}),
                 ("GET", "anna/meetings/", "", {})]
    words = ("Doctor", "Budget", "Weekly", "Lunch", "client-1", "VEVENT", "getetag")
    for login, password, status in (("bjorn", PASSWORD, 403), ("anna", "not her password", 401)):
        session = requests.Session()
        session.auth = (login, password)
        for method, path, body, headers in requests_:
            auth.VERIFIED.clear()
            auth.REFUSED.clear()
            checks.clear()
            spy.clear()
            r = session.request(method, calendars.url + path, data=body.encode() or None, headers=headers,
                                timeout=30)
            assert r.status_code == status, (login, method, r.status_code)
            assert spy in ([], [False])  # never answered by the listing code
            assert not any(w.encode() in r.content for w in words), (login, method, r.content[:300])
            assert len(checks) == 1, (login, method, checks)  # one hash, whoever asks


def test_the_occurrence_bound_is_radicales(calendars: LiveServer, spy: list[bool],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Radicale refuses (400) an answer holding more than max_expand_occurrence
    VEVENTs; the listing code leaves such an answer to it."""
    apps: list[Any] = []
    original = listing.handle

    def handle(app: Any, *args: Any) -> Any:
        apps.append(app)
        return original(app, *args)

    monkeypatch.setattr(listing, "handle", handle)
    hrefs = _hrefs(calendars, "anna/meetings/")
    assert _both(calendars, spy, "REPORT", "anna/meetings/", _multiget(hrefs)).status_code == 207
    apps[-1].radicale.configuration.update({"reporting": {"max_expand_occurrence": "3"}}, "test", privileged=True)
    refused = _both(calendars, spy, "REPORT", "anna/meetings/", _multiget(hrefs), fast=False)
    assert refused.status_code == 400
    within = _both(calendars, spy, "REPORT", "anna/meetings/", _multiget(hrefs[:2]))
    assert within.status_code == 207
    etags_only = _both(calendars, spy, "REPORT", "anna/meetings/", _multiget(hrefs, "<D:getetag/>"))
    assert etags_only.status_code == 207


# -- the merge of a GET -----------------------------------------------------------------


class _Item:
    def __init__(self, text: str) -> None:
        self.text = text

    def serialize(self) -> str:
        return self.text


class _Collection:
    tag = "VCALENDAR"

    def __init__(self, texts: list[str], props: dict[str, str]) -> None:
        self.items = [_Item(t) for t in texts]
        self.props = props

    def get_all(self) -> list[_Item]:
        return self.items

    def get_meta(self, key: str) -> str | None:
        return self.props.get(key)


def _radicale(texts: list[str], name: str | None = None, description: str | None = None) -> str:
    props = {k: v for k, v in (("D:displayname", name), ("C:calendar-description", description)) if v}
    return radicale_storage.BaseCollection.serialize(_Collection(texts, props))  # type: ignore[arg-type]


ZONE = ["BEGIN:VTIMEZONE", "TZID:Europe/Oslo", "BEGIN:STANDARD", "DTSTART:19701025T030000", "TZOFFSETFROM:+0200",
        "TZOFFSETTO:+0100", "END:STANDARD", "END:VTIMEZONE"]


def test_the_merge_is_radicales_on_real_objects() -> None:
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    texts = [vevent(f"u{i}", f"Meeting {i}", start + timedelta(days=i)) for i in range(5)]
    zoned = ical(*ZONE, "BEGIN:VEVENT", "UID:z", "DTSTART;TZID=Europe/Oslo:20260302T090000",
                 "SUMMARY:Zoned\r\n  and folded", "BEGIN:VALARM", "ACTION:DISPLAY", "END:VALARM", "END:VEVENT")
    texts += [zoned, zoned.replace("UID:z", "UID:z2"), vtodo("t", "Task"), texts[0].replace("\r\n", "\n")]
    for name, description in ((None, None), ("Meetings & more", "Anna's, with; commas")):
        assert listing.collection_text(texts, name, description) == _radicale(texts, name, description)
    assert listing.collection_text([], None, None) == _radicale([])


LINES = ["BEGIN:VCALENDAR", "END:VCALENDAR", "BEGIN:VTIMEZONE", "END:VTIMEZONE", "TZID:A", "TZID:B", "TZID;X=1:A",
         "BEGIN:VEVENT", "END:VEVENT", "BEGIN:STANDARD", "END:STANDARD", "begin:vevent", "SUMMARY:x", " folded",
         "", "END:", "BEGIN:", "X-A:1\nBEGIN:VEVENT", "TZID:"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from(LINES), max_size=14),
                          st.sampled_from(["\r\n", "\n", "\r\n\r\n"]), st.booleans()), max_size=5))
def test_the_merge_is_radicales_on_any_lines(items: list[tuple[list[str], str, bool]]) -> None:
    texts = [sep.join(lines) + (sep if trailing else "") for lines, sep, trailing in items]
    assert listing.collection_text(texts, None, None) == _radicale(texts)


def _zone(tzid: str | None, extra: str, sub: bool, where: str) -> list[str]:
    """A VTIMEZONE whose TZID line comes before its STANDARD block, after it,
    or inside it (where Radicale does not read it)."""
    named = [f"TZID:{tzid}"] if tzid is not None else []
    inner = ["BEGIN:STANDARD", *(named if where == "inside" else []), "TZOFFSETTO:+0100", "END:STANDARD"] if sub else []
    own = named if where != "inside" or not sub else []
    lines = ["BEGIN:VTIMEZONE", *(inner + own if where == "after" else own + inner)]
    return lines + ([extra] if extra else []) + ["END:VTIMEZONE"]


ZONE_BLOCK = st.builds(_zone, st.sampled_from(["A", "B", "A", "B", None, "A\nx", ""]),
                 st.sampled_from(["", "", "X:1", "TZID:C"]), st.booleans(),
                 st.sampled_from(["before", "before", "after", "inside"]))
BLOCK = st.one_of(
    ZONE_BLOCK, ZONE_BLOCK, ZONE_BLOCK,
    st.lists(st.sampled_from(["SUMMARY:x", "X-A:1\nBEGIN:VEVENT", " folded", "", "X:a\rb"]), max_size=3).map(
        lambda body: ["BEGIN:VEVENT", *body, "BEGIN:VALARM", "ACTION:DISPLAY", "END:VALARM", "END:VEVENT"]),
    st.just(["BEGIN:VTODO", "UID:t", "END:VTODO"]),
    st.just(["VERSION:2.0"]),  # a calendar's own line between blocks
    st.just(["END:VCALENDAR", "BEGIN:VCALENDAR"]),
    st.just(["BEGIN:X-UNCLOSED"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(BLOCK, max_size=5), max_size=4))
def test_the_merge_is_radicales_on_calendars_of_blocks(calendars_: list[list[list[str]]]) -> None:
    """Texts shaped like real ones, so the merge's quick path runs (and its
    refusals: unclosed blocks, a second TZID or one after a zone's own
    blocks, a bare CR, a calendar closed early)."""
    texts = ["\r\n".join(["BEGIN:VCALENDAR", "PRODID:x", *(line for block in blocks for line in block),
                          "END:VCALENDAR"]) + "\r\n" for blocks in calendars_]
    assert listing.collection_text(texts, "Name", None) == _radicale(texts, "Name")


# -- hostile input on these paths -------------------------------------------------------


def test_a_multiget_of_a_nul_href_finds_nothing_and_fails_nothing(calendars: LiveServer, spy: list[bool]) -> None:
    """``%00`` unquotes to a NUL, which no member's name holds and PostgreSQL's
    text cannot: a 404 for that href, beside the others found, on both paths
    (it was a 500 on PostgreSQL), and the store unchanged."""
    hrefs = _hrefs(calendars, "anna/meetings/")[:2]
    before = dump(calendars.engine)
    asked = [*hrefs, "/anna/meetings/%00.ics", "/anna/meetings/a%00b.ics"]
    r = _both(calendars, spy, "REPORT", "anna/meetings/", _multiget(asked))
    assert r.status_code == 207 and r.text.count("404 Not Found") == 2 and r.text.count("200 OK") == 2
    assert dump(calendars.engine) == before


@pytest.mark.parametrize("tail", ["\u00b2", "9" * 5000, "1" * 19])
def test_a_sync_token_of_odd_digits_is_refused_not_a_server_error(calendars: LiveServer, spy: list[bool],
                                                                   tail: str) -> None:
    """int() refuses Unicode digits and texts past 4,300 digits with a
    ValueError: a token ending in those was a 500 on this path."""
    first = _both(calendars, spy, "REPORT", "anna/meetings/", _sync("", "<D:getetag/>"))
    token = first.content.split(b"<sync-token>")[1].split(b"</sync-token>")[0].decode()
    odd = token.rsplit(":", 1)[0] + ":" + tail
    r = _both(calendars, spy, "REPORT", "anna/meetings/", _sync(odd, "<D:getetag/>"), fast=False)
    assert r.status_code == 403


def test_a_listing_of_too_many_properties_is_refused(calendars: LiveServer) -> None:
    """Each property is answered for every member: the count is bounded for
    Depth 1 (a 400 saying so), not for Depth 0, and the store is unchanged."""
    from server.dav.app import MAX_LISTED_PROPS

    dav = calendars.dav()
    many = "".join(f"<X:p{i}/>" for i in range(MAX_LISTED_PROPS + 1))
    before = dump(calendars.engine)
    r = dav.request("PROPFIND", "anna/meetings/", _propfind(many), Depth="1")
    assert r.status_code == 400 and "at most" in r.text
    assert dav.request("PROPFIND", "anna/meetings/", _propfind(many), Depth="0").status_code == 207
    fewer = "".join(f"<X:p{i}/>" for i in range(MAX_LISTED_PROPS))
    assert dav.request("PROPFIND", "anna/meetings/", _propfind(fewer), Depth="1").status_code == 207
    assert dump(calendars.engine) == before


def test_the_properties_counted_are_those_radicale_reads() -> None:
    """check_xml counts the elements directly inside the root's first child
    (Radicale's propfind reads that child alone), in the one parse it makes."""
    from server.dav.app import check_xml

    assert check_xml(b"") == 0
    assert check_xml(_propfind("<D:getetag/><X:a><X:b/><X:c/></X:a>").encode()) == 2
    second = b'<D:propfind xmlns:D="DAV:"><D:allprop/><D:prop><D:getetag/><D:displayname/></D:prop></D:propfind>'
    assert check_xml(second) == 0
