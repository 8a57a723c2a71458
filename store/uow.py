"""The unit of work: one transaction, its repositories, and the change log.

Every write to the CRM goes through a :class:`UnitOfWork`. The domain rows
and the append-only change-log entry it records are committed together or
not at all, so a failed request leaves the store exactly as it was.
The repositories it opens live in :mod:`store.records` (directory records)
and :mod:`store.followups`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store import convert
from store.calendar import Calendars
from store.domain import Followup, Source
from store.errors import Conflict
from store.feeds import Feeds
from store.followups import Followups
from store.grants import Grants
from store.localtime import utcnow
from store.orm import ChangeRow
from store.records import (
    Companies,
    Fields,
    Persons,
    Projects,
    Records,
    Resources,
    Sales,
    Types,
    Users,
    integrity_reason,
)


@dataclass(frozen=True)
class Change:
    """One entry of a follow-up's change log."""

    at: datetime
    action: str
    actor: str
    source: str
    uid: str


class UnitOfWork:
    """One transaction over the store.

    ``with UnitOfWork(engine, actor="anna", source=Source.CLIENT) as uow:``
    ... ``uow.commit()``. Leaving the block without committing rolls back.
    ``write=True`` takes SQLite's write lock at the start (``BEGIN IMMEDIATE``),
    so concurrent writers queue instead of failing halfway.

    The unit of work records which records it added or changed
    (:attr:`changed`: ``{"followup": {ids}, "user": {ids}, ...}``), and
    :meth:`commit` first hands them to ``before_commit`` until none are
    left, so a read model kept by a layer above (the calendar projection)
    follows every change in the same transaction, whoever made it.
    """

    def __init__(self, engine: Engine, actor: str = "system", source: Source = Source.CRM,
                 write: bool = True, before_commit: Callable[[UnitOfWork], None] | None = None) -> None:
        self.engine = engine
        self.actor = actor
        self.source = source
        self.write = write
        self.before_commit = before_commit
        self.changed: dict[str, set[int]] = {}

    def __enter__(self) -> UnitOfWork:
        bind = self.engine.execution_options(followups_write=self.write)
        self.session = Session(bind=bind, expire_on_commit=False, autoflush=False)
        self.users = Users(self)
        self.resources = Resources(self)
        self.companies = Companies(self)
        self.persons = Persons(self)
        self.sales = Sales(self)
        self.projects = Projects(self)
        self.types = Types(self)
        self.fields = Fields(self)
        self.followups = Followups(self)
        self.calendars = Calendars(self.session, self.engine)
        self.grants = Grants(self.session)
        self.feeds = Feeds(self.session)
        self.changed = {}
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def repository(self, row_class: type[Any]) -> Records[Any, Any]:
        """The directory repository of ``row_class``."""
        for repo in (self.users, self.resources, self.companies, self.persons, self.sales, self.projects,
                     self.types, self.fields):
            if repo.row_class is row_class:
                return repo
        raise KeyError(row_class)

    def touch(self, kind: str, id: int) -> None:
        """Record that the ``kind`` record ``id`` was added or changed."""
        self.changed.setdefault(kind, set()).add(id)

    def take_changes(self) -> dict[str, set[int]]:
        """What changed since the last call, forgotten here."""
        changed, self.changed = {k: v for k, v in self.changed.items() if v}, {}
        return changed

    def log(self, f: Followup, action: str) -> None:
        self.log_change(f.id, f.uid, action)

    def log_change(self, followup_id: int | None, uid: str, action: str) -> None:
        """The change-log entry of ``action`` on a follow-up known by its id and UID alone."""
        self.session.add(ChangeRow(followup_id=followup_id, uid=uid, action=action,
                                   at=convert.naive_utc(utcnow()), actor=self.actor, source=self.source.value))

    def changes(self, since: int = 0, limit: int = 1000) -> Sequence[ChangeRow]:
        stmt = select(ChangeRow).where(ChangeRow.id > since).order_by(ChangeRow.id).limit(limit)
        return list(self.session.scalars(stmt))

    def history(self, followup_id: int, limit: int = 1000) -> list[Change]:
        """The change log of one follow-up, oldest first."""
        stmt = (select(ChangeRow).where(ChangeRow.followup_id == followup_id)
                .order_by(ChangeRow.id).limit(limit))
        return [Change(r.at.replace(tzinfo=UTC), r.action, r.actor, r.source, r.uid)
                for r in self.session.scalars(stmt)]

    def commit(self) -> None:
        if self.before_commit is not None:
            for _ in range(10):
                if not any(self.changed.values()):
                    break
                self.before_commit(self)
            else:
                raise RuntimeError("before_commit kept changing records")
        try:
            self.session.flush()
            self.session.commit()
        except IntegrityError as exc:
            self.session.rollback()
            raise Conflict(f"the change clashes with existing data ({integrity_reason(exc)})") from exc
