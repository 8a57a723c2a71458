"""Each user's page at the server's root: calendars, setup steps, feeds, exports.

The page is for people, next to the CalDAV protocol on the same port: ``GET /``
after the same Basic login as CalDAV (a browser asks for it on the 401, with
Radicale's realm), and a few paths under ``/.page/`` (logins cannot start
with a dot, so no one's home is shadowed):

- ``POST /.page/feeds`` creates a feed and answers the page with its URL,
  shown this once (only a hash of the token is stored). The form carries a
  one-time value the feed's token is computed from
  (``server.services.feeds.form_feed_token``), so the same form sent again,
  by a reload of that answer, shows the same feed instead of making another;
- ``POST /.page/feeds/<id>/revoke`` revokes one of the user's feeds (303 to ``/``);
- ``GET /.page/export/<meetings|tasks|all>.ics`` and ``GET /.page/export?what=&from=&to=``
  download one iCalendar file (``server.services.export``).

A browser sends Basic credentials with any request to this host, a cross-site
form post included, so each POST must pass two checks against CSRF (403
otherwise): an Origin (or Referer) of this server, with ``Sec-Fetch-Site:
same-origin`` when the browser sends that header; and a hidden form token,
an HMAC of the login keyed by the user's stored password hash, which an
attacker cannot read or compute and every worker process computes alike.

Responses carry a strict Content-Security-Policy (a fresh nonce for the one
style sheet and the one script), ``Cache-Control: no-store`` (a feed URL is a
secret) and ``Referrer-Policy: same-origin``: the page's own URLs never hold
a token, and ``no-referrer`` would make browsers send ``Origin: null`` on the
page's own form posts (Fetch, "serializing a request origin"), so the Origin
check could not tell them from a sandboxed attacker's; ``same-origin`` sends
nothing to any other site either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from sqlalchemy import Engine

from server.config import Settings
from server.dav import basic_auth, errors, page_html
from server.dav.radicale_config import radicale_configuration
from server.services import auth, calendars, export, feeds
from server.services.errors import BodyTooLarge, Forbidden, InvalidFollowup

StartResponse = Callable[..., Any]
Answer = tuple[str, list[tuple[str, str]], bytes]

PREFIX = "/.page/"
MAX_FORM = 8 * 1024
"""Largest form body taken (bytes); the page's forms send well under 200."""
REFERRER_POLICY = "same-origin"
REVOKE = re.compile(r"/\.page/feeds/(\d{1,18})/revoke")
EXPORT = re.compile(r"/\.page/export(?:/(meetings|tasks|all)\.ics)?")
FEED_WHATS = frozenset(v for v, _ in page_html.FEED_WHATS)
KINDS = {"VEVENT": "Events", "VTODO": "To-dos"}
_REALM: list[str] = []


def handles(method: str, path: str) -> bool:
    """Whether the page answers this request (its own paths, and GET or HEAD of the root)."""
    return path.startswith(PREFIX) or (path in ("", "/") and method in ("GET", "HEAD"))


@dataclass(frozen=True)
class Request:
    engine: Engine
    settings: Settings
    environ: dict[str, Any]
    login: str
    nonce: str

    @property
    def base(self) -> str:
        return feeds.base_url(self.settings, self.environ).rstrip("/")

    @cached_property
    def secret(self) -> str:
        """The user's stored password hash (or htpasswd line), read once a
        request: the key of the page's form token and of the feed tokens its
        form makes. Only the server reads it; a new password changes both."""
        secret = auth.stored_secret(self.engine, self.login)
        if not secret:
            raise Forbidden("this login has no password to key its form token with")
        return secret


def handle(engine: Engine, settings: Settings, environ: dict[str, Any],
           start_response: StartResponse) -> Iterable[bytes]:
    """Answer one request for the page (``handles`` said yes); a wrong or missing login gets a 401."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = environ.get("PATH_INFO", "")
    nonce = secrets.token_urlsafe(18)
    login = _login(engine, environ)
    if login is None:
        answer = _unauthorized(settings, nonce)
    else:
        request = Request(engine, settings, environ, login, nonce)
        try:
            answer = _route(request, method, path)
        except _CAUGHT as exc:
            answer = _failure(exc, nonce)
    status, headers, body = answer
    start_response(status, headers + [("Content-Length", str(len(body)))])
    return [b""] if method == "HEAD" else [body]


def _route(request: Request, method: str, path: str) -> Answer:
    if path in ("", "/"):
        return _html("200 OK", page_html.render(_page_data(request)), request.nonce)
    if path == "/.page/feeds":
        _allow(method, "POST")
        return _create_feed(request)
    revoke = REVOKE.fullmatch(path)
    if revoke is not None:
        _allow(method, "POST")
        return _revoke_feed(request, int(revoke.group(1)))
    exporting = EXPORT.fullmatch(path)
    if exporting is not None:
        _allow(method, "GET", "HEAD")
        return _export(request, exporting.group(1))
    return _message("404 Not Found", "Not found", "There is no such page here.", request.nonce)


class _MethodNotAllowed(Exception):
    def __init__(self, allowed: tuple[str, ...]) -> None:
        super().__init__(", ".join(allowed))
        self.allowed = allowed


_CAUGHT: tuple[type[BaseException], ...] = (_MethodNotAllowed, *errors.ANSWERED)


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise _MethodNotAllowed(allowed)


# -- login and CSRF ----------------------------------------------------------------------


def _login(engine: Engine, environ: dict[str, Any]) -> str | None:
    """The request's login when its Basic credentials are right (the same
    check as CalDAV's, ``server.services.auth.authenticate``), else None."""
    found = basic_auth.credentials(environ)
    if found is None or not auth.authenticate(engine, *found):
        return None
    return found[0]


def _realm(settings: Settings) -> str:
    """Radicale's realm, so the browser's login prompt is the one CalDAV clients get."""
    if not _REALM:
        _REALM.append(str(radicale_configuration(settings).get("auth", "realm")))
    return _REALM[0]


def _unauthorized(settings: Settings, nonce: str) -> Answer:
    status, headers, body = _message("401 Unauthorized", "Sign in",
                                     "Sign in with your CRM user name and password.", nonce)
    return status, headers + [("WWW-Authenticate", f'Basic realm="{_realm(settings)}", charset="UTF-8"')], body


def form_token(secret: str, login: str) -> str:
    """The hidden form token of ``login``'s page: an HMAC of the login keyed by
    ``secret`` (:attr:`Request.secret`)."""
    return hmac.new(secret.encode("utf-8"), b"followups-page\0" + login.encode("utf-8"), hashlib.sha256).hexdigest()


def same_origin(settings: Settings, environ: dict[str, Any]) -> bool:
    """Whether a POST comes from a page of this server: ``Sec-Fetch-Site``
    (when sent) says ``same-origin``, and the Origin (else the Referer) names
    the host the request came to, or the configured ``public_url``'s."""
    site = environ.get("HTTP_SEC_FETCH_SITE")
    if site is not None and site.strip().lower() != "same-origin":
        return False
    source = environ.get("HTTP_ORIGIN", "").strip()
    if not source or source == "null":
        source = environ.get("HTTP_REFERER", "").strip()
    if not source:
        return False
    allowed = {environ.get("HTTP_HOST", "").lower()}
    if settings.public_url:
        allowed.add(urlsplit(settings.public_url).netloc.lower())
    allowed.discard("")
    try:
        parts = urlsplit(source)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() in allowed


def _checked_form(request: Request) -> dict[str, str]:
    """The POST's form fields, after the size bound (413) and both CSRF checks (403)."""
    environ = request.environ
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise InvalidFollowup("Content-Length is not a number") from None
    if length > MAX_FORM:
        raise BodyTooLarge(length, MAX_FORM)
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    if not same_origin(request.settings, environ):
        raise Forbidden("this form must be sent from your page on this server: reload the page and try again")
    fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
    expected = form_token(request.secret, request.login)
    if not hmac.compare_digest(fields.get("token", "").encode("utf-8"), expected.encode("utf-8")):
        raise Forbidden("the form has expired (your password may have changed): reload the page and try again")
    return fields


# -- the page, feeds and exports ---------------------------------------------------------


def _page_data(request: Request, **extra: Any) -> page_html.PageData:
    engine, login, base = request.engine, request.login, request.base
    who = calendars.principal(engine, login)
    shown = [page_html.Calendar(
        name=c.name, display_name=c.props.get("D:displayname") or c.name,
        colour=c.props.get("ICAL:calendar-color"), kind=KINDS.get(c.component, c.component),
        url=f"{base}/{quote(login, safe='')}/{quote(c.name, safe='')}/")
        for c in calendars.collections(engine, login)]
    return page_html.PageData(
        login=login, name=who.name if who is not None else login, base=base, nonce=request.nonce,
        form_token=form_token(request.secret, login), form_once=secrets.token_urlsafe(16), calendars=shown,
        feeds=list(feeds.feeds_of(engine, login)),
        max_days=feeds.MAX_WINDOW_DAYS, **extra)


def _days(fields: dict[str, str], name: str, default: int, label: str) -> int:
    text = fields.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise InvalidFollowup(f"{label} must be a whole number of days, not {text!r}") from None


def _create_feed(request: Request) -> Answer:
    fields = _checked_form(request)
    form = {k: fields.get(k, "") for k in ("what", "from_days", "to_days")}
    try:
        what = fields.get("what", "")
        if what not in FEED_WHATS:
            raise InvalidFollowup("choose what the feed shows: meetings, to-dos and calls, or everything")
        start = _days(fields, "from_days", -30, "Starts")
        end = _days(fields, "to_days", 365, "Ends")
        once = fields.get("once", "")
        token = None
        if feeds.FORM_ONCE.fullmatch(once):  # a page without it (made before) gets a random token
            token = feeds.form_feed_token(request.secret, request.login, once, what, start, end)
        feed, token = feeds.create(request.engine, request.login, what, None, start, end, token,
                                   limit=request.settings.max_feeds)
    except InvalidFollowup as exc:
        data = _page_data(request, error=str(exc), form=form)
        return _html("400 Bad Request", page_html.render(data), request.nonce)
    https_url, webcal_url = feeds.urls(request.base, token)
    data = _page_data(request, new_feed=page_html.NewFeed(feed.label, https_url, webcal_url))
    return _html("200 OK", page_html.render(data), request.nonce)


def _revoke_feed(request: Request, feed_id: int) -> Answer:
    _checked_form(request)
    feeds.revoke(request.engine, feed_id, owner=request.login)
    return "303 See Other", _security_headers(request.nonce) + [("Location", "/"),
                                                                ("Content-Type", "text/plain; charset=utf-8")], b""


def _date(text: str, label: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidFollowup(f"{label} must be a date like 2026-12-01, not {text!r}") from None


def _export(request: Request, what: str | None) -> Answer:
    query = {k: v[0] for k, v in parse_qs(request.environ.get("QUERY_STRING", "")).items()}
    what = what or query.get("what", "")
    if what not in FEED_WHATS:
        raise InvalidFollowup("choose what to download: meetings, tasks or all")
    start = _date(query.get("from", ""), "From")
    until = _date(query.get("to", ""), "Until")
    if start is not None and until is not None and until < start:
        raise InvalidFollowup("Until is before From: choose an end date on or after the start date")
    sel = export.Selection(viewer=request.login, what=what, owner=request.login, start=start,
                           end=until + timedelta(days=1) if until is not None else None,
                           limit=request.settings.max_feed_objects)
    body = export.export_text(request.engine, sel).encode("utf-8")
    name = re.sub(r"[^A-Za-z0-9._-]", "_", request.login) + f"-{what}.ics"
    headers = _security_headers(request.nonce) + [
        ("Content-Type", "text/calendar; charset=utf-8"),
        ("Content-Disposition", f'attachment; filename="{name}"')]
    return "200 OK", headers, body


# -- answers -------------------------------------------------------------------------------


def csp(nonce: str) -> str:
    return (f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def _security_headers(nonce: str) -> list[tuple[str, str]]:
    return [("Content-Security-Policy", csp(nonce)), ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", REFERRER_POLICY), ("Cache-Control", "no-store"), ("X-Frame-Options", "DENY")]


def _html(status: str, text: str, nonce: str) -> Answer:
    return status, [("Content-Type", "text/html; charset=utf-8")] + _security_headers(nonce), text.encode("utf-8")


def _message(status: str, title: str, text: str, nonce: str) -> Answer:
    return _html(status, page_html.message_page(title, text, nonce), nonce)


def _failure(exc: BaseException, nonce: str) -> Answer:
    """A refused request as a small page, with the status the one error table gives it."""
    if isinstance(exc, _MethodNotAllowed):
        status, headers, body = _message("405 Method Not Allowed", "Not allowed",
                                         f"This address takes {exc} only.", nonce)
        return status, headers + [("Allow", ", ".join(exc.allowed))], body
    found = errors.answer_for(exc)
    status = found.status if found is not None else "400 Bad Request"
    return _message(status, status[4:], str(exc), nonce)
