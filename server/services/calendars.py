"""The CalDAV side's application service: what the Radicale plugins call.

Reads return plain snapshots (no live database objects), because Radicale
builds its XML after it has released the storage lock. Writes run inside the
caller's unit of work, so one HTTP request is one transaction. Nothing here
imports Radicale; ``plugins/`` translates these errors into HTTP answers.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from icalendar import Calendar
from sqlalchemy import Connection, Engine, select, text

import mapping
from server.services import projection
from server.services.directory import DbDirectory
from server.services.projection import BOOKINGS, MEETINGS, TASKS, Target
from store.domain import Followup, PartStat, User
from store.errors import NotFound, StoreError, UidConflict
from store.orm import CollectionRow, ObjectRow, ResourceRow, UserRow
from store.uow import UnitOfWork

TOKEN_PREFIX = "urn:x-followup-caldav:sync:"
USER_COLLECTIONS = (MEETINGS, TASKS)
__all__ = ["BOOKINGS", "USER_COLLECTIONS"]
PROTECTED_PROPS = ("tag", "C:supported-calendar-component-set")


class Forbidden(StoreError):
    """A write the collection does not take (read-only, or not the user's)."""


class PreconditionFailed(StoreError):
    """An If-Match or If-None-Match that does not hold (HTTP 412)."""


@dataclass(frozen=True)
class ObjectView:
    href: str
    uid: str
    etag: str
    text: str
    component: str
    start_ts: int
    end_ts: int
    exact: bool
    last_modified: str


@dataclass
class CollectionView:
    id: int
    principal: str
    name: str
    component: str
    rev: int
    props: dict[str, str]
    last_modified: str
    token: str
    ctag: str
    items: list[ObjectView] | None = None


@dataclass
class PrincipalView:
    login: str
    kind: str
    name: str
    email: str | None


def http_date(value: datetime) -> str:
    return format_datetime(value.replace(tzinfo=UTC), usegmt=True)


def _object(row: Any) -> ObjectView:
    """An object view of an ORM row or a plain row of ``_OBJECTS``."""
    return ObjectView(row.href, row.uid, row.etag, row.text, row.component, row.start_ts, row.end_ts, row.exact,
                      http_date(row.modified_at))


_OBJECTS = select(ObjectRow.href, ObjectRow.uid, ObjectRow.etag, ObjectRow.text, ObjectRow.component,
                  ObjectRow.start_ts, ObjectRow.end_ts, ObjectRow.exact, ObjectRow.modified_at)
"""The columns of an object view: plain rows, no ORM identity bookkeeping
(full listings read thousands of them)."""


_COLLECTIONS = select(CollectionRow.id, CollectionRow.principal, CollectionRow.name, CollectionRow.component,
                      CollectionRow.rev, CollectionRow.props, CollectionRow.modified_at, CollectionRow.pruned_rev)


@contextmanager
def _reading(engine: Engine) -> Iterator[Connection]:
    """A short read transaction on a plain connection: the read paths run on
    every request, and an ORM session costs several times the query."""
    with engine.connect() as conn:
        yield conn


def _views(conn: Connection, stmt: Any) -> list[ObjectView]:
    return [_object(r) for r in conn.execute(stmt)]


def _collection(instance: str, row: Any) -> CollectionView:
    return CollectionView(
        id=row.id, principal=row.principal, name=row.name, component=row.component, rev=row.rev,
        props=json.loads(row.props), last_modified=http_date(row.modified_at),
        token=f"{TOKEN_PREFIX}{instance}:{row.id}:{row.rev}", ctag=f'"{instance}-{row.id}-{row.rev}"')


# -- reads -------------------------------------------------------------------------


def principal(engine: Engine, login: str) -> PrincipalView | None:
    """A user's or resource's principal, or None."""
    with _reading(engine) as conn:
        user = conn.execute(select(UserRow.name, UserRow.email).where(UserRow.login == login)).first()
        if user is not None:
            return PrincipalView(login, "user", user.name, user.email)
        res = conn.execute(select(ResourceRow.name, ResourceRow.email).where(ResourceRow.login == login)).first()
        return PrincipalView(login, "resource", res.name, res.email) if res is not None else None


def collections(engine: Engine, login: str) -> list[CollectionView]:
    """The principal's calendars, without their members."""
    with _reading(engine) as conn:
        instance = projection.instance_id_of(conn)
        rows = conn.execute(_COLLECTIONS.where(CollectionRow.principal == login).order_by(CollectionRow.id))
        return [_collection(instance, r) for r in rows]


def collection(engine: Engine, login: str, name: str, with_items: bool = False) -> CollectionView | None:
    with _reading(engine) as conn:
        row = conn.execute(_COLLECTIONS.where(CollectionRow.principal == login, CollectionRow.name == name)).first()
        if row is None:
            return None
        view = _collection(projection.instance_id_of(conn), row)
        if with_items:
            view.items = _views(conn, _OBJECTS.where(ObjectRow.collection_id == row.id).order_by(ObjectRow.href))
        return view


def objects(engine: Engine, collection_id: int, hrefs: Iterable[str] | None = None) -> list[ObjectView]:
    with _reading(engine) as conn:
        stmt = _OBJECTS.where(ObjectRow.collection_id == collection_id)
        if hrefs is not None:
            wanted = list(dict.fromkeys(hrefs))
            found: list[ObjectView] = []
            for first in range(0, len(wanted), 500):
                found += _views(conn, stmt.where(ObjectRow.href.in_(wanted[first:first + 500])))
            return found
        return _views(conn, stmt.order_by(ObjectRow.href))


def in_range(engine: Engine, collection_id: int, component: str | None, start: int, end: int) -> list[ObjectView]:
    """Objects whose indexed range overlaps [start, end) (RFC 4791 9.9)."""
    with _reading(engine) as conn:
        stmt = _OBJECTS.where(ObjectRow.collection_id == collection_id,
                              ObjectRow.start_ts < end, ObjectRow.end_ts > start)
        if component:
            stmt = stmt.where(ObjectRow.component == component)
        return _views(conn, stmt.order_by(ObjectRow.href))


_OVERLAP_CACHE: OrderedDict[str, mapping.OverlapIndex] = OrderedDict()
_OVERLAP_LOCK = threading.Lock()
OVERLAP_CACHE_SIZE = 50_000


def _overlap_index(o: ObjectView) -> mapping.OverlapIndex:
    """The object's instance index, built once per object text (keyed by etag)."""
    with _OVERLAP_LOCK:
        found = _OVERLAP_CACHE.get(o.etag)
        if found is not None:
            _OVERLAP_CACHE.move_to_end(o.etag)
            return found
    index = mapping.OverlapIndex(mapping.parse_calendar(o.text))
    with _OVERLAP_LOCK:
        _OVERLAP_CACHE[o.etag] = index
        while len(_OVERLAP_CACHE) > OVERLAP_CACHE_SIZE:
            _OVERLAP_CACHE.popitem(last=False)
    return index


def query(engine: Engine, collection_id: int, component: str | None, start: int, end: int,
          simple: bool) -> list[tuple[ObjectView, bool]]:
    """calendar-query candidates and whether each fully matches the filter.

    With a simple filter (one component and a time range), every object is
    decided here: a timed single event by its indexed range, anything else
    (recurrences, dates, floating times, to-dos) by a bounded walk over its
    instances, so no query ever expands a series from its first instance.
    Other filters are left to Radicale (``False``)."""
    found = []
    for o in in_range(engine, collection_id, component, start, end):
        if not simple:
            found.append((o, False))
        elif o.exact and o.component == "VEVENT":
            found.append((o, True))
        elif _overlap_index(o).overlaps(start, end):
            found.append((o, True))
    return found


def has_uid(engine: Engine, collection_id: int, uid: str) -> bool:
    with _reading(engine) as conn:
        return conn.execute(select(ObjectRow.id).where(ObjectRow.collection_id == collection_id,
                                                       ObjectRow.uid == uid)).first() is not None


def sync(engine: Engine, collection_id: int, old_token: str) -> tuple[str, list[str]]:
    """The current token and the hrefs changed since ``old_token`` (RFC 6578).

    An empty token lists every member and no removed ones (RFC 6578 3.4).
    A token of another store, another collection, from the future or older
    than the collection's pruned tombstones is refused with ValueError,
    which Radicale answers with 403 DAV:valid-sync-token.
    """
    with _reading(engine) as conn:
        row = conn.execute(_COLLECTIONS.where(CollectionRow.id == collection_id)).first()
        if row is None:
            raise NotFound("the collection is gone")
        view = _collection(projection.instance_id_of(conn), row)
        if not old_token:
            hrefs = conn.execute(select(ObjectRow.href).where(ObjectRow.collection_id == row.id)).scalars()
            return view.token, sorted(hrefs)
        prefix = view.token.rsplit(":", 1)[0] + ":"
        rev_text = old_token[len(prefix):] if old_token.startswith(prefix) else ""
        if not rev_text.isdigit() or int(rev_text) > row.rev:
            raise ValueError(f"sync token {old_token!r} is not one of this collection")
        if int(rev_text) < row.pruned_rev:
            raise ValueError(f"sync token {old_token!r} is older than the removals this collection still "
                             "remembers; sync afresh")
        return view.token, projection.changed_since(conn, row.id, int(rev_text))


def principal_kind(engine: Engine, login: str) -> str | None:
    """"user", "resource" or None."""
    with _reading(engine) as conn:
        if conn.execute(select(UserRow.id).where(UserRow.login == login)).first() is not None:
            return "user"
        if conn.execute(select(ResourceRow.id).where(ResourceRow.login == login)).first() is not None:
            return "resource"
    return None


_VERIFIED: dict[tuple[str, str], tuple[str, float]] = {}
_SALT = secrets.token_bytes(16)
VERIFIED_SECONDS = 300.0


def _password_hash(conn: Connection, login: str) -> str | None:
    return conn.execute(select(UserRow.password_hash).where(UserRow.login == login)).scalar()


def _verified_key(login: str, password: str, stored: str) -> tuple[str, str]:
    return login, hashlib.sha256(_SALT + password.encode() + b"\0" + stored.encode()).hexdigest()


def authenticate(engine: Engine, login: str, password: str) -> bool:
    """Check a login against the stored scrypt hash.

    CalDAV clients send Basic credentials with every request, and a scrypt
    costs tens of milliseconds, so a success is remembered for five minutes,
    keyed by a salted digest of the password and the stored hash (a changed
    password invalidates it at once)."""
    from server.services.followups import check_password

    with _reading(engine) as conn:
        stored = _password_hash(conn, login)
    if not stored:
        return False
    key = _verified_key(login, password, stored)
    now = time.monotonic()
    hit = _VERIFIED.get(key)
    if hit is not None and hit[1] > now:
        return True
    if not check_password(stored, password):
        return False
    if len(_VERIFIED) > 10_000:
        _VERIFIED.clear()
    _VERIFIED[key] = (stored, now + VERIFIED_SECONDS)
    return True


def recently_verified(conn: Connection, login: str, password: str) -> bool:
    """Whether :func:`authenticate` accepted these credentials in the last
    five minutes against the hash stored now, read on ``conn`` (inside the
    caller's transaction). Never runs scrypt: a writer asks this first and
    authenticates outside its transaction only when the answer is no."""
    stored = _password_hash(conn, login)
    if not stored:
        return False
    hit = _VERIFIED.get(_verified_key(login, password, stored))
    return hit is not None and hit[1] > time.monotonic()


# -- writes (inside the request's unit of work) -----------------------------------------


def same_text(stored: str, sent: str) -> bool:
    """Whether the stored object is the body as sent, but for line ends and
    the final newline (RFC 4791 5.3.4: only then may a PUT answer an ETag)."""
    return stored.replace("\r\n", "\n").strip() == sent.replace("\r\n", "\n").strip()


def lock_principal(uow: UnitOfWork, principal: str) -> None:
    """Serialize writers to one principal's calendars for the rest of the
    transaction, across processes and hosts: an If-Match check and the write
    it guards must not interleave with another writer. SQLite's write
    transaction (BEGIN IMMEDIATE) already excludes every other writer; on
    PostgreSQL a transaction-scoped advisory lock does it per principal."""
    if uow.engine.dialect.name == "postgresql":
        uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": "followups:" + principal})


def _writable(uow: UnitOfWork, login: str, name: str, user: str) -> tuple[CollectionRow, User]:
    row = projection.collection(uow, login, name)
    if row.name == BOOKINGS:
        raise Forbidden(f"/{login}/{name}/ is read-only: bookings follow the meetings that book the resource")
    if login != user:
        raise Forbidden(f"/{login}/{name}/ belongs to another user")
    return row, uow.users.by_login(login)


def set_props(uow: UnitOfWork, login: str, name: str, user: str, props: dict[str, str]) -> None:
    """PROPPATCH: display name, colour, order and other dead properties; the
    collection's type and component set stay the CRM's."""
    row = projection.collection(uow, login, name)
    if login != user:
        raise Forbidden(f"/{login}/{name}/ belongs to another user")
    current = json.loads(row.props)
    merged = {k: v for k, v in props.items() if k not in PROTECTED_PROPS}
    merged.update({k: current[k] for k in PROTECTED_PROPS if k in current})
    row.props = json.dumps(merged, sort_keys=True)
    projection.bump(uow, row.id)


def _object_row(uow: UnitOfWork, collection_id: int, href: str) -> ObjectRow | None:
    return uow.session.scalar(select(ObjectRow).where(ObjectRow.collection_id == collection_id,
                                                      ObjectRow.href == href))


def put(uow: UnitOfWork, login: str, name: str, href: str, data: str, user: str,
        parsed: Calendar | None = None, if_match: str = "", if_none_match: bool = False) -> tuple[ObjectView, bool]:
    """Create or replace the object at ``href``. Returns the stored object and
    whether it replaced one. ``parsed`` is ``data`` already parsed by
    ``mapping.parse_calendar``, when the caller has it; ``if_match`` and
    ``if_none_match`` are the request's preconditions (RFC 9110 13.1),
    checked in the same transaction as the write."""
    coll, owner = _writable(uow, login, name, user)
    row = _object_row(uow, coll.id, href)
    if row is None and if_match:
        raise PreconditionFailed("the object does not exist (If-Match)")
    if row is not None and if_match and if_match not in ("*", row.etag):
        raise PreconditionFailed("the object has changed (If-Match)")
    if row is not None and if_none_match:
        raise PreconditionFailed("the object exists (If-None-Match: *)")
    cal = parsed if parsed is not None else mapping.parse_calendar(data)
    mapping.check_component(cal, coll.component)
    uid = mapping.uid_of(cal)
    d = DbDirectory(uow)
    if row is not None:
        if row.uid != uid:
            raise UidConflict(row.uid, href)
        before = uow.followups.get(row.followup_id)
        if before.owner_id != owner.id:
            f = invitee_reply(uow, before, cal, owner)
        else:
            f = mapping.to_followup(cal, owner, d, existing=before)
            f.id, f.owner_id = before.id, before.owner_id
        uow.followups.update(f)
    else:
        clash = uow.session.scalar(select(ObjectRow.href).where(ObjectRow.collection_id == coll.id,
                                                                ObjectRow.uid == uid))
        if clash is not None:
            raise UidConflict(uid, clash)
        f = mapping.to_followup(cal, owner, d)
        f.owner_id = owner.id  # type: ignore[assignment]
        uow.followups.add(f)
    rows = projection.project(uow, d, f, hrefs={Target(login, name): href}, new=row is None)
    stored = rows.get(Target(login, name))
    if stored is None:
        raise UidConflict(uid)
    return _object(stored), row is not None


def invitee_reply(uow: UnitOfWork, before: Followup, cal: Calendar, invitee: User) -> Followup:
    """Apply an invitee's PUT of their copy: only their own PARTSTAT changes
    (the mapping spec); everything else stays the organizer's."""
    parsed = mapping.to_followup(cal, uow.users.get(before.owner_id), DbDirectory(uow), existing=before)
    f = before.copy()
    for p in f.participants:
        if p.user_id == invitee.id:
            for q in parsed.participants:
                if q.user_id == invitee.id:
                    p.partstat = q.partstat
    return f


def delete(uow: UnitOfWork, login: str, name: str, href: str, user: str) -> None:
    """DELETE by the owner deletes the follow-up and every copy; by an invitee,
    it declines (PARTSTAT=DECLINED) and drops the meeting from their calendar."""
    coll, owner = _writable(uow, login, name, user)
    row = _object_row(uow, coll.id, href)
    if row is None:
        raise NotFound(f"no object {href} in /{login}/{name}/")
    f = uow.followups.get(row.followup_id)
    if f.owner_id == owner.id:
        projection.unproject(uow, f.id)  # type: ignore[arg-type]
        uow.followups.delete(f.id)  # type: ignore[arg-type]
        return
    for p in f.participants:
        if p.user_id == owner.id:
            p.partstat = PartStat.DECLINED
    uow.followups.update(f)
    projection.project(uow, DbDirectory(uow), f)


def move(uow: UnitOfWork, src: tuple[str, str, str], dst: tuple[str, str, str], user: str) -> None:
    """MOVE within one user's calendars: the href changes (and the kind must
    fit the target's component set); the follow-up stays the same."""
    src_coll, owner = _writable(uow, src[0], src[1], user)
    dst_coll, _ = _writable(uow, dst[0], dst[1], user)
    row = _object_row(uow, src_coll.id, src[2])
    if row is None:
        raise NotFound(f"no object {src[2]} in /{src[0]}/{src[1]}/")
    if row.component != dst_coll.component:
        raise mapping.UnsupportedComponent(
            row.component, f"/{dst[0]}/{dst[1]}/ holds {dst_coll.component} only, not {row.component}")
    if src_coll.id != dst_coll.id:
        raise Forbidden("a follow-up moves between calendars by changing its kind in the CRM")
    target = _object_row(uow, dst_coll.id, dst[2])
    if target is not None and target.id != row.id:
        raise UidConflict(target.uid, target.href)
    if target is None:
        projection.rename(uow, row, dst[2])
