"""The CalDAV side's application service: what the PUT path and the Radicale
plugins call.

Reads return plain snapshots (no live database objects), because Radicale
builds its XML after it has released the storage lock. Writes run inside one
:class:`WriteRequest` per HTTP request (one transaction under the store's
write lock, see ``store.db``), shared by the PUT path and the storage plugin. Nothing
here knows HTTP: errors are ``server.services.errors``, and
``server.dav.errors`` answers them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from types import TracebackType
from typing import Any, TypeVar

from icalendar import Calendar
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

import mapping
from server.services import auth, grants, personal, privacy, projection
from server.services.directory import DbDirectory
from server.services.errors import (
    Forbidden,
    InvalidSyncToken,
    NotFound,
    UidConflict,
    check_preconditions,
)
from server.services.lru import Lru
from server.services.projection import BOOKINGS, MEETINGS, TASKS, USER_COLLECTIONS, Target
from server.services.transaction import ATTEMPTS, pause, retryable, transaction
from store import db
from store.calendar import CalendarReader
from store.domain import Followup, PartStat, Source, User
from store.orm import CollectionRow, ObjectRow
from store.uow import UnitOfWork

TOKEN_PREFIX = "urn:x-followup-caldav:sync:"
__all__ = ["BOOKINGS", "MEETINGS", "TASKS", "USER_COLLECTIONS"]
PROTECTED_PROPS = ("tag", "C:supported-calendar-component-set")
T = TypeVar("T")


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
    private: bool = False

    def shown(self, full: bool) -> ObjectView:
        """This object as a viewer sees it (:mod:`server.services.privacy`):
        itself, or its busy block when it is private and ``full`` is false."""
        if full or not self.private:
            return self
        text, etag = privacy.masked(self.text, self.etag)
        return replace(self, text=text, etag=etag)


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
    kind: str = "crm"
    """``crm`` (meetings, tasks, bookings) or ``personal`` (made by a client, ``server.services.personal``)."""


@dataclass
class PrincipalView:
    login: str
    kind: str
    name: str
    email: str | None


def http_date(value: datetime) -> str:
    return format_datetime(value.replace(tzinfo=UTC), usegmt=True)


def _object(row: Any, full: bool = True) -> ObjectView:
    """An object view of a row with :data:`store.calendar.OBJECT_COLUMNS`, as a
    viewer who does (not) see private objects in ``full`` sees it."""
    return ObjectView(row.href, row.uid, row.etag, row.text, row.component, row.start_ts, row.end_ts, row.exact,
                      http_date(row.modified_at), bool(row.private)).shown(full)


def _collection(instance: str, row: Any) -> CollectionView:
    return CollectionView(
        id=row.id, principal=row.principal, name=row.name, component=row.component, rev=row.rev,
        props=json.loads(row.props), last_modified=http_date(row.modified_at),
        token=f"{TOKEN_PREFIX}{instance}:{row.id}:{row.rev}", ctag=f'"{instance}-{row.id}-{row.rev}"', kind=row.kind)


@contextmanager
def _reading(engine: Engine) -> Iterator[CalendarReader]:
    """A short read transaction on a plain connection (:func:`store.db.reading`)."""
    with db.reading(engine) as conn:
        yield CalendarReader(conn)


# -- who may do what -----------------------------------------------------------------


def may_write(user: str, principal: str, name: str) -> bool:
    """The one rule for writes: a user writes only into their own CRM
    calendars (``meetings``, ``tasks``) and personal calendars (any other name
    a personal calendar may have, :func:`personal.is_personal_name`); bookings
    are read-only for all."""
    return bool(user) and principal == user and (name in USER_COLLECTIONS or personal.is_personal_name(name))


def rights(engine: Engine, user: str, parts: list[str]) -> str:
    """Radicale's permission letters for ``user`` on the path ``parts``.

    A user reads and writes the items of their own calendars (:func:`may_write`)
    and reads the bookings of every resource. A user makes and deletes
    personal calendars in their own home (``w`` and ``D`` on any name a
    personal calendar may have); the CRM's calendars are never created,
    deleted or overwritten by clients. Any other path directly in a user's own
    home (the reserved names) is readable by that user, so asking for it
    answers 404 there (as in vanilla Radicale; clients tell "not found" from
    "not allowed" by it) while MKCALENDAR, MKCOL and PUT into it still answer
    403. In someone else's home everything answers 403 (personal calendars
    included, whatever grants say), so
    nothing about it leaks. A lead who was granted a user's diary
    (``server.services.grants``) reads that user's ``meetings`` and ``tasks``,
    private follow-ups masked (``server.services.privacy``)."""
    if not user:
        return ""
    if not parts:
        return "R"
    if parts[0] == user:
        if len(parts) == 1:
            return "R"
        if len(parts) == 2:
            if not may_write(user, parts[0], parts[1]):
                return "r"
            return "rw" if parts[1] in USER_COLLECTIONS else "rwD"
        return ""
    if len(parts) > 2:
        return ""
    kind = principal_kind(engine, parts[0])  # one plain read; bookings are read far more than diaries
    if kind == "resource":
        return "R" if len(parts) == 1 else ("r" if parts[1] == BOOKINGS else "")
    if kind == "user" and grants.may_read(engine, user, parts[0]):
        return "R" if len(parts) == 1 else ("r" if parts[1] in USER_COLLECTIONS else "")
    return ""


# -- reads -------------------------------------------------------------------------


def principal(engine: Engine, login: str) -> PrincipalView | None:
    """A user's or resource's principal, or None."""
    with _reading(engine) as r:
        user = r.user(login)
        if user is not None:
            return PrincipalView(login, "user", user.name, user.email)
        res = r.resource(login)
        return PrincipalView(login, "resource", res.name, res.email) if res is not None else None


def principal_by_address(engine: Engine, address: str) -> str | None:
    """The login of the user, else the resource, whose e-mail ``address``
    (``mailto:...``, any case) is; None for anyone else."""
    email = address[7:] if address.lower().startswith("mailto:") else ""
    if not email:
        return None
    with transaction(engine, write=False) as uow:
        user = uow.users.by_email(email)
        if user is not None:
            return user.login
        resource = uow.resources.by_email(email)
        return resource.login if resource is not None else None


def principal_kind(engine: Engine, login: str) -> str | None:
    """"user", "resource" or None."""
    found = principal(engine, login)
    return found.kind if found is not None else None


def collections(engine: Engine, login: str) -> list[CollectionView]:
    """The principal's calendars, without their members."""
    with _reading(engine) as r:
        instance = r.instance_id()
        return [_collection(instance, row) for row in r.collections(login)]


def collection(engine: Engine, login: str, name: str, with_items: bool = False,
               viewer: str | None = None) -> CollectionView | None:
    """The calendar, with its members when ``with_items``, as ``viewer`` sees
    them (None: the owner's view, for the application itself)."""
    with _reading(engine) as r:
        row = r.collection(login, name)
        if row is None:
            return None
        view = _collection(r.instance_id(), row)
        if with_items:
            full = viewer is None or privacy.sees_in_full(viewer, login, name)
            view.items = [_object(o, full) for o in r.objects(row.id)]
        return view


@dataclass(frozen=True)
class Member:
    """What a listing of a calendar shows of one object: no text unless asked."""
    href: str
    etag: str
    component: str
    modified: datetime | str
    """When it last changed: a datetime as read, or already an HTTP date."""
    text: str | None = None

    @property
    def last_modified(self) -> str:
        return self.modified if isinstance(self.modified, str) else http_date(self.modified)


class Unverified(Exception):
    """The login's password was not accepted in the last minutes: check it
    (:func:`auth.authenticate`, outside any read) and ask again."""


@contextmanager
def _own(engine: Engine, login: str, password: str,
         name: str) -> Iterator[tuple[CalendarReader, Any, CollectionView] | None]:
    """A read of ``login``'s own calendar ``name`` (see :func:`own_members`), or None."""
    if not may_write(login, login, name):
        yield None
        return
    with db.reading(engine) as conn:
        if not auth.recently_verified(conn, login, password):
            raise Unverified(login)
        r = CalendarReader(conn)
        row = r.collection(login, name)
        yield None if row is None else (r, row, _collection(r.instance_id(), row))


def own_members(engine: Engine, login: str, password: str, name: str, hrefs: Iterable[str] | None = None,
                texts: bool = False) -> tuple[CollectionView, list[Member]] | None:
    """``login``'s own calendar ``name`` and its members (those at ``hrefs``
    when given), for the listings ``server.dav.listing`` answers itself; None
    unless the calendar exists. Unverified unless the password was accepted in
    the last minutes: this never hashes, inside a read or anywhere. The owner
    sees every object in full (no masking), so this is only ever the owner's
    view."""
    with _own(engine, login, password, name) as found:
        if found is None:
            return None
        r, _row, view = found
        rows = r.listing(view.id, hrefs, texts)
    return view, [Member(o.href, o.etag, o.component, o.modified_at, o.text if texts else None) for o in rows]


def own_texts(engine: Engine, login: str, password: str, name: str,
              take: Callable[[str], None]) -> CollectionView | None:
    """``take`` every object text of ``login``'s own calendar ``name``, in
    :func:`own_members`' order, streamed from the database (a whole calendar's
    texts are never held at once); the calendar, or None as for
    :func:`own_members` (then nothing was taken)."""
    with _own(engine, login, password, name) as found:
        if found is None:
            return None
        r, _row, view = found
        for text in r.texts_of(view.id):
            take(text)
    return view


def objects(engine: Engine, collection_id: int, hrefs: Iterable[str] | None = None,
            full: bool = True) -> list[ObjectView]:
    """Members (those at ``hrefs``), masked where private unless ``full``."""
    with _reading(engine) as r:
        return [_object(o, full) for o in r.objects(collection_id, hrefs)]


def in_range(engine: Engine, collection_id: int, component: str | None, start: int, end: int,
             full: bool = True) -> list[ObjectView]:
    """Objects whose indexed range overlaps [start, end) (RFC 4791 9.9)."""
    with _reading(engine) as r:
        return [_object(o, full) for o in r.in_range(collection_id, component, start, end)]


OVERLAPS: Lru[str, mapping.OverlapIndex] = Lru(50_000)
"""Instance indexes by object ETag; bounded by ``overlap_cache_entries``."""


def _overlap_index(o: ObjectView) -> mapping.OverlapIndex:
    """The object's instance index, built once per object text (keyed by etag)."""
    found = OVERLAPS.get(o.etag)
    if found is not None:
        return found
    index = mapping.OverlapIndex(mapping.parse_calendar(o.text))
    OVERLAPS.put(o.etag, index)
    return index


def query(engine: Engine, collection_id: int, component: str | None, start: int, end: int,
          simple: bool, full: bool = True) -> list[tuple[ObjectView, bool]]:
    """calendar-query candidates and whether each fully matches the filter.

    With a simple filter (one component and a time range), every object is
    decided here: a timed single event by its indexed range, anything else
    (recurrences, dates, floating times, to-dos) by a bounded walk over its
    instances, so no query ever expands a series from its first instance.
    Other filters are left to Radicale (``False``)."""
    found = []
    for o in in_range(engine, collection_id, component, start, end, full):
        if not simple or o.component == "VJOURNAL":  # a personal calendar's journal: Radicale decides
            found.append((o, False))
        elif o.exact and o.component == "VEVENT":
            found.append((o, True))
        elif _overlap_index(o).overlaps(start, end):
            found.append((o, True))
    return found


def has_uid(engine: Engine, collection_id: int, uid: str) -> bool:
    with _reading(engine) as r:
        return r.has_uid(collection_id, uid)


def sync(engine: Engine, collection_id: int, old_token: str) -> tuple[str, list[str]]:
    """The current token and the hrefs changed since ``old_token`` (RFC 6578);
    :func:`sync_members` says which."""
    token, hrefs, _ = sync_members(engine, collection_id, old_token)
    return token, hrefs


def sync_members(engine: Engine, collection_id: int, old_token: str,
                 full: bool = True) -> tuple[str, list[str], list[ObjectView] | None]:
    """The current token, the hrefs changed since ``old_token`` (RFC 6578),
    and the members among them as the token has them (masked where private
    unless ``full``): an answer built from these reports every change exactly
    once, even while other processes write (see
    :meth:`store.calendar.CalendarReader.changed_since`). An href in the list
    but not among the members was removed.

    An empty token lists every member and no removed ones (RFC 6578 3.4),
    and no members (None: read them as they are): clients ask for the token
    alone (PROPFIND) far more often than they sync afresh, and a member
    changed while a fresh sync is answered is reported again by the next.
    A token of another store, another collection, from the future or older
    than the collection's pruned tombstones is refused (InvalidSyncToken).
    """
    with _reading(engine) as r:
        row = r.collection_by_id(collection_id)
        if row is None:
            raise NotFound("the collection is gone")
        view = _collection(r.instance_id(), row)
        if not old_token:
            return view.token, r.hrefs(row.id), None
        hrefs, present = _changes(r, row, view, old_token)
        return view.token, hrefs, [_object(o, full) for o in present]


def _changes(r: CalendarReader, row: Any, view: CollectionView, old_token: str) -> tuple[list[str], list[Any]]:
    """:meth:`CalendarReader.changed_since` the revision of ``old_token`` (not
    empty), or InvalidSyncToken (see :func:`sync_members`)."""
    prefix = view.token.rsplit(":", 1)[0] + ":"
    rev_text = old_token[len(prefix):] if old_token.startswith(prefix) else ""
    # ASCII digits of a sane length only: int() refuses other Unicode digits
    # ("²") and texts past 4,300 digits with a ValueError, not a refusal.
    if not (rev_text.isascii() and rev_text.isdigit() and len(rev_text) <= 18) or int(rev_text) > row.rev:
        raise InvalidSyncToken(f"sync token {old_token!r} is not one of this collection")
    if int(rev_text) < row.pruned_rev:
        raise InvalidSyncToken(f"sync token {old_token!r} is older than the removals this collection "
                               "still remembers; sync afresh")
    return r.changed_since(row.id, int(rev_text), upto=row.rev)


def own_sync(engine: Engine, login: str, password: str, name: str, old_token: str,
             texts: bool = False) -> tuple[str, list[str], list[Member]] | None:
    """:func:`sync_members` of ``login``'s own calendar ``name`` in one read
    (see :func:`own_members`, and None as there): the token, the hrefs changed
    since ``old_token`` (every member's for an empty one, sorted) and the
    members among them. InvalidSyncToken for a token it cannot answer."""
    with _own(engine, login, password, name) as found:
        if found is None:
            return None
        r, row, view = found
        if not old_token:
            rows = r.listing(row.id, texts=texts)
            return view.token, sorted(o.href for o in rows), [
                Member(o.href, o.etag, o.component, o.modified_at, o.text if texts else None) for o in rows]
        hrefs, present = _changes(r, row, view, old_token)
        return view.token, hrefs, [Member(o.href, o.etag, o.component, o.modified_at, o.text if texts else None)
                                   for o in present]


# -- writes -------------------------------------------------------------------------


class WriteRequest:
    """One client write request: one transaction under the store's write
    lock, committed at the end unless an operation failed.

    Every writer takes that lock first (``store.db``), across processes and
    hosts, so an If-Match check and the write it guards never interleave with
    another writer, the CRM's included. Any failed operation rolls the whole
    request back: a failed request changes nothing, even where the caller
    (Radicale) turns the error into an answer without re-raising it. The
    request's first operation is run again in a fresh transaction when
    PostgreSQL refuses to serialize it
    (:func:`server.services.transaction.retrying`): nothing was answered yet."""

    def __init__(self, engine: Engine, user: str, principal: str) -> None:
        self.engine = engine
        self.user = user
        self.principal = principal
        self.failed = False
        self.operations = 0

    def __enter__(self) -> WriteRequest:
        self._begin()
        return self

    def _begin(self) -> None:
        self.uow = transaction(self.engine, actor=self.user or "anonymous", source=Source.CLIENT, write=True)
        self.uow.__enter__()

    def verified(self, login: str, password: str) -> bool:
        """:func:`auth.recently_verified`, inside this transaction."""
        return auth.recently_verified(self.uow.session.connection(), login, password)

    def run(self, operation: Callable[[UnitOfWork, str], T]) -> T:
        for attempt in range(ATTEMPTS):
            try:
                result = operation(self.uow, self.user)
            except DBAPIError as exc:
                if self.operations or attempt + 1 >= ATTEMPTS or not retryable(exc):
                    self._fail()
                    raise
            except BaseException:
                self._fail()
                raise
            else:
                self.operations += 1
                return result
            self.uow.__exit__(None, None, None)
            pause(attempt)
            self._begin()
        raise AssertionError("unreachable")

    def _fail(self) -> None:
        self.failed = True
        self.uow.session.rollback()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None and not self.failed:
                self.uow.commit()
        finally:
            self.uow.__exit__(exc_type, exc, tb)


def same_text(stored: str, sent: str) -> bool:
    """Whether the stored object is the body as sent, but for line ends and
    the final newline (RFC 4791 5.3.4: only then may a PUT answer an ETag)."""
    return stored.replace("\r\n", "\n").strip() == sent.replace("\r\n", "\n").strip()


def followup_of(row: ObjectRow) -> int:
    """The follow-up a CRM calendar's object shows (objects of personal calendars show none)."""
    if row.followup_id is None:
        raise NotFound(f"{row.href} is not a follow-up")
    return row.followup_id


def _writable(uow: UnitOfWork, login: str, name: str, user: str) -> tuple[CollectionRow, User]:
    row = uow.calendars.get(login, name)
    if not may_write(user, login, name):
        if row.name == BOOKINGS:
            raise Forbidden(f"/{login}/{name}/ is read-only: bookings follow the meetings that book the resource")
        raise Forbidden(f"/{login}/{name}/ belongs to another user")
    return row, uow.users.by_login(login)


def set_props(uow: UnitOfWork, login: str, name: str, user: str, props: dict[str, str]) -> None:
    """PROPPATCH: display name, colour, order and other dead properties; the
    collection's type and component set stay the CRM's."""
    row = uow.calendars.get(login, name)
    if login != user:
        raise Forbidden(f"/{login}/{name}/ belongs to another user")
    if row.kind == personal.PERSONAL:
        uow.calendars.set_props(row, personal.props_kept(row, props))
        return
    current = json.loads(row.props)
    merged = {k: v for k, v in props.items() if k not in PROTECTED_PROPS}
    merged.update({k: current[k] for k in PROTECTED_PROPS if k in current})
    uow.calendars.set_props(row, merged)


def put(uow: UnitOfWork, login: str, name: str, href: str, data: str, user: str,
        parsed: Calendar | None = None, if_match: str = "",
        if_none_match: bool = False) -> tuple[ObjectView | None, bool]:
    """Create or replace the object at ``href``. Returns the stored object
    (None when an invitee declined, which takes the meeting out of their
    calendar) and whether it replaced one. ``parsed`` is ``data`` already parsed by
    ``mapping.parse_calendar``, when the caller has it; ``if_match`` and
    ``if_none_match`` are the request's preconditions (RFC 9110 13.1),
    checked in the same transaction as the write."""
    found = uow.calendars.find(login, name)
    if found is not None and found.kind == personal.PERSONAL:
        stored_row, replaced = personal.put(uow, found, href, data, user, parsed, if_match, if_none_match)
        return _object(stored_row), replaced
    coll, owner = _writable(uow, login, name, user)
    row = uow.calendars.object_at(coll.id, href)
    check_preconditions(None if row is None else row.etag, if_match, if_none_match)
    cal = parsed if parsed is not None else mapping.parse_calendar(data)
    mapping.check_component(cal, coll.component)
    uid = mapping.uid_of(cal)
    d = DbDirectory(uow)
    d.preload_addresses(mapping.attendee_addresses(cal))
    if row is not None:
        if row.uid != uid:
            raise UidConflict(row.uid, href)
        before = uow.followups.get(followup_of(row))
        if before.owner_id != owner.id:
            f, declared = invitee_reply(uow, before, cal, owner, d)
        else:
            f = mapping.to_followup(cal, owner, d, existing=before, now=datetime.now(UTC))
            f.id, f.owner_id = before.id, before.owner_id
            declared = f.copy()
        uow.followups.update(f)
    else:
        clash = uow.calendars.href_of_uid(coll.id, uid)
        if clash is not None:
            raise UidConflict(uid, clash)
        f = mapping.to_followup(cal, owner, d, now=datetime.now(UTC))
        f.owner_id = owner.id  # type: ignore[assignment]
        declared = f.copy()
        uow.followups.add(f)
    target = Target(login, name)
    rows = projection.project(uow, d, f, hrefs={target: href}, new=row is None,
                              sent={target: projection.Sent(data, cal, declared)})
    stored = rows.get(target)
    if stored is None:
        if row is not None and f.owner_id != owner.id:
            return None, True  # the invitee declined: the meeting leaves their calendar
        raise UidConflict(uid)
    return _object(stored), row is not None


def invitee_reply(uow: UnitOfWork, before: Followup, cal: Calendar, invitee: User,
                  d: DbDirectory | None = None) -> tuple[Followup, Followup]:
    """Apply an invitee's PUT of their copy (the mapping spec): their own
    PARTSTAT, and their own alarm and client lines (X-MOZ-*, X-APPLE-*, other
    alarms), kept for their copy only. Everything else stays the organizer's.
    Returns the follow-up, and the one the invitee's text declares (its
    other differences from the organizer's are patched back into their copy).
    ``d`` is the request's directory, when the caller has one."""
    d = d if d is not None else DbDirectory(uow)
    mine = projection.copy_for(before, Target(invitee.login, MEETINGS), d)
    parsed = mapping.to_followup(cal, uow.users.get(before.owner_id), d, existing=mine)
    f = before.copy()
    for p in f.participants:
        if p.user_id == invitee.id:
            for q in parsed.participants:
                if q.user_id == invitee.id:
                    p.partstat = q.partstat
            p.alarm_minutes, p.client_data = parsed.alarm_minutes, parsed.client_data
    return f, parsed


def delete(uow: UnitOfWork, login: str, name: str, href: str, user: str, if_match: str = "") -> None:
    """DELETE by the owner deletes the follow-up and every copy; by an invitee,
    it declines (PARTSTAT=DECLINED) and drops the meeting from their calendar.
    ``if_match`` is the request's If-Match (RFC 9110 13.1.1), checked once the
    object is found (a missing object is NotFound, whatever the header says)."""
    found = uow.calendars.find(login, name)
    if found is not None and found.kind == personal.PERSONAL:
        if if_match:
            _check_delete(uow.calendars.object_at(found.id, href), f"/{login}/{name}/{href}", if_match)
        personal.delete(uow, found, href, user)
        return
    coll, owner = _writable(uow, login, name, user)
    row = _check_delete(uow.calendars.object_at(coll.id, href), f"/{login}/{name}/{href}", if_match)
    owner_id, uid = uow.followups.owner_and_uid(followup_of(row))
    if owner_id == owner.id:
        uow.followups.drop(followup_of(row), uid)
        return
    f = uow.followups.get(followup_of(row))
    for p in f.participants:
        if p.user_id == owner.id:
            p.partstat = PartStat.DECLINED
    uow.followups.update(f)
    projection.project(uow, DbDirectory(uow), f)


def _check_delete(row: ObjectRow | None, path: str, if_match: str) -> ObjectRow:
    if row is None:
        raise NotFound(f"no object {path}")
    check_preconditions(row.etag, if_match, False)
    return row


def move(uow: UnitOfWork, src: tuple[str, str, str], dst: tuple[str, str, str], user: str) -> None:
    """MOVE within one user's calendars: the href changes (and the kind must
    fit the target's component set); the follow-up stays the same. Personal
    calendars' objects move among those (``server.services.personal.move``)."""
    src_found, dst_found = uow.calendars.find(src[0], src[1]), uow.calendars.find(dst[0], dst[1])
    if src_found is not None and dst_found is not None and personal.PERSONAL in (src_found.kind, dst_found.kind):
        personal.move(uow, src_found, src[2], dst_found, dst[2], user)
        return
    src_coll, owner = _writable(uow, src[0], src[1], user)
    dst_coll, _ = _writable(uow, dst[0], dst[1], user)
    row = uow.calendars.object_at(src_coll.id, src[2])
    if row is None:
        raise NotFound(f"no object {src[2]} in /{src[0]}/{src[1]}/")
    if row.component != dst_coll.component:
        raise mapping.UnsupportedComponent(
            row.component, f"/{dst[0]}/{dst[1]}/ holds {dst_coll.component} only, not {row.component}")
    if src_coll.id != dst_coll.id:
        raise Forbidden("a follow-up moves between calendars by changing its kind in the CRM")
    target = uow.calendars.object_at(dst_coll.id, dst[2])
    if target is not None and target.id != row.id:
        raise UidConflict(target.uid, target.href)
    if target is None:
        uow.calendars.rename(row, dst[2])
