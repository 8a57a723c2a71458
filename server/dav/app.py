"""The WSGI application: Radicale with our plugins, behind a thin layer that
answers bad input the way the mapping spec's table says.

Radicale itself answers a body that vobject cannot read with a bare 400, and a
component its collection does not take is not checked at all. This layer
reads a PUT body first and answers, before any lock or transaction:

- 400 for a path that is not UTF-8 (PATH_INFO is re-decoded as UTF-8), for
  XML bodies with a DOCTYPE, nested too deep or too many elements, and for
  a PUT with a name longer than the bound below (content lines: mapping.scan);
- 413 for any request whose body is larger than the configured maximum
  (chunked bodies included), 415 for a PUT that is not ``text/calendar``;
- 400 naming the parser's reason, a missing or repeated UID, an unknown TZID;
- 403 with the ``CALDAV:supported-calendar-component`` precondition
  (RFC 4791 5.3.2.1) for a VEVENT sent to ``tasks`` and the like, and 403
  for the read-only ``bookings`` calendars.

The storage plugin enforces the same rules (so ``python -m radicale`` with our
plugins is safe too, with Radicale's generic error bodies).

It also drops the ETag from a PUT response when the stored object is not
octet-equal to the body (RFC 4791 5.3.4), and gives a write that the storage
plugin refused the answer ``server.dav.errors`` gives it (Radicale's own
bodies are generic).
"""

from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Callable, Iterable
from typing import Any
from xml.parsers import expat

from sqlalchemy import Engine

import mapping
from mapping import plain
from server.config import Settings
from server.dav import basic_auth, context, delete, errors, feeds, listing, page, put, requestlog, scheduling
from server.dav.health import Health
from server.dav.logindelay import LoginDelay, slots_for
from server.dav.radicale_config import radicale_configuration
from server.services import auth as logins
from server.services import caches, personal
from server.services.errors import BodyTooLarge, Forbidden, InvalidFollowup
from server.services.projection import BOOKINGS, COMPONENTS
from store import db

StartResponse = Callable[..., Any]

XML_METHODS = frozenset({"PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR", "MKCOL"})
MAX_XML_DEPTH = 32
"""Deepest element nesting taken in an XML body; a calendar-query with a
param-filter is 7 deep."""
MAX_NAME = 255
"""Longest member name (characters) a PUT may choose: the store keeps hrefs in
a bounded column, and a file system would take no longer name."""
MAX_XML_ELEMENTS = 10_000
"""Most elements taken in an XML body. Radicale spends about half a
millisecond on each href of a calendar-multiget; vdirsyncer asks for a whole
calendar in one, so the bound is high: 10,000 hrefs are a few seconds."""


MAX_LISTED_PROPS = 256
"""Most properties a PROPFIND with Depth 1 may ask for: the answer holds each
for every member (a calendar of 10,000 asked for 10,000 properties would be
10^8 elements). Clients ask for a few dozen at most."""


def utf8_path(raw: str) -> str:
    """PATH_INFO as text. A PEP 3333 server hands over the path's bytes
    decoded as latin-1; URLs are UTF-8 (RFC 3986 2.5), so re-decode them.
    A path with characters above U+00FF was already decoded (Radicale's own
    server does): kept. Not UTF-8, or a control character: 400."""
    try:
        data = raw.encode("latin-1")
    except UnicodeEncodeError:
        text = raw
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.BadRequest("the path is not UTF-8") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise errors.BadRequest("the path holds a control character")
    return text


def check_xml(body: bytes) -> int:
    """Refuse, before Radicale parses it, XML with a DOCTYPE (no entity
    declarations, so no billion laughs or external entities; WebDAV bodies
    never need one, RFC 4918 20.6), nested deeper than :data:`MAX_XML_DEPTH`
    or with more than :data:`MAX_XML_ELEMENTS` elements. Python's expat (2.4+)
    would stop a billion laughs itself, but only after expanding up to its
    amplification limit (about 0.3 s for a 700-byte body), and Radicale
    answers defusedxml's refusal, and its own RecursionError on deep XML,
    with a 500; here the DOCTYPE stops it at once, as a 400.

    Returns how many elements the root's first child holds: for a PROPFIND,
    the properties it asks for (Radicale reads the first child alone)."""
    if not body.strip():
        return 0
    parser = expat.ParserCreate()
    depth = count = 0
    firsts = listed = 0  # children of the root seen, and elements inside the first

    def start(name: str, attributes: Any) -> None:
        nonlocal depth, count, firsts, listed
        depth += 1
        count += 1
        if depth == 2:
            firsts += 1
        elif depth == 3 and firsts == 1:
            listed += 1
        if depth > MAX_XML_DEPTH:
            raise errors.BadRequest(f"the XML body nests deeper than {MAX_XML_DEPTH} elements")
        if count > MAX_XML_ELEMENTS:
            raise errors.BadRequest(f"the XML body has more than {MAX_XML_ELEMENTS} elements")

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    def doctype(*args: Any) -> None:
        raise errors.BadRequest("XML with a DOCTYPE or entity declarations is not accepted")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise errors.BadRequest(f"the XML body does not parse: {exc}") from None
    return listed


class Application:
    """WSGI callable: prechecks, then Radicale."""

    def __init__(self, radicale_app: Any, settings: Settings, engine: Engine) -> None:
        self.radicale = radicale_app
        self.settings = settings
        self.max_body = settings.max_body
        self.engine = engine

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        context.reset()
        if feeds.handles(environ.get("PATH_INFO", "")):
            return feeds.handle(self.engine, self.settings, environ, start_response)
        if not basic_auth.normalize(environ):
            return self._respond(start_response, *basic_auth.unauthorized(self.radicale.configuration))
        method = environ.get("REQUEST_METHOD", "GET").upper()
        answer: errors.Response | None = None
        parts: list[str] = []
        try:
            environ["PATH_INFO"] = utf8_path(environ.get("PATH_INFO", ""))
            parts = [p for p in environ["PATH_INFO"].split("/") if p]
            self._bound_body(environ)
            if page.handles(method, environ["PATH_INFO"]):
                return page.handle(self.engine, self.settings, environ, start_response)
            if method in XML_METHODS:
                asked = check_xml(self._body(environ))
                if method == "PROPFIND" and asked > MAX_LISTED_PROPS and environ.get("HTTP_DEPTH", "0") != "0":
                    # (Radicale reads no Depth as 0)
                    raise errors.BadRequest(f"a PROPFIND of members asks for {asked} properties; this server "
                                            f"answers at most {MAX_LISTED_PROPS} (ask with Depth: 0, or for fewer)")
            if len(parts) == 2 and method in listing.METHODS:
                body = self._body(environ) if method != "GET" else b""
                listed = listing.handle(self, environ, method, parts, body, start_response)
                if listed is not None:
                    return listed
            if method == "PUT":
                answer = self._put(environ)
            elif method == "DELETE" and len(parts) == 3:
                answer = delete.handle(self.engine, environ, parts)
            elif method == "REPORT" and len(parts) == 2:
                answer = self._report(environ, parts)
            elif method == "POST" and len(parts) == 2 and parts[1] == scheduling.OUTBOX:
                answer = self._outbox(environ, parts)
            elif method in ("MKCALENDAR", "MKCOL") and len(parts) == 2:
                self._make_calendar(environ, parts)
        except errors.ANSWERED as exc:
            answer = errors.response(exc)
        if answer is not None:
            return self._respond(start_response, *answer)
        if method == "PROPFIND" and len(parts) == 1:
            return self._principal_propfind(environ, start_response, parts[0])
        replaced: list[bytes] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            outcome = context.outcome()
            headers = scheduling.dav_header(headers)
            if outcome.rewritten and status[:3] in {"200", "201", "204"}:
                headers = [(k, v) for k, v in headers if k.lower() != "etag"]
            elif outcome.error is not None and status[:1] == "4":
                status, headers, body = errors.response(outcome.error)
                headers = headers + [("Content-Length", str(len(body)))]
                replaced.append(body)
            return start_response(status, headers, exc_info)

        body = self.radicale(environ, start)
        if replaced:
            if hasattr(body, "close"):
                body.close()
            return replaced
        return body  # type: ignore[no-any-return]

    def _bound_body(self, environ: dict[str, Any]) -> None:
        """413 for a body over ``max_body``, on every method and path, before
        anything reads it: by its Content-Length, or for a chunked body
        (RFC 9112 7.1) by reading at most one byte more than the limit."""
        if environ.get("CONTENT_LENGTH"):
            self._length(environ)
            return
        if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return
        if not environ.get("wsgi.input_terminated"):
            raise errors.LengthRequired("a chunked body needs a server that ends it; send a Content-Length")
        raw = environ["wsgi.input"].read(self.max_body + 1)
        if len(raw) > self.max_body:
            raise BodyTooLarge(len(raw), self.max_body)
        environ["wsgi.input"] = io.BytesIO(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))

    def _length(self, environ: dict[str, Any]) -> int:
        """The request's Content-Length, refused above ``max_body``."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise InvalidFollowup("Content-Length is not a number") from None
        if length < 0:
            raise InvalidFollowup("Content-Length is negative")
        if length > self.max_body:
            raise BodyTooLarge(length, self.max_body)
        return length

    def _body(self, environ: dict[str, Any]) -> bytes:
        """The request body (at most ``max_body``), left readable for Radicale."""
        length = self._length(environ)
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        return raw  # type: ignore[no-any-return]

    def _report(self, environ: dict[str, Any], parts: list[str]) -> errors.Response | None:
        """A free-busy-query, for any logged-in user (server.dav.scheduling); other REPORTs go to Radicale."""
        body = self._body(environ)
        if not scheduling.is_freebusy_query(body):
            return None
        user = scheduling.user_of(self.engine, environ)
        return None if user is None else scheduling.freebusy_report(self.engine, user, parts, body)

    def _outbox(self, environ: dict[str, Any], parts: list[str]) -> errors.Response | None:
        body = self._body(environ)
        user = scheduling.user_of(self.engine, environ)
        return None if user is None else scheduling.outbox_post(self.engine, user, parts, body)

    def _make_calendar(self, environ: dict[str, Any], parts: list[str]) -> None:
        """403 saying why for MKCALENDAR or MKCOL of a name in one's own home that
        is the CRM's (``meetings``...) or cannot be a calendar's; the rest is
        Radicale's and the storage plugin's (``server.services.personal``)."""
        found = basic_auth.credentials(environ)
        if found is not None and found[0] == parts[0]:
            personal.refuse_name(parts[1])

    def _principal_propfind(self, environ: dict[str, Any], start_response: StartResponse,
                            login: str) -> Iterable[bytes]:
        """Radicale's PROPFIND on a principal, with the scheduling properties
        filled in (server.dav.scheduling.principal_properties)."""
        held: list[Any] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            held[:] = [status, scheduling.dav_header(headers), exc_info]
            return lambda data: None

        result = self.radicale(environ, start)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers, exc_info = held
        if status.startswith("207"):
            gzipped = any(k.lower() == "content-encoding" and "gzip" in v.lower() for k, v in headers)
            plain = gzip.decompress(body) if gzipped else body
            rewritten = scheduling.principal_properties(self.engine, login, plain)
            if rewritten is not plain:
                body = gzip.compress(rewritten) if gzipped else rewritten
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                headers.append(("Content-Length", str(len(body))))
        start_response(status, headers, exc_info)
        return [body]

    def _respond(self, start_response: StartResponse, status: str, headers: list[tuple[str, str]],
                 body: bytes) -> list[bytes]:
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    def _put(self, environ: dict[str, Any]) -> errors.Response | None:
        """A PUT into a calendar: checked and parsed here, and written by
        ``server.dav.put`` when it is a user's own; None lets Radicale answer."""
        parts = [p for p in environ.get("PATH_INFO", "").split("/") if p]
        media_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if media_type and media_type != "text/calendar":
            raise errors.UnsupportedMediaType(f"this server stores text/calendar, not {media_type}")
        if len(parts) != 3 or (parts[1] not in COMPONENTS and not personal.is_personal_name(parts[1])):
            return None
        if len(parts[2]) > MAX_NAME:
            raise errors.BadRequest(f"a name of {len(parts[2])} characters; this server takes at most {MAX_NAME}")
        raw = self._body(environ)
        if parts[1] not in COMPONENTS:  # a personal calendar's: kept as sent (server.services.personal)
            return put.handle(self.engine, environ, parts, raw, plain.parse_plain(raw))
        if parts[1] == BOOKINGS:
            raise Forbidden("bookings calendars are read-only: book a resource by inviting it")
        cal = mapping.parse_calendar(raw)
        mapping.check_component(cal, COMPONENTS[parts[1]])
        return put.handle(self.engine, environ, parts, raw, cal)


def make_app(settings: Settings) -> requestlog.RequestLog:
    """Radicale with our plugins, configured from ``settings``, behind the failed-login
    delay (server.dav.logindelay), the health URL (server.dav.health) and the request log
    (server.dav.requestlog: one line per request, whatever Radicale's log level)."""
    from radicale import Application as RadicaleApplication
    from radicale import log

    if not isinstance(logging.getLogRecordFactory(), log.IdentLogRecordFactory):
        # Once per process: each setup() wraps the record factory in another,
        # and a process that builds many apps (the tests) would nest them past
        # Python's recursion limit.
        log.setup()
    configuration = radicale_configuration(settings)
    log.set_level(settings.log_level, False)
    requestlog.configure()
    logins.configure(settings)
    mapping.configure_limits(mapping.Limits.from_settings(settings))
    caches.configure(settings)
    personal.configure(settings)
    engine = db.get_engine(settings.database or None)
    app = Application(RadicaleApplication(configuration), settings, engine)
    delayed = LoginDelay(app, settings.auth_delay, slots_for(settings.threads))
    return requestlog.RequestLog(Health(delayed, engine), settings.log_format)
