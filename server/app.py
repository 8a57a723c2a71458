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

import mapping
from server import requestlog
from server.config import Settings, radicale_configuration
from server.projection import BOOKINGS, COMPONENTS

PRECONDITION = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<D:error xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    "<C:{name}/><D:responsedescription>{text}</D:responsedescription></D:error>"
)

StartResponse = Callable[..., Any]


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Application:
    """WSGI callable: prechecks, then Radicale."""

    def __init__(self, radicale_app: Any, max_body: int) -> None:
        self.radicale = radicale_app
        self.max_body = max_body

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        requestlog.reset()
        if environ.get("REQUEST_METHOD", "GET").upper() == "PUT":
            answer = self._precheck_put(environ)
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

    def _precheck_put(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes] | None:
        path = environ.get("PATH_INFO", "")
        parts = [p for p in path.split("/") if p]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _text("400 Bad Request", "Content-Length is not a number")
        if length > self.max_body:
            return _text("413 Request Entity Too Large",
                         f"the body has {length} bytes; this server takes at most {self.max_body}")
        if len(parts) != 3 or parts[1] not in COMPONENTS:
            return None
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        if parts[1] == BOOKINGS:
            return _text("403 Forbidden", "bookings calendars are read-only: book a resource by inviting it")
        try:
            cal = mapping.parse_calendar(raw)
            mapping.check_component(cal, COMPONENTS[parts[1]])
        except mapping.UnsupportedComponent as exc:
            return _precondition("supported-calendar-component", str(exc))
        except mapping.InvalidCalendarData as exc:
            return _text("400 Bad Request", str(exc))
        requestlog.state().body = raw
        requestlog.state().calendar = cal
        return None


def _text(status: str, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "text/plain; charset=utf-8")], (message + "\n").encode()


def _precondition(name: str, message: str, status: str = "403 Forbidden") -> tuple[str, list[tuple[str, str]], bytes]:
    body = PRECONDITION.format(name=name, text=_xml_escape(message)).encode()
    return status, [("Content-Type", "application/xml; charset=utf-8")], body


def _error(status: str, error: tuple[str, str]) -> tuple[str, list[tuple[str, str]], bytes]:
    kind, message = error
    if kind == "supported-calendar-component":
        answer = _precondition(kind, message, "403 Forbidden")
    elif kind == "no-uid-conflict":
        answer = _precondition(kind, message, "409 Conflict")
    else:
        answer = _text(status, message)
    status, headers, body = answer
    return status, headers + [("Content-Length", str(len(body)))], body


def make_app(settings: Settings) -> Application:
    """Radicale with our plugins, configured from ``settings``."""
    from radicale import Application as RadicaleApplication
    from radicale import log

    log.setup()
    configuration = radicale_configuration(settings)
    log.set_level(settings.log_level, False)
    return Application(RadicaleApplication(configuration), settings.max_body)
