"""Subscription feeds over HTTP: ``GET /feeds/<token>.ics`` without a login.

A feed is the first thing anyone can fetch without a login, so it is cheap
and tells a stranger nothing:

- Any token (unknown, revoked, malformed, of any length) is hashed and looked
  up in one indexed query before anything else, so every miss takes the same
  path and gets the same 404 body: a 404 never says whether a feed existed.
- The ETag and Last-Modified come from :func:`server.services.export.fingerprint`,
  computed before any rendering: a poll with a matching If-None-Match (or,
  without one, an If-Modified-Since no older than Last-Modified, RFC 9110
  13.2.2) is a 304 that renders nothing.
- Rendered bodies are kept in a bounded, thread-safe cache keyed by the feed
  and its ETag (``feed_cache_mb``), so clients that poll without validators
  do not re-render an unchanged feed; gzip (about 10x smaller) for clients
  that accept it, as its own representation with its own ETag (RFC 9110 8.8.3).
- Read-only: GET and HEAD; a write is 403 (calendar-mapping.md, "Bad input"),
  anything else 405 with ``Allow``. Any Authorization header is ignored.
- The request log never sees the token (:mod:`server.dav.requestlog`); this
  module leaves the feed's id in the environ for it.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from server.config import Settings
from server.dav import requestlog
from server.services import export
from server.services import feeds as service
from store.errors import NotFound

StartResponse = Callable[..., Any]
PREFIX = "/feeds/"
SUFFIX = ".ics"
FEED_KEY = requestlog.FEED_KEY

CACHE_CONTROL = "private, max-age=300"
"""``private``: the URL is a secret, so no shared cache (a proxy) keeps a user's calendar and
serves it after the feed is revoked. ``max-age=300``: a client may reuse what it has for five
minutes; calendar apps poll far less often, and a CRM change reaches them within minutes."""
READ_ONLY = b"A feed is read-only: change follow-ups in the CRM or in your CalDAV calendar.\n"
NOT_FOUND = b"Not Found\n"
UNAVAILABLE = b"The feed cannot be read right now: try again later.\n"
WRITES = frozenset({"PUT", "POST", "DELETE", "PATCH", "PROPPATCH", "MKCOL", "MKCALENDAR", "MOVE", "COPY",
                    "LOCK", "UNLOCK", "ACL", "BIND", "UNBIND", "REBIND"})
MAX_VALIDATOR = 8192
"""Longest If-None-Match / If-Modified-Since read (characters): a longer one is ignored."""
GZIP_LEVEL = 6

log = logging.getLogger("followups.feeds")


def handles(path: str) -> bool:
    """Whether a request for ``path`` is a feed's (answered before any login)."""
    return path.startswith(PREFIX)


# -- the cache ----------------------------------------------------------------------------------------


CACHE = service.BODIES


# -- request headers ------------------------------------------------------------------------------------


def _opaque(tag: str) -> str:
    """An entity tag without its weakness prefix (If-None-Match compares weakly, RFC 9110 13.1.2)."""
    tag = tag.strip()
    return tag[2:] if tag[:2] in ("W/", "w/") else tag


def none_match(header: str | None, etags: Iterable[str]) -> bool:
    """Whether If-None-Match ``header`` names one of ``etags`` (or is ``*``)."""
    if not header or len(header) > MAX_VALIDATOR:
        return False
    wanted = {_opaque(t) for t in header.split(",")}
    return "*" in wanted or any(e in wanted for e in etags)


def not_modified_since(header: str | None, modified: datetime) -> bool:
    """Whether If-Modified-Since ``header`` is no older than ``modified`` (to the second)."""
    if not header or len(header) > MAX_VALIDATOR:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    if since.tzinfo is None:
        return False
    return modified.replace(microsecond=0) <= since


def accepts_gzip(header: str | None) -> bool:
    """Whether Accept-Encoding takes gzip (not with ``q=0``, RFC 9110 12.5.3)."""
    for item in (header or "")[:MAX_VALIDATOR].lower().split(","):
        coding, _, params = item.partition(";")
        if coding.strip() in ("gzip", "x-gzip"):
            weight = params.strip()
            try:
                return float(weight[2:]) > 0 if weight.startswith("q=") else True
            except ValueError:
                return True
    return False


def gzip_etag(etag: str) -> str:
    """The ETag of the gzip representation: the plain one with ``-gzip`` before the closing quote."""
    return f'{etag[:-1]}-gzip"' if etag.endswith('"') else f'"{etag}-gzip"'


# -- answers -------------------------------------------------------------------------------------------


def _plain(start_response: StartResponse, status: str, body: bytes,
           extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store"), *(extra or [])])
    return [body]


def _filename(feed: service.Feed) -> str:
    return f"{feed.what}-{feed.record_id}.ics" if feed.record_id is not None else f"{feed.owner}-{feed.what}.ics"


def handle(engine: Engine, settings: Settings, environ: dict[str, Any],
           start_response: StartResponse) -> Iterable[bytes]:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    if method not in ("GET", "HEAD"):
        if method in WRITES:
            return _plain(start_response, "403 Forbidden", READ_ONLY)
        return _plain(start_response, "405 Method Not Allowed", b"GET or HEAD\n", [("Allow", "GET, HEAD")])
    name = environ.get("PATH_INFO", "")[len(PREFIX):]
    token = name[:-len(SUFFIX)] if name.endswith(SUFFIX) else name
    try:
        feed = service.by_token(engine, token)
        if feed is None or not name.endswith(SUFFIX):
            return _plain(start_response, "404 Not Found", NOT_FOUND)
        environ[FEED_KEY] = feed.id
        return _serve(engine, settings, environ, start_response, feed, method)
    except NotFound:  # the record of a company (person, ...) feed was removed
        return _plain(start_response, "404 Not Found", NOT_FOUND)
    except SQLAlchemyError as exc:
        log.warning("feed: the database is unavailable (%s)", type(exc).__name__)
        return _plain(start_response, "503 Service Unavailable", UNAVAILABLE, [("Retry-After", "60")])


def _serve(engine: Engine, settings: Settings, environ: dict[str, Any], start_response: StartResponse,
           feed: service.Feed, method: str) -> Iterable[bytes]:
    selection = service.selection(feed, settings)
    etag, modified = export.fingerprint(engine, selection)
    modified = max(modified, _window_moved(feed))
    zipped = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
    sent_etag = gzip_etag(etag) if zipped else etag
    headers = [("ETag", sent_etag), ("Last-Modified", format_datetime(modified.replace(microsecond=0), usegmt=True)),
               ("Cache-Control", CACHE_CONTROL), ("Vary", "Accept-Encoding")]
    inm = environ.get("HTTP_IF_NONE_MATCH")
    if (none_match(inm, (etag, gzip_etag(etag))) if inm is not None
            else not_modified_since(environ.get("HTTP_IF_MODIFIED_SINCE"), modified)):
        start_response("304 Not Modified", headers)
        return []
    body = _body(engine, feed, selection, etag, zipped)
    headers += [("Content-Type", "text/calendar; charset=utf-8"), ("Content-Length", str(len(body))),
                ("Content-Disposition", f'inline; filename="{_filename(feed)}"'),
                ("X-Content-Type-Options", "nosniff")]
    if zipped:
        headers.append(("Content-Encoding", "gzip"))
    start_response("200 OK", headers)
    return [] if method == "HEAD" else [body]


def _window_moved(feed: service.Feed) -> datetime:
    """When the feed's window last moved: midnight today in the owner's zone. Last-Modified is
    no older, so a client that sends only If-Modified-Since sees what entered the window."""
    zone = ZoneInfo(feed.tz)
    return datetime.combine(datetime.now(zone).date(), time(0), zone).astimezone(UTC)


def _body(engine: Engine, feed: service.Feed, selection: export.Selection, etag: str, zipped: bool) -> bytes:
    """The feed's body for ``etag`` (gzipped when ``zipped``): from the cache, else rendered
    and kept. Two threads that miss at once both render; the cache keeps one copy."""
    where = str(engine.url)
    key = (where, feed.id, etag, "gzip" if zipped else "identity")
    body = CACHE.get(key)
    if body is not None:
        return body
    plain_key = (where, feed.id, etag, "identity")
    plain = CACHE.get(plain_key) if zipped else None
    if plain is None:
        plain = export.export_text(engine, selection).encode("utf-8")
        CACHE.put(plain_key, plain)
    if not zipped:
        return plain
    body = gzip.compress(plain, GZIP_LEVEL, mtime=0)
    CACHE.put(key, body)
    return body
