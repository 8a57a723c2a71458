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
octet-equal to the body (RFC 4791 5.3.4): the server always renders the
object itself, so the client must fetch it to see what was stored.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine

import mapping
from server.config import Settings, radicale_configuration
from server.dav import context as requestlog
from server.dav import put
from server.dav.errors import Response, no_uid_conflict, precondition, text
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
        requestlog.reset()
        if environ.get("REQUEST_METHOD", "GET").upper() == "PUT":
            answer = self._precheck_put(environ)
            if answer is None and requestlog.state().calendar is not None:
                parts = [p for p in environ.get("PATH_INFO", "").split("/") if p]
                answer = put.handle(self.engine, environ, parts, requestlog.state().body or b"",
                                    requestlog.state().calendar)
            if answer is not None:
                return self._respond(start_response, *answer)
        replaced: list[bytes] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            state = requestlog.state()
            if state.rewritten and status[:3] in {"200", "201", "204"}:
                headers = [(k, v) for k, v in headers if k.lower() != "etag"]
            elif state.error is not None and status[:3] in {"400", "403", "409"}:
                status, headers, body = _error(status, state.error)
                replaced.append(body)
            return start_response(status, headers, exc_info)

        body = self.radicale(environ, start)
        if replaced:
            if hasattr(body, "close"):
                body.close()
            return replaced
        return body  # type: ignore[no-any-return]

    def _respond(self, start_response: StartResponse, status: str, headers: list[tuple[str, str]],
                 body: bytes) -> list[bytes]:
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    def _precheck_put(self, environ: dict[str, Any]) -> Response | None:
        path = environ.get("PATH_INFO", "")
        parts = [p for p in path.split("/") if p]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return text("400 Bad Request", "Content-Length is not a number")
        if length > self.max_body:
            return text("413 Request Entity Too Large",
                         f"the body has {length} bytes; this server takes at most {self.max_body}")
        if len(parts) != 3 or parts[1] not in COMPONENTS:
            return None
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        if parts[1] == BOOKINGS:
            return text("403 Forbidden", "bookings calendars are read-only: book a resource by inviting it")
        try:
            cal = mapping.parse_calendar(raw)
            mapping.check_component(cal, COMPONENTS[parts[1]])
        except mapping.UnsupportedComponent as exc:
            return precondition("supported-calendar-component", str(exc))
        except mapping.InvalidCalendarData as exc:
            return text("400 Bad Request", str(exc))
        requestlog.state().body = raw
        requestlog.state().calendar = cal
        return None


def _error(status: str, error: tuple[str, str]) -> Response:
    kind, message = error
    if kind == "supported-calendar-component":
        answer = precondition(kind, message)
    elif kind == "no-uid-conflict":
        answer = no_uid_conflict(message)
    else:
        answer = text(status, message)
    status, headers, body = answer
    return status, headers + [("Content-Length", str(len(body)))], body


def make_app(settings: Settings) -> Application:
    """Radicale with our plugins, configured from ``settings``."""
    from radicale import Application as RadicaleApplication
    from radicale import log

    log.setup()
    configuration = radicale_configuration(settings)
    log.set_level(settings.log_level, False)
    return Application(RadicaleApplication(configuration), settings.max_body, db.get_engine(settings.database or None))
