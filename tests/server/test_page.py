"""The user page over a real HTTP server, on SQLite and PostgreSQL: the same
login as CalDAV, the calendars' URLs, feeds made and revoked from the page
(with the CSRF checks), export downloads, escaping and the security headers.
The same page in a real browser is tests/server/test_page_browser.py."""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from icalendar import Calendar

from server.dav.logindelay import LoginDelay
from server.services import feeds
from server.services import followups as followup_services
from server.services.transaction import transaction
from store.domain import Company, User
from tests.server.caldav_support import (
    PASSWORD,
    LiveServer,
    crm_meeting,
    crm_todo,
    start_server,
    stop_server,
)
from tests.server.caldav_support import add_people as add_people_to

EVIL = "<script>alert(1)</script>"


def get(live: LiveServer, path: str = "", login: str | None = "anna", password: str = PASSWORD,
        **headers: str) -> requests.Response:
    auth = (login, password) if login is not None else None
    return requests.get(live.url + path, auth=auth, headers=headers, allow_redirects=False, timeout=30)


def token_of(page: requests.Response) -> str:
    found = re.search(r'name="token" value="([0-9a-f]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def origin(live: LiveServer) -> str:
    return live.url.rstrip("/")


def post(live: LiveServer, path: str, data: dict[str, str] | bytes, login: str = "anna",
         **headers: str) -> requests.Response:
    return requests.post(live.url + path, data=data, auth=(login, PASSWORD), allow_redirects=False, timeout=30,
                         headers={k.replace("_", "-"): v for k, v in headers.items()})


def create_feed(live: LiveServer, login: str = "anna", what: str = "meetings") -> tuple[requests.Response, str]:
    """A feed made from ``login``'s page as a browser would post it: the page, and the feed's https URL."""
    token = token_of(get(live, login=login))
    r = post(live, ".page/feeds", {"token": token, "what": what, "from_days": "-400", "to_days": "400"},
             login=login, Origin=origin(live), Sec_Fetch_Site="same-origin")
    assert r.status_code == 200, r.text
    found = re.search(r'id="feed-https" class="url" readonly value="([^"]+)"', r.text)
    assert found is not None, r.text
    return r, found.group(1)


def uids(text: str, component: str) -> set[str]:
    return {str(c["UID"]) for c in Calendar.from_ical(text).walk(component)}


def test_the_page_asks_for_the_caldav_login_and_shows_the_calendars(live: LiveServer) -> None:
    caldav_401 = requests.request("PROPFIND", live.url + "anna/", timeout=30)
    anonymous = get(live, login=None)
    assert anonymous.status_code == 401
    realm = caldav_401.headers["WWW-Authenticate"]
    assert realm.startswith('Basic realm="')
    assert anonymous.headers["WWW-Authenticate"] == realm + ', charset="UTF-8"'  # RFC 7617 2.1: UTF-8 passwords
    assert "secret" not in anonymous.text and "anna" not in anonymous.text
    assert get(live, password="wrong").status_code == 401
    assert get(live, login="nobody").status_code == 401
    assert get(live, login="fjord").status_code == 401  # a room has no login

    r = get(live)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    for url in (live.url + "anna/", live.url + "anna/meetings/", live.url + "anna/tasks/"):
        assert url in r.text
    assert "Anna Berg - Meetings" in r.text and "Anna Berg - To-dos and calls" in r.text
    assert "#1E88E5" in r.text  # the colour in words, not only as a swatch
    assert '<html lang="en">' in r.text and "<title>" in r.text
    assert 'role="img" aria-label="QR code of ' + live.url + 'anna/"' in r.text
    assert "plain <code>http</code>" in r.text  # phones need https: said when the base is http
    head = requests.head(live.url, auth=("anna", PASSWORD), timeout=30)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) > 1000


def test_security_headers(live: LiveServer) -> None:
    r = get(live)
    policy = dict(part.strip().split(" ", 1) for part in r.headers["Content-Security-Policy"].split(";"))
    nonce = re.search(r"'nonce-([^']+)'", policy["script-src"])
    assert nonce is not None
    assert policy["default-src"] == "'none'" and policy["img-src"] == "data:"
    assert policy["form-action"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert f'<script nonce="{nonce.group(1)}">' in r.text and f'<style nonce="{nonce.group(1)}">' in r.text
    assert r.text.count("<script") == 1 and "style=" not in r.text
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", r.text)  # no inline event handlers
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert get(live).headers["Content-Security-Policy"] != r.headers["Content-Security-Policy"]  # a fresh nonce


def test_a_feed_is_made_only_from_the_users_own_page(live: LiveServer) -> None:
    """CSRF: the form token and a same-origin Origin (or Referer) are both needed; 403 otherwise."""
    token = token_of(get(live))
    form = {"token": token, "what": "meetings", "from_days": "-30", "to_days": "365"}
    assert post(live, ".page/feeds", form).status_code == 403  # no Origin, no Referer
    assert post(live, ".page/feeds", form, Origin="https://evil.example").status_code == 403
    assert post(live, ".page/feeds", form, Origin="null").status_code == 403
    assert post(live, ".page/feeds", form, Origin=origin(live), Sec_Fetch_Site="cross-site").status_code == 403
    assert post(live, ".page/feeds", {**form, "token": ""}, Origin=origin(live)).status_code == 403
    assert post(live, ".page/feeds", {**form, "token": "0" * 64}, Origin=origin(live)).status_code == 403
    assert post(live, ".page/feeds", form, login="bjorn", Origin=origin(live)).status_code == 403  # anna's token
    assert token_of(get(live, login="bjorn")) != token
    assert feeds.feeds_of(live.engine, "anna") == [] and feeds.feeds_of(live.engine, "bjorn") == []

    referred = post(live, ".page/feeds", form, Referer=live.url)
    assert referred.status_code == 200 and "Your new feed: Meetings" in referred.text
    r, url = create_feed(live)
    assert "shown only once" in r.text
    assert re.search(r'id="feed-webcal" class="url" readonly value="webcal://', r.text)
    assert url.startswith(live.url + "feeds/") and url.endswith(".ics")
    assert len(feeds.feeds_of(live.engine, "anna")) == 2
    assert url not in get(live).text  # shown once: the page cannot show it again
    bad = post(live, ".page/feeds", {**form, "from_days": "soon"}, Origin=origin(live))
    assert bad.status_code == 400 and "Error:" in bad.text and 'role="alert"' in bad.text
    assert len(feeds.feeds_of(live.engine, "anna")) == 2


def test_feeds_are_revoked_from_the_page_by_their_owner_only(live: LiveServer) -> None:
    crm_meeting(live.engine, "anna", "Kickoff", start=datetime.now(UTC).replace(microsecond=0))
    _, url = create_feed(live)
    fetched = requests.get(url, timeout=30)
    assert fetched.status_code == 200 and fetched.headers["Content-Type"].startswith("text/calendar")
    assert "Kickoff" in fetched.text
    feed = feeds.feeds_of(live.engine, "anna")[0]
    path = f".page/feeds/{feed.id}/revoke"
    assert "Revoke" in get(live).text and path in get(live).text

    bjorn_token = token_of(get(live, login="bjorn"))
    assert post(live, path, {"token": bjorn_token}, login="bjorn", Origin=origin(live)).status_code == 404
    anna_token = token_of(get(live))
    assert post(live, path, {"token": anna_token}, Origin="https://evil.example").status_code == 403
    assert post(live, path, {"token": bjorn_token}, Origin=origin(live)).status_code == 403
    assert requests.get(url, timeout=30).status_code == 200  # still active
    assert get(live, path).status_code == 405

    r = post(live, path, {"token": anna_token}, Origin=origin(live))
    assert r.status_code == 303 and r.headers["Location"] == "/"
    assert requests.get(url, timeout=30).status_code == 404
    assert feeds.feeds_of(live.engine, "anna") == []
    assert path not in get(live).text
    assert post(live, ".page/feeds/999999/revoke", {"token": anna_token}, Origin=origin(live)).status_code == 404


def test_an_oversized_form_is_refused_and_changes_nothing(live: LiveServer) -> None:
    token = token_of(get(live))
    body = f"token={token}&what=meetings&pad={'x' * 9000}".encode()
    r = post(live, ".page/feeds", body, Origin=origin(live), Content_Type="application/x-www-form-urlencoded")
    assert r.status_code == 413
    assert feeds.feeds_of(live.engine, "anna") == []


def test_exports_download_the_users_followups(live: LiveServer) -> None:
    march = crm_meeting(live.engine, "anna", "March meeting", start=datetime(2026, 3, 3, 10, 0, tzinfo=UTC))
    april = crm_meeting(live.engine, "anna", "April meeting", start=datetime(2026, 4, 10, 10, 0, tzinfo=UTC))
    todo = crm_todo(live.engine, "anna", "Send offer")
    crm_meeting(live.engine, "bjorn", "Not anna's")

    r = get(live, ".page/export/meetings.ics")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert r.headers["Content-Disposition"] == 'attachment; filename="anna-meetings.ics"'
    assert uids(r.text, "VEVENT") == {march.uid, april.uid} and uids(r.text, "VTODO") == set()
    assert r.text.count("BEGIN:VCALENDAR") == 1
    tasks = get(live, ".page/export/tasks.ics").text
    assert uids(tasks, "VTODO") == {todo.uid} and uids(tasks, "VEVENT") == set()
    everything = get(live, ".page/export/all.ics").text
    assert uids(everything, "VEVENT") == {march.uid, april.uid} and uids(everything, "VTODO") == {todo.uid}

    ranged = get(live, ".page/export?what=meetings&from=2026-03-01&to=2026-03-03")
    assert ranged.status_code == 200 and uids(ranged.text, "VEVENT") == {march.uid}
    assert get(live, ".page/export?what=meetings&from=2026-03-04&to=2026-03-03").status_code == 400
    assert get(live, ".page/export?what=meetings&from=March").status_code == 400
    assert get(live, ".page/export?what=secrets").status_code == 400
    assert get(live, ".page/export/meetings.ics", login=None).status_code == 401
    assert get(live, ".page/nothing").status_code == 404


def test_user_provided_text_is_escaped(live: LiveServer) -> None:
    followup_services.add_user(live.engine, User("mallory", EVIL, "mallory@example.com"), PASSWORD)
    with transaction(live.engine) as uow:
        company = uow.companies.add(Company(f"{EVIL} AS"))
        uow.commit()
    feeds.create(live.engine, "mallory", "company", company.id)
    name = '"><img src=x onerror=alert(2)>'
    r = live.dav("mallory").proppatch("mallory/meetings/", f"<D:displayname>{name.replace('<', '&lt;')}"
                                      "</D:displayname><A:calendar-color>red;x:expression(1)</A:calendar-color>")
    assert r.status_code == 207, r.text
    page = get(live, login="mallory")
    assert page.status_code == 200
    assert EVIL not in page.text and "<img" not in page.text and "expression" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # the user's name
    assert "Activities of &lt;script&gt;alert(1)&lt;/script&gt; AS" in page.text  # the feed's label
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page.text  # the calendar's display name


@pytest.fixture
def delayed_server() -> Iterator[tuple[LiveServer, list[float]]]:
    """A server (SQLite) whose failed-login delay records its sleeps instead of sleeping."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'delay.db'}"
        server, thread, httpd = start_server(url, auth_delay=5.0)
        add_people_to(server.engine)
        app = httpd.get_app()  # type: ignore[attr-defined]
        while not isinstance(app, LoginDelay):
            app = app.app
        slept: list[float] = []
        app.sleep = slept.append
        try:
            yield server, slept
        finally:
            stop_server(server, thread, httpd)


def test_failed_logins_and_refusals_on_the_page_are_delayed(delayed_server: tuple[LiveServer, list[float]]) -> None:
    live, slept = delayed_server
    assert get(live, login=None).status_code == 401 and slept == []  # a first request without credentials
    assert get(live).status_code == 200 and slept == []
    assert get(live, password="wrong").status_code == 401 and len(slept) == 1 and slept[0] >= 2.5
    token = token_of(get(live))
    r = post(live, ".page/feeds", {"token": token, "what": "meetings"}, Origin="https://evil.example")
    assert r.status_code == 403 and len(slept) == 2


def test_settings_public_url_names_the_origin_and_the_urls(db_url: str) -> None:
    """Behind a proxy the page uses ``public_url`` for the URLs it shows, and accepts its origin."""
    server, thread, httpd = start_server(db_url, public_url="https://cal.example.com")
    add_people_to(server.engine)
    try:
        page = get(server)
        assert "https://cal.example.com/anna/meetings/" in page.text
        assert "plain <code>http</code>" not in page.text
        form = {"token": token_of(page), "what": "tasks", "from_days": "-7", "to_days": "30"}
        r = post(server, ".page/feeds", form, Origin="https://cal.example.com")
        assert r.status_code == 200 and 'value="https://cal.example.com/feeds/' in r.text
        assert 'value="webcal://cal.example.com/feeds/' in r.text
        assert dataclasses.asdict(feeds.feeds_of(server.engine, "anna")[0])["to_days"] == 30
    finally:
        stop_server(server, thread, httpd)


def once_of(page: requests.Response) -> str:
    found = re.search(r'name="once" value="([A-Za-z0-9_-]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def test_the_same_feed_form_sent_again_shows_the_same_feed(live: LiveServer) -> None:
    """A reload of the page that showed a new feed posts its form again: one feed, shown again."""
    page = get(live)
    form = {"token": token_of(page), "once": once_of(page), "what": "meetings", "from_days": "-30",
            "to_days": "365"}

    def send(data: dict[str, str]) -> tuple[requests.Response, str | None]:
        r = post(live, ".page/feeds", data, Origin=origin(live), Sec_Fetch_Site="same-origin")
        found = re.search(r'id="feed-https" class="url" readonly value="([^"]+)"', r.text)
        return r, found.group(1) if found else None

    first, url = send(form)
    assert first.status_code == 200 and url is not None
    again, url_again = send(form)
    assert again.status_code == 200 and url_again == url
    assert len(feeds.feeds_of(live.engine, "anna")) == 1
    assert requests.get(url, timeout=30).status_code == 200
    assert once_of(first) != form["once"] and once_of(again) != form["once"]  # each answer has a new form

    changed, other = send({**form, "to_days": "30"})  # back, change a setting, send: that is another feed
    assert changed.status_code == 200 and other not in (None, url)
    fresh, third = send({**form, "once": once_of(first)})
    assert fresh.status_code == 200 and third not in (None, url, other)
    assert len(feeds.feeds_of(live.engine, "anna")) == 3

    feed = min(feeds.feeds_of(live.engine, "anna"), key=lambda f: f.id)  # the form's own
    feeds.revoke(live.engine, feed.id, owner="anna")
    refused, none = send(form)
    assert refused.status_code == 400 and none is None and "revoked since" in refused.text
    assert len(feeds.feeds_of(live.engine, "anna", include_revoked=True)) == 3
    assert requests.get(url, timeout=30).status_code == 404

    for bad in ("", "short", "x" * 65, "not/allowed+chars=="):  # no usable one-time value: a random token
        r, made = send({**form, "once": bad})
        assert r.status_code == 200 and made not in (None, url, other, third)
    assert len(feeds.feeds_of(live.engine, "anna")) == 2 + 4


def test_a_form_token_is_an_hmac_of_the_form() -> None:
    base = feeds.form_feed_token("secret", "anna", "o" * 22, "meetings", -30, 365)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", base)
    assert feeds.form_feed_token("secret", "anna", "o" * 22, "meetings", -30, 365) == base
    for other in (feeds.form_feed_token("other", "anna", "o" * 22, "meetings", -30, 365),
                  feeds.form_feed_token("secret", "bjorn", "o" * 22, "meetings", -30, 365),
                  feeds.form_feed_token("secret", "anna", "p" * 22, "meetings", -30, 365),
                  feeds.form_feed_token("secret", "anna", "o" * 22, "tasks", -30, 365),
                  feeds.form_feed_token("secret", "anna", "o" * 22, "meetings", -31, 365),
                  feeds.form_feed_token("secret", "anna", "o" * 22, "meetings", -30, 366)):
        assert other != base


def test_a_user_has_at_most_max_feeds_active_feeds(db_url: str) -> None:
    """A logged-in user posting the form again and again makes at most ``max_feeds``
    feeds (rows, and the page that lists them, stay bounded); a resent form of a
    feed they have still shows it, and a revoked one makes room."""
    server, thread, httpd = start_server(db_url, max_feeds=2)
    add_people_to(server.engine)
    try:
        def make(page: requests.Response, to_days: str = "365") -> requests.Response:
            form = {"token": token_of(page), "once": once_of(page), "what": "meetings", "from_days": "-30",
                    "to_days": to_days}
            return post(server, ".page/feeds", form, Origin=origin(server))

        first = get(server)
        assert make(first).status_code == 200
        assert make(get(server)).status_code == 200
        refused = make(get(server))
        assert refused.status_code == 400 and "max_feeds = 2" in refused.text and 'id="feed-https"' not in refused.text
        for _ in range(5):
            assert make(get(server), "30").status_code == 400
        assert len(feeds.feeds_of(server.engine, "anna", include_revoked=True)) == 2
        assert make(first).status_code == 200  # the first form again: its feed, shown again
        feeds.revoke(server.engine, feeds.feeds_of(server.engine, "anna")[0].id, owner="anna")
        assert make(get(server)).status_code == 200
        assert len(feeds.feeds_of(server.engine, "anna")) == 2
        assert feeds.feeds_of(server.engine, "bjorn") == []
    finally:
        stop_server(server, thread, httpd)
