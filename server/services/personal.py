"""Personal calendars: the ones a user's client makes beside the CRM's.

The spec ("Collections"): MKCALENDAR, or extended MKCOL (RFC 4791 5.3.1,
RFC 5689), under one's own home makes a plain calendar, stored in the same
tables as the CRM's (the same revisions and tombstones, so sync tokens work
the same), with kind ``personal`` and the component set the client asked
for. Its objects are kept as the client sent them, byte for byte, and never
become follow-ups: the diary, Activities, conflicts, exports and feeds read
follow-ups or the CRM's calendars, so they never see them. Only the owner's
free/busy counts their events (``server.services.freebusy``).

:mod:`server.services.calendars` hands its writes here when the collection
is personal; nothing here knows HTTP or Radicale.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from icalendar import Calendar

from mapping import plain
from mapping.timerange import exact_of
from server.services.errors import (
    Conflict,
    Forbidden,
    NotFound,
    UidConflict,
    UnsupportedComponent,
    check_preconditions,
)
from server.services.projection import BOOKINGS, MEETINGS, TASKS, etag_of
from store.calendar import Rendered
from store.orm import CollectionRow, ObjectRow
from store.uow import UnitOfWork

PERSONAL = "personal"
RESERVED = frozenset({MEETINGS, TASKS, BOOKINGS, "inbox", "outbox"})
"""Names in a home that are never a personal calendar: the CRM's calendars and
the scheduling boxes (RFC 6638); names beginning with "." neither."""
COMPONENT_SET = "C:supported-calendar-component-set"


@dataclass(frozen=True)
class Limits:
    max_calendars: int = 20
    max_personal_objects: int = 10_000


_limits = Limits()


def configure(settings: Any) -> None:
    """The limits from the server's settings (once, at startup)."""
    global _limits
    _limits = Limits(settings.max_calendars, settings.max_personal_objects)


def is_personal_name(name: str) -> bool:
    """Whether a name in a home can be a personal calendar."""
    return bool(name) and name not in RESERVED and not name.startswith(".")


def components_of(row: CollectionRow) -> list[str]:
    return row.component.split(",")


def _own(row: CollectionRow, user: str) -> None:
    if row.principal != user:
        raise Forbidden(f"/{row.principal}/{row.name}/ belongs to another user")


# -- the calendar -------------------------------------------------------------------


def refuse_name(name: str) -> None:
    """Forbidden for a name that cannot be a personal calendar."""
    if name in RESERVED:
        raise Forbidden(f"{name!r} is a name this server keeps for its own calendars: choose another name")
    if not is_personal_name(name):
        raise Forbidden(f"a calendar's name cannot begin with '.': {name!r}")


def create(uow: UnitOfWork, login: str, name: str, user: str, props: Mapping[str, str]) -> CollectionRow:
    """MKCALENDAR: a personal calendar at /login/name/ holding the components the
    client declares (all three when it declares none), with its properties."""
    if login != user:
        raise Forbidden(f"calendars are made in your own home, /{user}/, not in /{login}/")
    refuse_name(name)
    uow.users.by_login(login)  # a user's home, not a resource's
    if props.get("tag", "VCALENDAR") != "VCALENDAR":
        raise Forbidden("only calendars are made here: use MKCALENDAR, or MKCOL with the calendar resourcetype")
    if uow.calendars.find(login, name) is not None:
        raise Conflict(f"/{login}/{name}/ exists already")
    have = uow.calendars.count_personal(login)
    if have >= _limits.max_calendars:
        raise Forbidden(f"you have {have} personal calendars, the most this server allows "
                        f"(setting max_calendars = {_limits.max_calendars}): delete one first")
    asked = [c.strip().upper() for c in props.get(COMPONENT_SET, "").split(",") if c.strip()]
    unknown = [c for c in asked if c not in plain.PERSONAL_COMPONENTS]
    if unknown:
        raise UnsupportedComponent(
            unknown[0], f"a calendar here holds {', '.join(plain.PERSONAL_COMPONENTS)}, not {', '.join(unknown)}")
    components = ",".join(c for c in plain.PERSONAL_COMPONENTS if c in asked) or ",".join(plain.PERSONAL_COMPONENTS)
    stored = {**props, "tag": "VCALENDAR", COMPONENT_SET: components}
    return uow.calendars.create_personal(login, name, components, stored)


def drop(uow: UnitOfWork, login: str, name: str, user: str) -> None:
    """DELETE of a calendar: only a personal one, by its owner."""
    row = uow.calendars.get(login, name)
    if row.kind != PERSONAL:
        raise Forbidden(f"/{login}/{name}/ is made by the CRM; it cannot be deleted")
    _own(row, user)
    uow.calendars.drop(row)


def props_kept(row: CollectionRow, props: dict[str, str]) -> dict[str, str]:
    """PROPPATCH keeps what the calendar is: its type and component set."""
    current = json.loads(row.props)
    return {**props, "tag": "VCALENDAR", COMPONENT_SET: current.get(COMPONENT_SET, row.component)}


# -- its objects ----------------------------------------------------------------------


def put(uow: UnitOfWork, coll: CollectionRow, href: str, data: str, user: str, parsed: Calendar | None = None,
        if_match: str = "", if_none_match: bool = False) -> tuple[ObjectRow, bool]:
    """Create or replace the object at ``href`` with the client's text as sent.
    Returns the stored row and whether it replaced one."""
    _own(coll, user)
    row = uow.calendars.object_at(coll.id, href)
    check_preconditions(None if row is None else row.etag, if_match, if_none_match)
    cal = parsed if parsed is not None else plain.parse_plain(data)
    plain.check_plain_component(cal, components_of(coll))
    uid = plain.plain_uid(cal)
    start_ts, end_ts = plain.plain_range(cal)
    component = plain.plain_component(cal)
    rendered = Rendered(uid=uid, component=component, text=data, etag=etag_of(data), start_ts=start_ts,
                        end_ts=end_ts, exact=component == "VEVENT" and exact_of(cal))
    if row is not None:
        if row.uid != uid:
            raise UidConflict(row.uid, href)
        uow.calendars.change(row, rendered)
        return row, True
    clash = uow.calendars.href_of_uid(coll.id, uid)
    if clash is not None:
        raise UidConflict(uid, clash)
    if uow.calendars.count_members(coll.id) >= _limits.max_personal_objects:
        raise Forbidden(f"/{coll.principal}/{coll.name}/ holds {_limits.max_personal_objects} objects, the most "
                        "this server allows (setting max_personal_objects)")
    added = uow.calendars.add(coll.id, None, href, rendered)
    if added is None:
        raise UidConflict(uid)
    return added, False


def delete(uow: UnitOfWork, coll: CollectionRow, href: str, user: str) -> None:
    _own(coll, user)
    row = uow.calendars.object_at(coll.id, href)
    if row is None:
        raise NotFound(f"no object {href} in /{coll.principal}/{coll.name}/")
    uow.calendars.remove(row)


def move(uow: UnitOfWork, src: CollectionRow, href: str, dst: CollectionRow, to_href: str, user: str) -> None:
    """MOVE within or between one user's personal calendars; an object never
    moves between a personal calendar and the CRM's (it is no follow-up)."""
    _own(src, user)
    _own(dst, user)
    if src.kind != PERSONAL or dst.kind != PERSONAL:
        raise Forbidden("objects move between personal calendars only; the CRM's follow-ups stay in its calendars")
    row = uow.calendars.object_at(src.id, href)
    if row is None:
        raise NotFound(f"no object {href} in /{src.principal}/{src.name}/")
    if row.component not in components_of(dst):
        raise UnsupportedComponent(
            row.component, f"/{dst.principal}/{dst.name}/ takes {dst.component}, not {row.component}")
    target = uow.calendars.object_at(dst.id, to_href)
    if target is not None and target.id != row.id:
        raise UidConflict(target.uid, target.href)
    if src.id == dst.id:
        if target is None:
            uow.calendars.rename(row, to_href)
        return
    clash = uow.calendars.href_of_uid(dst.id, row.uid)
    if clash is not None:
        raise UidConflict(row.uid, clash)
    rendered = Rendered(uid=row.uid, component=row.component, text=row.text, etag=row.etag, start_ts=row.start_ts,
                        end_ts=row.end_ts, exact=row.exact)
    uow.calendars.remove(row)
    uow.session.flush()
    uow.calendars.add(dst.id, None, to_href, rendered)
