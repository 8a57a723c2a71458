"""Radicale storage plugin over the follow-up store.

Paths: ``/`` (root), ``/<login>/`` (a user's or resource's principal),
``/<user>/meetings/`` and ``/<user>/tasks/``, ``/<resource>/bookings/``, and
a user's personal calendars ``/<user>/<name>/`` (made by MKCALENDAR or
extended MKCOL: ``server.services.personal``).

An adapter: every decision is ``server.services.calendars``'. A write request
is one :class:`~server.services.calendars.WriteRequest` (one transaction,
locked on the principal in the database, so several processes and hosts can
share one PostgreSQL database), opened by ``acquire_lock("w")``; a refused
write is recorded for ``server.dav`` (the precise answer) and raised as
Radicale understands it (``server.dav.errors.for_radicale``). Read requests
take no lock: each read is its own short transaction, and everything Radicale
needs after the lock is released is loaded up front.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar
from xml.etree import ElementTree as ET

from radicale import config, pathutils, storage
from radicale import item as radicale_item
from radicale.item import filter as radicale_filter
from radicale.log import logger

from plugins.settings import database_url
from server.dav import context, errors
from server.services import calendars, personal, privacy
from server.services.calendars import CollectionView, ObjectView, PrincipalView, WriteRequest
from server.services.errors import Forbidden
from server.services.followups import open_store

T = TypeVar("T")
_local = threading.local()
ROOT_LAST_MODIFIED = "Thu, 01 Jan 2026 00:00:00 GMT"


def _viewer() -> str:
    """The login of the request this thread serves ("" before any lock: sees
    no private object in full)."""
    return str(getattr(_local, "viewer", "") or "")


def _refused(message: str) -> BaseException:
    """A refusal as Radicale answers it (403)."""
    return errors.for_radicale(Forbidden(message))


class Collection(storage.BaseCollection):
    """The root, a principal, or a calendar, as a snapshot taken at discover time."""

    def __init__(self, store: Storage, path: str, principal: PrincipalView | None = None,
                 view: CollectionView | None = None) -> None:
        self._storage = store
        self._path = path
        self._principal = principal
        self._view = view
        self._full = view is not None and privacy.sees_in_full(_viewer(), view.principal, view.name)
        self._items: dict[str, radicale_item.Item] | None = None
        if view is not None and view.items is not None:
            self._items = {o.href: self._item(o) for o in view.items}

    # -- what it is ---------------------------------------------------------------
    @property
    def path(self) -> str:
        return self._path

    @property
    def etag(self) -> str:
        if self._view is not None:
            return self._view.ctag
        return '"{}"'.format(self._path.replace("/", "-"))

    @property
    def last_modified(self) -> str:
        return self._view.last_modified if self._view is not None else ROOT_LAST_MODIFIED

    def get_meta(self, key: str | None = None) -> Any:
        props: Mapping[str, str] = self._view.props if self._view is not None else {}
        if key is None:
            return dict(props)
        return props.get(key)

    def set_meta(self, props: Mapping[str, str]) -> None:
        if self._view is None:
            raise _refused(f"/{self._path}/ has no properties to change")
        self._storage.write(lambda uow, user: calendars.set_props(
            uow, self._view.principal, self._view.name, user, dict(props)))  # type: ignore[union-attr]

    # -- members ------------------------------------------------------------------
    def _item(self, o: ObjectView) -> radicale_item.Item:
        return radicale_item.Item(
            collection_path=self._path, collection=self, href=o.href, last_modified=o.last_modified, text=o.text,
            etag=o.etag, uid=o.uid, name="VCALENDAR", component_name=o.component, time_range=(o.start_ts, o.end_ts))

    def get_all(self) -> Iterable[radicale_item.Item]:
        if self._view is None:
            return []
        if self._items is None:
            self._items = {o.href: self._item(o)
                           for o in calendars.objects(self._storage.engine, self._view.id, full=self._full)}
        return list(self._items.values())

    def get_multi(self, hrefs: Iterable[str]) -> Iterable[tuple[str, radicale_item.Item | None]]:
        hrefs = list(hrefs)
        if self._view is None:
            return [(h, None) for h in hrefs]
        if self._items is not None:
            return [(h, self._items.get(h)) for h in hrefs]
        found = {o.href: self._item(o)
                 for o in calendars.objects(self._storage.engine, self._view.id, hrefs, full=self._full)}
        return [(h, found.get(h)) for h in hrefs]

    def get_filtered(self, filters: Iterable[ET.Element]) -> Iterable[tuple[radicale_item.Item, bool]]:
        """calendar-query from the time-range index; ``server.services.calendars.query``
        decides each candidate exactly where the filter is a plain time range."""
        if self._view is None:
            return
        tag, start, end, simple = radicale_filter.simplify_prefilters(filters, "VCALENDAR")
        for o, matched in calendars.query(self._storage.engine, self._view.id, tag, start, end, simple,
                                          full=self._full):
            yield self._item(o), matched

    def has_uid(self, uid: str) -> bool:
        return self._view is not None and calendars.has_uid(self._storage.engine, self._view.id, uid)

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        if self._view is None:
            raise ValueError("only calendars have a sync token")
        # Radicale reads the hrefs back with get_multi: serve the members as
        # the token has them, so each change is reported exactly once.
        token, hrefs, members = calendars.sync_members(self._storage.engine, self._view.id, old_token,
                                                       full=self._full)
        if members is not None:
            self._items = {o.href: self._item(o) for o in members}
        return token, hrefs

    # -- writes -------------------------------------------------------------------
    def upload(self, href: str, item: radicale_item.Item) -> tuple[radicale_item.Item, radicale_item.Item | None]:
        if self._view is None:
            raise _refused(f"/{self._path}/ is not a calendar")
        view = self._view
        old = self._items.get(href) if self._items is not None else None
        sent_text = item.serialize()
        stored, _replaced = self._storage.write(
            lambda uow, user: calendars.put(uow, view.principal, view.name, href, sent_text, user))
        context.outcome().rewritten = stored is None or not calendars.same_text(stored.text, sent_text)
        if stored is None:  # an invitee declined: the object left their calendar
            return item, old
        return self._item(stored), old

    def delete(self, href: str | None = None) -> None:
        if self._view is None:
            raise _refused(f"/{self._path}/ cannot be deleted")
        view = self._view
        if href is None:
            self._storage.write(lambda uow, user: personal.drop(uow, view.principal, view.name, user))
            return
        self._storage.write(lambda uow, user: calendars.delete(uow, view.principal, view.name, href, user))


class Storage(storage.BaseStorage):
    _supports_unicode = True

    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        self.engine = open_store(database_url(configuration))

    # -- locking: one transaction per write request ------------------------------------
    @contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args: Any, **kwargs: Any) -> Iterator[None]:
        _local.viewer = user  # whose request this is: what it may see (server.services.privacy)
        if mode != "w":
            yield
            return
        principal = pathutils.strip_path(str(kwargs.get("path") or user or "/")).split("/")[0]
        with WriteRequest(self.engine, user, principal) as request:
            _local.request = request
            try:
                yield
            finally:
                _local.request = None

    def write(self, operation: Callable[[Any, str], T]) -> T:
        """Run a write in the request's transaction (a failure rolls the whole
        request back), recording a refusal for ``server.dav``."""
        request: WriteRequest | None = getattr(_local, "request", None)
        if request is None:
            raise RuntimeError("a write outside acquire_lock('w')")
        try:
            return request.run(operation)
        except errors.ANSWERED as exc:
            logger.info("write refused: %s", exc)
            context.outcome().error = exc
            raise errors.for_radicale(exc) from exc

    # -- discovery ---------------------------------------------------------------------
    def discover(self, path: str, depth: str = "0",
                 child_context_manager: Callable[[str, str | None], Any] | None = None,
                 user_groups: set[str] = set()) -> Iterator[Any]:  # noqa: B006 (Radicale's signature)
        sane = pathutils.strip_path(path)
        parts = sane.split("/") if sane else []
        if not parts:
            yield Collection(self, "")
            return
        if len(parts) == 1:
            principal = calendars.principal(self.engine, parts[0])
            if principal is None:
                return
            # Radicale checks that the principal exists on every request by
            # taking only this first item: its calendars are read only when
            # the caller goes on.
            yield Collection(self, sane, principal=principal)
            if depth != "0":
                for child in calendars.collections(self.engine, parts[0]):
                    yield Collection(self, f"{sane}/{child.name}", principal=principal, view=child)
            return
        view = calendars.collection(self.engine, parts[0], parts[1], with_items=len(parts) == 2 and depth != "0",
                                    viewer=_viewer())
        if view is None:
            return
        coll = Collection(self, f"{parts[0]}/{parts[1]}", view=view)
        if len(parts) == 2:
            yield coll
            yield from coll.get_all() if depth != "0" else ()
        elif len(parts) == 3:
            found = dict(coll.get_multi([parts[2]])).get(parts[2])
            if found is not None:
                yield found

    def create_collection(self, href: str, items: Iterable[radicale_item.Item] | None = None,
                          props: Mapping[str, str] | None = None) -> Any:
        """MKCALENDAR and extended MKCOL: a personal calendar (its objects come by PUT, one by one)."""
        parts = pathutils.strip_path(href).split("/")
        if len(parts) != 2 or items is not None:
            raise _refused("a calendar is made by MKCALENDAR in your home, /<user>/<name>/; its objects come by PUT")
        self.write(lambda uow, user: personal.create(uow, parts[0], parts[1], user, dict(props or {})))
        return None, {}, []

    def move(self, item: radicale_item.Item, to_collection: storage.BaseCollection, to_href: str) -> None:
        assert item.collection is not None and item.href is not None
        src = item.collection.path.split("/")
        dst = to_collection.path.split("/")
        if len(src) != 2 or len(dst) != 2:
            raise _refused("only calendar objects move")
        self.write(lambda uow, user: calendars.move(uow, (src[0], src[1], item.href),  # type: ignore[arg-type]
                                                 (dst[0], dst[1], to_href), user))

    def verify(self) -> bool:
        return True
