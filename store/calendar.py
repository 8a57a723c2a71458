"""The calendar rows behind a repository: collections, their objects and tombstones.

The projection in ``server.services`` decides *what* each collection shows;
this module is the only place that knows *how* it is stored:

- every change to a collection bumps its revision counter in the same
  transaction (``UPDATE ... SET rev = rev + 1 RETURNING rev``), and writers
  hold the store's write lock until commit (``store.db``: taken first, by
  every writer), so revisions become visible in the order they were taken;
- a sync answer reads only what the collection holds up to the revision its
  token names (:meth:`CalendarReader.changed_since`), so a change committed
  while the answer is built is reported once, by the next sync;
- a member that leaves a collection leaves a tombstone at the revision it
  left, so "what changed since revision r" is two index range scans
  (RFC 6578 sync tokens, O(changes) not O(collection));
- old tombstones can be pruned; the collection then remembers the newest
  revision it forgot, and older sync tokens are refused.

:class:`Calendars` works inside a unit of work (writes); :class:`CalendarReader`
reads on a plain connection, since the read paths run on every request and an
ORM session costs several times the query.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    String,
    any_,
    bindparam,
    delete,
    func,
    or_,
    select,
    tuple_,
    union,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from store import convert, db
from store.domain import Followup, Kind
from store.errors import NotFound
from store.localtime import utcnow
from store.orm import (
    BookingRow,
    CollectionRow,
    CompanyRow,
    FollowupRow,
    Meta,
    ObjectRow,
    ParticipantRow,
    PersonRow,
    ProjectRow,
    ResourceRow,
    SaleRow,
    TombstoneRow,
    UserRow,
)

BATCH = 500
"""Rows per IN (...) list or multi-row INSERT."""

_PLAIN_UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._+=~-]{0,199}")


def member_href(uid: str) -> str:
    """The href of a member the server names (a copy for an invitee or a
    resource, a CRM-made object): ``<uid>.ics`` for a UID of plain characters
    (as every such object was named before), else a name from the UID's hash,
    so that a UID with ``/``, ``?``, ``#``, ``%``, spaces, non-ASCII or of
    any length still gives a path every client can GET and DELETE."""
    if _PLAIN_UID.fullmatch(uid):
        return f"{uid}.ics"
    return "uid-" + hashlib.sha256(uid.encode("utf-8", "surrogatepass")).hexdigest()[:40] + ".ics"


def _now() -> datetime:
    return utcnow().replace(tzinfo=None)


@dataclass(frozen=True)
class Rendered:
    """What the projection writes for one follow-up in one collection."""

    uid: str
    component: str
    text: str
    etag: str
    start_ts: int
    end_ts: int
    exact: bool
    private: bool = False
    base_text: str | None = None
    """The CRM's rendering ``text`` was reconciled with, when ``text`` is a
    client's own (see ``ObjectRow.base_text``); None when it is the rendering."""


_INSTANCE_IDS: dict[str, str] = {}


class Calendars:
    """The calendar rows of one unit of work (its session and transaction)."""

    def __init__(self, session: Session, engine: Engine) -> None:
        self.session = session
        self.engine = engine
        self._collections: dict[tuple[str, str], CollectionRow] = {}

    # -- the store's identity ---------------------------------------------
    def instance_id(self) -> str:
        """A random id of this store, made on first use: sync tokens carry it,
        so a token from another server or an earlier database is refused, not
        misread. It never changes once made, so it is read once per process."""
        key = str(self.engine.url)
        if key in _INSTANCE_IDS:
            return _INSTANCE_IDS[key]
        row = self.session.get(Meta, "instance")
        if row is None:
            row = Meta(key="instance", value=uuid.uuid4().hex[:16])
            self.session.add(row)
            self.session.flush()
            return row.value
        _INSTANCE_IDS[key] = row.value
        return row.value

    # -- collections -----------------------------------------------------------------
    def ensure(self, principal: str, name: str, component: str, props: dict[str, str]) -> CollectionRow:
        """The collection, created with ``props`` when it does not exist yet."""
        row = self.session.scalar(select(CollectionRow).where(CollectionRow.principal == principal,
                                                              CollectionRow.name == name))
        if row is None:
            row = CollectionRow(principal=principal, name=name, component=component, rev=0,
                                props=json.dumps(props), modified_at=_now())
            self.session.add(row)
            self.session.flush()
        return row

    def find(self, principal: str, name: str) -> CollectionRow | None:
        """The collection's row, read once per unit of work (a PUT checks the
        calendar it writes to and then projects into it)."""
        row = self._collections.get((principal, name))
        if row is None:
            row = self.session.scalar(select(CollectionRow).where(CollectionRow.principal == principal,
                                                                  CollectionRow.name == name))
            if row is not None:
                self._collections[principal, name] = row
        return row

    def get(self, principal: str, name: str) -> CollectionRow:
        row = self.find(principal, name)
        if row is None:
            raise NotFound(f"no collection /{principal}/{name}/")
        return row

    def bump(self, collection_id: int, by: int = 1) -> int:
        """The collection's next revision (the last of ``by`` new ones). A Core
        statement on the session's connection: nothing in the session reads
        ``rev``, and the ORM's synchronization of loaded rows cost more than
        the UPDATE."""
        rev = self.session.connection().execute(
            update(CollectionRow).where(CollectionRow.id == collection_id)
            .values(rev=CollectionRow.rev + by, modified_at=_now())
            .returning(CollectionRow.rev)
        ).scalar_one()
        return int(rev)

    def set_props(self, row: CollectionRow, props: dict[str, str]) -> None:
        row.props = json.dumps(props, sort_keys=True)
        self.bump(row.id)

    # -- personal calendars (made by clients: kind 'personal') -------------------------
    def create_personal(self, principal: str, name: str, components: str, props: dict[str, str]) -> CollectionRow:
        """A new personal calendar holding ``components`` (comma-separated).

        Its revisions start at the clock's microseconds, and older sync tokens
        are refused (``pruned_rev``): SQLite may give a dropped calendar's id
        to a new one, and a token of the old calendar must not be read as one
        of the new (RFC 6578 3.2)."""
        start = int(utcnow().timestamp() * 1_000_000)
        row = CollectionRow(principal=principal, name=name, component=components, kind="personal", rev=start,
                            pruned_rev=start, props=json.dumps(props, sort_keys=True), modified_at=_now())
        self.session.add(row)
        self.session.flush()
        self._collections[principal, name] = row
        return row

    def count_personal(self, principal: str) -> int:
        return int(self.session.scalar(select(func.count()).select_from(CollectionRow).where(
            CollectionRow.principal == principal, CollectionRow.kind == "personal")) or 0)

    def count_members(self, collection_id: int) -> int:
        return int(self.session.scalar(select(func.count()).select_from(ObjectRow)
                                       .where(ObjectRow.collection_id == collection_id)) or 0)

    def drop(self, row: CollectionRow) -> None:
        """Remove a collection with its members and tombstones. Its sync tokens
        name its id, which is never used again: they are refused from then on."""
        self.session.flush()
        conn = self.session.connection()
        conn.execute(delete(ObjectRow).where(ObjectRow.collection_id == row.id))
        conn.execute(delete(TombstoneRow).where(TombstoneRow.collection_id == row.id))
        self._collections.pop((row.principal, row.name), None)
        self.session.delete(row)
        self.session.flush()

    # -- members ---------------------------------------------------------------------
    def object_at(self, collection_id: int, href: str) -> ObjectRow | None:
        return self.session.scalar(select(ObjectRow).where(ObjectRow.collection_id == collection_id,
                                                           ObjectRow.href == href))

    def href_of_uid(self, collection_id: int, uid: str) -> str | None:
        """The href of the member with ``uid``, if any (RFC 4791 5.3.2.1 no-uid-conflict)."""
        return self.session.scalar(select(ObjectRow.href).where(ObjectRow.collection_id == collection_id,
                                                                ObjectRow.uid == uid))

    def objects_of(self, followup_id: int) -> list[ObjectRow]:
        """Every copy of a follow-up, in whichever collections show it."""
        return list(self.session.scalars(select(ObjectRow).where(ObjectRow.followup_id == followup_id)))

    def add(self, collection_id: int, followup_id: int | None, href: str, r: Rendered) -> ObjectRow | None:
        """A new member (of a personal calendar: no ``followup_id``); None when
        the collection already holds another object with this UID or href."""
        clash = self.session.scalar(select(ObjectRow.id).where(
            ObjectRow.collection_id == collection_id, (ObjectRow.uid == r.uid) | (ObjectRow.href == href)))
        if clash is not None:
            return None
        rev = self.bump(collection_id)
        self._unbury(collection_id, [href])
        row = ObjectRow(collection_id=collection_id, href=href, uid=r.uid, followup_id=followup_id,
                        component=r.component, text=r.text, etag=r.etag, start_ts=r.start_ts, end_ts=r.end_ts,
                        exact=r.exact, private=r.private, base_text=r.base_text, rev=rev, modified_at=_now())
        self.session.add(row)
        return row

    def change(self, row: ObjectRow, r: Rendered) -> bool:
        """Write ``r`` into ``row`` when it differs; whether it did. A new
        ``base_text`` alone is kept without a new revision: clients never see it."""
        row.base_text = r.base_text
        if (row.etag, row.uid, row.start_ts, row.end_ts, row.private) == (r.etag, r.uid, r.start_ts, r.end_ts,
                                                                            r.private):
            return False
        row.rev = self.bump(row.collection_id)
        row.text, row.etag, row.uid, row.component = r.text, r.etag, r.uid, r.component
        row.start_ts, row.end_ts, row.exact, row.modified_at = r.start_ts, r.end_ts, r.exact, _now()
        row.private = r.private
        return True

    def add_many(self, collection_id: int, members: Sequence[tuple[int, Rendered]]) -> int:
        """New members ``(followup_id, rendered)`` at :func:`member_href` in a few
        statements (bulk import): one revision bump for the lot, UIDs the
        collection already holds skipped. Returns how many were added."""
        taken: set[str] = set()
        for first in range(0, len(members), BATCH):
            chunk = members[first:first + BATCH]
            taken.update(self.session.scalars(select(ObjectRow.uid).where(
                ObjectRow.collection_id == collection_id, ObjectRow.uid.in_([r.uid for _, r in chunk]))))
        fresh: list[dict[str, Any]] = []
        now = _now()
        for followup_id, r in members:
            if r.uid in taken:
                continue
            taken.add(r.uid)
            fresh.append({"collection_id": collection_id, "href": member_href(r.uid), "uid": r.uid,
                          "followup_id": followup_id, "component": r.component, "text": r.text, "etag": r.etag,
                          "start_ts": r.start_ts, "end_ts": r.end_ts, "exact": r.exact, "private": r.private,
                          "base_text": r.base_text, "modified_at": now})
        if not fresh:
            return 0
        top = self.bump(collection_id, len(fresh))
        for i, row in enumerate(fresh):
            row["rev"] = top - len(fresh) + 1 + i
        self._unbury(collection_id, [row["href"] for row in fresh])
        db.insert_many(self.session, ObjectRow, fresh)
        return len(fresh)

    def remove(self, row: ObjectRow) -> None:
        """Take a member out of its collection, leaving a tombstone."""
        self._bury(row)
        self.session.delete(row)

    def remove_followup(self, followup_id: int) -> None:
        """Remove every copy of a follow-up (before the follow-up itself goes),
        each leaving a tombstone: one DELETE ... RETURNING names the copies
        that went. Loading them (texts and all) to delete them through the
        session was about a fifth of a calendar DELETE's profiled time, and one
        statement more. Pending changes are flushed first, and the copies the
        session holds are let go of, so nothing stale of them is flushed later."""
        self.session.flush()
        gone = self.session.connection().execute(
            delete(ObjectRow).where(ObjectRow.followup_id == followup_id)
            .returning(ObjectRow.id, ObjectRow.collection_id, ObjectRow.href)).all()
        for object_id, collection_id, href in gone:
            held = self.session.identity_map.get(self.session.identity_key(ObjectRow, object_id))
            if held is not None:
                self.session.expunge(held)
            self._bury_href(collection_id, href)

    def rename(self, row: ObjectRow, href: str) -> None:
        """Give a member a new href (MOVE within a collection): the old href is
        reported as removed, the new one as changed."""
        rev = self._bury(row)
        self._unbury(row.collection_id, [href])
        row.href, row.rev, row.modified_at = href, rev, _now()
        self.session.flush()

    def _bury(self, row: ObjectRow) -> int:
        """Record that ``row``'s href leaves its collection; returns the revision."""
        return self._bury_href(row.collection_id, row.href)

    def _bury_href(self, collection_id: int, href: str) -> int:
        """Record that ``href`` leaves its collection; returns the revision."""
        rev = self.bump(collection_id)
        dialect = self.session.get_bind().dialect.name
        if dialect not in _UPSERTS:
            tomb = self.session.get(TombstoneRow, (collection_id, href))
            if tomb is None:
                self.session.add(TombstoneRow(collection_id=collection_id, href=href, rev=rev, at=_now()))
            else:
                tomb.rev, tomb.at = rev, _now()
            return rev
        # One statement instead of a look-up and a write: a DELETE's every removed copy buries one.
        at = _now()
        stmt = _UPSERTS[dialect](TombstoneRow).values(collection_id=collection_id, href=href, rev=rev, at=at)
        self.session.connection().execute(stmt.on_conflict_do_update(
            index_elements=[TombstoneRow.collection_id, TombstoneRow.href], set_={"rev": rev, "at": at}))
        return rev

    def _unbury(self, collection_id: int, hrefs: Iterable[str]) -> None:
        hrefs = list(hrefs)
        for first in range(0, len(hrefs), BATCH):
            self.session.execute(delete(TombstoneRow).where(TombstoneRow.collection_id == collection_id,
                                                            TombstoneRow.href.in_(hrefs[first:first + BATCH])))

    def prune(self, before: datetime) -> int:
        """Forget the hrefs that left their collections before ``before`` (naive
        UTC). Each collection remembers the newest revision it forgot, and a
        sync token older than that is refused from then on (RFC 6578 3.2: the
        client then syncs afresh), so no client misses a removal. Returns how
        many were forgotten."""
        pruned = 0
        horizons = self.session.execute(
            select(TombstoneRow.collection_id, func.max(TombstoneRow.rev))
            .where(TombstoneRow.at < before).group_by(TombstoneRow.collection_id)).all()
        for collection_id, rev in horizons:
            self.session.execute(update(CollectionRow).where(CollectionRow.id == collection_id,
                                                             CollectionRow.pruned_rev < rev).values(pruned_rev=rev))
            pruned += self.session.connection().execute(delete(TombstoneRow).where(
                TombstoneRow.collection_id == collection_id, TombstoneRow.rev <= rev)).rowcount
        return pruned


# -- reads on a plain connection ----------------------------------------------------------

OBJECT_COLUMNS = (ObjectRow.href, ObjectRow.uid, ObjectRow.etag, ObjectRow.text, ObjectRow.component,
                  ObjectRow.start_ts, ObjectRow.end_ts, ObjectRow.exact, ObjectRow.modified_at, ObjectRow.private)
COLLECTION_COLUMNS = (CollectionRow.id, CollectionRow.principal, CollectionRow.name, CollectionRow.component,
                      CollectionRow.rev, CollectionRow.props, CollectionRow.modified_at, CollectionRow.pruned_rev,
                      CollectionRow.kind)
_OBJECTS = select(*OBJECT_COLUMNS)
_COLLECTIONS = select(*COLLECTION_COLUMNS)


class CalendarReader:
    """Reads of the calendar rows on a plain connection. Rows have the
    attributes named by :data:`OBJECT_COLUMNS` and :data:`COLLECTION_COLUMNS`."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def instance_id(self) -> str:
        """:meth:`Calendars.instance_id` (the store is open, so it exists)."""
        key = str(self.conn.engine.url)
        if key not in _INSTANCE_IDS:
            value = self.conn.execute(select(Meta.value).where(Meta.key == "instance")).scalar()
            if value is None:
                raise NotFound("the store has no instance id: run `followups init`")
            _INSTANCE_IDS[key] = value
        return _INSTANCE_IDS[key]

    def user(self, login: str) -> Any:
        """The user's name and email, or None."""
        return self.conn.execute(select(UserRow.name, UserRow.email).where(UserRow.login == login)).first()

    def resource(self, login: str) -> Any:
        """The resource's name and email, or None."""
        return self.conn.execute(select(ResourceRow.name, ResourceRow.email)
                                 .where(ResourceRow.login == login)).first()

    def password_hash(self, login: str) -> str | None:
        return self.conn.execute(_PASSWORD_HASH, {"login": login}).scalar()

    def collections(self, principal: str) -> list[Any]:
        return list(self.conn.execute(_COLLECTIONS.where(CollectionRow.principal == principal)
                                      .order_by(CollectionRow.id)))

    def collection(self, principal: str, name: str) -> Any:
        return self.conn.execute(_COLLECTION_NAMED, {"principal": principal, "name": name}).first()

    def collection_by_id(self, collection_id: int) -> Any:
        return self.conn.execute(_COLLECTIONS.where(CollectionRow.id == collection_id)).first()

    def objects(self, collection_id: int, hrefs: Iterable[str] | None = None) -> list[Any]:
        """The members, by href; only those at ``hrefs`` when given."""
        return self._members(_OBJECTS.where(ObjectRow.collection_id == collection_id), hrefs)

    def _members(self, stmt: Any, hrefs: Iterable[str] | None) -> list[Any]:
        """``stmt``'s rows, by href; only those at ``hrefs`` when given (in batches, unordered)."""
        if hrefs is None:
            return list(self.conn.execute(stmt.order_by(ObjectRow.href)).all())
        wanted = _wanted(hrefs)
        found: list[Any] = []
        for first in range(0, len(wanted), BATCH):
            found += self.conn.execute(stmt.where(self._href_in(wanted[first:first + BATCH]))).all()
        return found

    def _href_in(self, hrefs: list[str]) -> Any:
        return _among(self.conn, ObjectRow.href, hrefs, String)

    def listing(self, collection_id: int, hrefs: Iterable[str] | None = None, texts: bool = False) -> list[Any]:
        """The members' href, etag, component and modified_at (and text when
        ``texts``), by href as :meth:`objects` orders them; only those at
        ``hrefs`` when given (unordered). A listing of ETags reads no text."""
        if hrefs is None:
            stmt = _listing(self.conn.dialect.name, texts, by_href=False)
            return list(self.conn.execute(stmt, {"collection_id": collection_id}).all())
        stmt = _listing(self.conn.dialect.name, texts, by_href=True)
        wanted = _wanted(hrefs)
        found: list[Any] = []
        for first in range(0, len(wanted), BATCH):
            found += self.conn.execute(stmt, {"collection_id": collection_id,
                                              "hrefs": wanted[first:first + BATCH]}).all()
        return found

    def texts_of(self, collection_id: int) -> Iterator[str]:
        """The members' texts by href (as :meth:`listing` orders them), fetched
        a few hundred at a time: server-side on PostgreSQL."""
        stmt = (select(ObjectRow.text).where(ObjectRow.collection_id == collection_id)
                .order_by(ObjectRow.href).execution_options(yield_per=BATCH))
        yield from self.conn.execute(stmt).scalars()

    def in_range(self, collection_id: int, component: str | None, start: int, end: int) -> list[Any]:
        """Members whose indexed range overlaps [start, end)."""
        stmt = _OBJECTS.where(ObjectRow.collection_id == collection_id,
                              ObjectRow.start_ts < end, ObjectRow.end_ts > start)
        if component:
            stmt = stmt.where(ObjectRow.component == component)
        return list(self.conn.execute(stmt.order_by(ObjectRow.href)))

    def personal_events(self, principal: str, start: int, end: int, limit: int, name: str | None = None) -> list[str]:
        """The texts of the VEVENTs in ``principal``'s personal calendars (the
        one called ``name``, if given) whose indexed range overlaps [start, end),
        at most ``limit`` (free/busy)."""
        stmt = (select(ObjectRow.text).join(CollectionRow, CollectionRow.id == ObjectRow.collection_id)
                .where(CollectionRow.principal == principal, CollectionRow.kind == "personal",
                       ObjectRow.component == "VEVENT", ObjectRow.start_ts < end, ObjectRow.end_ts > start)
                .order_by(ObjectRow.start_ts).limit(limit))
        if name is not None:
            stmt = stmt.where(CollectionRow.name == name)
        return list(self.conn.execute(stmt).scalars())

    # -- free/busy (server.services.freebusy) -----------------------------------------

    def diary_busy(self, login: str, user_id: int, start: int, end: int,
                   limit: int) -> list[tuple[Followup, str | None]]:
        """The follow-ups of a user's diary (owned, or invited and not declined)
        that may be busy in [start, end): a copy's indexed range overlaps it
        (the owner's copy in the user's own calendars, or any copy of an
        invitation), and it is busy, not cancelled, not a to-do and has a
        start. Each with the user's answer (PARTSTAT) when invited, by start,
        at most ``limit``; the caller expands them inside the window."""
        invited = select(ParticipantRow.followup_id).where(ParticipantRow.user_id == user_id,
                                                           ParticipantRow.partstat != "DECLINED")
        own = (select(ObjectRow.followup_id).join(CollectionRow, CollectionRow.id == ObjectRow.collection_id)
               .where(CollectionRow.principal == login, CollectionRow.kind == "crm", *_overlap(start, end)))
        theirs = select(ObjectRow.followup_id).where(ObjectRow.followup_id.in_(invited), *_overlap(start, end))
        answer = (select(ParticipantRow.partstat).where(ParticipantRow.followup_id == FollowupRow.id,
                                                        ParticipantRow.user_id == user_id)
                  .order_by(ParticipantRow.position).limit(1).scalar_subquery().label("answer"))
        rows = self._busy_followups(union(own, theirs), limit, or_(FollowupRow.owner_id == user_id,
                                                                   FollowupRow.id.in_(invited)), columns=(answer,))
        return [(_followup(row), row.answer) for row in rows]

    def bookings_busy(self, resource_id: int, start: int, end: int, limit: int) -> list[Followup]:
        """The follow-ups that book a resource (not declined by it) and may be
        busy in [start, end), as :meth:`diary_busy` finds them."""
        booked = select(BookingRow.followup_id).where(BookingRow.resource_id == resource_id,
                                                      BookingRow.partstat != "DECLINED")
        ids = select(ObjectRow.followup_id).where(ObjectRow.followup_id.in_(booked), *_overlap(start, end))
        return [_followup(row) for row in self._busy_followups(ids, limit)]

    def _busy_followups(self, ids: Any, limit: int, *where: Any, columns: tuple[Any, ...] = ()) -> list[Any]:
        """The follow-ups among those ``ids`` selects that may be busy time (and
        match ``where``), by start, at most ``limit``: the ids first (an index
        query on the calendar rows' ranges), then their follow-ups by id. One
        statement ordered by start with a limit let PostgreSQL walk every
        follow-up of the store in start order, filtering: 575 ms for a week's
        free/busy among 1,000,000 follow-ups, against 30 ms among 10,000."""
        found = [i for i in dict.fromkeys(self.conn.execute(ids).scalars()) if i is not None]
        rows: list[Any] = []
        for first in range(0, len(found), BATCH):
            batch = found[first:first + BATCH]
            rows += self.conn.execute(
                select(*_FOLLOWUP_COLUMNS, *columns)
                .where(_among(self.conn, FollowupRow.id, batch, Integer), FollowupRow.busy.is_(True),
                       FollowupRow.cancelled.is_(False),
                       FollowupRow.kind != Kind.TODO.value, FollowupRow.start_utc.is_not(None), *where))
        rows.sort(key=lambda row: (row.start_utc, row.id))
        return rows[:limit]

    def has_uid(self, collection_id: int, uid: str) -> bool:
        return self.conn.execute(select(ObjectRow.id).where(ObjectRow.collection_id == collection_id,
                                                            ObjectRow.uid == uid)).first() is not None

    def hrefs(self, collection_id: int) -> list[str]:
        return sorted(self.conn.execute(select(ObjectRow.href)
                                        .where(ObjectRow.collection_id == collection_id)).scalars())

    def changed_since(self, collection_id: int, rev: int, upto: int | None = None) -> tuple[list[str], list[Any]]:
        """What changed after revision ``rev``, up to revision ``upto`` (a
        sync token's): the hrefs of members added, changed or removed, and the
        members among them as they are at ``upto``.

        Bounding both by ``upto`` makes the answer agree with its token
        without a snapshot (READ COMMITTED reads each statement afresh): a
        member changed again after ``upto`` has a newer revision and is left
        to the next sync, which reports it once, as does a removal after
        ``upto``; everything up to ``upto`` was committed before ``upto``
        could be read (writers commit in revision order, see the module)."""
        objects = _OBJECTS.where(ObjectRow.collection_id == collection_id, ObjectRow.rev > rev)
        gone = select(TombstoneRow.href).where(TombstoneRow.collection_id == collection_id, TombstoneRow.rev > rev)
        if upto is not None:
            objects = objects.where(ObjectRow.rev <= upto)
            gone = gone.where(TombstoneRow.rev <= upto)
        present = list(self.conn.execute(objects))
        hrefs = {o.href for o in present} | set(self.conn.execute(gone).scalars())
        return sorted(hrefs), present

    def members_of(self, principal: str) -> list[tuple[str, str, str]]:
        """(collection name, href, text) of every member of the principal's
        collections (the benchmark and tests compare whole calendars)."""
        return [(r[0], r[1], r[2]) for r in self.conn.execute(
            select(CollectionRow.name, ObjectRow.href, ObjectRow.text)
            .join(ObjectRow, ObjectRow.collection_id == CollectionRow.id)
            .where(CollectionRow.principal == principal))]

    # -- exports and feeds (server.services.export) --------------------------------------

    def user_tz(self, login: str) -> str | None:
        """The user's time zone name, or None for no such user."""
        return self.conn.execute(select(UserRow.tz).where(UserRow.login == login)).scalar()

    def record_name(self, kind: str, record_id: int) -> str | None:
        """The name of a company, person, sale or project, or None."""
        row_class = _RECORDS[kind]
        return self.conn.execute(select(row_class.name).where(row_class.id == record_id)).scalar()

    def newest_change(self) -> datetime | None:
        """When any collection last changed (naive UTC)."""
        return self.conn.execute(select(func.max(CollectionRow.modified_at))).scalar()

    def window(self, collection_ids: Sequence[int], start: int | None, end: int | None) -> Any:
        """The members of the collections whose indexed range overlaps
        [start, end) (None: unbounded), without their texts, by indexed start
        and then UID."""
        stmt = (select(*_EXPORT_COLUMNS).join(CollectionRow, CollectionRow.id == ObjectRow.collection_id)
                .where(ObjectRow.collection_id.in_(list(collection_ids))))
        return self.conn.execute(_windowed(stmt, start, end).order_by(ObjectRow.start_ts, ObjectRow.uid,
                                                                       ObjectRow.collection_id))

    def record_copies(self, kind: str, record_id: int, start: int | None, end: int | None) -> Any:
        """Every calendar copy of the follow-ups linked to a company, person,
        sale or project (``kind``) whose indexed range overlaps [start, end),
        without texts, by indexed start and then follow-up (a follow-up's
        copies share its range, so they come together)."""
        linked = select(FollowupRow.id).where(getattr(FollowupRow, f"{kind}_id") == record_id)
        stmt = (select(*_EXPORT_COLUMNS).join(CollectionRow, CollectionRow.id == ObjectRow.collection_id)
                .where(ObjectRow.followup_id.in_(linked)))
        return self.conn.execute(_windowed(stmt, start, end).order_by(ObjectRow.start_ts, ObjectRow.followup_id,
                                                                       ObjectRow.collection_id))

    def texts(self, object_ids: Iterable[int]) -> dict[int, str]:
        """The texts of the members with these row ids."""
        wanted = list(dict.fromkeys(object_ids))
        found: dict[int, str] = {}
        for first in range(0, len(wanted), BATCH):
            for id, text in self.conn.execute(select(ObjectRow.id, ObjectRow.text)
                                              .where(ObjectRow.id.in_(wanted[first:first + BATCH]))):
                found[id] = text
        return found


_RECORDS: dict[str, Any] = {"company": CompanyRow, "person": PersonRow, "sale": SaleRow, "project": ProjectRow}
_EXPORT_COLUMNS = (ObjectRow.id, ObjectRow.collection_id, CollectionRow.principal, CollectionRow.name,
                   ObjectRow.followup_id, ObjectRow.uid, ObjectRow.etag, ObjectRow.start_ts, ObjectRow.private,
                   ObjectRow.modified_at)


_PASSWORD_HASH = select(UserRow.password_hash).where(UserRow.login == bindparam("login"))
_COLLECTION_NAMED = _COLLECTIONS.where(CollectionRow.principal == bindparam("principal"),
                                       CollectionRow.name == bindparam("name"))
_LISTING_COLUMNS = (ObjectRow.href, ObjectRow.etag, ObjectRow.component, ObjectRow.modified_at)


@functools.cache
def _listing(dialect: str, texts: bool, by_href: bool) -> Any:
    """The statement of :meth:`CalendarReader.listing`, made once per shape:
    every request of a client's listing runs one (a multiget, one per 100
    hrefs), and making the statement anew (its clauses, its array parameter)
    cost a third of the query's time on PostgreSQL.

    The hrefs are the parameter ``hrefs``: an expanding IN list, or on
    PostgreSQL one array (as :func:`_among`) whose pairs (collection, href)
    are looked up in the unique index on them. PostgreSQL plans each of these
    afresh (psycopg forgets its prepared statements at every rollback, and
    each request's read ends in one), and given ``collection_id = ? AND href
    = ANY(?)`` it read the whole calendar through its (collection_id, rev)
    index whenever its statistics were missing or stale (a table not yet
    analyzed takes a calendar for a few dozen rows): 4 ms for 100 hrefs of
    6,500. Asked for the pairs, it looks them up in the unique index with or
    without statistics (1.5 ms), unless the whole table is a few pages."""
    stmt = select(*_LISTING_COLUMNS, ObjectRow.text) if texts else select(*_LISTING_COLUMNS)
    if not by_href:
        return stmt.where(ObjectRow.collection_id == bindparam("collection_id")).order_by(ObjectRow.href)
    if dialect == "postgresql":
        pairs = select(bindparam("collection_id", type_=Integer), func.unnest(bindparam("hrefs", type_=ARRAY(String))))
        return stmt.where(tuple_(ObjectRow.collection_id, ObjectRow.href).in_(pairs))
    return stmt.where(ObjectRow.collection_id == bindparam("collection_id"),
                      ObjectRow.href.in_(bindparam("hrefs", expanding=True)))


_UPSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
"""INSERT ... ON CONFLICT DO UPDATE by dialect (:meth:`Calendars._bury`)."""


def _overlap(start: int, end: int) -> tuple[Any, ...]:
    return ObjectRow.start_ts < end, ObjectRow.end_ts > start


def _wanted(hrefs: Iterable[str]) -> list[str]:
    """The distinct hrefs a client asked for that a member can have: none
    holds a NUL (PostgreSQL's text cannot, and a PUT of such a name is
    refused), so a multiget of ``%00`` finds nothing instead of failing in
    the database (a 500)."""
    return [h for h in dict.fromkeys(hrefs) if "\x00" not in h]


def _among(conn: Connection, column: Any, values: list[Any], kind: Any) -> Any:
    """``column IN (values)``; on PostgreSQL ``column = ANY(array)``: one
    parameter, so one statement text whatever the count (an IN of 100 values
    was rendered, and parsed by the driver and the server, afresh each time)."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(kind)))
    return column.in_(values)


_FOLLOWUP_COLUMNS = tuple(FollowupRow.__table__.columns)


def _followup(row: Any) -> Followup:
    """A follow-up from its row's columns alone, without participants,
    bookings or custom values (free/busy needs its times only):
    :func:`store.convert.followup` reads attributes, and an ORM load of the
    rows with their children cost several times the query."""
    bare = SimpleNamespace(**row._mapping, participants=(), resources=(), values=())
    return convert.followup(cast(FollowupRow, bare))


def _windowed(stmt: Any, start: int | None, end: int | None) -> Any:
    if end is not None:
        stmt = stmt.where(ObjectRow.start_ts < end)
    if start is not None:
        stmt = stmt.where(ObjectRow.end_ts > start)
    return stmt
