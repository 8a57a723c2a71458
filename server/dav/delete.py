"""DELETE of a calendar object in one's own calendar, answered without Radicale.

Through Radicale, a DELETE reads the whole principal and the calendar in
read transactions of their own (``discover``), checks the login through the
auth plugin and only then opens the write transaction that deletes: about
half of a DELETE's time. For an authenticated user deleting from their own
calendar (``calendars.may_write``), the lookup, the If-Match check
(RFC 9110 13.1.1) and the delete are one
:class:`~server.services.calendars.WriteRequest` here, answered as Radicale
answers a DELETE (200 and a multistatus naming the href, RFC 4918 9.6,
gzipped when the client accepts it). Everything else goes on to Radicale: a
missing or wrong login, someone else's calendar (a lead's, a colleague's, a
resource's bookings), an unsafe or unusual path, a base prefix, a missing
object or calendar (Radicale's 404).
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from radicale import pathutils, xmlutils
from sqlalchemy import Engine

from server.dav import basic_auth, errors, put, radicale_form
from server.services import calendars
from server.services.errors import NotFound

CONTENT_TYPE = "text/xml; charset=utf-8"


def answer(path: str, environ: dict[str, Any]) -> errors.Response:
    """Radicale's answer to a DELETE of ``path`` that succeeded (radicale.app.delete)."""
    multistatus = ET.Element(xmlutils.make_clark("D:multistatus"))
    response = ET.SubElement(multistatus, xmlutils.make_clark("D:response"))
    ET.SubElement(response, xmlutils.make_clark("D:href")).text = xmlutils.make_href("", path)
    ET.SubElement(response, xmlutils.make_clark("D:status")).text = xmlutils.make_response(200)
    body, headers = radicale_form.gzip_if_accepted(environ, radicale_form.write_xml(multistatus),
                                                   [("Content-Type", CONTENT_TYPE)])
    return "200 OK", headers, body


def handle(engine: Engine, environ: dict[str, Any], parts: list[str]) -> errors.Response | None:
    """The answer to a DELETE of /parts[0]/parts[1]/parts[2], or None to let Radicale answer it."""
    path = environ.get("PATH_INFO", "")
    if (len(parts) != 3 or path != pathutils.sanitize_path(path) or path.endswith("/")
            or environ.get("SCRIPT_NAME") or environ.get("HTTP_X_SCRIPT_NAME")):
        return None
    principal, name, href = parts
    found = basic_auth.credentials(environ)
    if (found is None or not calendars.may_write(found[0], principal, name)
            or not pathutils.is_safe_filesystem_path_component(href)):
        return None
    if_match = environ.get("HTTP_IF_MATCH", "")

    def write(request: calendars.WriteRequest) -> errors.Response | None:
        try:
            request.run(lambda uow, user: calendars.delete(uow, principal, name, href, user, if_match=if_match))
        except NotFound:
            return None  # no such object or calendar: Radicale's 404
        except errors.ANSWERED as exc:
            return errors.response(exc)
        return answer(path, environ)

    return put.as_owner(engine, principal, found, write)
