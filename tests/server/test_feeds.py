"""Subscription feeds over plain HTTP (no login): the right objects, 304 for a poll
that has them already, private follow-ups masked as the feed's owner may see them,
404 alike for revoked, unknown and malformed tokens, tokens stored hashed and never
logged (calendar-mapping.md, "Feeds, export and import")."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import requests
from sqlalchemy import Engine, select

from server.config import Settings
from server.dav import feeds as http_feeds
from server.dav import requestlog
from server.services import export
from server.services import feeds as service
from server.services import followups as services
from server.services.transaction import transaction
from store.domain import Company, Participant, PartStat, User
from store.errors import InvalidFollowup, NotFound
from store.orm import FeedRow
from tests.server.caldav_support import (
    LiveServer,
    add_people,
    crm_meeting,
    crm_todo,
    retitle,
    start_server,
    stop_server,
    user,
)
from tests.server.hostile_support import basic, send

OSLO = ZoneInfo("Europe/Oslo")
SECRETS = ("Takeover", "acquisition", "boardroom")


def _today() -> date:
    return datetime.now(OSLO).date()


def _at(days: int, hour: int = 10) -> datetime:
    """``hour`` o'clock in Oslo, ``days`` from today."""
    return datetime.combine(_today() + timedelta(days=days), clock(hour), OSLO)


def _uids(body: bytes | str) -> set[str]:
    cal = icalendar.Calendar.from_ical(body)
    return {str(c["UID"]) for c in cal.walk() if c.name in ("VEVENT", "VTODO")}


def _company(engine: Engine, name: str = "Nordlys AS") -> int:
    with transaction(engine) as uow:
        company = uow.companies.add(Company(name))
        uow.commit()
    assert company.id is not None
    return company.id


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    """caplog, seeing the request log (which the server keeps on its own channel)."""
    requestlog.configure()
    monkeypatch.setattr(logging.getLogger(requestlog.LOGGER_NAME), "propagate", True)
    return caplog


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    http_feeds.CACHE.clear()
    yield
    http_feeds.CACHE.clear()


def test_a_feed_is_read_without_a_login_and_polled_with_304(live: LiveServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    inside = [crm_meeting(live.engine, "anna", f"Meeting {i}", start=_at(i)) for i in (-3, 0, 40)]
    too_late = crm_meeting(live.engine, "anna", "Far away", start=_at(400))
    crm_todo(live.engine, "anna", "A to-do", deadline=_at(2))
    crm_meeting(live.engine, "bjorn", "Not anna's", start=_at(1))
    feed, token = service.create(live.engine, "anna", "meetings")
    url, webcal = service.urls(live.url, token)
    assert url == f"{live.url}feeds/{token}.ics" and webcal == url.replace("http://", "webcal://")
    renders: list[int] = []
    real = export.export_text
    monkeypatch.setattr(export, "export_text", lambda *a, **k: renders.append(1) or real(*a, **k))

    # A wrong password does not matter: the token is the credential, the header is ignored.
    first = requests.get(url, headers={"Authorization": basic("anna", "wrong")}, timeout=30)
    assert first.status_code == 200, first.text
    assert first.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert first.headers["Content-Encoding"] == "gzip" and first.headers["Vary"] == "Accept-Encoding"
    assert first.headers["Cache-Control"] == "private, max-age=300"
    assert first.headers["Content-Disposition"] == 'inline; filename="anna-meetings.ics"'
    assert _uids(first.content) == {f.uid for f in inside}
    assert too_late.uid not in first.text and "A to-do" not in first.text
    assert first.content.count(b"BEGIN:VCALENDAR") == 1 and b"\r\n" in first.content
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]

    again = requests.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", etag)
    since = requests.get(url, headers={"If-Modified-Since": modified}, timeout=30)
    assert since.status_code == 304
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2): a stale tag means a full answer.
    stale = requests.get(url, headers={"If-None-Match": '"stale"', "If-Modified-Since": modified}, timeout=30)
    assert stale.status_code == 200 and _uids(stale.content) == _uids(first.content)
    plain = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=30)
    assert "Content-Encoding" not in plain.headers and plain.content == first.content
    assert plain.headers["ETag"] != etag and int(plain.headers["Content-Length"]) > len(gzip.compress(plain.content))
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and head.content == b"" and head.headers["ETag"] == etag
    assert len(renders) == 1, "an unchanged feed is rendered once, then served from the cache"

    services.modify(live.engine, inside[1].id or 0, retitle("Moved and renamed"))
    changed = requests.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert "Moved and renamed" in changed.text and len(renders) == 2

    assert requests.put(url, data=b"BEGIN:VCALENDAR", timeout=30).status_code == 403
    assert requests.delete(url, timeout=30).status_code == 403
    options = requests.request("PROPFIND", url, timeout=30)
    assert options.status_code == 405 and options.headers["Allow"] == "GET, HEAD"
    assert requests.get(url[:-len(".ics")], timeout=30).status_code == 404
    assert feed.label == "Meetings"


def test_private_followups_are_masked_unless_the_feeds_owner_may_see_them(live: LiveServer) -> None:
    company = _company(live.engine)
    bjorn = user(live.engine, "bjorn")
    private = crm_meeting(live.engine, "anna", "Takeover talks", start=_at(1), agenda="the acquisition",
                          location="boardroom", private=True, company_id=company,
                          participants=[Participant(user_id=bjorn.id, partstat=PartStat.ACCEPTED)])
    public = crm_meeting(live.engine, "anna", "Open day", start=_at(2), company_id=company)
    services.add_user(live.engine, User("carla", "Carla", "carla@example.com", tz="Europe/Oslo"), "x")
    _, carla_company = service.create(live.engine, "carla", "company", company)
    _, bjorn_company = service.create(live.engine, "bjorn", "company", company)
    _, anna_meetings = service.create(live.engine, "anna", "meetings")

    outsider = requests.get(service.urls(live.url, carla_company)[0], timeout=30)
    assert outsider.status_code == 200
    assert _uids(outsider.content) == {private.uid, public.uid}
    block = next(c for c in icalendar.Calendar.from_ical(outsider.content).walk("VEVENT")
                 if str(c["UID"]) == private.uid)
    assert str(block["SUMMARY"]) == "Private" and str(block["CLASS"]) == "PRIVATE"
    for word in SECRETS:
        assert word not in outsider.text
    assert "Open day" in outsider.text

    participant = requests.get(service.urls(live.url, bjorn_company)[0], timeout=30).text
    own = requests.get(service.urls(live.url, anna_meetings)[0], timeout=30).text
    for text in (participant, own):
        assert "Takeover talks" in text and "boardroom" in text


def test_revoked_unknown_and_malformed_tokens_get_the_same_404(live: LiveServer,
                                                              log: pytest.LogCaptureFixture) -> None:
    crm_meeting(live.engine, "anna", "Weekly", start=_at(1))
    feed, token = service.create(live.engine, "anna", "all")
    _, revoked_token = service.create(live.engine, "anna", "meetings")
    url = service.urls(live.url, token)[0]
    assert requests.get(url, timeout=30).status_code == 200

    with live.engine.connect() as conn:
        rows = conn.execute(select(FeedRow).order_by(FeedRow.id)).all()
    assert {r.token_hash for r in rows} == {hashlib.sha256(t.encode()).hexdigest() for t in (token, revoked_token)}
    assert not any(t in repr(tuple(r)) for r in rows for t in (token, revoked_token))

    revoked = service.revoke(live.engine, rows[1].id, "anna")
    assert revoked.revoked_at is not None
    unknown = service.urls(live.url, "A" * len(token))[0]
    gone = service.urls(live.url, revoked_token)[0]
    malformed = live.url + "feeds/%3Cscript%3E%00..%2F.ics"
    answers = [requests.get(u, timeout=30) for u in (gone, unknown, malformed, live.url + "feeds/")]
    assert [(a.status_code, a.content) for a in answers] == [(404, b"Not Found\n")] * 4
    assert not any("ETag" in a.headers for a in answers)

    # Hostile input is a 404 (or the HTTP server's own 4xx), never a 500.
    port = live.port
    hostile = [send(port, "GET", "/feeds/" + "x" * 8000 + ".ics"),
               send(port, "GET", "/feeds/\xff\xfe%ff\u00e9\u00e5.ics"),
               send(port, "GET", "/feeds/" + token + ".ics/../../anna/meetings/"),
               send(port, "GET", "/feeds/" + token + ".ics", headers={"If-None-Match": '"x", ' * 12000}),
               send(port, "GET", "/feeds/" + token + ".ics", headers={"If-Modified-Since": "Mon, 99 Foo 1 99:99"}),
               send(port, "GET", "/feeds/" + token + ".ics", headers={"Accept-Encoding": "gzip;q=zz, *;q=x"})]
    assert [a.status for a in hostile] == [404, 404, 404, 200, 200, 200]
    assert hostile[0].body == hostile[1].body == b"Not Found\n"

    logged = log.text + "".join(json.dumps(getattr(r, "request", {})) for r in log.records)
    assert token not in logged and revoked_token not in logged
    assert f"/feeds/<feed {feed.id}>" in logged and "/feeds/<redacted>" in logged

    # The same work for every miss: medians of ~30 requests each, a loose bound.
    session = requests.Session()
    seconds: dict[str, list[float]] = {"revoked": [], "unknown": [], "malformed": []}
    for _ in range(30):
        for name, target in (("revoked", gone), ("unknown", unknown), ("malformed", malformed)):
            started = time.perf_counter()
            assert session.get(target, timeout=30).status_code == 404
            seconds[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(found) for name, found in seconds.items()}
    assert max(medians.values()) < 3 * min(medians.values()) or max(medians.values()) - min(medians.values()) < 0.02, \
        medians


@pytest.fixture
def small(db_url: str) -> Iterator[LiveServer]:
    """A server whose feeds hold at most two follow-ups, without a cache of rendered feeds."""
    server, thread, httpd = start_server(db_url, max_feed_objects=2, feed_cache_mb=0)
    add_people(server.engine)
    try:
        yield server
    finally:
        stop_server(server, thread, httpd)


def test_a_feed_holds_its_window_and_at_most_max_feed_objects(small: LiveServer) -> None:
    made = {days: crm_meeting(small.engine, "anna", f"Day {days}", start=_at(days)) for days in (-2, 0, 1, 3, 9)}
    _, today_only = service.create(small.engine, "anna", "meetings", from_days=0, to_days=0)
    _, two_weeks = service.create(small.engine, "anna", "meetings", from_days=-7, to_days=7)
    assert _uids(requests.get(service.urls(small.url, today_only)[0], timeout=30).content) == {made[0].uid}
    got = requests.get(service.urls(small.url, two_weeks)[0], timeout=30)
    assert _uids(got.content) == {made[-2].uid, made[0].uid}, "the two nearest the window's start"


# -- the service ------------------------------------------------------------------------------------


def test_feed_rules(engine: Engine) -> None:
    add_people(engine)
    company = _company(engine, "Acme AS")
    assert service.parse_what("company:12") == ("company", 12)
    assert service.parse_what(" Meetings ") == ("meetings", None)
    for bad in ("company", "company:x", "company:0", "meetings:3", "everything", ""):
        with pytest.raises(InvalidFollowup):
            service.parse_what(bad)
    assert [service.parse_days(t) for t in ("-30d", "+365d", "14", "0d")] == [-30, 365, 14, 0]
    with pytest.raises(InvalidFollowup):
        service.parse_days("next week")
    with pytest.raises(NotFound, match="no company with id 99"):
        service.create(engine, "anna", "company", 99)
    with pytest.raises(NotFound):
        service.create(engine, "nobody", "meetings")
    with pytest.raises(InvalidFollowup, match="starts after it ends"):
        service.create(engine, "anna", "meetings", from_days=5, to_days=4)
    with pytest.raises(InvalidFollowup, match="at most 1830 days"):
        service.create(engine, "anna", "meetings", from_days=-30, to_days=1800)

    feed, token = service.create(engine, "anna", "company", company, from_days=-7, to_days=30)
    assert len(token) >= 43 and feed.label == "Activities of Acme AS" and feed.window == "-7d to +30d"
    assert service.by_token(engine, token) == feed
    first, start_end = service.window(feed, date(2026, 3, 10)), (date(2026, 3, 3), date(2026, 4, 10))
    assert first == start_end
    settings = Settings(database="", host="127.0.0.1", port=0, max_body=1, log_level="error", auth_delay=0,
                        max_feed_objects=7)
    selection = service.selection(feed, settings)
    assert (selection.viewer, selection.what, selection.record_id, selection.limit) == ("anna", "company", company, 7)
    with pytest.raises(NotFound):
        service.revoke(engine, feed.id, "bjorn")
    assert service.by_token(engine, token) == feed, "someone else's revoke changed nothing"
    assert service.revoke_feed(engine, feed.id)[1] is True
    assert service.revoke_feed(engine, feed.id)[1] is False
    assert service.by_token(engine, token) is None
    assert service.feeds_of(engine, "anna") == []
    assert [f.id for f in service.feeds_of(engine, "anna", include_revoked=True)] == [feed.id]


def test_the_request_log_never_holds_a_token(log: pytest.LogCaptureFixture) -> None:
    """In both formats, whatever the path around ``/feeds/`` is."""
    token = "Secret-token_0123456789abcdefghijklmnopqrstuv"

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"].endswith("served.ics"):
            environ[requestlog.FEED_KEY] = 7
        start_response("404 Not Found", [])
        return []

    for form in requestlog.FORMATS:
        for path in (f"/feeds/{token}.ics", f"//FEEDS/{token}", f"/x/feeds/{token}/served.ics"):
            body = requestlog.RequestLog(app, form)({"PATH_INFO": path, "REQUEST_METHOD": "GET"}, lambda *a: None)
            body.close()  # type: ignore[attr-defined]
    records = [r for r in log.records if r.name == requestlog.LOGGER_NAME]
    assert len({id(r) for r in records}) == 6
    everything = log.text + "".join(json.dumps(r.request) for r in records)  # type: ignore[attr-defined]
    assert token not in everything
    paths = [r.request["path"] for r in records]  # type: ignore[attr-defined]
    assert "/feeds/<redacted>" in paths and "//FEEDS/<redacted>" in paths and "/x/feeds/<feed 7>" in paths


def test_conditional_headers_are_parsed_loosely() -> None:
    assert http_feeds.none_match('W/"a", "b"', ['"a"'])
    assert http_feeds.none_match("*", ['"a"'])
    assert not http_feeds.none_match('"ab"', ['"a"'])
    modified = datetime(2026, 3, 3, 10, 0, 0, 500_000, tzinfo=UTC)
    assert http_feeds.not_modified_since("Tue, 03 Mar 2026 10:00:00 GMT", modified)
    assert not http_feeds.not_modified_since("Tue, 03 Mar 2026 09:59:59 GMT", modified)
    assert not http_feeds.not_modified_since("yesterday", modified)
    assert http_feeds.accepts_gzip("br, gzip;q=0.5") and not http_feeds.accepts_gzip("gzip;q=0, br")
    assert not http_feeds.accepts_gzip(None) and http_feeds.gzip_etag('"a"') == '"a-gzip"'
