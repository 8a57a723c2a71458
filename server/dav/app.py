"""The WSGI application: Radicale with our plugins, behind a thin layer that
answers bad input the way the mapping spec's table says.

Radicale itself answers a body that vobject cannot read with a bare 400, and a
component its collection does not take is not checked at all. This layer
reads a PUT body first and answers, before any lock or transaction:

- 413 when it is larger than the configured maximum;
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
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine

import mapping
from server.config import Settings
from server.dav import context, errors, put, requestlog, scheduling
from server.dav.radicale_config import radicale_configuration
from server.services.errors import BodyTooLarge, Forbidden, InvalidFollowup
from server.services.projection import BOOKINGS, COMPONENTS
from store import db

StartResponse = Callable[..., Any]


class Application:
    """WSGI callable: prechecks, then Radicale."""

    def __init__(self, radicale_app: Any, max_body: int, engine: Engine) -> None:
        self.radicale = radicale_app
        self.max_body = max_body
        self.engine = engine

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        context.reset()
        method = environ.get("REQUEST_METHOD", "GET").upper()
        parts = [p for p in environ.get("PATH_INFO", "").split("/") if p]
        answer: errors.Response | None = None
        try:
            if method == "PUT":
                answer = self._put(environ)
            elif method == "REPORT" and len(parts) == 2:
                answer = self._report(environ, parts)
            elif method == "POST" and len(parts) == 2 and parts[1] == scheduling.OUTBOX:
                answer = self._outbox(environ, parts)
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

    def _length(self, environ: dict[str, Any]) -> int:
        """The request's Content-Length, refused above ``max_body``."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise InvalidFollowup("Content-Length is not a number") from None
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
        self._length(environ)  # a body too large is 413 on every path, before any other check
        if len(parts) != 3 or parts[1] not in COMPONENTS:
            return None
        raw = self._body(environ)
        if parts[1] == BOOKINGS:
            raise Forbidden("bookings calendars are read-only: book a resource by inviting it")
        cal = mapping.parse_calendar(raw)
        mapping.check_component(cal, COMPONENTS[parts[1]])
        return put.handle(self.engine, environ, parts, raw, cal)


def make_app(settings: Settings) -> requestlog.RequestLog:
    """Radicale with our plugins, configured from ``settings``, behind the request log
    (server.dav.requestlog: one line per request, whatever Radicale's log level)."""
    from radicale import Application as RadicaleApplication
    from radicale import log

    log.setup()
    configuration = radicale_configuration(settings)
    log.set_level(settings.log_level, False)
    requestlog.configure()
    app = Application(RadicaleApplication(configuration), settings.max_body, db.get_engine(settings.database or None))
    return requestlog.RequestLog(app, settings.log_format)
