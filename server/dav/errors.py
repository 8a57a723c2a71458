"""The one table from application errors to HTTP answers.

Every path that answers a client uses it: the PUT path (``server.dav.put``),
the WSGI application's checks before Radicale (``server.dav.app``), and the
Radicale plugins, through :func:`for_radicale` (Radicale itself understands
only ``ValueError`` -> 400, a ``ValueError`` naming EPERM -> 403, and
anything else -> 500). The errors carry no HTTP; their order in
:data:`TABLE` is most specific first.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from server.services import errors as app

Response = tuple[str, list[tuple[str, str]], bytes]


class BadRequest(Exception):
    """A request refused by the HTTP layer itself, before any service sees it:
    a path that is not UTF-8, XML with a DOCTYPE or nested too deep."""


class UnsupportedMediaType(Exception):
    """A PUT whose Content-Type is not ``text/calendar`` (RFC 4791 5.3.2)."""


class LengthRequired(Exception):
    """A chunked body the WSGI server hands over undelimited (no
    ``wsgi.input_terminated``): its end cannot be found without reading past it."""


@dataclass(frozen=True)
class Answer:
    status: str
    precondition: str | None = None
    """The qualified name of the precondition element (RFC 4918 16, RFC 4791 1.3), if any."""


TABLE: tuple[tuple[type[BaseException], Answer], ...] = (
    (app.UnsupportedComponent, Answer("403 Forbidden", "C:supported-calendar-component")),
    (app.InvalidCalendarData, Answer("400 Bad Request")),
    (app.InvalidSyncToken, Answer("403 Forbidden", "D:valid-sync-token")),
    (app.InvalidFollowup, Answer("400 Bad Request")),
    (app.Forbidden, Answer("403 Forbidden")),
    (app.PreconditionFailed, Answer("412 Precondition Failed")),
    (app.UidConflict, Answer("409 Conflict", "C:no-uid-conflict")),
    (app.Conflict, Answer("409 Conflict")),
    (app.NotFound, Answer("404 Not Found")),
    (app.BodyTooLarge, Answer("413 Content Too Large")),
    (BadRequest, Answer("400 Bad Request")),
    (UnsupportedMediaType, Answer("415 Unsupported Media Type")),
    (LengthRequired, Answer("411 Length Required")),
)
ANSWERED: tuple[type[BaseException], ...] = tuple(cls for cls, _ in TABLE)
"""Every error the table answers: catch these, let anything else be a 500."""

_NAMESPACES = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav"}
_ERROR = ('<?xml version="1.0" encoding="utf-8"?>\n'
          '<D:error xmlns:D="DAV:"{extra}><{element}/><D:responsedescription>{text}</D:responsedescription>'
          '</D:error>')


def answer_for(exc: BaseException) -> Answer | None:
    for cls, answer in TABLE:
        if isinstance(exc, cls):
            return answer
    return None


def _xml_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def text(status: str, message: str) -> Response:
    return status, [("Content-Type", "text/plain; charset=utf-8")], (message + "\n").encode()


def response(exc: BaseException) -> Response:
    """The answer to ``exc``: its status, and its precondition element when it
    has one (an XML error body), else the message as plain text."""
    answer = answer_for(exc)
    if answer is None:
        raise TypeError(f"no answer for {type(exc).__name__}") from exc
    if answer.precondition is None:
        return text(answer.status, str(exc))
    prefix, _, name = answer.precondition.partition(":")
    extra = "" if prefix == "D" else f' xmlns:{prefix}="{_NAMESPACES[prefix]}"'
    body = _ERROR.format(extra=extra, element=answer.precondition, text=_xml_escape(str(exc))).encode()
    return answer.status, [("Content-Type", "application/xml; charset=utf-8")], body


def for_radicale(exc: BaseException) -> BaseException:
    """``exc`` as Radicale's request handlers understand it: a 403 as a
    ``ValueError`` naming EPERM, any other 4xx as a ``ValueError``, the rest
    unchanged (a 500)."""
    answer = answer_for(exc)
    if answer is None:
        return exc
    if answer.status.startswith("403"):
        return ValueError(f"[Errno {errno.EPERM}] {exc}")
    return ValueError(str(exc))
