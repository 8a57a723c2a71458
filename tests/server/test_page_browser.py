"""The user page in a real headless browser: Debian's chromium driven by
Playwright. A user finds their CalDAV URLs, makes a feed with the keyboard
alone (with JavaScript, and once more without), reads its URL off the page,
and revokes it; a plain HTTP GET of the URL without a login shows their
meetings, then 404. Every control has an accessible name, the QR code a text
alternative, and the page fits a 320 px wide screen.

One server on SQLite with the demo data. Set FOLLOWUPS_SCREENSHOT=1 to save
docs/page.png (for the README). A missing /usr/bin/chromium fails the test
(``apt-get install chromium``): it is never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from icalendar import Calendar
from playwright.sync_api import expect

from server.demo import PASSWORD, load_demo
from server.services import calendars
from server.services.followups import open_store
from tests.server.caldav_support import LiveServer, start_server, stop_server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "page.png"

UNNAMED_CONTROLS = """() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea, button")]
  .filter(el => {
    const byLabel = el.labels && [...el.labels].some(l => l.textContent.trim());
    const byAria = (el.getAttribute("aria-label") || "").trim() || el.getAttribute("aria-labelledby");
    const byText = el.tagName === "BUTTON" && el.textContent.trim();
    return !(byLabel || byAria || byText);
  })
  .map(el => el.outerHTML)"""


@pytest.fixture(scope="module")
def demo() -> Iterator[LiveServer]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        load_demo(open_store(url))
        server, thread, httpd = start_server(url)
        try:
            yield server
        finally:
            stop_server(server, thread, httpd)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `apt-get install chromium` (Debian's package) for the browser test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def context(browser: Any, demo: LiveServer, **options: Any) -> Any:
    return browser.new_context(base_url=demo.url, http_credentials={"username": "anna", "password": PASSWORD},
                               **options)


def meeting_uids(demo: LiveServer) -> set[str]:
    found = calendars.collection(demo.engine, "anna", "meetings", with_items=True)
    assert found is not None and found.items
    return {o.uid for o in found.items}


def check_feed(url: str, demo: LiveServer) -> None:
    """A plain GET without a login: text/calendar, anna's meetings and nothing else."""
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(r.text)
    shown = {str(e["UID"]) for e in cal.walk("VEVENT")}
    assert shown and shown <= meeting_uids(demo)
    assert not cal.walk("VTODO")


def create_with_keyboard(page: Any, start: str) -> None:
    """Fill the feed form and send it with the keyboard alone (focus, Tab, typing, Enter)."""
    page.focus("#feed-what")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "feed-from"
    page.keyboard.press("Control+A")
    page.keyboard.type(start)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "feed-to"
    page.keyboard.press("Control+A")
    page.keyboard.type("60")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Create feed"
    with page.expect_navigation():
        page.keyboard.press("Enter")


def revoke_with_keyboard(page: Any) -> None:
    page.locator("form[action$='/revoke'] button").last.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_a_user_finds_their_urls_and_makes_and_revokes_a_feed(browser: Any, demo: LiveServer) -> None:
    ctx = context(browser, demo, viewport={"width": 1000, "height": 900})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=demo.url.rstrip("/"))
    page = ctx.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        assert page.goto("/").status == 200
        assert page.input_value("#account-url") == demo.url + "anna/"
        assert page.get_by_text(demo.url + "anna/meetings/", exact=True).is_visible()
        assert page.evaluate(UNNAMED_CONTROLS) == []
        levels = page.evaluate("[...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1])")
        assert levels[0] == 1 and all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False))
        qr = page.locator("figure svg[role=img]")
        assert qr.get_attribute("aria-label") == f"QR code of {demo.url}anna/"

        create_with_keyboard(page, "-7")
        if os.environ.get("FOLLOWUPS_SCREENSHOT"):
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert page.evaluate("document.activeElement.id") == "feed-https"  # the new URL has the focus
        url = page.input_value("#feed-https")
        assert url.startswith(demo.url + "feeds/")
        assert page.input_value("#feed-webcal") == "webcal://" + url.split("://", 1)[1]
        copy = page.locator("button[data-copy=feed-https]")
        assert copy.is_visible()  # the script shows the Copy buttons
        copy.focus()
        page.keyboard.press("Enter")
        expect(page.locator("#feed-https-status")).to_have_text("Copied.")  # the clipboard answers asynchronously
        assert page.evaluate("navigator.clipboard.readText()") == url
        assert page.evaluate(UNNAMED_CONTROLS) == []
        check_feed(url, demo)

        page.reload()  # posts the form again (the browser's "resend"): the same feed, not a second one
        assert page.input_value("#feed-https") == url
        assert page.locator("form[action$='/revoke']").count() == 1
        assert page.get_by_text("from 7 days ago to 60 days ahead").is_visible()
        revoke_with_keyboard(page)
        assert page.url == demo.url
        assert requests.get(url, timeout=30).status_code == 404
        assert page.locator("form[action$='/revoke']").count() == 0
        assert dialogs == []
    finally:
        ctx.close()


def test_without_javascript_and_on_a_narrow_screen(browser: Any, demo: LiveServer) -> None:
    ctx = context(browser, demo, java_script_enabled=False, viewport={"width": 320, "height": 640})
    page = ctx.new_page()
    try:
        assert page.goto("/").status == 200
        assert page.evaluate("document.documentElement.scrollWidth") <= 320  # no sideways scrolling
        create_with_keyboard(page, "-30")
        field = page.locator("#feed-https")
        assert field.get_attribute("readonly") is not None and field.is_visible()
        assert not page.locator("button[data-copy=feed-https]").is_visible()  # no script: no Copy button
        url = field.input_value()
        check_feed(url, demo)
        revoke_with_keyboard(page)
        assert requests.get(url, timeout=30).status_code == 404
        with page.expect_download() as download:
            page.get_by_role("link", name="Meetings (.ics)").click()
        assert download.value.suggested_filename == "anna-meetings.ics"
        with open(download.value.path(), encoding="utf-8") as exported:
            assert {str(e["UID"]) for e in Calendar.from_ical(exported.read()).walk("VEVENT")} == meeting_uids(demo)
    finally:
        ctx.close()
