"""Free/busy and the parts of CalDAV scheduling (RFC 6638) clients need to
treat the CRM's meetings as invitations.

Radicale knows neither, so this layer answers them itself:

- a ``free-busy-query`` REPORT (RFC 4791 7.10) on any user's ``meetings`` or
  any resource's ``bookings``, for every logged-in user (a colleague's
  calendar is otherwise closed to them): busy periods only, from
  ``server.services.freebusy``; on a personal calendar, for its owner only,
  that calendar's busy time;
- a VFREEBUSY request POSTed to one's own outbox (RFC 6638 3.2.5.1), what
  Apple Calendar's and Thunderbird's availability views send: one
  ``C:response`` per recipient;
- on a user's principal, ``calendar-user-address-set`` with the user's
  ``mailto:`` address first (RFC 6638 2.4.1: clients find "me" among the
  ATTENDEEs by it), and ``schedule-inbox-URL`` / ``schedule-outbox-URL``;
- ``calendar-auto-schedule`` in the DAV header (RFC 6638 2.1): invitations
  are delivered inside the server, into the invitees' ``meetings``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import defusedxml.ElementTree as SafeET
from icalendar import Calendar
from sqlalchemy import Engine

from server.dav import errors
from server.dav.basic_auth import credentials
from server.services import auth, calendars, freebusy
from server.services.errors import Forbidden, InvalidCalendarData, InvalidFollowup

D, C = "DAV:", "urn:ietf:params:xml:ns:caldav"
FREE_BUSY_QUERY = f"{{{C}}}free-busy-query"
INBOX, OUTBOX = "inbox", "outbox"
MAX_RECIPIENTS = 50
AUTO_SCHEDULE = "calendar-auto-schedule"


def user_of(engine: Engine, environ: dict[str, Any]) -> str | None:
    """The logged-in user, or None (then Radicale answers, with its delay)."""
    found = credentials(environ)
    if found is None or not auth.authenticate(engine, *found):
        return None
    return found[0]


def _time(text: str | None) -> datetime:
    try:
        return datetime.strptime(text or "", "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidFollowup(f"a time-range needs UTC times such as 20260301T000000Z, not {text!r}") from None


def is_freebusy_query(body: bytes) -> bool:
    """Whether a REPORT body is a free-busy-query: its root element, parsed only
    when the name occurs at all (every sync and query is a REPORT too)."""
    if b"free-busy-query" not in body:
        return False
    try:
        return bool(SafeET.fromstring(body).tag == FREE_BUSY_QUERY)
    except Exception:  # noqa: BLE001 (any unparsable body is Radicale's to answer)
        return False


def freebusy_report(engine: Engine, user: str, parts: list[str], body: bytes) -> errors.Response:
    """RFC 4791 7.10: the busy periods of /principal/calendar/ in the query's range."""
    principal, name = parts
    view = calendars.collection(engine, principal, name)
    own = view is not None and view.kind == "personal" and principal == user  # closed to everyone else
    if view is None or (view.component != "VEVENT" and not own):
        raise Forbidden(f"/{principal}/{name}/ has no free/busy: ask a user's meetings or a resource's bookings")
    query = SafeET.fromstring(body)
    time_range = query.find(f"{{{C}}}time-range")
    if time_range is None:
        raise InvalidFollowup("a free-busy-query needs a time-range")
    start, end = freebusy.window(_time(time_range.get("start")), _time(time_range.get("end")))
    text = freebusy.vfreebusy(freebusy.periods(engine, principal, start, end, name if own else None), start, end)
    return "200 OK", [("Content-Type", "text/calendar; charset=utf-8")], text.encode()


def outbox_post(engine: Engine, user: str, parts: list[str], body: bytes) -> errors.Response:
    """RFC 6638 3.2.5.1: a VFREEBUSY request to one's own outbox; a
    ``C:schedule-response`` with each recipient's busy time."""
    if parts[0] != user:
        raise Forbidden("only the owner of an outbox may post to it")
    try:
        cal = Calendar.from_ical(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCalendarData(f"the body is not iCalendar: {exc}") from None
    except RecursionError:
        raise InvalidCalendarData("the body nests its components too deeply") from None
    requests = [c for c in cal.walk("VFREEBUSY")]
    if len(requests) != 1:
        raise InvalidCalendarData("post exactly one VFREEBUSY request to the outbox")
    request = requests[0]
    try:
        start, end = request.decoded("DTSTART"), request.decoded("DTEND")
    except (KeyError, ValueError):
        raise InvalidCalendarData("the VFREEBUSY request needs DTSTART and DTEND as UTC date-times") from None
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        raise InvalidCalendarData("DTSTART and DTEND of a VFREEBUSY request are date-times")
    start, end = freebusy.window(start, end)
    attendees = request.get("ATTENDEE", [])
    attendees = attendees if isinstance(attendees, list) else [attendees]
    if not attendees or len(attendees) > MAX_RECIPIENTS:
        raise InvalidCalendarData(f"a VFREEBUSY request names 1 to {MAX_RECIPIENTS} ATTENDEEs")
    organizer = str(request.get("ORGANIZER", ""))
    uid = str(request.get("UID", ""))
    root = ET.Element(f"{{{C}}}schedule-response")
    known: dict[str, list[freebusy.Busy]] = {}  # each principal's periods once, however often it is named
    for attendee in attendees:
        address = str(attendee)
        response = ET.SubElement(root, f"{{{C}}}response")
        ET.SubElement(ET.SubElement(response, f"{{{C}}}recipient"), f"{{{D}}}href").text = address
        principal = calendars.principal_by_address(engine, address)
        status = ET.SubElement(response, f"{{{C}}}request-status")
        if principal is None:
            status.text = "3.7;Invalid calendar user"
            continue
        status.text = "2.0;Success"
        extra = ([f"UID:{uid}"] if uid else []) + ([f"ORGANIZER:{organizer}"] if organizer else [])
        extra.append(f"ATTENDEE:{address}")
        if principal not in known:
            known[principal] = freebusy.periods(engine, principal, start, end)
        found = known[principal]
        ET.SubElement(response, f"{{{C}}}calendar-data").text = freebusy.vfreebusy(found, start, end, extra, "REPLY")
    text = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return "200 OK", [("Content-Type", "application/xml; charset=utf-8")], text


def dav_header(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The DAV header with ``calendar-auto-schedule`` added (RFC 6638 2.1)."""
    return [(k, f"{v}, {AUTO_SCHEDULE}" if k.lower() == "dav" and AUTO_SCHEDULE not in v else v)
            for k, v in headers]


def principal_properties(engine: Engine, login: str, body: bytes) -> bytes:
    """A PROPFIND answer on principals with the scheduling properties filled
    in: the user's ``mailto:`` first in ``calendar-user-address-set``, and
    ``schedule-inbox-URL`` / ``schedule-outbox-URL`` moved from "not found"
    to found. Anything else is left as Radicale wrote it."""
    try:
        root = SafeET.fromstring(body)
    except Exception:  # noqa: BLE001 (not ours to fix)
        return body
    changed = False
    principal = calendars.principal(engine, login)
    if principal is None or principal.kind != "user":
        return body
    for response in root.findall(f"{{{D}}}response"):
        href = response.findtext(f"{{{D}}}href", "")
        if not href.endswith(f"/{login}/"):
            continue
        found = _propstat(response, "200")
        for prop in list(found.iter(f"{{{C}}}calendar-user-address-set")) if found is not None else []:
            if principal.email and not any(h.text == f"mailto:{principal.email}" for h in prop):
                mail = ET.Element(f"{{{D}}}href")
                mail.text = f"mailto:{principal.email}"
                prop.insert(0, mail)
                changed = True
        missing = _propstat(response, "404")
        if missing is None:
            continue
        for tag, box in ((f"{{{C}}}schedule-inbox-URL", INBOX), (f"{{{C}}}schedule-outbox-URL", OUTBOX)):
            prop_parent = missing.find(f"{{{D}}}prop")
            element = prop_parent.find(tag) if prop_parent is not None else None
            if element is None or prop_parent is None:
                continue
            prop_parent.remove(element)
            ET.SubElement(element, f"{{{D}}}href").text = f"{href.rstrip('/')}/{box}/"
            if found is None:
                found = ET.SubElement(response, f"{{{D}}}propstat")
                ET.SubElement(found, f"{{{D}}}prop")
                ET.SubElement(found, f"{{{D}}}status").text = "HTTP/1.1 200 OK"
            found_prop = found.find(f"{{{D}}}prop")
            assert found_prop is not None
            found_prop.append(element)
            changed = True
        emptied = missing.find(f"{{{D}}}prop")
        if emptied is not None and len(emptied) == 0:
            response.remove(missing)
    if not changed:
        return body
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _propstat(response: ET.Element, code: str) -> ET.Element | None:
    for propstat in response.findall(f"{{{D}}}propstat"):
        if f" {code} " in (propstat.findtext(f"{{{D}}}status", "") + " "):
            return propstat
    return None
