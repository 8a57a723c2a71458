"""Import of a calendar file (an export of Google Calendar, Outlook, Apple Calendar,
Thunderbird, or of this server) into one user's calendars.

The file is cut into one object per UID (``mapping.split``), and each object
comes in exactly as a client's PUT of it would: the same parse and limits
(``mapping.parse_calendar``), the same component check, the same
:func:`server.services.calendars.put`, into ``/<owner>/meetings/`` (VEVENT)
or ``/<owner>/tasks/`` (VTODO). An object a PUT would refuse is skipped with
the PUT's reason, and the rest comes in. A file that is not well-formed as a
whole (truncated, not iCalendar, not UTF-8) is refused before anything is
written.

Idempotent by UID. An object whose UID the owner already has is compared
with what is stored: the follow-up the mapping makes of it (with the stored
one as ``existing``, as a PUT would) against the stored follow-up, field by
field, leaving out the bookkeeping (id, stamps) and what the server derives
itself (a resource's decline, invitees' own alarms). Comparing follow-ups
rather than texts means DTSTAMP, LAST-MODIFIED, property order, folding and
the producer's PRODID, which differ between two exports of the same data,
never count as a change, while every field the CRM keeps (client data
included) does. An unchanged object is not written at all: no change-log
entry, no new revision of the calendar, so clients have nothing to sync.

Writes go in batches of :data:`BATCH` objects, one transaction (the store's
write lock) each, every object in a SAVEPOINT so that a refused one rolls
back alone. Objects are parsed before their batch's transaction opens, so
the lock is held only for the database work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, date, datetime
from typing import Any

from icalendar import Calendar
from sqlalchemy import Engine

import mapping
from mapping.foreign import drop_delivery_status, unlink_foreign
from mapping.split import Piece, split_calendar
from server.services import calendars
from server.services.directory import DbDirectory
from server.services.errors import InvalidCalendarData, NotFound, StoreError
from server.services.projection import MEETINGS, TASKS
from server.services.transaction import transaction
from store import db
from store.calendar import member_href
from store.domain import Followup, Kind, Source, User
from store.uow import UnitOfWork

BATCH = 25
"""Objects per write transaction: the write lock is held for one batch at a time (measured with
1000 events: at most 0.25 s per batch on SQLite, 0.45 s on PostgreSQL, on a busy 2-core machine)."""

COLLECTION_OF = {"VEVENT": MEETINGS, "VTODO": TASKS}
IGNORED_FIELDS = frozenset({"id", "created_at", "modified_at", "declined_resource_ids"})
"""Left out of the comparison: bookkeeping, and what the server decides (a resource's
decline, by its conflict policy) rather than the object."""
OWN_PARTICIPANT_DATA = frozenset({"alarm_minutes", "client_data"})
"""An invitee's own alarm and client lines live on their copy, never in the organizer's object."""
KIND_WORDS = {Kind.MEETING: "meeting", Kind.TODO: "to-do", Kind.CALL: "call"}


@dataclass
class Item:
    """One object of the file and what became of it."""

    uid: str
    summary: str
    component: str
    reason: str = ""
    """Why it was skipped (the PUT's own message where a PUT would refuse it)."""
    notes: list[str] = field(default_factory=list)
    """Links to CRM records that were dropped (``mapping.foreign``)."""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uid": self.uid, "summary": self.summary, "component": self.component}
        if self.reason:
            out["reason"] = self.reason
        if self.notes:
            out["notes"] = list(self.notes)
        return out


@dataclass
class ImportReport:
    """What an import did, object by object (``as_dict``: the stable shape of ``followups import --json``)."""

    owner: str
    dry_run: bool = False
    created: list[Item] = field(default_factory=list)
    updated: list[Item] = field(default_factory=list)
    unchanged: list[Item] = field(default_factory=list)
    skipped: list[Item] = field(default_factory=list)
    batches: int = 0
    longest_batch_ms: float = 0.0
    """How long the longest batch held the store's write lock (measured, for the record)."""

    @property
    def total(self) -> int:
        return len(self.created) + len(self.updated) + len(self.unchanged) + len(self.skipped)

    def counts(self) -> dict[str, int]:
        return {"created": len(self.created), "updated": len(self.updated),
                "unchanged": len(self.unchanged), "skipped": len(self.skipped)}

    def as_dict(self) -> dict[str, Any]:
        return {"owner": self.owner, "dry_run": self.dry_run, "counts": self.counts(),
                **{name: [i.as_dict() for i in getattr(self, name)]
                   for name in ("created", "updated", "unchanged", "skipped")}}


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (RFC 5545 §3.1.4: the default charset), a byte-order mark allowed."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidCalendarData(f"the file is not UTF-8 text (byte {exc.start} is not UTF-8); "
                                  "save it as UTF-8 and import it again") from None
    return text.removeprefix("\ufeff")


def import_calendar(engine: Engine, owner: str, data: bytes, progress: Callable[[int, int], None] | None = None,
                    *, dry_run: bool = False, max_object_bytes: int | None = None,
                    batch: int = BATCH) -> ImportReport:
    """Bring the file ``data`` into ``owner``'s calendars (see the module's docstring).

    Raises InvalidCalendarData, changing nothing, when the file is not UTF-8 iCalendar as a
    whole, and NotFound when ``owner`` is not a user. ``dry_run`` decides and reports every
    object the same way but rolls every batch back. ``progress(done, total)`` after each object.
    The statistics of tables it made stale are then refreshed (:func:`store.db.refresh_statistics`).
    """
    pieces = split_calendar(decode(data))
    with transaction(engine, write=False) as uow:
        try:
            user = uow.users.by_login(owner)
        except NotFound:
            raise NotFound(f"no user {owner!r} to import for (see `followups user list`)") from None
    report = ImportReport(owner=owner, dry_run=dry_run)
    done = 0
    for first in range(0, len(pieces), batch):
        chunk = [_prepare(p, max_object_bytes) for p in pieces[first:first + batch]]
        _write_batch(engine, user, chunk, report, dry_run)
        done += len(chunk)
        if progress is not None:
            progress(done, len(pieces))
    if report.created and not dry_run:
        db.refresh_statistics(engine)  # a large import leaves the planner's statistics stale
    return report


@dataclass
class _Prepared:
    item: Item
    text: str
    cal: Calendar | None = None


def _prepare(piece: Piece, max_object_bytes: int | None) -> _Prepared:
    """The piece parsed and checked as a PUT body is (outside any transaction), or its skip reason."""
    prepared = _Prepared(Item(piece.uid, piece.summary, piece.component), piece.text)
    if piece.component not in COLLECTION_OF:
        prepared.item.reason = (f"{piece.component} components are not stored here "
                                "(only events, VEVENT, and to-dos, VTODO)")
        return prepared
    size = len(piece.text.encode("utf-8"))
    if max_object_bytes is not None and size > max_object_bytes:
        prepared.item.reason = f"the object has {size} bytes; this server takes at most {max_object_bytes}"
        return prepared
    try:
        prepared.cal = mapping.parse_calendar(piece.text)
    except InvalidCalendarData as exc:
        prepared.item.reason = str(exc)
    return prepared


def _write_batch(engine: Engine, user: User, chunk: list[_Prepared], report: ImportReport, dry_run: bool) -> None:
    started = time.perf_counter()
    outcomes: list[tuple[str, Item]] = []
    with transaction(engine, actor=user.login, source=Source.CLIENT, write=True) as uow:
        d = DbDirectory(uow)
        for prepared in chunk:
            outcomes.append(_one(uow, d, user, prepared))
        if not dry_run:
            uow.commit()
    report.batches += 1
    report.longest_batch_ms = max(report.longest_batch_ms, (time.perf_counter() - started) * 1000)
    for outcome, item in outcomes:
        getattr(report, outcome).append(item)


def _one(uow: UnitOfWork, d: DbDirectory, user: User, prepared: _Prepared) -> tuple[str, Item]:
    """One object in its own SAVEPOINT: ("created" | "updated" | "unchanged" | "skipped", item)."""
    item = prepared.item
    if prepared.cal is None:
        return "skipped", item
    changed = {kind: set(ids) for kind, ids in uow.changed.items()}
    savepoint = uow.session.begin_nested()
    try:
        outcome = _bring_in(uow, d, user, prepared)
    except (InvalidCalendarData, StoreError, ValueError) as exc:
        savepoint.rollback()
        uow.changed = changed
        d.forget()
        item.reason = str(exc) or type(exc).__name__
        item.notes = []
        return "skipped", item
    savepoint.commit()
    return outcome, item


def _bring_in(uow: UnitOfWork, d: DbDirectory, user: User, prepared: _Prepared) -> str:
    cal, item = prepared.cal, prepared.item
    assert cal is not None
    name = COLLECTION_OF[item.component]
    coll = uow.calendars.get(user.login, name)
    mapping.check_component(cal, coll.component)
    uid = mapping.uid_of(cal)
    drop_delivery_status(cal)
    item.notes = unlink_foreign(cal, d)
    href = uow.calendars.href_of_uid(coll.id, uid)
    if href is None:
        _refuse_foreign_uid(uow, d, user, uid)
        calendars.put(uow, user.login, name, member_href(uid), prepared.text, user.login, cal)
        return "created"
    row = uow.calendars.object_at(coll.id, href)
    assert row is not None
    before = uow.followups.get(calendars.followup_of(row))
    if before.owner_id != user.id:
        organizer = d.user(before.owner_id)
        raise StoreError(f"already in {user.login}'s calendar as an invitation from {organizer.login}; "
                         "only the organizer's copy can change the meeting")
    after = mapping.to_followup(cal, user, d, existing=before, now=datetime.now(UTC))
    if same_followup(before, after):
        return "unchanged"
    calendars.put(uow, user.login, name, href, prepared.text, user.login, cal)
    return "updated"


def _refuse_foreign_uid(uow: UnitOfWork, d: DbDirectory, user: User, uid: str) -> None:
    """A UID is one follow-up (all copies of a meeting share it): refuse one that is already
    someone else's follow-up, or this user's in the other calendar."""
    for other in uow.followups.by_uid(uid):
        if other.owner_id == user.id:
            where = MEETINGS if other.kind is Kind.MEETING else TASKS
            raise StoreError(f"the UID is already {user.login}'s {KIND_WORDS[other.kind]} "
                             f"{other.title!r} in /{user.login}/{where}/; one UID is one follow-up")
        owner = d.user(other.owner_id)
        raise StoreError(f"the UID is already {owner.login}'s {KIND_WORDS[other.kind]} {other.title!r}, "
                         f"which {user.login} is not invited to; one UID is one follow-up")


def same_followup(a: Followup, b: Followup) -> bool:
    """Whether ``b`` changes nothing the CRM keeps of ``a`` (see the module's docstring)."""
    return _shape(a, IGNORED_FIELDS) == _shape(b, IGNORED_FIELDS)


def _shape(value: Any, ignored: frozenset[str] = frozenset()) -> Any:
    """A comparable picture of a value: datetimes with their zone (two equal instants in
    different zones differ; the store's ``timezone.utc`` and the mapping's UTC zone are
    both "UTC"), dataclasses field by field, lists in order."""
    if isinstance(value, datetime):
        zone = value.tzinfo
        return ("datetime", value.isoformat(), getattr(zone, "key", None) or (str(zone) if zone else None))
    if isinstance(value, date):
        return ("date", value.isoformat())
    if is_dataclass(value) and not isinstance(value, type):
        skip = ignored | (OWN_PARTICIPANT_DATA if type(value).__name__ == "Participant" else frozenset())
        return tuple((f.name, _shape(getattr(value, f.name))) for f in fields(value) if f.name not in skip)
    if isinstance(value, list | tuple):
        return tuple(_shape(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _shape(v)) for k, v in value.items()))
    return value


def iter_items(report: ImportReport) -> Iterator[tuple[str, Item]]:
    """Every item with what became of it, in the report's order."""
    for outcome in ("created", "updated", "unchanged", "skipped"):
        for item in getattr(report, outcome):
            yield outcome, item


__all__ = ["BATCH", "ImportReport", "Item", "decode", "import_calendar", "iter_items", "same_followup"]
