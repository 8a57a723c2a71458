"""Plain WSGI answers: a status line, headers and a body."""

from __future__ import annotations

Response = tuple[str, list[tuple[str, str]], bytes]

PRECONDITION = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<D:error xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    "<C:{name}/><D:responsedescription>{text}</D:responsedescription></D:error>"
)


def _xml_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def text(status: str, message: str) -> Response:
    return status, [("Content-Type", "text/plain; charset=utf-8")], (message + "\n").encode()


def precondition(name: str, message: str, status: str = "403 Forbidden") -> Response:
    """A CalDAV precondition failure (RFC 4791 1.3): the element names it."""
    body = PRECONDITION.format(name=name, text=_xml_escape(message)).encode()
    return status, [("Content-Type", "application/xml; charset=utf-8")], body


def no_uid_conflict(message: str) -> Response:
    """RFC 4791 5.3.2.1: the UID is used by another object of the collection."""
    return precondition("no-uid-conflict", message, "409 Conflict")
