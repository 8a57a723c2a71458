"""Export and subscription feeds: a selection of follow-ups as one iCalendar file.

What a selection holds (the mapping spec, "Feeds, export and import"):

- ``meetings``, ``tasks``, ``all``: the objects of ``/<owner>/meetings/``
  and/or ``/<owner>/tasks/``, exactly as a client syncing them reads them
  (the owner's own follow-ups and the meetings they are invited to);
- ``company``, ``person``, ``sale``, ``project``: the record's Activities,
  every follow-up linked to it whoever owns it, meetings, to-dos and calls.
  Each is shown as the viewer would read it: the viewer's own copy when one
  of their calendars holds it, else a neutral copy without anyone's alarms
  or client lines (the copy a resource's bookings show, see
  :func:`server.services.projection.copy_for`).

Privacy is the rule of :mod:`server.services.privacy`: in a user's
calendars, private objects in full only when the viewer is that user; in a
record's Activities, in full for the follow-up's owner and participants;
everyone else, and a selection without a viewer, reads the busy block.

The window ``[start, end)`` is read in the owner's time zone (a record's:
the viewer's, else UTC) and matched against the calendar time index
(``start_ts``/``end_ts``, RFC 4791 §9.9 ranges): a recurring series whose
range overlaps the window comes whole, with its overrides, and an undated
to-do (indexed as spanning all time) is always included. ``limit`` keeps
the follow-ups nearest the start of the window: by indexed start, so what
began before the window (a running series, an undated to-do) comes first,
then by UID.

:func:`fingerprint` answers a feed's conditional GET without reading a
text: the rows the selection holds, their ETags (every copy's, for a
record, since any change to a follow-up or to what it shows re-renders its
owner's copy) and the selection itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from mapping.join import Joiner
from mapping.names import PRODID
from server.services import privacy, projection
from server.services.directory import DbDirectory
from server.services.errors import InvalidFollowup, NotFound
from server.services.lru import Lru
from server.services.projection import BOOKINGS, MEETINGS, TASKS, USER_COLLECTIONS, Target
from server.services.transaction import transaction
from store.calendar import CalendarReader
from store.domain import Followup
from store.localtime import zone

RECORDS = ("company", "person", "sale", "project")
USER_WHATS = {"meetings": (MEETINGS,), "tasks": (TASKS,), "all": (MEETINGS, TASKS)}
WHATS = (*USER_WHATS, *RECORDS)
TITLES = {"meetings": "Meetings", "tasks": "To-dos and calls", "all": "Meetings and to-dos"}
FORMAT = "1"
"""Part of every fingerprint: bump it when the text this module writes for the same rows changes."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Selection:
    viewer: str | None
    """Login whose privacy rights apply; None masks every private follow-up."""
    what: str
    """"meetings" | "tasks" | "all" | "company" | "person" | "sale" | "project"."""
    owner: str | None = None
    """Login whose calendars, for meetings, tasks and all."""
    record_id: int | None = None
    """The record, for company, person, sale and project."""
    start: date | None = None
    """First day, inclusive; None: unbounded."""
    end: date | None = None
    """Day after the last, exclusive; None: unbounded."""
    limit: int | None = None
    """At most this many follow-ups (see the module for which)."""

    def __post_init__(self) -> None:
        if self.what not in WHATS:
            raise InvalidFollowup(f"cannot export {self.what!r}: choose one of {', '.join(WHATS)}")
        if self.what in USER_WHATS and not self.owner:
            raise InvalidFollowup(f"exporting {self.what} needs the user whose calendar it is")
        if self.what in RECORDS and self.record_id is None:
            raise InvalidFollowup(f"exporting a {self.what}'s Activities needs its id")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise InvalidFollowup(f"the window ends ({self.end}) before it starts ({self.start}): "
                                  "give a later end")
        if self.limit is not None and self.limit < 0:
            raise InvalidFollowup(f"a limit of {self.limit}: give zero or more")


@dataclass(frozen=True)
class Export:
    """An export's text and what it holds."""

    text: str
    followups: int
    components: int
    """Top-level components other than VTIMEZONE (overrides count too)."""


@dataclass
class _Item:
    """One follow-up of a selection and how it is shown: ``stored`` (the row
    ``rows[0]``, masked unless ``full``), ``neutral`` (rendered without
    anyone's own data) or ``private`` (neutral if the viewer may see it,
    else the busy block of a stored copy)."""

    how: str
    followup_id: int
    rows: list[Any]
    full: bool = True

    def key(self) -> tuple[Any, ...]:
        return (self.how, self.followup_id, self.full, *((r.collection_id, r.etag) for r in self.rows))


@dataclass
class _Plan:
    name: str
    items: list[_Item] = field(default_factory=list)
    modified: datetime | None = None


def fingerprint(engine: Engine, sel: Selection) -> tuple[str, datetime]:
    """(strong ETag, Last-Modified as an aware UTC datetime) of what
    :func:`export_text` returns for ``sel``, from the rows' ETags alone: no
    text is read and nothing rendered. Last-Modified is when the calendars
    the selection reads last changed (a removal included); for a record,
    when any calendar did, since a follow-up unlinked from the record or
    deleted leaves nothing behind in what the record still holds. A window
    given in days that moves with the calendar changes the ETag but not
    Last-Modified: answer If-None-Match first (RFC 9110 §13.2.2 does)."""
    with engine.connect() as conn:
        plan = _plan(CalendarReader(conn), sel)
    digest = hashlib.sha256(repr((FORMAT, PRODID, sel, plan.name)).encode("utf-8"))
    for item in plan.items:
        digest.update(repr(item.key()).encode("utf-8"))
    modified = plan.modified.replace(tzinfo=UTC) if plan.modified is not None else EPOCH
    return f'"{digest.hexdigest()[:40]}"', modified


def export_text(engine: Engine, sel: Selection, progress: Callable[[int, int], None] | None = None) -> str:
    """One RFC 5545 VCALENDAR (each VTIMEZONE once), CRLF line ends."""
    return export(engine, sel, progress).text


def export(engine: Engine, sel: Selection, progress: Callable[[int, int], None] | None = None) -> Export:
    """:func:`export_text` with counts; ``progress(done, total)`` after each follow-up."""
    with transaction(engine, write=False) as uow:
        reader = CalendarReader(uow.session.connection())
        plan = _plan(reader, sel)
        texts = reader.texts(item.rows[0].id for item in plan.items if item.how != "neutral")
        loaded = _Followups(uow, [item for item in plan.items if item.how != "stored"])
        viewer = uow.users.by_login(sel.viewer) if sel.viewer and sel.what in RECORDS else None
        joiner = Joiner()
        total = len(plan.items)
        for done, item in enumerate(plan.items, start=1):
            joiner.add(_shown(item, texts, loaded, viewer))
            if progress is not None:
                progress(done, total)
        return Export(joiner.text(plan.name), total, joiner.components)


# -- what a selection holds -----------------------------------------------------------------


def _plan(r: CalendarReader, sel: Selection) -> _Plan:
    if sel.what in USER_WHATS:
        return _user_plan(r, sel)
    return _record_plan(r, sel)


def _user_plan(r: CalendarReader, sel: Selection) -> _Plan:
    assert sel.owner is not None
    tz = r.user_tz(sel.owner)
    user = r.user(sel.owner)
    if tz is None or user is None:
        raise NotFound(f"no user {sel.owner!r} (see `followups user list`)")
    collections = [c for c in (r.collection(sel.owner, name) for name in USER_WHATS[sel.what]) if c is not None]
    plan = _Plan(f"{user.name} - {TITLES[sel.what]}")
    plan.modified = max((c.modified_at for c in collections), default=None)
    start, end = _bounds(sel, tz)
    rows = r.window([c.id for c in collections], start, end)
    for row in _first(rows, sel.limit):
        full = privacy.sees_in_full(sel.viewer or "", sel.owner, row.name)
        plan.items.append(_Item("stored", row.followup_id, [row], full))
    return plan


def _record_plan(r: CalendarReader, sel: Selection) -> _Plan:
    assert sel.record_id is not None
    name = r.record_name(sel.what, sel.record_id)
    if name is None:
        raise NotFound(f"no {sel.what} with id {sel.record_id} (see `followups {sel.what} list`)")
    tz = (r.user_tz(sel.viewer) if sel.viewer else None) or "UTC"
    plan = _Plan(f"{name} - Activities", modified=r.newest_change())
    start, end = _bounds(sel, tz)
    for copies in _first(_grouped(r.record_copies(sel.what, sel.record_id, start, end)), sel.limit):
        own = [c for c in copies if c.principal == sel.viewer and c.name in USER_COLLECTIONS]
        if own:
            plan.items.append(_Item("stored", own[0].followup_id, own))
        else:
            how = "private" if any(c.private for c in copies) else "neutral"
            plan.items.append(_Item(how, copies[0].followup_id, copies))
    return plan


def _bounds(sel: Selection, tz_name: str) -> tuple[int | None, int | None]:
    """The window as UNIX seconds: midnight of its days in ``tz_name``."""
    tz: ZoneInfo = zone(tz_name)

    def at(day: date | None) -> int | None:
        return None if day is None else int(datetime.combine(day, time(), tz).timestamp())

    return at(sel.start), at(sel.end)


def _grouped(rows: Iterable[Any]) -> Iterator[list[Any]]:
    """Consecutive rows of one follow-up, together."""
    group: list[Any] = []
    for row in rows:
        if group and row.followup_id != group[0].followup_id:
            yield group
            group = []
        group.append(row)
    if group:
        yield group


def _first(items: Iterable[Any], limit: int | None) -> Iterator[Any]:
    for count, item in enumerate(items):
        if limit is not None and count >= limit:
            return
        yield item


# -- texts ----------------------------------------------------------------------------------

NEUTRAL: Lru[tuple[Any, ...], str] = Lru(10_000)
"""Neutral copies by every stored copy's ETag; bounded by ``export_cache_entries``."""


class _Followups:
    """The follow-ups the items need rendered or judged, loaded in one query
    on first use (a record's export whose neutral copies are all cached
    loads none)."""

    def __init__(self, uow: Any, items: list[_Item]) -> None:
        self.uow = uow
        self.ids = [item.followup_id for item in items if item.how == "private" or _cached(item) is None]
        self.found: dict[int, Followup] | None = None
        self.directory = DbDirectory(uow)

    def get(self, followup_id: int) -> Followup:
        if self.found is None:
            self.found = {f.id: f for f in self.uow.followups.get_many(self.ids) if f.id is not None}
        return self.found[followup_id]


def _cached(item: _Item) -> str | None:
    return NEUTRAL.get(item.key())


def _neutral(item: _Item, loaded: _Followups) -> str:
    """The follow-up without anyone's alarms or client lines, rendered once
    per version of its stored copies (the key holds every copy's ETag)."""
    hit = _cached(item)
    if hit is not None:
        return hit
    f = loaded.get(item.followup_id)
    text = projection.render(projection.copy_for(f, Target("", BOOKINGS), loaded.directory), loaded.directory).text
    NEUTRAL.put(item.key(), text)
    return text


def _shown(item: _Item, texts: dict[int, str], loaded: _Followups, viewer: Any) -> str:
    row = item.rows[0]
    if item.how == "neutral":
        return _neutral(item, loaded)
    if item.how == "private":
        if viewer is not None and privacy.followup_in_full(viewer, loaded.get(item.followup_id)):
            return _neutral(item, loaded)
        return privacy.masked(texts[row.id], row.etag)[0]
    if item.full or not row.private:
        return texts[row.id]
    return privacy.masked(texts[row.id], row.etag)[0]
