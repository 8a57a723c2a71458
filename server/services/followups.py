"""Application services: the CRM's operations, each one transaction.

The CLI, the demo loader and integrations call these; the CalDAV side has its
own in ``server.services.calendars``. Each function opens a transaction
(:func:`server.services.transaction.transaction`), changes the domain and
commits; the calendar projection follows in the same transaction, so what a
client syncs next always matches the store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from server.services import conflicts, projection
from server.services.auth import hash_password
from server.services.directory import DbDirectory
from server.services.transaction import transaction
from store import db
from store.domain import (
    SEED_TYPES,
    Followup,
    FollowupType,
    Kind,
    PartStat,
    Resource,
    Source,
    User,
    mark_done,
    record_call_made,
)
from store.errors import InvalidFollowup, NotFound
from store.uow import Change, UnitOfWork


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


def add_user(engine: Engine, user: User, password: str | None = None, actor: str = "system") -> User:
    with transaction(engine, actor=actor) as uow:
        if password:
            user.password_hash = hash_password(password)
        uow.users.add(user)
        uow.commit()
    return user


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


def create(engine: Engine, f: Followup, actor: str = "system", source: Source = Source.CRM) -> Followup:
    with transaction(engine, actor=actor, source=source) as uow:
        uow.followups.add(f)
        uow.commit()
    return f


def create_many(engine: Engine, followups: list[Followup], actor: str = "system",
                progress: Callable[[int], None] | None = None, batch: int = 500) -> int:
    """Bulk import: batches of ``batch`` follow-ups per transaction. The
    resources' conflict policies apply as on any other write, the oldest
    booking keeping a resource (:func:`server.services.conflicts.settle_all`)."""
    done = 0
    for first in range(0, len(followups), batch):
        with transaction(engine, actor=actor) as uow:
            chunk = uow.followups.add_many(followups[first:first + batch])
            d = DbDirectory(uow)
            conflicts.settle_all(uow, d, chunk)
            projection.project_new(uow, d, chunk)
            uow.commit()
        done += len(followups[first:first + batch])
        if progress:
            progress(done)
    return done


def _moved(before: Followup, after: Followup) -> bool:
    return (before.start, before.end, before.recurrence, before.location) != (
        after.start, after.end, after.recurrence, after.location)


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
