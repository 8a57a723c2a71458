"""The application layer's unit of work: the store's, with the calendar
projection as its before-commit handler.

Every write of the application (services, the CalDAV side, the CLI, the
demo) opens its transaction here, so whatever it changes (a follow-up, a
user's e-mail, a company's name) is in every calendar that shows it when the
transaction commits. ``tests/test_layers.py`` holds that nothing outside
``server/services`` builds a :class:`store.uow.UnitOfWork` itself.
"""

from __future__ import annotations

from sqlalchemy import Engine

from server.services import projection
from store.domain import Source
from store.uow import UnitOfWork


def transaction(engine: Engine, actor: str = "system", source: Source = Source.CRM,
                write: bool = True) -> UnitOfWork:
    """A unit of work whose commit first brings the calendars up to date.
    ``write=False`` for reads (no write lock; nothing to commit)."""
    return UnitOfWork(engine, actor=actor, source=source, write=write, before_commit=projection.follow)
