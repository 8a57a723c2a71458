"""The calendar projection: each collection's objects, rendered ahead of time.

When a follow-up changes, by the CRM or by a client, :func:`project` renders
it once and writes the text, etag, UID, component and indexable time range
into every collection that shows it, in the same transaction as the change.
Every write bumps the collection's revision counter; removed members leave a
tombstone. Reads (PROPFIND, REPORT, GET, sync) never parse or render, and a
sync token is just a revision: changes since it are an index range scan
(RFC 6578), O(changes) rather than O(collection).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

import mapping
from server.services.directory import DbDirectory
from store.domain import Followup, Kind, PartStat, Resource, User, utcnow
from store.errors import NotFound
from store.orm import CollectionRow, Meta, ObjectRow, TombstoneRow
from store.uow import UnitOfWork

MEETINGS, TASKS, BOOKINGS = "meetings", "tasks", "bookings"
COMPONENTS = {MEETINGS: "VEVENT", TASKS: "VTODO", BOOKINGS: "VEVENT"}
COLOURS = {MEETINGS: "#1E88E5FF", TASKS: "#43A047FF", BOOKINGS: "#8E24AAFF"}
TITLES = {MEETINGS: "Meetings", TASKS: "To-dos and calls", BOOKINGS: "Bookings"}


@dataclass(frozen=True)
class Target:
    principal: str
    name: str


def _now() -> datetime:
    return utcnow().replace(tzinfo=None)


def etag_of(text: str) -> str:
    return '"{}"'.format(hashlib.sha256(text.encode("utf-8")).hexdigest()[:40])


_INSTANCE_IDS: dict[str, str] = {}


def instance_id(uow: UnitOfWork) -> str:
    """A random id of this store, made on first use: sync tokens carry it, so a
    token from another server or an earlier database is refused, not misread.
    It never changes once made, so it is read once per database and process."""
    key = str(uow.engine.url)
    if key in _INSTANCE_IDS:
        return _INSTANCE_IDS[key]
    row = uow.session.get(Meta, "instance")
    if row is None:
        import uuid

        row = Meta(key="instance", value=uuid.uuid4().hex[:16])
        uow.session.add(row)
        uow.session.flush()
        return row.value
    _INSTANCE_IDS[key] = row.value
    return row.value


def instance_id_of(conn: Connection) -> str:
    """:func:`instance_id` on a plain read connection (the store is open, so it exists)."""
    key = str(conn.engine.url)
    if key not in _INSTANCE_IDS:
        value = conn.execute(select(Meta.value).where(Meta.key == "instance")).scalar()
        if value is None:
            raise NotFound("the store has no instance id: run `followups init`")
        _INSTANCE_IDS[key] = value
    return _INSTANCE_IDS[key]


# -- collections ----------------------------------------------------------------


def _ensure(uow: UnitOfWork, principal: str, name: str, displayname: str) -> CollectionRow:
    row = uow.session.scalar(select(CollectionRow).where(CollectionRow.principal == principal,
                                                         CollectionRow.name == name))
    if row is None:
        props = {
            "tag": "VCALENDAR",
            "D:displayname": displayname,
            "ICAL:calendar-color": COLOURS[name],
            "C:supported-calendar-component-set": COMPONENTS[name],
        }
        row = CollectionRow(principal=principal, name=name, component=COMPONENTS[name], rev=0,
                            props=json.dumps(props), modified_at=_now())
        uow.session.add(row)
        uow.session.flush()
    return row


def ensure_user_collections(uow: UnitOfWork, user: User) -> None:
    for name in (MEETINGS, TASKS):
        _ensure(uow, user.login, name, f"{user.name} - {TITLES[name]}")


def ensure_resource_collection(uow: UnitOfWork, resource: Resource) -> None:
    _ensure(uow, resource.login, BOOKINGS, f"{resource.name} - {TITLES[BOOKINGS]}")


def collection(uow: UnitOfWork, principal: str, name: str) -> CollectionRow:
    """The collection's row, read once per unit of work (a PUT checks the
    calendar it writes to and then projects into it)."""
    known: dict[tuple[str, str], CollectionRow] = uow.session.info.setdefault("collections", {})
    row = known.get((principal, name))
    if row is None:
        row = uow.session.scalar(select(CollectionRow).where(CollectionRow.principal == principal,
                                                             CollectionRow.name == name))
        if row is None:
            raise NotFound(f"no collection /{principal}/{name}/")
        known[principal, name] = row
    return row


def bump(uow: UnitOfWork, collection_id: int) -> int:
    """The collection's next revision. The UPDATE takes the row's write lock
    until commit, so concurrent writers to one collection are serialized and
    revisions become visible in the order they were taken. (A Core statement
    on the session's connection: nothing in the session reads ``rev``, and the
    ORM's synchronization of loaded rows cost more than the UPDATE.)"""
    rev = uow.session.connection().execute(
        update(CollectionRow).where(CollectionRow.id == collection_id)
        .values(rev=CollectionRow.rev + 1, modified_at=_now())
        .returning(CollectionRow.rev)
    ).scalar_one()
    return int(rev)


# -- follow-ups into collections ---------------------------------------------------


def targets(f: Followup, d: DbDirectory) -> list[Target]:
    """Where a follow-up shows: the owner's calendar, each invited CRM user's
    (unless they declined) and each booked resource's."""
    owner = d.user(f.owner_id)
    if f.kind is not Kind.MEETING:
        return [Target(owner.login, TASKS)]
    found = [Target(owner.login, MEETINGS)]
    for p in f.participants:
        if p.user_id is not None and p.user_id != f.owner_id and p.partstat is not PartStat.DECLINED:
            found.append(Target(d.user(p.user_id).login, MEETINGS))
    found += [Target(d.resource(rid).login, BOOKINGS) for rid in f.resource_ids]
    return list(dict.fromkeys(found))


def project(uow: UnitOfWork, d: DbDirectory, f: Followup,
            hrefs: dict[Target, str] | None = None, new: bool = False) -> dict[Target, ObjectRow]:
    """Render ``f`` and bring every collection that shows it up to date.

    ``hrefs`` names the href a client chose for the object in a collection;
    otherwise an existing object keeps its href and a new one is ``<uid>.ics``.
    ``new`` says the follow-up was just added, so it has no objects yet.
    """
    assert f.id is not None
    text = mapping.render_text(f, d)
    etag = etag_of(text)
    start_ts, end_ts = mapping.time_range(f)
    exact = _exact(f)
    component = mapping.component_name(f.kind)
    now = _now()
    existing = {} if new else {row.collection_id: row for row in uow.session.scalars(
        select(ObjectRow).where(ObjectRow.followup_id == f.id))}
    result: dict[Target, ObjectRow] = {}
    for target in targets(f, d):
        try:
            coll = collection(uow, target.principal, target.name)
        except NotFound:
            continue
        row = existing.pop(coll.id, None)
        if row is None:
            href = (hrefs or {}).get(target) or f"{f.uid}.ics"
            clash = uow.session.scalar(select(ObjectRow.id).where(
                ObjectRow.collection_id == coll.id,
                (ObjectRow.uid == f.uid) | (ObjectRow.href == href)))
            if clash is not None:
                continue  # that calendar already holds another object with this UID or href
            rev = bump(uow, coll.id)
            uow.session.execute(delete(TombstoneRow).where(TombstoneRow.collection_id == coll.id,
                                                           TombstoneRow.href == href))
            row = ObjectRow(collection_id=coll.id, href=href, uid=f.uid, followup_id=f.id, component=component,
                            text=text, etag=etag, start_ts=start_ts, end_ts=end_ts, exact=exact, rev=rev,
                            modified_at=now)
            uow.session.add(row)
        elif row.etag != etag or row.uid != f.uid or (row.start_ts, row.end_ts) != (start_ts, end_ts):
            row.rev = bump(uow, coll.id)
            row.text, row.etag, row.uid, row.component = text, etag, f.uid, component
            row.start_ts, row.end_ts, row.exact, row.modified_at = start_ts, end_ts, exact, now
        result[target] = row
    for row in existing.values():
        _remove(uow, row)
    uow.session.flush()
    return result


def project_new(uow: UnitOfWork, d: DbDirectory, followups: list[Followup]) -> None:
    """:func:`project` for many new follow-ups (bulk import): each rendered
    once, one revision bump and one insert per collection."""
    collections: dict[Target, CollectionRow | None] = {}
    pending: dict[int, list[dict[str, object]]] = {}
    now = _now()
    for f in followups:
        text = mapping.render_text(f, d)
        start_ts, end_ts = mapping.time_range(f)
        base = {"uid": f.uid, "followup_id": f.id, "component": mapping.component_name(f.kind), "text": text,
                "etag": etag_of(text), "start_ts": start_ts, "end_ts": end_ts, "exact": _exact(f),
                "modified_at": now, "href": f"{f.uid}.ics"}
        for target in targets(f, d):
            if target not in collections:
                collections[target] = uow.session.scalar(select(CollectionRow).where(
                    CollectionRow.principal == target.principal, CollectionRow.name == target.name))
            coll = collections[target]
            if coll is not None:
                pending.setdefault(coll.id, []).append({**base, "collection_id": coll.id})
    for collection_id, rows in pending.items():
        taken: set[object] = set()
        for first in range(0, len(rows), 500):
            chunk = rows[first:first + 500]
            taken.update(uow.session.scalars(select(ObjectRow.uid).where(
                ObjectRow.collection_id == collection_id, ObjectRow.uid.in_([r["uid"] for r in chunk]))))
        fresh = []
        for row in rows:
            if row["uid"] not in taken:
                taken.add(row["uid"])
                fresh.append(row)
        if not fresh:
            continue
        top = int(uow.session.connection().execute(
            update(CollectionRow).where(CollectionRow.id == collection_id)
            .values(rev=CollectionRow.rev + len(fresh), modified_at=now).returning(CollectionRow.rev)).scalar_one())
        for i, row in enumerate(fresh):
            row["rev"] = top - len(fresh) + 1 + i
        for first in range(0, len(fresh), 500):
            uow.session.execute(delete(TombstoneRow).where(
                TombstoneRow.collection_id == collection_id,
                TombstoneRow.href.in_([r["href"] for r in fresh[first:first + 500]])))
        uow.session.execute(insert(ObjectRow), fresh)


def _exact(f: Followup) -> bool:
    """Whether the indexed range is the object's real extent: not for
    recurrences, nor for dates and floating times, whose instant depends on
    the client's time zone."""
    if f.recurrence is not None or f.overrides:
        return False
    moments = [m for m in (f.start, f.end, f.deadline, f.completed_at) if m is not None]
    return all(isinstance(m, datetime) and m.tzinfo is not None for m in moments)


def _bury(uow: UnitOfWork, row: ObjectRow) -> int:
    """Record that ``row``'s href leaves its collection; returns the revision."""
    rev = bump(uow, row.collection_id)
    tomb = uow.session.get(TombstoneRow, (row.collection_id, row.href))
    if tomb is None:
        uow.session.add(TombstoneRow(collection_id=row.collection_id, href=row.href, rev=rev, at=_now()))
    else:
        tomb.rev, tomb.at = rev, _now()
    return rev


def prune_tombstones(uow: UnitOfWork, before: datetime) -> int:
    """Forget the hrefs that left their collections before ``before`` (naive
    UTC). Each collection remembers the newest revision it forgot, and a sync
    token older than that is refused from then on (RFC 6578 3.2: the client
    then syncs afresh), so no client misses a removal. Returns how many."""
    pruned = 0
    horizons = uow.session.execute(
        select(TombstoneRow.collection_id, func.max(TombstoneRow.rev))
        .where(TombstoneRow.at < before).group_by(TombstoneRow.collection_id)).all()
    for collection_id, rev in horizons:
        uow.session.execute(update(CollectionRow).where(CollectionRow.id == collection_id,
                                                        CollectionRow.pruned_rev < rev).values(pruned_rev=rev))
        pruned += uow.session.connection().execute(delete(TombstoneRow).where(
            TombstoneRow.collection_id == collection_id, TombstoneRow.rev <= rev)).rowcount
    return pruned


def _remove(uow: UnitOfWork, row: ObjectRow) -> None:
    _bury(uow, row)
    uow.session.delete(row)


def rename(uow: UnitOfWork, row: ObjectRow, href: str) -> None:
    """Give a member a new href (MOVE within a collection): the old href is
    reported as removed, the new one as changed."""
    rev = _bury(uow, row)
    uow.session.execute(delete(TombstoneRow).where(TombstoneRow.collection_id == row.collection_id,
                                                   TombstoneRow.href == href))
    row.href, row.rev, row.modified_at = href, rev, _now()
    uow.session.flush()


def unproject(uow: UnitOfWork, followup_id: int) -> None:
    """Remove every copy of a follow-up (before it is deleted)."""
    for row in uow.session.scalars(select(ObjectRow).where(ObjectRow.followup_id == followup_id)):
        _remove(uow, row)
    uow.session.flush()


def reproject(uow: UnitOfWork, d: DbDirectory, followups: Iterable[Followup]) -> int:
    count = 0
    for f in followups:
        project(uow, d, f)
        count += 1
    return count


def changed_since(conn: Connection, collection_id: int, rev: int) -> list[str]:
    """Hrefs of members added, changed or removed after revision ``rev``."""
    changed = conn.execute(select(ObjectRow.href).where(ObjectRow.collection_id == collection_id,
                                                        ObjectRow.rev > rev)).scalars()
    gone = conn.execute(select(TombstoneRow.href).where(TombstoneRow.collection_id == collection_id,
                                                        TombstoneRow.rev > rev)).scalars()
    return sorted(set(changed) | set(gone))

