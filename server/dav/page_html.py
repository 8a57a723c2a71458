"""The user page's HTML, rendered on the server from plain data (no template
engine, no build step, no JavaScript needed).

Everything that comes from a user or the store (names, display names, colours,
feed labels, URLs) goes through :func:`html.escape`; a calendar colour is
only used when it is a ``#RRGGBB[AA]`` value. Styles and the one small script
carry the response's CSP nonce, so the page needs no ``unsafe-inline``.

Colours and their contrast (WCAG 2.x relative luminance; 4.5:1 is the
minimum for normal text):

- text ``#1f2328`` on white 15.8:1, on the panels' ``#f6f8fa`` 14.8:1, on the
  notice's ``#fff8e1`` 14.9:1;
- secondary text ``#57606a`` on white 6.4:1, on ``#f6f8fa`` 6.0:1;
- links and focus outlines ``#0b57d0`` on white 6.4:1, on ``#f6f8fa`` 6.0:1,
  on ``#fff8e1`` 6.0:1; button text white on ``#0b57d0`` 6.4:1;
- errors ``#8c1d18`` on ``#fdecea`` 8.0:1; the Revoke button's white on
  ``#8c1d18`` 9.1:1.

Nothing is told by colour alone: a calendar's colour swatch sits next to its
name and its value in text, errors start with "Error:".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Protocol
from urllib.parse import quote

import segno

APP = "followup-caldav"
COLOUR = re.compile(r"#[0-9A-Fa-f]{6}(?:[0-9A-Fa-f]{2})?")
EXPORTS = (("meetings", "Meetings"), ("tasks", "To-dos and calls"), ("all", "Everything"))
FEED_WHATS = (("meetings", "Meetings"), ("tasks", "To-dos and calls"), ("all", "Everything"))

CSS = """
*{box-sizing:border-box}
body{margin:0;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#fff}
main,header{max-width:52rem;margin:0 auto;padding:0 1rem}
header{padding-top:.75rem;color:#57606a}
h1{font-size:1.6rem;margin:.5rem 0 1rem}
h2{font-size:1.3rem;margin:2rem 0 .5rem;border-top:1px solid #d0d7de;padding-top:1rem}
h3{font-size:1.1rem;margin:1.25rem 0 .25rem}
a{color:#0b57d0}
code,.url{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.95rem;overflow-wrap:anywhere}
.skip{position:absolute;left:-999px;top:0;background:#fff;padding:.5rem}
.skip:focus{left:.5rem}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,main:focus-visible{
outline:3px solid #0b57d0;outline-offset:2px}
.panel{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.75rem 1rem;margin:.5rem 0}
.notice{background:#fff8e1;border:2px solid #1f2328;border-radius:6px;padding:.75rem 1rem;margin:1rem 0}
.notice h2{border-top:0;margin-top:0;padding-top:0}
.error{background:#fdecea;color:#8c1d18;border:2px solid #8c1d18;border-radius:6px;padding:.75rem 1rem;margin:1rem 0}
.muted{color:#57606a}
ul.plain{list-style:none;padding:0;margin:0}
ul.plain>li{margin:.5rem 0}
.swatch{vertical-align:middle;margin-right:.35rem;border:1px solid #1f2328}
label{display:block;font-weight:600;margin-top:.5rem}
input[type=text],input[type=number],input[type=date],select{font:inherit;width:100%;max-width:36rem;padding:.35rem;
border:1px solid #57606a;border-radius:4px;background:#fff;color:#1f2328}
.row{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
.row input{flex:1 1 14rem;max-width:none}
button{font:inherit;padding:.4rem .9rem;border-radius:4px;border:1px solid #0b57d0;background:#0b57d0;color:#fff;
cursor:pointer;margin-top:.5rem}
form button[type=submit]{display:block}
button.secondary{background:#fff;color:#0b57d0}
button.danger{background:#8c1d18;border-color:#8c1d18}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
figure{margin:1rem 0}
figure svg{display:block;max-width:100%;height:auto;border:4px solid #fff}
ol{padding-left:1.5rem}
"""

SCRIPT = """
document.querySelectorAll("button[data-copy]").forEach(function (b) {
  b.hidden = false;
  b.addEventListener("click", function () {
    var field = document.getElementById(b.getAttribute("data-copy"));
    var status = document.getElementById(b.getAttribute("data-copy") + "-status");
    field.focus();
    field.select();
    var done = function () { status.textContent = "Copied."; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        status.textContent = "Select the address and copy it.";
      });
    } else {
      status.textContent = document.execCommand("copy") ? "Copied." : "Select the address and copy it.";
    }
  });
});
"""


class FeedLike(Protocol):
    """What the page shows of a feed (``server.services.feeds.Feed``)."""

    @property
    def id(self) -> int: ...
    @property
    def label(self) -> str: ...
    @property
    def from_days(self) -> int: ...
    @property
    def to_days(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(frozen=True)
class Calendar:
    name: str
    display_name: str
    colour: str | None
    url: str
    kind: str  # "Events" or "To-dos"


@dataclass(frozen=True)
class NewFeed:
    label: str
    https_url: str
    webcal_url: str


@dataclass
class PageData:
    login: str
    name: str
    base: str
    nonce: str
    form_token: str
    calendars: list[Calendar]
    feeds: list[FeedLike]
    new_feed: NewFeed | None = None
    error: str | None = None
    form: dict[str, str] = field(default_factory=dict)
    max_days: int = 1830
    """The feed window's bound in days either side of today (``server.services.feeds``)."""
    form_once: str = ""
    """The create-feed form's one-time value: the same form sent twice makes one feed
    (``server.services.feeds.form_feed_token``)."""


def account_url(base: str, login: str) -> str:
    """The URL a client is given: the user's principal (clients find the calendars from it)."""
    return f"{base}/{quote(login, safe='')}/"


def window_text(from_days: int, to_days: int) -> str:
    """A feed's window in words: "from 30 days ago to 365 days ahead"."""
    def side(days: int) -> str:
        if days == 0:
            return "today"
        unit = "day" if abs(days) == 1 else "days"
        return f"{abs(days)} {unit} " + ("ago" if days < 0 else "ahead")
    return f"from {side(from_days)} to {side(to_days)}"


def qr_svg(text: str) -> str:
    """``text`` as an inline SVG QR code with a text alternative (role="img" and aria-label)."""
    svg = segno.make(text, error="m").svg_inline(scale=4, dark="#1f2328", light="#ffffff")
    label = escape(f"QR code of {text}")
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def _token_field(data: PageData) -> str:
    return f'<input type="hidden" name="token" value="{escape(data.form_token)}">'


def _copy_field(field_id: str, label: str, value: str, focus: bool = False) -> str:
    """A read-only text field holding ``value``, its label, and a Copy button
    that the script shows (without JavaScript the field is still selectable).
    ``focus``: the browser puts the focus there when the page loads."""
    return (f'<label for="{field_id}">{escape(label)}</label>'
            f'<div class="row"><input type="text" id="{field_id}" class="url" readonly value="{escape(value)}"'
            + (" autofocus" if focus else "") + ">"
            f'<button type="button" class="secondary" data-copy="{field_id}" hidden>'
            f'Copy<span class="vh"> {escape(label)}</span></button></div>'
            f'<p id="{field_id}-status" role="status" class="muted"></p>')


def _swatch(colour: str | None) -> str:
    if colour is None or not COLOUR.fullmatch(colour):
        return ""
    return (f'<svg class="swatch" width="14" height="14" aria-hidden="true" focusable="false">'
            f'<rect width="14" height="14" fill="{escape(colour[:7])}"/></svg>')


def _new_feed(data: PageData) -> str:
    if data.new_feed is None:
        return ""
    f = data.new_feed
    return (f'<section class="notice" aria-labelledby="new-feed-h"><h2 id="new-feed-h">Your new feed: '
            f"{escape(f.label)}</h2>"
            "<p><strong>Copy this address now: it is shown only once.</strong> The server keeps only a hash of "
            "it, so it cannot show it again. Anyone who has the address can read the feed; revoke it below if "
            "it leaks.</p>"
            + _copy_field("feed-https", "Feed address (https, for Google Calendar, Outlook and most apps)",
                          f.https_url, focus=True)
            + _copy_field("feed-webcal", "Feed address (webcal, opens Apple Calendar and Thunderbird)",
                          f.webcal_url)
            + "</section>")


def _error(data: PageData) -> str:
    if data.error is None:
        return ""
    return f'<div class="error" role="alert" id="error"><p><strong>Error:</strong> {escape(data.error)}</p></div>'


def _calendars(data: PageData) -> str:
    account = account_url(data.base, data.login)
    items = "".join(
        f'<li class="panel">{_swatch(c.colour)}<strong>{escape(c.display_name)}</strong> '
        f'<span class="muted">({escape(c.kind)}'
        + (f", colour {escape(c.colour[:7])}" if c.colour and COLOUR.fullmatch(c.colour) else "")
        + f')</span><br><span class="vh">CalDAV address: </span><code>{escape(c.url)}</code></li>'
        for c in data.calendars)
    return ('<section aria-labelledby="calendars-h"><h2 id="calendars-h">Your calendars</h2>'
            "<p>Give a calendar app this <strong>account address</strong>, your user name "
            f"<code>{escape(data.login)}</code> and your CRM password; it finds the calendars below by itself.</p>"
            + _copy_field("account-url", "Account address (CalDAV)", account)
            + '<h3 id="each-h">Each calendar\'s own address</h3>'
            f'<ul class="plain" aria-labelledby="each-h">{items}</ul></section>')


def _setup(data: PageData) -> str:
    account = account_url(data.base, data.login)
    host = data.base.split("://", 1)[-1]
    plain_http = data.base.startswith("http://")
    https_note = (
        '<p class="notice"><strong>Note:</strong> this server is reached over plain <code>http</code>, which '
        "sends your password unencrypted. Phones and tablets should only connect over <code>https</code>: "
        "ask your administrator for the server's https address before you set up a phone.</p>"
        if plain_http else "")
    user = escape(data.login)
    return (
        '<section aria-labelledby="setup-h"><h2 id="setup-h">Set up a calendar app</h2>' + https_note
        + '<h3 id="tb-h">Thunderbird (115 and newer)</h3><ol>'
        "<li>Open the Calendar tab and choose <em>New Calendar</em> (the + next to the calendar list).</li>"
        "<li>Choose <em>On the Network</em> and select <em>Next</em>.</li>"
        f"<li>Username <code>{user}</code>, Location <code>{escape(account)}</code>; select "
        "<em>Find Calendars</em> and enter your password.</li>"
        "<li>Tick the calendars and select <em>Subscribe</em>. To-dos and calls appear in the Tasks tab.</li></ol>"
        '<h3 id="mac-h">Apple Calendar on a Mac</h3><ol>'
        "<li>In Calendar choose <em>Calendar &gt; Add Account</em>, then <em>Other CalDAV Account</em>.</li>"
        f"<li>Account Type <em>Manual</em>, User Name <code>{user}</code>, your password, Server Address "
        f"<code>{escape(account)}</code>; select <em>Sign In</em>.</li>"
        "<li>Meetings appear in Calendar, to-dos and calls in Reminders.</li></ol>"
        '<h3 id="ios-h">iPhone and iPad</h3><ol>'
        "<li>Open <em>Settings &gt; Calendar &gt; Accounts &gt; Add Account &gt; Other &gt; Add CalDAV "
        "Account</em> (on iOS 18: <em>Settings &gt; Apps &gt; Calendar &gt; Calendar Accounts</em>).</li>"
        f"<li>Server <code>{escape(host)}</code>, User Name <code>{user}</code>, your password; select "
        "<em>Next</em>, then <em>Save</em>.</li>"
        "<li>Or scan the QR code below with the camera to copy the account address.</li></ol>"
        '<h3 id="android-h">Android (DAVx⁵)</h3><ol>'
        "<li>Install DAVx⁵, and jtx Board, Tasks.org or OpenTasks for to-dos.</li>"
        "<li>In DAVx⁵ tap <em>+</em>, choose <em>Login with URL and user name</em>.</li>"
        f"<li>Base URL <code>{escape(account)}</code> (or scan the QR code), User name <code>{user}</code>, "
        "your password; tap <em>Login</em>, then <em>Create account</em>.</li>"
        "<li>In the account's CalDAV tab, tick the calendars to sync.</li></ol>"
        '<figure aria-labelledby="qr-caption">' + qr_svg(account)
        + f'<figcaption id="qr-caption">QR code of the account address <code>{escape(account)}</code>, '
        "for phones.</figcaption></figure></section>")


def _feeds(data: PageData) -> str:
    token = _token_field(data)
    if data.feeds:
        rows = "".join(
            f'<li class="panel"><strong>{escape(f.label)}</strong>, '
            f"{escape(window_text(f.from_days, f.to_days))}"
            f'<br><span class="muted">Created {escape(f.created_at.strftime("%Y-%m-%d %H:%M"))} UTC</span>'
            f'<form method="post" action="/.page/feeds/{int(f.id)}/revoke">{token}'
            f'<button type="submit" class="danger">Revoke<span class="vh"> the feed {escape(f.label)} '
            f"created {escape(f.created_at.strftime('%Y-%m-%d %H:%M'))}</span></button></form></li>"
            for f in data.feeds)
        listing = f'<ul class="plain" aria-labelledby="active-feeds-h">{rows}</ul>'
    else:
        listing = '<p class="muted">You have no active feeds.</p>'
    chosen = data.form.get("what", "meetings")
    options = "".join(f'<option value="{v}"{" selected" if v == chosen else ""}>{escape(t)}</option>'
                      for v, t in FEED_WHATS)
    start = escape(data.form.get("from_days", "-30"))
    end = escape(data.form.get("to_days", "365"))
    return (
        '<section aria-labelledby="feeds-h"><h2 id="feeds-h">Subscriptions (feeds)</h2>'
        "<p>A feed is a secret, read-only address of your follow-ups that calendar apps subscribe to "
        "without your password (Google Calendar, Outlook, Apple Calendar, Thunderbird). Private follow-ups "
        "show in full: share a feed's address only with yourself.</p>"
        '<h3 id="active-feeds-h">Your feeds</h3>' + listing
        + '<h3 id="create-feed-h">Create a feed</h3>'
        f'<form method="post" action="/.page/feeds" class="panel" aria-labelledby="create-feed-h">{token}'
        + (f'<input type="hidden" name="once" value="{escape(data.form_once)}">' if data.form_once else "")
        + f'<label for="feed-what">What the feed shows</label><select id="feed-what" name="what">{options}</select>'
        '<label for="feed-from">Starts (days from today; negative: in the past)</label>'
        f'<input type="number" id="feed-from" name="from_days" value="{start}" min="{-data.max_days}" '
        f'max="{data.max_days}" '
        'aria-describedby="feed-window-help">'
        '<label for="feed-to">Ends (days from today)</label>'
        f'<input type="number" id="feed-to" name="to_days" value="{end}" min="{-data.max_days}" '
        f'max="{data.max_days}" '
        'aria-describedby="feed-window-help">'
        '<p id="feed-window-help" class="muted">The window moves with today: -30 and 365 show the last month '
        "and the coming year.</p>"
        '<button type="submit">Create feed</button></form></section>')


def _exports(data: PageData) -> str:
    links = "".join(f'<li><a href="/.page/export/{v}.ics" download>{escape(t)} (.ics)</a></li>'
                    for v, t in EXPORTS)
    options = "".join(f'<option value="{v}">{escape(t)}</option>' for v, t in EXPORTS)
    return (
        '<section aria-labelledby="export-h"><h2 id="export-h">Download (export)</h2>'
        "<p>One iCalendar file (.ics) to import into another calendar or keep as a copy.</p>"
        f"<ul>{links}</ul>"
        '<h3 id="export-range-h">Download a date range</h3>'
        '<form method="get" action="/.page/export" class="panel" aria-labelledby="export-range-h">'
        f'<label for="export-what">What</label><select id="export-what" name="what">{options}</select>'
        '<label for="export-from">From (inclusive)</label><input type="date" id="export-from" name="from">'
        '<label for="export-to">Until (inclusive)</label><input type="date" id="export-to" name="to">'
        '<button type="submit">Download</button></form></section>')


def render(data: PageData) -> str:
    """The whole page for ``data``."""
    nonce = escape(data.nonce)
    who = escape(data.name or data.login)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Calendars of {who} - {APP}</title><style nonce=\"{nonce}\">{CSS}</style></head><body>"
        '<a class="skip" href="#main">Skip to the content</a>'
        f'<header><p>Signed in as <strong>{who}</strong> (<code>{escape(data.login)}</code>). '
        "To sign out, close the browser.</p></header>"
        f'<main id="main" tabindex="-1"><h1>Calendars, feeds and downloads of {who}</h1>'
        + _error(data) + _new_feed(data) + _calendars(data) + _setup(data) + _feeds(data) + _exports(data)
        + f'</main><script nonce="{nonce}">{SCRIPT}</script></body></html>')


def message_page(title: str, text: str, nonce: str) -> str:
    """A small page for an answer that is not the user page (401, 403, 404, 413)."""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)} - {APP}</title><style nonce="{escape(nonce)}">{CSS}</style></head><body>'
            f'<main id="main"><h1>{escape(title)}</h1><p>{escape(text)}</p>'
            '<p><a href="/">Back to your page</a></p></main></body></html>')
