"""The calendar projection: each collection's objects, rendered ahead of time.

When a follow-up changes, by the CRM or by a client, it is rendered once and
the text, etag, UID, component and indexable time range are written into
every collection that shows it, in the same transaction as the change.
Reads (PROPFIND, REPORT, GET, sync) never parse or render.

The projection follows every change without any service having to ask:
:func:`follow` is the unit of work's before-commit handler (see
:func:`server.services.transaction.transaction`). It receives what the unit
of work recorded as changed (follow-ups, and the users, resources,
companies, persons, sales, projects, types and custom fields they show) and
renders again every follow-up that shows a changed record. A PUT projects
its follow-up itself (it answers with the stored object); what it projects
is then no longer pending.

A client's own object keeps the client's text (the mapping spec,
"Identity"): the row stores the bytes the client PUT and, as ``base_text``,
the rendering they were reconciled with. A later rendering that differs from
it in more than DTSTAMP/LAST-MODIFIED is patched into the client's text
(:func:`mapping.patch`); one that does not leaves the row alone, so a CRM
change no client sees reports nothing to syncing clients.

How the rows are stored (revision counters, tombstones) is the store's
business: :class:`store.calendar.Calendars`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from icalendar import Calendar

import mapping
from server.services import conflicts
from server.services.directory import DbDirectory
from store.calendar import Rendered, member_href
from store.domain import Followup, Kind, PartStat, Resource, User
from store.orm import ObjectRow
from store.uow import UnitOfWork

MEETINGS, TASKS, BOOKINGS = "meetings", "tasks", "bookings"
COMPONENTS = {MEETINGS: "VEVENT", TASKS: "VTODO", BOOKINGS: "VEVENT"}
COLOURS = {MEETINGS: "#1E88E5FF", TASKS: "#43A047FF", BOOKINGS: "#8E24AAFF"}
TITLES = {MEETINGS: "Meetings", TASKS: "To-dos and calls", BOOKINGS: "Bookings"}
USER_COLLECTIONS = (MEETINGS, TASKS)


@dataclass(frozen=True)
class Target:
    principal: str
    name: str


def etag_of(text: str) -> str:
    return '"{}"'.format(hashlib.sha256(text.encode("utf-8")).hexdigest()[:40])


# -- collections ----------------------------------------------------------------


def _ensure(uow: UnitOfWork, principal: str, name: str, displayname: str) -> None:
    uow.calendars.ensure(principal, name, COMPONENTS[name], {
        "tag": "VCALENDAR",
        "D:displayname": displayname,
        "ICAL:calendar-color": COLOURS[name],
        "C:supported-calendar-component-set": COMPONENTS[name],
    })


def ensure_user_collections(uow: UnitOfWork, user: User) -> None:
    for name in USER_COLLECTIONS:
        _ensure(uow, user.login, name, f"{user.name} - {TITLES[name]}")


def ensure_resource_collection(uow: UnitOfWork, resource: Resource) -> None:
    _ensure(uow, resource.login, BOOKINGS, f"{resource.name} - {TITLES[BOOKINGS]}")


# -- follow-ups into collections ---------------------------------------------------


def targets(f: Followup, d: DbDirectory) -> list[Target]:
    """Where a follow-up shows: the owner's calendar, each invited CRM user's
    (unless they declined) and each booked resource's (unless it declined)."""
    owner = d.user(f.owner_id)
    if f.kind is not Kind.MEETING:
        return [Target(owner.login, TASKS)]
    found = [Target(owner.login, MEETINGS)]
    for p in f.participants:
        if p.user_id is not None and p.user_id != f.owner_id and p.partstat is not PartStat.DECLINED:
            found.append(Target(d.user(p.user_id).login, MEETINGS))
    found += [Target(d.resource(rid).login, BOOKINGS) for rid in f.resource_ids
              if rid not in f.declined_resource_ids]
    return list(dict.fromkeys(found))


def render(f: Followup, d: DbDirectory, organizer_copy: bool = False) -> Rendered:
    """The follow-up as a collection stores it (see :func:`copy_for`)."""
    text = mapping.render_text(f, d, organizer_copy)
    start_ts, end_ts = mapping.time_range(f)
    return Rendered(uid=f.uid, component=mapping.component_name(f.kind), text=text, etag=etag_of(text),
                    start_ts=start_ts, end_ts=end_ts, exact=_exact(f), private=f.private)


@dataclass(frozen=True)
class Sent:
    """What a client just wrote into one collection: the text as sent, its
    parse, and the follow-up that text declares (before the CRM's own rules
    ran on it: a resource declining on a clash, an invitee's copy taking the
    organizer's fields), when it may differ from what was stored."""

    text: str
    cal: Calendar
    declared: Followup | None = None


def _significant(f: Followup) -> Followup:
    return replace(f, id=None, created_at=None, modified_at=None)


def _sent_copy(r: Rendered, sent: Sent, stored: Followup, d: DbDirectory, organizer_copy: bool) -> Rendered:
    """The client's text as the row keeps it (:func:`client_copy`), with
    whatever the CRM decided otherwise patched in, so the client reads it back
    on its next GET: where ``stored`` is not what the text declares (an
    invitee's change of the organizer's fields, a resource declining on a
    clash), and what the mapping derived that the text does not state
    (``mapping.patch.correct``: stale X-CRM-* values, a ticked-off call's start)."""
    text = sent.text
    if sent.declared is not None and _significant(sent.declared) != _significant(stored):
        declared = mapping.render_text(sent.declared, d, organizer_copy)
        if mapping.rendering_differs(declared, r.text):
            text = mapping.patch(text, declared, r.text)
    cal = sent.cal if text == sent.text else mapping.parse_calendar(text)
    span = mapping.time_range(cal)
    derived = span != (r.start_ts, r.end_ts)
    if derived or "X-CRM-" in text or "METHOD" in text:
        corrected = mapping.patch_correct(text, r.text, times=derived)
        if corrected != text:
            text, cal = corrected, mapping.parse_calendar(corrected)
            span = mapping.time_range(cal)
    return client_copy(r, text, cal, span)


def client_copy(r: Rendered, text: str, cal: Calendar | None = None,
                span: tuple[int, int] | None = None) -> Rendered:
    """A client's text (parsed: ``cal``) stored in place of the rendering ``r``:
    its own etag, and the time range of what it holds (RFC 4791 9.9 judges the
    object as stored: an undated to-do the client wrote matches every range)."""
    cal = cal if cal is not None else mapping.parse_calendar(text)
    start_ts, end_ts = span if span is not None else mapping.time_range(cal)
    return replace(r, text=text, etag=etag_of(text), start_ts=start_ts, end_ts=end_ts, exact=mapping.exact_of(cal),
                   base_text=r.text)


def reconcile(row: ObjectRow, r: Rendered) -> Rendered:
    """What a row holding a client's text stores after the rendering became ``r``
    (see the module's docstring); ``r`` itself for a row holding a rendering."""
    if row.base_text is None:
        return r
    if not mapping.rendering_differs(row.base_text, r.text):
        return _kept(row, r.private, row.base_text)
    patched = mapping.patch(row.text, row.base_text, r.text)
    if patched == row.text:
        return _kept(row, r.private, r.text)
    try:
        return client_copy(r, patched)
    except ValueError:
        return r  # not expected; the rendering is always a valid object


def _kept(row: ObjectRow, private: bool, base_text: str) -> Rendered:
    return Rendered(uid=row.uid, component=row.component, text=row.text, etag=row.etag, start_ts=row.start_ts,
                    end_ts=row.end_ts, exact=row.exact, private=private, base_text=base_text)


def copy_for(f: Followup, target: Target, d: DbDirectory) -> Followup:
    """The follow-up as the calendar at ``target`` shows it (mapping spec,
    "Invitees' own data"): the owner's copy carries the owner's alarm and
    client lines; an invited user's copy carries only that user's own alarm
    and client lines; a resource's bookings carry neither."""
    if target.name == BOOKINGS:
        return replace(f, alarm_minutes=None, client_data=None)
    if target.principal == d.user(f.owner_id).login:
        return f
    for p in f.participants:
        if p.user_id is not None and d.user(p.user_id).login == target.principal:
            return replace(f, alarm_minutes=p.alarm_minutes, client_data=p.client_data)
    return replace(f, alarm_minutes=None, client_data=None)


def _renderer(f: Followup, d: DbDirectory) -> Callable[[Target], Rendered]:
    """Render each distinct copy of ``f`` once (invitees without data of their
    own and the bookings share one text)."""
    done: dict[tuple[bool, int | None, str | None], Rendered] = {}
    organizer = Target(d.user(f.owner_id).login, MEETINGS if f.kind is Kind.MEETING else TASKS)

    def rendered(target: Target) -> Rendered:
        copy = copy_for(f, target, d)
        key = (target == organizer, copy.alarm_minutes, copy.client_data)
        if key not in done:
            done[key] = render(copy, d, organizer_copy=key[0])
        return done[key]

    return rendered


def project(uow: UnitOfWork, d: DbDirectory, f: Followup,
            hrefs: dict[Target, str] | None = None, new: bool = False,
            sent: dict[Target, Sent] | None = None) -> dict[Target, ObjectRow]:
    """Render ``f`` and bring every collection that shows it up to date.

    ``hrefs`` names the href a client chose for the object in a collection;
    otherwise an existing object keeps its href and a new one is named from its
    UID (:func:`store.calendar.member_href`).
    ``new`` says the follow-up was just added, so it has no objects yet.
    ``sent`` is what a client just wrote into a collection: that copy stores
    it (:func:`client_copy`); other copies with a client's text are patched
    (:func:`reconcile`).
    """
    assert f.id is not None
    conflicts.settle(uow, d, f)  # the resources' answers first: they decide the text and the targets
    rendered = _renderer(f, d)
    existing = {} if new else {row.collection_id: row for row in uow.calendars.objects_of(f.id)}
    result: dict[Target, ObjectRow] = {}
    for target in targets(f, d):
        coll = uow.calendars.find(target.principal, target.name)
        if coll is None:
            continue
        r = rendered(target)
        if sent and target in sent:
            organizer_copy = f.kind is Kind.MEETING and target == Target(d.user(f.owner_id).login, MEETINGS)
            r = _sent_copy(r, sent[target], copy_for(f, target, d), d, organizer_copy)
        row = existing.pop(coll.id, None)
        if row is not None and not (sent and target in sent):
            r = reconcile(row, r)
        if row is None:
            row = uow.calendars.add(coll.id, f.id, (hrefs or {}).get(target) or member_href(f.uid), r)
            if row is None:
                continue  # that calendar already holds another object with this UID or href
        else:
            uow.calendars.change(row, r)
        result[target] = row
    for row in existing.values():
        uow.calendars.remove(row)
    uow.session.flush()
    uow.changed.get("followup", set()).discard(f.id)
    return result


def project_new(uow: UnitOfWork, d: DbDirectory, followups: list[Followup]) -> None:
    """:func:`project` for many new follow-ups (bulk import): each rendered
    once, one revision bump and a few inserts per collection."""
    pending: dict[int, list[tuple[int, Rendered]]] = {}
    for f in followups:
        assert f.id is not None
        rendered = _renderer(f, d)
        for target in targets(f, d):
            coll = uow.calendars.find(target.principal, target.name)
            if coll is not None:
                pending.setdefault(coll.id, []).append((f.id, rendered(target)))
        uow.changed.get("followup", set()).discard(f.id)
    for collection_id, members in pending.items():
        uow.calendars.add_many(collection_id, members)


def follow(uow: UnitOfWork) -> None:
    """The before-commit handler: bring the calendars up to date with what
    the unit of work changed (see the module's docstring)."""
    changed = uow.take_changes()
    d = DbDirectory(uow)
    for id in changed.get("user", ()):
        ensure_user_collections(uow, uow.users.get(id))
    for id in changed.get("resource", ()):
        ensure_resource_collection(uow, uow.resources.get(id))
    ids = set(changed.pop("followup", ()))
    for kind, record_ids in changed.items():
        ids |= uow.followups.showing(kind, record_ids)
    for f in uow.followups.get_many(sorted(ids)):
        project(uow, d, f)


def _exact(f: Followup) -> bool:
    """Whether the indexed range is the object's real extent: not for
    recurrences, nor for dates and floating times, whose instant depends on
    the client's time zone."""
    if f.recurrence is not None or f.overrides:
        return False
    moments = [m for m in (f.start, f.end, f.deadline, f.completed_at) if m is not None]
    return all(isinstance(m, datetime) and m.tzinfo is not None for m in moments)
