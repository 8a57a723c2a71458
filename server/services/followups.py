"""Application services: the CRM's operations, each one transaction.

The CLI, the demo loader and integrations call these; the CalDAV side has its
own in ``server.services.calendars``. Each function opens a unit of work, changes the
domain, brings the calendar projection up to date and commits, so what a
client syncs next always matches the store.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from server.services import projection
from server.services.directory import DbDirectory
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
from store.errors import InvalidFollowup
from store.uow import UnitOfWork


def open_store(url: str | None = None) -> Engine:
    """The engine for ``url``, with the schema created or upgraded and the
    seed types in place. Safe to call on every start."""
    engine = db.migrate(url)
    with UnitOfWork(engine) as uow:
        if not uow.types.list():
            for t in SEED_TYPES:
                uow.types.add(FollowupType(t.name, t.kind, t.busy))
        projection.instance_id(uow)
        uow.commit()
    return engine


# -- passwords --------------------------------------------------------------------

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    if not password:
        raise InvalidFollowup("the password is empty")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)  # type: ignore[arg-type]
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(stored: str | None, password: str) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt, digest = stored.split("$", 2)
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32, **_SCRYPT)  # type: ignore[arg-type]
    return hmac.compare_digest(candidate.hex(), digest)


# -- the directory --------------------------------------------------------------------


def add_user(engine: Engine, user: User, password: str | None = None, actor: str = "system") -> User:
    with UnitOfWork(engine, actor=actor) as uow:
        if password:
            user.password_hash = hash_password(password)
        uow.users.add(user)
        projection.ensure_user_collections(uow, user)
        uow.commit()
    return user


def update_user(engine: Engine, login: str, change: Callable[[User], None], actor: str = "system") -> User:
    with UnitOfWork(engine, actor=actor) as uow:
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
    with UnitOfWork(engine, actor=actor) as uow:
        try:
            uow.users.by_login(resource.login)
        except LookupError:
            pass
        else:
            raise InvalidFollowup(f"{resource.login!r} is a user's login; a resource needs a login of its own")
        uow.resources.add(resource)
        projection.ensure_resource_collection(uow, resource)
        uow.commit()
    return resource


# -- follow-ups ------------------------------------------------------------------------


def create(engine: Engine, f: Followup, actor: str = "system", source: Source = Source.CRM) -> Followup:
    with UnitOfWork(engine, actor=actor, source=source) as uow:
        uow.followups.add(f)
        projection.project(uow, DbDirectory(uow), f)
        uow.commit()
    return f


def create_many(engine: Engine, followups: list[Followup], actor: str = "system",
                progress: Callable[[int], None] | None = None, batch: int = 500) -> int:
    """Bulk import: batches of ``batch`` follow-ups per transaction."""
    done = 0
    for first in range(0, len(followups), batch):
        with UnitOfWork(engine, actor=actor) as uow:
            chunk = uow.followups.add_many(followups[first:first + batch])
            projection.project_new(uow, DbDirectory(uow), chunk)
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
    with UnitOfWork(engine, actor=actor, source=source) as uow:
        before = uow.followups.get(id)
        f = before.copy()
        change(f, uow)
        if f.kind is Kind.MEETING and f.participants and _moved(before, f):
            f.sequence = before.sequence + 1
            for p in f.participants:
                if p.partstat is not PartStat.DECLINED:
                    p.partstat = PartStat.NEEDS_ACTION
        uow.followups.update(f)
        projection.project(uow, DbDirectory(uow), f)
        uow.commit()
    return f


def delete(engine: Engine, id: int, actor: str = "system", source: Source = Source.CRM) -> Followup:
    with UnitOfWork(engine, actor=actor, source=source) as uow:
        projection.unproject(uow, id)
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
    with UnitOfWork(engine, actor=actor) as uow:
        pruned = projection.prune_tombstones(uow, before)
        uow.commit()
    return pruned
