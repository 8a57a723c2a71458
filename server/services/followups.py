"""Application services: the CRM's operations, each one transaction.

The CLI, the demo loader and integrations call these; the CalDAV side has its
own in ``server.services.calendars``. Each function opens a transaction
(:func:`server.services.transaction.transaction`), changes the domain and
commits; the calendar projection follows in the same transaction, so what a
client syncs next always matches the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from mapping.recurrence import Series
from server.services import conflicts, projection
from server.services.auth import hash_password
from server.services.directory import DbDirectory
from server.services.transaction import retried, transaction
from store import db
from store.domain import (
    SEED_TYPES,
    Followup,
    FollowupType,
    Kind,
    Moment,
    Occurrence,
    PartStat,
    Resource,
    Source,
    User,
    mark_done,
    record_call_made,
)
from store.errors import InvalidFollowup, NotFound
from store.localtime import later, midnight, same_instant, zone
from store.uow import Change, UnitOfWork


@retried
def open_store(url: str | None = None) -> Engine:
    """The engine for ``url``, with the schema created or upgraded and the
    seed types in place. Safe to call on every start."""
    engine = db.migrate(url)
    with transaction(engine) as uow:
        if not uow.types.list():
            for t in SEED_TYPES:
                uow.types.add(FollowupType(t.name, t.kind, t.busy))
        uow.calendars.instance_id()
        uow.commit()
    return engine


# -- the directory --------------------------------------------------------------------


@retried
def add_user(engine: Engine, user: User, password: str | None = None, actor: str = "system") -> User:
    with transaction(engine, actor=actor) as uow:
        if password:
            user.password_hash = hash_password(password)
        uow.users.add(user)
        uow.commit()
    return user


@retried
def update_user(engine: Engine, login: str, change: Callable[[User], None], actor: str = "system") -> User:
    """Change a user; every calendar object that shows them follows."""
    with transaction(engine, actor=actor) as uow:
        user = uow.users.by_login(login)
        change(user)
        uow.users.update(user)
        uow.commit()
    return user


def set_password(engine: Engine, login: str, password: str, actor: str = "system") -> None:
    hashed = hash_password(password)

    def change(user: User) -> None:
        user.password_hash = hashed

    update_user(engine, login, change, actor)


@retried
def add_resource(engine: Engine, resource: Resource, actor: str = "system") -> Resource:
    with transaction(engine, actor=actor) as uow:
        try:
            uow.users.by_login(resource.login)
        except LookupError:
            pass
        else:
            raise InvalidFollowup(f"{resource.login!r} is a user's login; a resource needs a login of its own")
        uow.resources.add(resource)
        uow.commit()
    return resource


@retried
def update_resource(engine: Engine, login: str, change: Callable[[Resource], None], actor: str = "system") -> Resource:
    """Change a resource. A new conflict policy applies to its bookings at
    once (:func:`server.services.conflicts.resettle`): ``decline`` declines
    the later of each clashing pair within the horizon, ``allow`` accepts
    every booking it had declined."""
    with transaction(engine, actor=actor) as uow:
        resource = uow.resources.by_login(login)
        policy = resource.on_conflict
        change(resource)
        uow.resources.update(resource)
        if resource.on_conflict is not policy:
            conflicts.resettle(uow, resource)
        uow.commit()
    return resource


# -- follow-ups ------------------------------------------------------------------------


@retried
def create(engine: Engine, f: Followup, actor: str = "system", source: Source = Source.CRM) -> Followup:
    with transaction(engine, actor=actor, source=source) as uow:
        uow.followups.add(f)
        uow.commit()
    return f


def create_many(engine: Engine, followups: list[Followup], actor: str = "system",
                progress: Callable[[int], None] | None = None, batch: int = 500) -> int:
    """Bulk import: batches of ``batch`` follow-ups per transaction. The
    resources' conflict policies apply as on any other write, the oldest
    booking keeping a resource (:func:`server.services.conflicts.settle_all`).
    A failed batch leaves the ones before it committed; :func:`create_many_in`
    is all or nothing. Then the planner's statistics of the tables the load
    made stale are refreshed (:func:`store.db.refresh_statistics`), so the
    store is queried as well right after a large load as an hour later."""
    done = 0
    for first in range(0, len(followups), batch):
        done += _create_batch(engine, followups[first:first + batch], actor)
        if progress:
            progress(done)
    if done:
        db.refresh_statistics(engine)
    return done


@retried
def _create_batch(engine: Engine, followups: list[Followup], actor: str) -> int:
    with transaction(engine, actor=actor) as uow:
        done = create_many_in(uow, followups, batch=len(followups))
        uow.commit()
    return done


def create_many_in(uow: UnitOfWork, followups: list[Followup], progress: Callable[[int], None] | None = None,
                   batch: int = 500) -> int:
    """:func:`create_many` inside the caller's unit of work, which commits
    all of it or none (a load that must not stop halfway, like the demo's).
    Still ``batch`` follow-ups per bulk insert and projection, ``progress``
    after each. The calendars first catch up with what ``uow`` changed
    before (users and resources added in it get their collections), so the
    new follow-ups have collections to be projected into."""
    projection.follow(uow)
    d = DbDirectory(uow)
    done = 0
    for first in range(0, len(followups), batch):
        chunk = uow.followups.add_many(followups[first:first + batch])
        conflicts.settle_all(uow, d, chunk)
        projection.project_new(uow, d, chunk)
        done += len(chunk)
        if progress:
            progress(done)
    return done


def _moved(before: Followup, after: Followup) -> bool:
    return (before.start, before.end, before.recurrence, before.location) != (
        after.start, after.end, after.recurrence, after.location)


@retried
def modify(engine: Engine, id: int, change: Callable[[Followup, UnitOfWork], None], actor: str = "system",
           source: Source = Source.CRM) -> Followup:
    """Apply ``change`` to follow-up ``id`` and save it.

    A CRM-side move of a meeting with participants (time, recurrence or
    location) increments SEQUENCE (RFC 5546 2.1.4) and asks every participant
    to confirm again (PARTSTAT=NEEDS-ACTION), as the mapping spec says.
    """
    with transaction(engine, actor=actor, source=source) as uow:
        before = uow.followups.get(id)
        f = before.copy()
        change(f, uow)
        if f.kind is Kind.MEETING and f.participants and _moved(before, f):
            f.sequence = before.sequence + 1
            for p in f.participants:
                if p.partstat is not PartStat.DECLINED:
                    p.partstat = PartStat.NEEDS_ACTION
        uow.followups.update(f)
        uow.commit()
    return f


@retried
def delete(engine: Engine, id: int, actor: str = "system", source: Source = Source.CRM) -> Followup:
    with transaction(engine, actor=actor, source=source) as uow:
        f = uow.followups.delete(id)
        uow.commit()
    return f


def done(engine: Engine, id: int, at: datetime | None = None, actor: str = "system") -> Followup:
    return modify(engine, id, lambda f, _uow: mark_done(f, at), actor)


def call_made(engine: Engine, id: int, at: datetime | None = None, minutes: int | None = None,
              actor: str = "system") -> Followup:
    def change(f: Followup, uow: UnitOfWork) -> None:
        record_call_made(f, uow.users.get(f.owner_id), at, minutes)

    return modify(engine, id, change, actor)


def cancel(engine: Engine, id: int, actor: str = "system") -> Followup:
    def change(f: Followup, _uow: UnitOfWork) -> None:
        if f.kind is not Kind.MEETING:
            raise InvalidFollowup(
                f"follow-up {id} is a {f.kind.value}; only meetings are cancelled (delete it instead)")
        f.cancelled = True

    return modify(engine, id, change, actor)


@retried
def prune_tombstones(engine: Engine, older_than: timedelta, actor: str = "system") -> int:
    """Forget calendar members removed more than ``older_than`` ago; a client
    whose sync token predates them syncs afresh (403 valid-sync-token).
    Returns how many removals were forgotten."""
    if older_than < timedelta(0):
        raise ValueError("the age of the removals to forget cannot be negative")
    before = (datetime.now(UTC) - older_than).replace(tzinfo=None)
    with transaction(engine, actor=actor) as uow:
        pruned = uow.calendars.prune(before)
        uow.commit()
    return pruned


def history(engine: Engine, id: int) -> tuple[Followup | None, list[Change]]:
    """The follow-up (None once deleted) and its change log, oldest first:
    who created and changed it, when, and from where (CRM or a client)."""
    with transaction(engine, write=False) as uow:
        changes = uow.history(id)
        try:
            f: Followup | None = uow.followups.get(id)
        except LookupError:
            f = None
        if f is None and not changes:
            raise NotFound(f"no follow-up with id {id}, and none was ever recorded")
    return f, changes


# -- one occurrence of a series ----------------------------------------------------------

NEAR_DAYS = 400
"""How far back the nearest earlier occurrence is looked for before scanning from the series' start."""


def find_occurrence(f: Followup, when: date | datetime, tz: ZoneInfo) -> Moment:
    """The original start (the RECURRENCE-ID, RFC 5545 §3.8.4.4) of the occurrence ``when`` names.

    ``when`` is a day (in ``tz``) with one occurrence, or an occurrence's start: a naive time is
    a wall time in ``tz``, matched as written (also one a daylight-saving change skips). An
    occurrence is named by its original day and time; one already moved also by where it was
    moved to, when nothing starts there originally. Anything else is one InvalidFollowup line
    naming the nearest occurrences.
    """
    rec = f.recurrence
    anchor = f.start if f.start is not None else f.deadline
    if rec is None or rec.is_empty() or anchor is None:
        raise InvalidFollowup(f"follow-up {f.id} does not repeat: change, cancel or delete it as a whole")
    series = Series(anchor, rec.rule, rec.rdates, rec.exdates)
    day = _local_day(when, tz)
    timed = isinstance(when, datetime)
    if timed and series.is_date:
        raise InvalidFollowup(f"follow-up {f.id} repeats all day: name its occurrence by the day ({day})")
    originals = _starts_on(series, day, tz)
    moved = [(o.recurrence_id, o.start) for o in f.overrides
             if o.start is not None and _local_day(o.start, tz) == day
             and not any(same_instant(o.recurrence_id, m) for m in originals)]
    pairs: list[tuple[Moment, Moment]] = [(m, m) for m in originals]
    if timed:
        assert isinstance(when, datetime)
        found = [p for p in pairs if _at(p[1], when, tz)] or [p for p in moved if _at(p[1], when, tz)]
    else:
        found = pairs or moved
    if len(found) == 1:
        return found[0][0]
    where = f"{_show(when, tz)} ({tz.key})"
    if found:
        times = [f"{day}T{_show(start, tz)[11:]}" for _, start in found]
        raise InvalidFollowup(f"follow-up {f.id} has {len(found)} occurrences on {where}: give the time as well "
                              f"({', '.join(times[:-1])} or {times[-1]})")
    that_day = [start for _, start in pairs + moved]
    if timed and that_day:
        clock = ", ".join(_show(m, tz)[11:] for m in that_day)
        raise InvalidFollowup(f"follow-up {f.id} has no occurrence at {where}; on {day} it has {clock}")
    near = _nearest(series, day, tz)
    hint = (f"the nearest are {_show(near[0], tz)} and {_show(near[1], tz)}" if len(near) == 2
            else f"the nearest is {_show(near[0], tz)}" if near else "it has no occurrences left")
    raise InvalidFollowup(f"follow-up {f.id} has no occurrence {'at' if timed else 'on'} {where}; {hint}")


def _local_day(moment: Moment, tz: ZoneInfo) -> date:
    if not isinstance(moment, datetime):
        return moment
    return (moment.astimezone(tz) if moment.tzinfo is not None else moment).date()


def _at(moment: Moment, when: datetime, tz: ZoneInfo) -> bool:
    """Whether ``moment`` starts at ``when`` (aware: that instant; naive: that wall time in ``tz``)."""
    if not isinstance(moment, datetime):
        return False
    if when.tzinfo is not None:
        if moment.tzinfo is None:
            return moment == when.astimezone(tz).replace(tzinfo=None)
        return same_instant(moment, when)
    if moment.tzinfo is None:
        return moment == when
    if getattr(moment.tzinfo, "key", None) == tz.key and moment.replace(tzinfo=None) == when:
        return True
    return moment.astimezone(tz).replace(tzinfo=None) == when


def _show(moment: Moment, tz: ZoneInfo) -> str:
    if not isinstance(moment, datetime):
        return moment.isoformat()
    if moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    return moment.strftime("%Y-%m-%d %H:%M")


def _starts_on(series: Series, day: date, tz: ZoneInfo) -> list[Moment]:
    """The original starts of the series' occurrences on ``day`` in ``tz``, EXDATEs left out."""
    slack = timedelta(days=2)
    walls = series.walls(after=series.wall(midnight(day - slack, tz)),
                         before=series.wall(midnight(day + slack + timedelta(days=1), tz)))
    return [m for m in (series.back(w) for w in walls) if _local_day(m, tz) == day]


def _nearest(series: Series, day: date, tz: ZoneInfo) -> list[Moment]:
    """The last occurrence before ``day`` and the first after it, those that exist."""
    found: list[Moment] = []
    start = series.wall(midnight(day, tz))
    for lookback in (timedelta(days=NEAR_DAYS), None):
        earlier = [m for m in (series.back(w) for w in series.walls(
            after=start - lookback if lookback is not None else None, before=start + timedelta(days=1)))
            if _local_day(m, tz) < day]
        if earlier:
            found.append(earlier[-1])
            break
    after = series.walls(after=series.wall(midnight(day, tz)))
    for wall in after:
        moment = series.back(wall)
        if _local_day(moment, tz) > day:
            found.append(moment)
            break
    return found


@retried
def _edit(engine: Engine, id: int, change: Callable[[Followup, UnitOfWork], None], actor: str,
          source: Source) -> Followup:
    with transaction(engine, actor=actor, source=source) as uow:
        f = uow.followups.get(id)
        change(f, uow)
        uow.followups.update(f)
        uow.commit()
    return f


def _ask_again(f: Followup) -> None:
    """A meeting moved: SEQUENCE+1 (RFC 5546 §2.1.4), and whoever has not declined confirms again."""
    f.sequence += 1
    for p in f.participants:
        if p.partstat is not PartStat.DECLINED:
            p.partstat = PartStat.NEEDS_ACTION


def _placed(occ: Occurrence, f: Followup) -> tuple[Moment, Moment | None, str | None]:
    """Where and when an occurrence happens: its start, end and location, the series' where it has none."""
    start = occ.start if occ.start is not None else occ.recurrence_id
    length = f.duration()
    end = occ.end if occ.end is not None else later(start, length) if length is not None else None
    return start, end, occ.location


def _moved_occurrence(before: tuple[Moment, Moment | None, str | None],
                      after: tuple[Moment, Moment | None, str | None]) -> bool:
    (s1, e1, l1), (s2, e2, l2) = before, after
    same_end = (e1 is None and e2 is None) or (e1 is not None and e2 is not None and same_instant(e1, e2))
    return not (same_instant(s1, s2) and same_end and (l1 or None) == (l2 or None))


def change_occurrence(engine: Engine, id: int, when: date | datetime,
                      edit: Callable[[Occurrence, Followup, UnitOfWork], None], tz: ZoneInfo | None = None,
                      actor: str = "system", source: Source = Source.CRM) -> tuple[Followup, Occurrence]:
    """Change one occurrence of a series (named as :func:`find_occurrence` says, in ``tz``, by
    default the owner's zone): ``edit`` changes its override, made when it has none; the other
    occurrences stay.

    Moving one occurrence of a meeting with participants (its time or location) asks every
    participant again, as moving the whole meeting does: SEQUENCE+1 and PARTSTAT=NEEDS-ACTION
    for all who have not declined. RFC 5546 §3.2.2 sends a changed instance as a REQUEST of the
    same component, whose SEQUENCE is the series'; and the CRM keeps one answer per participant
    per meeting, not per occurrence, so the whole meeting's answers are asked again.
    """
    changed: list[Occurrence] = []

    def change(f: Followup, uow: UnitOfWork) -> None:
        rid = find_occurrence(f, when, tz or zone(uow.users.get(f.owner_id).tz))
        occ = f.override_for(rid)
        before = _placed(replace(occ), f)
        edit(occ, f, uow)
        if f.start is None:
            raise InvalidFollowup(f"follow-up {id} is not in the diary (it has no start): its occurrences "
                                  "are changed with the series")
        f.validate()
        if f.kind is Kind.MEETING and f.participants and _moved_occurrence(before, _placed(occ, f)):
            _ask_again(f)
        changed.append(occ)

    f = _edit(engine, id, change, actor, source)
    return f, changed[-1]


def cancel_occurrence(engine: Engine, id: int, when: date | datetime, tz: ZoneInfo | None = None,
                      actor: str = "system") -> tuple[Followup, Occurrence]:
    """Cancel one occurrence of a meeting: its override gets STATUS:CANCELLED (the others stay),
    as :func:`cancel` does for the whole meeting (no one is asked again)."""

    def edit(occ: Occurrence, f: Followup, _uow: UnitOfWork) -> None:
        if f.kind is not Kind.MEETING:
            raise InvalidFollowup(
                f"follow-up {id} is a {f.kind.value}; only meetings are cancelled (delete the occurrence instead)")
        occ.cancelled = True

    return change_occurrence(engine, id, when, edit, tz, actor)


def delete_occurrence(engine: Engine, id: int, when: date | datetime, tz: ZoneInfo | None = None,
                      actor: str = "system") -> tuple[Followup, Moment]:
    """Remove one occurrence from a series (an EXDATE; its override goes too). A meeting with
    participants gets SEQUENCE+1 (its recurrence changed), but nobody is asked again: nothing
    they agreed to moved. The last occurrence left is refused: delete the follow-up instead."""
    removed: list[Moment] = []

    def change(f: Followup, uow: UnitOfWork) -> None:
        rid = find_occurrence(f, when, tz or zone(uow.users.get(f.owner_id).tz))
        f.exclude(rid)
        rec, anchor = f.recurrence, f.start if f.start is not None else f.deadline
        assert rec is not None and anchor is not None
        if next(Series(anchor, rec.rule, rec.rdates, rec.exdates).walls(), None) is None:
            raise InvalidFollowup(f"that is the last occurrence of follow-up {id}: delete the follow-up instead")
        if f.kind is Kind.MEETING and f.participants:
            f.sequence += 1
        removed.append(rid)

    f = _edit(engine, id, change, actor, Source.CRM)
    return f, removed[-1]
