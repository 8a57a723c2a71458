"""``followups check``: does the calendar projection match the domain rows?

The projection (:mod:`server.services.projection`) is a read model: every
object a client syncs was rendered from a follow-up in the transaction that
changed it. It can only disagree with the follow-ups when something outside
the application wrote to the database (a hand-made SQL fix, a partial
restore, a disk that lost a page), or when a new version renders differently.
This module finds such disagreements and re-projects what differs:

- every follow-up has exactly the objects :func:`projection.targets` names
  (owner's meeting or task, invited users' copies, resources' bookings), each
  with the text, etag, UID and time range :func:`projection.render` gives now
  (an object that keeps a client's own text is compared by the rendering it
  was last reconciled with, ``base_text``, beside a text its etag still fits);
- no object belongs to a follow-up that does not exist, and no follow-up has
  two objects in one collection;
- every user has a meetings and a tasks collection, every resource bookings;
- revisions are consistent, so sync tokens mean what they say (RFC 6578):
  no member or tombstone newer than its collection, no tombstone at the
  href of a live member or at or below the pruned horizon;
- on SQLite, ``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check``.

The walk reads follow-ups and their objects in batches of :data:`BATCH`
(keyed by id), in one read transaction (a snapshot: on PostgreSQL REPEATABLE
READ), so memory stays flat however large the store; what it keeps is the
collections (two per user, one per resource) and the ids of what differs.

A follow-up whose object is missing from a collection because another
follow-up's object there has the same UID is not reported: the projection
cannot place two objects with one UID in a collection (RFC 4791 5.3.2.1).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, func, select, update

import mapping
from server.services import projection
from server.services.directory import DbDirectory
from server.services.transaction import transaction
from store.calendar import Rendered
from store.domain import Followup, Kind
from store.orm import CollectionRow, FollowupRow, ObjectRow, ResourceRow, TombstoneRow, UserRow
from store.uow import UnitOfWork

BATCH = 500
"""Follow-ups read, rendered and compared at a time."""

COMPARED = ("uid", "component", "text", "etag", "start_ts", "end_ts", "exact", "private")
"""The columns of an object that the projection writes from the follow-up."""

CLIENT_COMPARED = ("uid", "component", "private")
"""The columns compared of an object that keeps a client's text (its text, etag and range are the client's)."""

_OBJECT = (ObjectRow.id, ObjectRow.collection_id, ObjectRow.href, ObjectRow.followup_id, ObjectRow.base_text, *(
    getattr(ObjectRow, name) for name in COMPARED))

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Problem:
    """One way the store differs from what the projection would make of it."""

    kind: str
    """``missing``, ``differs``, ``extra``, ``duplicate``, ``orphan``, ``collection``,
    ``revision``, ``tombstone`` or ``integrity``."""
    where: str
    """The object's or collection's path (``/anna/meetings/x.ics``), or ``store``."""
    detail: str
    followup_id: int | None = None

    def line(self) -> str:
        return f"{self.kind} {self.where}: {self.detail}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "where": self.where, "detail": self.detail, "followup_id": self.followup_id}


@dataclass
class Damage:
    """What a repair has to re-project: ids only, so it stays small."""

    followup_ids: set[int] = field(default_factory=set)
    orphan_ids: set[int] = field(default_factory=set)
    """Objects whose follow-up does not exist."""
    collection_ids: set[int] = field(default_factory=set)
    """Collections whose revision counter is behind their members or tombstones."""
    tombstone_ids: set[int] = field(default_factory=set)
    """Collections with tombstones at live hrefs or at or below their pruned revision."""
    principals: set[str] = field(default_factory=set)
    """Users and resources that lack a collection."""

    def __bool__(self) -> bool:
        return bool(self.followup_ids or self.orphan_ids or self.collection_ids or self.tombstone_ids
                    or self.principals)


@dataclass
class Report:
    """What one check walked and found."""

    followups: int = 0
    objects: int = 0
    collections: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    damage: Damage = field(default_factory=Damage)
    unrepairable: int = 0
    """Problems a re-projection cannot fix (the database file itself: restore a backup)."""

    @property
    def ok(self) -> bool:
        return not self.counts

    def summary(self) -> str:
        walked = f"checked {self.followups} follow-up(s), {self.objects} object(s) in {self.collections} collection(s)"
        if self.ok:
            return f"{walked}: the calendars match the follow-ups"
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.counts.items()))
        return f"{walked}: {sum(self.counts.values())} problem(s) ({kinds})"

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "followups": self.followups, "objects": self.objects,
                "collections": self.collections, "problems": dict(sorted(self.counts.items()))}


@dataclass(frozen=True)
class _Collection:
    id: int
    principal: str
    name: str

    def path(self, href: str = "") -> str:
        return f"/{self.principal}/{self.name}/{href}"


class _Walk:
    """The shared state of one check or repair: the collections, by id and by target."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        rows = uow.session.execute(select(CollectionRow.id, CollectionRow.principal, CollectionRow.name))
        self.by_id = {r.id: _Collection(r.id, r.principal, r.name) for r in rows}
        self.by_target = {(c.principal, c.name): c for c in self.by_id.values()}

    def expected(self, f: Followup, d: DbDirectory) -> tuple[dict[int, Rendered], list[projection.Target]]:
        """What ``f`` should have in each collection (by id), and the targets that have no collection."""
        render = _renderer(f, d)
        found: dict[int, Rendered] = {}
        homeless: list[projection.Target] = []
        for target in projection.targets(f, d):
            coll = self.by_target.get((target.principal, target.name))
            if coll is None:
                homeless.append(target)
            else:
                found[coll.id] = render(target)
        return found, homeless

    def compare(self, f: Followup, d: DbDirectory, objects: Sequence[Any]) -> list[Problem]:
        """How ``f``'s objects (rows with the columns of :data:`_OBJECT`) differ from its projection."""
        assert f.id is not None
        expected, homeless = self.expected(f, d)
        problems = [Problem("collection", f"/{t.principal}/{t.name}/",
                            f"has no collection, so follow-up {f.id} cannot show there", f.id) for t in homeless]
        seen: set[int] = set()
        for row in objects:
            coll = self.by_id[row.collection_id]
            if row.collection_id in seen:
                problems.append(Problem("duplicate", coll.path(row.href),
                                        f"a second object of follow-up {f.id} in this collection", f.id))
                continue
            seen.add(row.collection_id)
            want = expected.get(row.collection_id)
            if want is None:
                problems.append(Problem("extra", coll.path(row.href),
                                        f"follow-up {f.id} ({f.uid}) does not show in this collection", f.id))
                continue
            wrong = _wrong(row, want)
            if wrong:
                verb = "differs" if len(wrong) == 1 else "differ"
                problems.append(Problem("differs", coll.path(row.href),
                                        f"{', '.join(wrong)} {verb} from follow-up {f.id} as rendered now", f.id))
        for collection_id in expected.keys() - seen:
            if not self._shadowed(collection_id, f):
                problems.append(Problem("missing", self.by_id[collection_id].path(),
                                        f"no object for follow-up {f.id} ({f.uid})", f.id))
        return problems

    def _shadowed(self, collection_id: int, f: Followup) -> bool:
        """Whether another follow-up's object with ``f``'s UID holds the place in the collection."""
        other = select(ObjectRow.id).where(ObjectRow.collection_id == collection_id, ObjectRow.uid == f.uid,
                                           ObjectRow.followup_id != f.id)
        return self.uow.session.scalar(other) is not None


def _wrong(row: Any, want: Rendered) -> list[str]:
    """The columns of ``row`` that disagree with the rendering ``want``."""
    if row.base_text is None:
        return [name for name in COMPARED if getattr(row, name) != getattr(want, name)]
    wrong = [name for name in CLIENT_COMPARED if getattr(row, name) != getattr(want, name)]
    if row.etag != projection.etag_of(row.text):
        wrong.append("etag")
    if mapping.rendering_differs(row.base_text, want.text):
        wrong.append("base_text")
    return wrong


def _renderer(f: Followup, d: DbDirectory) -> Callable[[projection.Target], Rendered]:
    """Each target's rendering, as :func:`projection.project` writes it (the organizer's copy
    is the owner's own calendar; copies with the same personal data share one text)."""
    organizer = projection.Target(d.user(f.owner_id).login,
                                  projection.MEETINGS if f.kind is Kind.MEETING else projection.TASKS)
    done: dict[tuple[bool, int | None, str | None], Rendered] = {}

    def render(target: projection.Target) -> Rendered:
        copy = projection.copy_for(f, target, d)
        key = (target == organizer, copy.alarm_minutes, copy.client_data)
        if key not in done:
            done[key] = projection.render(copy, d, organizer_copy=key[0])
        return done[key]

    return render


# -- the check -------------------------------------------------------------------------------


def check(engine: Engine, report: Callable[[Problem], None] | None = None,
          progress: Progress | None = None, batch: int = BATCH) -> Report:
    """Walk the whole store and compare; each problem goes to ``report`` as it is found,
    ``progress(done, total)`` after each batch of follow-ups. Read-only: a live server
    may keep writing (the walk reads one snapshot)."""
    result = Report()

    def found(problem: Problem) -> None:
        result.counts[problem.kind] += 1
        if report is not None:
            report(problem)

    with transaction(engine, write=False) as uow:
        if engine.dialect.name == "postgresql":
            uow.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        result.unrepairable = _integrity(uow, found)
        walk = _Walk(uow)
        result.collections = len(walk.by_id)
        _collections(uow, walk, found, result.damage)
        _revisions(uow, walk, found, result.damage)
        total = uow.followups.count()
        last = 0
        while True:
            ids = list(uow.session.scalars(select(FollowupRow.id).where(FollowupRow.id > last)
                                           .order_by(FollowupRow.id).limit(batch)))
            if not ids:
                break
            result.objects += _check_batch(uow, walk, ids, found, result.damage)
            result.followups += len(ids)
            last = ids[-1]
            uow.session.expunge_all()
            if progress is not None:
                progress(result.followups, max(total, result.followups))
        result.objects += _orphans(uow, walk, found, result.damage, batch)
    return result


def _check_batch(uow: UnitOfWork, walk: _Walk, ids: list[int], found: Callable[[Problem], None],
                 damage: Damage) -> int:
    objects: dict[int, list[Any]] = {}
    for row in uow.session.execute(select(*_OBJECT).where(ObjectRow.followup_id.between(ids[0], ids[-1]))
                                   .order_by(ObjectRow.id)):
        objects.setdefault(row.followup_id, []).append(row)
    d = DbDirectory(uow)
    for f in uow.followups.get_many(ids):
        assert f.id is not None
        problems = walk.compare(f, d, objects.get(f.id, []))
        for problem in problems:
            found(problem)
        if problems:
            damage.followup_ids.add(f.id)
            damage.principals.update(p.where.split("/")[1] for p in problems if p.kind == "collection")
    batch_ids = set(ids)
    return sum(len(rows) for f_id, rows in objects.items() if f_id in batch_ids)


def _orphans(uow: UnitOfWork, walk: _Walk, found: Callable[[Problem], None], damage: Damage, batch: int) -> int:
    """Objects whose follow-up is gone (only a write that bypassed the foreign keys leaves one); objects
    of personal calendars show no follow-up and are none of these."""
    count, last = 0, 0
    while True:
        rows = uow.session.execute(
            select(ObjectRow.id, ObjectRow.collection_id, ObjectRow.href, ObjectRow.followup_id)
            .outerjoin(FollowupRow, FollowupRow.id == ObjectRow.followup_id)
            .where(FollowupRow.id.is_(None), ObjectRow.followup_id.is_not(None), ObjectRow.id > last)
            .order_by(ObjectRow.id).limit(batch)).all()
        if not rows:
            return count
        for row in rows:
            found(Problem("orphan", walk.by_id[row.collection_id].path(row.href),
                          f"its follow-up {row.followup_id} does not exist"))
            damage.orphan_ids.add(row.id)
        count += len(rows)
        last = rows[-1].id


def _collections(uow: UnitOfWork, walk: _Walk, found: Callable[[Problem], None], damage: Damage) -> None:
    """Every user has meetings and tasks, every resource bookings."""
    wanted = [(login, name) for login in uow.session.scalars(select(UserRow.login).order_by(UserRow.login))
              for name in projection.USER_COLLECTIONS]
    wanted += [(login, projection.BOOKINGS)
               for login in uow.session.scalars(select(ResourceRow.login).order_by(ResourceRow.login))]
    for principal, name in wanted:
        if (principal, name) not in walk.by_target:
            found(Problem("collection", f"/{principal}/{name}/", "is missing"))
            damage.principals.add(principal)


def _revisions(uow: UnitOfWork, walk: _Walk, found: Callable[[Problem], None], damage: Damage) -> None:
    """Sync tokens name a collection's revision: every member and tombstone must be at or
    below it, and tombstones above the pruned horizon and at hrefs no member holds."""
    s = uow.session
    revs = {r.id: (r.rev, r.pruned_rev) for r in s.execute(select(CollectionRow.id, CollectionRow.rev,
                                                                  CollectionRow.pruned_rev))}
    newest_object = dict(s.execute(select(ObjectRow.collection_id, func.max(ObjectRow.rev))
                                   .group_by(ObjectRow.collection_id)).all())
    newest_tomb = dict(s.execute(select(TombstoneRow.collection_id, func.max(TombstoneRow.rev))
                                 .group_by(TombstoneRow.collection_id)).all())
    stale = dict(s.execute(select(TombstoneRow.collection_id, func.count())
                           .join(CollectionRow, CollectionRow.id == TombstoneRow.collection_id)
                           .where(TombstoneRow.rev <= CollectionRow.pruned_rev)
                           .group_by(TombstoneRow.collection_id)).all())
    buried_alive = dict(s.execute(select(TombstoneRow.collection_id, func.count())
                                  .join(ObjectRow, (ObjectRow.collection_id == TombstoneRow.collection_id)
                                        & (ObjectRow.href == TombstoneRow.href))
                                  .group_by(TombstoneRow.collection_id)).all())
    for cid, (rev, pruned) in sorted(revs.items()):
        path = walk.by_id[cid].path()
        problems, tombs = [], []
        if newest_object.get(cid, 0) > rev:
            problems.append(Problem("revision", path, f"a member is at revision {newest_object[cid]}, "
                                                      f"newer than the collection's {rev}"))
        if newest_tomb.get(cid, 0) > rev:
            problems.append(Problem("revision", path, f"a removal is at revision {newest_tomb[cid]}, "
                                                      f"newer than the collection's {rev}"))
        if pruned > rev:
            problems.append(Problem("revision", path, f"pruned up to revision {pruned}, beyond its {rev}"))
        if stale.get(cid):
            tombs.append(Problem("tombstone", path, f"{stale[cid]} removal(s) at or below the pruned "
                                                       f"revision {pruned}"))
        if buried_alive.get(cid):
            tombs.append(Problem("tombstone", path, f"{buried_alive[cid]} removal(s) at the href of a "
                                                       "member that exists"))
        for problem in problems + tombs:
            found(problem)
        if problems:
            damage.collection_ids.add(cid)
        if tombs:
            damage.tombstone_ids.add(cid)


def _integrity(uow: UnitOfWork, found: Callable[[Problem], None]) -> int:
    """SQLite's own checks of the file (PostgreSQL checks its pages as it reads them).
    Returns how many problems only a restore can fix."""
    if uow.engine.dialect.name != "sqlite":
        return 0
    conn = uow.session.connection()
    bad = 0
    for (message,) in conn.exec_driver_sql("PRAGMA integrity_check"):
        if message != "ok":
            found(Problem("integrity", "store", f"SQLite: {message}"))
            bad += 1
    for table, rowid, parent, _fk in conn.exec_driver_sql("PRAGMA foreign_key_check"):
        if table == "calendar_objects" and parent == "followups":
            continue  # an orphan object: reported and repaired as such
        found(Problem("integrity", "store", f"SQLite: row {rowid} of {table} refers to a missing {parent} row"))
        bad += 1
    return bad


# -- the repair ------------------------------------------------------------------------------


def repair(engine: Engine, damage: Damage, progress: Progress | None = None, batch: int = BATCH) -> int:
    """Re-project what :func:`check` found in one write transaction, which holds the
    store's write lock like every client's write (``store.db``): writers wait while it
    runs, and what it compares again under the lock is what it writes. Returns how many
    follow-ups, objects and collections were repaired.

    Repaired objects get new revisions, so clients fetch them on their next sync.
    A collection whose revisions were inconsistent moves past its newest revision
    and prunes up to it: every earlier sync token is refused (403 valid-sync-token,
    RFC 6578 3.2) and each client syncs that collection afresh, since no token taken
    before can be trusted to name what it has."""
    repaired = 0
    with transaction(engine, actor="check") as uow:
        for principal in sorted(damage.principals):
            repaired += _add_collections(uow, principal)
        for cid in sorted(damage.collection_ids):
            _restart_revisions(uow, cid)
            repaired += 1
        for cid in sorted(damage.tombstone_ids - damage.collection_ids):
            _clear_tombstones(uow, cid)
            repaired += 1
        for object_id in sorted(damage.orphan_ids):
            row = uow.session.get(ObjectRow, object_id)
            if row is not None:
                uow.calendars.remove(row)
                repaired += 1
        uow.session.flush()
        ids = sorted(damage.followup_ids)
        walk = _Walk(uow)
        for first in range(0, len(ids), batch):
            d = DbDirectory(uow)
            for f in uow.followups.get_many(ids[first:first + batch]):
                repaired += _reproject(uow, walk, d, f)
            uow.session.flush()
            if progress is not None:
                progress(min(first + batch, len(ids)), len(ids))
        uow.commit()
    return repaired


def _add_collections(uow: UnitOfWork, principal: str) -> int:
    user = uow.session.scalar(select(UserRow.id).where(UserRow.login == principal))
    if user is not None:
        projection.ensure_user_collections(uow, uow.users.get(user))
        return 1
    resource = uow.session.scalar(select(ResourceRow.id).where(ResourceRow.login == principal))
    if resource is not None:
        projection.ensure_resource_collection(uow, uow.resources.get(resource))
        return 1
    return 0


def _restart_revisions(uow: UnitOfWork, cid: int) -> None:
    """Move the collection past every revision it ever handed out and refuse all older tokens."""
    s = uow.session
    top = max(s.scalar(select(CollectionRow.rev).where(CollectionRow.id == cid)) or 0,
              s.scalar(select(func.max(ObjectRow.rev)).where(ObjectRow.collection_id == cid)) or 0,
              s.scalar(select(func.max(TombstoneRow.rev)).where(TombstoneRow.collection_id == cid)) or 0,
              s.scalar(select(CollectionRow.pruned_rev).where(CollectionRow.id == cid)) or 0)
    s.execute(update(CollectionRow).where(CollectionRow.id == cid).values(rev=top))
    rev = uow.calendars.bump(cid)
    s.execute(update(CollectionRow).where(CollectionRow.id == cid).values(pruned_rev=rev))
    s.execute(delete(TombstoneRow).where(TombstoneRow.collection_id == cid))


def _clear_tombstones(uow: UnitOfWork, cid: int) -> None:
    """Forget removals no valid token can ask for (at or below the pruned revision), and
    removals at the href of a live member, whose member then gets a new revision: a client
    told it was removed fetches it again on its next sync."""
    s = uow.session
    pruned = s.scalar(select(CollectionRow.pruned_rev).where(CollectionRow.id == cid)) or 0
    s.execute(delete(TombstoneRow).where(TombstoneRow.collection_id == cid, TombstoneRow.rev <= pruned))
    alive = list(s.scalars(select(ObjectRow).join(TombstoneRow, (TombstoneRow.collection_id == ObjectRow.collection_id)
                                                  & (TombstoneRow.href == ObjectRow.href))
                           .where(ObjectRow.collection_id == cid)))
    for row in alive:
        s.execute(delete(TombstoneRow).where(TombstoneRow.collection_id == cid, TombstoneRow.href == row.href))
        row.rev = uow.calendars.bump(cid)


def _reproject(uow: UnitOfWork, walk: _Walk, d: DbDirectory, f: Followup) -> int:
    """Compare ``f`` again (under the lock: a client may have fixed it meanwhile) and
    re-project it when it still differs. Returns 1 when it did."""
    assert f.id is not None
    rows = sorted(uow.calendars.objects_of(f.id), key=lambda r: r.id)
    if not walk.compare(f, d, rows):
        return 0
    kept: set[int] = set()
    for row in rows:
        if row.collection_id in kept:
            uow.calendars.remove(row)  # a duplicate: the projection keeps one object per collection
            continue
        kept.add(row.collection_id)
        if row.base_text is not None and row.etag == projection.etag_of(row.text):
            continue  # a client's intact text: the projection patches what the CRM changed into it
        row.base_text = None
        row.etag = ""  # matches no rendering, so the projection rewrites every column and bumps the revision
    uow.session.flush()
    projection.project(uow, d, f)
    return 1
